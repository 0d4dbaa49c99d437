/*
 * syncfmt.c: the text of the GitOps commands; see syncfmt.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/kubeclient.h"
#include "cli/syncfmt.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "common/banned.h"

/* "Label:" padded so that every value starts in the same column. */
#define LABEL_WIDTH 16

/* A table of cells, cols per row, printed with three spaces between
 * columns after an indent, as kubectl prints. */
struct fmt_table {
	char **cells;
	size_t nr, alloc, cols;
};

static void ft_add(struct fmt_table *t, const char *cell)
{
	if (t->nr == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 32;
		t->cells = xrealloc(t->cells, t->alloc * sizeof(*t->cells));
	}
	t->cells[t->nr++] = xstrdup(cell && *cell ? cell : "-");
}

static void ft_widths(const struct fmt_table *t, size_t *w)
{
	for (size_t c = 0; c < t->cols; c++)
		w[c] = 0;
	for (size_t i = 0; i < t->nr; i++) {
		size_t n = strlen(t->cells[i]);

		if (n > w[i % t->cols])
			w[i % t->cols] = n;
	}
}

static void ft_print(struct fmt_table *t, const char *indent,
		     struct sm_buf *out)
{
	size_t *w = xcalloc(t->cols, sizeof(*w));

	ft_widths(t, w);
	for (size_t i = 0; i < t->nr; i++) {
		size_t c = i % t->cols;

		if (!c)
			sm_buf_adds(out, indent);
		if (c + 1 == t->cols)
			sm_buf_addf(out, "%s\n", t->cells[i]);
		else
			sm_buf_addf(out, "%-*s   ", (int)w[c], t->cells[i]);
	}
	for (size_t i = 0; i < t->nr; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
}

/* An RFC 3339 time in the local zone, or s itself when it is not one. */
static void local_time(const char *s, char *buf, size_t size)
{
	struct tm tm;
	time_t t;

	if (!s) {
		snprintf(buf, size, "-");
		return;
	}
	if (kubecli_parse_time(s, &t) || !localtime_r(&t, &tm) ||
	    !strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(buf, size, "%s", s);
}

/* "45s ago", or "" when s is not an RFC 3339 time. */
static void age_of(const char *s, time_t now, char *buf, size_t size)
{
	char age[32];
	time_t t;

	if (kubecli_parse_time(s, &t)) {
		snprintf(buf, size, "%s", "");
		return;
	}
	kubecli_human_age((int64_t)(now - t), age, sizeof(age));
	snprintf(buf, size, "%s ago", age);
}

void syncfmt_duration(long long ms, char *buf, size_t size)
{
	if (ms < 0)
		ms = 0;
	if (ms < 60000)
		snprintf(buf, size, "%lld.%llds", ms / 1000, ms % 1000 / 100);
	else
		kubecli_human_age(ms / 1000, buf, size);
}

static void label(struct sm_buf *out, const char *name)
{
	sm_buf_addf(out, "%-*s", LABEL_WIDTH, name);
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = sm_json_get_str(o, key);

	return s && *s ? s : def;
}

/* "1a2b3c4 subject" and, below, "author, local time". */
static void commit_lines(struct sm_buf *out, const char *name, const json_t *c)
{
	char when[64];

	label(out, name);
	if (!json_is_object(c)) {
		sm_buf_adds(out, "none yet\n");
		return;
	}
	sm_buf_addf(out, "%s %s\n", str_or(c, "short", "-"),
		    str_or(c, "subject", ""));
	local_time(sm_json_get_str(c, "time"), when, sizeof(when));
	sm_buf_addf(out, "%-*s%s, %s\n", LABEL_WIDTH, "",
		    str_or(c, "author", "-"), when);
}

/* Every line of text, each after indent. */
static void lines(struct sm_buf *out, const char *indent, const char *text)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);

		sm_buf_adds(out, indent);
		sm_buf_add(out, text, n);
		sm_buf_addch(out, '\n');
		text += n + (nl ? 1 : 0);
	}
}

static void source_line(struct sm_buf *out, const json_t *src)
{
	const char *branch = sm_json_get_str(src, "branch");
	const char *rev = sm_json_get_str(src, "revision");
	const char *path = sm_json_get_str(src, "path");

	label(out, "Source:");
	sm_buf_adds(out, str_or(src, "repo", "-"));
	if (rev)
		sm_buf_addf(out, ", revision %s", rev);
	else if (branch)
		sm_buf_addf(out, ", branch %s", branch);
	if (path && *path)
		sm_buf_addf(out, ", path %s", path);
	sm_buf_addch(out, '\n');
}

static void sync_line(struct sm_buf *out, const json_t *st)
{
	const char *sync = str_or(st, "sync", "Unknown");

	label(out, "Sync:");
	if (!strcmp(sync, "Failed"))
		sm_buf_addf(out,
			    "%s (the newest commit was rejected; the "
			    "revision above stays applied)\n",
			    sync);
	else if (!strcmp(sync, "OutOfSync"))
		sm_buf_addf(out, "%s (`stuurman diff` shows how)\n", sync);
	else
		sm_buf_addf(out, "%s\n", sync);
}

