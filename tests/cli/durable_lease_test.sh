#!/usr/bin/env bash
# Durable runs and their leases (docs/durable-runs.md, docs/leases.md) against a world served by `refit
# sim serve`: the lease's holder is the journal's run id; a killed apply leaves its lease, which its
# resume and its rollback take again; a resume another run's lease keeps out changes nothing and leaves
# the run interrupted, resumable once that lease is gone; refit unlock RUN finds the run's clusters in
# its journal and removes only that run's lease.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
export KUBECACHEDIR="$tmp/kube-cache"  # kubectl's discovery cache, kept out of $HOME
source tests/cli/durable_lib.sh

LEASE=refit-tests-durable
kube() { kubectl --kubeconfig "$KC" --context demo "$@"; }
lease_field() { kube get lease -n kube-system "$LEASE" -o jsonpath="$1" 2>/dev/null; }
lease_gone() { ! kube get lease -n kube-system "$LEASE" >/dev/null 2>&1; }

# --- a killed apply leaves its lease, held by its run id; the resume takes it again ----------------------
# Line 1 is run_started, line 2 lease_acquired: the run dies holding its lease.
kill_run again 2
journal="$state/runs/$id.jsonl"
[ "$(jq -r 'select(.event == "lease_acquired") | .holder' "$journal")" = "$id" ] && pass || fail "the lease's holder is not the run id" "$(cat "$journal")"
[ "$(lease_field '{.spec.holderIdentity} {.spec.leaseDurationSeconds}')" = "$id 120" ] && pass ||
  fail "the killed run's lease" "$(kube get lease -n kube-system -o yaml)"
[ "$(status_of "$state" "$id")" = interrupted ] && pass || fail "refit runs: the killed run is not interrupted"

# Another run of the playbook is kept out, and told how to unlock.
apply_durable "$tmp/state-other"
expect_code 2 "a new run while the killed one's lease is live"
expect_out "cluster demo is locked by another run of tests/durable: run $id on host $(hostname) holds the Lease kube-system/$LEASE" "names the killed run"

# refit unlock RUN without --force leaves a live lease; it names the run's world from its journal.
run unlock "${id:0:18}" --state-dir "$state"
expect_code 2 "unlock RUN of a live lease"
expect_out "cluster demo: the Lease kube-system/$LEASE is held by run $id on host $(hostname) (since " "unlock RUN names the holder"
expect_out "or remove it now: refit unlock tests/durable --context demo --kubeconfig $KC --force" "unlock RUN says --force, with the journal's world"
[ "$(lease_field '{.spec.holderIdentity}')" = "$id" ] && pass || fail "unlock RUN without --force removed a live lease"

continue_durable resume "$state" "$id" -o json --lease-duration 90s
expect_code 0 "the resume takes its own lease again and finishes"
[ "$(lease_events "$journal" 2)" = "lease_acquired:true:90 lease_released:null:null " ] && pass ||
  fail "the resume's lease events" "$(lease_events "$journal" 2)"
lease_gone && pass || fail "the resumed run left its lease"
stop_sim_serve

# --- the rollback of a killed run takes its lease again -------------------------------------------------
kill_run rollback 15  # half way: after step count finished
journal="$state/runs/$id.jsonl"
continue_durable rollback "$state" "$id"
expect_code 0 "the rollback of the killed run"
[ "$(lease_events "$journal" 2)" = "lease_acquired:true:120 lease_released:null:null " ] && pass ||
  fail "the rollback's lease events" "$(lease_events "$journal" 2)"
lease_gone && pass || fail "the rollback left its lease"
stop_sim_serve

# --- a resume kept out by another run's lease changes nothing; resumable once that lease is gone --------
kill_run locked 15  # half way: after step count finished
journal="$state/runs/$id.jsonl"
run unlock "$id" --state-dir "$state" --force
expect_code 0 "unlock RUN --force"
expect_out "cluster demo: removed the live Lease kube-system/$LEASE of run $id on host $(hostname) (since " "unlock RUN --force says whose it was"
lease_gone && pass || fail "unlock RUN --force left the lease"
# Another operator's run takes the cluster meanwhile (renewed now, for an hour).
now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
kube apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: { name: $LEASE, namespace: kube-system, annotations: { refit.dev/host: elsewhere } }
spec: { holderIdentity: 20261121-000000-0ther1, leaseDurationSeconds: 3600, acquireTime: "$now", renewTime: "$now" }
YAML
before=$(world_now)
continue_durable resume "$state" "$id"
expect_code 2 "a resume while another run holds the cluster"
expect_out "Resume precondition_failed (exit 2): cluster demo is locked by another run of tests/durable: run 20261121-000000-0ther1 on host elsewhere holds the Lease" "the resume names the other run"
[ "$(world_now)" = "$before" ] && pass || fail "the refused resume changed the world"
[ "$(jq -c 'select(.event == "run_finished") | [.status, .locked]' "$journal" | tail -1)" = '["precondition_failed",true]' ] &&
  pass || fail "the refused session's run_finished is not marked locked" "$(tail -2 "$journal")"
[ "$(status_of "$state" "$id")" = interrupted ] && pass || fail "refit runs: a refused resume changed the run's status" "$(status_of "$state" "$id")"
# refit unlock RUN removes only that run's lease.
run unlock "$id" --state-dir "$state" --force
expect_code 2 "unlock RUN of another run's lease"
expect_out "cluster demo: the Lease kube-system/$LEASE is held by run 20261121-000000-0ther1 on host elsewhere (since " "unlock RUN names the other holder"
expect_out "not by run $id: left alone. If that run is dead too: refit unlock tests/durable --context demo --kubeconfig $KC --force" "unlock RUN says how to remove it"
[ "$(lease_field '{.spec.holderIdentity}')" = 20261121-000000-0ther1 ] && pass || fail "unlock RUN removed another run's lease"
run unlock tests/durable --context demo --kubeconfig "$KC" --force
expect_code 0 "unlock PLAYBOOK --force"
continue_durable resume "$state" "$id"
expect_code 0 "the resume, once the other lease is gone"
[ "$(lease_events "$journal" 3)" = "lease_acquired:false:120 lease_released:null:null " ] && pass ||
  fail "the second resume's lease events" "$(lease_events "$journal" 3)"
[ "$(status_of "$state" "$id")" = succeeded ] && pass || fail "refit runs: the resumed run did not succeed"
lease_gone && pass || fail "the resumed run left its lease"
stop_sim_serve

# --- refit unlock RUN of a simulated world that was not kept ---------------------------------------------
state="$tmp/state-sim"
run apply $DURABLE_PB --sim tests/scripts/fixtures/minimal.yaml --state-dir "$state"
id=$(only_run "$state")
run unlock "$id" --state-dir "$state"
expect_code 0 "unlock RUN of an unkept simulated world"
[ "$out" = "run $id ran in a simulated world that was not kept (--sim $PWD/tests/scripts/fixtures/minimal.yaml without --sim-state): its lease went with that world, so there is nothing to unlock" ] &&
  pass || fail "unlock RUN of an unkept simulated world says so" "$out"
run unlock 20200101-0000 --state-dir "$state"
expect_code 1 "unlock RUN of no run"
expect_err_exact "refit: no run 20200101-0000 in $state/runs (refit runs lists the runs there; --state-dir DIR reads another state directory)" "unlock RUN names what it did not find"

finish
