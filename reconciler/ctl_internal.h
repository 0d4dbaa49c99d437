/*
 * ctl_internal.h: what the controllers share (ctl.c). Not for other
 * components.
 */
#ifndef SM_CTL_INTERNAL_H
#define SM_CTL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "manifests/canonical.h"
#include "reconciler/controller.h"
#include "reconciler/controllers.h"
#include "reconciler/events.h"
#include "reconciler/store.h"

#define CTL_MAX_WATCHES 6

struct store_event;

struct ctl {
	struct ctl_env env;
	struct controller *q;
	struct events *events;
	struct store_watch *watches[CTL_MAX_WATCHES];
	size_t nr_watches;
	const char *kind; /* the kind whose keys it syncs */
	void *priv;
	void (*priv_free)(void *priv);
};

/*
 * A controller for kind: sync gets "namespace/name" keys; the resync
 * queues every object of kind.
 */
struct ctl *ctl__new(const struct ctl_env *env, const char *name,
		     const char *kind, controller_sync_fn sync);
/* Queues every object of the controller's kind (at start). */
void ctl__start(struct ctl *c);
/* Watches kind (all namespaces) with cb(ctl, event). Fatal on failure. */
void ctl__watch(struct ctl *c, const char *kind,
		void (*cb)(void *ctx, const struct store_event *ev));
/* Queues obj's own key. */
void ctl__queue_obj(struct ctl *c, const json_t *obj);
/* store_list() callback: queues each object's key (ctx: the ctl). */
int ctl__queue_each(void *ctx, const json_t *obj);
/* Queues the key of obj's controller when it is of kind owner_kind. */
void ctl__queue_owner(struct ctl *c, const json_t *obj, const char *owner_kind);
/* Splits "ns/name" into ns and name (buffers of at least 256 bytes). */
void ctl__split_key(const char *key, char *ns, char *name);
uint64_t ctl__now_ns(const struct ctl *c);

/* Pods of namespace ns that obj controls (new array of borrowed refs). */
json_t *ctl__owned_pods(const struct ctl *c, const json_t *owner);

/* Writes obj's status (STORE_STATUS) when it differs from the stored. */
int ctl__update_status(struct ctl *c, const json_t *stored, json_t *status);

/*
 * Workloads roll when a ConfigMap or Secret they use changes (env, envFrom
 * or volume), unless this annotation on the workload says "false".
 */
#define CTL_ROLL_ON_CONFIG_ANN "stuurman.io/rollout-on-config-change"

/*
 * The hash of the ConfigMaps and Secrets podspec uses in ns (ConfigMaps by
 * their data, Secrets by uid and resourceVersion, missing ones as such)
 * into out; false (and "") when it uses none.
 */
bool ctl__config_hash(const struct ctl *c, const char *ns,
		      const json_t *podspec, char out[MF_HASH_LEN + 1]);
/*
 * The extra input of a workload's template hash: its config hash, or
 * NULL when it uses no config or opted out. Points into buf.
 */
const char *ctl__template_extra(const struct ctl *c, const json_t *workload,
				char buf[MF_HASH_LEN + 1]);

#endif
