#!/usr/bin/env bash
# run.sh NAME: the crash matrix (lib.sh) of the line NAME of matrix.conf.
cd "$(dirname "$0")/../../.." || exit 1
source tests/cli/crash/lib.sh
line=$(awk -v name="$1" '$1 == name' tests/cli/crash/matrix.conf)
[ -n "$line" ] || { echo "no line $1 in tests/cli/crash/matrix.conf"; exit 1; }
read -r -a fields <<<"$line"
crash_matrix "${fields[@]:1}"
