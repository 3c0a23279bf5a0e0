#!/usr/bin/env bash
# make bench: the numbers docs/performance.md records. Not a test: it prints, it does not judge.
set -euo pipefail
REFIT=${1:-build/refit}
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
