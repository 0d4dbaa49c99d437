# shellcheck shell=bash disable=SC2154
# Helpers the agent integration tests share; sourced, not run. A test sets
# passed=0, failed=0, status_dir (DATA/nodes/NODE/pods), node, agent_pid
# and p (its podman command) first.

# check NAME CMD...: counts CMD's success or failure under NAME.
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

# eventually SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# field POD EXPR: a Python expression on the pod's status (bound to s).
field() {
	python3 - "$status_dir/default_$1.json" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["status"]
print(eval(sys.argv[2]))
PY
}

# is POD EXPR WANT: whether EXPR on the pod's status prints WANT.
is() {
	[ "$(field "$1" "$2" 2>/dev/null)" = "$3" ]
}

# stop_agent: SIGTERM to the agent started as $agent_pid, and wait for it.
stop_agent() {
	if [ -n "$agent_pid" ]; then
		kill -TERM "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
		agent_pid=
	fi
}

# remove_node_pods: every Podman pod of the node. The agent's pods carry
# its node label, not the test's, so run.sh's own cleanup misses them.
remove_node_pods() {
	local ids
	ids=$("${p[@]}" pod ps -q --filter "label=stuurman.io/node=$node" 2>/dev/null)
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		"${p[@]}" pod rm -f -t 0 $ids >/dev/null 2>&1
	fi
}

# cleanup: the EXIT trap of a test that started nothing else.
cleanup() {
	stop_agent
	remove_node_pods
}
