/*
 * Tests for reconciler/store.c: objects and their server-set metadata,
 * conflicts, parts of an update, graceful deletion and finalizers,
 * generateName, watches (events, resume, 410, re-entrant callbacks) and
 * reopening from disk. Memory-only unless a test needs the journal; a fake
 * clock and a seeded random source keep everything deterministic.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/rand.h"
#include "common/xalloc.h"
#include "reconciler/store.h"
#include "common/banned.h"

/* 2026-11-25T21:58:54Z */
#define NOW_NS (UINT64_C(1795643934) * 1000000000)
#define MAXEV 64

struct ev {
	enum store_event_type type;
	uint64_t rv;
	json_t *obj, *old;
};

struct fx {
	uv_loop_t loop;
	struct sm_fake_clock clock;
	struct sm_seeded_rand rand;
	char dir[64];
	struct store *s;
	struct ev ev[MAXEV];
	size_t nev;
	int done[MAXEV];
	size_t ndone;
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static struct store *open_store(struct fx *f, const char *dir, size_t history,
				size_t snapshot_bytes)
{
	struct store_opts o = { dir, history, snapshot_bytes, &f->clock.clock,
				&f->rand.rand };
	struct sm_err err = SM_ERR_INIT;
	struct store *s = NULL;

	assert_int_equal(store_open(&f->loop, &o, &s, &err), 0);
	assert_false(sm_err_failed(&err));
	sm_err_release(&err);
	return s;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	assert_int_equal(uv_loop_init(&f->loop), 0);
	sm_fake_clock_init(&f->clock, NOW_NS);
	sm_seeded_rand_init(&f->rand, 42);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sm-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->s = open_store(f, NULL, 0, 0);
	*state = f;
	return 0;
}

static void forget_events(struct fx *f)
{
	for (size_t i = 0; i < f->nev; i++) {
		json_decref(f->ev[i].obj);
		json_decref(f->ev[i].old);
	}
	f->nev = 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_free(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	forget_events(f);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void run(struct fx *f)
{
	/* NOWAIT turns until nothing is ready: the idle handle stops. */
	for (int i = 0; i < 100; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void on_done(void *ctx, int status)
{
	struct fx *f = ctx;

	f->done[f->ndone++] = status;
}

static void on_event(void *ctx, const struct store_event *e)
{
	struct fx *f = ctx;
	struct ev *ev = &f->ev[f->nev++];

	assert_true(f->nev <= MAXEV);
	ev->type = e->type;
	ev->rv = e->rv;
	ev->obj = json_incref((json_t *)e->obj);
	ev->old = e->old ? json_incref((json_t *)e->old) : NULL;
}

static json_t *pod(const char *ns, const char *name, const char *image)
{
	json_t *p =
		json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}",
			  "apiVersion", "v1", "kind", "Pod", "metadata", "name",
			  name, "labels", "app", "web", "spec", "containers",
			  "name", "c", "image", image);

	if (ns)
		json_object_set_new(json_object_get(p, "metadata"), "namespace",
				    json_string(ns));
	return p;
}

static const char *meta_str(const json_t *obj, const char *key)
{
	return sm_json_get_str(json_object_get(obj, "metadata"), key);
}

static json_int_t generation(const json_t *obj)
{
	return json_integer_value(json_object_get(
		json_object_get(obj, "metadata"), "generation"));
}

/* Creates ns/name and returns the stored object (borrowed). */
static const json_t *create(struct fx *f, const char *ns, const char *name)
{
	json_t *p = pod(ns, name, "nginx:1");
	json_t *out = NULL;

	assert_int_equal(store_create(f->s, p, &out, NULL, NULL, NULL), 0);
	json_decref(p);
	json_decref(out);
	return store_get(f->s, "Pod", ns ? ns : "", name);
}

struct names {
	char buf[256];
	int stop_at;
	int n;
};

static int collect(void *ctx, const json_t *obj)
{
	struct names *nm = ctx;
	size_t len = strlen(nm->buf);

	snprintf(nm->buf + len, sizeof(nm->buf) - len, "%s/%s ",
		 store_obj_ns(obj), store_obj_name(obj));
	return ++nm->n == nm->stop_at ? 7 : 0;
}

static void test_objects_list_in_namespace_then_name_order(void **state)
{
	struct fx *f = *state;
	struct names nm = { "", 0, 0 };

	create(f, "b", "x");
	create(f, "a", "y");
	create(f, "b", "a");
	create(f, "a", "x");
	create(f, "c", "z");
	assert_int_equal(store_list(f->s, "Pod", NULL, collect, &nm), 0);
	assert_string_equal(nm.buf, "a/x a/y b/a b/x c/z ");
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_list(f->s, "Pod", "b", collect, &nm), 0);
	assert_string_equal(nm.buf, "b/a b/x ");
	assert_int_equal(store_count(f->s, "Pod", NULL), 5);
	assert_int_equal(store_count(f->s, "Pod", "a"), 2);
	assert_int_equal(store_count(f->s, "Pod", "zz"), 0);
	assert_int_equal(store_count(f->s, "Service", NULL), 0);
	/* each's nonzero value stops the listing and comes back. */
	memset(&nm, 0, sizeof(nm));
	nm.stop_at = 2;
	assert_int_equal(store_list(f->s, "Pod", NULL, collect, &nm), 7);
	assert_string_equal(nm.buf, "a/x a/y ");
	assert_non_null(store_get(f->s, "Pod", "a", "x"));
	assert_null(store_get(f->s, "Pod", "a", "q"));
	assert_null(store_get(f->s, "Pod", "c", "x"));
	assert_null(store_get(f->s, "Nope", "a", "x"));
}

static int count_one(void *ctx, const json_t *obj)
{
	(*(int *)ctx)++;
	return 0;
}

static int owned(struct fx *f, const char *ns, const char *uid)
{
	int n = 0;

	assert_int_equal(store_list_owned(f->s, "Pod", ns, uid, count_one, &n),
			 0);
	return n;
}

/* Creates ns/name controlled by uid (NULL: no controller). */
static void create_owned(struct fx *f, const char *ns, const char *name,
			 const char *uid)
{
	json_t *p = pod(ns, name, "nginx:1");

	if (uid)
		json_object_set_new(
			json_object_get(p, "metadata"), "ownerReferences",
			json_pack("[{s:s, s:s, s:s, s:b}, {s:s, s:s, s:s}]",
				  "kind", "ReplicaSet", "name", "rs", "uid",
				  uid, "controller", 1, "kind", "Other", "name",
				  "o", "uid", "not-a-controller"));
	assert_int_equal(store_create(f->s, p, NULL, NULL, NULL, NULL), 0);
	json_decref(p);
}

static void
test_the_owner_index_follows_creates_updates_and_deletes(void **state)
{
	struct fx *f = *state;

	create_owned(f, "a", "p1", "u1");
	create_owned(f, "a", "p2", "u1");
	create_owned(f, "b", "p3", "u1");
	create_owned(f, "a", "p4", NULL);
	assert_int_equal(owned(f, NULL, "u1"), 3);
	assert_int_equal(owned(f, "a", "u1"), 2);
	assert_int_equal(owned(f, "a", ""), 1);
	assert_int_equal(owned(f, NULL, "not-a-controller"), 0);
	assert_int_equal(owned(f, NULL, "nobody"), 0);
	/* p2 is adopted by u2: it moves between the sets. */
	json_t *p2 = json_deep_copy(store_get(f->s, "Pod", "a", "p2"));
	json_t *ref = json_array_get(
		sm_json_get_path(p2, "metadata.ownerReferences"), 0);
	json_object_set_new(ref, "uid", json_string("u2"));
	assert_int_equal(
		store_update(f->s, p2, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	json_decref(p2);
	assert_int_equal(owned(f, "a", "u1"), 1);
	assert_int_equal(owned(f, "a", "u2"), 1);
	assert_int_equal(store_delete(f->s, "Pod", "a", "p1", false, 0, NULL,
				      NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(owned(f, NULL, "u1"), 1);
	run(f);
}

static void test_cluster_scoped_objects_have_no_namespace(void **state)
{
	struct fx *f = *state;
	json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1",
			       "kind", "Namespace", "metadata", "name", "shop");
	struct names nm = { "", 0, 0 };
	json_t *out = NULL;

	assert_int_equal(store_create(f->s, ns, &out, NULL, NULL, NULL), 0);
	assert_null(meta_str(out, "namespace"));
	assert_ptr_equal(store_get(f->s, "Namespace", "", "shop"), out);
	assert_ptr_equal(store_get(f->s, "Namespace", NULL, "shop"), out);
	assert_int_equal(store_list(f->s, "Namespace", "", collect, &nm), 0);
	assert_string_equal(nm.buf, "/shop ");
	assert_int_equal(store_delete(f->s, "Namespace", NULL, "shop", false, 0,
				      NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(store_count(f->s, "Namespace", NULL), 0);
	json_decref(out);
	json_decref(ns);
}

static int delete_each(void *ctx, const json_t *obj)
{
	struct fx *f = ctx;

	/* obj stays valid: the listing holds a reference. */
	assert_int_equal(store_delete(f->s, "Pod", store_obj_ns(obj),
				      store_obj_name(obj), false, 0, NULL, NULL,
				      NULL, NULL, NULL),
			 0);
	assert_non_null(store_obj_name(obj));
	return 0;
}

static void test_a_listing_callback_may_delete_what_it_sees(void **state)
{
	struct fx *f = *state;

	create(f, "a", "x");
	create(f, "a", "y");
	create(f, "b", "z");
	assert_int_equal(store_list(f->s, "Pod", "a", delete_each, f), 0);
	assert_int_equal(store_count(f->s, "Pod", NULL), 1);
	assert_non_null(store_get(f->s, "Pod", "b", "z"));
}

static void test_many_objects_survive_growth_and_removal(void **state)
{
	struct fx *f = *state;
	char name[16];

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		create(f, "default", name);
	}
	for (int i = 0; i < 300; i += 2) {
		snprintf(name, sizeof(name), "p%03d", i);
		assert_int_equal(store_delete(f->s, "Pod", "default", name,
					      false, 0, NULL, NULL, NULL, NULL,
					      NULL),
				 0);
	}
	assert_int_equal(store_count(f->s, "Pod", "default"), 150);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		if (i % 2)
			assert_non_null(
				store_get(f->s, "Pod", "default", name));
		else
			assert_null(store_get(f->s, "Pod", "default", name));
	}
	assert_int_equal(store_rv(f->s), 450);
}

static void test_create_sets_uid_rv_generation_and_timestamp(void **state)
{
	struct fx *f = *state;
	json_t *in = pod("default", "web", "nginx:1");
	json_t *out = NULL;
	const char *uid;

	json_object_set_new(json_object_get(in, "metadata"), "resourceVersion",
			    json_string("77"));
	assert_int_equal(store_rv(f->s), 0);
	assert_int_equal(store_create(f->s, in, &out, NULL, NULL, NULL), 0);
	assert_ptr_equal(out, store_get(f->s, "Pod", "default", "web"));
	assert_ptr_not_equal(out, in);
	/* The input is not touched. */
	assert_string_equal(meta_str(in, "resourceVersion"), "77");
	assert_null(meta_str(in, "uid"));
	uid = meta_str(out, "uid");
	assert_non_null(uid);
	assert_int_equal(strlen(uid), 36);
	assert_int_equal(uid[14], '4');
	assert_non_null(strchr("89ab", uid[19]));
	assert_string_equal(meta_str(out, "resourceVersion"), "1");
	assert_int_equal(store_obj_rv(out), 1);
	assert_int_equal(generation(out), 1);
	assert_string_equal(meta_str(out, "creationTimestamp"),
			    "2026-11-25T21:58:54Z");
	assert_int_equal(store_rv(f->s), 1);
	assert_string_equal(store_obj_kind(out), "Pod");
	assert_string_equal(store_obj_ns(out), "default");
	assert_string_equal(store_obj_name(out), "web");
	json_decref(out);

	/* A second object gets another uid and the next rv. */
	assert_string_not_equal(meta_str(create(f, "default", "two"), "uid"),
				uid);
	assert_int_equal(store_rv(f->s), 2);
	json_decref(in);
}

static void test_create_refuses_duplicates_and_nameless_objects(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	json_t *p = pod("default", "web", "nginx:1");

	create(f, "default", "web");
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, &err),
			 -EEXIST);
	assert_string_equal(err.items[0].msg, "pods \"web\" already exists");
	json_object_del(json_object_get(p, "metadata"), "name");
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, &err),
			 -EINVAL);
	json_object_del(p, "kind");
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, &err),
			 -EINVAL);
	/* Without an error sink too. */
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL),
			 -EINVAL);
	run(f);
	/* A call that fails never calls its callback. */
	assert_int_equal(f->ndone, 0);
	assert_int_equal(store_rv(f->s), 1);
	sm_err_release(&err);
	json_decref(p);
}

