#!/usr/bin/env bash
# refit's Kubernetes client over HTTP/2. refit sim serve speaks HTTP/1.1 only, so nghttpx (Debian's
# nghttp2-proxy, an HTTP/2 TLS front proxy; .ci/deps.sh installs it) stands in front of it with a
# certificate made here, as an API server's HTTP/2 listener would. refit offers h2 by ALPN and gets,
# lists, watches (a wait on a rollout) and writes through it: nghttpx's access log names the protocol of
# every request it took, and the run's targets name the protocol refit's client used.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
if ! command -v nghttpx >/dev/null; then
  fail "nghttpx is not installed: apt-get install nghttp2-proxy (.ci/deps.sh installs it)"
  finish
  exit 1
fi
tmp=$(mktemp -d)
NGHTTPX_PID=
stop_nghttpx() {
  if [ -n "$NGHTTPX_PID" ]; then
    kill -TERM "$NGHTTPX_PID" 2>/dev/null
    wait "$NGHTTPX_PID" 2>/dev/null
    NGHTTPX_PID=
  fi
}
trap 'stop_nghttpx; stop_sim_serve; rm -rf "$tmp"' EXIT
PB=examples/playbooks/restart-coredns.lua
FX=examples/clusters/eks-1.20.yaml

# A CA, and a certificate for 127.0.0.1 that it signed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=refit test CA" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null &&
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null &&
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 1 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') -out "$tmp/server.pem" 2>/dev/null &&
  pass || fail "openssl could not make the test certificates"

start_sim_serve "$tmp" $FX --speed 600
backend_port=$(served_url | sed 's|.*:||')

# nghttpx cannot listen on port 0: try ports from the ephemeral range until one is free (20 tries).
port=
for _ in $(seq 20); do
  candidate=$((20000 + RANDOM % 40000))
  : >"$tmp/nghttpx.log"
  nghttpx --conf=/dev/null --frontend="127.0.0.1,$candidate" --backend="127.0.0.1,$backend_port" --workers=1 \
    --no-ocsp --backend-read-timeout=10m --errorlog-file="$tmp/nghttpx.log" --accesslog-file="$tmp/access.log" \
    --accesslog-format='$alpn $method $path $status' "$tmp/server.key" "$tmp/server.pem" >>"$tmp/nghttpx.log" 2>&1 &
  NGHTTPX_PID=$!
  for _ in $(seq 100); do
    grep -q "Listening on\|FATAL" "$tmp/nghttpx.log" && break
    kill -0 "$NGHTTPX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q "Listening on 127.0.0.1:$candidate" "$tmp/nghttpx.log" && kill -0 "$NGHTTPX_PID" 2>/dev/null; then
    port=$candidate
    break
  fi
  stop_nghttpx
done
[ -n "$port" ] && pass || { fail "nghttpx did not start" "$(cat "$tmp/nghttpx.log")"; finish; exit 1; }

# The served kubeconfig, pointed at nghttpx and its CA.
sed "s|^\( *\)server: http://127.0.0.1:$backend_port/|\1certificate-authority: $tmp/ca.pem\n\1server: https://127.0.0.1:$port/|" \
  "$KC" >"$tmp/h2.kubeconfig"
grep -q "server: https://127.0.0.1:$port/clusters/demo" "$tmp/h2.kubeconfig" && pass ||
  fail "the kubeconfig does not point at nghttpx" "$(cat "$tmp/h2.kubeconfig")"

# The rollout waited for (a get, a list and a watch inside the wait), after a patch (a write).
run apply $PB --kubeconfig "$tmp/h2.kubeconfig" --context demo --yes -o json
expect_code 0 "apply through the HTTP/2 proxy"
targets=$(jq -c 'select(.event == "run_started") | .targets' <<<"$out")
[ "$targets" = "[\"demo: context demo (https://127.0.0.1:$port/clusters/demo, HTTP/2)\"]" ] && pass ||
  fail "the run's targets do not say refit's client used HTTP/2" "$targets"
restarts=$(kubectl --kubeconfig "$KC" get deployment coredns -n kube-system \
  -o jsonpath='{.spec.template.metadata.annotations.refit\.dev/restart}/{.status.updatedReplicas}/{.spec.replicas}')
[ "$restarts" = "1/2/2" ] && pass || fail "the restart was not written, or the rollout did not finish: $restarts"

# A snapshot lists every kind the server serves, page by page.
run snapshot --kubeconfig "$tmp/h2.kubeconfig" --context demo -o "$tmp/snapshot.yaml"
expect_code 0 "snapshot through the HTTP/2 proxy"

# nghttpx writes a request's line when the request ends; the wait's watch ended with the wait.
stop_nghttpx
log=$(cat "$tmp/access.log")
deployments=/clusters/demo/apis/apps/v1/namespaces/kube-system/deployments
grep -qE "^h2 GET /clusters/demo/version 200$" <<<"$log" && pass || fail "no GET /version over h2" "$log"
grep -qE "^h2 GET $deployments/coredns 200$" <<<"$log" && pass || fail "no get of coredns over h2" "$log"
grep -qE "^h2 PATCH $deployments/coredns(\?[^ ]*)? 200$" <<<"$log" && pass || fail "no patch of coredns over h2" "$log"
grep -qE "^h2 GET $deployments\?limit=500&fieldSelector=metadata.name%3Dcoredns 200$" <<<"$log" && pass ||
  fail "no list of coredns (the wait's first read) over h2" "$log"
# One watch for the whole rollout: its events streamed over h2 until the wait ended.
[ "$(grep -cE "^h2 GET $deployments\?watch=1&[^ ]*fieldSelector=metadata.name%3Dcoredns[^ ]* 200$" <<<"$log")" = 1 ] &&
  pass || fail "not one watch of coredns (the wait) over h2" "$log"
grep -qE "^h2 GET /clusters/demo/api/v1/nodes\?limit=500 200$" <<<"$log" && pass || fail "no list of Nodes (the snapshot) over h2" "$log"
others=$(grep -v "^h2 " <<<"$log")
[ -z "$others" ] && pass || fail "requests that did not come over h2" "$others"

finish
