/*
 * gitops.c: see gitops.h.
 *
 * The state in one place: `desired` is the set applied now (from the
 * branch's newest good commit, or from a pinned one) with an index by
 * kind/namespace/name; `head` is the newest commit seen; `history[0]` is
 * the entry of what is applied now, waiting (entry_seen_ns) to be healthy.
 * Store watches feed two debounced timers: self-heal of the keys that
 * drifted, and health.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "manifests/kinds.h"
#include "reconciler/gitops.h"
#include "reconciler/gitsource.h"
#include "reconciler/objutil.h"
#include "reconciler/store.h"
#include "reconciler/sync.h"

#include "common/banned.h"

#define LOG "gitops"
#define STATE_VERSION 1
#define HEAL_DEBOUNCE_MS 20
#define HEALTH_DEBOUNCE_MS 50
#define HEALTH_PERIOD_MS 1000
/* A key healed this often within the window stops being healed. */
#define HEAL_MAX 5
#define HEAL_WINDOW_NS (10ull * 1000 * 1000 * 1000)
#define MAX_WATCHES 16
#define KEY_LEN 600

enum health { HEALTH_UNKNOWN, HEALTHY, PROGRESSING, DEGRADED };
static const char *const health_names[] = { "Unknown", "Healthy", "Progressing",
					    "Degraded" };

struct revinfo {
	char sha[GITSOURCE_SHA_LEN + 1];
	char short_sha[GITSOURCE_SHORT_LEN + 1];
	char *author; /* "Name <mail>" */
	char *subject;
	int64_t time;
};

enum checkout_why { CO_USER, CO_AUTO, CO_RESTORE };

struct checkout {
	struct gitops *g;
	enum checkout_why why;
	gitops_rollback_cb cb; /* CO_USER */
	void *ctx;
	struct checkout *next;
};

struct heal {
	uint64_t first_ns;
	unsigned n;
	bool given_up;
};

struct gitops {
	uv_loop_t *loop;
	struct gitops_opts o; /* strings owned */
	const struct sm_clock *clock;
	char *source; /* the stuurman.io/source value */
	char *state_path;
	struct gitsource *gs;
	struct store_watch *watches[MAX_WATCHES];
	size_t nr_watches;

	json_t *desired; /* NULL before the first apply */
	struct sm_strmap index; /* key -> want, borrowed from desired */
	struct revinfo applied, head;
	bool head_failed; /* the newest commit was rejected */
	char *last_error;
	json_t *warnings;
	json_t *history; /* newest first; [0] is what is applied */
	uint64_t entry_seen_ns; /* 0: history[0] is healthy or none */
	struct {
		bool on;
		char sha[GITSOURCE_SHA_LEN + 1];
		char head[GITSOURCE_SHA_LEN + 1]; /* unpinned when it moves */
		char reason[16];
		char since[SM_TIME_RFC3339_LEN];
	} pin;
	char last_healthy[GITSOURCE_SHA_LEN + 1];
	char rolled_back_from[GITSOURCE_SHA_LEN + 1]; /* auto-rollback tried */
	enum health health;
	json_t *degraded;

	struct sm_strmap drifted; /* keys to heal */
	struct sm_strmap heals; /* key -> struct heal */
	uint64_t heals_total;
	struct checkout *checkouts;
	uv_timer_t heal_timer, health_timer;
	int open_handles;
};

/* ---- small helpers ---- */

static uint64_t now_ns(const struct gitops *g)
{
	return sm_clock_realtime_ns(g->clock);
}

static void stamp(const struct gitops *g, char out[SM_TIME_RFC3339_LEN])
{
	if (sm_time_rfc3339(now_ns(g), 1, out, SM_TIME_RFC3339_LEN) < 0)
		out[0] = '\0';
}

static void obj_key(const json_t *obj, char key[KEY_LEN])
{
	snprintf(key, KEY_LEN, "%s/%s/%s", store_obj_kind(obj),
		 store_obj_ns(obj), store_obj_name(obj));
}

static void revinfo_release(struct revinfo *r)
{
	free(r->author);
	free(r->subject);
	memset(r, 0, sizeof(*r));
}

static void revinfo_set(struct revinfo *r, const struct gitsource_rev *rev)
{
	revinfo_release(r);
	snprintf(r->sha, sizeof(r->sha), "%s", rev->sha);
	snprintf(r->short_sha, sizeof(r->short_sha), "%s", rev->short_sha);
	r->author =
		rev->author_email && *rev->author_email
			? xasprintf("%s <%s>",
				    rev->author_name ? rev->author_name : "",
				    rev->author_email)
			: xstrdup(rev->author_name ? rev->author_name : "");
	r->subject = xstrdup(rev->subject ? rev->subject : "");
	r->time = rev->time;
}