static void test_generate_name_adds_five_random_characters(void **state)
{
	struct fx *f = *state;
	json_t *p = pod("default", "x", "nginx:1");
	json_t *meta = json_object_get(p, "metadata");
	json_t *a = NULL, *b = NULL;
	const char *name;

	json_object_del(meta, "name");
	json_object_set_new(meta, "generateName", json_string("web-"));
	assert_int_equal(store_create(f->s, p, &a, NULL, NULL, NULL), 0);
	assert_int_equal(store_create(f->s, p, &b, NULL, NULL, NULL), 0);
	name = store_obj_name(a);
	assert_int_equal(strlen(name), 9);
	assert_memory_equal(name, "web-", 4);
	for (int i = 4; i < 9; i++)
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", name[i]));
	assert_string_not_equal(name, store_obj_name(b));
	assert_string_equal(meta_str(a, "generateName"), "web-");
	assert_int_equal(store_count(f->s, "Pod", "default"), 2);
	json_decref(a);
	json_decref(b);
	json_decref(p);
}

static void test_update_with_a_stale_rv_fails_with_estale(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	json_t *p;

	create(f, "default", "web");
	create(f, "default", "other");
	p = json_deep_copy(store_get(f->s, "Pod", "default", "web"));
	json_object_set_new(json_object_get(p, "metadata"), "resourceVersion",
			    json_string("2"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, on_done, f, &err),
		-ESTALE);
	assert_non_null(
		strstr(err.items[0].msg,
		       "Operation cannot be fulfilled on pods \"web\""));
	/* With the right rv, or none, it goes through. */
	json_object_set_new(json_object_get(p, "metadata"), "resourceVersion",
			    json_string("1"));
	json_object_set_new(json_object_get(p, "metadata"), "labels",
			    json_pack("{s:s}", "app", "api"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, &err), 0);
	json_object_del(json_object_get(p, "metadata"), "resourceVersion");
	json_object_set_new(json_object_get(p, "metadata"), "labels",
			    json_pack("{s:s}", "app", "db"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, &err), 0);
	assert_int_equal(store_rv(f->s), 4);
	assert_int_equal(err.nr, 1);
	/* A missing object is -ENOENT. */
	json_object_set_new(json_object_get(p, "metadata"), "name",
			    json_string("gone"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, &err),
		-ENOENT);
	assert_string_equal(err.items[1].msg, "pods \"gone\" not found");
	sm_err_release(&err);
	json_decref(p);
}

