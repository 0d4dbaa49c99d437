/*
 * gitsource.c: see gitsource.h.
 *
 * The clone is bare (no work tree): fetch connects, lists the remote's
 * refs (to find its HEAD and to tell a deleted branch or an empty
 * repository), downloads and updates the refs/remotes/origin/ refs. The tree is
 * checked first (sizes without reading the blobs, symlinks, names) so a
 * refused revision reads nothing, then its blobs are copied from the object
 * database and loaded from memory with mf_load_memory() in the same job.
 *
 * One job at a time: a follow job (fetch, resolve, read, load) or a
 * checkout job (resolve in the clone, read, load). Checkouts wait in a
 * FIFO and go before a queued fetch; `again` asks for one more fetch.
 */
#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/xalloc.h"
#include "manifests/load.h"
#include "reconciler/gitsource.h"

#include "common/banned.h"

#define DEBOUNCE_MS 50
#define LOG "gitsource"

enum job_result {
	JOB_OK,
	JOB_FAILED,
	JOB_CORRUPT, /* the local clone is broken: clone again */
};

/* A checkout asked for and not started yet. */
struct pending {
	struct pending *next;
	char *rev;
	gitsource_checkout_cb cb;
	void *ctx;
};

struct job {
	uv_work_t work;
	struct gitsource *gs;
	/* In (copies). */
	char *url, *branch, *revision, *path, *clone_dir, *creds;
	char *old_revs; /* a folder older versions wrote, to remove, or NULL */
	struct pending *checkout; /* NULL: a follow job */
	char last_sha[GITSOURCE_SHA_LEN + 1]; /* the head delivered last */
	bool last_ok; /* no error since last_sha was delivered */
	uint64_t max_file, max_total;
	/* Out. */
	struct sm_err err;
	bool ok; /* rev resolved and read (load errors aside) */
	bool unchanged; /* the head is last_sha: nothing read or loaded */
	struct gitsource_rev rev;
	char *author_name, *author_email, *subject;
	/* The blobs under path; path and data of each owned. */
	struct mf_memfile *files;
	size_t nr_files, alloc_files;
	json_t *objects; /* new; NULL when the load has errors */
	/* Scratch for the credentials callback. */
	int cred_tries, cred_errno;
	enum {
		CRED_NONE, /* not asked, or asked and not known to fail */
		CRED_MISSING, /* asked for; no file given */
		CRED_UNREADABLE, /* the file: cred_errno */
		CRED_UNUSABLE, /* nothing of a kind the server takes */
		CRED_REFUSED, /* given and asked for again */
	} cred;
};

struct gitsource {
	uv_loop_t *loop;
	struct gitsource_opts o; /* strings owned */
	char *clone_dir, *old_revs, *watch_dir;
	uv_timer_t poll, debounce;
	uv_fs_event_t watch_heads, watch_gitdir;
	bool running, again, freed;
	bool following; /* the running job is a follow job */
	struct pending *checkouts, **checkouts_tail;
	int refs;
	char last_sha[GITSOURCE_SHA_LEN + 1];
	char *last_err; /* the text of the last errors reported, or NULL */
	int64_t last_fetch_ms;
	uint64_t fetches, loads, nr_checkouts;
};

static uv_once_t git_once = UV_ONCE_INIT;

static void git_init(void)
{
	git_libgit2_init();
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

/* FNV-1a, 64 bits: names the clone folder of a URL. */
static uint64_t url_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown error";
}

static int git_klass(void)
{
	const git_error *e = git_error_last();

	return e ? e->klass : GIT_ERROR_NONE;
}

/* Errors of the object database itself, as opposed to the network. */
static bool local_damage(int klass)
{
	return klass == GIT_ERROR_ODB || klass == GIT_ERROR_ZLIB ||
	       klass == GIT_ERROR_OBJECT || klass == GIT_ERROR_REPOSITORY ||
	       klass == GIT_ERROR_INDEXER || klass == GIT_ERROR_REFERENCE ||
	       klass == GIT_ERROR_CONFIG;
}

/*
 * The credentials file is read here, at fetch time: "user:secret" for a
 * user and password (or token), anything else is the path of an SSH key.
 * CRED_TRIES calls per connection: libgit2 calls again as long as the server
 * refuses, so a further call means the credentials were refused. What
 * went wrong is kept in the job for fetch() to say (never the secret).
 */
#define CRED_TRIES 1

