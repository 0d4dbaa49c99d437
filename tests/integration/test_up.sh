#!/usr/bin/env bash
# `stuurman up` with the example app on 3 nodes, against real Podman
# (run.sh starts the service, with a private store, and builds the demo
# images):
#   - up brings the server and 3 agents up and says when everything is
#     ready; kubectl (with up's kubeconfig) sees 3 Ready nodes and the
#     example pods Running, spread over more than one node;
#   - `stuurman get pods -o wide` shows each pod's node, `get nodes -o wide`
#     their node IPs;
#   - `stuurman delete pod` gets a replacement;
#   - SIGKILL of an agent and removal of its containers: up fences the node
#     (out-of-service taint) and the StatefulSet pod that ran there runs
#     on another node;
#   - Ctrl-C stops up and what it started, exit 0; `stuurman down
#     --volumes` removes every pod, container and claim volume of the
#     nodes; a second down has nothing to do;
#   - up seeded DATA/git/cluster.git with the examples on main and printed
#     its git clone line.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_TMP (run.sh).
# Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
p=(podman --url "unix://$sock")
data=$tmp/up
port=$((20000 + RANDOM % 9000))
up_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

if ! command -v kubectl >/dev/null 2>&1; then
	echo "kubectl is not installed (ci/setup installs it): skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
fi
kc=(kubectl --kubeconfig "$data/kubeconfig" --cache-dir "$tmp/kube-cache"
	--request-timeout 10s)

node_pods() { # node_pods NODE: Podman pods of that node
	"${p[@]}" pod ps -q --filter "label=stuurman.io/node=$1" 2>/dev/null
}

cleanup() {
	if [ -n "$up_pid" ]; then
		kill -TERM "$up_pid" 2>/dev/null
		wait "$up_pid" 2>/dev/null
	fi
	"$bin" down --data "$data" --volumes >/dev/null 2>&1
}
trap cleanup EXIT

"$bin" up --data "$data" --listen "127.0.0.1:$port" \
	--node-api-port $((port + 1)) --podman-socket "$sock" \
	--timeout 150 >"$tmp/up.out" 2>&1 &
up_pid=$!

