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

n1=$SM_TEST_ID-a
n2=$SM_TEST_ID-b
passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=tests/integration/cluster_lib.sh
. "$(dirname "$0")/cluster_lib.sh"
cluster_require
trap cluster_cleanup EXIT

# Pods of the Deployment that are Running, Ready and not being deleted,
# on node NODE (any node when empty): how many.
ready_pods() { # ready_pods [NODE]
	q $pods "len([p for p in live(d) if ready(p) and p['status'].get('podIP') and p['status'].get('phase') == 'Running' and ('$1' == '' or p['spec'].get('nodeName') == '$1')])"
}

server_start
check "the server writes its CA and tokens" \
	eventually 10 test -s "$srv/pki/node-token"
check "the server answers" eventually 10 q /version "d['major']"
agent_start "$n1" 127.0.1.1
agent_start "$n2" 127.0.1.2

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
check "the Deployment is created" \
	api_create /apis/apps/v1/namespaces/default/deployments "$tmp/web.json"
check "its 2 pods are Running and Ready with a podIP" \
	eventually 60 is_q $pods \
	"len([p for p in live(d) if ready(p) and p['status'].get('podIP')])" 2

pod=$(q $pods "sorted(p['metadata']['name'] for p in live(d))[0]")
ip=$(q "$pods/$pod" "d['status']['podIP']")
check "the pod answers on its IP" eventually 10 \
	curl -sf "http://$ip:8080/" -o /dev/null

# Events, as kubectl describe shows them: the scheduler's and the kubelet's.
events=/api/v1/namespaces/default/events
check "the scheduler recorded Scheduled for the pod" eventually 10 is_q \
	"$events?fieldSelector=involvedObject.name%3D$pod" \
	"any(e['reason'] == 'Scheduled' and e['source']['component'] == 'default-scheduler' for e in d['items'])" True
check "its agent recorded Started as the kubelet" eventually 10 is_q \
	"$events?fieldSelector=involvedObject.name%3D$pod" \
	"any(e['reason'] == 'Started' and e['source']['component'] == 'kubelet' for e in d['items'])" True

write_kubeconfig
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
agent_stop "$node" TERM
agent_start "$node" "${agent_ips[$node]}"
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
if [ "$victim" = "$n1" ]; then other=$n2; else other=$n1; fi
agent_lose "$victim"
check "the lost node becomes Unknown" eventually 15 is_q \
	"/api/v1/nodes/$victim" \
	"[c['status'] for c in d['status']['conditions'] if c['type'] == 'Ready'][0]" \
	Unknown
two_on_other() { [ "$(ready_pods "$other")" = 2 ]; }
check "its pods are Ready on the other node" eventually 30 two_on_other

cluster_cleanup
trap - EXIT
check "nothing of the nodes is left in Podman" test -z "$(cluster_leftovers)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
