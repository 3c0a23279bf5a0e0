#!/usr/bin/env bash
# Durable runs in a simulated world kept in a file (docs/durable-runs.md, docs/sim-state.md,
# docs/leases.md): an apply of eks/upgrade with --sim-state, killed (SIGKILL) in the middle of a node
# group's update, leaves its world and its lease in the file; another run is kept out, naming the killed
# run; refit resume RUN restores the kept world from the journal and ends with the world an uninterrupted
# run leaves. refit unlock RUN finds the kept world in the journal; refit rollback RUN rolls back in it.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source tests/cli/durable_lib.sh

FX=examples/clusters/eks-1.20.yaml
LEASE=kube-system/refit-eks-upgrade
# kept_apply STATE_DIR SIM_STATE [ARGS...]: eks/upgrade to 1.21 in the world kept in SIM_STATE.
kept_apply() {
  local state=$1 kept=$2
  shift 2
  run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$kept" --state-dir "$state" "$@"
}
# last_lease FILE: the last input of the kept world that wrote the run's Lease.
last_lease() { grep -F '"name":"refit-eks-upgrade"' "$1" | tail -1; }
# utc_seconds TIME [SECONDS]: an RFC 3339 MicroTime as refit's messages write it (to the second), later by SECONDS.
utc_seconds() { date -u -d "$(date -u -d "$1" +%FT%TZ) + ${2:-0} seconds" +%FT%TZ; }
# lease_times FILE: "(since ..., last renewed ..., expires ...)" of the last Lease the kept world wrote.
lease_times() {
  local spec
  spec=$(last_lease "$1" | jq -c '.object.spec')
  local renewed
  renewed=$(jq -r .renewTime <<<"$spec")
  echo "(since $(utc_seconds "$(jq -r .acquireTime <<<"$spec")"), last renewed $(utc_seconds "$renewed"), expires $(utc_seconds "$renewed" 120))"
}

# --- the uninterrupted run: the world to end with, and the journal's line numbers -------------------------
kept_apply "$tmp/state-reference" "$tmp/reference.jsonl" --save-world "$tmp/reference.json"
expect_code 0 "the uninterrupted kept apply"
ref_journal="$tmp/state-reference/runs/$(only_run "$tmp/state-reference").jsonl"
normalize_world "$tmp/reference.json" >"$tmp/reference.norm"
jq -e '.cloud.eks.clusters.demo.version == "1.21"' "$tmp/reference.json" >/dev/null && pass ||
  fail "the uninterrupted run did not upgrade the cluster"

# --- killed while node group memory updates; another run is kept out ----------------------------------
S="$tmp/world.jsonl"
state="$tmp/state"
k=$(line_of "$ref_journal" wait_started "nodegroup[memory]")
REFIT_TEST_KILL_AFTER_EVENT=$k kept_apply "$state" "$S"
expect_code 137 "the apply is killed after line $k (node group memory's wait began)"
id=$(only_run "$state")
journal="$state/runs/$id.jsonl"
[ "$(wc -l <"$journal")" = "$k" ] && pass || fail "the killed run's journal has $(wc -l <"$journal") lines, not $k"
[ "$(jq -c 'select(.event == "run_started") | .resume.world' "$journal")" = \
  "{\"scenario\":null,\"seed\":1,\"sim\":\"$PWD/$FX\",\"sim_state\":\"$S\"}" ] && pass ||
  fail "the journal does not say where the world is kept" "$(head -1 "$journal" | jq -c .resume)"
[ "$(jq -r 'select(.event == "lease_acquired") | .holder' "$journal")" = "$id" ] && pass ||
  fail "the lease's holder is not the run id"
[ "$(last_lease "$S" | jq -r '.object.spec.holderIdentity')" = "$id" ] && pass ||
  fail "the kept world holds no lease of the killed run" "$(last_lease "$S" | cut -c1-300)"