static void test_an_update_that_changes_nothing_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct store_watch *w;
	const json_t *stored;
	json_t *p, *out = NULL;

	stored = create(f, "default", "web");
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &w, NULL), 0);
	p = json_deep_copy(stored);
	/* Server-set fields a client sends differently are not changes. */
	json_object_set_new(json_object_get(p, "metadata"), "uid",
			    json_string("forged"));
	json_object_set_new(json_object_get(p, "metadata"), "generation",
			    json_integer(9));
	assert_int_equal(
		store_update(f->s, p, STORE_ALL, &out, on_done, f, NULL), 0);
	assert_ptr_equal(out, stored);
	assert_int_equal(store_rv(f->s), 1);
	/* The callback comes later, never inside the call. */
	assert_int_equal(f->ndone, 0);
	run(f);
	assert_int_equal(f->ndone, 1);
	assert_int_equal(f->done[0], 0);
	assert_int_equal(f->nev, 0);
	json_decref(out);
	json_decref(p);
	store_watch_stop(w);
}

static void test_main_and_status_updates_touch_only_their_part(void **state)
{
	struct fx *f = *state;
	json_t *p, *out = NULL;
	const json_t *cur;

	create(f, "default", "web");
	/* Status: only status changes; the spec sent along is ignored. */
	p = pod("default", "web", "nginx:2");
	json_object_set_new(p, "status",
			    json_pack("{s:s}", "phase", "Running"));
	assert_int_equal(
		store_update(f->s, p, STORE_STATUS, &out, NULL, NULL, NULL), 0);
	cur = store_get(f->s, "Pod", "default", "web");
	assert_ptr_equal(out, cur);
	json_decref(out);
	assert_string_equal(
		sm_json_get_str(json_object_get(cur, "status"), "phase"),
		"Running");
	assert_string_equal(
		sm_json_get_str(
			json_array_get(sm_json_get_path(cur, "spec."
							     "containers"),
				       0),
			"image"),
		"nginx:1");
	assert_int_equal(generation(cur), 1);
	assert_string_equal(meta_str(cur, "resourceVersion"), "2");

	/* Main: the spec changes, the status sent along is ignored. */
	json_object_set_new(p, "status", json_pack("{s:s}", "phase", "Failed"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	cur = store_get(f->s, "Pod", "default", "web");
	assert_string_equal(
		sm_json_get_str(json_object_get(cur, "status"), "phase"),
		"Running");
	assert_string_equal(
		sm_json_get_str(
			json_array_get(sm_json_get_path(cur, "spec."
							     "containers"),
				       0),
			"image"),
		"nginx:2");
	assert_int_equal(generation(cur), 2);

	/* All: both. */
	assert_int_equal(
		store_update(f->s, p, STORE_ALL, NULL, NULL, NULL, NULL), 0);
	cur = store_get(f->s, "Pod", "default", "web");
	assert_string_equal(
		sm_json_get_str(json_object_get(cur, "status"), "phase"),
		"Failed");
	assert_int_equal(generation(cur), 2);
	assert_int_equal(store_rv(f->s), 4);
	json_decref(p);
}

static void
test_generation_moves_only_for_changes_outside_metadata_and_status(void **state)
{
	struct fx *f = *state;
	const json_t *old;
	json_t *p;

	old = create(f, "default", "web");
	json_incref((json_t *)old);
	p = json_deep_copy(old);
	/* A label: metadata, no new generation. */
	json_object_set_new(json_object_get(p, "metadata"), "labels",
			    json_pack("{s:s}", "app", "other"));
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(generation(store_get(f->s, "Pod", "default", "web")),
			 1);
	/* A new top-level member counts as a spec change. */
	json_object_set_new(p, "data", json_string("x"));
	json_object_del(json_object_get(p, "metadata"), "resourceVersion");
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(generation(store_get(f->s, "Pod", "default", "web")),
			 2);
	/* The object a reader held is unchanged: stored objects are never
	 * modified. */
	assert_int_equal(generation(old), 1);
	assert_string_equal(meta_str(old, "resourceVersion"), "1");
	assert_string_equal(
		sm_json_get_str(sm_json_get_path(old, "metadata.labels"),
				"app"),
		"web");
	json_decref((json_t *)old);
	json_decref(p);
}

static void test_graceful_delete_marks_and_a_second_delete_removes(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	json_t *out = NULL;
	const json_t *cur;

	create(f, "default", "web");
	f->clock.realtime_ns += 5000000000ULL;
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", true, 30,
				      NULL, &out, NULL, NULL, NULL),
			 0);
	cur = store_get(f->s, "Pod", "default", "web");
	assert_ptr_equal(out, cur);
	json_decref(out);
	assert_string_equal(meta_str(cur, "deletionTimestamp"),
			    "2026-11-25T21:58:59Z");
	assert_int_equal(json_integer_value(sm_json_get_path(
				 cur, "metadata.deletionGracePeriodSeconds")),
			 30);
	assert_int_equal(store_rv(f->s), 2);
	/* Marking again changes nothing. */
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", true, 5,
				      NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(store_rv(f->s), 2);
	/* A precondition on the wrong rv fails. */
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", false, 0,
				      "1", NULL, NULL, NULL, &err),
			 -ESTALE);
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", false, 0,
				      "2", &out, NULL, NULL, &err),
			 0);
	assert_null(store_get(f->s, "Pod", "default", "web"));
	/* The removed object, at the removal's rv. */
	assert_string_equal(meta_str(out, "resourceVersion"), "3");
	json_decref(out);
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", false, 0,
				      NULL, NULL, NULL, NULL, &err),
			 -ENOENT);
	sm_err_release(&err);
}

