#!/usr/bin/env bash
# refit resume against worlds served by `refit sim serve` (the real backend), whose worlds outlive a
# killed client: an apply killed (SIGKILL) after its k-th journal line and resumed ends in the world an
# uninterrupted run ends in; the interrupted step without `done` is refused unless --rerun-interrupted;
# steps with `done` are skipped; and resume refuses what it must (finished runs, changed playbooks,
# missing secrets, simulated worlds that were not kept). refit runs lists them all.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
source tests/cli/durable_lib.sh

reference_run
ref_id=$(basename "$REF_JOURNAL" .jsonl)
expect_out "run $ref_id" "apply names its run id"
[ "$(stat -c %a "$REF_JOURNAL")" = 600 ] && pass || fail "the journal is not private (0600)"
[ "$(stat -c %a "$tmp/state-reference")" = 700 ] && pass || fail "the state directory is not private (0700)"
jq -e -n 'any(inputs; .event == "run_started" and .run_id and .host and .pid and (.playbook_sha256 | length == 64)
                     and .resume.world.context == "demo")' "$REF_JOURNAL" >/dev/null &&
  pass || fail "run_started lacks the journal's fields" "$(head -1 "$REF_JOURNAL")"
[ "$(jq -c 'select(.event == "step_finished") | .step' "$REF_JOURNAL" | tr '\n' ' ')" = \
  '"ledger" "count" "seal" "item[a]" "item[b]" "item[c]" "finish" ' ] &&
  pass || fail "the reference run's steps" "$(jq -c 'select(.event == "step_finished")' "$REF_JOURNAL")"
jq -e -n 'any(inputs; .event == "step_skipped" and .step == "command" and .reason == "when")' "$REF_JOURNAL" >/dev/null &&
  pass || fail "the command step is skipped without a command"

# kill_then_resume NAME K [RESUME_ARGS...]: a fresh served world; the apply killed after journal line K;
# then refit resume (its output in $out, $err, $code). Sets $id and $state.
kill_then_resume() {
  local name=$1 k=$2
  shift 2
  state="$tmp/state-$name"
  start_sim_serve "$tmp" $DURABLE_FX
  REFIT_TEST_KILL_AFTER_EVENT=$k apply_durable "$state"
  expect_code 137 "$name: the apply is killed (SIGKILL) after journal line $k"
  id=$(only_run "$state")
  [ "$(wc -l <"$state/runs/$id.jsonl")" = "$k" ] && pass || fail "$name: the killed run's journal has not $k lines"
  continue_durable resume "$state" "$id" "$@"
}

# Killed at points of every kind, resumed: the same world as the uninterrupted run's.
expect_same_world() {
  local world
  world=$(world_now)
  [ "$world" = "$REF_WORLD" ] && pass ||
    fail "$1: the resumed run's world differs from the uninterrupted run's" "$(diff <(echo "$REF_WORLD") <(echo "$world") | head -20)"
  stop_sim_serve
}
for point in "preflight check_started" "ledger-created mutation ledger create" "seal-finished step_finished seal" \
             "item-b-waiting phase_started item[b] verify" "item-c-logged mutation item[c] patch" \
             "finish-started step_started finish" "finished step_finished finish" \
             "cleaned-up cleanup_finished ledger"; do
  read -r name event step detail <<<"$point"
  kill_then_resume "$name" "$(line_of "$REF_JOURNAL" "$event" "$step" "$detail")"
  expect_code 0 "$name: resume"
  expect_same_world "$name"
done

# A step with `done` interrupted after its run began: done says it is there, so it is skipped.
kill_then_resume done-skip "$(line_of "$REF_JOURNAL" mutation "item[b]" patch)"
expect_code 0 "a step interrupted after its change, resumed"
expect_out "Resuming at step item[b]; the preflight checks passed before and do not run again." "resume says where it goes on"
expect_out "    3  seal                                    finished                     before the interruption" \
  "finished steps are passed over"
expect_out "    5  item[b]                                 done                         already done" "done skips the step"
jq -e -n 'any(inputs; .event == "step_skipped" and .step == "item[b]" and .reason == "done" and .completed)' \
  "$state/runs/$id.jsonl" >/dev/null && pass || fail "the journal counts the done step as completed"
expect_same_world done-skip

# A step without `done` interrupted after its run began: refused, before anything changes.
kill_then_resume count "$(line_of "$REF_JOURNAL" phase_started count run)"
expect_code 1 "resume of a step without done interrupted in its run"
expect_err_exact "refit: step \"count\" of run $id was interrupted after its run began, and the step has no \`done\` to tell whether its change was made: running it again could make that change a second time. Check what it did (its events are in $state/runs/$id.jsonl) and the state of the clusters, then either run it again with refit resume $id --rerun-interrupted, or undo the run with refit rollback $id" \
  "the refusal names the step, why, and the two ways on"
[ -z "$out" ] && pass || fail "the refused resume reported a run" "$out"
[ "$(jq -s 'map(select(.event == "run_started")) | length' "$state/runs/$id.jsonl")" = 1 ] && pass ||
  fail "the refused resume journaled a session"
run resume "$id" --state-dir "$state" --rerun-interrupted </dev/null
expect_code 1 "resume against real clusters off a terminal, without --yes"
expect_err_exact "refit: refit resume changes real clusters and asks first, but this is not a terminal: pass --yes to resume without asking" \
  "resume asks first, as apply does"
