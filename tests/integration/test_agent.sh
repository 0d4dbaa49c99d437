#!/usr/bin/env bash
# `stuurman agent` with static pods, against real Podman (run.sh starts the
# service, on an image store of its own, and builds the demo images):
#   - a pod serves HTTP on its hostPort on 127.0.0.1, and its status file
#     says Running and Ready;
#   - its Secret volume files are not world-readable;
#   - killed with SIGKILL, its container is back, restartCount 1;
#   - a failing readiness probe keeps a pod not Ready; a failing liveness
#     probe restarts its container;
#   - a missing image gives the waiting reason ErrImageNeverPull;
#   - a restarted agent adopts its pods: same container ID, no restart;
#   - the node API serves /healthz, /pods and the container's log (tail,
#     follow), as a kubelet's;
#   - a manifest removed from the folder removes its pod;
#   - nothing of the test is left afterwards.
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
port=$((20000 + RANDOM % 9000))
api_port=$((port + 1))
agent_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

http_get() { # http_get PORT: prints the answer of 127.0.0.1:PORT
	python3 - "$1" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2).read().decode())
PY
}

answers() {
	local out
	out=$(http_get "$1" 2>/dev/null) || return 1
	[[ $out == *'Hello Kubernetes bootcamp!'* ]]
}

# field POD EXPR: evaluates a Python expression on the pod's status file
# (bound to s), prints it.

start_agent() {
	"$bin" --log-format json agent --node "$node" --pod-manifests "$pods" \
		--podman-socket "$sock" --data "$data" --node-ip 127.0.0.1 \
		--api-listen "127.0.0.1:$api_port" >>"$tmp/agent.log" 2>&1 &
	agent_pid=$!
}

trap cleanup EXIT

mkdir -p "$pods"
cat >"$pods/web.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
stringData:
  password: s3cret
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  GREETING: hallo
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: creds
    secret:
      secretName: web-secret
      defaultMode: 0644
  containers:
  - name: web
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    imagePullPolicy: IfNotPresent
    ports:
    - containerPort: 8080
      hostPort: $port
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef:
          name: web-config
          key: GREETING
    readinessProbe:
      httpGet:
        port: 8080
      periodSeconds: 1
    volumeMounts:
    - name: creds
      mountPath: /etc/creds
YAML

start_agent
check "the pod answers on its hostPort" eventually 60 answers "$port"
check "status: Running" eventually 10 is web 's["phase"]' Running
check "status: Ready" eventually 10 is web \
	'[c["status"] for c in s["conditions"] if c["type"]=="Ready"][0]' True
check "status: podIP set" eventually 5 is web '"podIP" in s' True
check "status: container running" is web \
	'list(s["containerStatuses"][0]["state"])[0]' running

# Secret files are not world-readable, whatever the defaultMode says.
secret_file=$(find "$data/nodes/$node/volumes" -path '*/creds/password' | head -n 1)
check "secret file written" test -n "$secret_file"
check "secret file mode 640" test "$(stat -c %a "$secret_file" 2>/dev/null)" = 640
check "secret file content" test "$(cat "$secret_file" 2>/dev/null)" = s3cret

