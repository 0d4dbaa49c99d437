/*
 * Tests for nodeagent/registry.c: the loopback rule for insecure registries
 * and the registry host of image references.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "nodeagent/registry.h"
#include "common/banned.h"

static void accepted(const char *hostport)
{
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(registry_check_insecure(hostport, &err), 0);
	assert_int_equal(err.nr, 0);
	sm_err_release(&err);
}

/* Refused, with a message that names the value and says why. */
static void refused(const char *hostport, const char *why)
{
	struct sm_err err = SM_ERR_INIT;

	assert_int_equal(registry_check_insecure(hostport, &err), -EINVAL);
	assert_int_equal(err.nr, 1);
	assert_non_null(strstr(err.items[0].msg, hostport));
	assert_non_null(strstr(err.items[0].msg, why));
	sm_err_release(&err);
}

static void test_loopback_registries_are_accepted(void **state)
{
	accepted("127.0.0.1:5000");
	accepted("127.0.1.2:65535");
	accepted("127.255.255.254:1");
	accepted("localhost:5000");
	accepted("LocalHost:5000");
	accepted("127.0.0.1");
	accepted("localhost");
}

static void test_registries_off_loopback_are_refused(void **state)
{
	refused("10.0.0.5:5000", "only a registry on loopback");
	refused("128.0.0.1:5000", "only a registry on loopback");
	refused("0.0.0.0:5000", "only a registry on loopback");
	refused("registry.example.com:5000", "only a registry on loopback");
	refused("docker.io", "only a registry on loopback");
	/* A name that merely starts like loopback is not loopback. */
	refused("localhost.example.com:5000", "only a registry on loopback");
	refused("127.0.0.1.nip.io:5000", "only a registry on loopback");
}

static void test_malformed_registries_are_refused(void **state)
{
	refused("", "expected HOST:PORT");
	refused(":5000", "expected HOST:PORT");
	refused("127.0.0.1:", "expected HOST:PORT");
	refused("127.0.0.1:0", "expected HOST:PORT");
	refused("127.0.0.1:65536", "expected HOST:PORT");
	refused("127.0.0.1:50x0", "expected HOST:PORT");
	refused("127.0.0.1:5000:1", "expected HOST:PORT");
	refused("127.0.0.1:5000/demo", "expected HOST:PORT");
	refused("[::1]:5000", "expected HOST:PORT");
}

static void host_is(const char *image, const char *want)
{
	size_t len = 0;
	const char *h = registry_host(image, &len);

	if (!want) {
		assert_null(h);
		return;
	}
	assert_non_null(h);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(h, want, len);
}

static void test_registry_host_is_read_as_docker_reads_it(void **state)
{
	host_is("127.0.0.1:5000/demo/app:1", "127.0.0.1:5000");
	host_is("localhost:5000/app", "localhost:5000");
	host_is("localhost/app:1", "localhost");
	host_is("gcr.io/google-samples/kubernetes-bootcamp:v1", "gcr.io");
	/* Docker Hub: the first part has no '.' or ':' and is no localhost. */
	host_is("busybox", NULL);
	host_is("busybox:1.36", NULL);
	host_is("demo/app:1", NULL);
	host_is("/app", NULL);
	host_is(NULL, NULL);
}

static void test_only_images_of_configured_registries_match(void **state)
{
	const char *const hosts[] = { "127.0.0.1:5000", "localhost:5001" };

	assert_true(registry_match("127.0.0.1:5000/demo/app:1", hosts, 2));
	assert_true(registry_match("LOCALHOST:5001/app", hosts, 2));
	/* The port is part of the host. */
	assert_false(registry_match("127.0.0.1:5001/demo/app:1", hosts, 2));
	assert_false(registry_match("127.0.0.1/demo/app:1", hosts, 2));
	assert_false(registry_match("127.0.0.1:50000/demo/app:1", hosts, 2));
	assert_false(registry_match("gcr.io/google-samples/kubernetes-"
				    "bootcamp:v1",
				    hosts, 2));
	assert_false(registry_match("busybox", hosts, 2));
	assert_false(registry_match("127.0.0.1:5000/demo/app:1", hosts, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_registries_are_accepted),
		cmocka_unit_test(test_registries_off_loopback_are_refused),
		cmocka_unit_test(test_malformed_registries_are_refused),
		cmocka_unit_test(test_registry_host_is_read_as_docker_reads_it),
		cmocka_unit_test(
			test_only_images_of_configured_registries_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
