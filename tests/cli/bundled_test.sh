#!/usr/bin/env bash
# The five bundled playbooks, by their bundled names: each plans successfully on its example
# fixture, and refuses what its source document forbids (exit 2, nothing changed, a message that
# says why and what to do). The playbooks' own tests (tests/scripts) hold the details.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
MAJOR_PARAMS=(--set post_adopt_image_id=ami-03364d732f61fb1e2 --set upgrade_image_id=ami-0e7253eeb699eddca
              --set confirm=iam-roles,subnet-public-ips)

run list
for name in dkp/major-upgrade dkp/upgrade eks/upgrade kaptain/upgrade kkp/upgrade; do
  grep -q "^$name " <<<"$out" && pass || fail "refit list names $name" "$out"
done

plan_ok() {  # NAME FIXTURE ARGS...
  local name=$1 fixture=$2
  shift 2
  run plan "$name" --sim "$fixture" "$@"
  expect_code 0 "$name plans successfully on $fixture"
  expect_out "Plan succeeded (exit 0)" "$name reports success"
}
plan_ok eks/upgrade examples/clusters/eks-1.20.yaml --set to=1.21
plan_ok dkp/upgrade examples/clusters/dkp-2.1-fleet.yaml
plan_ok dkp/major-upgrade examples/clusters/konvoy-1.8.3.yaml "${MAJOR_PARAMS[@]}"
plan_ok kaptain/upgrade examples/clusters/kaptain-on-konvoy.yaml --set accept_pipeline_data_loss=true
plan_ok kkp/upgrade examples/clusters/kkp-2.21.yaml

refused() {  # WHAT TEXT NAME FIXTURE ARGS...
  local what=$1 text=$2 name=$3 fixture=$4
  shift 4
  run plan "$name" --sim "$fixture" "$@"
  expect_code 2 "$name refuses $what"
  expect_out "$text" "$name says why it refuses $what"
  expect_out "nothing was changed" "$name changes nothing when it refuses $what"
}
refused "a skipped EKS minor" "Run refit apply eks/upgrade once per hop: --set to=1.21, then --set to=1.22" \
  eks/upgrade examples/clusters/eks-1.20.yaml --set to=1.22
refused "a DKP upgrade the matrix does not list" "from 2.1.0, DKP upgrades to 2.2.0" \
  dkp/upgrade tests/scripts/fixtures/dkp-2.1.0-fleet.yaml --set to=2.1.1
refused "a Konvoy cluster that is not at 1.8.3" "Upgrade the cluster to Konvoy 1.8.3 first" \
  dkp/major-upgrade tests/scripts/fixtures/konvoy-1.8.2.yaml "${MAJOR_PARAMS[@]}"
refused "an upgrade without the data-loss acknowledgement" "accept_pipeline_data_loss=true" \
  kaptain/upgrade examples/clusters/kaptain-on-konvoy.yaml
refused "a KKP 2.22 upgrade with Docker user clusters" "these user clusters use Docker: batchz4m7w" \
  kkp/upgrade tests/scripts/fixtures/kkp-2.21-docker.yaml

finish
