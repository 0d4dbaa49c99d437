#!/usr/bin/env bash
# `stuurman agent --registry-insecure` against a real registry: Debian's
# docker-registry on 127.0.0.1 (a free port, storage in SM_TEST_TMP), with
# Podman from run.sh on an image store of its own:
#   - the bootcamp image pushed there and removed locally is pulled by the
#     agent for a pod with imagePullPolicy IfNotPresent, which then serves
#     HTTP on its hostPort (and the registry saw the manifest asked for);
#   - a pod with imagePullPolicy Always on that registry asks it again and
#     runs;
#   - an image the registry does not have gives ErrImagePull, then
#     ImagePullBackOff, with Podman's error in the message;
#   - an image of a registry the agent was not given is not pulled
#     (ImagePullBackOff, with how to build or push it);
#   - the registry is stopped (by its PID) and the agent's pods removed,
#     also when a check failed.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_ID, SM_TEST_TMP (run.sh).
# Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
node=$SM_TEST_ID
p=(podman --url "unix://$sock")
pods=$tmp/pods
data=$tmp/data
status_dir=$data/nodes/$node/pods
registry_bin=/usr/bin/docker-registry
local_image=gcr.io/google-samples/kubernetes-bootcamp:v1
agent_pid=
registry_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

quietly() { "$@" >/dev/null; }

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

http_get() { # http_get PORT [PATH]: prints the answer of 127.0.0.1:PORT
	python3 - "$1" "${2:-/}" <<'PY'
import sys, urllib.request
url = "http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2])
print(urllib.request.urlopen(url, timeout=2).read().decode())
PY
}

answers() {
	local out
	out=$(http_get "$1" 2>/dev/null) || return 1
	[[ $out == *'Hello Kubernetes bootcamp!'* ]]
}

# field POD EXPR: evaluates a Python expression on the pod's status file
# (bound to s), prints it.

# pull_failed POD: its container waits because a pull failed.
pull_failed() {
	local r
	r=$(field "$1" 's["containerStatuses"][0]["state"]["waiting"]["reason"]' \
		2>/dev/null)
	[ "$r" = ErrImagePull ] || [ "$r" = ImagePullBackOff ]
}

# manifest_asked REPO TAG: the registry's access log has a request for it.
manifest_asked() {
	grep -q "/v2/$1/manifests/$2" "$tmp/registry.log"
}

stop_registry() {
	if [ -n "$registry_pid" ]; then
		kill -TERM "$registry_pid" 2>/dev/null
		wait "$registry_pid" 2>/dev/null
		registry_pid=
	fi
}

cleanup() {
	stop_agent
	stop_registry
	remove_node_pods
}
trap cleanup EXIT

if [ ! -x "$registry_bin" ]; then
	echo "docker-registry is not installed (ci/setup installs it)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# The registry, on loopback only, its storage in the test's folder.
rport=$(free_port)
registry=127.0.0.1:$rport
mkdir -p "$tmp/registry"
cat >"$tmp/registry.yml" <<YAML
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: $registry
YAML
"$registry_bin" serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
registry_pid_was=$registry_pid
check "the registry answers on $registry" eventually 20 http_get "$rport" /v2/

# Push the bootcamp image there, then remove it locally: its registry tag
# and, as this store is the test's own, the image itself, so that only a
# pull brings it back.
image=$registry/demo/bootcamp:v1
missing=$registry/demo/no-such-image:v1
"${p[@]}" tag "$local_image" "$image" >/dev/null
check "push to the registry" "${p[@]}" push --quiet --tls-verify=false \
	"$image"
check "local tag removed" quietly "${p[@]}" rmi "$image"
"${p[@]}" rmi "$local_image" >/dev/null 2>&1
check "the image is not local any more" \
	bash -c "! ${p[*]} image exists $image && ! ${p[*]} image exists $local_image"

port=$(free_port)
port2=$(free_port)
mkdir -p "$pods"
cat >"$pods/pulled.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: pulled
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: $image
    imagePullPolicy: IfNotPresent
    ports:
    - containerPort: 8080
      hostPort: $port
