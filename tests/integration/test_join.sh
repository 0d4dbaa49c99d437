#!/usr/bin/env bash
# `stuurman server` and two agents joined to it, against real Podman
# (run.sh starts the service and builds the demo images):
#   - both Nodes register and are Ready, with their addresses, nodeInfo and
#     the agent's HTTPS port in daemonEndpoints;
#   - a Deployment of the bootcamp image with 2 replicas: its pods run,
#     with a podIP, Ready, and answer HTTP on their pod IP;
#   - `kubectl logs` of a pod (the API server proxies to the node's agent)
#     shows its output; an unknown container is a 400;
#   - the agent's own API refuses a request without the node token;
#   - a deleted pod is stopped and deleted for good, and a replacement
#     becomes Ready;
#   - a restarted agent adopts its pod: same container, no restart;
#   - SIGKILL of one agent (and its containers): its Node goes Unknown and
#     the Deployment's pods are Ready on the other node;
#   - everything is stopped and removed afterwards.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_ID, SM_TEST_TMP (run.sh).
# Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

bin=$SM_STUURMAN
sock=$SM_PODMAN_SOCKET
tmp=$SM_TEST_TMP
p=(podman --url "unix://$sock")
n1=$SM_TEST_ID-a
n2=$SM_TEST_ID-b
port=$((20000 + RANDOM % 9000))
api=https://127.0.0.1:$port
srv=$tmp/server
server_pid=
a1_pid=
a2_pid=
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"

if ! "$bin" server --help >/dev/null 2>&1; then
	echo "this stuurman has no server command: skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
fi

stop() { # stop PID SIGNAL
	if [ -n "$1" ]; then
		kill "-$2" "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
}

remove_node_pods() { # remove_node_pods NODE
	local ids
	ids=$("${p[@]}" pod ps -q --filter "label=stuurman.io/node=$1" 2>/dev/null)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		"${p[@]}" pod rm -f -t 0 $ids >/dev/null 2>&1
	fi
}

cleanup() {
	stop "$a1_pid" TERM
	stop "$a2_pid" TERM
	stop "$server_pid" TERM
	# The agents' pods carry their node label, not the test's.
	remove_node_pods "$n1"
	remove_node_pods "$n2"
}
trap cleanup EXIT

start_agent() { # start_agent NODE IP: its pid in agent_pid
	"$bin" agent --node "$1" --server "$api" \
		--token-file "$srv/pki/node-token" --ca-file "$srv/pki/ca.crt" \
		--node-ip "$2" --api-listen "$2:$((port + 1))" \
		--podman-socket "$sock" --data "$tmp/agent-$1" \
		>>"$tmp/agent-$1.log" 2>&1 &
	agent_pid=$!
}

# q PATH EXPR: a Python expression on the JSON at PATH (bound to d).
q() {
	curl -sf --cacert "$srv/pki/ca.crt" \
		-H "Authorization: Bearer $(cat "$srv/pki/token")" "$api$1" |
		python3 -c '
import json, sys
d = json.load(sys.stdin)
def ready(o):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in o.get("status", {}).get("conditions", []))
def live(pods):
    return [p for p in pods["items"]
            if not p["metadata"].get("deletionTimestamp")]
print(eval(sys.argv[1]))' "$2"
}

is_q() { # is_q PATH EXPR WANT
	[ "$(q "$1" "$2" 2>/dev/null)" = "$3" ]
}

pods=/api/v1/namespaces/default/pods

# Pods of the Deployment that are Running, Ready and not being deleted,
# on node NODE (any node when empty): how many.
ready_pods() { # ready_pods [NODE]
	q $pods "len([p for p in live(d) if ready(p) and p['status'].get('podIP') and p['status'].get('phase') == 'Running' and ('$1' == '' or p['spec'].get('nodeName') == '$1')])"
}

"$bin" server --data "$srv" --listen "127.0.0.1:$port" \
	>>"$tmp/server.log" 2>&1 &
server_pid=$!
check "the server writes its CA and tokens" \
	eventually 10 test -s "$srv/pki/node-token"
check "the server answers" eventually 10 q /version "d['major']"
start_agent "$n1" 127.0.1.1
a1_pid=$agent_pid
start_agent "$n2" 127.0.1.2
a2_pid=$agent_pid

check "both nodes are Ready" eventually 20 is_q /api/v1/nodes \
	"sorted(n['metadata']['name'] for n in d['items'] if ready(n))" \
	"['$n1', '$n2']"
check "the node has its InternalIP, runtime and HTTPS port" \
	is_q "/api/v1/nodes/$n2" \
	"(d['status']['addresses'][0]['address'], d['status']['nodeInfo']['containerRuntimeVersion'].startswith('podman://'), d['status']['daemonEndpoints']['kubeletEndpoint']['Port'])" \
	"('127.0.1.2', True, $((port + 1)))"

