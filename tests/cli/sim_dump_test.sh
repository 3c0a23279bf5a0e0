#!/usr/bin/env bash
# refit sim dump FIXTURE --sim-state FILE (docs/sim-state.md): prints the world kept in FILE as the next
# run would restore it, and only reads FILE. The world a kept apply leaves is the one its --save-world
# wrote; a killed apply's world holds its lease; what is not a kept world of this fixture is refused,
# and so is a world a secret parameter was written into (the dump would print it).
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
FX=examples/clusters/eks-1.20.yaml
S="$tmp/world.jsonl"

# --- the world an apply kept is the one it left ---------------------------------------------------------
run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$S" --save-world "$tmp/saved.json" --state-dir "$tmp/state"
expect_code 0 "the kept apply"
before=$(sha256sum <"$S")
run sim dump $FX --sim-state "$S"
expect_code 0 "sim dump of the kept world"
[ "$out" = "$(cat "$tmp/saved.json")" ] && pass || fail "the dump differs from the world the apply saved"
[ -z "$err" ] && pass || fail "sim dump of a whole file warned" "$err"
[ "$(sha256sum <"$S")" = "$before" ] && pass || fail "sim dump changed the file"

# --- a killed apply's world: as far as it got, its lease held ---------------------------------------------
K="$tmp/killed.jsonl"
REFIT_TEST_KILL_AFTER_EVENT=20 run apply eks/upgrade --sim $FX --set to=1.21 --sim-state "$K" --state-dir "$tmp/killed"
expect_code 137 "the apply killed after its 20th journal line"
id=$(only_run "$tmp/killed")
run sim dump $FX --sim-state "$K"
expect_code 0 "sim dump of the killed run's world"
[ "$(jq -c '[.clusters.demo.objects["coordination.k8s.io/Lease"][] | [.metadata.name, .spec.holderIdentity]]' <<<"$out")" = \
  "[[\"refit-eks-upgrade\",\"$id\"]]" ] && pass || fail "the killed run's world does not hold its lease" "${out:0:300}"
[ "$(jq -r '.cloud.eks.clusters.demo.version' <<<"$out")" = 1.20 ] && pass || fail "the killed run had not upgraded yet"

# A last line cut short: dropped with a warning, and the file left as it is.
printf '{"code":0,"exec":["aws","eks","describe-cl' >>"$K"
before=$(sha256sum <"$K")
run sim dump $FX --sim-state "$K"
expect_code 0 "sim dump of a file with a torn last line"
expect_err_exact "refit: warning: $K:$(wc -l <"$K" | awk '{ print $1 + 1 }'): the last line was cut short (a run was killed while writing it): dropped; the world is restored without that input" \
  "warns of the torn line"
[ "$(sha256sum <"$K")" = "$before" ] && pass || fail "sim dump cut the torn line off the file"

# --- refusals ----------------------------------------------------------------------------------------------
run sim dump $FX --sim-state "$tmp/none.jsonl"
expect_code 1 "sim dump of a file that does not exist"
expect_err_exact "refit: --sim-state $tmp/none.jsonl: no such file: no world is kept there (give the file refit apply --sim-state kept the world in)" \
  "says there is no kept world"
[ ! -e "$tmp/none.jsonl" ] && pass || fail "sim dump created the file"

run sim dump $FX --sim-state "$S" --seed 2
expect_code 1 "sim dump with another seed than the world was kept with"
expect_err_exact "refit: $S: this world was recorded with --seed 1, and this run has --seed 2: pass --seed 1, or delete $S to start over with seed 2" \
  "names the file and both seeds"
[ -z "$out" ] && pass || fail "a refused dump printed a world"

# A secret parameter the playbook wrote into the world: never printed, and the refusal says why.
token=s3cr3t-dump-t0ken
run apply tests/scripts/playbooks/secrets.lua --sim tests/scripts/fixtures/minimal.yaml --set token=$token \
  --sim-state "$tmp/secret.jsonl" --state-dir "$tmp/secret"
[ -s "$tmp/secret.jsonl" ] && pass || fail "the secret playbook kept no world"
line=$(grep -n 'refit-secret' "$tmp/secret.jsonl" | head -1 | cut -d: -f1)
run sim dump tests/scripts/fixtures/minimal.yaml --sim-state "$tmp/secret.jsonl"
expect_code 1 "sim dump of a world holding a secret parameter"
expect_err_exact "refit: $tmp/secret.jsonl:$line: this input holds the value of secret parameter token, and refit sim dump is never given secret parameters (it would print them): this kept world cannot be dumped; its runs (refit resume, rollback) take --set token=..." \
  "says the dump is never given secrets"
grep -qF "$token" <<<"$out$err" && fail "the token was printed" || pass

finish
