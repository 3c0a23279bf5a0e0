#!/usr/bin/env bash
# API faults from a scenario's api section, injected by refit sim serve: with 10% of requests answered
# 429 or 503 (Retry-After 1s), 10% of reads answered 500 (no Retry-After: only a read may be repeated
# then), and every watch ended early, refit's backend retries what is safe and re-watches. A whole
# bundled playbook (eks/upgrade over TLS, its tools through the shims, which are not subject to API
# faults) and a playbook making every kind of write end in the same world as in-process runs, with
# the same mutations: none lost, none made twice.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT

# As tests/cli/real_bundled_test.sh: what may differ between a served and an in-process run is when
# things happened and the identities drawn from the world's random generator.
normalize() {
  jq -S 'walk(if type == "object" then
            del(.creationTimestamp, .resourceVersion, .uid, .lastTransitionTime, .lastUpdateTime,
                .lastHeartbeatTime, .lastProbeTime, .startedAt, .startTime, .createdAt, .modifiedAt,
                .instanceId, .bootID, .machineID, .systemUUID, .providerID, .finishAt)
          else . end) | del(.time)' "$1"
}
mutations() { jq -c 'select(.event == "mutation") | [.verb, .kind, .namespace, .name, .patch]' <<<"$1"; }
tool_changes() { jq -c 'select(.event == "command" and .mutates) | .argv' <<<"$1"; }
same_world() {
  normalize "$1" >"$tmp/a.json"
  normalize "$2" >"$tmp/b.json"
  if diff -u "$tmp/a.json" "$tmp/b.json" >"$tmp/diff"; then pass; else fail "$3" "$(head -40 "$tmp/diff")"; fi
}
# The counts the server prints when it stops: "API faults: E of R requests answered with an injected
# error; D of W watches ended early".
injected_errors() { sed -n 's/^API faults: \([0-9]*\) of [0-9]* requests.*/\1/p' "$tmp/serve.log"; }

cat >"$tmp/api-faults.yaml" <<'YAML'
name: api-faults
description: an overloaded API server whose watches end early
api:
  seed: 11
  errors:
    - { rate: 0.1, statuses: [429, 503], retry_after: 1s }
    - { rate: 0.1, statuses: [500], verbs: [get, list] }
  watches: { after: { min: 200ms, max: 1s } }
YAML

# A mistake in the api section stops the server before it serves.
printf 'api:\n  errors: { rate: 0.1, statuses: [404] }\n' >"$tmp/bad-api.yaml"
run sim serve examples/clusters/eks-1.20.yaml --scenario "$tmp/bad-api.yaml"
expect_code 1 "an api section with a status that cannot be injected"
expect_err_exact "refit: $tmp/bad-api.yaml: api.errors.statuses[1]: must be one of 429, 500, 503, 504 (the errors a client retries), got number 404" "names the file and field"

# --- eks/upgrade, for real through the shims, over TLS ---
FX=examples/clusters/eks-1.20.yaml
run apply eks/upgrade --sim $FX --set to=1.21 --save-world "$tmp/in-process.json" -o json
expect_code 0 "the in-process apply"
in_process=$out

start_sim_serve "$tmp" $FX --tls --speed 2000 --shims "$tmp/bin" --scenario "$tmp/api-faults.yaml"
grep -qxF "API faults from $tmp/api-faults.yaml: errors 10% (429, 503; Retry-After 1s); errors 10% (500) on get, list; watches: 100% dropped after 200ms-1s; seed 11" "$tmp/serve.log" &&
  pass || fail "the banner does not summarize the faults" "$(cat "$tmp/serve.log")"
PATH="$tmp/bin:$PATH" run apply eks/upgrade --kubeconfig "$KC" --context demo --set to=1.21 --yes -o json
expect_code 0 "eks/upgrade applied for real despite the API faults"
jq -e 'select(.event == "run_finished") | .status == "succeeded"' <<<"$out" >/dev/null && pass || fail "the run did not succeed"
[ -n "$(mutations "$out")" ] && [ "$(mutations "$out")" = "$(mutations "$in_process")" ] && pass ||
  fail "the served run's mutations differ from the in-process run's" "in-process: $(mutations "$in_process")" "served: $(mutations "$out")"