continue_durable resume "$state" "$id" --rerun-interrupted
expect_code 0 "resume --rerun-interrupted"
expect_same_world count

# Resumed twice: a second resume of a finished run is refused.
state="$tmp/state-count"
continue_durable resume "$state" "$id"
expect_code 1 "resume of a finished run"
expect_err_exact "refit: run $id succeeded: there is nothing to resume (refit apply starts a new run)" "says it succeeded"

# refit runs: newest first, with status and last step.
run runs --state-dir "$state"
expect_code 0 "refit runs"
expect_out "ID                       PLAYBOOK        TARGETS   STATUS      STARTED                LAST STEP" "the header"
row=$(sed -n 2p <<<"$out")
[[ "$row" =~ ^$id\ \ \ tests/durable\ \ \ demo\ \ \ \ \ \ succeeded\ \ \ [0-9-]+\ [0-9:]+Z\ \ \ settle$ ]] && pass ||
  fail "the run's row" "$row"
run runs --state-dir "$state" -o json
[ "$(jq -c '.[0] | [.id, .playbook, .targets, .status, .last_step, .changed, [.sessions[].mode]]' <<<"$out")" = \
  "[\"$id\",\"tests/durable\",[\"demo\"],\"succeeded\",\"settle\",true,[\"apply\",\"resume\"]]" ] && pass ||
  fail "refit runs -o json" "$out"
run runs --state-dir "$tmp/none"
expect_out "No runs in $tmp/none/runs." "an empty state directory"

# A changed playbook is refused without --force.
cp $DURABLE_PB "$tmp/durable.lua"
state="$tmp/state-changed"
start_sim_serve "$tmp" $DURABLE_FX
REFIT_TEST_KILL_AFTER_EVENT=$(line_of "$REF_JOURNAL" step_finished seal) \
  run apply "$tmp/durable.lua" --kubeconfig "$KC" --context demo --yes --state-dir "$state"
expect_code 137 "the copy's apply, killed"
id=$(only_run "$state")
then=$(sha256sum "$tmp/durable.lua" | cut -c1-12)
echo "-- changed after the run" >>"$tmp/durable.lua"
now=$(sha256sum "$tmp/durable.lua" | cut -c1-12)
continue_durable resume "$state" "$id"
expect_code 1 "resume with a changed playbook"
expect_err_exact "refit: the playbook $tmp/durable.lua changed since run $id ran (sha256 $then then, $now now): the journal's steps are those of the playbook as it was, and a changed one may name or do them differently. Put the playbook back as it was, or pass --force to go on with it as it is now" \
  "the refusal says the playbook changed and what to do"
continue_durable resume "$state" "$id" --force
expect_code 0 "resume --force"
expect_same_world changed

# Secret parameters are not journaled: resume asks for them again.
printf 'token: TOKEN-5e1f09c3\n' >"$tmp/secret.yaml"
state="$tmp/state-secret"
start_sim_serve "$tmp" $DURABLE_FX
REFIT_TEST_KILL_AFTER_EVENT=$(line_of "$REF_JOURNAL" step_finished seal) apply_durable "$state" -f "$tmp/secret.yaml"
expect_code 137 "the apply with a secret, killed"
id=$(only_run "$state")
grep -q TOKEN-5e1f09c3 "$state/runs/$id.jsonl" && fail "the journal holds the secret" || pass
[ "$(jq -c 'select(.event == "state_set" and .key == "token") | .value' "$state/runs/$id.jsonl")" = '"***"' ] && pass ||
  fail "ctx.state's secret is not *** in the journal"
continue_durable resume "$state" "$id"
expect_code 1 "resume without the secret"
expect_err_exact "refit: run $id was given the secret parameter token, which its journal does not keep: give it again (-f values.yaml, or --set token=...)" \
  "names the secret to give again"
continue_durable resume "$state" "$id" --set namespace=other
expect_code 1 "resume with another parameter"
expect_err_exact "refit: run $id keeps the parameters it was started with: only its secret parameters are given again, and namespace is not one of them (a run resumed with other parameters would not be the run its journal describes)" \
  "only secrets may be given again"
continue_durable resume "$state" "$id" -f "$tmp/secret.yaml"
expect_code 0 "resume with the secret given again"
grep -q TOKEN-5e1f09c3 "$state/runs/$id.jsonl" && fail "the resumed session journaled the secret" || pass
expect_same_world secret

# A simulated world that was not kept cannot be resumed.
state="$tmp/state-sim"
REFIT_TEST_KILL_AFTER_EVENT=6 run apply $DURABLE_PB --sim $DURABLE_FX --state-dir "$state"
expect_code 137 "a simulated apply, killed"
id=$(only_run "$state")
continue_durable resume "$state" "$id"
expect_code 1 "resume of a simulated run without --sim-state"
expect_err_exact "refit: run $id ran in a simulated world that was not kept (--sim without --sim-state): that world is gone, so the run cannot be resumed. To keep a simulated world, run refit apply $PWD/$DURABLE_PB --sim $PWD/$DURABLE_FX --sim-state FILE: the world is kept in FILE, and a stopped run can be resumed or rolled back in it" \
  "says the world was not kept and how to keep one"

# Ids: a unique beginning is enough; others are named.
run resume nosuchrun --state-dir "$state"
expect_code 1 "an unknown run"
expect_err_exact "refit: no run nosuchrun in $state/runs (refit runs lists the runs there; --state-dir DIR reads another state directory)" \
  "an unknown run is named"

finish
