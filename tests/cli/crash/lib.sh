# The crash matrix (issue 5; docs/testing.md): a playbook applied to a world that outlives its client is
# stopped at many points of its run (SIGKILL after journal line k; SIGINT through the real handler), then
# resumed. Each time the world must end as the uninterrupted run's does, no change that is not idempotent
# may have been made twice, and the journal must tell the truth. tests/cli/crash/matrix.conf says which
# playbooks, on which worlds; tests/cli/crash/run.sh runs one of its lines.
#
# Environment, to reproduce a failure or widen a run:
#   CRASH_SEED=S        the seed of the sample of kill points (printed by every run; 1 by default, so that
#                       make test always runs the same points; CRASH_SEED=random draws one, to explore)
#   CRASH_SAMPLE=N      how many kill points in all (default 20; every one when the run has fewer lines)
#   CRASH_POINTS="..."  run only these points: kill:k (SIGKILL after journal line k), torn:k (killed after
#                       line k, a change, and that line lost: a kill between a call and its journal line),
#                       int:k (SIGINT after line k), int:k,k2 (and a second SIGINT after k2: abort at once),
#                       twice:k,j (killed after line k, the resume killed after its j-th line, resumed again),
#                       late:k (killed after line k, resumed an hour of the world's time later; served
#                       worlds only)
#   CRASH_SPEED=X       a served world's clock speed (default 2000)
#   CRASH_JOBS=N        how many points run at once (default 3)
#   CRASH_KEEP=1        keep the working directory (journals, world dumps, outputs) and say where it is
set -u
source tests/cli/lib.sh

CRASH_SPEED=${CRASH_SPEED:-2000}
CRASH_SAMPLE=${CRASH_SAMPLE:-20}
CRASH_JOBS=${CRASH_JOBS:-3}

# --- The worlds a playbook runs against: a kind of world is three functions, crash_<kind>_start DIR
# (a fresh world from $CRASH_FX in DIR; sets CRASH_TARGET_ARGS, how apply reaches it, and CRASH_PATH, the
# PATH apply and resume run with), crash_<kind>_dump FILE (the world as it is now, without what differs
# between two runs: lib.sh's normalize_world) and crash_<kind>_stop. $CRASH_WORLD_ARGS are the options
# matrix.conf gives the kind. A kind may also have crash_<kind>_cannot POINT_KIND, which prints why
# points of that kind cannot be run on it (nothing when they can), and crash_<kind>_once, which prints
# the changes that must not be made twice as the world itself recorded them (as CRASH_ONCE_JQ's), when it
# keeps such a record.

