#!/usr/bin/env bash
# Which world a run stands on: --sim, --context or --inventory, and the mistakes between them.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run apply eks/upgrade --set to=1.21
expect_code 1 "apply without a world is refused"
expect_err_exact "refit: which world? --sim FIXTURE rehearses in a simulated one (examples/clusters/ has some); --context CTX (or --inventory FILE) applies to real clusters" "it names both kinds of world"

run apply eks/upgrade --set to=1.21 --sim examples/clusters/eks-1.20.yaml --context prod
expect_code 1 "--sim with --context is refused"
expect_err "give one or the other" "it says to choose"

run apply eks/upgrade --set to=1.21 --context prod --inventory "$tmp/none.yaml"
expect_code 1 "--context with --inventory is refused"
expect_err_exact "refit: --context names one cluster and --inventory several: give one or the other" "exact message"

run apply eks/upgrade --set to=1.21 --inventory "$tmp/none.yaml" --yes
expect_code 1 "a missing inventory file"
expect_err_exact "refit: $tmp/none.yaml: cannot read the inventory file" "names the file"

cat >"$tmp/inv.yaml" <<'YAML'
clusters:
  mgmt:
    context: admin@mgmt
  seed-eu:
    context: seed-eu
    default: yes
    colour: red
YAML
run apply eks/upgrade --set to=1.21 --inventory "$tmp/inv.yaml" --yes
expect_code 1 "an unknown inventory field"
expect_err_exact "refit: $tmp/inv.yaml:7: clusters.seed-eu.colour: unknown field (known: context, kubeconfig, default)" "names file, line and field"

cat >"$tmp/inv.yaml" <<'YAML'
clusters:
  mgmt:
    context: admin@mgmt
  Seed_EU:
    context: seed-eu
YAML
run apply eks/upgrade --set to=1.21 --inventory "$tmp/inv.yaml" --yes
expect_code 1 "a cluster name that is not a Kubernetes name"
expect_err "$tmp/inv.yaml:4: clusters.Seed_EU: a cluster name is lowercase letters" "names the line"

cat >"$tmp/inv.yaml" <<'YAML'
clusters:
  mgmt:
    context: admin@mgmt
  again:
    context: admin@mgmt
YAML
run apply eks/upgrade --set to=1.21 --inventory "$tmp/inv.yaml" --yes
expect_code 1 "one context under two names"
expect_err "clusters.again.context: admin@mgmt is cluster mgmt already" "names both"

cat >"$tmp/inv.yaml" <<'YAML'
clusters:
  mgmt: { context: admin@mgmt, default: true }
  seed: { context: seed, default: true }
YAML
run apply eks/upgrade --set to=1.21 --inventory "$tmp/inv.yaml" --yes
expect_code 1 "two defaults"
expect_err "clusters.seed.default: mgmt is the default already: one cluster only" "names the first default"

run apply eks/upgrade --set to=1.21 --sim examples/clusters/eks-1.20.yaml --scenario examples/scenarios/eks-pdb-blocks-drain.yaml --yes
expect_code 4 "--yes is harmless in a simulated world"

finish
