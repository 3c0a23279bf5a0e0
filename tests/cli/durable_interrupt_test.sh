#!/usr/bin/env bash
# Interrupts of a journaled run, against worlds served by `refit sim serve` (the real backend): the
# first SIGINT or SIGTERM lets the call in progress finish (a command runs to its end), stops the run
# before its next call, journals it and exits 130, and the run resumes to the world an uninterrupted
# run ends in; a second one aborts at once, ending the running command's process group.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; [ -n "${apply_pid:-}" ] && kill -KILL "$apply_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
source tests/cli/durable_lib.sh

reference_run

# SIGINT through the real handler, after the journal line of item[b]'s wait.
state="$tmp/state-sigint"
start_sim_serve "$tmp" $DURABLE_FX
REFIT_TEST_INTERRUPT_AFTER_EVENT=$(line_of "$REF_JOURNAL" wait_started "item[b]") apply_durable "$state" --no-color
expect_code 130 "an apply interrupted by SIGINT"
id=$(only_run "$state")
expect_err_exact "
refit: interrupted: stopping after the call in progress (interrupt again to abort at once)" "the handler says what happens"
expect_out "Apply interrupted (exit 130): interrupted by SIGINT in step \"item[b]\" (verify): stopped before its next call, nothing rolled back; continue with refit resume $id, or undo it with refit rollback $id." \
  "the outcome names resume and rollback"
journal="$state/runs/$id.jsonl"
[ "$(tail -3 "$journal" | jq -c '[.event, .step, .ok, .status]' | tr '\n' ' ')" = \
  '["wait_finished","item[b]",false,null] ["run_interrupted","item[b]",null,null] ["run_finished",null,null,"interrupted"] ' ] &&
  pass || fail "the journal's last lines" "$(tail -3 "$journal")"
jq -e -n 'any(inputs; .event == "cleanup_finished" or .event == "rollback_started")' "$journal" >/dev/null &&
  fail "an interrupted run rolled back or cleaned up" || pass
run runs --state-dir "$state" -o json
[ "$(jq -r '.[0].status' <<<"$out")" = interrupted ] && pass || fail "refit runs: not interrupted" "$out"
continue_durable resume "$state" "$id"
expect_code 0 "the interrupted run, resumed"
[ "$(world_now)" = "$REF_WORLD" ] && pass || fail "the resumed run's world differs from the uninterrupted run's"
stop_sim_serve

# wait_for FILE: at most 20 s for a file to appear.
wait_for() {
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  fail "$1 did not appear" "$(cat "$tmp/apply.out" "$tmp/apply.err" 2>/dev/null)"
  return 1
}

# apply_in_background STATE COMMAND: the apply, with the command step running COMMAND; sets $apply_pid.
apply_in_background() {
  "$REFIT" apply $DURABLE_PB --kubeconfig "$KC" --context demo --yes --state-dir "$1" --no-color \
    --set "command=$2" >"$tmp/apply.out" 2>"$tmp/apply.err" &
  apply_pid=$!
}

# SIGTERM while a command runs: the command runs to its end, its step finishes, and the run stops
# before the next one.
state="$tmp/state-sigterm"
start_sim_serve "$tmp" $DURABLE_FX
apply_in_background "$state" "echo \$\$ >$tmp/pid-1; sleep 1; touch $tmp/finished-1"
wait_for "$tmp/pid-1"
kill -TERM "$apply_pid"
wait "$apply_pid"
code=$? apply_pid=
out=$(cat "$tmp/apply.out")
err=$(cat "$tmp/apply.err")
expect_code 130 "an apply stopped by SIGTERM during a command"
[ -e "$tmp/finished-1" ] && pass || fail "the command did not run to its end"
id=$(only_run "$state")
journal="$state/runs/$id.jsonl"
[ "$(jq -c 'select(.step == "command" and (.event == "command" or .event == "step_finished")) | [.event, .code, .status]' \
     "$journal" | tr '\n' ' ')" = '["command",0,null] ["step_finished",null,"succeeded"] ' ] && pass ||
  fail "the journal lacks the finished command" "$(jq -c 'select(.step == "command")' "$journal")"
