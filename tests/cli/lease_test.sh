#!/usr/bin/env bash
# One run per cluster (docs/leases.md) with the real backend, against a world served by `refit sim
# serve`: a run holds kube-system/refit-<playbook> while it waits (tests/cli/files/lease-holder.lua
# waits until this test creates ConfigMap release-me, so no timing decides anything), renews it, makes
# a second run fail fast naming it, takes over an expired one with a warning, releases it after a
# success and after a failure, and stops before its next call once its lease is removed.
# refit unlock, without and with --force, in served and in-process simulated worlds.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
holder_pid=
trap '[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null; stop_sim_serve; rm -rf "$tmp"' EXIT
export KUBECACHEDIR="$tmp/kube-cache"  # kubectl's discovery cache, kept out of $HOME

PB=tests/cli/files/lease-holder.lua
HOST=$(hostname)
LEASE=refit-test-lease-holder

start_sim_serve "$tmp" tests/scripts/fixtures/minimal.yaml --speed 1 -v
kube() { kubectl --kubeconfig "$KC" --context test "$@"; }
lease_field() { kube get lease -n kube-system "$LEASE" -o jsonpath="$1" 2>/dev/null; }
# until_true SECONDS CMD...: runs CMD every 0.1 s until it succeeds (false after SECONDS).
until_true() {
  local tries=$(($1 * 10))
  shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}
# GETs of the lease the served world answered 404 (its -v log).
lease_404s() { grep -c "^GET /clusters/test/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/$LEASE 404$" "$tmp/serve.log"; }
lease_gone() { ! kube get lease -n kube-system "$LEASE" >/dev/null 2>&1; }
lease_held_by_other_than() { local h; h=$(lease_field '{.spec.holderIdentity}'); [ -n "$h" ] && [ "$h" != "$1" ]; }
renewed_after() { local r; r=$(lease_field '{.spec.renewTime}'); [ -n "$r" ] && [ "$r" != "$1" ]; }
# start_holder [ARGS...]: the holder playbook applied in the background, its events in $tmp/holder.json.
start_holder() {
  "$REFIT" apply $PB --kubeconfig "$KC" --context test --yes -o json "$@" >"$tmp/holder.json" 2>"$tmp/holder.err" &
  holder_pid=$!
}
# release_holder: creates ConfigMap release-me, which the holder waits for.
release_holder() {
  kube apply -f - >/dev/null <<'YAML'
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "release-me", "namespace": "default"}}
YAML
}
# finish_holder: waits (at most 60 s) for the holder's run to end; sets $holder_code.
holder_ended() { ! kill -0 "$holder_pid" 2>/dev/null; }
finish_holder() {
  if ! until_true 60 holder_ended; then
    kill "$holder_pid"
    fail "the holder's run did not end" "$(tail -3 "$tmp/holder.json")"
  fi
  wait "$holder_pid"
  holder_code=$?
  holder_pid=
}

# --- an expired lease, left by a run that died, is taken over with a warning -------------------------
kube apply -f - >/dev/null <<'YAML'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: refit-test-lease-holder
  namespace: kube-system
  annotations: { refit.dev/host: old-host, refit.dev/playbook: test/lease-holder }
spec:
  holderIdentity: 20200101-000000-dead00
  leaseDurationSeconds: 120
  acquireTime: "2020-01-01T00:00:00.000000Z"
  renewTime: "2020-01-01T00:00:00.000000Z"
  leaseTransitions: 2
YAML
start_holder --lease-duration 4s
until_true 20 lease_held_by_other_than 20200101-000000-dead00 && pass || fail "the expired lease was not taken over" "$(cat "$tmp/holder.err")"
run_id=$(lease_field '{.spec.holderIdentity}')
[[ "$run_id" =~ ^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$ ]] && pass || fail "the lease is not held by a run id: $run_id"
[ "$(lease_field '{.spec.leaseTransitions} {.spec.leaseDurationSeconds} {.metadata.annotations.refit\.dev/host} {.metadata.annotations.refit\.dev/playbook}')" = "3 4 $HOST test/lease-holder" ] &&
  pass || fail "the lease taken over" "$(kube get lease -n kube-system "$LEASE" -o yaml)"
acquired=$(lease_field '{.spec.acquireTime}')
[[ "$acquired" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$ ]] && pass || fail "acquireTime is not a MicroTime: $acquired"