static int credentials(git_credential **out, const char *url,
		       const char *user_from_url, unsigned int allowed,
		       void *payload)
{
	struct job *j = payload;
	char line[4096];
	FILE *f;
	char *colon;
	int rc = -1;

	(void)url;
	if (j->cred_tries++ >= CRED_TRIES) {
		j->cred = j->creds ? CRED_REFUSED : CRED_MISSING;
		return GIT_EAUTH;
	}
	if (!j->creds) {
		j->cred = CRED_MISSING;
		return GIT_PASSTHROUGH; /* libgit2: no credentials, an error */
	}
	f = fopen(j->creds, "re");
	if (!f) {
		j->cred = CRED_UNREADABLE;
		j->cred_errno = errno;
		return -1;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	colon = strchr(line, ':');
	if (colon && (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
		*colon = 0;
		rc = git_credential_userpass_plaintext_new(out, line,
							   colon + 1);
	} else if (!colon && line[0] && (allowed & GIT_CREDENTIAL_SSH_KEY)) {
		rc = git_credential_ssh_key_new(
			out, user_from_url ? user_from_url : "git", NULL, line,
			NULL);
	} else {
		j->cred = CRED_UNUSABLE;
	}
	explicit_bzero(line, sizeof(line));
	return rc;
}

/* Why a connection failed, in err: the credentials, or else the network. */
static void connect_error(struct job *j)
{
	const char *m = git_msg();

	switch (j->cred) {
	case CRED_UNREADABLE:
		sm_error(&j->err, NULL,
			 "%s: credentials file %s cannot be read: %s", j->url,
			 j->creds, strerror(j->cred_errno));
		return;
	case CRED_UNUSABLE:
		sm_error(&j->err, NULL,
			 "%s: authentication failed: credentials file %s holds "
			 "nothing the server accepts (\"user:secret\" for "
			 "http(s), the path of an SSH key for ssh)",
			 j->url, j->creds);
		return;
	case CRED_REFUSED:
		sm_error(
			&j->err, NULL,
			"%s: authentication failed: the credentials in %s were "
			"refused (offered %d time%s per fetch; the next "
			"fetch reads the file again)",
			j->url, j->creds, CRED_TRIES,
			CRED_TRIES == 1 ? "" : "s");
		return;
	case CRED_MISSING:
		sm_error(&j->err, NULL,
			 "%s: authentication failed: the server asks for "
			 "credentials and no credentials file was given",
			 j->url);
		return;
	case CRED_NONE:
		break;
	}
	if (strstr(m, "authentication") || strstr(m, "401") || strstr(m, "403"))
		sm_error(&j->err, NULL, "%s: authentication failed: %s", j->url,
			 m);
	else
		sm_error(&j->err, NULL, "%s: remote unreachable: %s", j->url,
			 m);
}

/*
 * The remote, in memory only: the clone's config names none. Looking one
 * up (or making one with a name) reads the config through libgit2 1.5's
 * regular expressions, whose pcre2 match data leaks about 20 KiB a call:
 * per fetch, that would grow the server without bound. url.*.insteadOf
 * rules are therefore not applied; give the real URL.
 */
static int new_remote(git_remote **out, git_repository *repo, const char *url)
{
	git_remote_create_options o = GIT_REMOTE_CREATE_OPTIONS_INIT;

	o.repository = repo;
	o.fetchspec = "+refs/heads/*:refs/remotes/origin/*";
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
		  GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(out, url, &o);
}

/* Connects, lists, downloads and updates the tips; fills *head with the
 * remote's HEAD branch ("refs/heads/x") when it has one. */
static enum job_result fetch(struct job *j, git_repository *repo, git_buf *head)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
	git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
	const git_remote_head **refs;
	size_t n;
	char *wanted = NULL;
	bool found = false;
	enum job_result r = JOB_FAILED;
	int klass;

	cb.credentials = credentials;
	cb.payload = j;
	fo.callbacks = cb;
	if (new_remote(&remote, repo, j->url) < 0) {
		sm_error(&j->err, NULL, "clone of %s: no remote: %s", j->url,
			 git_msg());
		return JOB_CORRUPT;
	}
	/* Per connection: a job that clones again after damage connects
	 * twice. */
	j->cred_tries = 0;
	j->cred = CRED_NONE;
	git_error_clear();
	if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL) <
	    0) {
		connect_error(j);
		goto out;
	}
	if (git_remote_ls(&refs, &n, remote) < 0) {
		sm_error(&j->err, NULL, "%s: listing refs: %s", j->url,
			 git_msg());
		goto out;
	}
	if (n == 0) {
		sm_error(&j->err, NULL,
			 "%s: the repository is empty (no commits)", j->url);
		goto out;
	}
	if (git_remote_default_branch(head, remote) < 0)
		git_error_clear();
	if (j->branch && !j->revision) {
		wanted = xasprintf("refs/heads/%s", j->branch);
		for (size_t i = 0; i < n; i++)
			found |= !strcmp(refs[i]->name, wanted);
		if (!found) {
			sm_error(&j->err, NULL,
				 "%s: branch \"%s\" does not exist on the "
				 "remote",
				 j->url, j->branch);
			goto out;
		}
	}
	if (git_remote_download(remote, NULL, &fo) < 0 ||
	    git_remote_update_tips(remote, &cb, 0, GIT_REMOTE_DOWNLOAD_TAGS_ALL,
				   "fetch") < 0) {
		klass = git_klass();
		sm_error(&j->err, NULL, "%s: fetch into %s failed: %s", j->url,
			 j->clone_dir, git_msg());
		if (local_damage(klass))
			r = JOB_CORRUPT;
		goto out;
	}
	if (git_remote_prune(remote, &cb) < 0)
		git_error_clear();
	r = JOB_OK;
