/*
 * server.h: the control plane in one process (`stuurman server`): the
 * credentials, the store, the API server over HTTPS, the controllers and
 * the scheduler, and the folder of manifests that says what should run.
 *
 * Error policy (see reconciler/README.md): start-up errors are fatal and
 * returned; after start, a bad set of manifests is reported and the last
 * good one stays applied; store failures make writes fail (500) until a
 * restart recovers what was acknowledged.
 */
#ifndef SM_SERVER_H
#define SM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sm_err;
struct server;

struct server_opts {
	const char *data_dir; /* required; created 0700 */
	const char *listen; /* NULL: 127.0.0.1:6443 */
	/* Extra names and addresses for the serving certificate. */
	const char *const *advertise;
	size_t nr_advertise;
	const char *manifests_dir; /* NULL: no folder */
	/*
	 * A git repository to follow instead (gitops.h); repo NULL: none.
	 * Not both: the server refuses --manifests with --repo.
	 */
	const char *repo, *branch, *revision, *path;
	uint64_t interval_ms; /* 0: 30 s */
	const char *credentials_file;
	const char *webhook_secret_file; /* for POST /hooks/git */
	bool self_heal;
	bool auto_rollback;
	/*
	 * Apply the manifests only once this many nodes are Ready (at most
	 * 30 s later), so that the first pods spread over the nodes instead
	 * of all landing on the first one to register. 0: at once.
	 */
	unsigned wait_for_nodes;
	uint64_t node_grace_ms; /* 0: 2000 */
	uint64_t pod_eviction_ms; /* 0: 1000 */
	uint64_t resync_ms; /* 0: 30000 */
	/* Where Services' virtual IPs come from; NULL: 10.96.0.0/16. */
	const char *service_cidr;
};

/*
 * Starts everything on loop. Returns 0 with *out (free with
 * server_free()) or a negative errno with the reason in err.
 */
int server_start(uv_loop_t *loop, const struct server_opts *o,
		 struct server **out, struct sm_err *err);
/* The API's port (useful with "127.0.0.1:0"). */
int server_port(const struct server *s);
/* Stops serving and frees everything once the loop has closed it. */
void server_free(struct server *s);

#endif
