#!/usr/bin/env bash
# Credentials never leave the kubeconfig: against worlds served over TLS with a bearer token, a client
# certificate and an exec credential plugin, refit plan, apply (-v, text and -o json), snapshot -v, and
# failing applies (an unknown context, a refused token, a server that is down) print no token, no
# client key and nothing of the plugin's output, on stdout, on stderr or in any file refit writes; nor
# does the server, in its banner or its verbose request log.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
servers=()
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; rm -rf "$tmp"' EXIT
PB=examples/playbooks/restart-coredns.lua
FX=examples/clusters/eks-1.20.yaml
# Everything refit writes goes under $tmp/home (its HOME and TMPDIR) or $tmp/out.
mkdir -p "$tmp/token" "$tmp/cert" "$tmp/home/tmp" "$tmp/out"
export HOME="$tmp/home" TMPDIR="$tmp/home/tmp"

start_sim_serve "$tmp/token" $FX -v --tls --token-auth --speed 600
servers+=("$SERVE_PID")
token_kc=$KC
token=$(kubeconfig_field token)
start_sim_serve "$tmp/cert" $FX -v --tls --speed 600
servers+=("$SERVE_PID")
cert_kc=$KC
key_data=$(kubeconfig_field client-key-data)
key_pem=$(base64 -d <<<"$key_data")

# An exec plugin that hands out the token server's token, in a kubeconfig of its own.
plugin_output=$(printf '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": "%s", "expirationTimestamp": "2099-01-01T00:00:00Z"}}' "$token")
printf '#!/bin/sh\ncat <<"JSON"\n%s\nJSON\n' "$plugin_output" >"$tmp/plugin"
chmod +x "$tmp/plugin"
sed '/^users:/,$d' "$token_kc" >"$tmp/exec.kubeconfig"
cat >>"$tmp/exec.kubeconfig" <<EOF
users:
  - name: demo
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: $tmp/plugin
        interactiveMode: Never
EOF
sed "s/token: .*/token: 0bad${token:4}/" "$token_kc" >"$tmp/wrong.kubeconfig"

# The secrets, as they could leak: the token, each line of the key's base64 body, the kubeconfig's
# client-key-data, and the plugin's answer.
{
  echo "$token"
  grep -v -e "-----" <<<"$key_pem"
  echo "${key_data:0:48}"
  echo "$plugin_output"
} >"$tmp/secrets"
[ -n "$token" ] && [ -n "$key_pem" ] && ! grep -qx '' "$tmp/secrets" && [ "$(wc -l <"$tmp/secrets")" -ge 5 ] && pass || fail "the secrets could not be read from the kubeconfigs"
# The search finds them where they are.
grep -qF -f "$tmp/secrets" "$token_kc" && grep -qF -f "$tmp/secrets" "$cert_kc" && pass ||
  fail "the secret patterns do not match the kubeconfigs that hold them"

log="$tmp/output"
: >"$log"
record() { printf '%s\n%s\n' "$out" "$err" >>"$log"; }

for kc in "$token_kc" "$cert_kc" "$tmp/exec.kubeconfig"; do
  name=$(basename "$(dirname "$kc")")-$(basename "$kc")
  run plan $PB --kubeconfig "$kc" --context demo -v
  expect_code 0 "plan --context with $name"
  record
  run apply $PB --kubeconfig "$kc" --context demo --yes -v -o json
  expect_code 0 "apply -v -o json with $name"
  record
  run apply $PB --kubeconfig "$kc" --context demo --yes -v
  expect_code 0 "apply -v with $name"
  record
  run snapshot --kubeconfig "$kc" --context demo -v -o "$tmp/out/$name.snapshot.yaml"
  expect_code 0 "snapshot -v with $name"
  record
  run apply $PB --kubeconfig "$kc" --context prod --yes -v
  expect_code 1 "apply to an unknown context with $name"
  expect_err "context \"prod\" not found in $kc" "the unknown context is named"
  record
done
run apply $PB --kubeconfig "$tmp/wrong.kubeconfig" --context demo --yes -v -o json
expect_code 1 "apply with a refused token"
expect_err "refused the credentials (401 Unauthorized)" "says the credentials were refused"
record
if grep -qF -- "0bad${token:4}" <<<"$out$err"; then fail "the refused token is shown"; else pass; fi

for pid in "${servers[@]}"; do kill "$pid" && wait "$pid"; done
servers=()
# A server that is down: refit retries the connection for a few seconds, so the three run side by side.
kcs=("$token_kc" "$cert_kc" "$tmp/exec.kubeconfig")
for i in 0 1 2; do
  ("$REFIT" apply $PB --kubeconfig "${kcs[$i]}" --context demo --yes -v >"$tmp/down-$i.out" 2>"$tmp/down-$i.err"
   echo $? >"$tmp/down-$i.code") &
done
wait
for i in 0 1 2; do
  out=$(cat "$tmp/down-$i.out") err=$(cat "$tmp/down-$i.err") code=$(cat "$tmp/down-$i.code")
  expect_code 1 "apply to a server that is down with ${kcs[$i]}"
  expect_err "cluster demo (context demo, https://127.0.0.1:" "names the cluster, context and server"
  record
done

[ "$(grep -c . "$log")" -gt 100 ] && pass || fail "the runs printed almost nothing: the search would prove little"
if leaked=$(grep -nF -f "$tmp/secrets" "$log"); then fail "refit printed a secret" "${leaked:0:300}"; else pass; fi
written=$(find "$tmp/out" "$tmp/home" -type f)
[ -n "$written" ] && pass || fail "refit wrote no file (the snapshots are missing)"
if leaked=$(grep -rlF -f "$tmp/secrets" "$tmp/out" "$tmp/home"); then fail "a file refit wrote holds a secret" "$leaked"; else pass; fi
for dir in "$tmp/token" "$tmp/cert"; do
  grep -q "^GET /clusters/demo/version 200$" "$dir/serve.log" && pass || fail "the server's verbose log has no requests"
  if grep -qF -f "$tmp/secrets" "$dir/serve.log"; then fail "the server printed a secret ($dir/serve.log)"; else pass; fi
done

finish
