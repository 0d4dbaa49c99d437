#!/usr/bin/env bash
# The stuurman binary as people use it: exit statuses, output formats,
# messages, and that Secret values stay out of what it prints.
#
# usage: tests/cli/test_cli.sh STUURMAN SOURCE_ROOT
# Ends with "N passed, N failed" (the line ci/test counts); exits 1 on any
# failure.
set -uo pipefail

bin=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/sm-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME COMMAND...: the command must succeed.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $name" >&2
	fi
}

# status NAME WANT CMD...: the command must exit with WANT.
status() {
	local name=$1 want=$2 got=0
	shift 2
	"$@" >"$work/out" 2>"$work/err" || got=$?
	check "$name (exit $got, want $want)" test "$got" -eq "$want"
}

ex=$src/manifests/examples
inv=$src/tests/corpus/invalid

status "examples validate" 0 "$bin" validate "$ex"
check "summary counts the examples" grep -q '^6 objects in 6 files valid' "$work/out"
check "README skipped with a note" grep -q 'README.md: note: skipped' "$work/err"

status "quiet leaves out notes" 0 "$bin" validate -q "$ex"
check "no note with -q" test ! -s "$work/err"

status "invalid file exits 1" 1 "$bin" validate "$inv/deployment-replicas-string.yaml"
check "message names file:line:col, object and field" \
	grep -q 'deployment-replicas-string.yaml:[0-9]*:[0-9]*: Deployment "[a-z-]*": spec.replicas: expected an integer' "$work/err"

status "json output" 1 "$bin" validate -o json "$inv/deployment-replicas-string.yaml"
check "json output parses and says invalid" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False and d["errors"] == 1, d
diag = d["diagnostics"][0]
assert diag["severity"] == "error" and diag["line"] > 0 and diag["column"] > 0
' "$work/out"

status "unknown kind is a warning" 0 "$bin" validate "$inv/strict-unknown-kind.yaml"
status "unknown kind with --strict is an error" 1 "$bin" validate --strict "$inv/strict-unknown-kind.yaml"

status "usage error exits 2" 2 "$bin" validate
status "unknown option exits 2" 2 "$bin" validate --bogus "$ex"
status "unknown command exits 2" 2 "$bin" frobnicate
status "help" 0 "$bin" validate --help
check "help names the options" grep -q -- '--strict' "$work/out"
status "version" 0 "$bin" version
check "version line" grep -q '^stuurman [0-9]' "$work/out"

status "render examples" 0 "$bin" render "$ex"
check "render is YAML documents" grep -q '^---$' "$work/out"
check "render shows defaults" grep -q 'progressDeadlineSeconds: 600' "$work/out"
check "render masks Secret values" grep -q 'password: ++++++++' "$work/out"
check "render shows no base64 of the demo password" \
	bash -c "! grep -q 'Ym9vdGNhbXA=' '$work/out'"
status "render --show-secrets" 0 "$bin" render --show-secrets "$ex"
check "--show-secrets shows the data" grep -q 'password: Ym9vdGNhbXA=' "$work/out"

status "render -o json" 0 "$bin" render -o json "$ex"
check "render json is a v1 List of 6" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "List" and len(d["items"]) == 6, d["kind"]
' "$work/out"

status "render of a bad file prints nothing" 1 "$bin" render "$inv/deployment-replicas-string.yaml"
check "nothing on stdout" test ! -s "$work/out"

# The YAML render reads back as the same objects.
"$bin" render "$ex" >"$work/a.yaml" 2>/dev/null
status "render of the render" 0 "$bin" render "$work/a.yaml"
check "render is stable" cmp -s "$work/a.yaml" "$work/out"

# Threads change nothing.
"$bin" validate -o json -j 1 "$src/tests/corpus/invalid" >"$work/j1" 2>&1
"$bin" validate -o json -j 4 "$src/tests/corpus/invalid" >"$work/j4" 2>&1
check "--jobs does not change the report" cmp -s "$work/j1" "$work/j4"

# The network rule: only registries on loopback, refused before anything
# starts.
status "agent: a registry off loopback is a usage error" 2 "$bin" agent \
	--node n1 --pod-manifests "$work" --registry-insecure 10.1.2.3:5000
check "agent: the message says loopback only" \
	grep -q 'registry-insecure "10.1.2.3:5000": only a registry on loopback' "$work/err"
status "agent: a malformed registry is a usage error" 2 "$bin" agent \
	--node n1 --pod-manifests "$work" --registry-insecure 127.0.0.1:http
# Joining a server: the credentials and the node IP are required, and a
# joined node takes no folder of pods.
status "agent: --server without its files is a usage error" 2 "$bin" agent \
	--node n1 --server https://127.0.0.1:6443
check "agent: the message names what --server needs" \
	grep -q -- '--server needs --token-file F, --ca-file F and --node-ip ADDR' "$work/err"
status "agent: --server and --pod-manifests together are a usage error" 2 \
	"$bin" agent --node n1 --server https://127.0.0.1:6443 --pod-manifests "$work"