static void test_finalizers_hold_an_object_until_the_last_one_goes(void **state)
{
	struct fx *f = *state;
	struct store_watch *w;
	json_t *p = pod("default", "web", "nginx:1");
	json_t *fins = json_pack("[s, s]", "a.example/x", "b.example/y");

	json_object_set_new(json_object_get(p, "metadata"), "finalizers", fins);
	assert_int_equal(store_create(f->s, p, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(
		store_watch(f->s, "Pod", "default", 0, on_event, f, &w, NULL),
		0);
	/* Not graceful, but the finalizers make it a mark. */
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", false, 0,
				      NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_non_null(store_get(f->s, "Pod", "default", "web"));
	assert_non_null(meta_str(store_get(f->s, "Pod", "default", "web"),
				 "deletionTimestamp"));
	/* One finalizer removed: still there. */
	json_array_remove(fins, 0);
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	assert_non_null(store_get(f->s, "Pod", "default", "web"));
	/* A status update of a marked object does not remove it. */
	json_object_set_new(p, "status",
			    json_pack("{s:s}", "phase", "Running"));
	assert_int_equal(
		store_update(f->s, p, STORE_STATUS, NULL, NULL, NULL, NULL), 0);
	assert_non_null(store_get(f->s, "Pod", "default", "web"));
	/* The last one: gone, by that write. */
	json_array_clear(fins);
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, NULL, NULL, NULL), 0);
	assert_null(store_get(f->s, "Pod", "default", "web"));
	assert_int_equal(store_rv(f->s), 5);
	run(f);
	assert_int_equal(f->nev, 4);
	assert_int_equal(f->ev[3].type, STORE_DELETED);
	assert_int_equal(f->ev[3].rv, 5);
	assert_string_equal(meta_str(f->ev[3].obj, "resourceVersion"), "5");
	assert_int_equal(json_array_size(sm_json_get_path(
				 f->ev[3].old, "metadata.finalizers")),
			 1);
	store_watch_stop(w);
	json_decref(p);
}