# --- renewed while the run waits: every second with --lease-duration 4s -----------------------------
renewed=$(lease_field '{.spec.renewTime}')
until_true 20 renewed_after "$renewed" && pass || fail "the lease was not renewed during the wait ($renewed)"
renewed=$(lease_field '{.spec.renewTime}')
until_true 20 renewed_after "$renewed" && pass || fail "the lease was not renewed a second time ($renewed)"

# --- a second run fails fast, naming the holder, and changes nothing ---------------------------------
run apply $PB --kubeconfig "$KC" --context test --yes
expect_code 2 "a second run while the first holds the lease"
since=${acquired%.*}Z
expect_out "Apply precondition_failed (exit 2): cluster test is locked by another run of test/lease-holder: run $run_id on host $HOST holds the Lease kube-system/$LEASE (since $since, last renewed " "names the holder, its host and since when"
expect_out "). Let that run finish; if it died, refit takes the lease over once it expires, or remove it now: refit unlock test/lease-holder --context test --kubeconfig $KC --force." "says how to unlock"
expect_out "nothing was changed." "says nothing changed"
[ "$(lease_field '{.spec.holderIdentity}')" = "$run_id" ] && pass || fail "the second run touched the first's lease"
run apply $PB --kubeconfig "$KC" --context test --yes -o json
jq -e '.event == "run_finished" and .status == "precondition_failed" and .exit_code == 2 and .changed == false' <<<"$(tail -n 1 <<<"$out")" >/dev/null &&
  pass || fail "-o json: run_finished says precondition_failed" "$out"
[ "$(jq -r .event <<<"$out" | tr '\n' ' ')" = "run_started run_finished " ] && pass || fail "-o json: the refused run's events" "$out"

# --- refit unlock leaves a live lease alone without --force -------------------------------------------
run unlock test/lease-holder --context test --kubeconfig "$KC"
expect_code 2 "unlock of a live lease without --force"
expect_out "cluster test: the Lease kube-system/$LEASE is held by run $run_id on host $HOST (since $since, last renewed " "unlock names the holder"
expect_out "that run is alive, or stopped less than 4s ago. Let it finish; if it is dead, wait until " "unlock says why it refuses"
expect_out "or remove it now: refit unlock test/lease-holder --context test --kubeconfig $KC --force" "unlock says --force"
expect_out "Nothing was removed." "unlock removed nothing"
[ "$(lease_field '{.spec.holderIdentity}')" = "$run_id" ] && pass || fail "unlock without --force removed a live lease"

# --- the run ends: the lease is released --------------------------------------------------------------
release_holder
finish_holder
[ "$holder_code" = 0 ] && pass || fail "the holder's run" "exit $holder_code" "$(cat "$tmp/holder.err")"
lease_gone && pass || fail "the lease is left after a successful run" "$(kube get lease -n kube-system -o yaml)"
warning=$(jq -r 'select(.event == "lease_taken_over") | .message' "$tmp/holder.json")
[ "$warning" = "cluster test: took over the Lease kube-system/$LEASE from run 20200101-000000-dead00 on host old-host, which stopped renewing it (since 2020-01-01T00:00:00Z, last renewed 2020-01-01T00:00:00Z, expired 2020-01-01T00:02:00Z): if that run was interrupted, what it changed is as it left it" ] &&
  pass || fail "the takeover's warning" "$warning"
[ "$(jq -r 'select(.event | test("^lease_|^run_finished")) | .event' "$tmp/holder.json" | tr '\n' ' ')" = "lease_taken_over lease_released run_finished " ] &&
  pass || fail "the holder's lease events" "$(jq -c 'select(.event | test("^lease_"))' "$tmp/holder.json")"
[ "$(jq -r 'select(.event == "mutation") | .verb + " " + .kind + " " + .name' "$tmp/holder.json")" = "create ConfigMap done" ] &&
  pass || fail "the lease's writes are mutations" "$(jq -c 'select(.event == "mutation")' "$tmp/holder.json")"

# --- a failed run releases its lease too --------------------------------------------------------------
run apply $PB --kubeconfig "$KC" --context test --yes --set fail=true -o json
expect_code 3 "a run that fails and rolls back"
[ "$(jq -r 'select(.event | test("^lease_|^run_finished")) | .event' <<<"$out" | tr '\n' ' ')" = "lease_acquired lease_released run_finished " ] &&
  pass || fail "the failed run's lease events" "$out"
