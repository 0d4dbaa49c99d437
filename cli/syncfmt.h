/*
 * syncfmt.h: the text of the GitOps commands (`stuurman sync status`,
 * `sync`, `history`, `rollback`) made from the JSON the server's
 * /stuurman/... endpoints answer (see the issue 5 contract), and the
 * messages of their failures.
 *
 * Pure functions: JSON in, text out, with the current time and the width
 * given by the caller, so that tests can hold them to exact text. Times
 * are printed in the local time zone (localtime_r(), so $TZ decides).
 * Fields that are missing or of the wrong type print as "-" or are left
 * out; nothing here fails on a server that answers more, or less, than
 * the contract says.
 *
 * Ownership: every json_t is borrowed; text is appended to a caller-owned
 * struct sm_buf.
 */
#ifndef SM_CLI_SYNCFMT_H
#define SM_CLI_SYNCFMT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct sm_buf;

/*
 * Appends the report of `stuurman sync status` for st, the body of
 * GET /stuurman/sync: aligned "Label: value" lines (source, revision, head
 * when it differs, sync, health, pin, self-heal, auto-rollback, last
 * fetch with its age at now), then the last error (every line), the
 * warnings, and tables of the out-of-sync and degraded objects. Returns
 * 0, or -EINVAL when st is not a JSON object (nothing appended).
 */
int syncfmt_status(const json_t *st, time_t now, struct sm_buf *out);

/*
 * Appends the table of `stuurman history` for h, the body of
 * GET /stuurman/history: REVISION, SEEN (age at now), RESULT, CHANGES
 * (+created ~configured -pruned), HEALTHY AFTER, SUBJECT. When width is
 * not 0 the subject is cut (with "...") so that lines fit in width
 * columns. No items: "No syncs yet.\n". Returns 0, or -EINVAL when h has
 * no "items" array (nothing appended).
 */
int syncfmt_history(const json_t *h, time_t now, size_t width,
		    struct sm_buf *out);

/*
 * Appends what `stuurman rollback REV` did, from the status body st the
 * server answered: the pinned revision, and that it stays until the next
 * new commit. asked is the REV the user gave.
 */
void syncfmt_rollback(const json_t *st, const char *asked, struct sm_buf *out);

/*
 * Appends the message of a failed call of cmd ("sync status", ...) to
 * METHOD url: status is the HTTP status, or <= 0 when no answer came (then
 * transport says why, may be NULL); body is the JSON answer or NULL. The
 * message names the endpoint and says what to do: start `stuurman up`,
 * pass --data/--kubeconfig, start the server with --repo, ... A Status
 * object's message is printed as the server wrote it, every line.
 */
void syncfmt_error(const char *cmd, const char *method, const char *url,
		   int status, const json_t *body, const char *transport,
		   struct sm_buf *out);

/*
 * "1.2s" below a minute, kubectl's ages ("3m20s") above, for a duration in
 * milliseconds; into buf (at least 16 bytes).
 */
void syncfmt_duration(long long ms, char *buf, size_t size);

#endif