static void test_a_watch_sees_added_modified_and_deleted_with_old(void **state)
{
	struct fx *f = *state;
	struct store_watch *w, *other;
	json_t *p;

	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &w, NULL), 0);
	assert_int_equal(store_watch(f->s, "Service", NULL, 0, on_event, f,
				     &other, NULL),
			 0);
	create(f, "default", "web");
	p = pod("default", "web", "nginx:2");
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, on_done, f, NULL), 0);
	assert_int_equal(store_delete(f->s, "Pod", "default", "web", false, 0,
				      NULL, NULL, on_done, f, NULL),
			 0);
	/* Nothing inside the calls. */
	assert_int_equal(f->nev, 0);
	assert_int_equal(f->ndone, 0);
	run(f);
	assert_int_equal(f->nev, 3);
	assert_int_equal(f->ndone, 2);
	assert_int_equal(f->ev[0].type, STORE_ADDED);
	assert_int_equal(f->ev[0].rv, 1);
	assert_null(f->ev[0].old);
	assert_int_equal(f->ev[1].type, STORE_MODIFIED);
	assert_int_equal(f->ev[1].rv, 2);
	assert_ptr_equal(f->ev[1].old, f->ev[0].obj);
	assert_string_equal(
		sm_json_get_str(json_array_get(sm_json_get_path(f->ev[1].obj,
								"spec."
								"containers"),
					       0),
				"image"),
		"nginx:2");
	assert_int_equal(f->ev[2].type, STORE_DELETED);
	assert_int_equal(f->ev[2].rv, 3);
	assert_ptr_equal(f->ev[2].old, f->ev[1].obj);
	assert_string_equal(meta_str(f->ev[2].obj, "resourceVersion"), "3");
	json_decref(p);
	store_watch_stop(w);
	store_watch_stop(other);
}

