#!/usr/bin/env bash
# Points of the crash matrix on kept worlds (tests/cli/crash/lib.sh) that found defects in bundled
# playbooks, run every time rather than when the sample draws them: each killed right after the command
# that makes a step's change, with that command's journal line kept (kill) or lost (torn). A kept world's
# clock stands still between the stop and the resume, so the resume finds the change asked for and not yet
# carried out (an application still rolling out, a plan not yet started), which a step must neither ask for
# again nor take for finished (a Fargate pod deleted, its replacement not yet made).
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/crash/lib.sh

# kept_points NAME WHAT FILTER [last]: the line NAME of matrix.conf, stopped after the first (or last) journal
# line that the jq FILTER selects (torn, then kill); WHAT says which.
kept_points() {
  local fields k
  read -r -a fields <<<"$(awk -v name="$1" '$1 == name' tests/cli/crash/matrix.conf)"
  IFS=, read -r -a CRASH_WORLD_ARGS <<<"${fields[1]}"
  CRASH_WORLD=${CRASH_WORLD_ARGS[0]} CRASH_WORLD_ARGS=("${CRASH_WORLD_ARGS[@]:1}")
  CRASH_PB=${fields[2]} CRASH_FX=${fields[3]} CRASH_TARGET=${fields[4]} CRASH_PARAMS=("${fields[@]:5}")
  crash_absolute_paths
  tmp=$(mktemp -d -t refit-crash.XXXXXX)
  crash_reference
  k=$(jq -r "select($3) | input_line_number" "$REF_JOURNAL" | if [ "${4:-}" = last ]; then tail -1; else head -1; fi)
  if [ -z "$k" ]; then
    fail "$1: no $2 in the uninterrupted run"
  else
    echo "$1: after line $k ($2)"
    crash_point "torn:$k"
    crash_point "kill:$k"
  fi
  rm -rf "$tmp"
}

# kept_points_after_command NAME WORDS: stopped after the first command whose argv begins with WORDS.
kept_points_after_command() {
  kept_points "$1" "$2" "$(printf '.event == "command" and (.argv | join(" ") | startswith(%s))' "$(jq -n --arg w "$2" '$w')")"
}

# dkp/upgrade: an AppDeployment pointed at the new version, its HelmReleases not yet Ready.
kept_points_after_command dkp-upgrade-kept "dkp upgrade catalogapp"
# kaptain/upgrade: the Instance at the new OperatorVersion, its plan not yet started by KUDO's manager.
kept_points_after_command kaptain-upgrade-kept "kubectl kudo upgrade"
# kkp/upgrade: the master stack deployed at the target, the KKP operator not yet at it.
kept_points_after_command kkp-upgrade-kept "./kubermatic-installer deploy kubermatic-master"
# eks/upgrade: the last Fargate pod deleted, its ReplicaSet's replacement not yet made (the world's clock has
# not moved since); no later step gives it the time to start.
kept_points eks-upgrade-kept "the last delete of a Fargate pod" \
  '.event == "mutation" and .verb == "delete" and .kind == "Pod"' last
finish
