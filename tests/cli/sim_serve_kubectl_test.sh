#!/usr/bin/env bash
# kubectl against `refit sim serve`: the simulated world as kubectl sees it, read and changed through
# the Kubernetes API (get, -o json, get -w, apply --server-side, patch, rollout status, wait, drain,
# scale, delete, version, api-resources), each asserted exactly.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT

export KUBECACHEDIR="$tmp/kube-cache"  # kubectl's discovery cache, kept out of $HOME

# kube ARGS...: kubectl against the served world; sets $out, $err, $code like run().
kube() {
  local o e
  o=$(mktemp) e=$(mktemp)
  kubectl --kubeconfig "$kc" "$@" >"$o" 2>"$e"
  code=$?
  out=$(cat "$o") err=$(cat "$e")
  rm -f "$o" "$e"
}

expect_out_exact() { [ "$out" = "$1" ] && pass || fail "$2: stdout differs" "expected: $1" "got:      $out" "stderr: $err"; }

# wait_for_line FILE TEXT: waits (at most 20 s) until FILE has the line TEXT.
wait_for_line() {
  for _ in $(seq 200); do
    grep -qxF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- the EKS demo world, read ---------------------------------------------------------------------

start_sim_serve "$tmp" examples/clusters/eks-1.20.yaml
kc=$KC
[ "$(stat -c %a "$kc")" = 600 ] && pass || fail "the kubeconfig is private (mode 600)" "$(stat -c %a "$kc")"

kube get nodes -o name
expect_code 0 "get nodes exits 0"
expect_out_exact "node/fargate-ip-10-0-32-13.us-west-2.compute.internal
node/fargate-ip-10-0-64-13.us-west-2.compute.internal
node/ip-10-0-0-10.us-west-2.compute.internal
node/ip-10-0-0-11.us-west-2.compute.internal
node/ip-10-0-0-12.us-west-2.compute.internal
node/ip-10-0-0-13.us-west-2.compute.internal
node/ip-10-0-32-10.us-west-2.compute.internal
node/ip-10-0-32-11.us-west-2.compute.internal
node/ip-10-0-32-12.us-west-2.compute.internal
node/ip-10-0-64-10.us-west-2.compute.internal
node/ip-10-0-64-11.us-west-2.compute.internal
node/ip-10-0-64-12.us-west-2.compute.internal" "get nodes names the fixture's ten nodes and two Fargate nodes"

kube get pods -A -o json
expect_code 0 "get pods -A -o json exits 0"
[ "$(jq -c '[.items[] | .metadata.namespace] | group_by(.) | map({(.[0]): length}) | add' <<<"$out")" = \
  '{"kube-system":2,"monitoring":1,"serverless":2,"shop":9}' ] && pass ||
  fail "get pods -A -o json lists every namespace's pods" "$(jq -c '[.items[] | .metadata.namespace]' <<<"$out")"
[ "$(jq -r '[.items[] | "\(.kind) \(.apiVersion) \(.status.phase)"] | unique | join(",")' <<<"$out")" = "Pod v1 Running" ] &&
  pass || fail "every pod is a Running v1 Pod" "$(jq -c '[.items[] | .status.phase]' <<<"$out")"
[ "$(jq -r '.items[] | select(.metadata.namespace == "serverless") | .spec.nodeName' <<<"$out")" = \
  "fargate-ip-10-0-32-13.us-west-2.compute.internal
fargate-ip-10-0-64-13.us-west-2.compute.internal" ] && pass || fail "Fargate pods run on their Fargate nodes" "$out"

kube version -o json
expect_code 0 "version exits 0"
[ "$(jq -r .serverVersion.gitVersion <<<"$out")" = "v1.20.15-eks-14c7a48" ] && pass ||
  fail "version reports the cluster's gitVersion" "$out"

stop_sim_serve
[ "$SERVE_CODE" = 0 ] && pass || fail "SIGTERM stops the server cleanly (exit 0)" "exit $SERVE_CODE" "$(cat "$tmp/serve.log")"
[ "$(tail -n 1 "$tmp/serve.log")" = "Stopped." ] && pass || fail "the server says it stopped" "$(cat "$tmp/serve.log")"

# --- a world for changes: drains, budgets, a custom resource (tests/cli/files/serve-kubectl.yaml) ---
# The clock runs 600 times faster than the wall clock, so a rollout's minutes take a fraction of a second.

start_sim_serve "$tmp" tests/cli/files/serve-kubectl.yaml --speed 600
kc=$KC
grep -qxF "Serving tests/cli/files/serve-kubectl.yaml on http://127.0.0.1:$(sed -n 's|.*server: http://127.0.0.1:\([0-9]*\)/clusters/demo|\1|p' "$kc") (the virtual clock runs at 600x the wall clock)" \
  "$tmp/serve.log" && pass || fail "the server says where it serves" "$(cat "$tmp/serve.log")"

kube api-resources --api-group=stable.example.com
expect_code 0 "api-resources exits 0"
expect_out_exact "NAME       SHORTNAMES   APIVERSION              NAMESPACED   KIND
crontabs   ct           stable.example.com/v1   true         CronTab" "api-resources lists the fixture's custom resource"
kube api-resources
expect_out "poddisruptionbudgets              pdb          policy/v1                         true         PodDisruptionBudget" \
  "api-resources lists the built-in kinds"
kube get ct -n shop -o jsonpath='{.items[*].spec.cronSpec}'
expect_out_exact "0 3 * * *" "custom resources are read through their short name"

# apply --server-side: created, then changed
cat >"$tmp/settings.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: blue
EOF
kube apply --server-side -f "$tmp/settings.yaml"
expect_code 0 "apply --server-side creates"
expect_out_exact "configmap/settings serverside-applied" "apply --server-side reports the object"
sed -i 's/mode: blue/mode: green/' "$tmp/settings.yaml"
kube apply --server-side -f "$tmp/settings.yaml"
expect_code 0 "apply --server-side changes"
kube get configmap settings -n shop -o jsonpath='{.data.mode}'
expect_out_exact "green" "the second apply changed the object"

# get -w sees a change made meanwhile (a merge patch)
kubectl --kubeconfig "$kc" get configmap settings -n shop -w -o jsonpath='{.data.mode}{"\n"}' --request-timeout=60s \
  >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch_pid=$!
wait_for_line "$tmp/watch.out" green && pass || fail "get -w prints the object first" "$(cat "$tmp/watch.out" "$tmp/watch.err")"
kube patch configmap settings -n shop --type merge -p '{"data":{"mode":"red"}}'
expect_code 0 "patch --type merge exits 0"
expect_out_exact "configmap/settings patched" "patch --type merge reports the object"
wait_for_line "$tmp/watch.out" red && pass || fail "get -w sees the patch" "$(cat "$tmp/watch.out" "$tmp/watch.err")"
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
[ "$(cat "$tmp/watch.out")" = "green
red" ] && pass || fail "get -w printed each state once" "$(cat "$tmp/watch.out")"

# get -w ends at its request timeout
kube get configmaps -n shop -w --request-timeout=1s -o name
expect_code 0 "get -w ends cleanly at --request-timeout"
expect_out_exact "configmap/settings" "get -w --request-timeout lists before it watches"

# wait: a condition met, and one that never is
kube wait --for=condition=Ready node/free-2 --timeout=60s
expect_code 0 "wait for a Ready node exits 0"
expect_out_exact "node/free-2 condition met" "wait reports the condition"
kube get pods -n shop -l app=stuck -o jsonpath='{.items[0].metadata.name}'
stuck=$out
kube wait --for=condition=Ready pod/"$stuck" -n shop --timeout=1s
expect_code 1 "wait for a pod that is never Ready times out"
expect_err_exact "error: timed out waiting for the condition on pods/$stuck" "wait names what it waited for"

# drain: DaemonSet pods ignored with --ignore-daemonsets; a budget that allows the eviction
kube get pods -n shop -l app=web --field-selector spec.nodeName=free-1 -o jsonpath='{.items[0].metadata.name}'
web_pod=$out
kube drain free-1 --ignore-daemonsets --timeout=60s
expect_code 0 "drain free-1 succeeds"
expect_out_exact "node/free-1 cordoned
evicting pod shop/$web_pod
pod/$web_pod evicted
node/free-1 drained" "drain evicts the web pod"
expect_err_exact "Warning: ignoring DaemonSet-managed Pods: monitoring/node-exporter-free-1" "drain leaves the DaemonSet pod"
kube get node free-1 -o jsonpath='{.spec.unschedulable}'
expect_out_exact "true" "the drained node is cordoned"
kube get pods -A --field-selector spec.nodeName=free-1 -o name
expect_out_exact "pod/node-exporter-free-1" "only the DaemonSet pod is left on free-1"

# drain: DaemonSet pods refused without --ignore-daemonsets; a budget that forbids the eviction
kube drain pinned-1 --timeout=60s
expect_code 1 "drain without --ignore-daemonsets refuses"
expect_err "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): monitoring/node-exporter-pinned-1" \
  "drain names the DaemonSet pod"
kube get pods -n shop -l app=ledger -o jsonpath='{.items[0].metadata.name}'
ledger=$out
kube drain pinned-1 --ignore-daemonsets --timeout=2s
expect_code 1 "a drain blocked by a PodDisruptionBudget fails"
expect_err "error when evicting pods/\"$ledger\" -n \"shop\" (will retry after 5s): Cannot evict pod shop/$ledger as it would violate the pod's disruption budget shop/ledger" \
  "drain reports the budget that blocks it"
expect_err "error: unable to drain node \"pinned-1\" due to error:error when evicting pods/\"$ledger\" -n \"shop\": global timeout reached: 2s, continuing command..." \
  "drain gives up at its timeout"
kube get pod "$ledger" -n shop -o name
expect_out_exact "pod/$ledger" "the blocked pod is still there"

# strategic merge patch: containers merge by name; the rollout completes as the clock runs (after the
# drains, which need the pods where the fixture put them)
kube patch deployment web -n shop -p '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"registry.example.com/nginx:1.26"}]}}}}'
expect_code 0 "a strategic merge patch exits 0"
expect_out_exact "deployment.apps/web patched" "patch reports the deployment"
kube get deployment web -n shop -o jsonpath='{range .spec.template.spec.containers[*]}{.name}={.image}{"\n"}{end}'
expect_out_exact "nginx=registry.example.com/nginx:1.26
sidecar=registry.example.com/proxy:2.0" "the patch changed nginx and kept the sidecar"
kube rollout status deployment/web -n shop --timeout=60s
expect_code 0 "the rollout completes"
expect_out "deployment \"web\" successfully rolled out" "rollout status sees the controllers finish"

# scale, through the scale subresource
kube scale deployment web -n shop --replicas=3
expect_code 0 "scale exits 0"
expect_out_exact "deployment.apps/web scaled" "scale reports the deployment"
kube get deployment web -n shop -o jsonpath='{.spec.replicas}'
expect_out_exact "3" "scale set spec.replicas"

# delete, then NotFound in kubectl's words
kube delete configmap settings -n shop
expect_code 0 "delete exits 0"
expect_out_exact "configmap \"settings\" deleted" "delete reports the object"
kube get configmap settings -n shop
expect_code 1 "get of a deleted object fails"
expect_err_exact "Error from server (NotFound): configmaps \"settings\" not found" "get says NotFound as kubectl prints it"

stop_sim_serve
[ "$SERVE_CODE" = 0 ] && pass || fail "the second server stops cleanly" "exit $SERVE_CODE" "$(cat "$tmp/serve.log")"

finish
