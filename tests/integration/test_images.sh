#!/usr/bin/env bash
# `stuurman images` against real Podman, on an empty image store of its own
# (run.sh --private-storage --no-images): the first run builds the three
# demo images, a second builds nothing, the short name busybox:1.36 finds
# the local image, and the bootcamp:v1 image answers HTTP on a port
# published on 127.0.0.1 and stops by itself on SIGTERM.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_LABEL, SM_TEST_TMP (run.sh
# sets them). Ends with "N passed, N failed"; exits 1 on any failure.
set -euo pipefail

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
p=(podman --url "unix://$sock")
passed=0
failed=0

# check NAME COMMAND...: the command must succeed.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $name" >&2
	fi
}

# status NAME WANT CMD...: the command must exit with WANT; its output is
# in $tmp/out and $tmp/err.
status() {
	local name=$1 want=$2 got=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" || got=$?
	check "$name (exit $got, want $want)" test "$got" -eq "$want"
	if [ "$got" -ne "$want" ]; then
		cat "$tmp/out" "$tmp/err" >&2
	fi
}

names=(docker.io/library/busybox:1.36
	gcr.io/google-samples/kubernetes-bootcamp:v1
	gcr.io/google-samples/kubernetes-bootcamp:v2)

for n in "${names[@]}"; do
	check "$n is not there before" bash -c "! ${p[*]} image exists $n"
done

status "first images run" 0 "$bin" images --podman-socket "$sock"
cat "$tmp/out"
for n in "${names[@]}"; do
	check "first run built $n" grep -q "^built $n " "$tmp/out"
	check "$n exists" "${p[@]}" image exists "$n"
done
check "first run counts 3 built" grep -qx 'images: 3 built, 0 present, 0 failed' "$tmp/out"

status "second images run" 0 "$bin" images --podman-socket "$sock"
cat "$tmp/out"
check "second run builds nothing" bash -c "! grep -q '^built ' '$tmp/out'"
check "second run counts 3 present" grep -qx 'images: 0 built, 3 present, 0 failed' "$tmp/out"

check "short name busybox:1.36 is the local image" "${p[@]}" image exists busybox:1.36
status "busybox:1.36 runs a shell offline" 0 "${p[@]}" run --rm --network none \
	--label "$SM_TEST_LABEL" busybox:1.36 sh -c 'echo hello from busybox'
check "busybox said hello" grep -qx 'hello from busybox' "$tmp/out"

# bootcamp:v1 in the foreground (its exit status is the container's), on a
# port Podman picks on 127.0.0.1.
name=$SM_TEST_ID-bootcamp
"${p[@]}" run --rm --name "$name" --label "$SM_TEST_LABEL" \
	-p 127.0.0.1::8080 gcr.io/google-samples/kubernetes-bootcamp:v1 \
	>"$tmp/bootcamp.out" 2>"$tmp/bootcamp.err" &
job=$!

port=
for _ in $(seq 100); do
	port=$("${p[@]}" port "$name" 8080/tcp 2>/dev/null | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -1) || true
	[ -n "$port" ] && break
	sleep 0.1
done
check "bootcamp is published on 127.0.0.1" test -n "$port"

answer=
if [ -n "$port" ]; then
	for _ in $(seq 50); do
		answer=$(curl -s --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null) && [ -n "$answer" ] && break
		sleep 0.1
	done
fi
host=$("${p[@]}" inspect --format '{{.Config.Hostname}}' "$name" 2>/dev/null || echo '?')
check "bootcamp answers the v1 line with its hostname" \
	test "$answer" = "Hello Kubernetes bootcamp! | Running on: $host | v=1"

# Stop with a 1 s grace period: only a container that exits on SIGTERM by
# itself ends with status 0; SIGKILL after the grace would give 137.
"${p[@]}" stop -t 1 "$name" >/dev/null 2>&1 || true
rc=0
wait "$job" || rc=$?
check "bootcamp exits 0 on SIGTERM within the 1 s grace (got $rc)" test "$rc" -eq 0
check "bootcamp logged the request" grep -q ' GET / from ' "$tmp/bootcamp.out"
check "bootcamp logged the signal" grep -q 'stopping on signal 15' "$tmp/bootcamp.out"
check "--rm removed the container" bash -c "! ${p[*]} container exists $name"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
