#!/usr/bin/env bash
# --sim-state FILE: a simulated world kept in a file across runs (docs/sim-state.md). A kept apply
# ends where a plain one does; the next apply continues from the world the last one left; plan only
# reads the file; an apply killed with SIGKILL leaves a file that a fresh process restores.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
FX=examples/clusters/eks-1.20.yaml
S="$tmp/world.jsonl"

# stopped PID: waits (up to 30 s) until the process has stopped itself (SIGSTOP); false if it never does.
stopped() {
  for _ in $(seq 300); do
    [ "$(ps -o stat= -p "$1" | cut -c1)" = T ] && return 0
    sleep 0.1
  done
  return 1
}

# jq over the JSON events of the last run: EXPR must hold.
expect_events() { jq -se "$1" <<<"$out" >/dev/null && pass || fail "$2" "stdout: ${out:0:800}"; }

run apply eks/upgrade --sim $FX --set to=1.21 --save-world "$tmp/plain.json"
expect_code 0 "the plain apply"
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$S" --save-world "$tmp/kept.json"
expect_code 0 "the kept apply"
expect_out "seed 1, kept in $S (as the fixture builds it)" "the header says where the world is kept"
cmp -s "$tmp/plain.json" "$tmp/kept.json" && pass || fail "the kept apply's world differs from the plain apply's"
[ "$(stat -c %a "$S")" = 600 ] && pass || fail "the file is not private: mode $(stat -c %a "$S")"
lines=$(wc -l <"$S")
[ "$lines" -gt 100 ] && pass || fail "the file keeps too few inputs: $lines lines"
head -1 "$S" | jq -e '.refit_sim_state == 1 and .fixture == "examples/clusters/eks-1.20.yaml" and .seed == 1' >/dev/null &&
  pass || fail "the header" "$(head -1 "$S")"

# plan reads the file and never writes it.
before=$(sha256sum <"$S")
run plan eks/upgrade --sim $FX --set to=1.21 --sim-state "$S" -o json
expect_code 0 "a plan on the kept world"
[ "$(sha256sum <"$S")" = "$before" ] && pass || fail "plan changed the file"
expect_events "map(select(.event == \"run_started\"))[0] | .sim_state == \"$S\" and .sim_state_inputs == $((lines - 1))" \
  "run_started says where the world is kept and how many inputs it replayed"
expect_events 'map(select(.event == "run_finished"))[0].changed == false' "the plan finds nothing to change"
expect_events 'map(select(.event == "step_skipped" and .reason == "done") | .step) | index("control-plane") != null' \
  "the plan finds the control plane done"

# A second apply continues from the world the first one left: everything is done.
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$S" --save-world "$tmp/again.json"
expect_code 0 "the second apply"
expect_out "kept in $S ($((lines - 1)) inputs replayed, its clock at 1h16m)" "the header says the world was restored"
expect_out "nothing was changed." "the second apply changes nothing"
[ "$(wc -l <"$S")" -gt "$lines" ] && pass || fail "the second apply kept no input"
jq -e '.cloud.eks.clusters.demo.version == "1.21"' "$tmp/again.json" >/dev/null && pass ||
  fail "the world after the second apply is not at 1.21"

# A world kept without --sim is refused, as is one recorded with another seed.
run plan eks/upgrade --context prod --set to=1.21 --sim-state "$S"
expect_code 1 "--sim-state without --sim"
expect_err_exact "refit: --sim-state keeps a simulated world built from a fixture: give --sim FIXTURE too (a world made from live clusters is never kept in a file)" "says to give --sim"
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$S" --seed 2
expect_code 1 "another seed"
expect_err_exact "refit: $S: this world was recorded with --seed 1, and this run has --seed 2: pass --seed 1, or delete $S to start over with seed 2" "names both seeds"

# An apply killed with SIGKILL: the test hook stops it (SIGSTOP) right after the file's line N is
# written, here a poll of the wait for the second node group's update (the sixth clock advance after
# the command that started it); the test sees N lines and kills it. A fresh plan restores the partly
# upgraded world.
M=$(grep -n '"update-nodegroup-version","--cluster-name","demo","--nodegroup-name","memory"' "$S" | head -1 | cut -d: -f1)
[ -n "$M" ] && pass || fail "the kept run never updated node group memory"
N=$(awk -v m="$M" 'NR > m && /^\{"advance"/ { if (++n == 6) { print NR; exit } }' "$S")
K="$tmp/killed.jsonl"
REFIT_TEST_STOP_AT_SIM_STATE_LINE=$N "$REFIT" apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$K" \
  >"$tmp/killed.out" 2>&1 &
