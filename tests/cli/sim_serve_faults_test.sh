#!/usr/bin/env bash
# API faults from a scenario's api section, injected by refit sim serve: with 10% of requests answered
# 429 or 503 (Retry-After 1s), 10% of reads answered 500 (no Retry-After: only a read may be repeated
# then), up to 5 ms of latency, and every watch ended early, refit's backend retries what is safe and
# re-watches. A whole bundled playbook (eks/upgrade over TLS, its tools through the shims, which are
# not subject to API faults) and a playbook making every kind of write end in the same world as
# in-process runs, with the same mutations: none lost, none made twice.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
servers=()
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; rm -rf "$tmp"' EXIT

mutations() { jq -c 'select(.event == "mutation") | [.verb, .kind, .namespace, .name, .patch]' <<<"$1"; }
tool_changes() { jq -c 'select(.event == "command" and .mutates) | .argv' <<<"$1"; }
# The count the server prints when it stops: "API faults: E of R requests answered with an injected
# error; ...".
injected_errors() { sed -n 's/^API faults: \([0-9]*\) of [0-9]* requests.*/\1/p' "$1"; }

cat >"$tmp/api-faults.yaml" <<'YAML'
name: api-faults
description: an overloaded API server whose watches end early
api:
  seed: 11
  errors:
    - { rate: 0.1, statuses: [429, 503], retry_after: 1s }
    - { rate: 0.1, statuses: [500], verbs: [get, list] }
  latency: { min: 0ms, max: 5ms }
  watches: { after: { min: 200ms, max: 1s } }
YAML

# A mistake in the api section stops the server before it serves.
printf 'api:\n  errors: { rate: 0.1, statuses: [404] }\n' >"$tmp/bad-api.yaml"
run sim serve examples/clusters/eks-1.20.yaml --scenario "$tmp/bad-api.yaml"
expect_code 1 "an api section with a status that cannot be injected"
expect_err_exact "refit: $tmp/bad-api.yaml: api.errors.statuses[1]: must be one of 429, 500, 503, 504 (the errors a client retries), got number 404" "names the file and field"

# Four runs side by side (the first two wait out Retry-After a few times): eks/upgrade for real over
# TLS, its tools through the shims; tests/cli/files/api-mutations.lua, every kind of write (create,
# merge / JSON / strategic patch, apply, replace, status, delete, eviction); a rollout waited for on a
# slow clock, which outlives many watches; and the same rollout on a server that ends every watch at
# once, which the wait outlasts by listing. The last three servers log each request (-v).
EKS_FX=examples/clusters/eks-1.20.yaml
# At --speed 2000 a Retry-After of 1 s, which the client waits out on its own clock, is 33 minutes of
# the world's: longer than eks/upgrade's 10-minute Fargate and 20-minute add-on limits, and a few of
# them outlast its hour for the control plane. Both runs (so that they stay alike) give every wait a
# day, 43 s of the test's time, so that a wait fails only if its state never comes.
EKS_LIMITS=(--set control_plane_timeout=24h --set addon_timeout=24h --set nodegroup_timeout=24h
  --set fargate_timeout=24h)
PB=tests/cli/files/api-mutations.lua
FX=tests/cli/files/api-mutations.yaml
mkdir -p "$tmp/eks" "$tmp/writes" "$tmp/watches" "$tmp/cut"
printf 'api:\n  watches: { after: { min: 200ms, max: 1s } }\n' >"$tmp/watches.yaml"
printf 'api:\n  watches: { after: 0s }\n' >"$tmp/cut.yaml"
start_sim_serve "$tmp/eks" $EKS_FX --tls --speed 2000 --shims "$tmp/bin" --scenario "$tmp/api-faults.yaml"
servers+=("$SERVE_PID")
eks_kc=$KC
start_sim_serve "$tmp/writes" $FX -v --speed 2000 --scenario "$tmp/api-faults.yaml"
servers+=("$SERVE_PID")
writes_kc=$KC
start_sim_serve "$tmp/watches" $EKS_FX -v --speed 2 --scenario "$tmp/watches.yaml"
servers+=("$SERVE_PID")
watches_kc=$KC
start_sim_serve "$tmp/cut" $EKS_FX -v --speed 1 --scenario "$tmp/cut.yaml"
servers+=("$SERVE_PID")
cut_kc=$KC
(PATH="$tmp/bin:$PATH" "$REFIT" apply eks/upgrade --kubeconfig "$eks_kc" --context demo --set to=1.21 "${EKS_LIMITS[@]}" --yes -o json \
   >"$tmp/eks/out" 2>"$tmp/eks/err"; echo $? >"$tmp/eks/code") &
