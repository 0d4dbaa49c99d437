/*
 * proxy_dns.c: the cluster DNS of `stuurman proxy`, dnsmasq through
 * nodeagent/clusterdns.h (its own module), behind svcproxy's table.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/err.h"
#include "nodeagent/clusterdns.h"
#include "nodeagent/svcproxy.h"
#include "common/banned.h"

static void *dns_start(uv_loop_t *loop, const struct svcproxy_dns_config *c,
		       struct sm_err *err)
{
	struct clusterdns_opts o = { 0 };
	struct clusterdns *d;

	o.dir = c->dir;
	o.listen_ip = c->listen_ip;
	o.port = c->port;
	o.domain = c->domain;
	o.dnsmasq = NULL;
	d = clusterdns_new(loop, &o, err);
	if (!d)
		return NULL;
	if (clusterdns_start(d, err)) {
		clusterdns_free(d);
		return NULL;
	}
	return d;
}

static void dns_update(void *dns, const json_t *services, const json_t *slices)
{
	clusterdns_update(dns, services, slices);
}

static void dns_stop(void *dns)
{
	clusterdns_free(dns);
}

const struct svcproxy_dns_ops svcproxy_dns_clusterdns = {
	dns_start,
	dns_update,
	dns_stop,
};
