#!/usr/bin/env bash
# Services against `stuurman server`, two joined agents and `stuurman
# proxy` on real Podman (run.sh starts the service and builds the images):
#   - a ClusterIP from the server's range and the given nodePort; a second
#     Service asking for the same nodePort is refused naming the holder;
#   - curl through the NodePort on 127.0.0.1 and on both node IPs reaches
#     the app, spread over its pods;
#   - from inside a pod: the Service's environment variables, the cluster
#     DNS in resolv.conf, the Service by `web`, `web.default` and its full
#     name (DNS and the ClusterIP through the proxy), a headless Service
#     and a StatefulSet pod as `db-0.db`;
#   - a Service whose selector matches nothing: no endpoints, kubectl
#     describe says so, and its NodePort refuses at once;
#   - scale to zero and back; the app's containers of one node killed:
#     every request still answered (retried on the other endpoints);
#   - a rolling update under constant load: zero failed requests;
#   - the proxy stopped: its addresses leave lo.
#
# The test's service range is 10.97.0.0/16 (DNS on 10.97.0.10) and its
# node IPs are 127.0.6.1-2, so that it can run beside `stuurman up`
# (10.96.0.0/16, 127.0.1.x). Needs SM_STUURMAN, SM_PODMAN_SOCKET,
# SM_TEST_ID, SM_TEST_TMP (run.sh) and kubectl. Ends with "N passed, N
# failed"; exits 1 on any failure.
set -uo pipefail
# (pipefail: a grep in a pipeline reads all its input, never -q, or the
# writer can die of SIGPIPE and fail the pipeline.)

passed=0
failed=0
# shellcheck source=tests/integration/agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
# shellcheck source=tests/integration/cluster_lib.sh
. "$(dirname "$0")/cluster_lib.sh"
cluster_require
if ! command -v kubectl >/dev/null 2>&1; then
	echo "kubectl is not installed: skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 77
fi
n1=$SM_TEST_ID-a
n2=$SM_TEST_ID-b
ip1=127.0.6.1
ip2=127.0.6.2
cidr=10.97.0.0/16
dns=10.97.0.10
np=$((31000 + RANDOM % 1700)) # the web Service's nodePort
proxy_pid=
load_pid=
on_exit() {
	stop_pid "$load_pid" TERM
	stop_pid "$proxy_pid" TERM
	cluster_cleanup
}
trap on_exit EXIT

server_start --service-cidr "$cidr"
check "the server starts" server_ready
agent_args=(--cluster-dns "$dns" --cluster-domain cluster.local)
agent_start "$n1" $ip1
agent_start "$n2" $ip2
check "both nodes are Ready" eventually 20 nodes_ready "$n1" "$n2"
proxy_start() {
	"$bin" proxy --server "$api" --token-file "$srv/pki/node-token" \
		--ca-file "$srv/pki/ca.crt" --data "$tmp/proxy" \
		--service-cidr "$cidr" --cluster-dns "$dns" \
		>>"$tmp/proxy.log" 2>&1 &
	proxy_pid=$!
}
proxy_start

cat >"$tmp/web.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: bootcamp
        image: gcr.io/google-samples/kubernetes-bootcamp:v1
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: $np}
YAML
check "kubectl creates the web Deployment and Service" \
	"${kc[@]}" apply -f "$tmp/web.yaml"

svc() { # svc NAME EXPR: EXPR on the Service (bound to d)
	q "/api/v1/namespaces/default/services/$1" "$2"
}
svc_ip=$(svc web "d['spec']['clusterIP']" 2>/dev/null)
check "web has a ClusterIP in $cidr ($svc_ip)" \
	python3 -c 'import ipaddress, sys
sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' \
	"$svc_ip" "$cidr"
check "web keeps its nodePort $np" is_q /api/v1/namespaces/default/services/web \
	"d['spec']['ports'][0]['nodePort']" "$np"

cat >"$tmp/taken.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: taken, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: $np}]
YAML
taken() {
	local out
	out=$("${kc[@]}" apply -f "$tmp/taken.yaml" 2>&1) && return 1
	echo "$out" | grep "already allocated" >/dev/null &&
		echo "$out" | grep "default/web" >/dev/null
}
check "a second Service on nodePort $np is refused, naming web" taken

running_is() { # running_is APP N
	is_q "$pods?labelSelector=app%3D$1" "(len(d['items']), len(running(d)))" "($2, $2)"
}
check "web's 3 pods are Running and Ready" eventually 90 running_is web 3