static void pinned_line(struct sm_buf *out, const json_t *pin)
{
	char since[64];

	label(out, "Pinned:");
	if (!json_is_object(pin)) {
		sm_buf_adds(out, "no\n");
		return;
	}
	local_time(sm_json_get_str(pin, "since"), since, sizeof(since));
	sm_buf_addf(out, "%s by %s since %s (until the next new commit)\n",
		    str_or(pin, "short", "-"), str_or(pin, "reason", "-"),
		    since);
}

static void fetch_line(struct sm_buf *out, const json_t *st, time_t now)
{
	const char *last = sm_json_get_str(st, "lastFetch");
	json_t *n = json_object_get(st, "fetches");
	char when[64], age[48];

	label(out, "Last fetch:");
	if (!last) {
		sm_buf_adds(out, "never");
	} else {
		local_time(last, when, sizeof(when));
		age_of(last, now, age, sizeof(age));
		sm_buf_adds(out, when);
		if (*age)
			sm_buf_addf(out, " (%s)", age);
	}
	if (json_is_integer(n))
		sm_buf_addf(out, ", %" JSON_INTEGER_FORMAT " fetch%s",
			    json_integer_value(n),
			    json_integer_value(n) == 1 ? "" : "es");
	sm_buf_addch(out, '\n');
}

/* The objects of list as a table (with a MESSAGE column when asked). */
static void objects(struct sm_buf *out, const char *name, const json_t *list,
		    bool with_message)
{
	struct fmt_table t = { .cols = with_message ? 4 : 3 };
	json_t *o;
	size_t i;

	if (!json_array_size(list)) {
		label(out, name);
		sm_buf_adds(out, "none\n");
		return;
	}
	sm_buf_addf(out, "%s\n", name);
	ft_add(&t, "KIND");
	ft_add(&t, "NAMESPACE");
	ft_add(&t, "NAME");
	if (with_message)
		ft_add(&t, "MESSAGE");
	json_array_foreach (list, i, o) {
		ft_add(&t, sm_json_get_str(o, "kind"));
		ft_add(&t, sm_json_get_str(o, "namespace"));
		ft_add(&t, sm_json_get_str(o, "name"));
		if (with_message)
			ft_add(&t, sm_json_get_str(o, "message"));
	}
	ft_print(&t, "  ", out);
}

int syncfmt_status(const json_t *st, time_t now, struct sm_buf *out)
{
	const json_t *rev, *head, *warn, *w;
	const char *err;
	size_t i;

	if (!json_is_object(st))
		return -EINVAL;
	rev = json_object_get(st, "revision");
	head = json_object_get(st, "head");
	source_line(out, json_object_get(st, "source"));
	commit_lines(out, "Revision:", rev);
	if (json_is_object(head) &&
	    (!json_is_object(rev) ||
	     strcmp(str_or(head, "sha", ""), str_or(rev, "sha", ""))))
		commit_lines(out, "Head:", head);
	sync_line(out, st);
	label(out, "Health:");
	sm_buf_addf(out, "%s\n", str_or(st, "health", "Unknown"));
	pinned_line(out, json_object_get(st, "pinned"));
	label(out, "Self-heal:");
	sm_buf_addf(out, "%s\n",
		    json_is_true(json_object_get(st, "selfHeal")) ? "on"
								  : "off");
	label(out, "Auto-rollback:");
	sm_buf_addf(out, "%s\n",
		    json_is_true(json_object_get(st, "autoRollback")) ? "on"
								      : "off");
	fetch_line(out, st, now);
	err = sm_json_get_str(st, "lastError");
	if (err && *err) {
		sm_buf_adds(out, "Last error:\n");
		lines(out, "  ", err);
	} else {
		label(out, "Last error:");
		sm_buf_adds(out, "none\n");
	}
	warn = json_object_get(st, "warnings");
	if (json_array_size(warn)) {
		sm_buf_adds(out, "Warnings:\n");
		json_array_foreach (warn, i, w)
			if (json_string_value(w))
				lines(out, "  ", json_string_value(w));
	}
	objects(out, "Out of sync:", json_object_get(st, "outOfSync"), false);
	objects(out, "Degraded:", json_object_get(st, "degraded"), true);
	return 0;
}

/* The longest prefix of s of at most max bytes that ends on a character
 * boundary (UTF-8). */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

#define HISTORY_COLS 6
#define MIN_SUBJECT 10

int syncfmt_history(const json_t *h, time_t now, size_t width,
		    struct sm_buf *out)
{
	static const char *const head[HISTORY_COLS] = {
		"REVISION", "SEEN",	     "RESULT",
		"CHANGES",  "HEALTHY AFTER", "SUBJECT"
	};
	const json_t *items = json_object_get(h, "items"), *e;
	struct fmt_table t = { .cols = HISTORY_COLS };
	size_t w[HISTORY_COLS], room = 0, i;
	char buf[64];