out:
	free(wanted);
	git_remote_disconnect(remote);
	git_remote_free(remote);
	return r;
}

static enum job_result open_clone(struct job *j, git_repository **repo)
{
	git_remote *remote = NULL;
	struct stat st;

	if (stat(j->clone_dir, &st) == 0) {
		if (git_repository_open_bare(repo, j->clone_dir) == 0)
			return JOB_OK;
		sm_error(&j->err, NULL, "clone %s: cannot open: %s",
			 j->clone_dir, git_msg());
		return JOB_CORRUPT;
	}
	if (sm_mkdir_p(j->clone_dir, 0755) < 0 ||
	    git_repository_init(repo, j->clone_dir, 1) < 0 ||
	    new_remote(&remote, *repo, j->url) < 0) {
		sm_error(&j->err, NULL, "clone %s: cannot create: %s",
			 j->clone_dir, git_msg());
		git_repository_free(*repo);
		*repo = NULL;
		rm_rf(j->clone_dir);
		return JOB_FAILED;
	}
	git_remote_free(remote);
	return JOB_OK;
}

static int resolve(struct job *j, git_repository *repo, const char *head,
		   git_oid *oid)
{
	const char *prefixes[] = { "refs/remotes/origin/", "refs/tags/" };
	char *name;
	git_object *obj = NULL;
	git_reference *ref = NULL;
	int rc;

	if (!j->revision) {
		const char *b = j->branch;

		if (!b && head && !strncmp(head, "refs/heads/", 11))
			b = head + 11;
		if (!b)
			return sm_error(&j->err, NULL,
					"%s: the remote has no HEAD branch; "
					"give a branch",
					j->url);
		name = xasprintf("refs/remotes/origin/%s", b);
		rc = git_reference_name_to_id(oid, repo, name);
		free(name);
		if (rc < 0)
			return sm_error(&j->err, NULL,
					"%s: branch \"%s\" does not exist",
					j->url, b);
		return 0;
	}
	for (size_t i = 0; i < 2; i++) {
		name = xasprintf("%s%s", prefixes[i], j->revision);
		rc = git_reference_lookup(&ref, repo, name);
		free(name);
		if (rc == 0) {
			rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
			git_reference_free(ref);
			if (rc == 0)
				goto found;
		}
	}
	if (git_revparse_single(&obj, repo, j->revision) == 0) {
		git_object *c = NULL;

		rc = git_object_peel(&c, obj, GIT_OBJECT_COMMIT);
		git_object_free(obj);
		obj = c;
		if (rc == 0)
			goto found;
	}
	return sm_error(&j->err, NULL,
			"%s: revision \"%s\" is no branch, tag or commit",
			j->url, j->revision);
found:
	git_oid_cpy(oid, git_object_id(obj));
	git_object_free(obj);
	return 0;
}

/* A blob to read once the whole tree has passed its checks. */
struct blob_ref {
	char *path; /* its repository path, owned */
	git_oid id;
};

struct walk {
	struct job *j;
	git_repository *repo;
	git_odb *odb;
	uint64_t total; /* bytes of the files seen so far */
	struct blob_ref *blobs;
	size_t nr_blobs, alloc_blobs;
	bool damaged;
	int rc;
};

static bool bad_name(const char *n)
{
	return !*n || !strcmp(n, ".") || !strcmp(n, "..") || strchr(n, '/') ||
	       !strcmp(n, ".git");
}

static int walk_cb(const char *dir, const git_tree_entry *e, void *payload)
{
	struct walk *w = payload;
	struct job *j = w->j;
	const char *name = git_tree_entry_name(e);
	git_filemode_t mode = git_tree_entry_filemode(e);
	char *shown;
	int rc = 0;

	shown = xasprintf("%s%s%s%s", j->path ? j->path : "",
			  j->path ? "/" : "", dir, name);
	if (bad_name(name)) {
		rc = sm_error(&j->err, NULL, "%s: refused file name", shown);
		goto out;
	}
	switch (mode) {
	case GIT_FILEMODE_TREE:
		break;
	case GIT_FILEMODE_BLOB:
	case GIT_FILEMODE_BLOB_EXECUTABLE: {
		size_t size = 0;
		git_object_t type;

		if (git_odb_read_header(&size, &type, w->odb,
					git_tree_entry_id(e)) < 0) {
			w->damaged = true;
			rc = sm_error(&j->err, NULL, "%s: reading: %s", shown,
				      git_msg());
		} else if (size > j->max_file) {
			rc = sm_error(&j->err, NULL,
				      "%s: file of %zu bytes is over "
				      "the limit of %llu bytes",
				      shown, size,
				      (unsigned long long)j->max_file);
		} else if ((w->total += size) > j->max_total) {
			rc = sm_error(&j->err, NULL,
				      "%s: the files under \"%s\" "
				      "are over the limit of %llu "
				      "bytes in all (at %s)",
				      j->url, j->path ? j->path : "/",
				      (unsigned long long)j->max_total, shown);
		} else {
			SM_ALLOC_GROW(w->blobs, w->nr_blobs + 1,
				      w->alloc_blobs);
			w->blobs[w->nr_blobs].path = shown;
			git_oid_cpy(&w->blobs[w->nr_blobs].id,
				    git_tree_entry_id(e));
			w->nr_blobs++;
			shown = NULL; /* kept */
		}
		break;
	}
	case GIT_FILEMODE_LINK:
		rc = sm_error(&j->err, NULL,
			      "%s: symbolic links are refused in the source",
			      shown);
		break;
	default:
		break; /* submodules: left out */
	}
out:
	free(shown);
	if (rc < 0) {
		w->rc = rc;
		return -1;
	}
	return 0;
}

