#!/usr/bin/env bash
# GitOps against `stuurman server --repo git://127.0.0.1:PORT/...` served by
# `git daemon`, with one joined agent on real Podman. The test makes the
# repository, clones it, commits and pushes like a person would:
#   - the first commit comes up (an Ingress in it is a warning, left
#     out); a push (and POST /hooks/git) converges;
#   - a bad commit is rejected whole: the status is Failed and names the
#     file and line, and the old version keeps serving, untouched;
#   - a revert converges back;
#   - `kubectl scale` of a managed Deployment is set back (self-heal);
#   - a deleted manifest's object is pruned;
#   - a broken image tag goes Degraded and is rolled back automatically,
#     and the next commit is still synced;
#   - `rollback REV` pins an earlier revision until the next commit;
#   - after a restart with --self-heal=false: the history is still there,
#     a manual scale is OutOfSync and `diff` shows it, never a Secret value.
#
# Needs SM_STUURMAN, SM_PODMAN_SOCKET, SM_TEST_ID, SM_TEST_TMP (run.sh),
# git, kubectl. Ends with "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=tests/integration/cluster_lib.sh
. "$(dirname "$0")/cluster_lib.sh"
cluster_require
for tool in git kubectl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$tool is not installed (ci/setup installs it): skipped"
		echo "0 passed, 0 failed, 1 skipped"
		exit 77
	fi
done
n1=$SM_TEST_ID-g
daemon_pid=
on_exit() {
	stop_pid "$daemon_pid" TERM
	cluster_cleanup
}
trap on_exit EXIT

# The repository, served by git daemon on 127.0.0.1, and a clone to work in.
git init -q --bare -b main "$tmp/repos/cluster.git"
touch "$tmp/repos/cluster.git/git-daemon-export-ok"
gport=$((29000 + RANDOM % 900))
git daemon --listen=127.0.0.1 --port=$gport --base-path="$tmp/repos" \
	--enable=receive-pack --reuseaddr "$tmp/repos" \
	>>"$tmp/git-daemon.log" 2>&1 &
daemon_pid=$!
url=git://127.0.0.1:$gport/cluster.git
work=$tmp/work
g() { git -C "$work" "$@"; }
git clone -q "$tmp/repos/cluster.git" "$work" 2>/dev/null
g config user.name "Student"
g config user.email "student@example.org"

# deployment REPLICAS IMAGE [DEADLINE]: writes apps/web.yaml.
deployment() {
	mkdir -p "$work/apps"
	cat >"$work/apps/web.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: $1
  progressDeadlineSeconds: ${3:-600}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: bootcamp
        image: $2
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
YAML
}
v1=gcr.io/google-samples/kubernetes-bootcamp:v1
v2=gcr.io/google-samples/kubernetes-bootcamp:v2
deployment 2 $v1
cat >"$work/apps/config.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: default}
data: {greeting: hallo}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: default}
stringData: {password: geheim-wachtwoord-42}
YAML
cat >"$work/apps/ingress.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  defaultBackend:
    service: {name: web, port: {number: 80}}
YAML
commit() { # commit MESSAGE: commits everything and pushes
	g add -A && g commit -qm "$1" && g push -q origin main 2>/dev/null
}
commit "web v1 with 2 replicas"

server_start --repo "$url" --branch main --interval 30 --auto-rollback
check "the server starts on the repository" server_ready
agent_start "$n1" 127.0.1.1
check "the node is Ready" eventually 20 nodes_ready "$n1"

dep=/apis/apps/v1/namespaces/default/deployments/web
sync_q() { q /stuurman/sync "$1"; }
hook() { api_call POST /hooks/git -o /dev/null; }
running_is() { # running_is N: N pods, all Running and Ready
	is_q $pods "(len(d['items']), len(running(d)))" "($1, $1)"
}
# all_answer V: every Ready pod answers v=V.
all_answer() {
	local ips ip
	ips=$(q $pods "' '.join(p['status']['podIP'] for p in running(d))")
	[ -n "$ips" ] || return 1
	for ip in $ips; do
		curl -sf --max-time 2 "http://$ip:8080/" | grep -q "v=$1" ||
			return 1
	done
}
head_sha() { g rev-parse HEAD; }
absent() { ! grep -rq "$@"; } # absent TEXT FILE...
synced_at() { # synced_at SHA: the status says Synced at SHA
	is_q /stuurman/sync "(d['sync'], d['revision']['sha'])" "('Synced', '$1')"
}

check "the first commit is applied and Synced" eventually 30 \
	synced_at "$(head_sha)"
check "its 2 pods run" eventually 60 running_is 2
check "a kind stuurman does not run is a warning in the status" \
	is_q /stuurman/sync "any('apps/ingress.yaml' in w and 'Ingress' in w for w in d['warnings'])" True
check "the object carries the managed-by label and the revision" \
	is_q $dep "(d['metadata']['labels']['app.kubernetes.io/managed-by'], d['metadata']['annotations']['stuurman.io/revision'])" \
	"('stuurman', '$(head_sha)')"
check "the revision is not in the pod template" \
	is_q $dep "'stuurman.io/revision' in str(d['spec']['template'])" False
check "the health becomes Healthy" eventually 60 \
	is_q /stuurman/sync "d['health']" Healthy

# A push, announced by the hook (the poll is 30 s away).
deployment 3 $v2
commit "web v2, 3 replicas"
check "POST /hooks/git with the API token is accepted" hook
check "the push converges: Synced at the new commit" eventually 20 \
	synced_at "$(head_sha)"
