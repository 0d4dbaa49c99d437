#!/usr/bin/env bash
# A StatefulSet's pod and its data through the loss of its node, against
# `stuurman server` and two joined agents on real Podman:
#   - the pod runs with its claim (a Podman named volume) and data is
#     written into it;
#   - its node's agent is SIGKILLed with its containers: the Node goes
#     Unknown, the pod is marked for deletion and stays Terminating, and
#     no replacement starts while the node is not fenced;
#   - kubectl taints the node node.kubernetes.io/out-of-service (fenced):
#     the pod comes back on the other node with its data;
#   - over the whole window Podman (sampled every 0.2 s) never ran two
#     containers of that ordinal at once.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_ID, SM_TEST_TMP (run.sh) and
# kubectl. Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=tests/integration/cluster_lib.sh
. "$(dirname "$0")/cluster_lib.sh"
cluster_require
if ! command -v kubectl >/dev/null 2>&1; then
	echo "kubectl is not installed (ci/setup installs it): skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
fi
n1=$SM_TEST_ID-a
n2=$SM_TEST_ID-b
# Claims are Podman volumes named by namespace and claim: a name of this
# run's own, so tests running at once never share one.
sts=kv-$(echo "${SM_TEST_ID#smit-}" | tr -cd 'a-z0-9-')
pod=$sts-0
volume=stuurman-pvc-default-data-$pod
sampler_pid=
on_exit() {
	stop_pid "$sampler_pid" TERM
	cluster_cleanup
	"${p[@]}" volume rm -f "$volume" >/dev/null 2>&1
}
trap on_exit EXIT

server_start
check "the server starts" server_ready
agent_start "$n1" 127.0.1.1
agent_start "$n2" 127.0.1.2
check "both nodes are Ready" eventually 20 nodes_ready "$n1" "$n2"

# Each start of the container appends its hostname to /data/starts.
cat >"$tmp/sts.yaml" <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $sts, namespace: default}
spec:
  serviceName: $sts
  replicas: 1
  selector: {matchLabels: {app: $sts}}
  template:
    metadata: {labels: {app: $sts}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: kv
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        command: [/bin/sh, -c]
        args:
        - |
          hostname >> /data/starts
          trap 'exit 0' TERM
          while :; do sleep 1 & wait; done
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
YAML
check "kubectl creates the StatefulSet" "${kc[@]}" apply -f "$tmp/sts.yaml"
runs() { # runs [NODE]: whether the pod is Running and Ready (on NODE)
	is_q "$pods" "len([p for p in running(d) if p['metadata']['name'] == '$pod' and '${1:-}' in ('', p['spec']['nodeName'])])" 1
}
check "$pod runs" eventually 60 runs
check "its claim data-$pod is there" is_q \
	"/api/v1/namespaces/default/persistentvolumeclaims/data-$pod" \
	"d['metadata']['name']" "data-$pod"

# podman exec in the running container of the ordinal.
in_pod() { # in_pod CMD...
	local id
	id=$("${p[@]}" ps -q --filter "label=stuurman.io/pod=$pod" \
		--filter label=stuurman.io/container=kv | head -1)
	[ -n "$id" ] && "${p[@]}" exec "$id" "$@"
}
token=data-$RANDOM-$RANDOM
check "data is written into its volume" in_pod sh -c "echo $token > /data/token"
check "the volume holds it" eventually 5 \
	test "$(in_pod cat /data/token 2>/dev/null)" = "$token"

# Running containers of the ordinal, every 0.2 s, into FILE.
sample() { # sample FILE
	while :; do
		"${p[@]}" ps -q --filter "label=stuurman.io/pod=$pod" \
			--filter label=stuurman.io/container=kv 2>/dev/null |
			wc -l >>"$1"
		sleep 0.2
	done
}
sample "$tmp/running.txt" &
sampler_pid=$!

victim=$(q "$pods/$pod" "d['spec']['nodeName']")
uid=$(q "$pods/$pod" "d['metadata']['uid']")
if [ "$victim" = "$n1" ]; then other=$n2; else other=$n1; fi
echo "$pod runs on $victim; losing that node"
agent_lose "$victim"
check "the lost node becomes Unknown" eventually 15 is_q \
	"/api/v1/nodes/$victim" \
	"[c['status'] for c in d['status']['conditions'] if c['type'] == 'Ready'][0]" \
	Unknown
terminating() {
	is_q "$pods/$pod" \
		"(d['metadata']['uid'], d['spec']['nodeName'], bool(d['metadata'].get('deletionTimestamp')))" \
		"('$uid', '$victim', True)"
}
check "the pod is evicted: Terminating on the lost node" eventually 15 \
	terminating
# Several times the eviction timeout: still the same pod, nowhere running.
sleep 5
check "unfenced, it stays Terminating (no replacement)" terminating
check "and no container of $pod runs" \
	test "$("${p[@]}" ps -q --filter "label=stuurman.io/pod=$pod" | wc -l)" = 0

check "kubectl fences the node" "${kc[@]}" taint nodes "$victim" \
	node.kubernetes.io/out-of-service=nodeshutdown:NoExecute
check "$pod comes back on the other node" eventually 60 runs "$other"
check "with a new uid" test "$(q "$pods/$pod" "d['metadata']['uid']")" != "$uid"
check "its data is there" eventually 5 \
	test "$(in_pod cat /data/token 2>/dev/null)" = "$token"
check "it was started twice on that volume" \
	test "$(in_pod cat /data/starts 2>/dev/null | wc -l)" = 2
sleep 2
stop_pid "$sampler_pid" TERM
sampler_pid=
high=$(sort -n "$tmp/running.txt" | tail -1)
echo "containers of $pod at once: at most $high over $(wc -l <"$tmp/running.txt") samples"
check "never two containers of $pod at once" test "${high:-9}" -le 1

cluster_cleanup
trap - EXIT
"${p[@]}" volume rm -f "$volume" >/dev/null 2>&1
check "nothing of the nodes is left in Podman" test -z "$(cluster_leftovers)"
check "its volume is removed" \
	test -z "$("${p[@]}" volume ls -q --filter "name=$volume")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
