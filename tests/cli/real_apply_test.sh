#!/usr/bin/env bash
# refit against real clusters, here a world served by `refit sim serve`: apply --context, the
# confirmation, plan --context (from a snapshot), refit snapshot, and the mistakes around them.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
PB=examples/playbooks/restart-coredns.lua
FX=examples/clusters/eks-1.20.yaml

start_sim_serve "$tmp" $FX --speed 600
dump() { served_dump | jq -S 'del(.time)'; }
template_annotation() {
  kubectl --kubeconfig "$KC" get deployment coredns -n kube-system -o jsonpath='{.spec.template.metadata.annotations.refit\.dev/restart}'
}

# Off a terminal, apply asks for --yes and changes nothing.
before=$(dump)
jq -e '.clusters.demo' <<<"$before" >/dev/null && pass || fail "no dump from the served world" "$before"
run apply $PB --kubeconfig "$KC" --context demo </dev/null
expect_code 1 "apply off a terminal without --yes"
expect_err_exact "refit: refit apply changes real clusters and asks first, but this is not a terminal: pass --yes to apply without asking" "says to pass --yes"
[ "$(dump)" = "$before" ] && pass || fail "the refused apply changed the world"

# At a terminal, apply shows the plan (from a snapshot) and asks; anything but "yes" changes nothing.
at_terminal() { (sleep 2; printf '%s\n' "$1") | script -qec "$REFIT apply $PB --kubeconfig $KC --context demo --no-color" /dev/null; }
answer=$(at_terminal no)
grep -q "~ patch Deployment kube-system/coredns  (demo)" <<<"$answer" && pass || fail "the question comes after the plan" "$answer"
grep -q "Only 'yes' will be accepted to approve." <<<"$answer" && pass || fail "it asks for yes" "$answer"
grep -q "refit: not applied: nothing was changed" <<<"$answer" && pass || fail "'no' is refused" "$answer"
[ "$(dump)" = "$before" ] && pass || fail "answering no changed the world"

# A plan against the live cluster snapshots it and plans in a simulated copy: the cluster is untouched.
run plan $PB --kubeconfig "$KC" --context demo
expect_code 0 "plan --context"
expect_out "refit plan examples/restart-coredns  snapshot" "the plan says it runs on a snapshot"
expect_out "~ patch Deployment kube-system/coredns  (demo)" "the plan lists the patch"
[ "$(dump)" = "$before" ] && pass || fail "plan --context changed the served world"
ann=$(template_annotation) && [ -z "$ann" ] && pass || fail "plan --context restarted coredns (or kubectl failed): '$ann'"

# The real apply: the same mutations as the simulated one, and the world changed accordingly.
run apply $PB --sim $FX -o json
sim_mutations=$(jq -c 'select(.event == "mutation") | [.verb, .kind, .namespace, .name, .patch]' <<<"$out")
run apply $PB --kubeconfig "$KC" --context demo --yes -o json
expect_code 0 "apply --context --yes"
real_mutations=$(jq -c 'select(.event == "mutation") | [.verb, .kind, .namespace, .name, .patch]' <<<"$out")
[ -n "$real_mutations" ] && [ "$real_mutations" = "$sim_mutations" ] && pass ||
  fail "the real run's mutations differ from the simulated run's" "sim:  $sim_mutations" "real: $real_mutations"
expect_out '"world":"real"' "run_started says the world is real"
[ "$(template_annotation)" = "1" ] && pass || fail "coredns's template was not restarted: '$(template_annotation)'"
ready=$(kubectl --kubeconfig "$KC" get deployment coredns -n kube-system -o jsonpath='{.status.updatedReplicas}/{.spec.replicas}')
[ "$ready" = "2/2" ] && pass || fail "the rollout did not finish: $ready"

# A second apply restarts again: the playbook counts restarts.
run apply $PB --kubeconfig "$KC" --context demo --yes
expect_code 0 "a second apply"
[ "$(template_annotation)" = "2" ] && pass || fail "the second restart is not recorded: '$(template_annotation)'"

# refit snapshot saves the cluster as a fixture, Secret values redacted; a plan runs on it.
kubectl --kubeconfig "$KC" apply --server-side -f - >/dev/null <<'YAML'
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "kube-system"},
 "stringData": {"token": "TOKEN-5f2a9c81"}, "data": {"key": "VE9LRU4tNWYyYTljODE="}}
YAML
run snapshot --kubeconfig "$KC" --context demo -o "$tmp/snap.yaml"
expect_code 0 "refit snapshot"
expect_err "refit: wrote $tmp/snap.yaml: 1 cluster," "it says what it wrote"
[ "$(stat -c %a "$tmp/snap.yaml")" = "600" ] && pass || fail "the snapshot is not private (0600)"
grep -q "name: coredns" "$tmp/snap.yaml" && pass || fail "the snapshot lacks the cluster's objects"
grep -q "name: creds" "$tmp/snap.yaml" && pass || fail "the snapshot lacks the Secret"
! grep -q -e "TOKEN-5f2a9c81" -e "$(printf TOKEN-5f2a9c81 | base64)" "$tmp/snap.yaml" && pass || fail "the snapshot holds a Secret's value"
run plan $PB --sim "$tmp/snap.yaml"
expect_code 0 "a plan from the saved snapshot"
expect_out "~ patch Deployment kube-system/coredns  (demo)" "it plans the same patch"

# Mistakes: an unknown context lists the ones that exist; a server that is gone is named.
run apply $PB --kubeconfig "$KC" --context prod --yes
expect_code 1 "an unknown context"
expect_err "context \"prod\" not found in $KC; contexts: demo" "lists the contexts"
stop_sim_serve
run apply $PB --kubeconfig "$KC" --context demo --yes
expect_code 1 "a server that does not answer"
expect_err "cluster demo (context demo, http://127.0.0.1:" "names the cluster, context and server"

finish
