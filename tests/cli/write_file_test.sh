#!/usr/bin/env bash
# ctx:write_file: refit apply writes the file (0600, directories created 0700, atomically), refit plan
# does not; a path that cannot be written fails the step with the path and the reason.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
PB=tests/scripts/playbooks/host_extras.lua
FX=tests/scripts/fixtures/two-clusters.yaml
dir=$(mktemp -d)
trap 'chmod -R u+w "$dir"; rm -rf "$dir"' EXIT

run plan $PB --sim $FX --set path="$dir/backup/settings.yaml"
expect_code 0 "the plan succeeds"
expect_out "> would write $dir/backup/settings.yaml (10 bytes)" "the plan shows the file it would write"
[ ! -e "$dir/backup" ] && pass || fail "plan writes nothing"

run apply $PB --sim $FX --set path="$dir/backup/settings.yaml"
expect_code 0 "the apply succeeds"
expect_out "> wrote $dir/backup/settings.yaml (10 bytes)" "the apply shows the file it wrote"
[ "$(cat "$dir/backup/settings.yaml")" = "mode: new" ] && pass || fail "the file has the content"
[ "$(stat -c %a "$dir/backup/settings.yaml")" = 600 ] && pass || fail "the file is 0600" "$(stat -c %a "$dir/backup/settings.yaml")"
[ "$(stat -c %a "$dir/backup")" = 700 ] && pass || fail "the directory is 0700"
[ -z "$(ls "$dir/backup" | grep -v '^settings.yaml$')" ] && pass || fail "no temporary file is left" "$(ls "$dir/backup")"

mkdir "$dir/locked" && chmod 500 "$dir/locked"
if [ "$(id -u)" != 0 ]; then
  run apply $PB --sim $FX --set path="$dir/locked/settings.yaml"
  expect_code 4 "a file that cannot be written fails the run (the step before it changed the world)"
  expect_out "cannot write $dir/locked/settings.yaml: open failed: Permission denied" "the error names the path and the reason"
fi
run apply $PB --sim $FX --set path="$dir/backup/settings.yaml/x"
expect_code 4 "a path under a file fails the run"
expect_out "cannot write $dir/backup/settings.yaml/x: creating $dir/backup/settings.yaml failed" "the error names the directory it could not create"

finish
