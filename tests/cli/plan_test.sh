#!/usr/bin/env bash
# refit plan / apply on a simulated world: exit codes, the report, and -o json.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
PB=tests/scripts/playbooks/semantics.lua
FX=tests/scripts/fixtures/minimal.yaml

run plan $PB --sim $FX
expect_code 0 "a plan that succeeds exits 0"
expect_out "Plan succeeded (exit 0): 3 steps run, 2 skipped." "the plan ends with its outcome"
expect_out "Estimated duration 0s; the world was changed." "the plan states its estimated duration"
[ "$(grep -c $'\033' <<<"$out")" = 0 ] && pass || fail "no colour when stdout is not a TTY"

run plan $PB --sim $FX --set preflight_ok=false
expect_code 2 "a failed preflight check exits 2"

run plan $PB --sim $FX --set fail_at=last
expect_code 3 "a failure that is rolled back exits 3"

run plan $PB --sim $FX --set fail_at=last --set with_irreversible=true
expect_code 4 "a failure stopped at an irreversible step exits 4"

run apply $PB --sim $FX
expect_code 0 "apply runs the same engine"
expect_out "Apply succeeded (exit 0)" "apply reports itself as apply"

run plan $PB --sim $FX -o json
expect_code 0 "-o json exits like text"
last=$(tail -n 1 <<<"$out")
[ "$(jq -r .event <<<"$last")" = run_finished ] && pass || fail "-o json ends with run_finished" "$last"
[ "$(jq -r .status <<<"$last")" = succeeded ] && pass || fail "run_finished has status succeeded" "$last"
bad=$(jq -c 'select(.event == null or .time == null)' <<<"$out" | head -n 1)
[ -z "$bad" ] && pass || fail "every event has event and time" "$bad"

run plan $PB --sim $FX --set nope=1
expect_code 1 "an unknown parameter exits 1"
expect_err 'unknown param "nope"' "the unknown parameter is named"

run plan $PB --sim tests/cli/no-such-fixture.yaml
expect_code 1 "a missing fixture exits 1"
expect_err "tests/cli/no-such-fixture.yaml: cannot read fixture file" "the missing fixture is named"

run plan $PB
expect_code 1 "plan without a world is a usage error"

finish