/* Copies the blobs the walk found into j->files, in the walk's order. */
static int read_blobs(struct job *j, struct walk *w)
{
	size_t root = j->path ? strlen(j->path) + 1 : 0;

	for (size_t i = 0; i < w->nr_blobs; i++) {
		struct blob_ref *b = &w->blobs[i];
		git_blob *blob = NULL;
		struct mf_memfile *f;
		size_t len;
		char *data;

		if (git_blob_lookup(&blob, w->repo, &b->id) < 0) {
			w->damaged = true;
			return sm_error(&j->err, NULL, "%s: reading: %s",
					b->path, git_msg());
		}
		len = (size_t)git_blob_rawsize(blob);
		data = xmalloc(len ? len : 1);
		memcpy(data, git_blob_rawcontent(blob), len);
		git_blob_free(blob);
		SM_ALLOC_GROW(j->files, j->nr_files + 1, j->alloc_files);
		f = &j->files[j->nr_files++];
		f->path = b->path;
		f->data = data;
		f->len = len;
		f->root = root;
		b->path = NULL; /* now the file's */
	}
	return 0;
}

static void free_files(struct job *j)
{
	for (size_t i = 0; i < j->nr_files; i++) {
		free((char *)j->files[i].path);
		free((char *)j->files[i].data);
	}
	free(j->files);
	j->files = NULL;
	j->nr_files = j->alloc_files = 0;
}

/*
 * The tree under path, checked as a whole first (names, symlinks, sizes
 * from the blobs' headers), so a refused revision reads no blob; then its
 * blobs, copied into j->files.
 */
static enum job_result read_tree(struct job *j, git_repository *repo,
				 git_commit *commit)
{
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *entry = NULL;
	struct walk w = { .j = j, .repo = repo };
	enum job_result r = JOB_FAILED;

	if (git_commit_tree(&tree, commit) < 0) {
		sm_error(&j->err, NULL, "commit %s: reading its tree: %s",
			 j->rev.short_sha, git_msg());
		r = local_damage(git_klass()) ? JOB_CORRUPT : JOB_FAILED;
		goto out;
	}
	if (j->path) {
		if (git_tree_entry_bypath(&entry, tree, j->path) < 0 ||
		    git_tree_entry_type(entry) != GIT_OBJECT_TREE) {
			sm_error(&j->err, NULL,
				 "%s: path \"%s\" is not a folder in commit %s",
				 j->url, j->path, j->rev.short_sha);
			goto out;
		}
		if (git_tree_lookup(&sub, repo, git_tree_entry_id(entry)) < 0) {
			sm_error(&j->err, NULL, "%s: reading: %s", j->path,
				 git_msg());
			r = JOB_CORRUPT;
			goto out;
		}
	}
	if (git_repository_odb(&w.odb, repo) < 0) {
		sm_error(&j->err, NULL, "clone %s: no object database: %s",
			 j->clone_dir, git_msg());
		r = JOB_CORRUPT;
		goto out;
	}
	if (git_tree_walk(sub ? sub : tree, GIT_TREEWALK_PRE, walk_cb, &w) <
		    0 ||
	    w.rc < 0 || read_blobs(j, &w) < 0) {
		if (!w.rc && !sm_err_failed(&j->err))
			sm_error(&j->err, NULL, "commit %s: walking: %s",
				 j->rev.short_sha, git_msg());
		free_files(j);
		r = w.damaged ? JOB_CORRUPT : JOB_FAILED;
		goto out;
	}
	r = JOB_OK;
out:
	for (size_t i = 0; i < w.nr_blobs; i++)
		free(w.blobs[i].path);
	free(w.blobs);
	git_odb_free(w.odb);
	git_tree_entry_free(entry);
	git_tree_free(sub);
	git_tree_free(tree);
	return r;
}

/* Fills j->rev (but objects) from the commit. */
static void fill_rev(struct job *j, git_commit *commit)
{
	const git_signature *a = git_commit_author(commit);
	const char *s = git_commit_summary(commit);

	git_oid_tostr(j->rev.sha, sizeof(j->rev.sha), git_commit_id(commit));
	memcpy(j->rev.short_sha, j->rev.sha, GITSOURCE_SHORT_LEN);
	j->rev.short_sha[GITSOURCE_SHORT_LEN] = 0;
	j->author_name = xstrdup(a && a->name ? a->name : "");
	j->author_email = xstrdup(a && a->email ? a->email : "");
	j->rev.time = a ? (int64_t)a->when.time : 0;
	j->subject = xstrdup(s ? s : "");
}

