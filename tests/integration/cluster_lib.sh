# shellcheck shell=bash
# Helpers for tests that run `stuurman server` with agents joined to it;
# sourced, not run, after agent_lib.sh (check, eventually). Needs
# SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_ID and SM_TEST_TMP (run.sh).
#
# It sets: bin, sock, tmp, p (podman against the test's service), port
# (random), api (the server's URL), srv (its data dir), kc (kubectl with a
# kubeconfig for the server and a cache dir under tmp), pods (the path of
# the default namespace's pods). A test calls cluster_cleanup from its
# EXIT trap: it stops every agent and the server and removes the Podman
# pods of every node started here, also when the test failed.

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
p=(podman --url "unix://$sock")
port=$((20000 + RANDOM % 9000))
api=https://127.0.0.1:$port
srv=$tmp/server
# shellcheck disable=SC2034 # used by the tests that source this
pods=/api/v1/namespaces/default/pods
# shellcheck disable=SC2034
kc=(kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/kube-cache")
server_pid=
declare -A agent_pids=() # node -> pid, empty when stopped
declare -A agent_ips=()  # node -> node IP

# cluster_require: exits 77 (skipped) when this stuurman has no server.
cluster_require() {
	if ! "$bin" server --help >/dev/null 2>&1; then
		echo "this stuurman has no server command: skipped"
		echo "0 passed, 0 failed, 1 skipped"
		exit 77
	fi
}

stop_pid() { # stop_pid PID SIGNAL
	if [ -n "$1" ]; then
		kill "-$2" "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
}

# server_start [ARGS...]: starts the server on srv (again after a stop).
# shellcheck disable=SC2120 # ARGS are optional
server_start() {
	"$bin" server --data "$srv" --listen "127.0.0.1:$port" "$@" \
		>>"$tmp/server.log" 2>&1 &
	server_pid=$!
}

server_stop() { # server_stop SIGNAL
	stop_pid "$server_pid" "$1"
	server_pid=
}

# server_ready: waits for the server's credentials and its answer, then
# writes the kubeconfig.
server_ready() {
	eventually 10 test -s "$srv/pki/node-token" &&
		eventually 10 q /version "d['major']" &&
		write_kubeconfig
}

# agent_start NODE IP: starts (or restarts) the agent of NODE, with the
# test's agent_args (e.g. --cluster-dns) after the usual ones.
agent_args=()
agent_start() {
	agent_ips[$1]=$2
	"$bin" agent --node "$1" --server "$api" \
		--token-file "$srv/pki/node-token" --ca-file "$srv/pki/ca.crt" \
		--node-ip "$2" --api-listen "$2:$((port + 1))" \
		--podman-socket "$sock" --data "$tmp/agent-$1" \
		"${agent_args[@]}" >>"$tmp/agent-$1.log" 2>&1 &
	agent_pids[$1]=$!
}

agent_stop() { # agent_stop NODE SIGNAL
	stop_pid "${agent_pids[$1]:-}" "$2"
	agent_pids[$1]=
}

# node_pods NODE: the Podman pods the agent of NODE made, one ID a line.
node_pods() {
	"${p[@]}" pod ps -q --filter "label=stuurman.io/node=$1" 2>/dev/null
}

# remove_node_pods NODE: removes them with their containers, at once.
remove_node_pods() {
	local ids
	ids=$(node_pods "$1")
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086 # one id per word
		"${p[@]}" pod rm -f -t 0 $ids >/dev/null 2>&1
	fi
}

# agent_lose NODE: SIGKILL of the agent and its containers (a lost node).
agent_lose() {
	agent_stop "$1" KILL
	remove_node_pods "$1"
}

cluster_cleanup() {
	local n
	for n in "${!agent_pids[@]}"; do
		agent_stop "$n" TERM
	done
	server_stop TERM
	# The agents' pods carry their node label, not the test's.
	for n in "${!agent_ips[@]}"; do
		remove_node_pods "$n"
	done
}

# cluster_leftovers: the Podman pods of this test's nodes (none after
# cluster_cleanup).
cluster_leftovers() {
	local n
	for n in "${!agent_ips[@]}"; do
		node_pods "$n"
	done
}

write_kubeconfig() {
	cat >"$tmp/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $api
    certificate-authority: $srv/pki/ca.crt
users:
- name: test
  user:
    token: $(cat "$srv/pki/token")
contexts:
- name: test
  context: {cluster: test, user: test, namespace: default}
current-context: test
YAML
}

# api_call METHOD PATH [CURL ARGS...]: one request with the API token.
api_call() {
	local m=$1 path=$2
	shift 2
	curl -sf --cacert "$srv/pki/ca.crt" -X "$m" \
		-H "Authorization: Bearer $(cat "$srv/pki/token")" "$@" \
		"$api$path"
}

# api_create PATH FILE: POSTs the JSON in FILE.
api_create() {
	api_call POST "$1" -H "Content-Type: application/json" \
		--data @"$2" -o /dev/null
}

# q PATH EXPR: a Python expression on the JSON at PATH (bound to d), with
# ready(obj), live(list) (not being deleted) and running(list) (live,
# Running, Ready and with a podIP).
q() {
	api_call GET "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
def ready(o):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in o.get("status", {}).get("conditions", []))
def live(pods):
    return [p for p in pods["items"]
            if not p["metadata"].get("deletionTimestamp")]
def running(pods):
    return [p for p in live(pods) if ready(p)
            and p["status"].get("phase") == "Running"
            and p["status"].get("podIP")]
print(eval(sys.argv[1]))' "$2"
}

is_q() { # is_q PATH EXPR WANT
	[ "$(q "$1" "$2" 2>/dev/null)" = "$3" ]
}

# nodes_ready NODE...: whether exactly these nodes are Ready.
nodes_ready() {
	local want
	want=$(printf "'%s', " "$@" | sed 's/, $//')
	is_q /api/v1/nodes \
		"sorted(n['metadata']['name'] for n in d['items'] if ready(n))" \
		"[$want]"
}

# cluster_podman_pods: "POD" for each Podman pod of this test's nodes
# (pod ps -a: stopped ones too), sorted, one a line.
cluster_podman_pods() {
	"${p[@]}" pod ps --format \
		'{{index .Labels "stuurman.io/node"}} {{index .Labels "stuurman.io/pod"}}' \
		2>/dev/null | while read -r node pod; do
		[ -n "${agent_ips[$node]:-}" ] && echo "$pod"
	done | LC_ALL=C sort
}

# cluster_running CONTAINER: "NODE POD" for each running container named
# CONTAINER (its pod's container name) on this test's nodes, one a line.
cluster_running() {
	"${p[@]}" ps --filter "label=stuurman.io/container=$1" --format \
		'{{index .Labels "stuurman.io/node"}} {{index .Labels "stuurman.io/pod"}}' \
		2>/dev/null | while read -r node pod; do
		[ -n "${agent_ips[$node]:-}" ] && echo "$node $pod"
	done
}