# served: a world served by `refit sim serve` (with $CRASH_WORLD_ARGS: --tls, --token-auth, ...), which
# outlives a killed client, reached through the real Kubernetes backend, its vendor tools through the
# server's shims (in DIR/bin, where apply and resume run). $CRASH_TARGET is a context of the served kubeconfig, or inventory:NAME=CONTEXT (an
# inventory naming that context NAME). The world's clock follows the wall clock (times $CRASH_SPEED), so
# between a stop and the resume it goes on for about 0.1-0.3 s of wall time (3-10 minutes at 2000x): an
# update that takes longer (an EKS control plane, a node group) is still going on when the resume looks
# at it; a shorter one has ended.
crash_served_start() {
  start_sim_serve "$1" "$CRASH_FX" --speed "$CRASH_SPEED" --shims "$1/bin" "${CRASH_WORLD_ARGS[@]}"
  if [[ $CRASH_TARGET == inventory:* ]]; then
    local name=${CRASH_TARGET#inventory:}
    printf 'clusters:\n  %s:\n    context: %s\n    kubeconfig: %s\n' "${name%%=*}" "${name#*=}" "$KC" >"$1/inventory.yaml"
    CRASH_TARGET_ARGS=(--inventory "$1/inventory.yaml")
  else
    CRASH_TARGET_ARGS=(--kubeconfig "$KC" --context "$CRASH_TARGET")
  fi
  CRASH_PATH="$1/bin:$PATH"
  # apply and resume run beside the shims: kkp/upgrade runs ./kubermatic-installer
  CRASH_WORKDIR="$1/bin"
  served_credentials "$1"
}
# Served worlds are compared without pods' placement, which depends on the wall clock
# (normalize_served_world).
crash_served_dump() {
  served_dump "${CURL_CREDS[@]}" >"$1.raw" && normalize_served_world "$1.raw" >"$1"
}
crash_served_stop() { stop_sim_serve; }

# kept: refit's simulated world in the apply's own process, kept in DIR/world.jsonl (--sim FIXTURE
# --sim-state FILE, docs/sim-state.md; $CRASH_WORLD_ARGS: --scenario F, --seed N, given to the dump too).
# The fixture holds every cluster the playbook names, so TARGET is "-". A resume finds FILE in the
# run's journal. The world is read back from FILE alone (refit sim dump), so what a run kept is what is
# compared, whatever the process that wrote it held in memory.
crash_kept_start() {
  CRASH_KEPT_FILE="$1/world.jsonl"
  CRASH_TARGET_ARGS=(--sim "$CRASH_FX" --sim-state "$CRASH_KEPT_FILE" "${CRASH_WORLD_ARGS[@]}")
  CRASH_PATH=$PATH
}
crash_kept_dump() {
  "$REFIT" sim dump "$CRASH_FX" --sim-state "$CRASH_KEPT_FILE" "${CRASH_WORLD_ARGS[@]}" >"$1.raw" &&
    normalize_world "$1.raw" >"$1"
}
crash_kept_stop() { :; }
# A kept world's clock moves only while a run runs in it: resumed an hour later, it is where it was at
# the stop, so a late point would be a kill point again.
crash_kept_cannot() {
  [ "$1" != late ] ||
    echo "a kept world's clock moves only while a run runs in it (docs/sim-state.md): resumed an hour later, it is as the stop left it, as at a kill point"
}
# What the world was asked to do, by every session, its lost lines included (a torn point's): each
# create and JSON patch that succeeded, each command declared mutating. Not the run's Lease, which a
# run stopped by SIGINT releases and its resume takes again: it is checked in the journal.
crash_kept_once() {
  jq -r 'if .write == "create" and .error == null
            and (.object.kind != "Lease" or (.object.metadata.name | startswith("refit-") | not)) then
           "\(.cluster) create \(.object.kind) \(.object.metadata.namespace // "")/\(.object.metadata.name)"
         elif .write == "json_patch" and .error == null then
           "\(.cluster) json-patch \(.ref.kind) \(.ref.namespace // "")/\(.ref.name)"
         elif .exec != null and .mutates then "$ \(.exec | join(" "))"
         else empty end' "$CRASH_KEPT_FILE"
}

# crash_absolute_paths: the binary, the fixture and a playbook file by their absolute paths (apply and
# resume run in a directory of their own).
crash_absolute_paths() {
  REFIT=$(realpath "$REFIT") CRASH_FX=$(realpath "$CRASH_FX")
  if [ -f "$CRASH_PB" ]; then CRASH_PB=$(realpath "$CRASH_PB"); fi
}

# crash_world_start DIR: also makes DIR/work, where apply and resume run unless the kind says otherwise
# (CRASH_WORKDIR, a directory in DIR).
crash_world_start() {
  mkdir -p "$1/work"
  CRASH_WORKDIR=$1/work
  "crash_${CRASH_WORLD}_start" "$@"
}
crash_world_dump() { "crash_${CRASH_WORLD}_dump" "$@"; }
crash_world_stop() { "crash_${CRASH_WORLD}_stop" "$@"; }
# crash_world_cannot POINT_KIND: why this kind of world cannot run such points (nothing: it can).
crash_world_cannot() { ! declare -F "crash_${CRASH_WORLD}_cannot" >/dev/null || "crash_${CRASH_WORLD}_cannot" "$@"; }
# crash_world_once FILE: the world's own record of its changes that must not be made twice, sorted, into
# FILE; false (and no FILE) when the kind keeps none.
crash_world_once() {
  declare -F "crash_${CRASH_WORLD}_once" >/dev/null || return 1
  "crash_${CRASH_WORLD}_once" | sort >"$1"
}

# --- Running the playbook.

# crash_apply STATE [NAME=VALUE...]: applies the playbook to the world, journaled in STATE, with those
# variables in its environment; sets $out, $err and $code. It runs in $CRASH_WORKDIR, as the resume does
# (a playbook may write files there, or run a tool by a relative path: kkp/upgrade's ./kubermatic-installer).
crash_apply() {
  local state=$1
  shift
  # (braces: bash would say "Killed" when the apply is)
  { (cd "$CRASH_WORKDIR" && exec env "$@" PATH="$CRASH_PATH" "$REFIT" apply "$CRASH_PB" "${CRASH_TARGET_ARGS[@]}" \
      "${CRASH_PARAMS[@]}" --yes --state-dir "$state" --no-color >"$CRASH_WORKDIR/../out" 2>"$CRASH_WORKDIR/../err"); } 2>/dev/null
  code=$?
  out=$(cat "$CRASH_WORKDIR/../out") err=$(cat "$CRASH_WORKDIR/../err")
}

# crash_resume STATE RUN [NAME=VALUE...]: refit resume RUN --yes, with those variables in its environment.
crash_resume() {
  local state=$1 id=$2
  shift 2
  { (cd "$CRASH_WORKDIR" && exec env "$@" PATH="$CRASH_PATH" "$REFIT" resume "$id" --state-dir "$state" --yes \
      --no-color >"$CRASH_WORKDIR/../out" 2>"$CRASH_WORKDIR/../err"); } 2>/dev/null
  code=$?
  out=$(cat "$CRASH_WORKDIR/../out") err=$(cat "$CRASH_WORKDIR/../err")
}

# --- What a journal says.

# A journal line's change that must not be made twice, or nothing: a Kubernetes create or JSON patch
# ("CLUSTER create|json-patch KIND NAMESPACE/NAME"), or a command that declared it mutates ("$ ARGV").
# Merge patches, applies, replaces, deletes and evictions come to the same when made again.
CRASH_ONCE_JQ='
  if .event == "mutation" and (.verb == "create" or (.verb == "patch" and (.patch | type) == "array")) then
    "\(.cluster) \(if .verb == "create" then "create" else "json-patch" end) \(.kind) \(.namespace // "")/\(.name)"
  elif .event == "command" and .mutates then "$ \(.argv | join(" "))"
  else empty end'

# line_text JOURNAL K: what line K of a journal is ("mutation item[b] run patch"), for messages.
line_text() {
  sed -n "${2}p" "$1" | jq -r '[.event, .check, .step, .phase, .verb] | map(select(. != null)) | join(" ")'
}

# --- The matrix.

# crash_reference: the uninterrupted apply on a fresh world. Sets REF_JOURNAL, REF_LINES and the files
# REF_WORLD (the world it ends in), REF_ONCE (its changes that must not be made twice, sorted), REF_STEPS
# (the steps it went through, run or skipped, sorted) and REF_WORLD_ONCE (REF_ONCE as the world recorded
# it; empty when the kind of world keeps no such record).
crash_reference() {
  local dir="$tmp/reference"
  mkdir -p "$dir"
  crash_world_start "$dir"
  crash_apply "$dir/state"
  if [ "$code" != 0 ]; then
    fail "the uninterrupted apply of $CRASH_PB: expected exit 0, got $code" "stdout: $(tail -c 1500 <<<"$out")" "stderr: ${err:0:800}"
    crash_world_stop
    finish
    exit 1
  fi
  crash_world_dump "$dir/world.json"
  REF_WORLD_ONCE="$dir/world-once.txt"
  crash_world_once "$REF_WORLD_ONCE" || REF_WORLD_ONCE=""
  crash_world_stop
  REF_JOURNAL="$dir/state/runs/$(only_run "$dir/state").jsonl"
  REF_LINES=$(wc -l <"$REF_JOURNAL")
  REF_WORLD="$dir/world.json"
  REF_ONCE="$dir/once.txt"
  REF_STEPS="$dir/steps.txt"
  jq -r "$CRASH_ONCE_JQ" "$REF_JOURNAL" | sort >"$REF_ONCE"
  jq -r 'select(.event == "step_finished" or .event == "step_skipped") | .step' "$REF_JOURNAL" | sort -u >"$REF_STEPS"
}

# crash_sample N SEED COUNT EXCLUDED: COUNT distinct points of 1..N-1 that are not among EXCLUDED (lines),
# all of them when there are fewer, in order; the same ones for the same seed.
crash_sample() {
  local n=$1 count=$3 i j t
  local -A excluded=()
  for i in $4; do excluded[$i]=1; done
  local points=()
  for ((i = 1; i < n; i++)); do [ -n "${excluded[$i]:-}" ] || points+=("$i"); done
  if ((${#points[@]} > count)); then
    RANDOM=$2
    for ((i = 0; i < count; i++)); do
      j=$((i + (RANDOM * 32768 + RANDOM) % (${#points[@]} - i)))
      t=${points[i]} points[i]=${points[j]} points[j]=$t
    done
    points=("${points[@]:0:count}")
  fi
  ((${#points[@]} == 0)) || printf '%s\n' "${points[@]}" | sort -n
}

# crash_change_lines: the reference journal's lines that journal a change that must not be made twice.
crash_change_lines() {
  jq -r "[$CRASH_ONCE_JQ] | length" "$REF_JOURNAL" | awk '$1 > 0 { print NR }'
}

# crash_point POINT: one point of the matrix, on a fresh world: kill:k, torn:k, int:k, int:k,k2, twice:k,j
# (killed after line k, then the resume killed after its own j-th line, then resumed again) or late:k
# (killed after line k, resumed an hour of the world's time later). But for late points, each resume
# follows the stop at once (what is checked of a stopped run is checked afterwards, on a copy of its state
# directory), so that what the stopped run started is, as far as the world's clock allows, still going on
# when the resume looks at it. A point the kind of world cannot run (crash_<kind>_cannot) is skipped, and
# says why.
crash_point() {
  local point=$1 kind=${1%%:*} at=${1#*:}
  local k=${at%%,*} dir="$tmp/point-${1//[:,]/-}" label
  label="$point (after line $k: $(line_text "$REF_JOURNAL" "$k"))"
  local cannot
  cannot=$(crash_world_cannot "$kind")
  if [ -n "$cannot" ]; then echo "skipped $point on a $CRASH_WORLD world: $cannot"; return; fi
  mkdir -p "$dir"
  local state="$dir/state" dropped="" expect=137 sessions=()
  crash_world_start "$dir"
  case $kind in
    kill | torn | twice | late) crash_apply "$state" REFIT_TEST_KILL_AFTER_EVENT="$k" ;;
    int) crash_apply "$state" REFIT_TEST_INTERRUPT_AFTER_EVENT="$at" ;;
    *) fail "unknown point $point (kill:k, torn:k, int:k, int:k,k2, twice:k,j or late:k)"; crash_world_stop; return ;;
  esac
  [ "$kind" = int ] && expect=130
  if [ "$code" != "$expect" ]; then
    fail "$label: the apply did not stop with exit $expect (exit $code)" "stdout: $(tail -c 600 <<<"$out")" "stderr: ${err:0:600}"
    crash_world_stop
    return
  fi
  local id journal
  id=$(only_run "$state") || { fail "$label: $(only_run "$state" 2>&1)"; crash_world_stop; return; }
  journal="$state/runs/$id.jsonl"
  if [ "$kind" = torn ]; then
    # the change was made, its line never written: only the world knows of it
    dropped=$(tail -1 "$journal")
    sed -i '$d' "$journal"
  fi
  cp -r "$state" "$dir/stopped-1"
  sessions+=("apply $(crash_stopped_status "$kind" "$at")")
  # late: the operator comes back an hour (of the world's time) later, when what the run started has ended
  [ "$kind" != late ] || sleep "$(bc <<<"scale=3; 3600000 / $CRASH_SPEED / 1000")"
  if [ "$kind" = twice ]; then
    crash_resume "$state" "$id" REFIT_TEST_KILL_AFTER_EVENT="${at#*,}"
    if [ "$code" = 137 ]; then
      cp -r "$state" "$dir/stopped-2"
      sessions+=("resume killed")
    elif [ "$code" != 0 ]; then
      fail "$label: the first resume: expected it killed (137), got $code" "stdout: $(tail -c 1500 <<<"$out")" "stderr: ${err:0:1200}"
      crash_world_stop
      return
    fi
  fi
  if [ "$code" != 0 ]; then crash_resume "$state" "$id"; fi
  local resume_code=$code resume_out=$out resume_err=$err
  # the stopped sessions, as they were left
  crash_check_stopped "$label" "${kind/late/kill}" "$at" "$dir/stopped-1/runs/$id.jsonl"
  [ ! -d "$dir/stopped-2" ] ||
    crash_check_stopped "$label (the resume)" kill "$(($(wc -l <"$dir/stopped-1/runs/$id.jsonl") + ${at#*,}))" \
      "$dir/stopped-2/runs/$id.jsonl"
  code=$resume_code out=$resume_out err=$resume_err
  if [ "$code" != 0 ]; then
    fail "$label: the resume: expected exit 0, got $code" "stdout: $(tail -c 1500 <<<"$out")" "stderr: ${err:0:1200}"
  else
    local last
    last=$(ls -d "$dir"/stopped-* | tail -1)
    crash_check "$label" "$dir" "$journal" "$last/runs/$id.jsonl" "$dropped" "${sessions[@]}" "resume succeeded"
  fi
  crash_world_stop
}

# crash_stopped_status KIND AT: what refit runs -o json says of a session stopped so ("killed": none).
crash_stopped_status() {
  if [ "$1" = int ] && [ "$2" = "${2%%,*}" ]; then echo interrupted; else echo killed; fi
}

# crash_check_stopped LABEL KIND AT JOURNAL: the journal a stopped session left (KIND and AT as a point's),
# and refit runs of its state directory.
crash_check_stopped() {
  local label=$1 kind=$2 at=$3 journal=$4 k=${3%%,*}
  jq -e . "$journal" >/dev/null 2>&1 && pass || fail "$label: the stopped run's journal is not JSON lines"
  case $kind in
    kill) [ "$(wc -l <"$journal")" = "$k" ] && pass || fail "$label: the killed run's journal has not $k lines" ;;
    int)
      if [ "$at" = "$k" ]; then
        # The run releases its leases between the two, one per cluster it holds one in (docs/leases.md).
        jq -e -s '(map(.event) | rindex("run_interrupted")) as $at
                  | $at != null and (.[$at + 1:-1] | map(.event) | unique) == ["lease_released"]
                  and (.[$at + 1:-1] | map(.cluster) | sort) == (map(select(.event == "lease_acquired") | .cluster) | sort)
                  and .[-1].event == "run_finished" and .[-1].status == "interrupted"' "$journal" >/dev/null && pass ||
          fail "$label: the journal does not end with run_interrupted, a lease_released per lease, and run_finished interrupted" \
            "$(tail -4 "$journal")"
      else
        # aborted at once by the second interrupt: nothing journaled after it
        [ "$(tail -1 "$journal" | jq -r .event)" != run_finished ] && pass || fail "$label: the aborted run journaled its end"
      fi
      ;;
  esac
  PATH="$CRASH_PATH" run runs --state-dir "$(dirname "$(dirname "$journal")")" -o json
  [ "$(jq -r '.[0].status' <<<"$out")" = interrupted ] && pass || fail "$label: refit runs does not say interrupted" "$out"
}

# crash_check LABEL DIR JOURNAL STOPPED DROPPED SESSION...: after a resume that succeeded, the world, the
# changes and the journal. STOPPED is the journal as the last stopped session left it; DROPPED the line
# lost from it (torn), or empty; each SESSION "MODE STATUS" as refit runs should list it ("killed": none).
crash_check() {
  local label=$1 dir=$2 journal=$3 stopped=$4 dropped=$5
  shift 5
  crash_world_dump "$dir/world.json"
  if diff -u "$REF_WORLD" "$dir/world.json" >"$dir/world.diff"; then pass; else
    fail "$label: the resumed run's world differs from the uninterrupted run's" "$(head -40 "$dir/world.diff")"
  fi
  # no change that must not be made twice was made more often than the uninterrupted run made it
  { jq -r "$CRASH_ONCE_JQ" "$journal"; [ -z "$dropped" ] || jq -r "$CRASH_ONCE_JQ" <<<"$dropped"; } | sort >"$dir/once.txt"
  local extra
  extra=$(comm -13 "$REF_ONCE" "$dir/once.txt")
  [ -z "$extra" ] && pass || fail "$label: made more often than in the uninterrupted run:" "$extra"
  # and as the world itself recorded them, when it keeps a record (a kept world's file)
  if [ -n "$REF_WORLD_ONCE" ] && crash_world_once "$dir/world-once.txt"; then
    extra=$(comm -13 "$REF_WORLD_ONCE" "$dir/world-once.txt")
    [ -z "$extra" ] && pass || fail "$label: the world recorded more often than in the uninterrupted run:" "$extra"
  fi
  local expected
  expected=$(printf '%s\n' "$@" | jq -R -s -c 'split("\n") | map(select(. != "") | split(" ") | [.[0], (.[1] | sub("^killed$"; ""))])')
  PATH="$CRASH_PATH" run runs --state-dir "$(dirname "$(dirname "$journal")")" -o json
  [ "$(jq -c '.[0] | [.status, [.sessions[] | [.mode, .status]]]' <<<"$out")" = "[\"succeeded\",$expected]" ] && pass ||
    fail "$label: refit runs does not list the sessions $* and the status succeeded" "$out"
  local stopped_lines
  stopped_lines=$(wc -l <"$stopped")
  head -n "$stopped_lines" "$journal" | cmp -s - "$stopped" && pass ||
    fail "$label: the resume changed the lines of the stopped sessions"
  local why
  why=$(crash_journal_problems "$stopped" "$journal" "$REF_STEPS")
  [ -z "$why" ] && pass || fail "$label: the journal does not tell the run as it went:" "${why//$'\n'/; }"
}

# crash_journal_problems STOPPED JOURNAL STEPS: what is wrong (a line each; nothing when all is right) with
# the journal of a run resumed to success (JOURNAL) that was stopped when its journal was STOPPED, STEPS
# being the steps an uninterrupted run goes through (a file, one a line).
crash_journal_problems() {
  jq -r -n --slurpfile stopped "$1" --rawfile ref_steps "$3" '
    def ended: map(select(.event == "step_finished" or .event == "step_skipped") | .step);
    [inputs] as $all | $all[($stopped | length):] as $resumed
    | ($stopped | ended) as $before
    | ([$stopped[] | select(.event == "step_started") | .step] - $before | unique) as $cut
    | ($stopped | any(.event == "phase_started" and .phase == "run" and .step == $cut[0])) as $run_began
    | [$resumed[] | select(.event == "run_resumed")][0] as $resumed_at
    | [
        (if $resumed[0].event != "run_started" or $resumed[0].mode != "resume" then
           "the resumed session does not begin with run_started (mode resume)" else empty end),
        (if ($resumed | map(select(.event == "run_started")) | length) != 1 then "not one run_started in the resume" else empty end),
        (if $resumed[-1].event != "run_finished" or $resumed[-1].status != "succeeded" then
           "the resumed session does not end with run_finished succeeded" else empty end),
        (if ($cut | length) > 1 then "the stopped sessions left more than one step unfinished: \($cut)" else empty end),
        (if ($cut | length) == 1 and $resumed_at.from_step != $cut[0] then
           "run_resumed goes on from \($resumed_at.from_step | tojson), not from the stopped step \($cut[0])" else empty end),
        # the stopped step: when its run had begun, only its `done` may pass it over (as completed); else
        # it goes as it would have (run, or skipped by its `when` or `done`)
        ($cut[] | . as $s
         | if ($resumed | any(.step == $s and .event == "step_finished" and .status == "succeeded")) then empty
           elif $run_began then
             (if ($resumed | any(.step == $s and .event == "step_skipped" and .reason == "done" and .completed)) then empty
              else "the stopped step \($s), whose run had begun, neither ran again nor was found done" end)
           elif ($resumed | any(.step == $s and .event == "step_skipped" and (.reason == "when" or .reason == "done"))) then empty
           else "the stopped step \($s) neither ran nor was skipped by its when or done" end),
        # steps that ended before are passed over, never started again
        ($before | unique | .[] | . as $s
         | if ($resumed | any(.step == $s and .event == "step_skipped" and .reason == "completed")) then empty
           else "step \($s) ended before the stop but is not passed over as completed" end),
        ([$resumed[] | select(.event == "step_started") | .step] as $again | $before | unique | .[] | select(IN($again[])) |
           "step \(.) ended before the stop and started again"),
        # and every step of the uninterrupted run ended, in one session or another
        (($ref_steps | split("\n") | map(select(. != ""))) - ($all | ended) | .[] |
           "step \(.) of the uninterrupted run never ended")
      ] | .[]' "$2"
}

# crash_choose_points SEED: the points of the matrix of the reference run, the same ones for the same seed.
# CRASH_SAMPLE kill points in all: right after changes that must not be made twice, with their line lost
# (torn: every one, or a sample of them when they are more than half the points), two of those changes
# resumed late (on a world whose clock goes on between runs), two killed again while they resume (twice),
# the rest a sample of the other lines; then SIGINT at three sampled points, once followed by a second
# SIGINT right after.
crash_choose_points() {
  local seed=$1 changes=() torn=() late=() twice=() kills=() ints=() points=() n k
  mapfile -t changes < <(crash_change_lines)
  for n in $(crash_sample "$((${#changes[@]} + 1))" "$((seed + 4))" "$((CRASH_SAMPLE / 2))" ""); do
    torn+=("${changes[n - 1]}")
  done
  if [ -n "$(crash_world_cannot late)" ]; then
    :
  elif ((${#torn[@]} > 0)); then
    for n in $(crash_sample "$((${#torn[@]} + 1))" "$((seed + 3))" 2 ""); do late+=("${torn[n - 1]}"); done
  else
    mapfile -t late < <(crash_sample "$REF_LINES" "$((seed + 3))" 2 "")
  fi
  mapfile -t twice < <(crash_sample "$REF_LINES" "$((seed + 2))" 2 "")
  n=$((CRASH_SAMPLE - ${#torn[@]} - ${#late[@]} - ${#twice[@]}))
  mapfile -t kills < <(crash_sample "$REF_LINES" "$seed" "$((n > 0 ? n : 0))" "${torn[*]}")
  mapfile -t ints < <(crash_sample "$((REF_LINES - 1))" "$((seed + 1))" 3 "")
  for k in "${torn[@]}"; do points+=("torn:$k"); done
  for k in "${kills[@]}"; do points+=("kill:$k"); done
  RANDOM=$((seed + 2))
  for k in "${twice[@]}"; do points+=("twice:$k,$((1 + RANDOM % (REF_LINES - k)))"); done
  for k in "${late[@]}"; do points+=("late:$k"); done
  for n in "${!ints[@]}"; do
    if ((n < 2)); then points+=("int:${ints[n]}"); else points+=("int:${ints[n]},$((ints[n] + 1))"); fi
  done
  echo "${points[*]}"
}

# crash_matrix WORLD PLAYBOOK FIXTURE TARGET [PARAMS...]: the matrix of one playbook, applied to a WORLD
# made from FIXTURE, targeting TARGET, with PARAMS (--set k=v ...). WORLD is a kind above, then the kind's
# options, separated by commas (served,--tls,--token-auth).
crash_matrix() {
  IFS=, read -r -a CRASH_WORLD_ARGS <<<"$1"
  CRASH_WORLD=${CRASH_WORLD_ARGS[0]} CRASH_WORLD_ARGS=("${CRASH_WORLD_ARGS[@]:1}")
  CRASH_PB=$2 CRASH_FX=$3 CRASH_TARGET=$4
  shift 4
  crash_absolute_paths
  local described="$CRASH_PB (${CRASH_WORLD_ARGS[*]:+${CRASH_WORLD_ARGS[*]} }$CRASH_WORLD world from $(realpath --relative-to=. "$CRASH_FX"))"
  CRASH_PARAMS=("$@")
  declare -F "crash_${CRASH_WORLD}_start" >/dev/null || { fail "no kind of world $CRASH_WORLD (tests/cli/crash/lib.sh)"; finish; exit 1; }
  tmp=$(mktemp -d -t refit-crash.XXXXXX)
  trap 'crash_world_stop; if [ -n "${CRASH_KEEP:-}" ]; then echo "kept: $tmp"; else rm -rf "$tmp"; fi' EXIT
  local seed=${CRASH_SEED:-1} started=$SECONDS
  if [ "$seed" = random ]; then seed=$((RANDOM * 32768 + RANDOM)); fi
  crash_reference
  local points=${CRASH_POINTS:-$(crash_choose_points "$seed")}
  echo "crash matrix of $described: $REF_LINES journal lines, seed $seed" \
    "(CRASH_SEED=$seed reproduces it)"
  echo "points: $points"
  crash_run_points $points
  echo "$(wc -w <<<"$points") points in $((SECONDS - started)) s, $CRASH_JOBS at a time"
  finish
}

# crash_run_points POINT...: each point in a subshell of its own, $CRASH_JOBS at a time; their reports in
# order, their passes and failures counted.
crash_run_points() {
  local i=0 n point
  for point in "$@"; do
    i=$((i + 1))
    (
      trap 'crash_world_stop' EXIT
      passes=0 failures=0
      crash_point "$point" >"$tmp/report-$i" 2>&1
      echo "$passes $failures" >"$tmp/counts-$i"
    ) &
    while (($(jobs -rp | wc -l) >= CRASH_JOBS)); do wait -n; done
  done
  wait
  for ((n = 1; n <= i; n++)); do
    cat "$tmp/report-$n"
    local counts
    read -r -a counts <"$tmp/counts-$n" 2>/dev/null || { fail "point $n ended without its counts"; continue; }
    passes=$((passes + counts[0])) failures=$((failures + counts[1]))
  done
}
