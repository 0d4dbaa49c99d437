/*
 * images.c: the demo images' table and build contexts (see images.h).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/tar.h"
#include "common/xalloc.h"
#include "nodeagent/images/images.h"
#include "common/banned.h"

#if SM_HAVE_BOOTCAMP
extern const unsigned char sm_bootcamp_v1[];
extern const size_t sm_bootcamp_v1_len;
extern const unsigned char sm_bootcamp_v2[];
extern const size_t sm_bootcamp_v2_len;
#define BOOTCAMP(v) sm_bootcamp_v##v, &sm_bootcamp_v##v##_len
#else
#define BOOTCAMP(v) NULL, NULL
#endif

/*
 * busybox --install runs in a RUN step (the runtime does it, offline);
 * /tmp is there for scripts that expect it.
 */
#define BUSYBOX_STEPS                                                      \
	"COPY busybox /bin/busybox\n"                                      \
	"RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install " \
	"-s /bin && mkdir -p -m 1777 /tmp\"]\n"

#define BOOTCAMP_FILE(v)                                                \
	"# gcr.io/google-samples/kubernetes-bootcamp:v" v               \
	", built offline by `stuurman images`:\n"                       \
	"# stuurman's own bootcamp program and a static busybox (for "  \
	"exec).\n"                                                      \
	"FROM scratch\n" BUSYBOX_STEPS "COPY bootcamp /bootcamp\n"      \
	"LABEL io.stuurman.demo-image=\"kubernetes-bootcamp:v" v "\"\n" \
	"EXPOSE 8080\n"                                                 \
	"CMD [\"/bootcamp\"]\n"

const struct demo_image demo_images[] = {
	{
		"docker.io/library/busybox:1.36",
		"a static busybox with its applets in /bin",
		"# busybox:1.36, built offline by `stuurman images` from "
		"Debian's busybox-static.\n"
		"FROM scratch\n" BUSYBOX_STEPS
		"LABEL io.stuurman.demo-image=\"busybox\"\n"
		"CMD [\"sh\"]\n",
		NULL,
		NULL,
	},
	{
		"gcr.io/google-samples/kubernetes-bootcamp:v1",
		"the bootcamp web app, v=1, on port 8080",
		BOOTCAMP_FILE("1"),
		BOOTCAMP(1),
	},
	{
		"gcr.io/google-samples/kubernetes-bootcamp:v2",
		"the bootcamp web app, v=2, on port 8080",
		BOOTCAMP_FILE("2"),
		BOOTCAMP(2),
	},
};

const size_t demo_images_nr = sizeof(demo_images) / sizeof(demo_images[0]);

bool demo__elf_is_static(const unsigned char *data, size_t len)
{
	Elf64_Ehdr eh;

	if (len < sizeof(eh) || memcmp(data, ELFMAG, SELFMAG) ||
	    data[EI_CLASS] != ELFCLASS64)
		return false;
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return false;
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
	    (size_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return false;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return false;
	}
	return true;
}

static void add_file(struct demo_context *ctx, const char *name, char *data,
		     size_t len, unsigned mode)
{
	struct demo_file *f;

	SM_BUG_ON(ctx->nr >= sizeof(ctx->files) / sizeof(ctx->files[0]));
	f = &ctx->files[ctx->nr++];
	f->name = name;
	f->data = data;
	f->len = len;
	f->mode = mode;
}

int demo_context_load(struct demo_context *ctx, const struct demo_image *img,
		      const char *busybox_path, struct sm_err *err)
{
	struct sm_buf bb = SM_BUF_INIT(64u << 20);
	size_t len;
	char *data;
	int r;

	if (!busybox_path)
		busybox_path = DEMO_BUSYBOX_PATH;
	if (img->program_len == NULL &&
	    strstr(img->containerfile, "bootcamp")) {
		sm_error(err, NULL,
			 "image \"%s\": this stuurman was built without the "
			 "bootcamp program (sanitizer builds cannot link "
			 "static programs): use a plain build",
			 img->name);
		return -ENOTSUP;
	}
	r = sm_buf_read_file(&bb, busybox_path);
	if (r) {
		sm_buf_release(&bb);
		sm_error(err, NULL, "image \"%s\": cannot read \"%s\": %s%s",
			 img->name, busybox_path, strerror(-r),
			 r == -ENOENT ? ": install busybox-static (ci/setup "
					"does)"
				      : "");
		return r;
	}
	if (!demo__elf_is_static((const unsigned char *)sm_buf_cstr(&bb),
				 bb.len)) {
		sm_buf_release(&bb);
		sm_error(err, NULL,
			 "image \"%s\": \"%s\" is not a statically linked "
			 "program, and a FROM scratch image has no libraries: "
			 "install busybox-static",
			 img->name, busybox_path);
		return -ENOEXEC;
	}
	add_file(ctx, "Containerfile", xstrdup(img->containerfile),
		 strlen(img->containerfile), 0644);
	data = sm_buf_detach(&bb, &len);
	add_file(ctx, "busybox", data, len, 0755);
	if (img->program && img->program_len) {
		data = xmalloc(*img->program_len);
		memcpy(data, img->program, *img->program_len);
		add_file(ctx, "bootcamp", data, *img->program_len, 0755);
	}
	return 0;
}

void demo_context_release(struct demo_context *ctx)
{
	for (size_t i = 0; i < ctx->nr; i++)
		free(ctx->files[i].data);
	ctx->nr = 0;
}

int demo_context_write_dir(const struct demo_context *ctx, const char *dir,
			   struct sm_err *err)
{
	for (size_t i = 0; i < ctx->nr; i++) {
		const struct demo_file *f = &ctx->files[i];
		char *path = xasprintf("%s/%s", dir, f->name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      (mode_t)f->mode);
		size_t off = 0;
		int r = 0;

		if (fd < 0)
			r = -errno;
		while (!r && off < f->len) {
			ssize_t n = write(fd, f->data + off, f->len - off);

			if (n < 0 && errno != EINTR)
				r = -errno;
			else if (n > 0)
				off += (size_t)n;
		}
		if (fd >= 0 && close(fd) && !r)
			r = -errno;
		if (!r && chmod(path, (mode_t)f->mode))
			r = -errno;
		if (r) {
			sm_error(err, NULL, "cannot write \"%s\": %s", path,
				 strerror(-r));
			free(path);
			return r;
		}
		free(path);
	}
	return 0;
}

int demo_context_tar(const struct demo_context *ctx, struct sm_tar *t,
		     struct sm_err *err)
{
	for (size_t i = 0; i < ctx->nr; i++) {
		const struct demo_file *f = &ctx->files[i];
		int r = sm_tar_add_file(t, f->name, f->mode, f->data, f->len);

		if (r) {
			sm_error(
				err, NULL,
				"build context: cannot add \"%s\" (%zu bytes): "
				"%s",
				f->name, f->len, strerror(-r));
			return r;
		}
	}
	return 0;
}