YAML

"$bin" --log-format json agent --node "$node" --pod-manifests "$pods" \
	--podman-socket "$sock" --data "$data" --node-ip 127.0.0.1 \
	--registry-insecure "$registry" --api-listen 127.0.0.1:0 \
	>>"$tmp/agent.log" 2>&1 &
agent_pid=$!

check "pulled: the pod answers on its hostPort" eventually 60 answers "$port"
check "pulled: the image is local now" "${p[@]}" image exists "$image"
check "pulled: the registry was asked for it" \
	manifest_asked demo/bootcamp v1
check "pulled: its layers came from the registry" test \
	"$(grep -c '"GET /v2/demo/bootcamp/blobs/' "$tmp/registry.log")" -ge 2
check "pulled: the agent logged the pull" grep -q "Successfully pulled image .*$image" \
	"$tmp/agent.log"
check "pulled: status Running" eventually 10 is pulled 's["phase"]' Running

# Always: the registry is asked again at creation, and the pod runs.
asked=$(grep -c "/v2/demo/bootcamp/manifests/v1" "$tmp/registry.log")
cat >"$pods/always.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: always
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: $image
    imagePullPolicy: Always
    ports:
    - containerPort: 8080
      hostPort: $port2
YAML
check "always: the pod answers on its hostPort" eventually 60 answers "$port2"
check "always: the registry was asked again" test \
	"$(grep -c "/v2/demo/bootcamp/manifests/v1" "$tmp/registry.log")" -gt "$asked"

# An image the registry does not have: ErrImagePull, then ImagePullBackOff.
cat >"$pods/missing.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: missing
spec:
  containers:
  - name: app
    image: $missing
    imagePullPolicy: IfNotPresent
YAML
check "missing: ErrImagePull or ImagePullBackOff" eventually 30 \
	pull_failed missing
check "missing: the first failure was ErrImagePull" eventually 10 grep -qF \
	"failed to pull image \\\"$missing\\\"" "$tmp/agent.log"
check "missing: then ImagePullBackOff" eventually 20 is missing \
	's["containerStatuses"][0]["state"]["waiting"]["reason"]' ImagePullBackOff
check "missing: Podman's error is in the message" is missing \
	'"manifest unknown" in s["containerStatuses"][0]["state"]["waiting"]["message"]' True
check "missing: the registry was asked for it" \
	manifest_asked demo/no-such-image v1
check "missing: the pod is Pending" is missing 's["phase"]' Pending

# An image on a registry the agent was not given is never pulled: as
# before, it must be on this machine, and the message says how.
other=127.0.0.1:$(free_port)/demo/bootcamp:v1
cat >"$pods/other.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: other
spec:
  containers:
  - name: app
    image: $other
    imagePullPolicy: IfNotPresent
YAML
check "other registry: ImagePullBackOff" eventually 20 is other \
	's["containerStatuses"][0]["state"]["waiting"]["reason"]' ImagePullBackOff
check "other registry: the message says how to build or push it" is other \
	'"podman build" in s["containerStatuses"][0]["state"]["waiting"]["message"] and "--registry-insecure" in s["containerStatuses"][0]["state"]["waiting"]["message"]' True
check "other registry: never pulled" bash -c \
	"! grep -q 'Pulling image .*$other' '$tmp/agent.log'"

stop_agent
stop_registry
cleanup
left=$("${p[@]}" ps -a -q --filter "label=stuurman.io/node=$node" 2>/dev/null)
check "nothing left behind" test -z "$left"
check "the registry is stopped" bash -c "! kill -0 $registry_pid_was 2>/dev/null"
check "the registry answers no more" eval "! http_get $rport /v2/ >/dev/null 2>&1"
if [ $failed -ne 0 ]; then
	echo "--- agent log (last 40 lines)" >&2
	tail -n 40 "$tmp/agent.log" >&2
	echo "--- registry log (last 20 lines)" >&2
	tail -n 20 "$tmp/registry.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
