# Helpers for the CLI tests: run refit, capture output and exit code, assert exactly.
set -u
REFIT=${REFIT:-build/refit}
failures=0
passes=0

# run ARGS...: sets $out (stdout), $err (stderr), $code
run() {
  local o e
  o=$(mktemp) e=$(mktemp)
  "$REFIT" "$@" >"$o" 2>"$e"
  code=$?
  out=$(cat "$o") err=$(cat "$e")
  rm -f "$o" "$e"
}

pass() { passes=$((passes + 1)); }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; shift; for line in "$@"; do echo "      $line"; done; }

expect_code() { [ "$code" = "$1" ] && pass || fail "$2: expected exit $1, got $code" "stdout: ${out:0:600}" "stderr: ${err:0:600}"; }
expect_out() { grep -qF -- "$1" <<<"$out" && pass || fail "$2: stdout lacks '$1'" "stdout: ${out:0:800}"; }
expect_err() { grep -qF -- "$1" <<<"$err" && pass || fail "$2: stderr lacks '$1'" "stderr: ${err:0:800}"; }
expect_err_exact() { [ "$err" = "$1" ] && pass || fail "$2: stderr differs" "expected: $1" "got:      $err"; }

finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# start_sim_serve DIR FIXTURE [ARGS...]: serves a simulated world on an ephemeral loopback port and
# waits (at most 20 s) for its kubeconfig, written once the server listens: sets $KC (the
# kubeconfig) and $SERVE_PID; the server's stdout and stderr go to DIR/serve.log.
# stop_sim_serve ends it with SIGTERM and sets $SERVE_CODE; call it from an EXIT trap too.
start_sim_serve() {
  local dir=$1 fixture=$2
  shift 2
  KC="$dir/kubeconfig-$RANDOM"
  "$REFIT" sim serve "$fixture" --port 0 --kubeconfig-out "$KC" "$@" >"$dir/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 200); do
    [ -s "$KC" ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "refit sim serve $fixture did not write its kubeconfig" "$(cat "$dir/serve.log")"
  finish
  exit 1
}
# served_url: the served world's base URL (its clusters are <base>/clusters/<name>), from $KC.
served_url() { sed -n 's/^ *server: //p' "$KC" | head -1 | sed 's|/clusters/.*||'; }
# served_dump [CURL_ARGS...]: the whole served world as JSON (GET /refit/v1/dump); fails on an HTTP error.
served_dump() { curl -sf "$@" "$(served_url)/refit/v1/dump"; }
# kubeconfig_field NAME: the first value of NAME (e.g. client-key-data) in $KC.
kubeconfig_field() { sed -n "s/^ *$1: //p" "$KC" | head -1; }
# served_credentials DIR: sets CURL_CREDS to curl's options for the credentials of $KC (--tls: its CA,
# and its client certificate and key, or its token), written into files in DIR (mode 0600); none
# for a plain HTTP world.
served_credentials() {
  local dir=$1
  CURL_CREDS=()
  [ -n "$(kubeconfig_field certificate-authority-data)" ] || return 0
  (umask 077
   kubeconfig_field certificate-authority-data | base64 -d >"$dir/ca.pem"
   kubeconfig_field client-certificate-data | base64 -d >"$dir/client.pem"
   kubeconfig_field client-key-data | base64 -d >"$dir/client.key")
  CURL_CREDS=(--cacert "$dir/ca.pem")
  if [ -n "$(kubeconfig_field token)" ]; then
    CURL_CREDS+=(-H "Authorization: Bearer $(kubeconfig_field token)")
  else
    CURL_CREDS+=(--cert "$dir/client.pem" --key "$dir/client.key")
  fi
}

# normalize_world FILE: a world dump without what may differ between two runs of the same playbook on
# the same fixture: when things happened (a served world's clock follows the wall clock) and
# identities drawn from the world's random generator, drawn in another order: instance ids, boot ids,
# container ids, and the suffix a ReplicaSet (DaemonSet, Job) gives the name of each pod it makes,
# which makes a pod's name say nothing but "one of X's pods" (`X-*`). Each kind's objects are then in
# sorted order, so that two pods of one ReplicaSet compare as a set, whichever random name each drew.
normalize_world() {
  jq -S 'def owned_pod_name:
           ([.metadata.ownerReferences // [] | .[] | select(.controller == true) | .name][0]) as $owner
           | if .kind == "Pod" and $owner != null and (.metadata.name | startswith($owner + "-"))
                and (.metadata.name | length) == ($owner | length) + 6
             then .metadata.name = $owner + "-*" else . end;
         del(.time)
         | walk(if type == "object" then
             del(.creationTimestamp, .resourceVersion, .uid, .lastTransitionTime, .lastUpdateTime,
                 .lastHeartbeatTime, .lastProbeTime, .startedAt, .startTime, .createdAt, .modifiedAt,
                 .completionTimestamp, .startTimestamp, .expiration, .lastUpdatedTimestamp,
                 .instanceId, .bootID, .machineID, .systemUUID, .providerID, .finishAt, .containerID)
           else . end)
         | if .clusters then
             .clusters[] |= (if .objects then .objects |= with_entries(.value |= (map(owned_pod_name) | sort)) else . end)
           else . end' "$1"
}

# normalize_served_world FILE: normalize_world, and without pods' placement (nodeName, host and pod
# IPs). Where a rescheduled pod lands in a served world depends on the wall clock (which new node is
# Ready when the client's eviction reaches the server), so two runs of one playbook, or a served and
# an in-process run, may place it on different nodes.
normalize_served_world() {
  normalize_world "$1" |
    jq -S 'if .clusters then .clusters[] |= (if .objects then .objects |= with_entries(.value |= (map(
             if .kind == "Pod" then del(.spec.nodeName, .status.hostIP, .status.hostIPs, .status.podIP, .status.podIPs)
             else . end) | sort)) else . end) else . end'
}

# same_served_world IN_PROCESS SERVED WHAT: passes when the world a playbook left in a served world
# (SERVED, its dump) is the one it left in process (IN_PROCESS, --save-world), as
# normalize_served_world compares them; else fails WHAT with the start of the difference.
same_served_world() {
  normalize_served_world "$1" >"$1.normal"
  normalize_served_world "$2" >"$2.normal"
  if diff -u "$1.normal" "$2.normal" >"$2.diff"; then pass; else fail "$3" "$(head -40 "$2.diff")"; fi
}

# world_now: the served world (served_dump), normalized. Needs $tmp.
world_now() {
  served_dump >"$tmp/world-now.json" && normalize_world "$tmp/world-now.json"
}

# only_run STATE_DIR: the id of the one run journaled there.
only_run() {
  local files=("$1"/runs/*.jsonl)
  [ "${#files[@]}" = 1 ] && [ -f "${files[0]}" ] || { echo "not one journal in $1/runs: ${files[*]}" >&2; return 1; }
  basename "${files[0]}" .jsonl
}

stop_sim_serve() {
  if [ -n "${SERVE_PID:-}" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_CODE=$?
    SERVE_PID=
  fi
}