lease_gone && pass || fail "the lease is left after a failed run"

# --- a run whose lease is removed stops before its next call ------------------------------------------
kube delete configmap release-me done >/dev/null
start_holder --lease-duration 4s
until_true 20 lease_held_by_other_than "" && pass || fail "the second holder took no lease" "$(cat "$tmp/holder.err")"
run_id=$(lease_field '{.spec.holderIdentity}')
before=$(lease_404s)
run unlock $PB --context test --kubeconfig "$KC" --force
expect_code 0 "unlock --force of a live lease (the playbook given by its path)"
expect_out "cluster test: removed the live Lease kube-system/$LEASE of run $run_id on host $HOST (since " "unlock --force says whose it was"
expect_out "): if that run is still going, it stops before its next call" "unlock --force says what becomes of that run"
# The run's renewal thread finds it gone: its next GET of the lease is answered 404 (nothing else reads
# the lease meanwhile). Only then may the run go on to its change.
renewal_found_it_gone() { [ "$(lease_404s)" -gt "$before" ]; }
until_true 20 renewal_found_it_gone && pass || fail "the renewal did not find the lease gone"
release_holder
finish_holder
# It stops as an interrupt stops a run: before its next call, no rollback, no cleanup, exit 130.
[ "$holder_code" = 130 ] && pass || fail "the run whose lease was removed" "exit $holder_code" "$(tail -3 "$tmp/holder.json")"
reason="cluster test: the Lease kube-system/$LEASE that keeps other runs out was removed (refit unlock --force, or by hand), so this run no longer holds the cluster"
[ "$(jq -r 'select(.event == "lease_lost") | .message' "$tmp/holder.json")" = "$reason" ] && pass || fail "lease_lost" "$(cat "$tmp/holder.json")"
[ "$(jq -r 'select(.event == "run_interrupted") | .message' "$tmp/holder.json")" = "stopped in step \"hold\" (run): $reason; it made no further call, nothing rolled back" ] &&
  pass || fail "the run stopped in its wait" "$(jq -c 'select(.event == "run_interrupted")' "$tmp/holder.json")"
[ "$(jq -r 'select(.event | test("^step_finished|^rollback_|^cleanup_")) | .event' "$tmp/holder.json" | tr '\n' ' ')" = "" ] &&
  pass || fail "the stopped run finished a step, rolled back or cleaned up" "$(cat "$tmp/holder.json")"
! kube get configmap done >/dev/null 2>&1 && pass || fail "the change was made after the lease was lost"
lease_gone && pass || fail "a lease appeared again"

# --- refit unlock: nothing to unlock; an expired lease goes without --force ---------------------------
run unlock test/lease-holder --context test --kubeconfig "$KC"
expect_code 0 "unlock with no lease"
[ "$out" = "cluster test: no Lease kube-system/$LEASE: nothing to unlock" ] && pass || fail "unlock with no lease says so" "$out"
kube apply -f - >/dev/null <<'YAML'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: { name: refit-test-lease-holder, namespace: kube-system, annotations: { refit.dev/host: old-host } }
spec: { holderIdentity: 20200101-000000-dead00, leaseDurationSeconds: 120, acquireTime: "2020-01-01T00:00:00.000000Z", renewTime: "2020-01-01T00:00:00.000000Z" }
YAML
run unlock test/lease-holder --context test --kubeconfig "$KC"
expect_code 0 "unlock of an expired lease"
[ "$out" = "cluster test: removed the expired Lease kube-system/$LEASE of run 20200101-000000-dead00 on host old-host (since 2020-01-01T00:00:00Z, last renewed 2020-01-01T00:00:00Z, expired 2020-01-01T00:02:00Z)" ] &&
  pass || fail "unlock says whose expired lease it removed" "$out"
