/*
 * test_syncfmt.c: cli/syncfmt.h. The exact text of `stuurman sync status`,
 * `history` and `rollback` for sample answers of the server, and the
 * messages of failed calls. TZ is UTC, so local times are fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cli/kubeclient.h"
#include "cli/syncfmt.h"
#include "common/buf.h"
#include "common/banned.h"

/* A status with everything: a rejected head, a pin, two errors. */
static const char failed_status[] =
	"{\"source\":{\"repo\":\"/d/git/"
	"cluster.git\",\"branch\":\"main\",\"revision\":null,\"path\":null},\n"
	" \"revision\":{\"sha\":\"1a2b3c4d5e6f708192a3b4c5d6e7f80912345678\","
	"\"short\":\"1a2b3c4\",\"author\":\"Ann Smit "
	"<ann@example.com>\",\"time\":\"2026-11-26T03:10:00Z\",\"subject\":"
	"\"Scale web to 5\"},\n"
	" \"head\":{\"sha\":\"9f8e7d6c5b4a39281706f5e4d3c2b1a098765432\","
	"\"short\":\"9f8e7d6\",\"author\":\"Bob "
	"<bob@example.com>\",\"time\":\"2026-11-26T03:11:30Z\",\"subject\":"
	"\"Break the replicas\"},\n"
	" \"sync\":\"Failed\",\"health\":\"Degraded\",\"selfHeal\":true,"
	"\"autoRollback\":false,\n"
	" \"pinned\":{\"sha\":\"1a2b3c4d5e6f708192a3b4c5d6e7f80912345678\","
	"\"short\":\"1a2b3c4\",\"reason\":\"rollback\",\"since\":\"2026-11-"
	"26T03:11:00Z\"},\n"
	" \"lastFetch\":\"2026-11-26T03:12:05Z\",\"fetches\":12,\n"
	" \"lastError\":\"web.yaml:12:7: Deployment \\\"web\\\": "
	"spec.replicas: expected an integer, got \\\"five\\\"\\nweb.yaml:20:3: "
	"Service \\\"web\\\": spec.ports: expected a list\",\n"
	" \"warnings\":[\"kv.yaml:1:1: Ingress \\\"kv\\\": kind not run by "
	"stuurman, left out\"],\n"
	" \"outOfSync\":[{\"kind\":\"Deployment\",\"namespace\":\"default\","
	"\"name\":\"web\"},{\"kind\":\"ConfigMap\",\"namespace\":\"shop\","
	"\"name\":\"settings\"}],\n"
	" \"degraded\":[{\"kind\":\"StatefulSet\",\"namespace\":\"default\","
	"\"name\":\"kv\",\"message\":\"1/3 ready\"}]}\n";

static const char history[] =
	"{\"items\":[\n"
	"{\"sha\":\"9f8e7d6c5b4a39281706f5e4d3c2b1a098765432\",\"short\":"
	"\"9f8e7d6\",\"author\":\"Bob <bob@example.com>\",\"subject\":\"Break "
	"the replicas of the web Deployment on purpose, to see what "
	"happens\",\"time\":\"2026-11-26T03:11:30Z\",\"seen\":\"2026-11-26T03:"
	"11:31Z\",\"synced\":null,\"result\":\"Failed\",\"created\":0,"
	"\"configured\":0,\"unchanged\":0,\"pruned\":0,\"healthyAfterMs\":null,"
	"\"message\":\"web.yaml:12:7: ...\"},\n"
	"{\"sha\":\"1a2b3c4d5e6f708192a3b4c5d6e7f80912345678\",\"short\":"
	"\"1a2b3c4\",\"author\":\"Ann\",\"subject\":\"Scale web to "
	"5\",\"time\":\"2026-11-26T03:10:00Z\",\"seen\":\"2026-11-26T03:10:"
	"01Z\",\"synced\":\"2026-11-26T03:10:01Z\",\"result\":\"Synced\","
	"\"created\":0,\"configured\":1,\"unchanged\":5,\"pruned\":0,"
	"\"healthyAfterMs\":1234,\"message\":null},\n"
	"{\"sha\":\"0000000d5e6f708192a3b4c5d6e7f80912345678\",\"short\":"
	"\"0000000\",\"author\":\"stuurman "
	"<stuurman@localhost>\",\"subject\":\"Initial manifests from "
	"/src/manifests/"
	"examples\",\"time\":\"2026-11-25T23:00:00Z\",\"seen\":\"2026-11-25T23:"
	"00:02Z\",\"synced\":\"2026-11-25T23:00:03Z\",\"result\":\"Synced\","
	"\"created\":7,\"configured\":0,\"unchanged\":0,\"pruned\":1,"
	"\"healthyAfterMs\":83000,\"message\":null}\n"
	"]}\n";

