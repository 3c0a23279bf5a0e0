#!/usr/bin/env bash
# refit paths: a product's supported upgrades and the route between two versions, from the data
# bundled at scripts/<product>/data/paths.yaml (the rules: docs/paths.md).
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

expect_out_exact() { [ "$out" = "$1" ] && pass || fail "$2: stdout differs" "expected: $1" "got:      $out"; }

run paths dkp 1.8.4 2.2.0
expect_code 0 "a route exists: exit 0"
expect_out_exact "DKP 1.8.4 -> 2.2.0: 2 hops
  1. 1.8.4 -> 2.1.1
  2. 2.1.1 -> 2.2.0" "DKP's matrix has no 1.8.4 -> 2.2.0 row: two hops, through the higher 2.1 release"

run paths kkp 2.20.3 2.22.0
expect_code 0 "a KKP route exists"
expect_out_exact "KKP 2.20.3 -> 2.22.0: 3 hops
  1. 2.20.3 -> 2.20.11
  2. 2.20.11 -> 2.21.12
  3. 2.21.12 -> 2.22.0" "KKP moves to the latest patch before each next minor"

run paths eks v1.20.4 1.23
expect_code 0 "an EKS route exists"
expect_out_exact "EKS 1.20 -> 1.23: 3 hops
  1. 1.20 -> 1.21   refit apply eks/upgrade --set to=1.21
  2. 1.21 -> 1.22   refit apply eks/upgrade --set to=1.22
  3. 1.22 -> 1.23   refit apply eks/upgrade --set to=1.23" "EKS: one minor per hop, each with the command that runs it"

run paths kaptain 1.2.0-1.0.0 1.2.0-1.1.0
expect_code 0 "Kaptain's one documented upgrade"
expect_out_exact "Kaptain 1.2.0-1.0.0 -> 1.2.0-1.1.0: 1 hop
  1. 1.2.0-1.0.0 -> 1.2.0-1.1.0" "a supported upgrade is one hop"

run paths dkp 1.8.4 2.2.0 -o json
expect_code 0 "-o json: exit 0"
[ "$(jq -c .route <<<"$out")" = '["1.8.4","2.1.1","2.2.0"]' ] && pass || fail "-o json prints the route" "$out"

# No route: exit 1, the reason on stderr
run paths dkp 1.8.3 2.2.0
expect_code 1 "no route: exit 1"
expect_out_exact "" "nothing on stdout when there is no route"
expect_err_exact "refit: DKP 1.8.3 is not in the supported upgrade paths (scripts/dkp/data/paths.yaml): DKP reaches 2.2.0 only from 1.8.4, 1.8.5, 2.1.0, 2.1.1. Konvoy 1.8.3 and older 1.8 releases are not in the matrix: they move to DKP 2.1 by the separate major-upgrade procedure (playbook dkp/major-upgrade)" \
  "Konvoy 1.8.3: not in the matrix, and the major-upgrade procedure is named"

run paths dkp 2.2.0 2.1.1
expect_code 1 "a downgrade: exit 1"
expect_err_exact "refit: 2.2.0 -> 2.1.1 is a downgrade: DKP supports upgrades only; choose a target newer than 2.2.0" \
  "a downgrade is named"

run paths kaptain 1.1.0-0.6.0 1.2.0-1.1.0
expect_code 1 "an unsupported Kaptain from-version: exit 1"
expect_err_exact "refit: Kaptain 1.1.0-0.6.0 is not in the supported upgrade paths (scripts/kaptain/data/paths.yaml): Kaptain reaches 1.2.0-1.1.0 only from 1.2.0-1.0.0" \
  "the supported from-version is named"

run paths kkp 2.22.0 2.24.0 -o json
expect_code 1 "-o json, no route: exit 1"
[ "$(jq -c '[.route, .error]' <<<"$out")" = '[null,"KKP 2.24.0 is newer than the versions refit knows (up to 2.23.5): if KKP has released it, add its upgrade paths to scripts/kkp/data/paths.yaml"]' ] \
  && pass || fail "-o json without a route prints route null and the error" "$out"
expect_err "refit: KKP 2.24.0 is newer than the versions refit knows" "-o json: the reason is on stderr too"

# Usage errors: exit 1, like every command's
run paths frobnicate 1.0.0 2.0.0
expect_code 1 "an unknown product: exit 1"
expect_err_exact 'refit: no upgrade paths for product "frobnicate": refit knows dkp, eks, kaptain, kkp (refit paths lists them)' \
  "an unknown product lists the known ones"

run paths dkp 1.8.4
expect_code 1 "FROM without TO: exit 1"
expect_err "give the target too (refit paths dkp FROM TO)" "FROM without TO says what is missing"

run paths dkp 1.8.4 2.2.0 extra
expect_code 1 "an extra argument is a usage error"

# Listings
run paths
expect_code 0 "refit paths lists the products"
expect_out "kkp      KKP upgrades one minor version at a time, from the latest patch release of the current minor" \
  "each product with its rule"

run paths dkp
expect_code 0 "refit paths PRODUCT lists the rule and the hops"
expect_out "  source: D2iQ DKP 2.2 documentation, \"Upgrade DKP via CLI\": supported upgrade paths table" "the source document"
expect_out "  1.8.5 -> 2.1.1" "the matrix rows"
expect_out "from >=1.8.0 <1.8.4: Konvoy 1.8.3 and older" "the data's notes"

run paths kkp
expect_out "  2.19.11, 2.20.11, 2.21.12, 2.22.9, 2.23.5" "the KKP releases refit ships"
expect_out "KKP supports only the latest 3 minor versions: 2.21, 2.22, 2.23" "the supported minors"

run paths eks -o json
expect_code 0 "refit paths eks -o json"
[ "$(jq -r '.versions[0] + " " + .versions[-1] + " " + .hops[0].command' <<<"$out")" = "1.18 1.30 refit apply eks/upgrade --set to=1.19" ] \
  && pass || fail "-o json describes the data" "${out:0:300}"

finish