static void revinfo_copy(struct revinfo *dst, const struct revinfo *src)
{
	revinfo_release(dst);
	memcpy(dst->sha, src->sha, sizeof(dst->sha));
	memcpy(dst->short_sha, src->short_sha, sizeof(dst->short_sha));
	dst->author = xstrdup(src->author ? src->author : "");
	dst->subject = xstrdup(src->subject ? src->subject : "");
	dst->time = src->time;
}

static json_t *revinfo_json(const struct revinfo *r)
{
	char t[SM_TIME_RFC3339_LEN] = "";

	if (!r->sha[0])
		return json_null();
	if (r->time >= 0)
		sm_time_rfc3339((uint64_t)r->time * 1000000000ull, 0, t,
				sizeof(t));
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "sha", r->sha, "short",
			 r->short_sha, "author", r->author ? r->author : "",
			 "time", t, "subject", r->subject ? r->subject : "");
}

/* Every diagnostic of err at or above min, one per line (new). */
static char *format_diags(const struct sm_err *err, enum sm_severity min)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	for (size_t i = 0; i < err->nr; i++) {
		if (err->items[i].severity < min)
			continue;
		if (b.len)
			sm_buf_addch(&b, '\n');
		sm_diag_format(&err->items[i], &b);
	}
	if (sm_err_dropped(err))
		sm_buf_addf(&b, "\n(%zu more not shown)", sm_err_dropped(err));
	return sm_buf_detach(&b, NULL);
}

static void add_warnings(json_t *arr, const struct sm_err *err)
{
	for (size_t i = 0; i < err->nr; i++) {
		struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		if (err->items[i].severity != SM_WARNING)
			continue;
		sm_diag_format(&err->items[i], &b);
		json_array_append_new(arr, json_string(sm_buf_cstr(&b)));
		sm_buf_release(&b);
	}
}

static void set_error(struct gitops *g, char *msg)
{
	free(g->last_error);
	g->last_error = msg;
}

/* ---- the state file ---- */

static void persist(struct gitops *g)
{
	json_t *pin = json_null();
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	char *tmp = xasprintf("%s.tmp", g->state_path);
	int fd;

	if (g->pin.on)
		pin = json_pack("{s:s, s:s, s:s, s:s}", "sha", g->pin.sha,
				"head", g->pin.head, "reason", g->pin.reason,
				"since", g->pin.since);
	json_t *st = json_pack("{s:i, s:O, s:o, s:s}", "version", STATE_VERSION,
			       "history", g->history, "pin", pin, "lastHealthy",
			       g->last_healthy);
	char *text = json_dumps(st, JSON_INDENT(1));

	sm_buf_adds(&b, text);
	sm_buf_addch(&b, '\n');
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.buf, b.len) != (ssize_t)b.len ||
	    fsync(fd) < 0 || rename(tmp, g->state_path) < 0)
		sm_log(SM_LOG_ERROR, LOG,
		       "%s: cannot write the sync state: %s (the history and "
		       "a pin are lost at a restart until it can be written)",
		       g->state_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(st);
	sm_buf_release(&b);
	free(tmp);
}

static int load_state(struct gitops *g, struct sm_err *err)
{
	json_error_t je;
	json_t *st = json_load_file(g->state_path, 0, &je);
	const char *s;

	if (!st) {
		if (access(g->state_path, F_OK) < 0 && errno == ENOENT)
			return 0;
		return sm_error(err, NULL,
				"%s:%d:%d: the sync state cannot be read: %s "
				"(move the file away to start with an empty "
				"history)",
				g->state_path, je.line, je.column, je.text);
	}
	json_int_t v = json_integer_value(json_object_get(st, "version"));
	if (v != STATE_VERSION) {
		json_decref(st);
		return sm_error(err, NULL,
				"%s: sync state format %lld, this stuurman "
				"reads %d (move the file away to start with "
				"an empty history)",
				g->state_path, (long long)v, STATE_VERSION);
	}
	json_t *h = json_object_get(st, "history");
	if (json_is_array(h)) {
		json_decref(g->history);
		g->history = json_incref(h);
	}
	json_t *pin = json_object_get(st, "pin");
	if (json_is_object(pin) && (s = sm_json_get_str(pin, "sha"))) {
		g->pin.on = true;
		snprintf(g->pin.sha, sizeof(g->pin.sha), "%s", s);
		snprintf(g->pin.head, sizeof(g->pin.head), "%s",
			 (s = sm_json_get_str(pin, "head")) ? s : "");
		snprintf(g->pin.reason, sizeof(g->pin.reason), "%s",
			 (s = sm_json_get_str(pin, "reason")) ? s : "rollback");
		snprintf(g->pin.since, sizeof(g->pin.since), "%s",
			 (s = sm_json_get_str(pin, "since")) ? s : "");
	}
	if ((s = sm_json_get_str(st, "lastHealthy")))
		snprintf(g->last_healthy, sizeof(g->last_healthy), "%s", s);
	json_decref(st);
	return 0;
}