static time_t now(void)
{
	time_t t;

	assert_int_equal(kubecli_parse_time("2026-11-26T03:12:10Z", &t), 0);
	return t;
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad sample JSON: %s at %d", e.text, e.line);
	return j;
}

static void assert_status_text(const char *json, const char *want)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *st = parse(json);

	assert_int_equal(syncfmt_status(st, now(), &b), 0);
	assert_string_equal(sm_buf_cstr(&b), want);
	sm_buf_release(&b);
	json_decref(st);
}

static void
test_status_shows_head_pin_every_error_line_and_objects(void **state)
{
	assert_status_text(
		failed_status,
		"Source:         /d/git/cluster.git, branch main\n"
		"Revision:       1a2b3c4 Scale web to 5\n"
		"                Ann Smit <ann@example.com>, "
		"2026-11-26 03:10:00 UTC\n"
		"Head:           9f8e7d6 Break the replicas\n"
		"                Bob <bob@example.com>, 2026-11-26 03:11:30 "
		"UTC\n"
		"Sync:           Failed (the newest commit was rejected; the "
		"revision above stays applied)\n"
		"Health:         Degraded\n"
		"Pinned:         1a2b3c4 by rollback since 2026-11-26 03:11:00 "
		"UTC (until the next new commit)\n"
		"Self-heal:      on\n"
		"Auto-rollback:  off\n"
		"Last fetch:     2026-11-26 03:12:05 UTC (5s ago), 12 fetches\n"
		"Last error:\n"
		"  web.yaml:12:7: Deployment \"web\": spec.replicas: expected "
		"an integer, got \"five\"\n"
		"  web.yaml:20:3: Service \"web\": spec.ports: expected a "
		"list\n"
		"Warnings:\n"
		"  kv.yaml:1:1: Ingress \"kv\": kind not run by stuurman, left "
		"out\n"
		"Out of sync:\n"
		"  KIND         NAMESPACE   NAME\n"
		"  Deployment   default     web\n"
		"  ConfigMap    shop        settings\n"
		"Degraded:\n"
		"  KIND          NAMESPACE   NAME   MESSAGE\n"
		"  StatefulSet   default     kv     1/3 ready\n");
}

static void test_status_in_sync_leaves_head_out_and_says_none(void **state)
{
	assert_status_text(
		"{\"source\": {\"repo\": \"git://127.0.0.1/app\", "
		"\"branch\": null, \"revision\": \"v1.2\", "
		"\"path\": \"deploy\"},"
		" \"revision\": {\"sha\": \"aaaa\", \"short\": \"aaaa\","
		" \"author\": \"A <a@b>\", \"time\": \"2026-11-26T03:00:00Z\","
		" \"subject\": \"First\"},"
		" \"head\": {\"sha\": \"aaaa\", \"short\": \"aaaa\"},"
		" \"sync\": \"Synced\", \"health\": \"Healthy\","
		" \"selfHeal\": false, \"autoRollback\": true,"
		" \"pinned\": null, \"lastFetch\": null, \"fetches\": 1,"
		" \"lastError\": null, \"warnings\": [], \"outOfSync\": [],"
		" \"degraded\": []}",
		"Source:         git://127.0.0.1/app, revision v1.2, path "
		"deploy\n"
		"Revision:       aaaa First\n"
		"                A <a@b>, 2026-11-26 03:00:00 UTC\n"
		"Sync:           Synced\n"
		"Health:         Healthy\n"
		"Pinned:         no\n"
		"Self-heal:      off\n"
		"Auto-rollback:  on\n"
		"Last fetch:     never, 1 fetch\n"
		"Last error:     none\n"
		"Out of sync:    none\n"
		"Degraded:       none\n");
}

static void test_status_before_the_first_fetch_has_no_revision(void **state)
{
	assert_status_text(
		"{\"source\": {\"repo\": \"/r\", \"branch\": \"main\"},"
		" \"revision\": null, \"head\": null, \"sync\": \"Unknown\"}",
		"Source:         /r, branch main\n"
		"Revision:       none yet\n"
		"Sync:           Unknown\n"
		"Health:         Unknown\n"
		"Pinned:         no\n"
		"Self-heal:      off\n"
		"Auto-rollback:  off\n"
		"Last fetch:     never\n"
		"Last error:     none\n"
		"Out of sync:    none\n"
		"Degraded:       none\n");
}