eks_run=$!
("$REFIT" apply $PB --kubeconfig "$writes_kc" --context demo --yes -o json \
   >"$tmp/writes/out" 2>"$tmp/writes/err"; echo $? >"$tmp/writes/code") &
writes_run=$!
("$REFIT" apply examples/playbooks/restart-coredns.lua --kubeconfig "$watches_kc" --context demo --yes -o json \
   >"$tmp/watches/out" 2>"$tmp/watches/err"; echo $? >"$tmp/watches/code") &
watches_run=$!
("$REFIT" apply examples/playbooks/restart-coredns.lua --kubeconfig "$cut_kc" --context demo --yes -o json \
   >"$tmp/cut/out" 2>"$tmp/cut/err"; echo $? >"$tmp/cut/code") &
cut_run=$!

run apply eks/upgrade --sim $EKS_FX --set to=1.21 "${EKS_LIMITS[@]}" --save-world "$tmp/eks/in-process.json" -o json
expect_code 0 "eks/upgrade in process"
eks_in_process=$out
run apply $PB --sim $FX --save-world "$tmp/writes/in-process.json" -o json
expect_code 0 "the writes in process"
writes_in_process=$out
wait "$eks_run" "$writes_run" "$watches_run" "$cut_run"

grep -qxF "API faults from $tmp/api-faults.yaml: errors 10% (429, 503; Retry-After 1s); errors 10% (500) on get, list; latency 0s-5ms; watches: 100% dropped after 200ms-1s; seed 11" "$tmp/eks/serve.log" &&
  pass || fail "the banner does not summarize the faults" "$(cat "$tmp/eks/serve.log")"
grep -qxF "  At --speed 2000 a Retry-After of 1s is 33m20s of the world's time: a wait with a shorter limit may run out while its client waits (docs/sim-serve.md)" "$tmp/eks/serve.log" &&
  pass || fail "the banner does not say what a Retry-After costs the world's time" "$(cat "$tmp/eks/serve.log")"
! grep -q "Retry-After of" "$tmp/watches/serve.log" && pass || fail "a world without Retry-After is warned of it"

# --- eks/upgrade ---
out=$(cat "$tmp/eks/out") err=$(cat "$tmp/eks/err") code=$(cat "$tmp/eks/code")
expect_code 0 "eks/upgrade applied for real despite the API faults"
jq -e 'select(.event == "run_finished") | .status == "succeeded"' <<<"$out" >/dev/null && pass || fail "the run did not succeed"
[ -n "$(mutations "$out")" ] && [ "$(mutations "$out")" = "$(mutations "$eks_in_process")" ] && pass ||
  fail "the served run's mutations differ from the in-process run's" "in-process: $(mutations "$eks_in_process")" "served: $(mutations "$out")"
[ -n "$(tool_changes "$out")" ] && [ "$(tool_changes "$out")" = "$(tool_changes "$eks_in_process")" ] && pass ||
  fail "the served run's tool commands differ from the in-process run's"

# refit's own endpoints are not the Kubernetes API: never faulted (the run above made over a hundred
# tool calls through them; a faulted one would have failed its command).
KC=$eks_kc
served_credentials "$tmp"
statuses=$(for _ in $(seq 40); do served_dump "${CURL_CREDS[@]}" -o /dev/null -w '%{http_code}\n'; done | sort | uniq -c | awk '{print $1 "x" $2}')
[ "$statuses" = "40x200" ] && pass || fail "refit's dump endpoint is subject to the API faults: $statuses"
served_dump "${CURL_CREDS[@]}" >"$tmp/eks/served.json"
same_served_world "$tmp/eks/in-process.json" "$tmp/eks/served.json" "the served world differs from the in-process one"

# --- every kind of write ---
out=$(cat "$tmp/writes/out") err=$(cat "$tmp/writes/err") code=$(cat "$tmp/writes/code")
expect_code 0 "the writes applied for real despite the API faults"
[ "$(mutations "$out" | wc -l)" -gt 50 ] && [ "$(mutations "$out")" = "$(mutations "$writes_in_process")" ] && pass ||
  fail "the served run's writes differ from the in-process run's" "$(diff <(mutations "$writes_in_process") <(mutations "$out") | head -20)"
