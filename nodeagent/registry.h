/*
 * registry.h: which images the node agent may pull, and from where.
 *
 * The agent pulls only from registries named with `--registry-insecure
 * HOST:PORT`: plain-HTTP registries that the nodes of this machine share.
 * The project's network rule allows traffic to loopback only, so such a
 * registry must be "localhost" or an IPv4 address in 127.0.0.0/8; anything
 * else is refused when the agent starts, never contacted.
 *
 * Image references are read as Docker reads them: the part before the
 * first '/' is a registry host when it contains '.' or ':' or is
 * "localhost" ("127.0.0.1:5000/demo/app:1" names "127.0.0.1:5000";
 * "busybox" and "demo/app" name none, i.e. Docker Hub).
 *
 * Pure functions: no allocation, no I/O. Strings are borrowed.
 */
#ifndef SM_REGISTRY_H
#define SM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/*
 * Checks a `--registry-insecure` value: HOST or HOST:PORT, HOST being
 * "localhost" or a dotted IPv4 address in 127.0.0.0/8, PORT 1 to 65535.
 * Returns 0, or -EINVAL with the reason added to err (which names the
 * value).
 */
int registry_check_insecure(const char *hostport, struct sm_err *err);

/*
 * The registry host of an image reference (a pointer into image, *len
 * bytes long), or NULL when the reference names none.
 */
const char *registry_host(const char *image, size_t *len);

/*
 * Whether image's registry host is one of hosts[0..nr) (compared without
 * regard to case, port included).
 */
bool registry_match(const char *image, const char *const *hosts, size_t nr);

#endif