[ "$(status_of "$state" "$id")" = interrupted ] && pass || fail "refit runs: the killed run is not interrupted"

times=$(lease_times "$S")
kept_before=$(sha256sum <"$S")
kept_apply "$tmp/state-other" "$S"
expect_code 2 "a new run in the kept world while the killed run's lease is there"
expect_out "Apply precondition_failed (exit 2): cluster demo is locked by another run of eks/upgrade: run $id on host $(hostname) holds the Lease $LEASE $times. Let that run finish; if it died, resume it with refit resume $id, which takes its lease again (a kept simulated world's clock stands still between runs, so the lease of a run that died there never expires), or remove the lease now: refit unlock eks/upgrade --sim $FX --sim-state $S --force." \
  "names the killed run, and says to resume it"
[ "$(sha256sum <"$S")" = "$kept_before" ] && pass || fail "the refused run changed the kept world"

# refit unlock RUN finds the kept world in the journal, and leaves a live lease without --force.
run unlock "${id:0:18}" --state-dir "$state"
expect_code 2 "unlock RUN of the live lease"
[ "$out" = "cluster demo: the Lease $LEASE is held by run $id on host $(hostname) $times: that run is alive, or it stopped in this kept world. Let it finish; if it is dead, resume it with refit resume $id, which takes its lease again (a kept simulated world's clock stands still between runs, so the lease of a run that died there never expires), or remove the lease now: refit unlock eks/upgrade --sim $PWD/$FX --sim-state $S --force
Nothing was removed." ] && pass || fail "unlock RUN names the holder and the kept world" "$out"
[ "$(sha256sum <"$S")" = "$kept_before" ] && pass || fail "unlock RUN without --force changed the kept world"

# --- the resume stands on the kept world, takes its own lease again and ends as the uninterrupted run ----
# As if the kill had come while the next input was written: a torn last line, which the resume drops.
inputs=$(($(wc -l <"$S") - 1))
printf '{"code":0,"exec":["aws","eks","describe-cl' >>"$S"
run resume "${id:0:18}" --state-dir "$state" --save-world "$tmp/resumed.json"
expect_code 0 "the resume of the killed run"
# The warning of setting up the world is journaled right after the session's run_started.
[ "$(jq -c -s --argjson k "$k" '.[$k:$k + 2] | map([.event, .level, .message])' "$journal")" = \
  "[[\"run_started\",null,null],[\"log\",\"warn\",\"$S:$((inputs + 2)): the last line was cut short (a run was killed while writing it): dropped; the world is restored without that input\"]]" ] &&
  pass || fail "the resume's journal does not begin with run_started, then the torn line's warning" \
  "$(jq -c -s --argjson k "$k" '.[$k:$k + 2]' "$journal" | cut -c1-600)"
expect_out "refit resume eks/upgrade  simulated world $PWD/$FX, seed 1, kept in $S ($inputs inputs replayed, its clock at " \
  "the resume replays every input the killed run kept"
expect_out "Resuming at step nodegroup[memory]; the preflight checks passed before and do not run again." "resumes the cut step"
expect_out "Resume succeeded (exit 0): 5 steps run, 0 skipped, 5 finished before the interruption." "the resume's summary"
[ "$(lease_events "$journal" 2)" = "lease_acquired:true:120 lease_released:null:null " ] && pass ||
  fail "the resume's lease events" "$(lease_events "$journal" 2)"
[ "$(tail -1 "$journal" | jq -c '[.event, .status]')" = '["run_finished","succeeded"]' ] && pass ||
  fail "the journal does not end with run_finished succeeded" "$(tail -1 "$journal")"
[ "$(status_of "$state" "$id")" = succeeded ] && pass || fail "refit runs: the resumed run did not succeed"
normalize_world "$tmp/resumed.json" | diff "$tmp/reference.norm" - >"$tmp/world.diff" && pass ||
  fail "the resumed world differs from the uninterrupted run's" "$(head -20 "$tmp/world.diff")"
[ "$(last_lease "$S" | jq -c '[.write, .ref.name]')" = '["remove","refit-eks-upgrade"]' ] && pass ||
  fail "the resumed run left its lease in the kept world" "$(last_lease "$S" | cut -c1-300)"

# --- refit unlock RUN --force of a killed run: the lease goes from the kept world; the resume takes a new one
S2="$tmp/unlocked.jsonl"
state="$tmp/state-unlock"
k=$(line_of "$ref_journal" lease_acquired)
REFIT_TEST_KILL_AFTER_EVENT=$k kept_apply "$state" "$S2"
expect_code 137 "the apply is killed right after taking its lease"
id=$(only_run "$state")
journal="$state/runs/$id.jsonl"
times=$(lease_times "$S2")
run unlock "$id" --state-dir "$state" --force
expect_code 0 "unlock RUN --force"
[ "$out" = "cluster demo: removed the live Lease $LEASE of run $id on host $(hostname) $times: if that run is still going, it stops before its next call" ] &&
  pass || fail "unlock RUN --force says whose lease it removed" "$out"
[ "$(last_lease "$S2" | jq -c '[.write, .ref.name]')" = '["remove","refit-eks-upgrade"]' ] && pass ||
  fail "the lease's removal is not kept in the world's file" "$(tail -1 "$S2" | cut -c1-300)"
run unlock "$id" --state-dir "$state"
expect_code 0 "unlock RUN again: nothing to remove"
[ "$out" = "cluster demo: no Lease $LEASE: nothing to unlock" ] && pass || fail "unlock RUN again" "$out"
run resume "$id" --state-dir "$state" --save-world "$tmp/unlocked.json"
expect_code 0 "the resume of the unlocked run"
[ "$(lease_events "$journal" 2)" = "lease_acquired:false:120 lease_released:null:null " ] && pass ||
  fail "the resume takes a new lease" "$(lease_events "$journal" 2)"
normalize_world "$tmp/unlocked.json" | diff "$tmp/reference.norm" - >"$tmp/world.diff" && pass ||
  fail "the world resumed after unlock differs from the uninterrupted run's" "$(head -20 "$tmp/world.diff")"

# --- refit rollback RUN rolls back in the kept world -----------------------------------------------------
state="$tmp/state-rollback"
k=$(line_of "$ref_journal" wait_started "addon[kube-proxy]")
REFIT_TEST_KILL_AFTER_EVENT=$k kept_apply "$state" "$tmp/rollback.jsonl"
expect_code 137 "the apply is killed while add-on kube-proxy updates"
id=$(only_run "$state")
run rollback "$id" --state-dir "$state" --save-world "$tmp/rolled-back.json"
expect_code 4 "the rollback stops at the irreversible add-on update"
expect_out "Rollback failed (exit 4): run $id stopped in step \"addon[kube-proxy]\"; the step is irreversible, so nothing was rolled back (its recovery text says what to do)." \
  "the rollback names the step it stopped at"
# The world rolled back in is the kept one (a world new from the fixture would be at 1.20).
jq -e '.cloud.eks.clusters.demo.version == "1.21"' "$tmp/rolled-back.json" >/dev/null && pass ||
  fail "the rollback did not stand on the kept world"

# refit unlock PLAYBOOK names a kept world that does not exist: refused, and no world is started there.
run unlock eks/upgrade --sim $FX --sim-state "$tmp/none.jsonl" --force
expect_code 1 "unlock of a kept world that does not exist"
expect_err_exact "refit: --sim-state $tmp/none.jsonl: no such file: no world is kept there, so it holds no lease (give the file the run kept its world in, as refit apply --sim-state had it)" \
  "says there is no such kept world"
[ ! -e "$tmp/none.jsonl" ] && pass || fail "unlock created a kept world"

finish