lease_gone && pass || fail "unlock left the expired lease"
run unlock test/lease-holder --kubeconfig "$KC"
expect_code 1 "unlock without clusters"
expect_err_exact "refit: refit unlock test/lease-holder needs the clusters to unlock: one of --context CTX, --inventory FILE or --sim FIXTURE" "unlock says what it needs"
run unlock test/lease-holder --context demo --sim tests/scripts/fixtures/minimal.yaml
expect_code 1 "unlock with two worlds"
expect_err_exact "refit: refit unlock test/lease-holder: give only one of --context CTX, --inventory FILE and --sim FIXTURE (they name different clusters)" "unlock takes one world"
run unlock test/lease-holder --context test --kubeconfig "$KC" --seed 7
expect_code 1 "unlock of real clusters with a simulated world's seed"
expect_err_exact "refit: refit unlock test/lease-holder: --scenario and --seed describe a simulated world: give its fixture too (--sim FIXTURE), or drop them" "unlock does not ignore --seed"
run unlock test/lease-holder --context test --kubeconfig "$KC" --state-dir "$tmp/state"
expect_code 1 "unlock of a playbook with a state directory"
expect_err_exact "refit: refit unlock test/lease-holder: --state-dir names where run journals are, for refit unlock RUN: drop it, or give the run's id instead of test/lease-holder" "unlock does not ignore --state-dir"
run unlock test/lease-holder --sim tests/scripts/fixtures/minimal.yaml --kubeconfig "$KC"
expect_code 1 "unlock of a simulated world with a kubeconfig"
expect_err_exact "refit: refit unlock test/lease-holder: --kubeconfig reaches real clusters, --sim tests/scripts/fixtures/minimal.yaml is a simulated world: drop one" "unlock does not ignore --kubeconfig"

# --- in an in-process simulated world (fixtures holding a Lease) ---------------------------------------
SIM_PB=tests/scripts/playbooks/lease.lua
HELD=tests/scripts/fixtures/lease-held.yaml
run apply $SIM_PB --sim $HELD
expect_code 2 "apply --sim with a live lease in the fixture"
expect_out "Apply precondition_failed (exit 2): cluster test is locked by another run of test/lease: run 20251231-230000-abcdef on host ops-1 holds the Lease kube-system/refit-test-lease (since 2025-12-31T23:00:00Z, last renewed 2025-12-31T23:59:30Z, expires 2026-01-01T00:01:30Z). Let that run finish; if it died, refit takes the lease over once it expires, or remove it now: refit unlock test/lease --sim $HELD --force." "the in-process refusal"
run unlock test/lease --sim $HELD
expect_code 2 "unlock --sim of a live lease"
[ "$out" = "cluster test: the Lease kube-system/refit-test-lease is held by run 20251231-230000-abcdef on host ops-1 (since 2025-12-31T23:00:00Z, last renewed 2025-12-31T23:59:30Z, expires 2026-01-01T00:01:30Z): that run is alive, or stopped less than 2m00s ago. Let it finish; if it is dead, wait until 2026-01-01T00:01:30Z (a new run then takes the lease over by itself) or remove it now: refit unlock test/lease --sim $HELD --force
Nothing was removed.
The simulated world of $HELD is not kept: this is what refit unlock would do in it." ] && pass || fail "unlock --sim refuses" "$out"
run unlock $SIM_PB --sim $HELD --force
expect_code 0 "unlock --sim --force"
expect_out "cluster test: removed the live Lease kube-system/refit-test-lease of run 20251231-230000-abcdef on host ops-1 (since 2025-12-31T23:00:00Z, last renewed 2025-12-31T23:59:30Z, expires 2026-01-01T00:01:30Z): if that run is still going, it stops before its next call" "unlock --sim --force"
run unlock test/lease --sim tests/scripts/fixtures/lease-expired.yaml
expect_code 0 "unlock --sim of an expired lease"
expect_out "cluster test: removed the expired Lease kube-system/refit-test-lease of run 20251231-230000-dead00 on host ops-2" "unlock --sim removes the expired lease"
run unlock 20251231-230000 --sim $HELD
expect_code 1 "unlock RUN with a world"
expect_err_exact "refit: refit unlock 20251231-230000 finds the run's clusters in its journal: drop --sim, --sim-state, --scenario, --seed, --context, --inventory and --kubeconfig (they go with refit unlock PLAYBOOK)" "unlock RUN says the world comes from the journal"
run apply $SIM_PB --sim $HELD --lease-duration 3s
expect_code 1 "a lease duration under 4s"
expect_err "--lease-duration: must be a duration of at least 4s, such as 90s, 2m or 1h, got \"3s\"" "names the option and its bounds"
run apply $SIM_PB --sim $HELD --lease-duration 4500ms
expect_code 1 "a lease duration that is not whole seconds"
expect_err "--lease-duration: must be a duration of at least 4s, such as 90s, 2m or 1h, got \"4500ms\"" "a Lease counts whole seconds"

finish
