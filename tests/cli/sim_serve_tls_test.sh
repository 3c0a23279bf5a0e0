#!/usr/bin/env bash
# refit sim serve --tls: HTTPS with a CA made at start, clients authenticated by the client certificate
# in the kubeconfig, by a bearer token (--token-auth, --token-file), or by an exec credential plugin's
# token; refit's backend (apply, plan, sim exec) and kubectl against it; a missing or wrong credential
# refused with the API server's 401, in a message that names the context and server, not the token.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
PB=examples/playbooks/restart-coredns.lua
FX=examples/clusters/eks-1.20.yaml
NODE=fargate-ip-10-0-32-13.us-west-2.compute.internal

server_url() { sed -n 's/^ *server: //p' "$KC" | head -1; }
UNAUTHORIZED='{"apiVersion":"v1","code":401,"kind":"Status","message":"Unauthorized","metadata":{},"reason":"Unauthorized","status":"Failure"}'

# Token authentication sends a secret: only over HTTPS.
run sim serve $FX --token-auth
expect_code 1 "--token-auth without --tls"
expect_err "--token-auth requires --tls" "says --tls is needed"
run sim serve $FX --tls --token-file "$tmp/missing"
expect_code 1 "a token file that does not exist"
expect_err_exact "refit: cannot read the token file $tmp/missing: No such file or directory" "names the token file"
printf 'two words\n' >"$tmp/bad-token"
run sim serve $FX --tls --token-file "$tmp/bad-token"
expect_code 1 "a token file with two words"
expect_err_exact "refit: the token file $tmp/bad-token holds more than one token (or a control character): a bearer token is one word on one line" "says a token is one word"
! grep -q "two words" <<<"$err" && pass || fail "the message quotes the token file"

# --- Client certificates (the default with --tls) ---
start_sim_serve "$tmp" $FX --tls --speed 600
grep -qF "clients authenticate with the client certificate in the kubeconfig" "$tmp/serve.log" && pass ||
  fail "the banner does not say how clients authenticate" "$(cat "$tmp/serve.log")"
