#!/usr/bin/env bash
# kkp/upgrade's backups (seed 003, "Create Backups") written for real by `refit apply --sim`: one file
# per cluster (master and each seed) and kubermatic CRD, <backup_dir>/<cluster>/<crd>.yaml, in the
# format `kubectl get <crd> -A -o yaml` writes (a kind: List), holding the objects, mode 0600; and a
# resumed run (the upgrade recorded in progress) leaves that pre-upgrade backup untouched.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DIR=$TMP/kkp-backup

run apply scripts/kkp/upgrade.lua --sim examples/clusters/kkp-2.21.yaml --set backup_dir="$DIR"
expect_code 0 "the upgrade applies in the simulated world"
expect_out "Apply succeeded (exit 0)" "the apply reports success"

# 28 kubermatic CRDs on each of the 3 clusters
for cluster in kkp-master seed-eu seed-us; do
  n=$(find "$DIR/$cluster" -maxdepth 1 -type f -name '*.yaml' 2>/dev/null | wc -l)
  [ "$n" = 28 ] && pass || fail "$cluster: one backup file per kubermatic CRD" "found $n files in $DIR/$cluster"
done
total=$(find "$DIR" -type f | wc -l)
[ "$total" = 84 ] && pass || fail "nothing but the 84 backup files is written" "found $total"
others=$(find "$DIR" -type f ! -name '*kubermatic*' | wc -l)
[ "$others" = 0 ] && pass || fail "every file is the dump of a CRD whose name contains kubermatic" "$others others"

# mode 0600: the dumps hold the installation's configuration
bad=$(find "$DIR" -type f ! -perm 0600 | wc -l)
[ "$bad" = 0 ] && pass || fail "every backup file has mode 0600" "$bad files with another mode"

# the kubectl -o yaml List format, with the objects
f=$DIR/seed-eu/clusters.kubermatic.k8c.io.yaml
head -n 1 "$f" | grep -qx 'apiVersion: v1' && pass || fail "a backup starts like kubectl's List" "$(head -n 3 "$f")"
grep -qx 'kind: List' "$f" && pass || fail "a backup is a kind: List" "$(tail -n 5 "$f")"
clusters=$(grep -c '^    kind: Cluster$' "$f")
[ "$clusters" = 25 ] && pass || fail "seed-eu's backup holds its 25 Cluster objects" "found $clusters"
grep -q 'humanReadableName: payments' "$f" && pass || fail "the special cluster payments is in seed-eu's backup"
grep -q 'kind: KubermaticConfiguration' "$DIR/kkp-master/kubermaticconfigurations.kubermatic.k8c.io.yaml" && pass ||
  fail "the master's KubermaticConfiguration is backed up"
seeds=$(grep -c '^    kind: Seed$' "$DIR/kkp-master/seeds.kubermatic.k8c.io.yaml")
[ "$seeds" = 2 ] && pass || fail "the master's two Seeds are backed up" "found $seeds"
grep -qx 'items: \[\]' "$DIR/seed-us/presets.kubermatic.k8c.io.yaml" && pass ||
  fail "a CRD without objects is backed up as an empty List" "$(cat "$DIR/seed-us/presets.kubermatic.k8c.io.yaml")"

# a re-run after a failure past the point of no return resumes the recorded upgrade: the pre-upgrade
# backup is kept as it is, nothing is written (not into $DIR, not into the recorded directory)
sum_before=$(find "$DIR" -type f -exec sha256sum {} + | sort | sha256sum)
mtime_before=$(find "$DIR" -type f -printf '%T@ %p\n' | sort | sha256sum)
run apply scripts/kkp/upgrade.lua --sim tests/scripts/fixtures/kkp-2.22-resume-seed-unhealthy.yaml --set backup_dir="$DIR"
expect_code 0 "the resumed upgrade applies"
expect_out "cluster seed-us was backed up before the upgrade to kkp-backup-v2.21.12-to-v2.22.9/seed-us/" \
  "the resumed run names the recorded backup it keeps"
[ "$(find "$DIR" -type f -exec sha256sum {} + | sort | sha256sum)" = "$sum_before" ] && pass ||
  fail "a resumed run does not overwrite the pre-upgrade backup"
[ "$(find "$DIR" -type f -printf '%T@ %p\n' | sort | sha256sum)" = "$mtime_before" ] && pass ||
  fail "a resumed run does not touch the pre-upgrade backup files"
[ ! -e kkp-backup-v2.21.12-to-v2.22.9 ] && pass || fail "a resumed run writes no backup into the recorded directory"

# the plan writes nothing
PLAN_DIR=$TMP/plan-backup
run plan scripts/kkp/upgrade.lua --sim examples/clusters/kkp-2.21.yaml --set backup_dir="$PLAN_DIR"
expect_code 0 "the plan succeeds"
expect_out "> would write 28 files to $PLAN_DIR/kkp-master/ (" "the plan sums up the backup files per directory"
run plan scripts/kkp/upgrade.lua --sim examples/clusters/kkp-2.21.yaml --set backup_dir="$PLAN_DIR" -v
expect_out "> would write $PLAN_DIR/kkp-master/seeds.kubermatic.k8c.io.yaml (" "-v lists every backup file"
[ ! -e "$PLAN_DIR" ] && pass || fail "refit plan writes no backup file"

finish
