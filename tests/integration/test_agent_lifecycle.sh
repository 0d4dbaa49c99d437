#!/usr/bin/env bash
# `stuurman agent`: restart policies and init containers on real Podman.
#   - Never: a container that exits 0 leaves the pod Succeeded; one that
#     exits 3 leaves it Failed (exitCode 3, reason Error, no restart);
#   - init containers run first, to completion, and share an emptyDir with
#     the app; an init container that fails under Never fails the pod;
#   - OnFailure: a failure is restarted, a success is not;
#   - Always: a container that keeps failing goes into CrashLoopBackOff.
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
pod() { # pod NAME POLICY INIT_CMD APP_CMD
	local init=""
	if [ -n "$3" ]; then
		init="  initContainers:
  - name: init
    image: busybox:1.36
    command: [sh, -c, '$3']
    volumeMounts:
    - name: work
      mountPath: /work"
	fi
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: $2
  terminationGracePeriodSeconds: 1
  volumes:
  - name: work
    emptyDir: {}
$init
  containers:
  - name: app
    image: busybox:1.36
    command: [sh, -c, '$4']
    volumeMounts:
    - name: work
      mountPath: /work
---
YAML
}
{
	pod job-ok Never "echo ready > /work/flag" "test -f /work/flag"
	pod job-fail Never "" "exit 3"
	pod init-fail Never "exit 1" "sleep 30"
	pod on-failure OnFailure "" \
		"if [ -f /work/once ]; then exit 0; fi; touch /work/once; exit 1"
	pod crash Always "" "exit 1"
} >"$pods/lifecycle.yaml"

"$bin" --log-format json agent --node "$node" --pod-manifests "$pods" \
	--podman-socket "$sock" --data "$data" --node-ip 127.0.0.1 \
	--api-listen 127.0.0.1:0 >"$tmp/agent.log" 2>&1 &
agent_pid=$!

check "init then app: Succeeded" eventually 60 is job-ok 's["phase"]' Succeeded
check "init container: Completed" is job-ok \
	's["initContainerStatuses"][0]["state"]["terminated"]["reason"]' Completed
check "init condition True" is job-ok \
	'[c["status"] for c in s["conditions"] if c["type"]=="Initialized"][0]' True
check "app after init saw the shared emptyDir: exit 0" is job-ok \
	's["containerStatuses"][0]["state"]["terminated"]["exitCode"]' 0

check "Never + exit 3: Failed" eventually 60 is job-fail 's["phase"]' Failed
check "Never + exit 3: exitCode 3" is job-fail \
	's["containerStatuses"][0]["state"]["terminated"]["exitCode"]' 3
check "Never + exit 3: reason Error" is job-fail \
	's["containerStatuses"][0]["state"]["terminated"]["reason"]' Error
check "Never: no restart" is job-fail \
	's["containerStatuses"][0]["restartCount"]' 0

check "failed init under Never: Failed" eventually 60 is init-fail \
	's["phase"]' Failed
check "failed init: the app never started" is init-fail \
	'list(s["containerStatuses"][0]["state"])[0]' waiting

check "OnFailure: Succeeded after one restart" eventually 60 is on-failure \
	's["phase"]' Succeeded
check "OnFailure: restartCount 1" is on-failure \
	's["containerStatuses"][0]["restartCount"]' 1

check "Always + exit 1: CrashLoopBackOff" eventually 60 is crash \
	's["containerStatuses"][0]["state"].get("waiting", {}).get("reason")' \
	CrashLoopBackOff
check "CrashLoopBackOff: restarts counted" eventually 30 is crash \
	's["containerStatuses"][0]["restartCount"] >= 2' True
check "CrashLoopBackOff: phase stays Running" is crash 's["phase"]' Running

cleanup
if [ $failed -ne 0 ]; then
	echo "--- agent log (last 30 lines)" >&2
	tail -n 30 "$tmp/agent.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
