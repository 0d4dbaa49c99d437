/*
 * cmd_manifests.c: `stuurman validate` and `stuurman render`, the two views
 * of manifests/: is this set of manifests good, and what exactly will be
 * applied.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "common/banned.h"

enum output { OUT_TEXT, OUT_JSON, OUT_YAML };

struct manifest_args {
	struct mf_load_opts load;
	enum output output;
	int quiet;
	int show_secrets;
	char **paths;
	int nr_paths;
};

static const char validate_help[] =
	"usage: stuurman validate [--strict] [-o text|json] [-q] PATH...\n"
	"\n"
	"Checks Kubernetes manifests (files, and folders recursively: *.yaml,\n"
	"*.yml, *.json) the way a Kubernetes API server would, and reports\n"
	"every problem as FILE:LINE:COLUMN: Kind \"name\": field: message.\n"
	"\n"
	"  --strict              unknown fields and unsupported kinds are "
	"errors\n"
	"  -o, --output FORMAT   text (default) or json\n"
	"  -q, --quiet           leave out notes (skipped files)\n"
	"  --max-file-size N     refuse files over N bytes (default 8 MiB)\n"
	"  -j, --jobs N          threads that read and check files (default:\n"
	"                        one per CPU); the output does not depend on "
	"it\n"
	"\n"
	"Exit status: 0 valid (warnings allowed), 1 errors, 2 usage.\n";

static const char render_help[] =
	"usage: stuurman render [--strict] [-o yaml|json] PATH...\n"
	"\n"
	"Prints the objects as stuurman will apply them: checked, with\n"
	"Kubernetes' defaults filled in, server-set fields dropped and keys\n"
	"sorted, like `kubectl create --dry-run=server -o yaml`. Nothing is\n"
	"printed when any manifest has an error. Secret values are shown as\n"
	"++++++++ unless --show-secrets is given.\n"
	"\n"
	"  --strict              unknown fields and unsupported kinds are "
	"errors\n"
	"  -o, --output FORMAT   yaml (default) or json (a v1 List)\n"
	"  --show-secrets        print Secret data as it is (base64)\n"
	"  --max-file-size N     refuse files over N bytes (default 8 MiB)\n"
	"  -j, --jobs N          threads that read and check files (default:\n"
	"                        one per CPU); the output does not depend on "
	"it\n"
	"\n"
	"Exit status: 0 rendered, 1 errors, 2 usage.\n";

static int parse_args(int argc, char **argv, const char *cmd, const char *help,
		      enum output deflt, bool text_ok, struct manifest_args *a)
{
	static const struct option opts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "max-file-size", required_argument, NULL, 'm' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "show-secrets", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mf_load_opts lo = MF_LOAD_OPTS_INIT;
	int opt;

	a->load = lo;
	a->output = deflt;
	a->quiet = 0;
	a->show_secrets = 0;
	while ((opt = getopt_long(argc, argv, "o:qj:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			a->load.strict = true;
			break;
		case 'o':
			if (!strcmp(optarg, "json"))
				a->output = OUT_JSON;
			else if (!strcmp(optarg, "yaml") && !text_ok)
				a->output = OUT_YAML;
			else if (!strcmp(optarg, "text") && text_ok)
				a->output = OUT_TEXT;
			else
				return cli_usage_error(cmd,
						       "-o: unsupported "
						       "format \"%s\"",
						       optarg);
			break;
		case 'q':
			a->quiet = 1;
			break;
		case 'S':
			a->show_secrets = 1;
			break;
		case 'm': {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(optarg, &end, 10);
			if (errno || *end || n == 0 || n > SIZE_MAX)
				return cli_usage_error(cmd,
						       "--max-file-size: "
						       "expected a number of "
						       "bytes, got \"%s\"",
						       optarg);
			a->load.parse.max_bytes = (size_t)n;
			break;
		}
		case 'j': {
			char *end;
			long n;

			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > MF_LOAD_MAX_JOBS)
				return cli_usage_error(cmd,
						       "--jobs: expected "
						       "a number from 1 to %d, "
						       "got \"%s\"",
						       MF_LOAD_MAX_JOBS,
						       optarg);
			a->load.jobs = (int)n;
			break;
		}
		case 'h':
			fputs(help, stdout);
			return -1;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "no PATH given: name manifest "
					    "files or folders");
	a->paths = argv + optind;
	a->nr_paths = argc - optind;
	return 0;
}

static json_t *diags_json(const struct sm_err *err)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < err->nr; i++) {
		const struct sm_diag *d = &err->items[i];
		json_t *o = json_pack("{s:s, s:s}", "severity",
				      sm_severity_name(d->severity), "message",
				      d->msg);

		if (d->file)
			json_object_set_new(o, "file", json_string(d->file));
		if (d->line)
			json_object_set_new(o, "line", json_integer(d->line));
		if (d->col)
			json_object_set_new(o, "column", json_integer(d->col));
		json_array_append_new(arr, o);
	}
	return arr;
}

int cmd_validate(int argc, char **argv)
{
	struct manifest_args a;
	struct mf_load_stats st = { 0 };
	struct sm_err err = SM_ERR_INIT;
	size_t nerr, nwarn;
	int r;

	r = parse_args(argc, argv, "validate", validate_help, OUT_TEXT, true,
		       &a);
	if (r)
		return r < 0 ? 0 : r;
	mf_load((const char *const *)a.paths, (size_t)a.nr_paths, &a.load, NULL,
		NULL, &st, &err);
	sm_err_sort(&err);
	nerr = sm_err_count(&err, SM_ERROR);
	nwarn = sm_err_count(&err, SM_WARNING);
	if (a.output == OUT_JSON) {
		json_t *out = json_pack(
			"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "valid",
			nerr == 0, "files", (json_int_t)st.files, "objects",
			(json_int_t)st.objects, "unsupported",
			(json_int_t)st.unsupported, "skipped",
			(json_int_t)st.skipped, "errors", (json_int_t)nerr,
			"warnings", (json_int_t)nwarn, "diagnostics",
			diags_json(&err));

		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(out);
	} else {
		cli_print_diags(&err, stderr, !a.quiet);
		if (nerr)
			printf("%zu error%s, %zu warning%s in %zu file%s: "
			       "not valid\n",
			       nerr, nerr == 1 ? "" : "s", nwarn,
			       nwarn == 1 ? "" : "s", st.files,
			       st.files == 1 ? "" : "s");
		else
			printf("%zu object%s in %zu file%s valid (%zu "
			       "warning%s, %zu left out)\n",
			       st.objects, st.objects == 1 ? "" : "s", st.files,
			       st.files == 1 ? "" : "s", nwarn,
			       nwarn == 1 ? "" : "s", st.unsupported);
	}
	sm_err_release(&err);
	return nerr ? 1 : 0;
}

struct render {
	json_t *items;
	int show_secrets;
};

/*
 * Keeps each object for printing. Secret values never reach the terminal
 * unless asked for: they are masked as Argo CD masks them.
 */
