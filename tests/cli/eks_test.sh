#!/usr/bin/env bash
# The issue's "done when" commands for the bundled EKS upgrade, and list/show, end to end.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

run list
expect_code 0 "list exits 0"
grep -qE '^eks/upgrade +Upgrade an Amazon EKS cluster one Kubernetes minor version' <<<"$out" && pass || fail "list names eks/upgrade with its summary" "$out"

run show eks/upgrade
expect_code 0 "show exits 0"
expect_out "  to                     version   optional" "show lists the parameters"
expect_out "IRREVERSIBLE: EKS cannot downgrade a control plane" "show marks the irreversible step"
expect_out "Preflight checks (all run before anything changes)" "show lists the preflight checks"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.21
expect_code 0 "the demo plan exits 0"
expect_out "control-plane                           changed" "the plan shows the control-plane step as a change"
expect_out "Plan succeeded (exit 0)" "the demo plan succeeds"
expect_out "Estimated duration 1h" "the demo plan estimates its duration"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.21 -o json
expect_code 0 "the demo plan with -o json exits 0"
last=$(tail -n 1 <<<"$out")
[ "$(jq -r '.event + " " + .status' <<<"$last")" = "run_finished succeeded" ] && pass ||
  fail "-o json ends with run_finished succeeded" "$last"
steps=$(jq -r 'select(.event == "step_finished") | "\(.step) \(.duration)"' <<<"$out" | wc -l)
[ "$steps" -ge 8 ] && pass || fail "every step finishes with a duration" "$steps step_finished events"

run plan eks/upgrade --sim examples/clusters/eks-1.20-nodes-behind.yaml --set to=1.21
expect_code 2 "nodes behind the control plane: the plan refuses (exit 2)"
expect_out "nothing was changed" "the refusal says nothing changed"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.23
expect_code 2 "a request that skips minors is refused (exit 2)"
expect_out "--set to=1.21, then --set to=1.22, then --set to=1.23" "the refusal gives the route"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.21 --scenario examples/scenarios/eks-pdb-blocks-drain.yaml
expect_code 4 "a drain blocked by a PDB fails and cannot be rolled back past the node group (exit 4)"
expect_out "PodDisruptionBudget shop/ledger" "the report names the blocking PodDisruptionBudget"
expect_out "is irreversible; rollback stops here. Recovery:" "the report prints the recovery text"

finish