/* ---- history ---- */

static json_t *entry_new(struct gitops *g, const struct revinfo *r,
			 const char *result)
{
	char seen[SM_TIME_RFC3339_LEN], t[SM_TIME_RFC3339_LEN] = "";

	stamp(g, seen);
	if (r->time >= 0)
		sm_time_rfc3339((uint64_t)r->time * 1000000000ull, 0, t,
				sizeof(t));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:i, s:i, "
			 "s:i, s:i, s:n, s:n}",
			 "sha", r->sha, "short", r->short_sha, "author",
			 r->author ? r->author : "", "subject",
			 r->subject ? r->subject : "", "time", t, "seen", seen,
			 "synced", "result", result, "created", 0, "configured",
			 0, "unchanged", 0, "pruned", 0, "healthyAfterMs",
			 "message");
}

/* Puts e (a new reference, taken) first; history[0] is now waiting. */
static void history_push(struct gitops *g, json_t *e)
{
	json_array_insert_new(g->history, 0, e);
	while (json_array_size(g->history) > GITOPS_HISTORY_MAX)
		json_array_remove(g->history, GITOPS_HISTORY_MAX);
	g->entry_seen_ns = now_ns(g);
}

static json_t *current_entry(struct gitops *g)
{
	return json_array_get(g->history, 0);
}

static void entry_set_str(json_t *e, const char *key, const char *v)
{
	if (e)
		json_object_set_new(e, key, v ? json_string(v) : json_null());
}

static void on_health_timer(uv_timer_t *t);

/* ---- applying a set ---- */

static void index_rebuild(struct gitops *g)
{
	size_t i;
	json_t *o;

	sm_strmap_release(&g->index, NULL);
	json_array_foreach (g->desired, i, o) {
		char key[KEY_LEN];

		obj_key(o, key);
		sm_strmap_put(&g->index, key, o, NULL);
	}
	sm_strmap_release(&g->drifted, NULL);
	sm_strmap_release(&g->heals, free);
}

/*
 * Applies objects (borrowed) as revision r and makes them the desired set.
 * e (may be NULL) is the history entry to fill in. Returns 0 or -EIO.
 */
static int apply(struct gitops *g, const json_t *objects,
		 const struct revinfo *r, json_t *e, const struct sm_err *notes)
{
	struct sm_err err = SM_ERR_INIT;
	struct sync_opts so = { .source = g->source,
				.revision = r->sha,
				.prune = true };
	struct sync_result res;
	char synced[SM_TIME_RFC3339_LEN];
	int rc;

	rc = sync_apply(g->o.store, objects, &so, &res, &err);
	json_decref(g->desired);
	g->desired = json_incref((json_t *)objects);
	index_rebuild(g);
	if (&g->applied != r)
		revinfo_copy(&g->applied, r);
	json_array_clear(g->warnings);
	if (notes)
		add_warnings(g->warnings, notes);
	add_warnings(g->warnings, &err);
	if (rc < 0) {
		char *msg = format_diags(&err, SM_ERROR);

		set_error(g, xasprintf("commit %s: applying failed: %s",
				       r->short_sha, msg));
		free(msg);
	} else {
		set_error(g, NULL);
	}
	if (e) {
		stamp(g, synced);
		entry_set_str(e, "synced", synced);
		json_object_set_new(e, "created", json_integer(res.created));
		json_object_set_new(e, "configured",
				    json_integer(res.configured));
		json_object_set_new(e, "unchanged",
				    json_integer(res.unchanged));
		json_object_set_new(e, "pruned", json_integer(res.pruned));
		if (rc < 0) {
			entry_set_str(e, "result", "Failed");
			entry_set_str(e, "message", g->last_error);
		}
	}
	sm_log(rc < 0 ? SM_LOG_ERROR : SM_LOG_INFO, LOG,
	       "%s %s \"%s\": %zu created, %zu configured, %zu unchanged, "
	       "%zu pruned, %zu skipped%s",
	       g->pin.on ? "pinned" : "applied", r->short_sha,
	       r->subject ? r->subject : "", res.created, res.configured,
	       res.unchanged, res.pruned, res.skipped,
	       rc < 0 ? " (with errors)" : "");
	sync_result_release(&res);
	sm_err_release(&err);
	uv_timer_start(&g->health_timer, on_health_timer, HEALTH_DEBOUNCE_MS,
		       HEALTH_PERIOD_MS);
	return rc;
}