static void test_a_watch_of_one_namespace_sees_only_it(void **state)
{
	struct fx *f = *state;
	struct store_watch *w;

	assert_int_equal(
		store_watch(f->s, "Pod", "b", 0, on_event, f, &w, NULL), 0);
	create(f, "a", "x");
	create(f, "b", "y");
	create(f, "c", "z");
	run(f);
	assert_int_equal(f->nev, 1);
	assert_string_equal(store_obj_name(f->ev[0].obj), "y");
	store_watch_stop(w);
}

static void test_a_watch_resumes_from_a_resource_version(void **state)
{
	struct fx *f = *state;
	struct store_watch *w;

	for (int i = 0; i < 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "p%d", i);
		create(f, "default", name);
	}
	run(f);
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 2, on_event, f, &w, NULL), 0);
	/* The history comes from a later loop turn too. */
	assert_int_equal(f->nev, 0);
	create(f, "default", "late");
	run(f);
	assert_int_equal(f->nev, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(f->ev[i].rv, 3 + i);
		assert_int_equal(f->ev[i].type, STORE_ADDED);
	}
	assert_string_equal(store_obj_name(f->ev[3].obj), "late");
	store_watch_stop(w);
}

static void test_a_watch_older_than_the_history_is_expired(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct store_watch *w = NULL;

	store_free(f->s);
	f->s = open_store(f, NULL, 3, 0);
	for (int i = 0; i < 6; i++) {
		char name[8];

		snprintf(name, sizeof(name), "p%d", i);
		create(f, "default", name);
	}
	run(f);
	/* Events 4, 5, 6 are kept: from 3 works, from 2 is too old. */
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 2, on_event, f, &w, &err),
		-ERANGE);
	assert_null(w);
	assert_string_equal(err.items[0].msg,
			    "too old resource version: 2 (3)");
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 3, on_event, f, &w, &err), 0);
	run(f);
	assert_int_equal(f->nev, 3);
	assert_int_equal(f->ev[0].rv, 4);
	store_watch_stop(w);
	sm_err_release(&err);
}

struct reentrant {
	struct fx *f;
	struct store_watch *self, *victim;
	int calls, victim_calls;
	bool write;
};