static void test_status_refuses_what_is_not_an_object(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = json_array();

	assert_int_equal(syncfmt_status(j, now(), &b), -EINVAL);
	assert_int_equal(b.len, 0);
	json_decref(j);
}

static void assert_history_text(const char *json, size_t width,
				const char *want)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *h = parse(json);

	assert_int_equal(syncfmt_history(h, now(), width, &b), 0);
	assert_string_equal(sm_buf_cstr(&b), want);
	sm_buf_release(&b);
	json_decref(h);
}

static void test_history_is_a_table_newest_first(void **state)
{
	assert_history_text(
		history, 0,
		"REVISION   SEEN        RESULT   CHANGES    HEALTHY AFTER   "
		"SUBJECT\n"
		"9f8e7d6    39s ago     Failed   +0 ~0 -0   -               "
		"Break the replicas of the web Deployment on purpose, to see "
		"what happens\n"
		"1a2b3c4    2m9s ago    Synced   +0 ~1 -0   1.2s            "
		"Scale web to 5\n"
		"0000000    4h12m ago   Synced   +7 ~0 -1   83s             "
		"Initial manifests from /src/manifests/examples\n");
}

static void test_history_cuts_subjects_to_the_width(void **state)
{
	assert_history_text(
		history, 80,
		"REVISION   SEEN        RESULT   CHANGES    HEALTHY AFTER   "
		"SUBJECT\n"
		"9f8e7d6    39s ago     Failed   +0 ~0 -0   -               "
		"Break the replicas...\n"
		"1a2b3c4    2m9s ago    Synced   +0 ~1 -0   1.2s            "
		"Scale web to 5\n"
		"0000000    4h12m ago   Synced   +7 ~0 -1   83s             "
		"Initial manifests ...\n");
}

static void test_history_cuts_on_a_character_boundary(void **state)
{
	/* 10 bytes left, 7 before "...": the 7th is inside the third "ö", so
	 * the cut keeps two. */
	assert_history_text(
		"{\"items\": [{\"short\": \"abc1234\", \"result\": "
		"\"Synced\", \"subject\": \"Gr\u00f6\u00f6\u00f6\u00f6\u00f6e "
		"\u00e4ndern\"}]}",
		1,
		"REVISION   SEEN   RESULT   CHANGES    HEALTHY AFTER   "
		"SUBJECT\n"
		"abc1234    -      Synced   +0 ~0 -0   -               "
		"Gr\xc3\xb6\xc3\xb6...\n");
}