static void checkout(struct gitops *g, const char *rev, enum checkout_why why,
		     gitops_rollback_cb cb, void *ctx);

/* ---- what git delivers ---- */

static void on_rev(void *ctx, const struct gitsource_rev *rev,
		   const struct sm_err *err)
{
	struct gitops *g = ctx;

	if (!rev) {
		char *msg = format_diags(err, SM_ERROR);

		sm_log(SM_LOG_ERROR, LOG, "%s: %s (what runs stays as it is)",
		       g->o.repo, msg);
		set_error(g, msg);
		return;
	}
	bool is_new = strcmp(rev->sha, g->head.sha) != 0;

	revinfo_set(&g->head, rev);
	if (rev->rewritten)
		sm_log(SM_LOG_WARN, LOG,
		       "%s: the branch was rewritten (force-push): %s is not "
		       "a descendant of the last commit",
		       g->o.repo, rev->short_sha);
	if (g->pin.on) {
		if (!strcmp(rev->sha, g->pin.head)) {
			/* A restart: put the pinned revision back. */
			if (!g->desired)
				checkout(g, g->pin.sha, CO_RESTORE, NULL, NULL);
			return;
		}
		sm_log(SM_LOG_INFO, LOG,
		       "new commit %s: the %s pin of %.7s ends", rev->short_sha,
		       g->pin.reason, g->pin.sha);
		g->pin.on = false;
	}
	/*
	 * A new entry for a new commit; after a restart the newest entry may
	 * already be this commit's, and is left as it was.
	 */
	const char *e_sha = sm_json_get_str(current_entry(g), "sha");
	json_t *e = NULL;

	if (is_new && !(e_sha && !strcmp(e_sha, rev->sha))) {
		e = entry_new(g, &g->head, "Synced");
		history_push(g, e);
		if (rev->rewritten)
			entry_set_str(e, "message",
				      "force-push: not a descendant of the "
				      "commit seen before");
	}
	if (!rev->objects) {
		char *msg = format_diags(err, SM_ERROR);

		g->head_failed = true;
		set_error(g, xasprintf("commit %s was rejected, %s stays "
				       "applied:\n%s",
				       rev->short_sha,
				       g->applied.sha[0] ? g->applied.short_sha
							 : "nothing",
				       msg));
		entry_set_str(e, "result", "Failed");
		entry_set_str(e, "message", msg);
		sm_log(SM_LOG_ERROR, LOG, "%s", g->last_error);
		free(msg);
		/* The entry of what stays applied is no longer history[0]. */
		g->entry_seen_ns = 0;
		persist(g);
		return;
	}
	g->head_failed = false;
	apply(g, rev->objects, &g->head, e, err);
	persist(g);
}

/* ---- rollback ---- */

