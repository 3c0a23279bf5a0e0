# Helpers of the durable-run tests (tests/cli/durable_*_test.sh): runs of tests/cli/playbooks/durable.lua
# against worlds served by `refit sim serve` (the real backend), journaled in their own state directories,
# and what any durable run's journal says. Source after lib.sh, with $tmp set.
DURABLE_PB=tests/cli/playbooks/durable.lua
DURABLE_FX=examples/clusters/eks-1.20.yaml

# lease_events JOURNAL SESSION: "event:again:duration" of the lease events of the SESSION-th session.
lease_events() {
  jq -r --argjson n "$2" -n '[inputs] as $all
    | [range(0; $all | length) | select($all[.].event == "run_started")] as $starts
    | $all[$starts[$n - 1]:($starts[$n] // ($all | length))][]
    | select(.event | startswith("lease_")) | "\(.event):\(.again):\(.duration)"' "$1" | tr '\n' ' '
}

# status_of STATE_DIR RUN: the run's status as refit runs lists it.
status_of() { "$REFIT" runs --state-dir "$1" -o json | jq -r --arg id "$2" '.[] | select(.id == $id) | .status'; }

# line_of JOURNAL EVENT [STEP [PHASE_OR_VERB]]: the number of the first journal line with that event
# (and step, and phase or verb).
line_of() {
  jq -n --arg e "$2" --arg s "${3:-}" --arg p "${4:-}" '
    [inputs] | to_entries
    | map(select(.value.event == $e and ($s == "" or .value.step == $s)
                 and ($p == "" or .value.phase == $p or .value.verb == $p)))
    | if length == 0 then error("no such event") else .[0].key + 1 end' "$1"
}

# apply_durable STATE_DIR [ARGS...]: applies the playbook to the served world ($KC), journaled in STATE_DIR.
apply_durable() {
  local state=$1
  shift
  run apply $DURABLE_PB --kubeconfig "$KC" --context demo --yes --state-dir "$state" "$@"
}

# continue_durable resume|rollback STATE_DIR RUN [ARGS...]
continue_durable() {
  local mode=$1 state=$2 id=$3
  shift 3
  run "$mode" "$id" --state-dir "$state" --yes "$@"
}

# reference_run: an uninterrupted run on a fresh served world; sets $REF_WORLD and $REF_JOURNAL.
reference_run() {
  start_sim_serve "$tmp" $DURABLE_FX
  apply_durable "$tmp/state-reference"
  expect_code 0 "the uninterrupted apply"
  REF_WORLD=$(world_now)
  REF_JOURNAL="$tmp/state-reference/runs/$(only_run "$tmp/state-reference").jsonl"
  stop_sim_serve
}

# kill_run NAME K: a fresh served world, and an apply killed after journal line K; sets $id and $state.
kill_run() {
  state="$tmp/state-$1"
  start_sim_serve "$tmp" $DURABLE_FX
  REFIT_TEST_KILL_AFTER_EVENT=$2 apply_durable "$state"
  expect_code 137 "$1: the apply, killed after journal line $2"
  id=$(only_run "$state")
}