[[ "$(server_url)" == https://127.0.0.1:*/clusters/demo ]] && pass || fail "the server is not https: $(server_url)"
[ "$(stat -c %a "$KC")" = "600" ] && pass || fail "the kubeconfig holding a client key is not private (0600)"
[ -z "$(kubeconfig_field token)" ] && pass || fail "the client-certificate kubeconfig has a token"
kubeconfig_field certificate-authority-data | base64 -d >"$tmp/ca.pem"
kubeconfig_field client-certificate-data | base64 -d >"$tmp/client.pem"
kubeconfig_field client-key-data | base64 -d >"$tmp/client.key"
openssl verify -CAfile "$tmp/ca.pem" -purpose sslclient "$tmp/client.pem" >/dev/null 2>&1 && pass ||
  fail "the kubeconfig's client certificate does not chain to its CA"
[ "$(openssl x509 -in "$tmp/client.pem" -noout -subject)" = "subject=O = system:masters, CN = refit-admin" ] &&
  pass || fail "the client certificate is not a cluster admin's: $(openssl x509 -in "$tmp/client.pem" -noout -subject)"
grep -q "BEGIN PRIVATE KEY" "$tmp/client.key" && pass || fail "the kubeconfig's client-key-data is not a key"

# Without a credential: the API server's 401. With the certificate: served.
[ "$(curl -s --cacert "$tmp/ca.pem" "$(server_url)/version")" = "$UNAUTHORIZED" ] && pass ||
  fail "a request without a client certificate is not refused with a 401 Status"
[ "$(curl -s --cacert "$tmp/ca.pem" "$(served_url)/refit/v1/dump")" = "$UNAUTHORIZED" ] && pass ||
  fail "refit's own endpoints are served without a credential"
curl -s --cacert "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" "$(server_url)/version" |
  jq -e '.gitVersion == "v1.20.15-eks-14c7a48"' >/dev/null && pass || fail "the client certificate is not accepted"
curl -s --cacert "$tmp/ca.pem" -H "Authorization: Bearer anything" "$(server_url)/version" | grep -qF '"code":401' &&
  pass || fail "a bearer token is accepted by a client-certificate server"

# kubectl trusts the CA and authenticates with the certificate.
nodes=$(kubectl --kubeconfig "$KC" get nodes -o name 2>&1)
grep -qx "node/$NODE" <<<"$nodes" && pass || fail "kubectl get nodes over TLS" "$nodes"

# refit's backend: a real apply, and a tool model through refit sim exec, both over TLS.
run apply $PB --kubeconfig "$KC" --context demo --yes
expect_code 0 "apply over TLS with the client certificate"
expect_out "Apply succeeded (exit 0): 1 step run, 0 skipped." "the apply succeeded"
run sim exec --kubeconfig "$KC" aws eks describe-cluster --name demo
expect_code 0 "refit sim exec over TLS"
jq -e '.cluster.name == "demo"' <<<"$out" >/dev/null && pass || fail "refit sim exec did not run the aws model" "$out"
stop_sim_serve

# --- A random bearer token (--token-auth) ---
start_sim_serve "$tmp" $FX --tls --token-auth --speed 600
grep -qF "clients authenticate with a bearer token (in the kubeconfig)" "$tmp/serve.log" && pass ||
  fail "the banner does not say clients use a token" "$(cat "$tmp/serve.log")"
token=$(kubeconfig_field token)
[[ "$token" =~ ^[0-9a-f]{64}$ ]] && pass || fail "the kubeconfig's token is not 32 random bytes in hex"
[ -z "$(kubeconfig_field client-key-data)" ] && pass || fail "the token kubeconfig has a client key"
! grep -qF "$token" "$tmp/serve.log" && pass || fail "the server printed the token"
kubeconfig_field certificate-authority-data | base64 -d >"$tmp/ca.pem"
[ "$(curl -s --cacert "$tmp/ca.pem" -H "Authorization: Bearer wrong" "$(server_url)/version")" = "$UNAUTHORIZED" ] &&
  pass || fail "a wrong token is not refused with a 401 Status"
curl -s --cacert "$tmp/ca.pem" -H "Authorization: Bearer $token" "$(server_url)/version" |
  jq -e '.major == "1"' >/dev/null && pass || fail "the token is not accepted"
curl -s --cacert "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" "$(server_url)/version" |
  grep -qF '"code":401' && pass || fail "a token server accepts another server's client certificate"

nodes=$(kubectl --kubeconfig "$KC" get nodes -o name 2>&1)
grep -qx "node/$NODE" <<<"$nodes" && pass || fail "kubectl get nodes with the token" "$nodes"
run apply $PB --kubeconfig "$KC" --context demo --yes
expect_code 0 "apply with the token"

# A wrong token: refused, in words that name the context and server, and never the token.
sed "s/token: .*/token: 0000wrong-token-5a1d/" "$KC" >"$tmp/wrong.kubeconfig"
run apply $PB --kubeconfig "$tmp/wrong.kubeconfig" --context demo --yes
expect_code 1 "apply with a wrong token"
expect_err_exact "refit: cluster demo: get /version: context \"demo\" ($(server_url)) refused the credentials (401 Unauthorized): check the context's user in the kubeconfig (an expired or revoked token, or a client certificate the cluster does not trust)" "the 401 names the context and server"
! grep -q -e "wrong-token-5a1d" -e "$token" <<<"$out$err" && pass || fail "the refusal shows a token"
kubectl --kubeconfig "$tmp/wrong.kubeconfig" get nodes >/dev/null 2>"$tmp/kubectl.err"
grep -qF "error: You must be logged in to the server" "$tmp/kubectl.err" && pass ||
  fail "kubectl with a wrong token is not told to log in" "$(cat "$tmp/kubectl.err")"
stop_sim_serve

# --- An exec credential plugin, whose token the server accepts (--token-file) ---
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$tmp/token"
plugin_token=$(cat "$tmp/token")
start_sim_serve "$tmp" $FX --tls --token-file "$tmp/token" --speed 600
[ "$(kubeconfig_field token)" = "$plugin_token" ] && pass || fail "the kubeconfig does not carry the token file's token"
grep -qF "clients authenticate with the bearer token of $tmp/token (in the kubeconfig)" "$tmp/serve.log" && pass ||
  fail "the banner does not name the token file" "$(cat "$tmp/serve.log")"
# The plugin prints an ExecCredential with the token and counts its runs.
cat >"$tmp/plugin" <<EOF
#!/bin/sh
echo run >>"$tmp/plugin-runs"
printf '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": "%s"}}\n' "\$(cat "$tmp/plugin-token")"
EOF
chmod +x "$tmp/plugin"
cp "$tmp/token" "$tmp/plugin-token"
cat >"$tmp/exec.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: demo
    cluster:
      server: $(server_url)
      certificate-authority-data: $(kubeconfig_field certificate-authority-data)
      extensions:
        - name: refit.dev/sim
          extension: { speed: 600 }
contexts:
  - name: demo
    context: { cluster: demo, user: plugin }
current-context: demo
users:
  - name: plugin
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: $tmp/plugin
        interactiveMode: Never
EOF
plugin_runs() { [ -f "$tmp/plugin-runs" ] && wc -l <"$tmp/plugin-runs" || echo 0; }
run apply $PB --kubeconfig "$tmp/exec.kubeconfig" --context demo --yes
expect_code 0 "apply with an exec plugin's token"
[ "$(plugin_runs)" = 1 ] && pass || fail "the plugin ran $(plugin_runs) times in one refit process (once expected)"
run plan $PB --kubeconfig "$tmp/exec.kubeconfig" --context demo
expect_code 0 "plan with an exec plugin's token"
[ "$(plugin_runs)" = 2 ] && pass || fail "the plugin ran $(plugin_runs) times for two refit processes"
nodes=$(kubectl --kubeconfig "$tmp/exec.kubeconfig" get nodes -o name 2>&1)
grep -qx "node/$NODE" <<<"$nodes" && pass || fail "kubectl get nodes with the exec plugin" "$nodes"

# A plugin whose token the server refuses: run again once after the 401 (a token may have just
# expired), then the refusal, without the plugin's output.
rm -f "$tmp/plugin-runs"
printf 'f00dfeed-plugin-token-9d2e' >"$tmp/plugin-token"
run apply $PB --kubeconfig "$tmp/exec.kubeconfig" --context demo --yes
expect_code 1 "apply with a plugin token the server refuses"
expect_err "refit: cluster demo: get /version: context \"demo\" ($(server_url)) refused the credentials (401 Unauthorized)" "the refusal names the context and server"
[ "$(plugin_runs)" = 2 ] && pass || fail "after a 401 the plugin ran $(plugin_runs) times (twice expected)"
! grep -q -e "f00dfeed-plugin-token-9d2e" -e "ExecCredential" <<<"$out$err" && pass || fail "the refusal shows the plugin's output"

finish
