/*
 * kubeclient.h: what the client commands (get, delete, up, down) share to
 * talk to a stuurman API server as kubectl does: a kubeconfig read into a
 * struct kubeconfig, requests on a libuv loop through common/http_client
 * (with the cluster's CA and the user's bearer token), a blocking form of
 * them for short-lived commands, and kubectl's way of printing ages.
 *
 * Only what `stuurman up` writes and kubectl's usual files hold is read:
 * the current context's cluster (server, certificate-authority or
 * certificate-authority-data) and user (token or tokenFile). Client
 * certificates and exec plugins are not supported: a kubeconfig with
 * neither a token nor a token file is an error that says so.
 *
 * Ownership: every string in a struct kubeconfig is new, freed by
 * kubeconfig_release(). A kubecli copies what it needs from the
 * kubeconfig; a CA given as data is written to a private temporary file
 * (0600) that lives as long as the client, because http_client trusts CAs
 * from a file. Replies are borrowed for the duration of their callback.
 */
#ifndef SM_CLI_KUBECLIENT_H
#define SM_CLI_KUBECLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "common/compat.h"
#include "common/err.h"

struct sm_buf;

struct kubeconfig {
	char *server; /* "https://127.0.0.1:6443", no trailing slash */
	char *ca_file; /* a PEM file, or NULL */
	char *ca_pem; /* the PEM itself (certificate-authority-data), or NULL */
	char *token; /* the bearer token */
	char *namespace; /* the context's namespace, "default" when unset */
};

#define KUBECONFIG_INIT                      \
	{                                    \
		NULL, NULL, NULL, NULL, NULL \
	}

void kubeconfig_release(struct kubeconfig *kc);

/*
 * Reads the kubeconfig YAML in data (len bytes) named path (for messages,
 * and to resolve a relative certificate-authority or tokenFile against
 * its folder) into kc, which must be KUBECONFIG_INIT or released. Returns
 * 0, or -EINVAL with a message naming path in err (no current context, a
 * context naming a cluster or user that is not there, no server, no
 * token, bad base64); kc is then left empty.
 */
int kubeconfig_parse(const char *path, const char *data, size_t len,
		     struct kubeconfig *kc, struct sm_err *err);

/* kubeconfig_parse() of the file at path; -errno when it cannot be read. */
int kubeconfig_load(const char *path, struct kubeconfig *kc,
		    struct sm_err *err);

/*
 * Which kubeconfig a command uses: explicit (--kubeconfig) when not NULL,
 * else DATA/kubeconfig when data_dir is not NULL, else $KUBECONFIG (its
 * first entry), else DATA/kubeconfig of the default data dir
 * (default_data, may be NULL). Returns new memory, or NULL when none of
 * them is known.
 */
char *kubeconfig_path(const char *explicit, const char *data_dir,
		      const char *default_data) SM_MALLOC(free);

struct kubecli;

/*
 * What a request got. status is the HTTP status, 0 when no answer came
 * (then error says why). json is the parsed body when it was JSON, else
 * NULL; borrowed until the callback returns.
 */
struct kubecli_reply {
	int status;
	const json_t *json;
	const char *body;
	size_t len;
	const char *error;
};

typedef void (*kubecli_cb)(void *ctx, const struct kubecli_reply *r);

void kubecli_free(struct kubecli *c);

/*
 * A client on loop (borrowed; it must outlive the client) for kc (copied).
 * Returns NULL with a message in err when the CA data cannot be written to
 * a temporary file or libcurl cannot be set up. Free with
 * kubecli_free(), which cancels what is in flight (no callback runs);
 * the loop needs a turn afterwards to close the handles.
 */
struct kubecli *kubecli_new(uv_loop_t *loop, const struct kubeconfig *kc,
			    struct sm_err *err) SM_MALLOC(kubecli_free);

/*
 * Starts METHOD server+path (path begins with '/', query included) with
 * body (may be NULL) sent as content_type (NULL: application/json),
 * bounded by timeout_ms (0: 30 s). cb runs once, later, on the loop.
 * Returns 0, or a negative errno when nothing was started (cb not called).
 */
int kubecli_request(struct kubecli *c, const char *method, const char *path,
		    const char *content_type, const json_t *body, kubecli_cb cb,
		    void *ctx);

/*
 * The same, blocking: runs the client's loop until the answer came.
 * Only for a loop that belongs to the calling command and has nothing
 * else to do. Returns the HTTP status (>0) with *out set to the JSON body
 * (new reference, or NULL when the body was not JSON), or a negative errno
 * with the message in err when no answer came.
 */
int kubecli_call(struct kubecli *c, const char *method, const char *path,
		 const char *content_type, const json_t *body, json_t **out,
		 struct sm_err *err);

/*
 * kubecli_call() that also appends the body as it came (JSON or not, e.g.
 * text/plain) to text when text is not NULL. A body over text's maximum
 * is left out (text unchanged).
 */
int kubecli_call_text(struct kubecli *c, const char *method, const char *path,
		      const char *content_type, const json_t *body,
		      json_t **out, struct sm_buf *text, struct sm_err *err);

/*
 * The message of a Kubernetes Status object (its "message"), or NULL when
 * j is not one. Borrowed from j.
 */
const char *kubecli_status_message(const json_t *j);

/*
 * An RFC 3339 UTC time ("2026-11-26T01:19:14Z", fractions allowed) as Unix
 * seconds; -EINVAL when s is not one.
 */
int kubecli_parse_time(const char *s, time_t *out);

/*
 * kubectl's age of a duration in seconds ("45s", "3m20s", "2d3h", ...),
 * written into buf (at least 16 bytes). A negative duration prints as "0s".
 */
void kubecli_human_age(int64_t seconds, char *buf, size_t size);

#endif