[ -n "$(tool_changes "$out")" ] && [ "$(tool_changes "$out")" = "$(tool_changes "$in_process")" ] && pass ||
  fail "the served run's tool commands differ from the in-process run's"

# refit's own endpoints are not the Kubernetes API: never faulted (the run above made over a hundred
# tool calls through them; a faulted one would have failed its command).
sed -n 's/^ *certificate-authority-data: //p' "$KC" | head -1 | base64 -d >"$tmp/ca.pem"
sed -n 's/^ *client-certificate-data: //p' "$KC" | head -1 | base64 -d >"$tmp/client.pem"
sed -n 's/^ *client-key-data: //p' "$KC" | head -1 | base64 -d >"$tmp/client.key"
base=$(sed -n 's/^ *server: //p' "$KC" | head -1 | sed 's|/clusters/.*||')
statuses=$(for _ in $(seq 40); do
  curl -s -o /dev/null -w '%{http_code}\n' --cacert "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" "$base/refit/v1/dump"
done | sort | uniq -c | awk '{print $1 "x" $2}')
[ "$statuses" = "40x200" ] && pass || fail "refit's dump endpoint is subject to the API faults: $statuses"
curl -s --cacert "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" "$base/refit/v1/dump" >"$tmp/served.json"
stop_sim_serve
same_world "$tmp/in-process.json" "$tmp/served.json" "the served world differs from the in-process one"
[ "$(injected_errors)" -gt 0 ] 2>/dev/null && pass || fail "no error was injected" "$(tail -3 "$tmp/serve.log")"
grep -q "^API faults: [0-9]* of [0-9]* requests answered with an injected error; [1-9][0-9]* of [0-9]* watches ended early$" "$tmp/serve.log" &&
  pass || fail "no watch was ended early" "$(tail -3 "$tmp/serve.log")"

# --- Every kind of write: create, merge / JSON / strategic patch, apply, replace, status, delete, eviction ---
PB=tests/cli/files/api-mutations.lua
FX=tests/cli/files/api-mutations.yaml
run apply $PB --sim $FX --save-world "$tmp/in-process.json" -o json
expect_code 0 "the writes in process"
in_process=$out
# -v: the server logs each request with its status.
start_sim_serve "$tmp" $FX -v --speed 2000 --scenario "$tmp/api-faults.yaml"
run apply $PB --kubeconfig "$KC" --context demo --yes -o json
expect_code 0 "the writes applied for real despite the API faults"
[ "$(mutations "$out" | wc -l)" -gt 50 ] && [ "$(mutations "$out")" = "$(mutations "$in_process")" ] && pass ||
  fail "the served run's writes differ from the in-process run's" "$(diff <(mutations "$in_process") <(mutations "$out") | head -20)"
curl -s "$(sed -n 's/^ *server: //p' "$KC" | head -1 | sed 's|/clusters/.*||')/refit/v1/dump" >"$tmp/served.json"
stop_sim_serve
same_world "$tmp/in-process.json" "$tmp/served.json" "the world written through faults differs from the in-process one"
finalizers=$(jq -c '.. | objects | select(.kind? == "ConfigMap" and .metadata.name == "ledger") | .metadata.finalizers' "$tmp/served.json")
[ "$finalizers" = '["refit.dev/round-0","refit.dev/round-1","refit.dev/round-2","refit.dev/round-3","refit.dev/round-4","refit.dev/round-5","refit.dev/round-6","refit.dev/round-7","refit.dev/round-8"]' ] &&
  pass || fail "the JSON patches did not append each round once: $finalizers"
refused_writes=$(grep -cE "^(POST|PUT|PATCH|DELETE) /clusters/demo/.* (429|503)$" "$tmp/serve.log")
[ "$refused_writes" -gt 0 ] && pass || fail "no write was answered 429 or 503" "$(tail -3 "$tmp/serve.log")"
! grep -qE "^(POST|PUT|PATCH|DELETE) .* 500$" "$tmp/serve.log" && pass || fail "a write was answered 500 (reads only)"
grep -qE "^GET .* 500$" "$tmp/serve.log" && pass || fail "no read was answered 500"

finish