static enum job_result run_once(struct job *j)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_buf head = { 0 };
	git_oid oid, last;
	enum job_result r;

	r = open_clone(j, &repo);
	if (r != JOB_OK)
		return r;
	r = fetch(j, repo, &head);
	if (r != JOB_OK)
		goto out;
	r = JOB_FAILED;
	if (resolve(j, repo, head.ptr, &oid) < 0)
		goto out;
	/*
	 * The commit delivered last, with no error since: nothing to read,
	 * load or say. This is what most polls find.
	 */
	if (j->last_ok && j->last_sha[0] &&
	    git_oid_fromstr(&last, j->last_sha) == 0 &&
	    git_oid_equal(&oid, &last)) {
		memcpy(j->rev.sha, j->last_sha, sizeof(j->rev.sha));
		j->unchanged = true;
		r = JOB_OK;
		goto out;
	}
	if (git_commit_lookup(&commit, repo, &oid) < 0) {
		sm_error(&j->err, NULL, "%s: reading commit: %s", j->url,
			 git_msg());
		r = JOB_CORRUPT;
		goto out;
	}
	fill_rev(j, commit);
	if (j->last_sha[0] && strcmp(j->last_sha, j->rev.sha) &&
	    git_oid_fromstr(&last, j->last_sha) == 0) {
		int d = git_graph_descendant_of(repo, &oid, &last);

		j->rev.rewritten = d == 0;
		git_error_clear();
		if (j->rev.rewritten)
			sm_note(&j->err, NULL,
				"%s: history was rewritten: %.7s is not an "
				"ancestor of %s",
				j->url, j->last_sha, j->rev.short_sha);
	}
	r = read_tree(j, repo, commit);
out:
	git_buf_dispose(&head);
	git_commit_free(commit);
	git_repository_free(repo);
	return r;
}

static bool all_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

static const char *history_hint = "`stuurman history` lists the synced "
				  "revisions";

/*
 * A checkout's revision: a tag, then a branch (as the clone last fetched
 * it), then a sha or a prefix of one. Errors name the revision and URL.
 */
static enum job_result resolve_checkout(struct job *j, git_repository *repo,
					git_commit **commit)
{
	static const char *const prefixes[] = { "refs/tags/",
						"refs/remotes/origin/" };
	const char *want = j->checkout->rev;
	size_t len = strlen(want);
	git_object *obj = NULL, *peeled = NULL;
	git_reference *ref = NULL;
	git_oid id;
	int rc;

	for (size_t i = 0; i < SM_ARRAY_SIZE(prefixes); i++) {
		char *name = xasprintf("%s%s", prefixes[i], want);

		rc = git_reference_lookup(&ref, repo, name);
		free(name);
		if (rc < 0)
			continue;
		rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
		git_reference_free(ref);
		if (rc == 0)
			goto found;
	}
	git_error_clear();
	if (!all_hex(want) || len > GITSOURCE_SHA_LEN) {
		sm_error(&j->err, NULL,
			 "revision \"%s\" is not in the clone of %s: %s", want,
			 j->url, history_hint);
		return JOB_FAILED;
	}
	if (len < GIT_OID_MINPREFIXLEN) {
		sm_error(&j->err, NULL,
			 "revision \"%s\": a sha prefix needs at least %d hex "
			 "digits",
			 want, GIT_OID_MINPREFIXLEN);
		return JOB_FAILED;
	}
	git_oid_fromstrn(&id, want, len);
	rc = git_object_lookup_prefix(&obj, repo, &id, len, GIT_OBJECT_ANY);
	if (rc == GIT_EAMBIGUOUS) {
		sm_error(&j->err, NULL,
			 "revision \"%s\" is ambiguous in the clone of %s: "
			 "more than one object starts with it; give more "
			 "digits",
			 want, j->url);
		return JOB_FAILED;
	}
	if (rc < 0) {
		bool damaged = rc != GIT_ENOTFOUND;

		if (damaged)
			sm_error(&j->err, NULL, "%s: reading clone %s: %s",
				 j->url, j->clone_dir, git_msg());
		else
			sm_error(&j->err, NULL,
				 "revision \"%s\" is not in the clone of %s: "
				 "%s",
				 want, j->url, history_hint);
		return JOB_FAILED;
	}
	rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	if (rc < 0) {
		sm_error(&j->err, NULL,
			 "revision \"%s\" is a %s in the clone of %s, not a "
			 "commit",
			 want, git_object_type2string(git_object_type(obj)),
			 j->url);
		git_object_free(obj);
		return JOB_FAILED;
	}
	git_object_free(obj);
	obj = peeled;
found:
	*commit = (git_commit *)obj;
	return JOB_OK;
}

