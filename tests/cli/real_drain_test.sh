#!/usr/bin/env bash
# refit.drain through the Kubernetes API backend: draining a node of a served world evicts the same
# pods, through the eviction subresource, as the in-process run does, and a budget that forbids an
# eviction blocks the drain with the same message.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
PB=tests/lua/fixtures/drain_playbook.lua
FX=tests/lua/fixtures/drain.yaml
mutations() { jq -c 'select(.event == "mutation") | [.verb, .kind, .namespace, .name]' <<<"$out" | sort; }

start_sim_serve "$tmp" $FX --speed 200

run apply $PB --sim $FX --set node=node-d -o json
expect_code 0 "node-d drained in-process"
sim=$(mutations)
run apply $PB --kubeconfig "$KC" --context lab --set node=node-d --yes -o json
expect_code 0 "node-d drained through the API"
real=$(mutations)
[ -n "$real" ] && [ "$real" = "$sim" ] && pass || fail "the drains differ" "sim:  $sim" "real: $real"
grep -q '\["evict","Pod",' <<<"$real" && pass || fail "no pod was evicted through the eviction subresource" "$real"
left=$(kubectl --kubeconfig "$KC" get pods -A --field-selector spec.nodeName=node-d -o json |
       jq -r '[.items[].metadata.ownerReferences[0].kind] | sort | unique | join(",")')
[ "$left" = "DaemonSet,Node" ] && pass || fail "node-d keeps more than its DaemonSet and mirror (Node-owned) pods: $left"

run apply $PB --sim $FX --set node=node-b --set timeout=1m -o json
expect_code 4 "the budget blocks node-b in-process (the node stays cordoned)"
sim_message=$(jq -r 'select(.event == "run_finished") | .message' <<<"$out")
run apply $PB --kubeconfig "$KC" --context lab --set node=node-b --set timeout=1m --yes -o json
expect_code 4 "the budget blocks node-b through the API"
real_message=$(jq -r 'select(.event == "run_finished") | .message' <<<"$out")
[ -n "$sim_message" ] && [ "$sim_message" != null ] && [ "$real_message" = "$sim_message" ] && pass || fail "the blocked drains say different things" "sim:  $sim_message" "real: $real_message"

finish