get() { # get HOST:PORT: the app's answer
	curl -sf --max-time 3 "http://$1/"
}
answers() { get "$1" | grep "Hello Kubernetes bootcamp" >/dev/null; }
check "curl 127.0.0.1:$np reaches the app" eventually 20 answers "127.0.0.1:$np"
check "curl $ip1:$np reaches the app" answers "$ip1:$np"
check "curl $ip2:$np reaches the app" answers "$ip2:$np"
spread() { # spread: 12 requests are answered by more than one pod
	local i
	for i in $(seq 12); do
		get "127.0.0.1:$np" | sed -n 's/.*Running on: \([^ ]*\).*/\1/p'
	done | sort -u | wc -l | {
		read -r n
		[ "$n" -ge 2 ]
	}
}
check "requests through the NodePort are spread over the pods" spread

cat >"$tmp/client.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: client
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: busybox:1.36
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        command: ["/bin/sh", "-c"]
        args:
        - |
          mkdir -p /www && hostname > /www/index.html
          httpd -p 8080 -h /www
          trap 'exit 0' TERM
          while :; do sleep 1; done
---
apiVersion: v1
kind: Service
metadata: {name: nothing, namespace: default}
spec:
  type: NodePort
  selector: {app: nope}
  ports: [{port: 80, targetPort: 8080}]
YAML
check "kubectl creates the client, the db StatefulSet and 'nothing'" \
	"${kc[@]}" apply -f "$tmp/client.yaml"
check "the client pod is Running and Ready" eventually 60 running_is client 1
check "both db pods are Running and Ready" eventually 90 running_is db 2

client_pod=$(q "$pods?labelSelector=app%3Dclient" "running(d)[0]['metadata']['name']")
cid=$("${p[@]}" ps -q --filter "label=stuurman.io/pod=$client_pod" \
	--filter label=stuurman.io/container=client 2>/dev/null | head -n 1)
cexec() { "${p[@]}" exec "$cid" "$@"; }
cenv() { cexec sh -c "echo \$$1"; } # cenv VAR: its value in the client
check "the client pod has WEB_SERVICE_HOST=$svc_ip" \
	eval '[ "$(cenv WEB_SERVICE_HOST)" = "$svc_ip" ]'
check "the client pod has WEB_SERVICE_PORT=80" \
	eval '[ "$(cenv WEB_SERVICE_PORT)" = 80 ]'
check "its resolv.conf names the cluster DNS" \
	eval 'cexec cat /etc/resolv.conf | grep "^nameserver $dns" >/dev/null'
check "its resolv.conf searches default.svc.cluster.local" \
	eval 'cexec cat /etc/resolv.conf | grep "^search default.svc.cluster.local svc.cluster.local cluster.local" >/dev/null'
lookup() { # lookup NAME WANT: nslookup in the client pod finds WANT
	cexec nslookup "$1" "$dns" 2>/dev/null | grep "Address:* *$2\$" >/dev/null
}
check "nslookup web.default.svc.cluster.local gives $svc_ip" \
	eventually 10 lookup web.default.svc.cluster.local "$svc_ip"
http_in_pod() { # http_in_pod HOST PORT WANT
	cexec sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc $1 $2" 2>/dev/null |
		grep "$3" >/dev/null
}
for name in web web.default web.default.svc.cluster.local; do
	check "a pod calls http://$name/ by name" \
		eventually 10 http_in_pod "$name" 80 "Hello Kubernetes bootcamp"
done
db_ips=$(q "$pods?labelSelector=app%3Ddb" "' '.join(sorted(p['status']['podIP'] for p in running(d)))")
headless() { # nslookup db gives both db pods
	local got
	got=$(cexec nslookup db.default.svc.cluster.local "$dns" 2>/dev/null |
		sed -n '/^Name:/,$s/^Address:* *\([0-9.]*\)$/\1/p' | sort | xargs)
	[ "$got" = "$db_ips" ]
}
check "the headless Service resolves to both db pods ($db_ips)" eventually 10 headless
check "a pod calls db-0 as db-0.db" eventually 10 http_in_pod db-0.db 8080 db-0
check "a pod calls db-1 as db-1.db.default.svc.cluster.local" \
	eventually 10 http_in_pod db-1.db.default.svc.cluster.local 8080 db-1