	if (!json_is_array(items))
		return -EINVAL;
	if (!json_array_size(items)) {
		sm_buf_adds(out, "No syncs yet.\n");
		return 0;
	}
	for (i = 0; i < HISTORY_COLS; i++)
		ft_add(&t, head[i]);
	json_array_foreach (items, i, e) {
		json_t *ms = json_object_get(e, "healthyAfterMs");

		ft_add(&t, sm_json_get_str(e, "short"));
		age_of(sm_json_get_str(e, "seen"), now, buf, sizeof(buf));
		ft_add(&t, buf);
		ft_add(&t, sm_json_get_str(e, "result"));
		snprintf(buf, sizeof(buf),
			 "+%" JSON_INTEGER_FORMAT " ~%" JSON_INTEGER_FORMAT
			 " -%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(e, "created")),
			 json_integer_value(json_object_get(e, "configured")),
			 json_integer_value(json_object_get(e, "pruned")));
		ft_add(&t, buf);
		if (json_is_integer(ms))
			syncfmt_duration((long long)json_integer_value(ms), buf,
					 sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "-");
		ft_add(&t, buf);
		ft_add(&t, sm_json_get_str(e, "subject"));
	}
	if (width) {
		/* What the first five columns and their gaps take. */
		ft_widths(&t, w);
		for (i = 0; i + 1 < HISTORY_COLS; i++)
			room += w[i] + 3;
		room = width > room + MIN_SUBJECT ? width - room : MIN_SUBJECT;
		for (i = HISTORY_COLS - 1; i < t.nr; i += HISTORY_COLS) {
			char *s = t.cells[i];

			if (strlen(s) > room) {
				size_t n = utf8_cut(s, room - 3);

				memcpy(s + n, "...", 4);
			}
		}
	}
	ft_print(&t, "", out);
	return 0;
}

void syncfmt_rollback(const json_t *st, const char *asked, struct sm_buf *out)
{
	const json_t *pin = json_object_get(st, "pinned");
	const json_t *rev = json_object_get(st, "revision");
	const char *branch =
		sm_json_get_str(json_object_get(st, "source"), "branch");

	if (!json_is_object(pin)) {
		sm_buf_addf(out,
			    "The server took the rollback to %s but shows no "
			    "pin yet; `stuurman sync status` tells more.\n",
			    asked);
		return;
	}
	sm_buf_addf(out, "Pinned %s", str_or(pin, "short", "-"));
	if (json_is_object(rev) &&
	    !strcmp(str_or(rev, "sha", ""), str_or(pin, "sha", "-")))
		sm_buf_addf(out, " \"%s\" (%s)", str_or(rev, "subject", ""),
			    str_or(rev, "author", "-"));
	sm_buf_addf(out, ", asked as %s.\n", asked);
	sm_buf_addf(out,
		    "It stays applied, and self-heal keeps the cluster at "
		    "it, until the next new commit on %s unpins it.\n",
		    branch ? branch : "the branch");
}

void syncfmt_error(const char *cmd, const char *method, const char *url,
		   int status, const json_t *body, const char *transport,
		   struct sm_buf *out)
{
	const char *msg = kubecli_status_message(body);
	size_t ml = strlen(method), ul = strlen(url);

	if (status <= 0 && transport && !strncmp(transport, method, ml) &&
	    transport[ml] == ' ' && !strncmp(transport + ml + 1, url, ul))
		/* libcurl's message through http_client names both. */
		sm_buf_addf(out, "stuurman %s: ", cmd);
	else
		sm_buf_addf(out, "stuurman %s: %s %s: ", cmd, method, url);
	if (status <= 0) {
		sm_buf_addf(out, "%s\n", transport ? transport : "no answer");
		sm_buf_addf(out, "is `stuurman up` running? Start it, or pass "
				 "--data DIR (or --kubeconfig FILE) to reach "
				 "the cluster you mean\n");
		return;
	}
	if (msg && strchr(msg, '\n')) {
		sm_buf_addf(out, "%d:\n", status);
		lines(out, "  ", msg);
	} else {
		sm_buf_addf(out, "%s (%d)\n", msg ? msg : "unexpected answer",
			    status);
	}
	if (status == 401 || status == 403)
		sm_buf_addf(out,
			    "the server refused the token: use the kubeconfig "
			    "of this cluster (--data DIR or --kubeconfig "
			    "FILE)\n");
	else if (status == 404 && !msg)
		sm_buf_addf(out, "this server has no GitOps endpoints: is it "
				 "an older stuurman?\n");
	else if (status == 404 && !strcmp(cmd, "rollback") &&
		 !strstr(msg, "--repo") && !strstr(msg, "stuurman history"))
		sm_buf_addf(out, "`stuurman history` lists the revisions the "
				 "server has seen\n");
}
