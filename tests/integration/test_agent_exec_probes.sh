#!/usr/bin/env bash
# `stuurman agent`: exec probes on real Podman (through Podman's exec API).
#   - an exec readiness probe (`cat /tmp/ready`) makes Ready follow a file
#     the test creates and removes with `podman exec`;
#   - an exec liveness probe that starts failing restarts the container
#     (restartCount goes up);
#   - an exec probe slower than its timeoutSeconds fails: never Ready.
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
agent_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

trap cleanup EXIT

mkdir -p "$pods"
pod() { # pod NAME PROBE_KIND PROBE_CMD TIMEOUT
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.36
    command: [sh, -c, 'rm -f /tmp/die; trap "exit 0" TERM; while true; do sleep 0.2; done']
    $2:
      exec:
        command: [sh, -c, '$3']
      periodSeconds: 1
      timeoutSeconds: $4
      failureThreshold: 1
---
YAML
}
{
	pod ready readinessProbe "cat /tmp/ready" 1
	pod live livenessProbe "test ! -f /tmp/die" 1
	pod slow readinessProbe "sleep 3" 1
} >"$pods/exec.yaml"

"$bin" --log-format json agent --node "$node" --pod-manifests "$pods" \
	--podman-socket "$sock" --data "$data" --node-ip 127.0.0.1 \
	--api-listen 127.0.0.1:0 >"$tmp/agent.log" 2>&1 &
agent_pid=$!

ready() { # ready POD: the Ready condition's status
	field "$1" '[c["status"] for c in s["conditions"] if c["type"]=="Ready"][0]'
}
cid() { # cid POD: the app container's Podman id
	field "$1" 's["containerStatuses"][0]["containerID"]' | sed 's|^podman://||'
}
ready_is() { [ "$(ready "$1" 2>/dev/null)" = "$2" ]; }

check "ready: Running" eventually 60 is ready 's["phase"]' Running
check "ready: not Ready while /tmp/ready is missing" eventually 10 \
	is ready 's["containerStatuses"][0]["ready"]' False
check "ready: condition Ready False" ready_is ready False
id=$(cid ready)
check "ready: podman exec touch" "${p[@]}" exec "$id" touch /tmp/ready
check "ready: Ready once the file is there" eventually 15 ready_is ready True
check "ready: container ready" is ready 's["containerStatuses"][0]["ready"]' True
check "ready: podman exec rm" "${p[@]}" exec "$id" rm /tmp/ready
check "ready: not Ready once it is gone" eventually 15 ready_is ready False
check "ready: no restart" is ready 's["containerStatuses"][0]["restartCount"]' 0

check "live: Running" eventually 60 is live 's["phase"]' Running
check "live: passing exec liveness: no restart" is live \
	's["containerStatuses"][0]["restartCount"]' 0
live_id=$(cid live)
check "live: podman exec touch /tmp/die" "${p[@]}" exec "$live_id" touch /tmp/die
check "live: failing exec liveness restarts it" eventually 30 is live \
	's["containerStatuses"][0]["restartCount"] >= 1' True
check "live: running again" eventually 30 is live \
	'list(s["containerStatuses"][0]["state"])[0]' running
check "live: same container, restarted in place" [ "$(cid live)" = "$live_id" ]

# By now the slow probe has had several periods: each timed out.
check "slow: Running" is slow 's["phase"]' Running
check "slow: a probe slower than timeoutSeconds never makes it Ready" \
	is slow 's["containerStatuses"][0]["ready"]' False

cleanup
if [ $failed -ne 0 ]; then
	echo "--- agent log (last 30 lines)" >&2
	tail -n 30 "$tmp/agent.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
