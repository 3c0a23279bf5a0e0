#!/usr/bin/env bash
# A whole bundled playbook applied for real (--context) to a world served by `refit sim serve`, its
# tools (aws, eksctl) reached through the shims the server writes: it must end in the same world as
# the same playbook applied in-process to the same fixture.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
FX=examples/clusters/eks-1.20.yaml

run apply eks/upgrade --sim $FX --set to=1.21 --save-world "$tmp/in-process.json"
expect_code 0 "the in-process apply"

start_sim_serve "$tmp" $FX --speed 2000 --shims "$tmp/bin"
[ -x "$tmp/bin/aws" ] && [ -x "$tmp/bin/eksctl" ] && pass || fail "the server wrote no aws and eksctl shims"
PATH="$tmp/bin:$PATH" run apply eks/upgrade --kubeconfig "$KC" --context demo --set to=1.21 --yes -o json
expect_code 0 "eks/upgrade applied for real to the served world"
jq -e 'select(.event == "run_finished") | .status == "succeeded"' <<<"$out" >/dev/null && pass || fail "the run did not succeed"
commands=$(jq -r 'select(.event == "command" and .mutates) | .argv | join(" ")' <<<"$out")
grep -q "^aws eks update-cluster-version --name demo --kubernetes-version 1.21" <<<"$commands" && pass ||
  fail "the control plane update did not run through the aws shim" "$commands"
served_dump >"$tmp/served.json"

same_served_world "$tmp/in-process.json" "$tmp/served.json" "the served world differs from the in-process one"
jq -e '.cloud.eks.clusters.demo.version == "1.21"' "$tmp/served.json" >/dev/null && pass ||
  fail "the served world's control plane is not at 1.21"

run plan eks/upgrade --kubeconfig "$KC" --context demo --set to=1.21 --save-world "$tmp/plan.json"
expect_code 1 "--save-world with plan --context is refused"
expect_err "--save-world saves a world made from a fixture (--sim); a snapshot's world holds the live clusters' Secret values" "says why"
run apply eks/upgrade --kubeconfig "$KC" --context demo --set to=1.21 --yes --save-world "$tmp/apply.json"
expect_code 1 "--save-world with apply --context is refused"
expect_err "--save-world saves a simulated world (--sim); against real clusters, refit snapshot reads them" "says why"
[ ! -e "$tmp/plan.json" ] && [ ! -e "$tmp/apply.json" ] && pass || fail "a refused --save-world wrote a file"

finish
