/*
 * ifaddr.h: IPv4 /32 addresses on a link (the proxy's ClusterIPs on `lo`),
 * through rtnetlink (no `ip` program), and IPv4 CIDRs.
 *
 * Each call opens a NETLINK_ROUTE socket, sends one request and reads the
 * kernel's answer: a local round trip of microseconds, so it runs on the
 * loop thread. Adding and removing need CAP_NET_ADMIN (root).
 *
 * Addresses are in network byte order (struct in_addr). Errors are negative
 * errnos with a message in err: -EPERM without the capability, -ENODEV for
 * an unknown link.
 */
#ifndef SM_NODEAGENT_IFADDR_H
#define SM_NODEAGENT_IFADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

struct sm_err;

/* An IPv4 network: "10.96.0.0/16". */
struct ipv4_cidr {
	struct in_addr net; /* the network address (host bits zero) */
	unsigned prefix; /* 0..32 */
};

/*
 * Reads "A.B.C.D/N" (host bits must be zero). Returns 0 or -EINVAL with a
 * message in err (may be NULL).
 */
int ipv4_cidr_parse(const char *s, struct ipv4_cidr *out, struct sm_err *err);

/* True when a is inside c. */
bool ipv4_cidr_contains(const struct ipv4_cidr *c, struct in_addr a);

/*
 * Adds a/32 to the link ifname with scope global, as `ip addr add A/32 dev
 * lo` does. An address that is already there is a success (0).
 */
int ifaddr_add(const char *ifname, struct in_addr a, struct sm_err *err);

/* Removes a/32 from ifname; an address that is not there is a success. */
int ifaddr_del(const char *ifname, struct in_addr a, struct sm_err *err);

/*
 * The IPv4 /32 addresses of ifname (others, such as lo's 127.0.0.1/8, are
 * left out), as a new array (free()) of *nr entries. Returns 0 or a
 * negative errno.
 */
int ifaddr_list(const char *ifname, struct in_addr **out, size_t *nr,
		struct sm_err *err);

#endif