# The node's own API, as a kubelet's.
api_get() { # api_get PATH [SECONDS]: prints the answer (streams until SECONDS)
	python3 - "http://127.0.0.1:$api_port$1" "${2:-3}" <<'PY'
import socket, sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as r:
        # A followed log never ends: read until the deadline.
        while time.monotonic() < deadline:
            r.fp.raw._sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = r.read1(65536)
            if not chunk:
                break
            sys.stdout.write(chunk.decode())
            sys.stdout.flush()
except (socket.timeout, TimeoutError):
    pass
PY
}
check "API: healthz" test "$(api_get /healthz)" = ok
check "API: /pods lists web" bash -c "$(declare -f api_get); api_port=$api_port; api_get /pods | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[\"kind\"] == \"PodList\"
assert [p[\"metadata\"][\"name\"] for p in d[\"items\"]] == [\"web\"]
assert d[\"items\"][0][\"status\"][\"phase\"] == \"Running\"'"
http_get "$port" >/dev/null 2>&1
logs=$(api_get "/containerLogs/default/web/web?tailLines=50")
check "API: logs hold the start line" grep -q "Kubernetes Bootcamp App Started" <<<"$logs"
check "API: logs hold the request" grep -q "Running on: web" <<<"$logs"
check "API: tailLines=1 gives one line" test "$(api_get "/containerLogs/default/web/web?tailLines=1" | wc -l)" = 1
# follow: a request made while following shows up in the stream.
api_get "/containerLogs/default/web/web?follow=true&tailLines=0" 4 >"$tmp/follow" &
follow_pid=$!
sleep 1
http_get "$port" >/dev/null 2>&1
wait "$follow_pid"
check "API: follow streams new lines" grep -q "Running on: web" "$tmp/follow"
check "API: unknown container is a 404" bash -c "! curl -sf http://127.0.0.1:$api_port/containerLogs/default/web/nope 2>/dev/null && python3 -c '
import urllib.request, urllib.error
try:
    urllib.request.urlopen(\"http://127.0.0.1:$api_port/containerLogs/default/web/nope\", timeout=2)
    raise SystemExit(1)
except urllib.error.HTTPError as e:
    raise SystemExit(0 if e.code == 404 else 1)'"

ctr=stuurman_${node}_default_web_web
id1=$("${p[@]}" inspect -f '{{.Id}}' "$ctr" 2>/dev/null)
check "container has its name" test -n "$id1"

# SIGKILL the main process: back, with restartCount 1.
"${p[@]}" kill -s KILL "$ctr" >/dev/null 2>&1
check "restartCount 1 after SIGKILL" eventually 20 is web \
	's["containerStatuses"][0]["restartCount"]' 1
check "answers again after SIGKILL" eventually 20 answers "$port"
check "lastState: terminated with 137" eventually 5 is web \
	's["containerStatuses"][0]["lastState"]["terminated"]["exitCode"]' 137

# Readiness failing: not Ready. Liveness failing: restarted.
cat >"$pods/probes.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: unready
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    readinessProbe:
      tcpSocket:
        port: 9999
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: unlive
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    livenessProbe:
      httpGet:
        port: 9999
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata:
  name: noimage
spec:
  containers:
  - name: app
    image: localhost/stuurman-no-such-image:1
    imagePullPolicy: Never
YAML
check "failing readiness: Running" eventually 30 is unready 's["phase"]' Running
sleep 3
check "failing readiness: not Ready" is unready \
	'[c["status"] for c in s["conditions"] if c["type"]=="Ready"][0]' False
check "failing liveness: restarted" eventually 30 is unlive \
	's["containerStatuses"][0]["restartCount"] >= 1' True
check "missing image: ErrImageNeverPull" eventually 20 is noimage \
	's["containerStatuses"][0]["state"]["waiting"]["reason"]' ErrImageNeverPull
check "missing image: the message says how to build it" eventually 5 is noimage \
	'"podman build" in s["containerStatuses"][0]["state"]["waiting"]["message"]' True

# An agent that restarts adopts what runs.
stop_agent
check "pods keep running without the agent" answers "$port"
id2=$("${p[@]}" inspect -f '{{.Id}}' "$ctr" 2>/dev/null)
start_agent
sleep 4
id3=$("${p[@]}" inspect -f '{{.Id}}' "$ctr" 2>/dev/null)
check "adopted: same container ID" test -n "$id3" -a "$id2" = "$id3"
check "adopted: still answering" answers "$port"
check "adopted: Ready again" eventually 10 is web \
	'[c["status"] for c in s["conditions"] if c["type"]=="Ready"][0]' True

# A manifest that goes takes its pod along.
rm "$pods/probes.yaml"
check "removed manifest: pod gone" eventually 30 bash -c \
	"! ${p[*]} pod exists stuurman_${node}_default_unready"
check "removed manifest: status file gone" eventually 10 \
	test ! -e "$status_dir/default_unready.json"

stop_agent
cleanup
left=$("${p[@]}" ps -a -q --filter "label=stuurman.io/node=$node" 2>/dev/null)
check "nothing left behind" test -z "$left"
if [ $failed -ne 0 ]; then
	echo "--- agent log (last 40 lines)" >&2
	tail -n 40 "$tmp/agent.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
