/*
 * bootcamp.c: the web app of the Kubernetes bootcamp tutorial, as a small
 * static program for stuurman's offline demo images
 * (gcr.io/google-samples/kubernetes-bootcamp:v1 and :v2).
 *
 * It listens on 0.0.0.0:8080 (--port N to change it) and answers every
 * request with one line naming the host it runs on and its version:
 *
 *   Hello Kubernetes bootcamp! | Running on: <hostname> | v=1
 *
 * and logs each request as one line on stdout. SIGTERM or SIGINT stops it
 * at once with status 0: as PID 1 of a container it must handle SIGTERM
 * itself, or every stop would wait the whole grace period for SIGKILL.
 *
 * One thread and poll(): requests are tiny, so a slow client only holds a
 * slot (at most MAX_CLIENTS, each closed after CLIENT_TIMEOUT_MS), never the
 * others. BOOTCAMP_VERSION is set by the build, one binary per version.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#ifndef BOOTCAMP_VERSION
#define BOOTCAMP_VERSION 1
#endif

#define MAX_CLIENTS 64
#define REQUEST_MAX 8192
#define CLIENT_TIMEOUT_MS 10000

struct client {
	int fd;
	char addr[INET6_ADDRSTRLEN];
	size_t len;
	struct timespec since;
	char req[REQUEST_MAX];
};

static volatile sig_atomic_t stop_signal;
static struct client clients[MAX_CLIENTS];
static char hostname[256];
static unsigned long requests;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void log_time(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Answers a complete (or over-long) request and closes the connection. */
static void answer(struct client *c)
{
	char body[512], head[256], when[32], method[16] = "-", path[256] = "-";
	int blen, hlen;
	bool head_only;

	c->req[c->len < REQUEST_MAX ? c->len : REQUEST_MAX - 1] = '\0';
	if (sscanf(c->req, "%15s %255s", method, path) < 1)
		method[0] = '\0';
	head_only = !strcmp(method, "HEAD");
	blen = snprintf(body, sizeof(body),
			"Hello Kubernetes bootcamp! | Running on: %s | v=%d\n",
			hostname, BOOTCAMP_VERSION);
	hlen = snprintf(head, sizeof(head),
			"HTTP/1.1 200 OK\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: %d\r\n"
			"Connection: close\r\n\r\n",
			blen);
	send_all(c->fd, head, (size_t)hlen);
	if (!head_only)
		send_all(c->fd, body, (size_t)blen);
	requests++;
	log_time(when, sizeof(when));
	printf("%s %s %s from %s | Running on: %s | v=%d | Total Requests: "
	       "%lu\n",
	       when, method, path, c->addr, hostname, BOOTCAMP_VERSION,
	       requests);
	fflush(stdout);
	drop(c);
}

static void read_client(struct client *c)
{
	ssize_t n = recv(c->fd, c->req + c->len, REQUEST_MAX - 1 - c->len, 0);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	/* The headers end the request; a body, if any, is not read. */
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") ||
	    c->len >= REQUEST_MAX - 1)
		answer(c);
}

static void accept_client(int lfd)
{
	struct sockaddr_storage sa = { 0 };
	socklen_t salen = sizeof(sa);
	int fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	struct client *c = NULL;

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd < 0) {
			c = &clients[i];
			break;
		}
	if (!c) {
		close(fd); /* full: the client retries */
		return;
	}
	c->fd = fd;
	c->len = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->since);
	if (sa.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr,
			  c->addr, sizeof(c->addr));
	else if (sa.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr,
			  c->addr, sizeof(c->addr));
	else
		memcpy(c->addr, "?", 2);
}

static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct pollfd pfds[MAX_CLIENTS + 1];
	struct client *owner[MAX_CLIENTS + 1];
	struct sigaction sa;
	char when[32];
	long port = 8080;
	int lfd;

	if (argc == 3 && !strcmp(argv[1], "--port")) {
		char *end;

		port = strtol(argv[2], &end, 10);
		if (*end || port < 1 || port > 65535) {
			fprintf(stderr,
				"bootcamp: --port: expected 1 to 65535, "
				"got \"%s\"\n",
				argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bootcamp [--port N]\n");
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (gethostname(hostname, sizeof(hostname) - 1))
		memcpy(hostname, "unknown", 8);
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	lfd = listen_on((int)port);
	if (lfd < 0) {
		fprintf(stderr, "bootcamp: cannot listen on 0.0.0.0:%ld: %s\n",
			port, strerror(errno));
		return 1;
	}
	log_time(when, sizeof(when));
	printf("Kubernetes Bootcamp App Started At: %s | Running On: %s | "
	       "v=%d | listening on 0.0.0.0:%ld\n",
	       when, hostname, BOOTCAMP_VERSION, port);
	fflush(stdout);

	while (!stop_signal) {
		nfds_t n = 0;

		pfds[n].fd = lfd;
		pfds[n].events = POLLIN;
		owner[n++] = NULL;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			if (ms_since(&clients[i].since) > CLIENT_TIMEOUT_MS) {
				drop(&clients[i]);
				continue;
			}
			pfds[n].fd = clients[i].fd;
			pfds[n].events = POLLIN;
			owner[n++] = &clients[i];
		}
		if (poll(pfds, n, 1000) <= 0)
			continue;
		for (nfds_t i = 0; i < n; i++) {
			if (!pfds[i].revents)
				continue;
			if (owner[i])
				read_client(owner[i]);
			else
				accept_client(lfd);
		}
	}
	log_time(when, sizeof(when));
	printf("%s stopping on signal %d\n", when, (int)stop_signal);
	fflush(stdout);
	return 0;
}