is_ready() { grep -q '^stuurman up: ready in' "$tmp/up.out"; }
if ! check "up says everything is ready" eventually 170 is_ready; then
	cat "$tmp/up.out" >&2
	for f in "$data"/logs/*.log; do
		echo "--- $f" >&2
		tail -n 30 "$f" >&2
	done
fi
check "up wrote a kubeconfig of mode 0600" \
	test "$(stat -c %a "$data/kubeconfig" 2>/dev/null)" = 600
check "up says how to use it" grep -q "export KUBECONFIG=$data/kubeconfig" "$tmp/up.out"
check "up seeded DATA/git/cluster.git: the examples on main" \
	sh -c "git -C '$data/git/cluster.git' ls-tree -r --name-only main | grep -qx bootcamp-deployment.yaml"
check "up's first commit is stuurman's" \
	sh -c "git -C '$data/git/cluster.git' log -1 --format='%an <%ae> %s' main | grep -q '^stuurman <stuurman@localhost> Initial manifests from '"
check "up prints the git clone line" grep -q "^  git clone $(realpath "$data")/git/cluster.git && cd cluster\$" "$tmp/up.out"

ready_nodes() {
	"${kc[@]}" get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
		grep -c '=True$'
}
check "kubectl sees 3 Ready nodes" test "$(ready_nodes 2>/dev/null)" = 3

# pods_on: "name node phase" of every pod, not being deleted.
pods_on() {
	"${kc[@]}" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}' |
		awk 'NF == 3'
}
running() { pods_on | awk '$3 == "Running"' | wc -l; }
check "the 6 example pods are Running" test "$(running 2>/dev/null)" = 6
spread() { pods_on | awk '{print $2}' | sort -u | wc -l; }
check "the pods are spread over more than one node" \
	test "$(spread 2>/dev/null)" -gt 1

"$bin" get pods -o wide --data "$data" >"$tmp/get.out" 2>&1
check "stuurman get pods -o wide has kubectl's columns" \
	grep -Eq '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE$' "$tmp/get.out"
check "stuurman get pods -o wide shows the nodes" \
	grep -Eq '^kv-0 +1/1 +Running +[0-9]+ +[0-9a-z]+ +[0-9.]+ +node-[123]$' "$tmp/get.out"
"$bin" get nodes -o wide --data "$data" >"$tmp/nodes.out" 2>&1
check "stuurman get nodes -o wide shows the node IPs" \
	grep -Eq '^node-2 +Ready +.* 127\.0\.1\.2$' "$tmp/nodes.out"
"$bin" get deployments --data "$data" >"$tmp/deploy.out" 2>&1
check "stuurman get deployments shows 3/3" \
	grep -Eq '^kubernetes-bootcamp +3/3 +3 +3 ' "$tmp/deploy.out"

# A deleted pod is replaced.
victim=$(pods_on | awk '/^kubernetes-bootcamp-/ {print $1; exit}')
check "stuurman delete pod deletes it" \
	"$bin" delete pod "$victim" --data "$data"
replaced() {
	! pods_on | grep -q "^$victim " &&
		[ "$(pods_on | awk '/^kubernetes-bootcamp-/ && $3 == "Running"' | wc -l)" = 3 ]
}
check "a replacement of the deleted pod is Running" eventually 60 replaced
check "deleting a pod that is not there fails" \
	bash -c "! '$bin' delete pod no-such-pod --data '$data' 2>/dev/null"

# Node loss under up: the agent and its containers go; up fences the node.
kv_node=$(pods_on | awk '$1 == "kv-1" {print $2}')
agent_pid=$(python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print([n["pid"] for n in st["nodes"] if n["name"] == sys.argv[2]][0])' \
	"$data/up.json" "$kv_node" 2>/dev/null)
if [ -n "$kv_node" ] && [ -n "$agent_pid" ]; then
	kill -KILL "$agent_pid"
	ids=$(node_pods "$kv_node")
	# shellcheck disable=SC2086 # one id per word
	[ -z "$ids" ] || "${p[@]}" pod rm -f -t 0 $ids >/dev/null 2>&1
fi
check "up reports the dead agent" eventually 10 \
	grep -q "^stuurman up: $kv_node (pid $agent_pid) killed by signal 9" "$tmp/up.out"
check "up fences the lost node" eventually 30 \
	grep -q "^stuurman up: $kv_node: agent and containers gone: tainted node.kubernetes.io/out-of-service" "$tmp/up.out"
has_taint() {
	"${kc[@]}" get node "$kv_node" -o jsonpath='{.spec.taints[*].key}' |
		grep -q 'node.kubernetes.io/out-of-service'
}
check "the node carries the out-of-service taint" has_taint
kv_moved() {
	pods_on | awk -v n="$kv_node" '$1 == "kv-1" && $2 != n && $3 == "Running"' | grep -q .
}
check "its StatefulSet pod runs on another node" eventually 60 kv_moved

# Ctrl-C stops everything up started.
kill -INT "$up_pid"
rc=0
wait "$up_pid" || rc=$?
up_pid=
check "up exits 0 on Ctrl-C (exit $rc)" test "$rc" -eq 0
check "up stopped the server" grep -q '^  server stopped$' "$tmp/up.out"
server_pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_pid"])' "$data/up.json" 2>/dev/null)
check "the server process is gone" bash -c "! kill -0 '${server_pid:-0}' 2>/dev/null"
check "the containers outlive up" test -n "$(node_pods node-1)$(node_pods node-2)$(node_pods node-3)"

check "stuurman down succeeds" "$bin" down --data "$data" --volumes
left="$(node_pods node-1)$(node_pods node-2)$(node_pods node-3)"
left+=$("${p[@]}" ps -a -q --filter label=stuurman.io/node 2>/dev/null)
check "down removed every pod and container of the nodes" test -z "$left"
vols=$("${p[@]}" volume ls -q 2>/dev/null | grep '^stuurman-pvc-')
check "down --volumes removed the claims' volumes" test -z "$vols"
check "down removed up.json" test ! -e "$data/up.json"
"$bin" down --data "$data" >"$tmp/down2.out" 2>&1
check "a second down has nothing to do" grep -q 'nothing to do' "$tmp/down2.out"

trap - EXIT
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