static void on_checkout(void *ctx, const struct gitsource_rev *rev,
			const struct sm_err *err)
{
	struct checkout *c = ctx;
	struct gitops *g = c->g;
	int status = 0;

	for (struct checkout **p = &g->checkouts; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (!rev || !rev->objects) {
		char *msg = format_diags(err, SM_ERROR);

		status = rev ? -EINVAL : -ENOENT;
		sm_log(SM_LOG_ERROR, LOG, "rollback%s: %s",
		       c->why == CO_AUTO ? " (automatic)" : "", msg);
		if (c->why != CO_USER)
			set_error(g, xasprintf("rolling back to %.7s failed: "
					       "%s",
					       c->why == CO_RESTORE
						       ? g->pin.sha
						       : g->last_healthy,
					       msg));
		free(msg);
	} else {
		struct revinfo r = { 0 };

		revinfo_set(&r, rev);
		if (c->why != CO_RESTORE) {
			g->pin.on = true;
			snprintf(g->pin.sha, sizeof(g->pin.sha), "%s", r.sha);
			snprintf(g->pin.head, sizeof(g->pin.head), "%s",
				 g->head.sha);
			snprintf(g->pin.reason, sizeof(g->pin.reason), "%s",
				 c->why == CO_AUTO ? "auto-rollback"
						   : "rollback");
			stamp(g, g->pin.since);
			json_t *e = entry_new(g, &r,
					      c->why == CO_AUTO ? "AutoRollback"
								: "Rollback");
			history_push(g, e);
			apply(g, rev->objects, &r, e, err);
		} else {
			apply(g, rev->objects, &r, NULL, err);
		}
		revinfo_release(&r);
		persist(g);
	}
	if (c->cb)
		c->cb(c->ctx, status, err);
	free(c);
}

static void checkout(struct gitops *g, const char *rev, enum checkout_why why,
		     gitops_rollback_cb cb, void *ctx)
{
	struct checkout *c = xcalloc(1, sizeof(*c));

	c->g = g;
	c->why = why;
	c->cb = cb;
	c->ctx = ctx;
	c->next = g->checkouts;
	g->checkouts = c;
	if (gitsource_checkout(g->gs, rev, on_checkout, c) < 0) {
		struct sm_err err = SM_ERR_INIT;

		sm_error(&err, NULL, "revision \"%s\" cannot be checked out",
			 rev);
		on_checkout(c, NULL, &err);
		sm_err_release(&err);
	}
}

void gitops_rollback(struct gitops *g, const char *rev, gitops_rollback_cb cb,
		     void *ctx)
{
	sm_log(SM_LOG_INFO, LOG, "rollback to \"%s\" asked", rev);
	checkout(g, rev, CO_USER, cb, ctx);
}

void gitops_rollback_cancel(struct gitops *g, void *ctx)
{
	for (struct checkout *c = g->checkouts; c; c = c->next)
		if (c->why == CO_USER && c->ctx == ctx)
			c->cb = NULL;
}

/* ---- health ---- */

static int64_t int_at(const json_t *obj, const char *path, int64_t dflt)
{
	json_t *v = sm_json_get_path(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static bool waiting_badly(const json_t *pod, const char **why)
{
	static const char *const bad[] = { "ErrImagePull",
					   "ImagePullBackOff",
					   "ErrImageNeverPull",
					   "CrashLoopBackOff",
					   "CreateContainerConfigError",
					   "InvalidImageName" };
	size_t i;
	json_t *cs;

	json_array_foreach (sm_json_get_path(pod, "status.containerStatuses"),
			    i, cs) {
		const char *r = sm_json_get_str(
			sm_json_get_path(cs, "state.waiting"), "reason");

		for (size_t k = 0; r && k < sizeof(bad) / sizeof(bad[0]); k++)
			if (!strcmp(r, bad[k])) {
				*why = r;
				return true;
			}
	}
	return false;
}

/* live's health; *msg (static or borrowed from live) says why not. */
static enum health obj_health(const json_t *live, const char **msg)
{
	const char *kind = store_obj_kind(live);
	int64_t gen = int_at(live, "metadata.generation", 0);
	int64_t seen = int_at(live, "status.observedGeneration", 0);

	*msg = NULL;
	if (!strcmp(kind, "Deployment")) {
		int64_t want = int_at(live, "spec.replicas", 1);
		const json_t *p = obj_condition(live, "Progressing");
		const char *reason = sm_json_get_str(p, "reason");

		if (reason && !strcmp(reason, "ProgressDeadlineExceeded")) {
			*msg = sm_json_get_str(p, "message");
			return DEGRADED;
		}
		if (seen < gen)
			return *msg = "waiting for the controller", PROGRESSING;
		if (int_at(live, "status.updatedReplicas", 0) < want)
			return *msg = "updating replicas", PROGRESSING;
		if (int_at(live, "status.replicas", 0) > want)
			return *msg = "old replicas are terminating",
			       PROGRESSING;
		if (int_at(live, "status.availableReplicas", 0) < want)
			return *msg = "waiting for available replicas",
			       PROGRESSING;
		return HEALTHY;
	}
	if (!strcmp(kind, "StatefulSet")) {
		int64_t want = int_at(live, "spec.replicas", 1);
		int64_t part = int_at(
			live, "spec.updateStrategy.rollingUpdate.partition", 0);

		if (seen < gen)
			return *msg = "waiting for the controller", PROGRESSING;
		if (int_at(live, "status.readyReplicas", 0) < want)
			return *msg = "waiting for ready replicas", PROGRESSING;
		if (int_at(live, "status.updatedReplicas", 0) < want - part)
			return *msg = "updating replicas", PROGRESSING;
		return HEALTHY;
	}
	if (!strcmp(kind, "Pod")) {
		const char *phase = pod_phase(live);

		if (phase && !strcmp(phase, "Failed"))
			return *msg = "the pod failed", DEGRADED;
		if (waiting_badly(live, msg))
			return DEGRADED;
		if ((phase && !strcmp(phase, "Succeeded")) ||
		    pod_is_ready(live))
			return HEALTHY;
		return *msg = "waiting for the pod to be ready", PROGRESSING;
	}
	return HEALTHY;
}

static void auto_rollback(struct gitops *g)
{
	json_t *e = current_entry(g);
	const char *e_sha = sm_json_get_str(e, "sha");

	/* Once per applied revision: a failed rollback is not retried. */
	if (!strcmp(g->rolled_back_from, g->applied.sha))
		return;
	memcpy(g->rolled_back_from, g->applied.sha,
	       sizeof(g->rolled_back_from));
	/* The newest entry may be a later commit that was rejected. */
	if (!e_sha || strcmp(e_sha, g->applied.sha))
		e = NULL;
	sm_log(SM_LOG_WARN, LOG,
	       "commit %s is Degraded: marked bad, rolling back to the last "
	       "healthy revision %.7s",
	       g->applied.short_sha, g->last_healthy);
	entry_set_str(e, "result", "Bad");
	entry_set_str(e, "message",
		      json_string_value(json_object_get(
			      json_array_get(g->degraded, 0), "message")));
	g->entry_seen_ns = 0;
	persist(g);
	checkout(g, g->last_healthy, CO_AUTO, NULL, NULL);
}

static void check_health(struct gitops *g)
{
	enum health h = HEALTHY;
	size_t i;
	json_t *want;

	if (!g->desired) {
		g->health = HEALTH_UNKNOWN;
		return;
	}
	json_array_clear(g->degraded);
	json_array_foreach (g->desired, i, want) {
		const json_t *live =
			store_get(g->o.store, store_obj_kind(want),
				  store_obj_ns(want), store_obj_name(want));
		const char *msg = "missing";
		enum health oh = live ? obj_health(live, &msg) : PROGRESSING;

		if (oh == DEGRADED)
			json_array_append_new(
				g->degraded,
				json_pack("{s:s, s:s, s:s, s:s}", "kind",
					  store_obj_kind(want), "namespace",
					  store_obj_ns(want), "name",
					  store_obj_name(want), "message",
					  msg ? msg : "degraded"));
		if (oh > h)
			h = oh;
	}
	g->health = h;
	json_t *e = current_entry(g);
	if (h == HEALTHY && g->entry_seen_ns) {
		uint64_t ms = (now_ns(g) - g->entry_seen_ns) / 1000000;
		json_object_set_new(e, "healthyAfterMs", json_integer(ms));
		g->entry_seen_ns = 0;
		sm_log(SM_LOG_INFO, LOG,
		       "%s is healthy, %llu ms after it was seen",
		       g->applied.short_sha, (unsigned long long)ms);
		persist(g);
	}
	if (h == HEALTHY && strcmp(g->last_healthy, g->applied.sha)) {
		memcpy(g->last_healthy, g->applied.sha,
		       sizeof(g->last_healthy));
		persist(g);
	}
	if (h == DEGRADED && g->o.auto_rollback && !g->pin.on &&
	    g->last_healthy[0] && strcmp(g->last_healthy, g->applied.sha))
		auto_rollback(g);
}

static void on_health_timer(uv_timer_t *t)
{
	check_health(t->data);
}

/* ---- drift ---- */

static void heal(struct gitops *g)
{
	json_t *set = json_array();
	size_t it = 0;
	const char *key;
	void *v;
	uint64_t now = now_ns(g);

	while (sm_strmap_next(&g->drifted, &it, &key, &v)) {
		json_t *want = sm_strmap_get(&g->index, key);
		struct heal *h = sm_strmap_get(&g->heals, key);

		if (!want)
			continue;
		if (!h) {
			h = xcalloc(1, sizeof(*h));
			sm_strmap_put(&g->heals, key, h, NULL);
		}
		if (now - h->first_ns > HEAL_WINDOW_NS) {
			h->first_ns = now;
			h->n = 0;
		}
		if (++h->n > HEAL_MAX) {
			if (!h->given_up)
				sm_log(SM_LOG_ERROR, LOG,
				       "%s keeps drifting from git after %d "
				       "self-heals in 10 s: left OutOfSync "
				       "(something else writes it; `stuurman "
				       "diff` shows what differs)",
				       key, HEAL_MAX);
			h->given_up = true;
			continue;
		}
		sm_log(SM_LOG_INFO, LOG,
		       "%s drifted from git: set back to %s (self-heal)", key,
		       g->applied.short_sha);
		json_array_append(set, want);
	}
	sm_strmap_release(&g->drifted, NULL);
	if (json_array_size(set)) {
		struct sm_err err = SM_ERR_INIT;
		struct sync_opts so = { .source = g->source,
					.revision = g->applied.sha };
		struct sync_result res;

		g->heals_total += json_array_size(set);
		if (sync_apply(g->o.store, set, &so, &res, &err) < 0 ||
		    err.nr) {
			char *msg = format_diags(&err, SM_WARNING);

			sm_log(SM_LOG_WARN, LOG, "self-heal: %s", msg);
			free(msg);
		}
		sync_result_release(&res);
		sm_err_release(&err);
	}
	json_decref(set);
}

static void on_heal_timer(uv_timer_t *t)
{
	heal(t->data);
}

static void on_event(void *ctx, const struct store_event *ev)
{
	struct gitops *g = ctx;
	char key[KEY_LEN];
	const json_t *want;

	obj_key(ev->obj, key);
	if (!(want = sm_strmap_get(&g->index, key)))
		return;
	uv_timer_start(&g->health_timer, on_health_timer, HEALTH_DEBOUNCE_MS,
		       HEALTH_PERIOD_MS);
	bool drifted =
		ev->type == STORE_DELETED ? true : sync_drifted(ev->obj, want);
	if (!drifted) {
		struct heal *h = sm_strmap_get(&g->heals, key);

		if (h)
			h->given_up = false;
		return;
	}
	if (!g->o.self_heal)
		return;
	struct heal *h = sm_strmap_get(&g->heals, key);
	if (h && h->given_up)
		return;
	sm_strmap_put(&g->drifted, key, NULL, NULL);
	uv_timer_start(&g->heal_timer, on_heal_timer, HEAL_DEBOUNCE_MS, 0);
}

/* ---- the public side ---- */

static int watch_kinds(struct gitops *g, struct sm_err *err)
{
	size_t n;
	const struct mf_kind *k = mf_kinds(&n);

	for (size_t i = 0; i < n && g->nr_watches < MAX_WATCHES; i++) {
		int rc = store_watch(g->o.store, k[i].kind, NULL, 0, on_event,
				     g, &g->watches[g->nr_watches], err);

		if (rc < 0)
			return rc;
		g->nr_watches++;
	}
	return 0;
}

static void closed(uv_handle_t *h)
{
	struct gitops *g = h->data;

	if (--g->open_handles)
		return;
	free(g);
}

void gitops_free(struct gitops *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nr_watches; i++)
		store_watch_stop(g->watches[i]);
	gitsource_free(g->gs);
	while (g->checkouts) {
		struct checkout *c = g->checkouts;

		g->checkouts = c->next;
		free(c);
	}
	json_decref(g->desired);
	json_decref(g->warnings);
	json_decref(g->history);
	json_decref(g->degraded);
	sm_strmap_release(&g->index, NULL);
	sm_strmap_release(&g->drifted, NULL);
	sm_strmap_release(&g->heals, free);
	revinfo_release(&g->applied);
	revinfo_release(&g->head);
	free(g->last_error);
	free(g->source);
	free(g->state_path);
	free((char *)g->o.repo);
	free((char *)g->o.branch);
	free((char *)g->o.revision);
	free((char *)g->o.path);
	free((char *)g->o.data_dir);
	free((char *)g->o.credentials_file);
	uv_close((uv_handle_t *)&g->heal_timer, closed);
	uv_close((uv_handle_t *)&g->health_timer, closed);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int gitops_new(uv_loop_t *loop, const struct gitops_opts *o,
	       struct gitops **out, struct sm_err *err)
{
	struct gitops *g = xcalloc(1, sizeof(*g));
	int rc;

	g->loop = loop;
	g->o = *o;
	g->o.repo = xstrdup(o->repo);
	g->o.branch = dup_or_null(o->branch);
	g->o.revision = dup_or_null(o->revision);
	g->o.path = dup_or_null(o->path);
	g->o.data_dir = xstrdup(o->data_dir);
	g->o.credentials_file = dup_or_null(o->credentials_file);
	g->clock = o->clock ? o->clock : &sm_clock_system;
	g->source = o->path && *o->path ? xasprintf("%s#%s", o->repo, o->path)
					: xstrdup(o->repo);
	g->state_path = xasprintf("%s/git/state.json", o->data_dir);
	g->history = json_array();
	g->warnings = json_array();
	g->degraded = json_array();
	uv_timer_init(loop, &g->heal_timer);
	uv_timer_init(loop, &g->health_timer);
	g->heal_timer.data = g->health_timer.data = g;
	g->open_handles = 2;

	char *gitdir = xasprintf("%s/git", o->data_dir);
	if (mkdir(gitdir, 0700) < 0 && errno != EEXIST) {
		rc = sm_error(err, NULL, "%s: cannot create: %s", gitdir,
			      strerror(errno));
		free(gitdir);
		goto fail;
	}
	free(gitdir);
	if ((rc = load_state(g, err)) < 0 || (rc = watch_kinds(g, err)) < 0)
		goto fail;

	struct gitsource_opts so = {
		.url = o->repo,
		.branch = o->branch,
		.revision = o->revision,
		.path = o->path,
		.data_dir = o->data_dir,
		.interval_ms = o->interval_ms,
		.credentials_file = o->credentials_file,
		.cb = on_rev,
		.ctx = g,
	};
	g->gs = gitsource_new(loop, &so);
	uv_timer_start(&g->health_timer, on_health_timer, HEALTH_PERIOD_MS,
		       HEALTH_PERIOD_MS);
	sm_log(SM_LOG_INFO, LOG, "following %s%s%s (self-heal %s%s)", o->repo,
	       o->branch ? " branch " : "", o->branch ? o->branch : "",
	       o->self_heal ? "on" : "off",
	       o->auto_rollback ? ", auto-rollback on" : "");
	*out = g;
	return 0;
fail:
	gitops_free(g);
	return rc;
}

uint64_t gitops_sync_now(struct gitops *g)
{
	uint64_t target = gitsource_fetch_now(g->gs);

	if (g->desired) {
		json_t *d = json_incref(g->desired);
		struct revinfo r = { 0 };

		revinfo_copy(&r, &g->applied);
		apply(g, d, &r, NULL, NULL);
		revinfo_release(&r);
		json_decref(d);
	}
	return target;
}

/* Desired objects whose live state no longer holds them. */
static json_t *out_of_sync(struct gitops *g)
{
	json_t *list = json_array();
	size_t i;
	json_t *want;

	json_array_foreach (g->desired, i, want) {
		const json_t *live =
			store_get(g->o.store, store_obj_kind(want),
				  store_obj_ns(want), store_obj_name(want));

		if (!live || sync_drifted(live, want))
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:s}", "kind",
						store_obj_kind(want),
						"namespace", store_obj_ns(want),
						"name", store_obj_name(want)));
	}
	return list;
}