KC=$writes_kc
served_dump >"$tmp/writes/served.json"
same_served_world "$tmp/writes/in-process.json" "$tmp/writes/served.json" "the world written through faults differs from the in-process one"
finalizers=$(jq -c '.. | objects | select(.kind? == "ConfigMap" and .metadata.name == "ledger") | .metadata.finalizers' "$tmp/writes/served.json")
[ "$finalizers" = '["refit.dev/round-0","refit.dev/round-1","refit.dev/round-2","refit.dev/round-3","refit.dev/round-4","refit.dev/round-5","refit.dev/round-6","refit.dev/round-7","refit.dev/round-8"]' ] &&
  pass || fail "the JSON patches did not append each round once: $finalizers"

for pid in "${servers[@]}"; do kill "$pid" && wait "$pid"; done
servers=()
for log in "$tmp/eks/serve.log" "$tmp/writes/serve.log"; do
  [ "$(injected_errors "$log")" -gt 0 ] 2>/dev/null && pass || fail "no error was injected" "$(tail -3 "$log")"
done
log="$tmp/writes/serve.log"
refused_writes=$(grep -cE "^(POST|PUT|PATCH|DELETE) /clusters/demo/.* (429|503)$" "$log")
[ "$refused_writes" -gt 0 ] && pass || fail "no write was answered 429 or 503" "$(tail -3 "$log")"
! grep -qE "^(POST|PUT|PATCH|DELETE) .* 500$" "$log" && pass || fail "a write was answered 500 (reads only)"
grep -qE "^GET .* 500$" "$log" && pass || fail "no read was answered 500"

# --- watches that end early ---
out=$(cat "$tmp/watches/out") err=$(cat "$tmp/watches/err") code=$(cat "$tmp/watches/code")
expect_code 0 "a rollout waited for through watches that end early"
jq -se 'map(select(.event == "wait_finished")) | length == 1 and .[0].ok' <<<"$out" >/dev/null && pass ||
  fail "the wait did not finish"
log="$tmp/watches/serve.log"
watches=$(grep -cE "^GET /clusters/demo/apis/apps/v1/namespaces/kube-system/deployments\?.*watch=1.* 200$" "$log")
[ "$watches" -ge 3 ] && pass || fail "the wait did not watch again when its watches ended ($watches watches)" "$(grep watch= "$log")"
grep -qE "^API faults: 0 of [0-9]+ requests answered with an injected error; ([0-9]+) of \1 watches set to end early$" "$log" &&
  pass || fail "the watches were not all set to end early" "$(tail -2 "$log")"

# --- watches that end at once: no watch ever delivers an event ---
out=$(cat "$tmp/cut/out") err=$(cat "$tmp/cut/err") code=$(cat "$tmp/cut/code")
expect_code 0 "a rollout waited for though every watch ends at once"
jq -se 'map(select(.event == "wait_finished")) | length == 1 and .[0].ok' <<<"$out" >/dev/null && pass ||
  fail "the wait did not finish" "$out"
cut_url=$(sed -n 's/^ *server: //p' "$cut_kc" | head -1)
warnings=$(jq -r 'select(.event == "log" and .level == "warn") | .message' <<<"$out")
[ "$warnings" = "demo: context \"demo\" ($cut_url): watches of deployments.apps in namespace kube-system end at once with nothing new (3 in a row): the wait lists them instead, less and less often (up to every 8 s), until a watch stays open" ] &&
  pass || fail "the user is not told once that the wait lists instead" "$warnings"
log="$tmp/cut/serve.log"
deployments="/clusters/demo/apis/apps/v1/namespaces/kube-system/deployments"
watches=$(grep -cE "^GET $deployments\?watch=1&.* 200$" "$log")
lists=$(grep -cE "^GET $deployments\?limit=500&fieldSelector=metadata.name%3Dcoredns 200$" "$log")
# Six failed watches in a row used to fail the wait; each watch after a failed one follows a list.
[ "$watches" -gt 6 ] && [ "$lists" -eq $((watches + 1)) ] && pass ||
  fail "the wait did not list and watch again while watches ended at once ($watches watches, $lists lists)" "$(grep deployments "$log")"
grep -qxF "API faults: 0 of $(grep -cE '^(GET|POST|PUT|PATCH|DELETE) ' "$log") requests answered with an injected error; $watches of $watches watches set to end early" "$log" &&
  pass || fail "not every watch was set to end at once" "$(tail -2 "$log")"

finish
