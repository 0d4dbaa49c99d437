#!/usr/bin/env bash
# `stuurman agent` when Podman goes away and comes back: the pods keep
# serving, the agent stays up and says why in the pod's status, and once
# Podman answers again a container that dies is restarted as before.
#
# Run by run.sh with --private-storage: the service's data dir is the
# socket's folder and its store is ../storage beside it.
# Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
node=$SM_TEST_ID
service_data=$(dirname "$sock")
storage=$(dirname "$service_data")/storage
p=(podman --url "unix://$sock")
pods=$tmp/pods
data=$tmp/data
status_dir=$data/nodes/$node/pods
port=$((20000 + RANDOM % 9000))
agent_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

answers() {
	local out
	out=$(python3 -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:$1/', timeout=2).read().decode())" 2>/dev/null) || return 1
	[[ $out == *'Hello Kubernetes bootcamp!'* ]]
}

trap cleanup EXIT

mkdir -p "$pods"
cat >"$pods/web.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: gcr.io/google-samples/kubernetes-bootcamp:v1
    ports:
    - containerPort: 8080
      hostPort: $port
YAML

"$bin" agent --node "$node" --pod-manifests "$pods" --podman-socket "$sock" \
	--data "$data" --node-ip 127.0.0.1 --api-listen 127.0.0.1:0 \
	>"$tmp/agent.log" 2>&1 &
agent_pid=$!
check "serving" eventually 60 answers "$port"

check "podman stops" "$bin" podman stop --data "$service_data"
sleep 2
check "the pod serves without Podman" answers "$port"
check "the agent stays up" kill -0 "$agent_pid"
check "the status says why" eventually 10 is web \
	'"podman.sock" in s.get("message", "")' True

check "podman starts again" "$bin" podman start --data "$service_data" \
	--storage "$storage"
sleep 2
pid=$("${p[@]}" inspect -f '{{.State.Pid}}' "stuurman_${node}_default_web_web")
check "the container still runs" test -n "$pid" -a "$pid" != 0
kill -KILL "$pid" 2>/dev/null
check "a death after Podman's restart is restarted" eventually 20 is web \
	's["containerStatuses"][0]["restartCount"]' 1
check "serving again" eventually 20 answers "$port"
check "the old error is gone" eventually 10 is web '"message" in s' False

cleanup
if [ $failed -ne 0 ]; then
	echo "--- agent log (last 30 lines)" >&2
	tail -n 30 "$tmp/agent.log" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
