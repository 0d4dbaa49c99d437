/*
 * Tests for nodeagent/ifaddr.c: IPv4 CIDRs, and addresses on lo through
 * rtnetlink. Changing lo needs root (CAP_NET_ADMIN): without it that test
 * is skipped. It uses 10.96.255.200, inside the default service range, and
 * removes it again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "nodeagent/ifaddr.h"
#include "common/banned.h"

static struct in_addr ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static bool listed(const char *ifname, struct in_addr a)
{
	struct sm_err err = SM_ERR_INIT;
	struct in_addr *list = NULL;
	size_t nr = 0;
	bool found = false;

	assert_int_equal(ifaddr_list(ifname, &list, &nr, &err), 0);
	for (size_t i = 0; i < nr; i++)
		found |= list[i].s_addr == a.s_addr;
	free(list);
	sm_err_release(&err);
	return found;
}

static void test_a_cidr_is_read_and_contains_its_addresses(void **state)
{
	struct ipv4_cidr c;
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(ipv4_cidr_parse("10.96.0.0/16", &c, &err), 0);
	assert_int_equal(c.prefix, 16);
	assert_true(ipv4_cidr_contains(&c, ip4("10.96.0.10")));
	assert_true(ipv4_cidr_contains(&c, ip4("10.96.255.255")));
	assert_false(ipv4_cidr_contains(&c, ip4("10.97.0.1")));
	assert_false(ipv4_cidr_contains(&c, ip4("127.0.0.1")));
	assert_int_equal(ipv4_cidr_parse("0.0.0.0/0", &c, NULL), 0);
	assert_true(ipv4_cidr_contains(&c, ip4("1.2.3.4")));
	assert_int_equal(ipv4_cidr_parse("10.96.0.5/32", &c, NULL), 0);
	assert_true(ipv4_cidr_contains(&c, ip4("10.96.0.5")));
	assert_false(ipv4_cidr_contains(&c, ip4("10.96.0.6")));
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
}

static void test_a_bad_cidr_is_refused_with_a_reason(void **state)
{
	static const char *const bad[] = { "10.96.0.0",	   "10.96.0.0/33",
					   "10.96.0.1/16", "x/16",
					   "10.96.0.0/",   "10.96.0.0/1x" };
	struct ipv4_cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sm_err err = SM_ERR_INIT;

		assert_int_equal(ipv4_cidr_parse(bad[i], &c, &err), -EINVAL);
		assert_true(sm_err_failed(&err));
		assert_non_null(strstr(err.items[0].msg, bad[i]));
		sm_err_release(&err);
	}
}

static void test_an_unknown_link_is_enodev(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	struct in_addr *list = NULL;
	size_t nr;

	assert_int_equal(ifaddr_list("nosuchlink0", &list, &nr, &err), -ENODEV);
	assert_null(list);
	assert_true(sm_err_failed(&err));
	sm_err_release(&err);
}

static void test_lo_lists_only_slash_32_addresses(void **state)
{
	/* lo's 127.0.0.1/8 is no /32: never ours to manage. */
	assert_false(listed("lo", ip4("127.0.0.1")));
}

static void test_an_address_is_added_to_lo_and_removed_again(void **state)
{
	struct sm_err err = SM_ERR_INIT;
	struct in_addr a = ip4("10.96.255.200");
	int r;

	if (geteuid() != 0)
		skip();
	r = ifaddr_add("lo", a, &err);
	if (r == -EPERM) {
		sm_err_release(&err);
		skip();
	}
	assert_int_equal(r, 0);
	assert_true(listed("lo", a));
	/* Both directions are idempotent. */
	assert_int_equal(ifaddr_add("lo", a, &err), 0);
	assert_int_equal(ifaddr_del("lo", a, &err), 0);
	assert_false(listed("lo", a));
	assert_int_equal(ifaddr_del("lo", a, &err), 0);
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_cidr_is_read_and_contains_its_addresses),
		cmocka_unit_test(test_a_bad_cidr_is_refused_with_a_reason),
		cmocka_unit_test(test_an_unknown_link_is_enodev),
		cmocka_unit_test(test_lo_lists_only_slash_32_addresses),
		cmocka_unit_test(
			test_an_address_is_added_to_lo_and_removed_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
