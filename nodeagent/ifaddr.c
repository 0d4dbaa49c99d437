/*
 * ifaddr.c: IPv4 addresses on a link through rtnetlink. See ifaddr.h.
 *
 * One request per socket: RTM_NEWADDR / RTM_DELADDR with NLM_F_ACK (the
 * kernel answers with an NLMSG_ERROR whose error is 0 on success), or an
 * RTM_GETADDR dump read until NLMSG_DONE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "nodeagent/ifaddr.h"
#include "common/banned.h"

#define NL_BUF 32768

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? htonl(~0u << (32 - prefix)) : 0;
}

int ipv4_cidr_parse(const char *s, struct ipv4_cidr *out, struct sm_err *err)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	char *end;
	unsigned long n;
	struct in_addr a;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		goto bad;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		goto bad;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || n > 32)
		goto bad;
	if (a.s_addr & ~prefix_mask((unsigned)n)) {
		if (err)
			sm_error(err, NULL,
				 "\"%s\": host bits are set (the network is "
				 "not its first address)",
				 s);
		return -EINVAL;
	}
	out->net = a;
	out->prefix = (unsigned)n;
	return 0;
bad:
	if (err)
		sm_error(err, NULL,
			 "\"%s\": expected an IPv4 CIDR as 10.96.0.0/16", s);
	return -EINVAL;
}

bool ipv4_cidr_contains(const struct ipv4_cidr *c, struct in_addr a)
{
	uint32_t m = prefix_mask(c->prefix);

	return (a.s_addr & m) == (c->net.s_addr & m);
}

static int nl_open(struct sm_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0) {
		int e = errno;

		sm_error(err, NULL, "rtnetlink: socket: %s", strerror(e));
		return -e;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		sm_error(err, NULL, "rtnetlink: bind: %s", strerror(e));
		return -e;
	}
	return fd;
}

static int link_index(const char *ifname, struct sm_err *err)
{
	unsigned idx = if_nametoindex(ifname);

	if (!idx) {
		sm_error(err, NULL, "link \"%s\": %s", ifname, strerror(errno));
		return -ENODEV;
	}
	return (int)idx;
}

struct addr_req {
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	char attrs[64];
};

static void add_attr(struct addr_req *r, unsigned short type, const void *data,
		     size_t len)
{
	struct rtattr *rta =
		(struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->nh.nlmsg_len =
		NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends r and waits for the kernel's ack: 0 or its negative errno. */
static int nl_transact(int fd, struct addr_req *r)
{
	char buf[4096] __attribute__((aligned(4)));
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *h;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->nh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error; /* 0 (ack) or -errno */
			}
		}
	}
}

static int addr_change(const char *ifname, struct in_addr a, bool add,
		       struct sm_err *err)
{
	struct addr_req r;
	int idx = link_index(ifname, err);
	int fd, rc;
	char ip[INET_ADDRSTRLEN] = "?";

	if (idx < 0)
		return idx;
	fd = nl_open(err);
	if (fd < 0)
		return fd;
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifa));
	r.nh.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	if (add)
		r.nh.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	r.nh.nlmsg_seq = 1;
	r.ifa.ifa_family = AF_INET;
	r.ifa.ifa_prefixlen = 32;
	r.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	r.ifa.ifa_index = (unsigned)idx;
	add_attr(&r, IFA_LOCAL, &a, sizeof(a));
	add_attr(&r, IFA_ADDRESS, &a, sizeof(a));
	rc = nl_transact(fd, &r);
	close(fd);
	/* Idempotent: already there, or already gone. */
	if ((add && rc == -EEXIST) || (!add && rc == -EADDRNOTAVAIL))
		rc = 0;
	if (rc) {
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		sm_error(err, NULL, "%s %s/32 %s link \"%s\": %s",
			 add ? "adding" : "removing", ip, add ? "to" : "from",
			 ifname, strerror(-rc));
	}
	return rc;
}

int ifaddr_add(const char *ifname, struct in_addr a, struct sm_err *err)
{
	return addr_change(ifname, a, true, err);
}

int ifaddr_del(const char *ifname, struct in_addr a, struct sm_err *err)
{
	return addr_change(ifname, a, false, err);
}

int ifaddr_list(const char *ifname, struct in_addr **out, size_t *nr,
		struct sm_err *err)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char *buf SM_AUTOFREE = NULL;
	struct in_addr *list = NULL;
	size_t n_list = 0, alloc = 0;
	int idx = link_index(ifname, err);
	int fd, rc = 0;
	bool done = false;

	if (idx < 0)
		return idx;
	fd = nl_open(err);
	if (fd < 0)
		return fd;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.nh.nlmsg_type = RTM_GETADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = AF_INET;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		rc = -errno;
		goto out;
	}
	buf = xmalloc(NL_BUF);
	while (!done) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			struct ifaddrmsg *ifa;
			struct rtattr *rta;
			int len;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				rc = e->error ? e->error : -EIO;
				goto out;
			}
			if (h->nlmsg_type != RTM_NEWADDR)
				continue;
			ifa = NLMSG_DATA(h);
			/* Only /32s: the only kind ifaddr_add() makes, and
			 * the only kind ifaddr_del() can remove. */
			if (ifa->ifa_family != AF_INET ||
			    ifa->ifa_index != (unsigned)idx ||
			    ifa->ifa_prefixlen != 32)
				continue;
			len = (int)IFA_PAYLOAD(h);
			for (rta = IFA_RTA(ifa); RTA_OK(rta, len);
			     rta = RTA_NEXT(rta, len)) {
				if (rta->rta_type != IFA_LOCAL ||
				    RTA_PAYLOAD(rta) != sizeof(struct in_addr))
					continue;
				SM_ALLOC_GROW(list, n_list + 1, alloc);
				memcpy(&list[n_list++], RTA_DATA(rta),
				       sizeof(struct in_addr));
			}
		}
	}
out:
	close(fd);
	if (rc) {
		free(list);
		sm_error(err, NULL, "listing the addresses of link \"%s\": %s",
			 ifname, strerror(-rc));
		return rc;
	}
	*out = list;
	*nr = n_list;
	return 0;
}