expect_out "Apply interrupted (exit 130): interrupted by SIGTERM between steps: stopped before its next call, nothing rolled back; continue with refit resume $id, or undo it with refit rollback $id." \
  "the outcome names SIGTERM"
continue_durable resume "$state" "$id"
expect_code 0 "the stopped run, resumed"
expect_out "Resuming at step finish; the preflight checks passed before and do not run again." "it goes on after the command"
[ "$(jq -s 'map(select(.event == "command")) | length' "$journal")" = 1 ] && pass || fail "the command ran again"
[ "$(world_now)" = "$REF_WORLD" ] && pass || fail "the resumed run's world differs from the uninterrupted run's"
stop_sim_serve

# Two SIGINTs while a command runs: the second aborts at once and ends the command's process group.
state="$tmp/state-twice"
start_sim_serve "$tmp" $DURABLE_FX
apply_in_background "$state" "echo \$\$ >$tmp/pid-2; sleep 30; touch $tmp/finished-2"
wait_for "$tmp/pid-2"
kill -INT "$apply_pid"
for _ in $(seq 50); do grep -q "interrupted:" "$tmp/apply.err" && break; sleep 0.1; done
kill -INT "$apply_pid"
wait "$apply_pid"
code=$? apply_pid=
err=$(cat "$tmp/apply.err")
expect_code 130 "an apply aborted by a second SIGINT"
expect_err "refit: interrupted again: aborting at once (exit 130)" "the second interrupt says it aborts"
command_pid=$(cat "$tmp/pid-2")
for _ in $(seq 100); do kill -0 "$command_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$command_pid" 2>/dev/null && fail "the command's process outlived the abort" || pass
[ -e "$tmp/finished-2" ] && fail "the aborted command ran to its end" || pass
id=$(only_run "$state")
run runs --state-dir "$state" -o json
[ "$(jq -c '[.[0].status, .[0].last_step]' <<<"$out")" = '["interrupted","command"]' ] && pass ||
  fail "refit runs after an abort" "$out"
stop_sim_serve

# SIGINT during a real wait whose polls are a minute apart: the wait ends at once (not after its
# minute), and the run stops.
state="$tmp/state-wait"
start_sim_serve "$tmp" $DURABLE_FX
"$REFIT" apply $DURABLE_PB --kubeconfig "$KC" --context demo --yes --state-dir "$state" --no-color \
  --set wait_for=never-there >"$tmp/apply.out" 2>"$tmp/apply.err" &
apply_pid=$!
for _ in $(seq 200); do
  grep -qs '"event":"wait_started","time":[0-9]*,"step":"settle"' "$state"/runs/*.jsonl && break
  sleep 0.1
done
sleep 0.5  # into the wait's sleep between two polls
kill -INT "$apply_pid"
# Bounded well under the minute the wait would otherwise sleep before it looked again.
for _ in $(seq 150); do kill -0 "$apply_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$apply_pid" 2>/dev/null; then
  fail "the interrupted wait did not end"
  kill -KILL "$apply_pid"
fi
wait "$apply_pid"
code=$? apply_pid=
expect_code 130 "an apply interrupted in a wait"
id=$(only_run "$state")
[ "$(jq -c 'select(.event == "wait_finished" and .step == "settle") | [.ok, .reason]' "$state/runs/$id.jsonl")" = \
  '[false,"the run is stopping"]' ] && pass || fail "the wait's end" "$(tail -3 "$state/runs/$id.jsonl")"
stop_sim_serve

# The test hook's second line number is a second SIGINT: in a simulated run too, it aborts at once.
state="$tmp/state-sim"
REFIT_TEST_INTERRUPT_AFTER_EVENT=5,6 run apply $DURABLE_PB --sim $DURABLE_FX --state-dir "$state"
expect_code 130 "a simulated apply interrupted twice"
id=$(only_run "$state")
[ "$(wc -l <"$state/runs/$id.jsonl")" = 6 ] && pass || fail "the journal went on after the abort"
expect_err "refit: interrupted again: aborting at once (exit 130)" "the abort is said"

finish