static void on_self_stop(void *ctx, const struct store_event *e)
{
	struct reentrant *r = ctx;

	r->calls++;
	store_watch_stop(r->self);
	store_watch_stop(r->victim);
	if (r->write) {
		/* Writing from inside a callback works; its event comes
		 * later, to the other watches. */
		json_t *p = pod("default", "from-callback", "nginx:1");

		assert_int_equal(
			store_create(r->f->s, p, NULL, NULL, NULL, NULL), 0);
		json_decref(p);
	}
}

static void on_victim(void *ctx, const struct store_event *e)
{
	struct reentrant *r = ctx;

	r->victim_calls++;
}

static void
test_a_watch_may_stop_itself_and_others_and_write_in_its_callback(void **state)
{
	struct fx *f = *state;
	struct reentrant r = { f, NULL, NULL, 0, 0, true };
	struct store_watch *seer;

	assert_int_equal(store_watch(f->s, "Pod", NULL, 0, on_self_stop, &r,
				     &r.self, NULL),
			 0);
	assert_int_equal(store_watch(f->s, "Pod", NULL, 0, on_victim, &r,
				     &r.victim, NULL),
			 0);
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &seer, NULL), 0);
	create(f, "default", "a");
	create(f, "default", "b");
	run(f);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.victim_calls, 0);
	assert_int_equal(f->nev, 3);
	assert_string_equal(store_obj_name(f->ev[2].obj), "from-callback");
	assert_int_equal(f->ev[2].rv, 3);
	store_watch_stop(seer);
}

static void test_store_free_stops_watches_and_finishes_writes(void **state)
{
	struct fx *f = *state;
	struct store_watch *w;
	json_t *p = pod("default", "web", "nginx:1");

	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &w, NULL), 0);
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL), 0);
	store_free(f->s);
	f->s = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ndone, 1);
	assert_int_equal(f->done[0], 0);
	assert_int_equal(f->nev, 0);
	json_decref(p);
}

static void on_event_free_store(void *ctx, const struct store_event *e)
{
	struct fx *f = ctx;

	on_event(ctx, e);
	store_free(f->s);
	f->s = NULL;
}

static void test_the_store_may_be_freed_from_a_watch_callback(void **state)
{
	struct fx *f = *state;
	struct store_watch *w, *other;

	assert_int_equal(store_watch(f->s, "Pod", NULL, 0, on_event_free_store,
				     f, &w, NULL),
			 0);
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &other, NULL),
		0);
	create(f, "default", "a");
	assert_int_equal(
		store_create(f->s,
			     (json_t *)store_get(f->s, "Pod", "default", "a"),
			     NULL, on_done, f, NULL),
		-EEXIST);
	{
		json_t *p = pod("default", "b", "nginx:1");

		assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL),
				 0);
		json_decref(p);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* One event, then the store went: the second write still
	 * completed, without events. */
	assert_int_equal(f->nev, 1);
	assert_int_equal(f->ndone, 1);
	assert_int_equal(f->done[0], 0);
}

static void test_a_reopened_store_has_its_objects_and_rv(void **state)
{
	struct fx *f = *state;
	struct names nm = { "", 0, 0 };
	json_t *p;
	char uid[40];

	store_free(f->s);
	/* A tiny snapshot size: snapshots happen along the way. */
	f->s = open_store(f, f->dir, 0, 2000);
	for (int i = 0; i < 40; i++) {
		char name[8];

		snprintf(name, sizeof(name), "p%02d", i);
		p = pod(i % 2 ? "odd" : "even", name, "nginx:1");
		assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL),
				 0);
		json_decref(p);
	}
	/* Durable only once the callbacks ran. */
	assert_int_equal(f->ndone, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ndone, 40);
	assert_int_equal(store_delete(f->s, "Pod", "even", "p00", false, 0,
				      NULL, NULL, on_done, f, NULL),
			 0);
	p = pod("odd", "p01", "nginx:9");
	assert_int_equal(
		store_update(f->s, p, STORE_MAIN, NULL, on_done, f, NULL), 0);
	json_decref(p);
	snprintf(uid, sizeof(uid), "%s",
		 meta_str(store_get(f->s, "Pod", "odd", "p01"), "uid"));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->ndone, 42);
	for (size_t i = 0; i < f->ndone; i++)
		assert_int_equal(f->done[i], 0);
	store_free(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	{
		char path[96];

		snprintf(path, sizeof(path), "%s/snapshot", f->dir);
		assert_int_equal(access(path, F_OK), 0);
	}

	f->s = open_store(f, f->dir, 0, 2000);
	assert_int_equal(store_rv(f->s), 42);
	assert_int_equal(store_count(f->s, "Pod", NULL), 39);
	assert_null(store_get(f->s, "Pod", "even", "p00"));
	p = (json_t *)store_get(f->s, "Pod", "odd", "p01");
	assert_string_equal(meta_str(p, "uid"), uid);
	assert_string_equal(meta_str(p, "resourceVersion"), "42");
	assert_int_equal(generation(p), 2);
	nm.stop_at = 3;
	assert_int_equal(store_list(f->s, "Pod", "odd", collect, &nm), 7);
	assert_string_equal(nm.buf, "odd/p01 odd/p03 odd/p05 ");
	/* Writing goes on from the restored rv. */
	create(f, "default", "after");
	assert_string_equal(meta_str(store_get(f->s, "Pod", "default", "after"),
				     "resourceVersion"),
			    "43");
	/* And a watch from before the restart is too old. */
	{
		struct store_watch *w = NULL;

		assert_int_equal(store_watch(f->s, "Pod", NULL, 10, on_event, f,
					     &w, NULL),
				 -ERANGE);
	}
}

