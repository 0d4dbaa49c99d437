#!/usr/bin/env bash
# Runs one integration test against real Podman: the wrapper meson runs for
# every test of the `integration` suite (see meson.build here).
#
# usage: tests/integration/run.sh [--private-storage] [--no-images] \
#            STUURMAN TEST [ARGS...]
#
# 1. starts stuurman's own Podman service in a temporary data dir
#    (`stuurman podman start --data DIR`), with --private-storage in an
#    image and container store of its own (for a test that must see an
#    empty store), else on the machine's store;
# 2. builds the demo images that are missing (`stuurman images`), unless
#    --no-images;
# 3. runs TEST with, in its environment:
#      SM_STUURMAN        the stuurman binary
#      SM_PODMAN_SOCKET   the service's socket (use `podman --url unix://...`)
#      SM_TEST_ID         a name unique to this run, for names and ports
#      SM_TEST_LABEL      stuurman/test=$SM_TEST_ID: put it on every
#                         container, pod and volume the test makes
#      SM_TEST_TMP        a scratch folder, removed afterwards
# 4. afterwards, also when the test failed or was interrupted, removes every
#    container, pod and volume carrying SM_TEST_LABEL, stops the service and
#    removes the data dir. Anything left over is a failure.
#
# TEST's output is passed through untouched, so cmocka's closing lines or a
# script's "N passed, N failed" line count as they are. Only when the test
# cannot run at all does this print its own count line: "0 passed, 1
# failed" (setup failed) or "0 passed, 0 failed, 1 skipped" with exit 77
# (no podman on this machine).
set -euo pipefail

private=0
images=1
while [ $# -gt 0 ]; do
	case "$1" in
	--private-storage) private=1 ;;
	--no-images) images=0 ;;
	*) break ;;
	esac
	shift
done
if [ $# -lt 2 ]; then
	echo "usage: run.sh [--private-storage] [--no-images] STUURMAN TEST [ARGS...]" >&2
	exit 2
fi
stuurman=$1
shift

say() {
	echo "integration: $*" >&2
}

if ! command -v podman >/dev/null 2>&1; then
	say "podman is not installed (ci/setup installs it): skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
fi

# Short: the socket path must fit a unix socket address.
work=$(mktemp -d /tmp/sm-it.XXXXXX)
id=smit-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')-$$
data=$work/data
export SM_STUURMAN=$stuurman
export SM_TEST_ID=$id
export SM_TEST_LABEL=stuurman/test=$id
export SM_TEST_TMP=$work/tmp
mkdir -p "$SM_TEST_TMP"
started=0

# remove_labelled: removes what the test made; prints what it removed.
remove_labelled() {
	local p=(podman --url "unix://$SM_PODMAN_SOCKET")
	local ids
	ids=$("${p[@]}" pod ps -q --filter "label=$SM_TEST_LABEL" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086 # one id per word
		"${p[@]}" pod rm -f -t 0 $ids >/dev/null 2>&1 || true
	fi
	ids=$("${p[@]}" ps -a -q --filter "label=$SM_TEST_LABEL" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		"${p[@]}" rm -f -t 0 $ids >/dev/null 2>&1 || true
	fi
	ids=$("${p[@]}" volume ls -q --filter "label=$SM_TEST_LABEL" 2>/dev/null || true)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		"${p[@]}" volume rm -f $ids >/dev/null 2>&1 || true
	fi
}

# leftovers: what still carries the label (nothing, after cleanup).
leftovers() {
	local p=(podman --url "unix://$SM_PODMAN_SOCKET")
	{
		"${p[@]}" pod ps -q --filter "label=$SM_TEST_LABEL" || echo "(pod ps failed)"
		"${p[@]}" ps -a -q --filter "label=$SM_TEST_LABEL" || echo "(ps failed)"
		"${p[@]}" volume ls -q --filter "label=$SM_TEST_LABEL" || echo "(volume ls failed)"
	} 2>/dev/null
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ $started -eq 1 ]; then
		remove_labelled
		left=$(leftovers)
		if [ -n "$left" ]; then
			say "left behind with $SM_TEST_LABEL: $(echo "$left" | tr '\n' ' ')"
			[ $rc -ne 0 ] || rc=1
		fi
		if ! "$stuurman" podman stop --data "$data" >/dev/null; then
			say "could not stop the podman service of $data"
			[ $rc -ne 0 ] || rc=1
		fi
	fi
	# A private store may hold read-only files and, after a crash, mounts.
	if [ $private -eq 1 ] && [ -d "$work/storage" ]; then
		{ grep -o " $work/storage[^ ]*" /proc/mounts || true; } | sort -r |
			while read -r m; do umount "$m" 2>/dev/null || true; done
	fi
	rm -rf "$work" 2>/dev/null || say "could not remove $work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_args=(podman start --data "$data" --env)
if [ $private -eq 1 ]; then
	start_args+=(--storage "$work/storage")
fi
if ! env_line=$("$stuurman" "${start_args[@]}"); then
	say "could not start the podman service; its log:"
	cat "$data/podman.log" >&2 || true
	echo "0 passed, 1 failed"
	exit 1
fi
started=1
eval "$env_line"
export SM_PODMAN_SOCKET
say "podman service on $SM_PODMAN_SOCKET, test id $id"

# Tests run in parallel on one image store: one build of each image at a
# time, so two tests do not build the same image twice.
if [ $images -eq 1 ] && ! flock /tmp/stuurman-images.lock \
	"$stuurman" images --podman-socket "$SM_PODMAN_SOCKET" >&2; then
	say "could not build the demo images"
	echo "0 passed, 1 failed"
	exit 1
fi

rc=0
"$@" || rc=$?
exit $rc
