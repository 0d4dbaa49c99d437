# Helpers the agent integration tests share; sourced, not run. A test sets
# passed=0, failed=0 and status_dir (DATA/nodes/NODE/pods) first.

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