no_endpoints() {
	"${kc[@]}" describe service nothing | grep -E '^Endpoints: +<none>' >/dev/null
}
check "kubectl describe shows 'nothing' without endpoints" eventually 10 no_endpoints
nothing_np=$(svc nothing "d['spec']['ports'][0]['nodePort']" 2>/dev/null)
refused_fast() {
	local t0=$SECONDS
	! curl -sf --max-time 5 "http://127.0.0.1:$nothing_np/" >/dev/null &&
		[ $((SECONDS - t0)) -le 2 ]
}
check "its NodePort $nothing_np refuses at once" refused_fast

check "kubectl scale web to 0" "${kc[@]}" scale deployment/web --replicas=0
check "web has no pods" eventually 30 running_is web 0
check "web has no endpoints" eventually 10 is_q \
	/api/v1/namespaces/default/endpoints/web "d.get('subsets') or []" "[]"
check "the NodePort answers nothing" eventually 10 eval '! get "127.0.0.1:$np"'
check "kubectl scale web back to 3" "${kc[@]}" scale deployment/web --replicas=3
check "web's 3 pods are back" eventually 90 running_is web 3
check "the NodePort answers again" eventually 20 answers "127.0.0.1:$np"

# Kill the app on one node; the proxy retries the refused connections.
victims=$("${p[@]}" ps -q --filter "label=stuurman.io/node=$n1" \
	--filter label=stuurman.io/container=bootcamp 2>/dev/null | xargs)
if [ -z "$victims" ]; then
	victims=$("${p[@]}" ps -q --filter "label=stuurman.io/node=$n2" \
		--filter label=stuurman.io/container=bootcamp 2>/dev/null | xargs)
fi
all_answer() { # all_answer N: N requests in a row, every one answered
	local i
	for i in $(seq "$1"); do
		answers "127.0.0.1:$np" || return 1
	done
}
# shellcheck disable=SC2086 # one id per word
check "kill the app's containers on one node" "${p[@]}" kill $victims
check "20 requests right after: every one answered" all_answer 20
check "web is back to 3 Ready pods" eventually 60 running_is web 3

# A rolling update under constant load: one request after another, each
# on a new connection, until told to stop (at most 120 s).
load() { # load OUT STOPFILE
	exec python3 - "$np" "$1" "$2" <<'PY'
import http.client, os, sys, time
port, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ok = fail = 0
errs = {}
t0 = time.monotonic()
while not os.path.exists(stop) and time.monotonic() - t0 < 120:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status == 200 and b"Hello" in body:
            ok += 1
        else:
            fail += 1
            errs["HTTP %d" % r.status] = errs.get("HTTP %d" % r.status, 0) + 1
    except Exception as e:
        fail += 1
        errs[type(e).__name__] = errs.get(type(e).__name__, 0) + 1
    time.sleep(0.005)
with open(out, "w") as f:
    print(ok, fail, " ".join("%s=%d" % kv for kv in errs.items()), file=f)
PY
}
rm -f "$tmp/load.stop" "$tmp/load.out"
load "$tmp/load.out" "$tmp/load.stop" &
load_pid=$!
sleep 1
check "kubectl set image to v2" "${kc[@]}" set image deployment/web \
	bootcamp=gcr.io/google-samples/kubernetes-bootcamp:v2
check "the rollout completes" \
	"${kc[@]}" rollout status deployment/web --timeout=120s
sleep 1
touch "$tmp/load.stop"
wait "$load_pid"
load_pid=
read -r ok fail errs <"$tmp/load.out" || true
echo "load during the rollout: ${ok:-?} answered, ${fail:-?} failed ${errs:-}"
check "the load ran (${ok:-0} requests answered)" test "${ok:-0}" -ge 50
check "no request failed during the rollout (${fail:-?} failed: ${errs:-})" \
	test "${fail:-1}" -eq 0
check "the NodePort now answers v=2" eval 'get "127.0.0.1:$np" | grep "v=2" >/dev/null'

lo_has() { ip -4 addr show dev lo | grep "inet $1/32" >/dev/null; }
check "the ClusterIP $svc_ip is on lo" lo_has "$svc_ip"
check "the cluster DNS $dns is on lo" lo_has "$dns"
stop_pid "$proxy_pid" TERM
proxy_pid=
check "the proxy stopped: its addresses left lo" \
	eval '! ip -4 addr show dev lo | grep "inet 10\.97\." >/dev/null'

cluster_cleanup
check "nothing of the test's nodes is left in Podman" \
	eval '[ -z "$(cluster_leftovers)" ]'
trap - EXIT

if [ "$failed" -gt 0 ]; then
	echo "--- the last lines of the proxy's log ---"
	tail -n 30 "$tmp/proxy.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