/* A checkout: no fetch, no new clone; the clone as it is. */
static enum job_result run_checkout(struct job *j)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	struct stat st;
	enum job_result r;

	if (stat(j->clone_dir, &st) < 0) {
		sm_error(&j->err, NULL,
			 "revision \"%s\" is not in the clone of %s: nothing "
			 "was fetched yet",
			 j->checkout->rev, j->url);
		return JOB_FAILED;
	}
	if (git_repository_open_bare(&repo, j->clone_dir) < 0) {
		sm_error(&j->err, NULL, "clone %s: cannot open: %s",
			 j->clone_dir, git_msg());
		return JOB_FAILED;
	}
	r = resolve_checkout(j, repo, &commit);
	if (r == JOB_OK) {
		fill_rev(j, commit);
		r = read_tree(j, repo, commit);
	}
	git_commit_free(commit);
	git_repository_free(repo);
	return r;
}

static int collect(void *ctx, const struct mf_object *o)
{
	return json_array_append(ctx, o->obj) ? -ENOMEM : 0;
}

/* Loads j->files: j->objects, or its errors in j->err. */
static void load_tree(struct job *j)
{
	struct mf_load_opts opts = MF_LOAD_OPTS_INIT;
	struct sm_err lerr;
	json_t *objects = json_array();
	int rc;

	opts.jobs = 1; /* one pool thread, as a folder source does */
	opts.parse.max_bytes = j->max_file;
	sm_err_init(&lerr);
	rc = mf_load_memory(j->files, j->nr_files, &opts, collect, objects,
			    NULL, &lerr);
	if (rc < 0 && !sm_err_failed(&lerr))
		sm_error(&lerr, NULL, "commit %s: loading failed: %s",
			 j->rev.short_sha, strerror(-rc));
	sm_err_move(&j->err, &lerr);
	sm_err_release(&lerr);
	if (rc < 0)
		json_decref(objects);
	else
		j->objects = objects;
}

static void clear_out(struct job *j)
{
	free(j->author_name);
	free(j->author_email);
	free(j->subject);
	free_files(j);
	json_decref(j->objects);
	j->author_name = j->author_email = j->subject = NULL;
	j->objects = NULL;
	j->unchanged = false;
	memset(&j->rev, 0, sizeof(j->rev));
}

static void job_work(uv_work_t *w)
{
	struct job *j = w->data;
	enum job_result r;

	uv_once(&git_once, git_init);
	if (j->old_revs)
		rm_rf(j->old_revs); /* best effort */
	r = j->checkout ? run_checkout(j) : run_once(j);
	if (r == JOB_CORRUPT && !j->checkout) {
		struct sm_buf why = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		for (size_t i = 0; i < j->err.nr; i++) {
			if (i)
				sm_buf_adds(&why, "; ");
			sm_diag_format(&j->err.items[i], &why);
		}
		sm_log(SM_LOG_WARN, LOG,
		       "clone %s is damaged (%s); removing it and cloning "
		       "again",
		       j->clone_dir, sm_buf_cstr(&why));
		sm_buf_release(&why);
		sm_err_release(&j->err);
		sm_err_init(&j->err);
		clear_out(j);
		rm_rf(j->clone_dir);
		j->last_ok = false; /* deliver whatever the new clone finds */
		r = run_once(j);
		j->rev.recloned = true;
		sm_note(&j->err, NULL,
			"clone %s was damaged and was made again",
			j->clone_dir);
	}
	j->ok = r == JOB_OK && !sm_err_failed(&j->err);
	if (!j->ok || j->unchanged)
		return;
	load_tree(j);
	free_files(j); /* the objects own what they need */
}

static void release(struct gitsource *gs)
{
	if (--gs->refs)
		return;
	while (gs->checkouts) {
		struct pending *p = gs->checkouts;

		gs->checkouts = p->next;
		free(p->rev);
		free(p);
	}
	free((char *)gs->o.url);
	free((char *)gs->o.branch);
	free((char *)gs->o.revision);
	free((char *)gs->o.path);
	free((char *)gs->o.data_dir);
	free((char *)gs->o.credentials_file);
	free(gs->clone_dir);
	free(gs->old_revs);
	free(gs->watch_dir);
	free(gs->last_err);
	free(gs);
}

static void kick(struct gitsource *gs);

static void on_debounce(uv_timer_t *t)
{
	(void)gitsource_fetch_now(t->data);
}

static void schedule_poll(struct gitsource *gs)
{
	uint64_t i = gs->o.interval_ms, span = i / 5;

	if (span)
		i = i - i / 10 +
		    sm_rand_below(
			    &sm_rand_system,
			    (uint32_t)(span > UINT32_MAX ? UINT32_MAX : span));
	uv_timer_start(&gs->poll, on_debounce, i, 0);
}

static void errors_text(const struct sm_err *e, struct sm_buf *text)
{
	for (size_t i = 0; i < e->nr; i++) {
		if (i)
			sm_buf_adds(text, "; ");
		sm_diag_format(&e->items[i], text);
	}
}

static void set_rev_strings(struct job *j)
{
	j->rev.author_name = j->author_name;
	j->rev.author_email = j->author_email;
	j->rev.subject = j->subject;
	j->rev.objects = j->objects;
}