json_t *gitops_status(struct gitops *g)
{
	struct gitsource_status gst;
	char fetched[SM_TIME_RFC3339_LEN] = "";
	json_t *oos = out_of_sync(g);
	const char *state;

	gitsource_get_status(g->gs, &gst);
	if (gst.last_fetch_ms)
		sm_time_rfc3339((uint64_t)gst.last_fetch_ms * 1000000ull, 0,
				fetched, sizeof(fetched));
	if (g->head_failed)
		state = "Failed";
	else if (!g->desired)
		state = "Unknown";
	else if (json_array_size(oos) ||
		 (!g->pin.on && strcmp(g->head.sha, g->applied.sha)))
		state = "OutOfSync";
	else
		state = "Synced";
	json_t *pin = json_null();
	if (g->pin.on)
		pin = json_pack("{s:s, s:s%, s:s, s:s}", "sha", g->pin.sha,
				"short", g->pin.sha,
				(size_t)GITSOURCE_SHORT_LEN, "reason",
				g->pin.reason, "since", g->pin.since);
	return json_pack(
		"{s:{s:s, s:s?, s:s?, s:s?}, s:o, s:o, s:s, s:s, s:b, s:b, "
		"s:o, s:s?, s:I, s:s?, s:O, s:o, s:O, s:I}",
		"source", "repo", g->o.repo, "branch", g->o.branch, "revision",
		g->o.revision, "path", g->o.path, "revision",
		revinfo_json(&g->applied), "head", revinfo_json(&g->head),
		"sync", state, "health", health_names[g->health], "selfHeal",
		g->o.self_heal, "autoRollback", g->o.auto_rollback, "pinned",
		pin, "lastFetch", fetched[0] ? fetched : NULL, "fetches",
		(json_int_t)gst.fetches, "lastError", g->last_error, "warnings",
		g->warnings, "outOfSync", oos, "degraded", g->degraded,
		"selfHeals", (json_int_t)g->heals_total);
}

json_t *gitops_history(struct gitops *g)
{
	return json_pack("{s:O}", "items", g->history);
}

int gitops_diff(struct gitops *g, struct sm_buf *out, struct sm_err *err)
{
	json_t *empty = json_array();
	int rc = sync_diff(g->o.store, g->desired ? g->desired : empty,
			   g->source, out, err);

	json_decref(empty);
	return rc;
}
