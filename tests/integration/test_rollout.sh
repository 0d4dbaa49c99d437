#!/usr/bin/env bash
# Deployments through kubectl against `stuurman server` and two joined
# agents on real Podman (run.sh starts the service and builds the images):
#   - `kubectl scale` up and down: exactly that many pods run;
#   - a rolling update v1 -> v2 (`kubectl set image`): `kubectl rollout
#     status` succeeds, every pod answers v=2, and while it ran the Ready
#     pods (sampled) never dropped below replicas - maxUnavailable;
#   - `kubectl rollout undo`: back to v1;
#   - kill -9 of the server in the middle of a rollout, restarted on the
#     same data dir: the rollout completes with exactly `replicas` pods,
#     each name once, and Podman runs exactly those pods.
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
replicas=4
max_unavailable=1
sampler_pid=
on_exit() {
	stop_pid "$sampler_pid" TERM
	cluster_cleanup
}
trap on_exit EXIT

server_start
check "the server starts" server_ready
agent_start "$n1" 127.0.1.1
agent_start "$n2" 127.0.1.2
check "both nodes are Ready" eventually 20 nodes_ready "$n1" "$n2"

cat >"$tmp/web.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: $max_unavailable}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: bootcamp
        image: gcr.io/google-samples/kubernetes-bootcamp:v1
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
YAML
check "kubectl creates the Deployment" \
	"${kc[@]}" apply -f "$tmp/web.yaml"

# running_is N: exactly N pods, all Running and Ready, none terminating.
running_is() {
	is_q $pods "(len(d['items']), len(running(d)))" "($1, $1)"
}
check "its $replicas pods are Running and Ready" eventually 60 \
	running_is $replicas

check "kubectl scale up to 6" "${kc[@]}" scale deployment/web --replicas=6
check "6 pods run" eventually 60 running_is 6
check "kubectl scale down to 2" "${kc[@]}" scale deployment/web --replicas=2
check "2 pods run and the others are gone" eventually 30 running_is 2
"${kc[@]}" scale deployment/web --replicas=$replicas >/dev/null
check "back to $replicas" eventually 60 running_is $replicas

# all_answer V: every live pod answers HTTP with v=V on its pod IP.
all_answer() {
	local ips ip
	ips=$(q $pods "' '.join(p['status']['podIP'] for p in running(d))")
	[ -n "$ips" ] || return 1
	for ip in $ips; do
		curl -sf --max-time 2 "http://$ip:8080/" | grep -q "v=$1" ||
			return 1
	done
}
check "every pod answers v=1" all_answer 1

# Samples the Ready, not terminating pods every 0.1 s into FILE (one
# process on one connection, so samples are close together).
sample_ready() { # sample_ready FILE
	exec python3 - "$1" "$port" "$srv/pki/ca.crt" "$srv/pki/token" <<'PY'
import http.client, json, ssl, sys, time
out, port, ca, tok = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
hdr = {"Authorization": "Bearer " + open(tok).read().strip()}
ctx = ssl.create_default_context(cafile=ca)
c = None
with open(out, "a") as f:
    while True:
        try:
            c = c or http.client.HTTPSConnection("127.0.0.1", port,
                                                 context=ctx, timeout=5)
            c.request("GET", "/api/v1/namespaces/default/pods", headers=hdr)
            d = json.loads(c.getresponse().read())
            n = sum(1 for p in d["items"]
                    if not p["metadata"].get("deletionTimestamp")
                    and p.get("status", {}).get("phase") == "Running"
                    and any(x["type"] == "Ready" and x["status"] == "True"
                            for x in p["status"].get("conditions", [])))
            print(n, file=f, flush=True)
        except Exception:
            c = None
        time.sleep(0.1)
PY
}
rollout() { # rollout: waits for `kubectl rollout status` to succeed
	"${kc[@]}" rollout status deployment/web --timeout=120s >/dev/null
}

sample_ready "$tmp/ready.txt" &
sampler_pid=$!
check "kubectl set image to v2" "${kc[@]}" set image deployment/web \
	bootcamp=gcr.io/google-samples/kubernetes-bootcamp:v2
check "kubectl rollout status succeeds" rollout
stop_pid "$sampler_pid" TERM
sampler_pid=
low=$(sort -n "$tmp/ready.txt" | head -1)
echo "ready pods during the update: min $low over $(wc -l <"$tmp/ready.txt") samples"
check "Ready pods never dropped below replicas - maxUnavailable" \
	test "${low:-0}" -ge $((replicas - max_unavailable))
check "$replicas pods run after the update" eventually 30 running_is $replicas
check "every pod answers v=2" eventually 10 all_answer 2
check "the Deployment is at revision 2" is_q \
	/apis/apps/v1/namespaces/default/deployments/web \
	"d['metadata']['annotations']['deployment.kubernetes.io/revision']" 2

check "kubectl rollout undo" "${kc[@]}" rollout undo deployment/web
check "the undo rolls out" rollout
check "$replicas pods run after the undo" eventually 30 running_is $replicas
check "every pod answers v=1 again" eventually 10 all_answer 1

# kill -9 of the server in the middle of a rollout to v2; minReadySeconds
# (not part of the template) makes the rollout last long enough to catch.
"${kc[@]}" patch deployment web -p '{"spec":{"minReadySeconds":3}}' >/dev/null
"${kc[@]}" set image deployment/web \
	bootcamp=gcr.io/google-samples/kubernetes-bootcamp:v2 >/dev/null
mid_rollout() {
	local up
	up=$(q /apis/apps/v1/namespaces/default/deployments/web \
		"d['status'].get('updatedReplicas', 0)")
	[ "${up:-0}" -ge 1 ] && [ "$up" -lt $replicas ]
}
check "the rollout is under way" eventually 30 mid_rollout
server_stop KILL
sleep 1
server_start
check "the server starts again on its data dir" server_ready
check "the rollout completes after the restart" rollout
check "exactly $replicas pods run" eventually 30 running_is $replicas
names_unique() {
	is_q $pods "len(set(p['metadata']['name'] for p in d['items']))" \
		$replicas
}
check "each pod name once" names_unique
check "every pod answers v=2" eventually 10 all_answer 2
# Podman runs exactly the pods the API server has: none lost, no orphans.
podman_matches() {
	local want have
	want=$(q $pods "' '.join(sorted(p['metadata']['name'] for p in d['items']))")
	have=$(cluster_podman_pods | tr '\n' ' ' | sed 's/ $//')
	[ "$want" = "$have" ]
}
check "Podman runs exactly those pods, no orphans" eventually 20 podman_matches
running_ctrs() {
	[ "$(cluster_running bootcamp | wc -l)" = $replicas ]
}
check "and exactly $replicas app containers" eventually 20 running_ctrs

cluster_cleanup
trap - EXIT
check "nothing of the nodes is left in Podman" test -z "$(cluster_leftovers)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