static void follow_done(struct job *j, int status)
{
	struct gitsource *gs = j->gs;
	struct sm_buf text = SM_BUF_INIT(SM_BUF_UNBOUNDED);

	gs->fetches++;
	gs->last_fetch_ms =
		(int64_t)(sm_clock_realtime_ns(&sm_clock_system) / 1000000);
	if (status)
		sm_error(&j->err, NULL, "%s: fetch was cancelled", gs->o.url);
	if (j->ok && !status) {
		if (strcmp(gs->last_sha, j->rev.sha) || gs->last_err) {
			memcpy(gs->last_sha, j->rev.sha, sizeof(gs->last_sha));
			free(gs->last_err);
			gs->last_err = NULL;
			gs->loads++;
			set_rev_strings(j);
			if (j->objects)
				sm_log(SM_LOG_INFO, LOG,
				       "%s: commit %s loaded (%zu objects)",
				       gs->o.url, j->rev.short_sha,
				       json_array_size(j->objects));
			else
				sm_log(SM_LOG_WARN, LOG,
				       "%s: commit %s does not load (%zu "
				       "errors)",
				       gs->o.url, j->rev.short_sha,
				       sm_err_count(&j->err, SM_ERROR));
			gs->o.cb(gs->o.ctx, &j->rev, &j->err);
		}
	} else {
		errors_text(&j->err, &text);
		if (!gs->last_err || strcmp(gs->last_err, sm_buf_cstr(&text))) {
			free(gs->last_err);
			gs->last_err = xstrdup(sm_buf_cstr(&text));
			sm_log(SM_LOG_WARN, LOG, "%s", sm_buf_cstr(&text));
			gs->o.cb(gs->o.ctx, NULL, &j->err);
		}
	}
	sm_buf_release(&text);
}

static void checkout_done(struct job *j, int status)
{
	struct gitsource *gs = j->gs;

	gs->nr_checkouts++;
	if (status)
		sm_error(&j->err, NULL, "%s: checkout of \"%s\" was cancelled",
			 gs->o.url, j->checkout->rev);
	if (j->ok && !status) {
		gs->loads++;
		set_rev_strings(j);
		j->checkout->cb(j->checkout->ctx, &j->rev, &j->err);
	} else {
		j->checkout->cb(j->checkout->ctx, NULL, &j->err);
	}
}

static void job_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct gitsource *gs = j->gs;

	/* `running` stays set during the callbacks: what they ask waits. */
	if (!gs->freed) {
		if (j->checkout)
			checkout_done(j, status);
		else
			follow_done(j, status);
	}
	gs->running = gs->following = false;
	if (!gs->freed) {
		if (!j->checkout && !gs->again)
			schedule_poll(gs);
		kick(gs);
	}
	clear_out(j);
	sm_err_release(&j->err);
	if (j->checkout) {
		free(j->checkout->rev);
		free(j->checkout);
	}
	free(j->url);
	free(j->branch);
	free(j->revision);
	free(j->path);
	free(j->clone_dir);
	free(j->old_revs);
	free(j->creds);
	free(j);
	release(gs);
}

/* Starts the next job, if none runs: a checkout first, then a fetch. */
static void kick(struct gitsource *gs)
{
	struct job *j;

	if (gs->running || gs->freed || (!gs->checkouts && !gs->again))
		return;
	j = xcalloc(1, sizeof(*j));
	if (gs->checkouts) {
		j->checkout = gs->checkouts;
		gs->checkouts = j->checkout->next;
		if (!gs->checkouts)
			gs->checkouts_tail = &gs->checkouts;
		j->checkout->next = NULL;
	} else {
		gs->again = false;
		gs->following = true;
		uv_timer_stop(&gs->poll);
	}
	gs->running = true;
	j->gs = gs;
	j->url = xstrdup(gs->o.url);
	j->branch = dup_or_null(gs->o.branch);
	j->revision = dup_or_null(gs->o.revision);
	j->path = dup_or_null(gs->o.path);
	j->clone_dir = xstrdup(gs->clone_dir);
	j->old_revs = gs->old_revs; /* the first job only */
	gs->old_revs = NULL;
	j->creds = dup_or_null(gs->o.credentials_file);
	j->max_file = gs->o.max_file;
	j->max_total = gs->o.max_total;
	memcpy(j->last_sha, gs->last_sha, sizeof(j->last_sha));
	j->last_ok = !gs->last_err;
	sm_err_init(&j->err);
	j->work.data = j;
	gs->refs++;
	uv_queue_work(gs->loop, &j->work, job_work, job_done);
}

uint64_t gitsource_fetch_now(struct gitsource *gs)
{
	uint64_t target;

	if (!gs || gs->freed)
		return 0;
	/* A running fetch finishes first, then the one asked for here. */
	target = gs->fetches + (gs->following ? 2 : 1);
	gs->again = true;
	kick(gs);
	return target;
}

int gitsource_checkout(struct gitsource *gs, const char *rev,
		       gitsource_checkout_cb cb, void *ctx)
{
	struct pending *p;

	if (!rev || !*rev || !cb)
		return -EINVAL;
	if (!gs || gs->freed)
		return -ESHUTDOWN;
	p = xcalloc(1, sizeof(*p));
	p->rev = xstrdup(rev);
	p->cb = cb;
	p->ctx = ctx;
	*gs->checkouts_tail = p;
	gs->checkouts_tail = &p->next;
	kick(gs);
	return 0;
}