cat >"$tmp/web.json" <<JSON
{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "web", "namespace": "default"},
 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
  "template": {"metadata": {"labels": {"app": "web"}},
   "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
    "name": "bootcamp",
    "image": "gcr.io/google-samples/kubernetes-bootcamp:v1",
    "imagePullPolicy": "IfNotPresent",
    "ports": [{"containerPort": 8080}],
    "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                       "periodSeconds": 1}}]}}}}
JSON
check "the Deployment is created" curl -sf --cacert "$srv/pki/ca.crt" \
	-H "Authorization: Bearer $(cat "$srv/pki/token")" \
	-H "Content-Type: application/json" --data @"$tmp/web.json" \
	-o /dev/null "$api/apis/apps/v1/namespaces/default/deployments"
check "its 2 pods are Running and Ready with a podIP" \
	eventually 60 is_q $pods \
	"len([p for p in live(d) if ready(p) and p['status'].get('podIP')])" 2

pod=$(q $pods "sorted(p['metadata']['name'] for p in live(d))[0]")
ip=$(q "$pods/$pod" "d['status']['podIP']")
check "the pod answers on its IP" eventually 10 \
	curl -sf "http://$ip:8080/" -o /dev/null

# kubectl with a kubeconfig of pki's format (the CA as a file here).
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
kc=(kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/kube-cache")
if command -v kubectl >/dev/null 2>&1; then
	logs() { "${kc[@]}" logs "$pod" 2>&1; }
	del() { "${kc[@]}" delete pod "$1" >/dev/null 2>&1; }
	bad_container() { "${kc[@]}" logs "$pod" -c nope 2>&1; }
else
	logs() {
		curl -sf --cacert "$srv/pki/ca.crt" \
			-H "Authorization: Bearer $(cat "$srv/pki/token")" \
			"$api$pods/$pod/log"
	}
	del() {
		curl -sf --cacert "$srv/pki/ca.crt" -X DELETE -o /dev/null \
			-H "Authorization: Bearer $(cat "$srv/pki/token")" \
			"$api$pods/$1"
	}
	bad_container() {
		curl -s --cacert "$srv/pki/ca.crt" \
			-H "Authorization: Bearer $(cat "$srv/pki/token")" \
			"$api$pods/$pod/log?container=nope"
	}
fi
logs_show_the_app() {
	[[ $(logs) == *"Running on: $pod"* ]]
}
check "the pod's log comes through the API server" \
	eventually 10 logs_show_the_app
refused_as_kubernetes_does() {
	[[ $(bad_container) == *"container nope is not valid for pod $pod"* ]]
}
check "the log of an unknown container is refused as Kubernetes does" \
	refused_as_kubernetes_does
node_ip=$(q "$pods/$pod" "d['status']['hostIP']")
wants_token() {
	[ "$(curl -sk -o /dev/null -w "%{http_code}" \
		"https://$node_ip:$((port + 1))/pods")" = 401 ]
}
check "the agent's API wants the node token" wants_token

check "a pod is deleted" del "$pod"
gone() { ! q $pods "[p['metadata']['name'] for p in d['items']]" | grep -q "$pod"; }
check "the deleted pod is gone for good" eventually 20 gone
check "a replacement is Ready" eventually 30 is_q $pods \
	"len([p for p in live(d) if ready(p) and p['status'].get('podIP')])" 2

# A restarted agent adopts its pods: same container, no restart.
pod=$(q $pods "sorted(p['metadata']['name'] for p in live(d))[0]")
node=$(q "$pods/$pod" "d['spec']['nodeName']")
cid=$(q "$pods/$pod" "d['status']['containerStatuses'][0]['containerID']")
if [ "$node" = "$n1" ]; then
	stop "$a1_pid" TERM
	start_agent "$n1" 127.0.1.1
	a1_pid=$agent_pid
else
	stop "$a2_pid" TERM
	start_agent "$n2" 127.0.1.2
	a2_pid=$agent_pid
fi
adopted() {
	grep -q "adopted running pod" "$tmp/agent-$node.log" &&
		is_q "$pods/$pod" \
			"(d['status']['containerStatuses'][0]['containerID'], d['status']['containerStatuses'][0]['restartCount'], ready(d))" \
			"('$cid', 0, True)"
}
check "a restarted agent adopts its pod (same container, no restart)" \
	eventually 20 adopted

# Node loss: the agent of the node with a pod dies with its containers.
victim=$(q $pods "sorted(p['spec']['nodeName'] for p in live(d))[0]")
if [ "$victim" = "$n1" ]; then
	stop "$a1_pid" KILL
	a1_pid=
	other=$n2
else
	stop "$a2_pid" KILL
	a2_pid=
	other=$n1
fi
remove_node_pods "$victim"
check "the lost node becomes Unknown" eventually 15 is_q \
	"/api/v1/nodes/$victim" \
	"[c['status'] for c in d['status']['conditions'] if c['type'] == 'Ready'][0]" \
	Unknown
two_on_other() { [ "$(ready_pods "$other")" = 2 ]; }
check "its pods are Ready on the other node" eventually 30 two_on_other

cleanup
trap - EXIT
server_pid=
a1_pid=
a2_pid=
left=$("${p[@]}" pod ps -q --filter "label=stuurman.io/node=$n1" 2>/dev/null)
left+=$("${p[@]}" pod ps -q --filter "label=stuurman.io/node=$n2" 2>/dev/null)
check "nothing of the nodes is left in Podman" test -z "$left"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
