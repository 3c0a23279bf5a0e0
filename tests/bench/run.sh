#!/usr/bin/env bash
# make bench: the numbers docs/performance.md records. Not a test: it prints, it does not judge.
set -euo pipefail
REFIT=${1:-build/refit}
KUBE_BENCH=${2:-build/tests/bench/kube_client_bench}
cd "$(dirname "$0")/../.."

# wall seconds and peak RSS (KiB) of one command, via GNU time
measure() {
  local stats
  stats=$(mktemp)
  /usr/bin/time -o "$stats" -f "%e %M" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$stats"
  rm -f "$stats"
}

if [ ! -x /usr/bin/time ]; then echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; fi

# best_of3 ARGS...: runs refit ARGS three times; sets $best (wall s) and $best_rss (KiB) of the fastest
best_of3() {
  best=""
  for _ in 1 2 3; do
    read -r wall rss < <(measure "$REFIT" "$@")
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; best_rss=$rss; fi
  done
}

echo "== 10,000-step playbook planned in a simulated world (best of 3)"
best_of3 plan tests/bench/many_steps.lua --sim tests/scripts/fixtures/minimal.yaml -o json
awk -v w="$best" -v r="$best_rss" 'BEGIN{printf "   wall %.3f s   %.1f us/step   peak RSS %.1f MiB\n", w, w*1e6/10000, r/1024}'

echo "== eks/upgrade on examples/clusters/eks-large.yaml (20 node groups, 2,000 nodes; best of 3)"
best_of3 plan eks/upgrade --sim examples/clusters/eks-large.yaml --set to=1.21 -o json
awk -v w="$best" -v r="$best_rss" 'BEGIN{printf "   wall %.3f s   peak RSS %.1f MiB\n", w, r/1024}'

echo "== dkp/upgrade on examples/clusters/dkp-fleet-100.yaml (100 managed clusters, 10,007 nodes; best of 3)"
best_of3 plan dkp/upgrade --sim examples/clusters/dkp-fleet-100.yaml -o json
awk -v w="$best" -v r="$best_rss" 'BEGIN{printf "   wall %.3f s   peak RSS %.1f MiB\n", w, r/1024}'

# kept_cost LABEL ARGS...: refit apply ARGS plain, then keeping its world in a fresh --sim-state file (on
# the disk of $TMPDIR: every line is synced), then refit plan ARGS plain and on the kept file (its
# inputs replayed first); best of 3 wall times, with the CPU seconds of the best, and the file's size.
kept_cost() {
  local label=$1 dir stats
  shift
  dir=$(mktemp -d)
  stats="$dir/stats"
  echo "== --sim-state cost: $label (best of 3)"
  for variant in "apply plain" "apply kept" "plan plain" "plan kept"; do
    local best="" best_cpu="" extra=()
    read -r mode kind <<<"$variant"
    for _ in 1 2 3; do
      [ "$mode" = apply ] && rm -f "$dir/world.jsonl"
      [ "$kind" = kept ] && extra=(--sim-state "$dir/world.jsonl") || extra=()
      /usr/bin/time -o "$stats" -f "%e %U %S" "$REFIT" "$mode" "$@" "${extra[@]}" -o json >/dev/null 2>&1 || true
      read -r wall user sys < <(tail -n 1 "$stats")
      if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; best_cpu=$(awk "BEGIN{print $user + $sys}"); fi
    done
    printf "   %-12s wall %6.3f s   cpu %6.3f s\n" "$variant" "$best" "$best_cpu"
  done
  printf "   file: %d lines, %d bytes\n" "$(wc -l <"$dir/world.jsonl")" "$(stat -c %s "$dir/world.jsonl")"
  rm -rf "$dir"
}
kept_cost "eks/upgrade on examples/clusters/eks-1.20.yaml" eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.21
kept_cost "dkp/upgrade on examples/clusters/dkp-2.1-fleet.yaml" dkp/upgrade --sim examples/clusters/dkp-2.1-fleet.yaml

echo "== the Kubernetes API client against refit sim serve (tests/bench/nodes-10k.yaml: 10,000 Nodes)"
serve_dir=$(mktemp -d)
# --speed 60: the 60-second wait below takes one second of wall-clock time
"$REFIT" sim serve tests/bench/nodes-10k.yaml --port 0 --speed 60 --kubeconfig-out "$serve_dir/kc" >"$serve_dir/log" 2>&1 &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; rm -rf "$serve_dir"' EXIT
for _ in $(seq 300); do [ -s "$serve_dir/kc" ] && break; sleep 0.1; done
"$KUBE_BENCH" "$serve_dir/kc" big 1000 >"$serve_dir/client"
value() { awk -v k="$1" '$1 == k { print $2 }' "$serve_dir/client"; }
kubectl_start=$(date +%s.%N)
for _ in $(seq 1000); do
  kubectl --kubeconfig "$serve_dir/kc" get deployment web-1 -n shop -o json >/dev/null
done
kubectl_ms=$(awk -v s="$kubectl_start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", (e - s) * 1000}')
awk -v med="$(value get_median_ms)" -v p99="$(value get_p99_ms)" -v total="$(value get_total_ms)" -v k="$kubectl_ms" 'BEGIN{
  printf "   1,000 sequential gets: refit %.0f ms (median %.3f ms, p99 %.3f ms); kubectl get x1,000: %.0f ms (%.1f ms each); refit is %.0fx faster\n",
         total, med, p99, k, k / 1000, k / total }'
printf "   list of %s Nodes into Lua (c:list): first %s ms; then median %s ms (min %s, max %s, of 6)\n" \
  "$(value list_nodes)" "$(value list_nodes_first_ms)" "$(value list_nodes_warm_ms)" "$(value list_nodes_warm_min_ms)" \
  "$(value list_nodes_warm_max_ms)"
printf "   the calling thread's CPU time (parse, Lua tables): first %s ms, then median %s ms; the process's, with\n" \
  "$(value list_nodes_first_thread_cpu_ms)" "$(value list_nodes_warm_thread_cpu_ms)"
printf "   the read-ahead thread receiving pages: median %s ms. The rest of the wall time is waiting (server, cores)\n" \
  "$(value list_nodes_warm_client_cpu_ms)"
printf "   a 60-second wait (polled every 5 s, %s evaluations): %s requests\n" "$(value wait_evaluations)" "$(value wait_requests)"