void gitsource_get_status(const struct gitsource *gs,
			  struct gitsource_status *st)
{
	memset(st, 0, sizeof(*st));
	st->last_fetch_ms = gs->last_fetch_ms;
	st->fetches = gs->fetches;
	memcpy(st->head_sha, gs->last_sha, sizeof(st->head_sha));
	st->fetching = gs->following || gs->again;
	st->loads = gs->loads;
	st->checkouts = gs->nr_checkouts;
}

static void on_ref_change(uv_fs_event_t *h, const char *name, int events,
			  int status)
{
	struct gitsource *gs = h->data;

	(void)events;
	(void)status;
	if (h == &gs->watch_gitdir &&
	    (!name || strncmp(name, "packed-refs", 11)))
		return;
	uv_timer_start(&gs->debounce, on_debounce, DEBOUNCE_MS, 0);
}

/* The git folder of a local repository URL, or NULL. */
static char *local_git_dir(const char *url)
{
	const char *p = url;
	char *dotgit;
	struct stat st;

	if (!strncmp(url, "file://", 7))
		p = url + 7;
	else if (strstr(url, "://") || url[0] != '/')
		return NULL;
	dotgit = xasprintf("%s/.git", p);
	if (stat(dotgit, &st) == 0 && S_ISDIR(st.st_mode))
		return dotgit;
	free(dotgit);
	return xstrdup(p);
}

static void start_watch(struct gitsource *gs, uv_fs_event_t *h, const char *dir)
{
	if (uv_fs_event_init(gs->loop, h) < 0)
		return;
	h->data = gs;
	gs->refs++;
	if (uv_fs_event_start(h, on_ref_change, dir, 0) < 0)
		sm_log(SM_LOG_WARN, LOG, "cannot watch %s; polling only", dir);
}

struct gitsource *gitsource_new(uv_loop_t *loop, const struct gitsource_opts *o)
{
	struct gitsource *gs = xcalloc(1, sizeof(*gs));

	SM_BUG_ON(!o->url || !o->data_dir || !o->cb);
	gs->loop = loop;
	gs->o = *o;
	gs->o.url = xstrdup(o->url);
	gs->o.branch = dup_or_null(o->branch);
	gs->o.revision = dup_or_null(o->revision);
	gs->o.data_dir = xstrdup(o->data_dir);
	gs->o.credentials_file = dup_or_null(o->credentials_file);
	/* The path without leading, trailing or doubled slashes. */
	if (o->path) {
		struct sm_buf p = SM_BUF_INIT(SM_BUF_UNBOUNDED);

		for (const char *s = o->path; *s; s++) {
			if (*s == '/' && (!p.len || s[1] == '/' || !s[1]))
				continue;
			if (*s == '.' && (s[1] == '/' || !s[1]) &&
			    (s == o->path || s[-1] == '/'))
				continue;
			sm_buf_addch(&p, *s);
		}
		gs->o.path = dup_or_null(sm_buf_cstr(&p));
		sm_buf_release(&p);
	}
	if (!gs->o.interval_ms)
		gs->o.interval_ms = GITSOURCE_DEFAULT_INTERVAL_MS;
	if (!gs->o.max_file)
		gs->o.max_file = GITSOURCE_DEFAULT_MAX_FILE;
	if (!gs->o.max_total)
		gs->o.max_total = GITSOURCE_DEFAULT_MAX_TOTAL;
	gs->checkouts_tail = &gs->checkouts;
	gs->clone_dir = xasprintf("%s/git/%016llx", o->data_dir,
				  (unsigned long long)url_hash(o->url));
	/* Older versions wrote revisions out there; now nothing does. */
	gs->old_revs = xasprintf("%s/git/rev", o->data_dir);
	gs->refs = 1; /* the poll timer */
	uv_timer_init(loop, &gs->poll);
	gs->poll.data = gs;
	uv_timer_init(loop, &gs->debounce);
	gs->debounce.data = gs;
	gs->refs++;
	gs->watch_dir = local_git_dir(o->url);
	if (gs->watch_dir) {
		char *heads = xasprintf("%s/refs/heads", gs->watch_dir);

		start_watch(gs, &gs->watch_heads, heads);
		start_watch(gs, &gs->watch_gitdir, gs->watch_dir);
		free(heads);
	}
	gs->again = true;
	kick(gs);
	return gs;
}

static void closed(uv_handle_t *h)
{
	release(h->data);
}

void gitsource_free(struct gitsource *gs)
{
	if (!gs || gs->freed)
		return;
	gs->freed = true;
	uv_close((uv_handle_t *)&gs->poll, closed);
	uv_close((uv_handle_t *)&gs->debounce, closed);
	if (gs->watch_heads.data == gs)
		uv_close((uv_handle_t *)&gs->watch_heads, closed);
	if (gs->watch_gitdir.data == gs)
		uv_close((uv_handle_t *)&gs->watch_gitdir, closed);
}