static void test_after_a_journal_failure_writes_fail_with_eio(void **state)
{
	struct fx *f = *state;
	struct sm_err err = SM_ERR_INIT;
	struct store_watch *w;
	struct rlimit old, lim;
	json_t *p = pod("default", "a", "nginx:1");
	char path[96];
	struct stat st;

	store_free(f->s);
	f->s = open_store(f, f->dir, 0, 0);
	assert_int_equal(
		store_watch(f->s, "Pod", NULL, 0, on_event, f, &w, NULL), 0);
	json_object_set_new(json_object_get(p, "metadata"), "name",
			    json_string("a"));
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL), 0);
	while (f->ndone < 1)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(f->done[0], 0);
	assert_int_equal(f->nev, 1);
	snprintf(path, sizeof(path), "%s/journal", f->dir);
	assert_int_equal(stat(path, &st), 0);
	/* The next write fails as on a full disk (see test_journal.c). */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	json_object_set_new(json_object_get(p, "metadata"), "name",
			    json_string("b"));
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, NULL), 0);
	while (f->ndone < 2)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(f->done[1], -EIO);
	/* No event for a write that is not durable. */
	assert_int_equal(f->nev, 1);
	json_object_set_new(json_object_get(p, "metadata"), "name",
			    json_string("c"));
	assert_int_equal(store_create(f->s, p, NULL, on_done, f, &err), -EIO);
	assert_int_equal(store_delete(f->s, "Pod", "default", "a", false, 0,
				      NULL, NULL, on_done, f, &err),
			 -EIO);
	run(f);
	assert_int_equal(f->ndone, 2);
	store_watch_stop(w);
	store_free(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* A restart has what was acknowledged. */
	f->s = open_store(f, f->dir, 0, 0);
	assert_int_equal(store_rv(f->s), 1);
	assert_non_null(store_get(f->s, "Pod", "default", "a"));
	assert_null(store_get(f->s, "Pod", "default", "b"));
	sm_err_release(&err);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_objects_list_in_namespace_then_name_order),
		T(test_a_listing_callback_may_delete_what_it_sees),
		T(test_the_owner_index_follows_creates_updates_and_deletes),
		T(test_cluster_scoped_objects_have_no_namespace),
		T(test_many_objects_survive_growth_and_removal),
		T(test_create_sets_uid_rv_generation_and_timestamp),
		T(test_create_refuses_duplicates_and_nameless_objects),
		T(test_generate_name_adds_five_random_characters),
		T(test_update_with_a_stale_rv_fails_with_estale),
		T(test_an_update_that_changes_nothing_writes_nothing),
		T(test_main_and_status_updates_touch_only_their_part),
		T(test_generation_moves_only_for_changes_outside_metadata_and_status),
		T(test_graceful_delete_marks_and_a_second_delete_removes),
		T(test_finalizers_hold_an_object_until_the_last_one_goes),
		T(test_a_watch_sees_added_modified_and_deleted_with_old),
		T(test_a_watch_of_one_namespace_sees_only_it),
		T(test_a_watch_resumes_from_a_resource_version),
		T(test_a_watch_older_than_the_history_is_expired),
		T(test_a_watch_may_stop_itself_and_others_and_write_in_its_callback),
		T(test_store_free_stops_watches_and_finishes_writes),
		T(test_the_store_may_be_freed_from_a_watch_callback),
		T(test_a_reopened_store_has_its_objects_and_rv),
		T(test_after_a_journal_failure_writes_fail_with_eio),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
