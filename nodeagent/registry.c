/*
 * registry.c: registry hosts of image references, and the loopback rule
 * for insecure registries. See registry.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "nodeagent/registry.h"
#include "common/banned.h"

/* INET_ADDRSTRLEN covers "255.255.255.255" and its NUL. */
static bool loopback_ipv4(const char *host, size_t len)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr addr;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &addr) != 1)
		return false;
	return (ntohl(addr.s_addr) >> 24) == 127;
}

static bool valid_port(const char *s)
{
	unsigned long v = 0;

	if (!*s || *s == '0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return false;
	}
	return true;
}

int registry_check_insecure(const char *hostport, struct sm_err *err)
{
	const char *colon = strchr(hostport, ':');
	size_t len = colon ? (size_t)(colon - hostport) : strlen(hostport);

	if (!len || strchr(hostport, '/') ||
	    (colon && (strchr(colon + 1, ':') || !valid_port(colon + 1)))) {
		sm_error(err, NULL,
			 "\"%s\": expected HOST:PORT (as 127.0.0.1:5000)",
			 hostport);
		return -EINVAL;
	}
	if ((len == 9 && !strncasecmp(hostport, "localhost", 9)) ||
	    loopback_ipv4(hostport, len))
		return 0;
	sm_error(err, NULL,
		 "\"%s\": only a registry on loopback (127.0.0.0/8 or "
		 "localhost) may be used over plain HTTP",
		 hostport);
	return -EINVAL;
}

const char *registry_host(const char *image, size_t *len)
{
	const char *slash = image ? strchr(image, '/') : NULL;
	size_t n;

	if (!slash)
		return NULL;
	n = (size_t)(slash - image);
	if (!n)
		return NULL;
	if (memchr(image, '.', n) || memchr(image, ':', n) ||
	    (n == 9 && !strncmp(image, "localhost", 9))) {
		*len = n;
		return image;
	}
	return NULL;
}

bool registry_match(const char *image, const char *const *hosts, size_t nr)
{
	size_t len;
	const char *host = registry_host(image, &len);

	if (!host)
		return false;
	for (size_t i = 0; i < nr; i++)
		if (strlen(hosts[i]) == len &&
		    !strncasecmp(hosts[i], host, len))
			return true;
	return false;
}
