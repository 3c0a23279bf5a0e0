#!/usr/bin/env bash
# refit sim serve from the command line: a world of several clusters behind one port and one
# kubeconfig, its own default kubeconfig, and its errors (fixture, port, kubeconfig path, options).
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_code=$?
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT
export KUBECACHEDIR="$tmp/kube-cache"

# wait_for_file FILE: at most 20 s, while the server runs.
wait_for_file() {
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# run_bounded ARGS...: run(), for a server that must refuse to start; a server that starts after all
# is stopped after 60 s (exit 124) instead of hanging the test.
run_bounded() {
  timeout 60 "$REFIT" "$@" >"$tmp/run.out" 2>"$tmp/run.err"
  code=$?
  out=$(cat "$tmp/run.out") err=$(cat "$tmp/run.err")
}

kube() {
  local o e
  o=$(mktemp) e=$(mktemp)
  kubectl --kubeconfig "$kc" "$@" >"$o" 2>"$e"
  code=$?
  out=$(cat "$o") err=$(cat "$e")
  rm -f "$o" "$e"
}

# --- a fleet: four clusters, one kubeconfig ----------------------------------------------------------

kc="$tmp/fleet.kubeconfig"
"$REFIT" sim serve examples/clusters/dkp-2.1-fleet.yaml --speed 30 --kubeconfig-out "$kc" >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
wait_for_file "$kc" && pass || fail "the fleet is served" "$(cat "$tmp/out" "$tmp/err")"
port=$(sed -n 's|.*server: http://127.0.0.1:\([0-9]*\)/clusters/dkp-mgmt|\1|p' "$kc")

[ "$(cat "$tmp/out")" = "Serving examples/clusters/dkp-2.1-fleet.yaml on http://127.0.0.1:$port (the virtual clock runs at 30x the wall clock)
  dkp-mgmt  http://127.0.0.1:$port/clusters/dkp-mgmt  v1.21.6  (current context)
  prod-east  http://127.0.0.1:$port/clusters/prod-east  v1.21.6
  prod-west  http://127.0.0.1:$port/clusters/prod-west  v1.21.6
  staging-1  http://127.0.0.1:$port/clusters/staging-1  v1.21.6
Kubeconfig: $kc
  kubectl --kubeconfig $kc get nodes
Ctrl-C stops the server." ] && pass || fail "the banner names every cluster and the kubeconfig" "$(cat "$tmp/out")"

kube config get-contexts -o name
expect_code 0 "the kubeconfig reads"
[ "$out" = "dkp-mgmt
prod-east
prod-west
staging-1" ] && pass || fail "one context per cluster, named after it" "$out"
kube config current-context
[ "$out" = "dkp-mgmt" ] && pass || fail "the default cluster is the current context" "$out"
kube config view -o jsonpath='{range .clusters[*]}{.name} {.cluster.server} {.cluster.extensions[0].name} {.cluster.extensions[0].extension.speed}{"\n"}{end}'
[ "$out" = "dkp-mgmt http://127.0.0.1:$port/clusters/dkp-mgmt refit.dev/sim 30
prod-east http://127.0.0.1:$port/clusters/prod-east refit.dev/sim 30
prod-west http://127.0.0.1:$port/clusters/prod-west refit.dev/sim 30
staging-1 http://127.0.0.1:$port/clusters/staging-1 refit.dev/sim 30" ] && pass ||
  fail "each cluster entry has its server and the refit.dev/sim extension with the speed" "$out"

for context in prod-east staging-1; do
  kube --context "$context" get nodes -o name
  expect_code 0 "get nodes in $context"
  [ "$(grep -c '^node/' <<<"$out")" = "$(curl -s "http://127.0.0.1:$port/refit/v1/dump" |
    jq --arg c "$context" '.clusters[$c].objects["core/Node"] | length')" ] && pass ||
    fail "each context sees its own cluster's nodes ($context)" "$out"
done
# Cluster API kinds have no CustomResourceDefinition in this world: discovery serves them anyway.
kube get machines.cluster.x-k8s.io -n staging-m3n9d -o name
expect_code 0 "custom kinds without a CRD are served"
[ "$(grep -c '^machine.cluster.x-k8s.io/staging-1-' <<<"$out")" = 4 ] && pass || fail "staging-1's four Machines" "$out"

curl -s -o "$tmp/nothere" -w '%{http_code}' "http://127.0.0.1:$port/api/v1/nodes" >"$tmp/code"
[ "$(cat "$tmp/code")" = 404 ] && [ "$(jq -r .message "$tmp/nothere")" = "the server could not find the requested resource: refit sim serve serves each cluster of the world under its own path (/clusters/dkp-mgmt, /clusters/prod-east, /clusters/prod-west, /clusters/staging-1)" ] &&
  pass || fail "a path outside /clusters/<name> says where the clusters are" "$(cat "$tmp/code" "$tmp/nothere")"

# --- the port is taken -----------------------------------------------------------------------------

run_bounded sim serve examples/clusters/eks-1.20.yaml --port "$port" --kubeconfig-out "$tmp/second"
expect_code 1 "a taken port is an error"
expect_err_exact "refit: cannot listen on 127.0.0.1:$port: the port is taken or not allowed (--port 0 picks a free one)" \
  "the error names the address and the way out"
[ ! -e "$tmp/second" ] && pass || fail "no kubeconfig for a server that does not run"

stop_server
[ "$server_code" = 0 ] && pass || fail "the fleet server stops cleanly" "exit $server_code"

# --- the default kubeconfig: in $TMPDIR, removed at the end -------------------------------------------

mkdir "$tmp/t"
TMPDIR="$tmp/t" "$REFIT" sim serve examples/clusters/eks-1.20.yaml --speed 0 >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
kc="$tmp/t/refit-sim-serve-$server_pid.kubeconfig"
wait_for_file "$kc" && pass || fail "without --kubeconfig-out the kubeconfig goes to \$TMPDIR" "$(ls "$tmp/t")" "$(cat "$tmp/err")"
grep -qxF "Serving examples/clusters/eks-1.20.yaml on http://127.0.0.1:$(sed -n 's|.*server: http://127.0.0.1:\([0-9]*\)/clusters/demo|\1|p' "$kc") (the virtual clock stands still (--speed 0): only writes make the world react)" "$tmp/out" &&
  pass || fail "--speed 0 is explained" "$(cat "$tmp/out")"
stop_server
[ ! -e "$kc" ] && pass || fail "the server removes the kubeconfig it chose"

# --- errors before serving -------------------------------------------------------------------------

run sim serve "$tmp/none.yaml" --kubeconfig-out "$tmp/kc"
expect_code 1 "a missing fixture is an error"
expect_err_exact "refit: $tmp/none.yaml: cannot read fixture file" "the error names the fixture"

run_bounded sim serve examples/clusters/eks-1.20.yaml --kubeconfig-out "$tmp/no/such/dir/kc"
expect_code 1 "a kubeconfig in a missing directory is an error"
expect_err_exact "refit: cannot write the kubeconfig $tmp/no/such/dir/kc: No such file or directory (does its directory exist?)" \
  "the error names the kubeconfig path"

run sim serve examples/clusters/eks-1.20.yaml --speed -1
expect_code 1 "a negative speed is a usage error"
expect_err "--speed: Value -1 not in range" "the usage error names --speed"

finish
