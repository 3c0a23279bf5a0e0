#!/usr/bin/env bash
# The multi-cluster bundled playbooks applied for real (--inventory or --context) to worlds served by
# `refit sim serve`: their vendor CLIs reached through the server's shims, their managed clusters and
# seeds through the kubeconfig Secrets the server serves (at its URLs, with its credentials). Each
# must end in the same world as the same playbook applied in process to the same fixture.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
REFIT=$(realpath "$REFIT")
root=$PWD
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
SPEED=2000  # a DKP fleet upgrade of 3h40m of the world's time takes about 7 s

# fleet_apply NAME PLAYBOOK FIXTURE TARGET-ARGS -- PARAMS...: applies PLAYBOOK in process (--sim) and
# for real to FIXTURE served (TARGET-ARGS: --context CTX or --inventory FILE; SERVE_ARGS: more
# options of refit sim serve), each from its own scratch directory (playbooks write files there, and
# a playbook may run a tool by a relative path, as kkp/upgrade runs ./kubermatic-installer: the real
# run's directory holds the shims); compares the worlds. Sets $out, $err, $code of the real run.
fleet_apply() {
  local name=$1 playbook=$2 fixture=$root/$3
  shift 3
  local target=() params=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do target+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  params=("$@")
  local dir=$tmp/$name
  mkdir -p "$dir/in-process"
  (cd "$dir/in-process" && run apply "$playbook" --sim "$fixture" "${params[@]}" --save-world "$dir/in-process.json" &&
     [ "$code" = 0 ]) || fail "$name: the in-process apply failed"

  start_sim_serve "$dir" "$fixture" --speed $SPEED --shims "$dir/bin" ${SERVE_ARGS:-}
  target=("${target[@]//@KC@/$KC}")
  if [ -n "${INVENTORY:-}" ]; then printf '%s' "${INVENTORY//@KC@/$KC}" >"$dir/inventory.yaml"; fi
  target=("${target[@]//@INVENTORY@/$dir/inventory.yaml}")
  pushd "$dir/bin" >/dev/null || exit 1
  PATH="$dir/bin:$PATH" run apply "$playbook" "${target[@]}" "${params[@]}" --yes -o json -v
  popd >/dev/null || exit 1
  printf "%s\n" "$out" >"$dir/run.json"
  expect_code 0 "$name applied for real to the served world"
  [ "$(jq -r 'select(.event == "run_finished") | .status' <<<"$out")" = succeeded ] && pass ||
    fail "$name: the run did not succeed" "$(jq -r 'select(.event == "run_finished") | .message' <<<"$out")"
  served_credentials "$dir"
  served_dump "${CURL_CREDS[@]}" >"$dir/served.json" || fail "$name: no dump of the served world"
  stop_sim_serve
  same_served_world "$dir/in-process.json" "$dir/served.json" "$name: the served world differs from the in-process one"
}
commands() { jq -r 'select(.event == "command" and .mutates) | .argv | join(" ")' <<<"$out"; }
step_status() { jq -r --arg step "$1" 'select(.event == "step_finished" and .step == $step) | .status' <<<"$out"; }

# dkp/upgrade over HTTPS with client certificates, through an inventory that names the management
# cluster as the operator does (not as Cluster API does): the playbook finds its own Cluster through
# the kubeconfig that reaches it, and each managed cluster through its CAPI kubeconfig Secret, served
# at the served world's URL with its CA and client certificate.
INVENTORY='clusters:
  management:
    context: dkp-mgmt
    kubeconfig: @KC@
' SERVE_ARGS=--tls fleet_apply dkp dkp/upgrade examples/clusters/dkp-2.1-fleet.yaml --inventory @INVENTORY@
grep -q "^dkp update nodepool aws staging-1-md-0 -c staging-1 --kubernetes-version v1.22.8" <<<"$(commands)" && pass ||
  fail "dkp: the node pools were not updated through the dkp shim" "$(commands)"
[ "$(step_status verify-fleet)" = succeeded ] && pass ||
  fail "dkp: verify-fleet did not read the managed clusters through their kubeconfig Secrets"
jq -e '[.clusters[] | .version] == ["v1.22.8", "v1.22.8", "v1.22.8", "v1.22.8"]' "$tmp/dkp/served.json" >/dev/null && pass ||
  fail "dkp: the served fleet is not at Kubernetes v1.22.8"
# The served Secrets hold the served client key; the run prints it nowhere, not even with -v.
key=$(KC=$(echo "$tmp"/dkp/kubeconfig-*) kubeconfig_field client-key-data)
[ -n "$key" ] && ! grep -qF "$key" <<<"$out$err" && pass || fail "dkp: the served client key appears in the run's output"

# dkp/major-upgrade (Konvoy 1.8 adopted by Cluster API), one cluster, --context.
fleet_apply konvoy dkp/major-upgrade examples/clusters/konvoy-1.8.3.yaml --kubeconfig @KC@ --context konvoy-prod -- \
  --set post_adopt_image_id=ami-03364d732f61fb1e2 --set upgrade_image_id=ami-0e7253eeb699eddca \
  --set confirm=iam-roles,subnet-public-ips
grep -q "^dkp adopt cluster aws" <<<"$(commands)" && pass || fail "konvoy: dkp adopt did not run through the shim" "$(commands)"

# kaptain/upgrade, one cluster, --context.
fleet_apply kaptain kaptain/upgrade examples/clusters/kaptain-on-konvoy.yaml --kubeconfig @KC@ --context konvoy -- \
  --set accept_pipeline_data_loss=true
grep -q "^kubectl kudo upgrade --instance kaptain" <<<"$(commands)" && pass ||
  fail "kaptain: kubectl kudo upgrade did not run through the shim" "$(commands)"

# kkp/upgrade over HTTPS with token authentication, through an inventory: the seeds are reached
# through the kubeconfigs of their Seed objects, served with the served CA and token.
INVENTORY='clusters:
  master:
    context: kkp-master
    kubeconfig: @KC@
' SERVE_ARGS="--tls --token-auth" fleet_apply kkp kkp/upgrade examples/clusters/kkp-2.21.yaml --inventory @INVENTORY@
grep -q "^./kubermatic-installer deploy kubermatic-seed .* --kube-context seed-us" <<<"$(commands)" && pass ||
  fail "kkp: the seed stack was not deployed through the installer shim" "$(commands)"
[ "$(step_status wait-seeds)" = succeeded ] && pass ||
  fail "kkp: wait-seeds did not read the seeds through their kubeconfig Secrets"
token=$(KC=$(echo "$tmp"/kkp/kubeconfig-*) kubeconfig_field token)
[ -n "$token" ] && ! grep -qF "$token" <<<"$out$err" && pass || fail "kkp: the served token appears in the run's output"

finish
