#!/usr/bin/env bash
# Plans from live clusters follow ctx:connect: a playbook that reaches managed clusters or seeds
# through kubeconfig Secrets gets, in `refit plan --context` / `--inventory`, each such cluster
# snapshotted (read-only) into the simulated world it plans in, when it reaches it. Against worlds
# served by `refit sim serve` (whose kubeconfig Secrets reach the served clusters), the plan must be
# the plan of the same fixture (`refit plan --sim`), and the served world must not change.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
DKP=examples/clusters/dkp-2.1-fleet.yaml
KKP=examples/clusters/kkp-2.21.yaml
FLEET=tests/cli/files/fleet-restart.lua

# The events of a plan without what differs between a plan from a fixture and one from a snapshot of
# the world the fixture made: run_started (which world), times, and the durations the world's random
# generator draws (the fixture's product models drew from it while loading, a snapshot's world did not).
plan_events() { jq -c 'select(.event != "run_started") | del(.time, .duration, .waited)' <<<"$out"; }
# The preflight's events, without those of check $1.
checks_without() {
  jq -sc --arg skip "$1" '[foreach .[] as $e (null; if $e.event == "check_started" then $e.check else . end; [., $e])]
    | .[] | select(.[1].phase == "check" or (.[1].event | startswith("check_"))) | select(.[0] != $skip)
    | .[1] | del(.time, .traceback)' <<<"$out"
}
check_error() { jq -r --arg check "$1" 'select(.event == "check_failed" and .check == $check) | .error' <<<"$out"; }
same() {  # WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass; else fail "$1" "$(diff <(echo "$2") <(echo "$3") | head -20)"; fi
}

# --- A fleet playbook: the managed clusters of a DKP management cluster, over HTTPS with a token ---
start_sim_serve "$tmp" $DKP --tls --token-auth --speed 100
run plan $FLEET --sim $DKP -o json
expect_code 0 "the fleet playbook plans on the fixture"
sim=$(plan_events)
run plan $FLEET --kubeconfig "$KC" --context dkp-mgmt -o json
expect_code 0 "the fleet playbook plans from a snapshot of the management cluster"
[ "$(jq -r 'select(.event == "run_started") | .world' <<<"$out")" = snapshot ] && pass || fail "the plan is not from a snapshot"
same "the plan from the served world differs from the plan of its fixture" "$sim" "$(plan_events)"
mutated=$(jq -r 'select(.event == "mutation") | "\(.cluster) \(.verb) \(.kind) \(.namespace)/\(.name)"' <<<"$out")
same "the plan does not restart the managed clusters' Deployments" \
  "$(printf '%s\n' "prod-east patch Deployment production-x7k2p/ledger-exporter" "prod-west patch Deployment production-x7k2p/ledger-exporter")" \
  "$mutated"
served_credentials "$tmp"
restarted=$(curl -sf "${CURL_CREDS[@]}" "$(served_url)/clusters/prod-east/apis/apps/v1/namespaces/production-x7k2p/deployments/ledger-exporter" |
  jq -r '.spec.template.metadata.annotations["refit.dev/restart"] // "none"')
[ "$restarted" = none ] && pass || fail "the plan changed the served cluster prod-east (restart annotation: $restarted)"

# --- dkp/upgrade through an inventory that names the management cluster otherwise ---
# Every preflight check reads the managed clusters (through their CAPI kubeconfig Secrets) as in the
# plan of the fixture. A snapshot holds Kubernetes objects only: the world made of it has no model
# of the dkp CLI (the operator's), whose check fails and says so.
printf 'clusters:\n  management:\n    context: dkp-mgmt\n    kubeconfig: %s\n' "$KC" >"$tmp/inventory.yaml"
run plan dkp/upgrade --sim $DKP -o json
expect_code 0 "dkp/upgrade plans on the fixture"
sim=$(checks_without dkp-cli)
run plan dkp/upgrade --inventory "$tmp/inventory.yaml" -o json
expect_code 2 "dkp/upgrade from a snapshot stops at the dkp CLI check"
same "dkp/upgrade's preflight from the served world differs from the fixture's" "$sim" "$(checks_without dkp-cli)"
grep -q '"check":"custom-apps-compatible"' <<<"$sim" && pass || fail "the comparison holds no check that reads the managed clusters"
line=$(grep -n '"dkp version failed' scripts/dkp/upgrade.lua | cut -d: -f1)
same "the dkp CLI check says something else" \
  "scripts/dkp/upgrade.lua:$line: dkp version failed (exit 127: refit: the simulated world has no model of 'dkp' (it models: aws, eksctl, velero)): install the dkp CLI of DKP 2.2.0 and put it on the PATH" \
  "$(check_error dkp-cli)"
stop_sim_serve

# --- kkp/upgrade: the seeds through the kubeconfigs of their Seed objects ---
start_sim_serve "$tmp" $KKP --speed 100
statuses() { jq -c 'select(.event == "check_passed" or .event == "check_failed") | select(.check != "kkp-master") | [.event, .check]' <<<"$out"; }
run plan kkp/upgrade --sim $KKP -o json
expect_code 0 "kkp/upgrade plans on the fixture"
sim=$(statuses)
run plan kkp/upgrade --kubeconfig "$KC" --context kkp-master -o json
expect_code 2 "kkp/upgrade from a snapshot stops at the installer"
same "kkp/upgrade's checks from the served world differ from the fixture's" "$sim" "$(statuses)"
grep -q '"seeds-healthy"' <<<"$sim" && grep -q '"user-clusters"' <<<"$sim" && pass ||
  fail "the comparison holds no check that reads the seeds"
grep -qF "the simulated world has no model of './kubermatic-installer' (it models: aws, eksctl, velero)" <<<"$(check_error kkp-master)" &&
  pass || fail "the installer check says something else" "$(check_error kkp-master)"

finish