pid=$!
stopped "$pid" && pass || fail "the apply did not stop at line $N" "$(cat "$tmp/killed.out")"
[ "$(wc -l <"$K")" = "$N" ] && pass || fail "the file has $(wc -l <"$K") lines, not $N"
kill -9 "$pid"
wait "$pid" 2>/dev/null
killed=$?
pid=
[ "$killed" = 137 ] && pass || fail "the apply was not killed by SIGKILL: exit $killed"
# The two runs' leases have each their run's id (docs/leases.md): the inputs are otherwise the same.
without_holder() { sed -E 's/"holderIdentity":"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}"/"holderIdentity":"RUN"/g'; }
cmp -s <(head -n "$N" "$S" | without_holder) <(without_holder <"$K") && pass ||
  fail "the killed run kept other inputs than the whole run did up to line $N"

run plan eks/upgrade --sim $FX --set to=1.21 --sim-state "$K" -o json
expect_code 2 "the plan on the killed world stops at preflight: a node group is updating"
expect_events 'map(select(.event == "check_failed"))[0].error | test("node group memory is UPDATING")' \
  "the plan sees node group memory in the middle of its update"
expect_events "map(select(.event == \"run_started\"))[0].sim_state_inputs == $((N - 1))" "it replayed every kept input"
run plan eks/upgrade --sim $FX --set to=1.21 --sim-state "$K" --save-world "$tmp/partial.json"
jq -e '.cloud.eks.clusters.demo.version == "1.21" and .cloud.eks.clusters.demo.nodegroups.memory.status == "UPDATING"' \
  "$tmp/partial.json" >/dev/null && pass || fail "the restored world is not the partly upgraded one" \
  "$(jq -c '.cloud.eks.clusters.demo | {version, ng: (.nodegroups | map_values(.status))}' "$tmp/partial.json")"

# A torn last line (the kill came mid-write) is dropped with a warning, and cut before the next input.
cp "$K" "$tmp/torn.jsonl"
printf '{"code":0,"exec":["aws","eks","describe-cl' >>"$tmp/torn.jsonl"
run plan eks/upgrade --sim $FX --set to=1.21 --sim-state "$tmp/torn.jsonl"
expect_code 2 "a plan on the torn file"
expect_out "warning: $tmp/torn.jsonl:$((N + 1)): the last line was cut short (a run was killed while writing it): dropped; the world is restored without that input" "warns of the torn line"

# While an apply records into a file, a second one is refused (the lock goes with the process).
REFIT_TEST_STOP_AT_SIM_STATE_LINE=3 "$REFIT" apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$tmp/busy.jsonl" \
  >/dev/null 2>&1 &
pid=$!
stopped "$pid" && pass || fail "the first apply did not stop at line 3"
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$tmp/busy.jsonl"
expect_code 1 "a second apply on a world being recorded"
expect_err_exact "refit: --sim-state $tmp/busy.jsonl: another refit run is recording into this world now: wait for it to end (the lock goes with its process), or keep this run's world in another file" "names the file"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
# The killed run's lease stays in the kept world (whose clock stands still between runs, so that it never
# expires): the next apply is refused until it is removed (tests/cli/durable_sim_state_test.sh has the
# resume of such a run, which takes its own lease again).
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$tmp/busy.jsonl"
expect_code 2 "once the first is gone, its lease is still in the world"
expect_out "cluster demo is locked by another run of eks/upgrade: run " "names the lease"
run unlock eks/upgrade --sim $FX --sim-state "$tmp/busy.jsonl" --force
expect_code 0 "unlock PLAYBOOK --sim-state --force"
expect_out "cluster demo: removed the live Lease kube-system/refit-eks-upgrade of run " "says whose lease it removed"
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$tmp/busy.jsonl"
expect_code 0 "once its lease is gone, the world goes on"

# A kept world's clusters keep the kubeconfig a snapshot read them through: eks/upgrade names the EKS
# cluster and region from its exec plugin, as it does in a world that is not kept.
SNAP=tests/scripts/fixtures/eks-1.20-snapshot.yaml
first_aws() { jq -r 'select(.event == "command") | .argv | join(" ")' <<<"$out" | head -1; }
run apply eks/upgrade --sim $SNAP --set to=1.21 -o json
plain=$(first_aws)
run apply eks/upgrade --sim $SNAP --set to=1.21 -o json --sim-state "$tmp/snapshot.jsonl"
expect_code 0 "the kept apply of a snapshot's world"
[ "$plain" = "aws eks describe-cluster --name prod-eks --region eu-west-1 --output json" ] &&
  [ "$(first_aws)" = "$plain" ] && pass ||
  fail "the kept world's cluster lost its kubeconfig" "plain: $plain; kept: $(first_aws)"

finish
