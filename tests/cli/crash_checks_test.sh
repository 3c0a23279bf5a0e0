#!/usr/bin/env bash
# The crash matrix's checks (tests/cli/crash/lib.sh) can fail: a run of tests/cli/playbooks/durable.lua
# against a served world, killed and resumed, passes them all; the same run with its world or its journal
# changed, each time in one way the matrix is there to catch, fails the check that says so.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/crash/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
CRASH_WORLD=served CRASH_PB=tests/cli/playbooks/durable.lua CRASH_FX=examples/clusters/eks-1.20.yaml CRASH_TARGET=demo
CRASH_WORLD_ARGS=() CRASH_PARAMS=()
crash_absolute_paths

crash_reference
# Line 2 is lease_acquired, the line before run_finished lease_released (docs/leases.md).
[ "$REF_LINES" = 57 ] && pass || fail "the reference run of durable.lua has not 57 journal lines: $REF_LINES"
[ "$(tr '\n' ' ' <"$REF_ONCE")" = "demo create ConfigMap default/durable-a demo create ConfigMap default/durable-b \
demo create ConfigMap default/durable-c demo create ConfigMap default/durable-cleanups demo create ConfigMap default/durable-ledger " ] &&
  pass || fail "the reference's changes that must not be made twice" "$(cat "$REF_ONCE")"
[ "$(crash_change_lines | tr '\n' ' ')" = "9 24 32 40 54 " ] && pass || fail "the lines of those changes" "$(crash_change_lines)"
[ "$(crash_sample 10 7 20 "3 4" | tr '\n' ' ')" = "1 2 5 6 7 8 9 " ] && pass || fail "a sample of every point but those excluded"
[ "$(crash_sample 100 7 5 "" | tr '\n' ' ')" = "$(crash_sample 100 7 5 "" | tr '\n' ' ')" ] &&
  [ "$(crash_sample 100 7 5 "" | sort -u | wc -l)" = 5 ] && pass || fail "a sample is not 5 distinct points, the same for a seed"

# item[b] killed right after its change (line 33): resumed, its `done` passes it over.
before=$failures
crash_point kill:33
[ "$failures" = "$before" ] && pass || fail "the matrix's point kill:33 of durable.lua did not pass"

# The same run again, then the checks on changed copies of its world and journal.
dir="$tmp/doctored"
mkdir -p "$dir"
crash_world_start "$dir"
crash_apply "$dir/state" REFIT_TEST_KILL_AFTER_EVENT=33
id=$(only_run "$dir/state")
cp -r "$dir/state" "$dir/stopped"
crash_resume "$dir/state" "$id"
expect_code 0 "the resume"
journal="$dir/state/runs/$id.jsonl"
stopped="$dir/stopped/runs/$id.jsonl"

# expect_caught WHAT MESSAGE JQ_FILTER: crash_check on the journal changed by the jq filter (over the
# whole journal, slurped) must fail with MESSAGE.
expect_caught() {
  local what=$1 message=$2 filter=$3 state="$tmp/case-$RANDOM"
  mkdir -p "$state/runs"
  jq -c -s "$filter | .[]" "$journal" >"$state/runs/$id.jsonl"
  local output
  output=$(failures=0; crash_check "$what" "$dir" "$state/runs/$id.jsonl" "$stopped" "" "apply killed" "resume succeeded"; echo "failures=$failures")
  grep -qF -- "FAIL: $what: " <<<"$output" && grep -qF -- "$message" <<<"$output" && pass ||
    fail "$what: not caught ($message)" "$output"
}

output=$(failures=0; crash_check "as it was" "$dir" "$journal" "$stopped" "" "apply killed" "resume succeeded"; echo "failures=$failures")
[ "$(tail -1 <<<"$output")" = failures=0 ] && pass || fail "the run as it was fails a check" "$output"
expect_caught "a create made twice" "made more often than in the uninterrupted run:" \
  '.[:36] + [.[8]] + .[36:]'
expect_caught "a step passed over without a word" "step seal ended before the stop but is not passed over as completed" \
  'map(select((.event == "step_skipped" and .step == "seal") | not))'
expect_caught "the stopped step taken for done by its when" \
  "the stopped step item[b], whose run had begun, neither ran again nor was found done" \
  'map(if .event == "step_skipped" and .step == "item[b]" then .reason = "when" | del(.completed) else . end)'
expect_caught "a resume from another step" 'run_resumed goes on from "item[c]", not from the stopped step item[b]' \
  'map(if .event == "run_resumed" then .from_step = "item[c]" else . end)'
expect_caught "a resume that failed" "the resumed session does not end with run_finished succeeded" \
  '.[-1].status = "failed"'
expect_caught "a stopped line rewritten" "the resume changed the lines of the stopped sessions" \
  '.[4].step = "other"'
expect_caught "a step never ended" "step finish of the uninterrupted run never ended" \
  'map(select((.event == "step_finished" and .step == "finish") | not))'
expect_caught "a second resume session" "not one run_started in the resume" \
  '.[:36] + [.[33]] + .[36:]'

# a world that differs
curl -sf -X POST -H 'Content-Type: application/json' "$(served_url)/clusters/demo/api/v1/namespaces/default/configmaps" \
  -d '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "crash-extra"}}' >/dev/null
output=$(failures=0; crash_check "an extra ConfigMap" "$dir" "$journal" "$stopped" "" "apply killed" "resume succeeded"; echo "failures=$failures")
grep -qF "FAIL: an extra ConfigMap: the resumed run's world differs from the uninterrupted run's" <<<"$output" &&
  grep -qF '"crash-extra"' <<<"$output" && pass || fail "a world that differs is not caught" "$output"
crash_world_stop

finish