static int collect(void *ctx, const struct mf_object *o)
{
	struct render *r = ctx;
	json_t *data = json_object_get(o->obj, "data");
	const char *key;
	json_t *v;

	if (!r->show_secrets && !strcmp(o->kind->kind, "Secret"))
		json_object_foreach (data, key, v)
			json_string_set(v, "++++++++");
	json_array_append(r->items, o->obj);
	return 0;
}

int cmd_render(int argc, char **argv)
{
	struct manifest_args a;
	struct sm_err err = SM_ERR_INIT;
	struct sm_buf out = SM_BUF_INIT(SM_BUF_UNBOUNDED);
	json_t *items = json_array();
	struct render rctx;
	int r;

	r = parse_args(argc, argv, "render", render_help, OUT_YAML, false, &a);
	if (r) {
		json_decref(items);
		return r < 0 ? 0 : r;
	}
	rctx.items = items;
	rctx.show_secrets = a.show_secrets;
	r = mf_load((const char *const *)a.paths, (size_t)a.nr_paths, &a.load,
		    collect, &rctx, NULL, &err);
	/* Warnings are for people, on stderr; stdout is only the objects. */
	cli_print_diags(&err, stderr, 0);
	if (r) {
		fprintf(stderr, "%zu error%s: nothing rendered\n",
			sm_err_count(&err, SM_ERROR),
			sm_err_count(&err, SM_ERROR) == 1 ? "" : "s");
		goto out;
	}
	if (a.output == OUT_JSON) {
		json_t *list =
			json_pack("{s:s, s:s, s:O, s:{}}", "apiVersion", "v1",
				  "kind", "List", "items", items, "metadata");

		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(list);
	} else {
		for (size_t i = 0; i < json_array_size(items); i++) {
			if (i)
				sm_buf_adds(&out, "---\n");
			sm_json_to_yaml(json_array_get(items, i), &out);
		}
		fwrite(out.buf ? out.buf : "", 1, out.len, stdout);
	}
out:
	sm_buf_release(&out);
	json_decref(items);
	sm_err_release(&err);
	return r ? 1 : 0;
}
