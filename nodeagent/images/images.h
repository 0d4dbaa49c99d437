/*
 * images.h: stuurman's demo images, built offline.
 *
 * No registry can be reached on the machines stuurman runs on, so the
 * images its examples and lessons use are built locally, FROM scratch, and
 * carry the names people know:
 *
 *   docker.io/library/busybox:1.36                  busybox-static's busybox
 *   gcr.io/google-samples/kubernetes-bootcamp:v1    bootcamp.c, v=1 (+ busybox)
 *   gcr.io/google-samples/kubernetes-bootcamp:v2    bootcamp.c, v=2 (+ busybox)
 *
 * A build context is a Containerfile plus the files it copies: busybox is
 * read from the machine (/bin/busybox, which must be statically linked),
 * the bootcamp programs are compiled into stuurman itself (plain builds
 * only: a sanitizer build cannot link static programs).
 *
 * Ownership: the table is static. A struct demo_context owns its buffers;
 * release it with demo_context_release().
 */
#ifndef SM_NODEAGENT_IMAGES_H
#define SM_NODEAGENT_IMAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct demo_image {
	const char *name; /* full reference, with registry and tag */
	const char *summary;
	const char *containerfile; /* its text */
	/* The bootcamp program it carries, or NULL. */
	const unsigned char *program;
	const size_t *program_len;
};

extern const struct demo_image demo_images[];
extern const size_t demo_images_nr;

/* Where busybox comes from (Debian's busybox-static). */
#define DEMO_BUSYBOX_PATH "/bin/busybox"

struct demo_file {
	const char *name; /* path inside the context */
	char *data; /* owned */
	size_t len;
	unsigned mode;
};

struct demo_context {
	struct demo_file files[4];
	size_t nr;
};

#define DEMO_CONTEXT_INIT                   \
	{                                   \
		{ { NULL, NULL, 0, 0 } }, 0 \
	}

/*
 * Fills ctx with img's build context: "Containerfile" and the files it
 * copies. busybox_path: NULL for DEMO_BUSYBOX_PATH. Fails (-ENOENT,
 * -ENOEXEC, ...) with a message naming the file and the fix.
 */
int demo_context_load(struct demo_context *ctx, const struct demo_image *img,
		      const char *busybox_path, struct sm_err *err);
void demo_context_release(struct demo_context *ctx);

/* Writes the context's files into dir, which must exist. */
int demo_context_write_dir(const struct demo_context *ctx, const char *dir,
			   struct sm_err *err);

struct sm_tar;
/*
 * Adds the context's files to a tar archive (common/tar.h), the form
 * Podman's build endpoint takes. Returns 0, or the archive's error with a
 * message in err.
 */
int demo_context_tar(const struct demo_context *ctx, struct sm_tar *t,
		     struct sm_err *err);

/*
 * Whether an ELF file's bytes are a statically linked executable (no
 * PT_INTERP program header). Exposed for tests.
 */
bool demo__elf_is_static(const unsigned char *data, size_t len);

#endif