check "3 pods run" eventually 90 running_is 3
check "every pod answers v=2" eventually 30 all_answer 2
good=$(head_sha)
check "the hook without a token is refused (401)" \
	test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$srv/pki/ca.crt" \
		-X POST "$api/hooks/git")" = 401

# A bad commit: rejected whole, the old version keeps serving.
sed -i 's/replicas: 3/replicas: drie/' "$work/apps/web.yaml"
deployment_rv=$(q $dep "d['metadata']['resourceVersion']")
commit "typo"
hook
check "the bad commit makes the status Failed" eventually 20 \
	is_q /stuurman/sync "d['sync']" Failed
check "the error names the file and line" \
	is_q /stuurman/sync "'apps/web.yaml:5:' in (d['lastError'] or '')" True
check "the revision applied is still the good one" \
	is_q /stuurman/sync "d['revision']['sha']" "$good"
check "the Deployment was not touched" \
	is_q $dep "d['metadata']['resourceVersion']" "$deployment_rv"
check "3 pods still answer v=2" all_answer 2

g revert --no-edit HEAD >/dev/null && g push -q origin main 2>/dev/null
hook
check "the revert converges back: Synced" eventually 20 \
	synced_at "$(head_sha)"
check "the history records the failure" \
	is_q /stuurman/history "[e['result'] for e in d['items']][:3]" \
	"['Synced', 'Failed', 'Synced']"

# Drift: kubectl scale is set back to git's 3.
check "kubectl scale to 1" "${kc[@]}" scale deployment/web --replicas=1
check "self-heal sets replicas back to 3" eventually 10 \
	is_q $dep "d['spec']['replicas']" 3
check "3 pods run after the self-heal" eventually 60 running_is 3
check "kubectl delete of a managed ConfigMap is healed" \
	"${kc[@]}" delete configmap web-config
check "the ConfigMap comes back" eventually 10 \
	is_q /api/v1/namespaces/default/configmaps/web-config "d['data']['greeting']" hallo

# Prune: the ConfigMap's manifest goes.
cat >"$work/apps/config.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: default}
stringData: {password: geheim-wachtwoord-42}
YAML
commit "no more config map"
hook
check "the ConfigMap removed from git is pruned" eventually 20 \
	is_q /api/v1/namespaces/default/configmaps "[c['metadata']['name'] for c in d['items'] if c['metadata']['name'] == 'web-config']" "[]"
healthy_before=$(head_sha)
check "Healthy again" eventually 60 is_q /stuurman/sync "d['health']" Healthy

# A broken image tag: Degraded after its progress deadline, rolled back.
deployment 3 127.0.0.1:1/nope/bootcamp:v9 4
commit "broken image"
hook
check "the broken commit is applied" eventually 20 synced_at "$(head_sha)"
check "it is rolled back automatically after its deadline" eventually 60 \
	is_q /stuurman/sync "(d['pinned'] or {}).get('reason')" auto-rollback
check "the pin is the last healthy revision" \
	is_q /stuurman/sync "d['revision']['sha']" "$healthy_before"
check "the history marks the broken commit Bad" \
	is_q /stuurman/history "[e['result'] for e in d['items']][:2]" \
	"['AutoRollback', 'Bad']"
check "3 pods answer v=2 again" eventually 90 all_answer 2
deployment 2 $v1
commit "back to v1 with 2 replicas"
hook
check "the next commit is synced and ends the pin" eventually 20 \
	is_q /stuurman/sync "(d['sync'], d['pinned'], d['revision']['sha'])" \
	"('Synced', None, '$(head_sha)')"
check "2 pods answer v=1" eventually 90 all_answer 1

# rollback REV pins an earlier revision until the next commit.
check "rollback to the v2 commit" \
	api_call POST /stuurman/rollback -H "Content-Type: application/json" \
	--data "{\"revision\": \"${good:0:8}\"}" -o /dev/null
check "it is pinned" \
	is_q /stuurman/sync "(d['pinned']['reason'], d['revision']['sha'])" \
	"('rollback', '$good')"
check "3 pods answer v=2" eventually 90 all_answer 2
check "an unknown revision is a 404" test "$(curl -s -o /dev/null \
	-w '%{http_code}' --cacert "$srv/pki/ca.crt" \
	-H "Authorization: Bearer $(cat "$srv/pki/token")" \
	-X POST --data '{"revision": "deadbeef"}' "$api/stuurman/rollback")" = 404

# A restart without self-heal: history kept, drift reported.
server_stop TERM
server_start --repo "$url" --branch main --interval 30 --self-heal=false
check "the server restarts" server_ready
check "the pin survived the restart" eventually 20 \
	is_q /stuurman/sync "(d['pinned'] or {}).get('reason')" rollback
check "the history survived the restart" \
	is_q /stuurman/history "len(d['items']) >= 8" True
check "kubectl scale to 1" "${kc[@]}" scale deployment/web --replicas=1
check "the status says OutOfSync" eventually 10 \
	is_q /stuurman/sync "(d['sync'], d['selfHeal'])" "('OutOfSync', False)"
check "replicas stay at 1 without self-heal" \
	is_q $dep "d['spec']['replicas']" 1
api_call GET /stuurman/diff >"$tmp/diff.txt"
check "the diff shows the replicas" grep -q '^-  replicas: 1' "$tmp/diff.txt"
check "the diff never shows a Secret value" \
	absent geheim-wachtwoord-42 "$tmp/diff.txt" "$tmp/server.log"
check "POST /stuurman/sync applies git's version again" \
	api_call POST /stuurman/sync -o /dev/null
check "replicas are 3 again" eventually 10 is_q $dep "d['spec']['replicas']" 3

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