static void test_history_without_items_says_so(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = parse("{\"kind\": \"Status\"}");

	assert_history_text("{\"items\": []}", 0, "No syncs yet.\n");
	assert_int_equal(syncfmt_history(j, now(), 0, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	json_decref(j);
}

static void test_durations_have_a_tenth_below_a_minute(void **state)
{
	char buf[32];

	syncfmt_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.0s");
	syncfmt_duration(1234, buf, sizeof(buf));
	assert_string_equal(buf, "1.2s");
	syncfmt_duration(59999, buf, sizeof(buf));
	assert_string_equal(buf, "59.9s");
	syncfmt_duration(200000, buf, sizeof(buf));
	assert_string_equal(buf, "3m20s");
}

static void test_rollback_names_the_pin_and_what_unpins_it(void **state)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *st = parse(failed_status);

	syncfmt_rollback(st, "1a2b", &b);
	assert_string_equal(
		sm_buf_cstr(&b),
		"Pinned 1a2b3c4 \"Scale web to 5\" (Ann Smit "
		"<ann@example.com>), asked as 1a2b.\n"
		"It stays applied, and self-heal keeps the cluster at it, "
		"until the next new commit on main unpins it.\n");
	sm_buf_release(&b);
	json_decref(st);
}

static char *error_text(const char *cmd, const char *method, int status,
			const char *body, const char *transport)
{
	struct sm_buf b = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *j = body ? parse(body) : NULL;

	syncfmt_error(cmd, method, "https://127.0.0.1:6443/stuurman/sync",
		      status, j, transport, &b);
	json_decref(j);
	return sm_buf_detach(&b, NULL);
}

static void test_no_answer_asks_whether_up_runs(void **state)
{
	char *s = error_text("sync status", "GET", 0, NULL,
			     "Couldn't connect to server");

	assert_string_equal(
		s, "stuurman sync status: GET "
		   "https://127.0.0.1:6443/stuurman/sync: Couldn't connect to "
		   "server\n"
		   "is `stuurman up` running? Start it, or pass --data DIR (or "
		   "--kubeconfig FILE) to reach the cluster you mean\n");
	free(s);
}

static void test_a_transport_error_naming_the_call_is_not_doubled(void **state)
{
	char *s = error_text("history", "GET", 0, NULL,
			     "GET https://127.0.0.1:6443/stuurman/sync: Empty "
			     "reply from server");

	assert_string_equal(
		s, "stuurman history: GET "
		   "https://127.0.0.1:6443/stuurman/sync: Empty reply from "
		   "server\n"
		   "is `stuurman up` running? Start it, or pass --data DIR (or "
		   "--kubeconfig FILE) to reach the cluster you mean\n");
	free(s);
}

static void test_a_server_without_repo_gives_its_own_message(void **state)
{
	char *s = error_text(
		"history", "GET", 404,
		"{\"kind\": \"Status\", \"code\": 404, \"message\": "
		"\"this server does not follow a git repository (start it "
		"with --repo URL)\"}",
		NULL);

	assert_string_equal(s, "stuurman history: GET "
			       "https://127.0.0.1:6443/stuurman/sync: this "
			       "server does not follow a git repository (start "
			       "it with --repo URL) (404)\n");
	free(s);
}

static void test_a_revision_that_does_not_load_shows_every_line(void **state)
{
	char *s = error_text("rollback", "POST", 422,
			     "{\"kind\": \"Status\", \"message\": "
			     "\"a.yaml:1:1: bad\\nb.yaml:2:2: worse\"}",
			     NULL);

	assert_string_equal(s, "stuurman rollback: POST "
			       "https://127.0.0.1:6443/stuurman/sync: 422:\n"
			       "  a.yaml:1:1: bad\n"
			       "  b.yaml:2:2: worse\n");
	free(s);
}

static void test_an_unknown_revision_points_at_history(void **state)
{
	char *s = error_text("rollback", "POST", 404,
			     "{\"kind\": \"Status\", \"message\": "
			     "\"revision \\\"beef\\\" not found\"}",
			     NULL);

	assert_string_equal(s, "stuurman rollback: POST "
			       "https://127.0.0.1:6443/stuurman/sync: revision "
			       "\"beef\" not found (404)\n"
			       "`stuurman history` lists the revisions the "
			       "server has seen\n");
	free(s);
}

static void test_a_refused_token_says_which_kubeconfig(void **state)
{
	char *s = error_text("diff", "GET", 401,
			     "{\"kind\": \"Status\", "
			     "\"message\": \"Unauthorized\"}",
			     NULL);

	assert_string_equal(s, "stuurman diff: GET "
			       "https://127.0.0.1:6443/stuurman/sync: "
			       "Unauthorized (401)\n"
			       "the server refused the token: use the "
			       "kubeconfig of this cluster (--data DIR or "
			       "--kubeconfig FILE)\n");
	free(s);
}

static void test_a_404_without_status_suspects_an_older_server(void **state)
{
	char *s = error_text("sync", "POST", 404, NULL, NULL);

	assert_string_equal(s, "stuurman sync: POST "
			       "https://127.0.0.1:6443/stuurman/sync: "
			       "unexpected answer (404)\n"
			       "this server has no GitOps endpoints: is it an "
			       "older stuurman?\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_status_shows_head_pin_every_error_line_and_objects),
		cmocka_unit_test(
			test_status_in_sync_leaves_head_out_and_says_none),
		cmocka_unit_test(
			test_status_before_the_first_fetch_has_no_revision),
		cmocka_unit_test(test_status_refuses_what_is_not_an_object),
		cmocka_unit_test(test_history_is_a_table_newest_first),
		cmocka_unit_test(test_history_cuts_subjects_to_the_width),
		cmocka_unit_test(test_history_cuts_on_a_character_boundary),
		cmocka_unit_test(test_history_without_items_says_so),
		cmocka_unit_test(test_durations_have_a_tenth_below_a_minute),
		cmocka_unit_test(
			test_rollback_names_the_pin_and_what_unpins_it),
		cmocka_unit_test(test_no_answer_asks_whether_up_runs),
		cmocka_unit_test(
			test_a_transport_error_naming_the_call_is_not_doubled),
		cmocka_unit_test(
			test_a_server_without_repo_gives_its_own_message),
		cmocka_unit_test(
			test_a_revision_that_does_not_load_shows_every_line),
		cmocka_unit_test(test_an_unknown_revision_points_at_history),
		cmocka_unit_test(test_a_refused_token_says_which_kubeconfig),
		cmocka_unit_test(
			test_a_404_without_status_suspects_an_older_server),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
