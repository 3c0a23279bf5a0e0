#!/usr/bin/env bash
# refit rollback against worlds served by `refit sim serve` (the real backend): a killed run's steps are
# undone newest first, stopping at an irreversible step with its recovery text, then the cleanups;
# a second rollback goes on from there without undoing anything twice; a run rolled back has nothing
# left to do, and resume refuses it (and a run that stopped while rolling back).
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
source tests/cli/durable_lib.sh

reference_run
ref_id=$(basename "$REF_JOURNAL" .jsonl)
continue_durable rollback "$tmp/state-reference" "$ref_id"
expect_code 1 "a rollback of a run that succeeded"
expect_err_exact "refit: run $ref_id succeeded: rolling it back would undo a finished run (as far as its first irreversible step); pass --force to roll it back all the same" \
  "a finished run is rolled back only with --force"

# configmap NAME [JQ]: a ConfigMap of the served world, or "absent".
configmap() {
  local json
  json=$(kubectl --kubeconfig "$KC" get configmap "$1" -n default -o json 2>/dev/null) || { echo absent; return; }
  jq -c "${2:-.data}" <<<"$json"
}

# Killed while item[b] waited: the rollback undoes item[b] and item[a], and stops at the sealed ledger.
kill_run sealed "$(line_of "$REF_JOURNAL" phase_started "item[b]" verify)"
continue_durable rollback "$state" "$id" --no-color
expect_code 4 "a rollback that reaches an irreversible step"
expect_out "refit rollback tests/durable  real, seed 1" "the header says rollback"
expect_out "Rollback
  undoing the run in reverse order, from step item[b]
  ↺ item[b]  rolled back
  ↺ item[a]  rolled back
  ⛔ seal is irreversible; rollback stops here. Recovery:
      the ledger is sealed: delete ConfigMap durable-ledger by hand to start over

Cleanup
  ✓ ledger

Rollback failed (exit 4): run $id stopped in step \"item[b]\"; rolled back to step \"seal\", which is irreversible (its recovery text says what to do)." \
  "the hooks newest first, the recovery text, the cleanup"
[ "$(configmap durable-a)" = absent ] && [ "$(configmap durable-b)" = absent ] && pass || fail "item[a] and item[b] remain"
[ "$(configmap durable-ledger '.metadata.annotations["refit.dev/sealed"]')" = '"true"' ] && pass || fail "the ledger is no longer sealed"
[ "$(configmap durable-ledger '.data.log')" = '"a b"' ] && pass || fail "the ledger's log changed: $(configmap durable-ledger)"
[ "$(configmap durable-cleanups '.data.runs')" = '"1"' ] && pass || fail "the cleanup did not run once"

# Again: nothing is undone twice; it stops at the seal again.
continue_durable rollback "$state" "$id" -o json
expect_code 4 "a second rollback"
[ "$(jq -c 'select(.event | test("rolled_back|irreversible|cleanup")) | [.event, .step]' <<<"$out" | tr '\n' ' ')" = \
  '["irreversible_reached","seal"] ' ] && pass || fail "the second rollback repeated something" "$out"
[ "$(configmap durable-cleanups '.data.runs')" = '"1"' ] && pass || fail "the cleanup ran twice"
continue_durable resume "$state" "$id"
expect_code 1 "resume after an incomplete rollback"
expect_err_exact "refit: run $id was not fully rolled back: there is nothing to resume; refit rollback $id goes on with its rollback (or see the recovery text it printed)" \
  "resume points at rollback"
stop_sim_serve

# Killed before the seal: everything is undone, then nothing is left to do.
kill_run count "$(line_of "$REF_JOURNAL" step_finished count)"
continue_durable rollback "$state" "$id"
expect_code 0 "a full rollback"
expect_out "Rollback rolled_back (exit 0): run $id stopped between steps; rolled back." "the rollback's outcome"
[ "$(configmap durable-ledger)" = absent ] && pass || fail "the ledger remains"
[ "$(configmap durable-cleanups '.data.runs')" = '"1"' ] && pass || fail "the cleanup did not run once"
continue_durable rollback "$state" "$id"
expect_code 0 "a rollback of a rolled-back run"
expect_err_exact "refit: run $id was rolled back already: nothing to do" "nothing to do"
continue_durable resume "$state" "$id"
expect_code 1 "resume of a rolled-back run"
expect_err_exact "refit: run $id was rolled back: there is nothing to resume; start a new run with refit apply" \
  "resume refuses a rolled-back run"
run runs --state-dir "$state" -o json
[ "$(jq -c '[.[0].status, [.[0].sessions[] | [.mode, .status]]]' <<<"$out")" = \
  '["rolled_back",[["apply",""],["rollback","rolled_back"]]]' ] && pass || fail "refit runs after a rollback" "$out"
stop_sim_serve

# Killed while rolling back (an apply that failed): resume refuses; rollback finishes the job.
state="$tmp/state-failed"
start_sim_serve "$tmp" $DURABLE_FX
REFIT_TEST_KILL_AFTER_EVENT=$(($(line_of "$REF_JOURNAL" step_finished "item[c]") + 9)) apply_durable "$state" --set fail=true
expect_code 137 "a failing apply, killed in its rollback"
id=$(only_run "$state")
[ "$(tail -1 "$state/runs/$id.jsonl" | jq -r .event)" = step_rolled_back ] && pass ||
  fail "the kill did not come in the rollback" "$(tail -3 "$state/runs/$id.jsonl")"
continue_durable resume "$state" "$id"
expect_code 1 "resume of a run that stopped while rolling back"
expect_err_exact "refit: run $id stopped while rolling back: finish the rollback with refit rollback $id (resuming would go on with what the rollback was undoing)" \
  "resume points at rollback"
continue_durable rollback "$state" "$id" -o json
expect_code 4 "the rollback, finished"
[ "$(jq -c 'select(.event | test("rolled_back|irreversible")) | [.event, .step, .status]' <<<"$out" | tr '\n' ' ')" = \
  '["step_rolled_back","item[b]","succeeded"] ["step_rolled_back","item[a]","succeeded"] ["irreversible_reached","seal",null] ' ] &&
  pass || fail "the rollback did not go on where the killed one stopped" "$out"
[ "$(configmap durable-a)$(configmap durable-b)$(configmap durable-c)" = absentabsentabsent ] && pass ||
  fail "items remain after the rollback"

finish