echo "" >"$work/empty-token"
status "agent: an empty token file is refused" 1 "$bin" agent --node n1 \
	--server https://127.0.0.1:6443 --token-file "$work/empty-token" \
	--ca-file "$work/empty-token" --node-ip 127.0.1.1
status "agent --help" 0 "$bin" agent --help
check "agent --help names --registry-insecure" grep -q -- '--registry-insecure HOST:PORT' "$work/out"
check "agent --help names --server" grep -q -- '--server URL' "$work/out"

# up, down, get and delete: argument errors, before anything starts.
status "up --help" 0 "$bin" up --help
check "up --help names --ci and --nodes" grep -q -- '--ci' "$work/out"
status "up: --nodes 0 is a usage error" 2 "$bin" up --nodes 0 --data "$work/d"
check "up: the message names --nodes" grep -q -- '--nodes: expected 1 to 50, got "0"' "$work/err"
status "up: --nodes x is a usage error" 2 "$bin" up --nodes x --data "$work/d"
status "up: a bad --listen is a usage error" 2 "$bin" up --listen nowhere --data "$work/d"
status "up: a bad --timeout is a usage error" 2 "$bin" up --timeout soon --data "$work/d"
status "up: an extra argument is a usage error" 2 "$bin" up extra
check "up started nothing on usage errors" test ! -e "$work/d"
status "up: manifests with errors stop it before anything runs" 1 "$bin" up \
	--data "$work/d2" --manifests "$inv" --podman-socket "$work/none.sock"
check "up: the message says the manifests have errors" grep -q 'have errors' "$work/err"
check "up: no server was started" test ! -e "$work/d2/up.json"
status "down --help" 0 "$bin" down --help
status "down: an unknown option is a usage error" 2 "$bin" down --bogus
status "down with nothing recorded does nothing" 0 "$bin" down --data "$work/empty"
check "down says there was nothing" grep -q 'nothing to do' "$work/out"
status "get --help" 0 "$bin" get --help
check "get --help lists the resources" grep -q 'statefulsets (sts)' "$work/out"
status "get without a resource is a usage error" 2 "$bin" get
status "get of an unknown resource is a usage error" 2 "$bin" get widgets
check "get names the resources it knows" grep -q 'unknown resource "widgets"' "$work/err"
status "get -o bad is a usage error" 2 "$bin" get pods -o table
status "get -n with -A is a usage error" 2 "$bin" get pods -n a -A
status "get with no kubeconfig fails" 1 "$bin" get pods --data "$work/empty"
check "get names the missing kubeconfig" grep -q "$work/empty/kubeconfig" "$work/err"
printf 'current-context: x\n' >"$work/bad-kubeconfig"
status "get with a broken kubeconfig fails" 1 "$bin" get nodes --kubeconfig "$work/bad-kubeconfig"
check "get says what the kubeconfig lacks" grep -q 'context "x" not found' "$work/err"
status "delete of a deployment is a usage error" 2 "$bin" delete deployment web
status "delete pod without a name is a usage error" 2 "$bin" delete pod
status "delete -A is a usage error" 2 "$bin" delete pod x -A

# The GitOps commands: usage errors, and what they say without a server.
status "sync --help" 0 "$bin" sync --help
check "sync --help tells of sync status" grep -q 'stuurman sync status' "$work/out"
status "sync of something else is a usage error" 2 "$bin" sync now
status "sync status with an extra argument is a usage error" 2 "$bin" sync status x
status "history -o yaml is a usage error" 2 "$bin" history -o yaml
status "diff --timeout is a usage error" 2 "$bin" diff --timeout 3
status "rollback without REV is a usage error" 2 "$bin" rollback
check "rollback says where revisions are listed" grep -q 'stuurman history' "$work/err"
cat >"$work/closed-kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
KC
status "sync status without a server fails" 1 "$bin" sync status --kubeconfig "$work/closed-kubeconfig"
check "sync status names the endpoint" grep -q 'GET https://127.0.0.1:1/stuurman/sync' "$work/err"
check "sync status asks whether up runs" grep -q 'is `stuurman up` running?' "$work/err"
status "sync without a server fails" 1 "$bin" sync --kubeconfig "$work/closed-kubeconfig"
status "history without a server fails" 1 "$bin" history --kubeconfig "$work/closed-kubeconfig"
status "diff without a server exits 2, as kubectl diff" 2 "$bin" diff --kubeconfig "$work/closed-kubeconfig"
status "rollback without a server fails" 1 "$bin" rollback abcd --kubeconfig "$work/closed-kubeconfig"
check "rollback names the endpoint" grep -q 'POST https://127.0.0.1:1/stuurman/rollback' "$work/err"
status "history with no kubeconfig fails" 1 "$bin" history --data "$work/empty"

status "global --log-format json accepted" 0 "$bin" --log-format json version
status "bad --log-level is a usage error" 2 "$bin" --log-level loud version

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
