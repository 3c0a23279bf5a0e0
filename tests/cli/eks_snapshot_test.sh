#!/usr/bin/env bash
# Plans from a live EKS cluster. refit plan eks/upgrade --context snapshots the cluster and reads its
# EKS side for real (aws eks describe-cluster, list-nodegroups, describe-nodegroup, list-addons,
# describe-addon, ...) through the aws CLI — here the shim of a world served by refit sim serve, with
# a kubeconfig shaped like `aws eks update-kubeconfig`'s, its context renamed — so the plan must be
# the one the served fixture gives in-process. refit snapshot eks/upgrade saves both sides, and the
# file plans the same. When nothing names the EKS cluster, the plan says how to name it.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
tmp=$(mktemp -d)
trap 'stop_sim_serve; rm -rf "$tmp"' EXIT
FX=examples/clusters/eks-1.20.yaml
TOKEN=TOKEN-4d1c9e0b77a2
SECRET_KEY=SECRET-8c2f5a61d0e3

# A fast world: each aws call of the model lasts 800 ms of its time.
start_sim_serve "$tmp" $FX --speed 100 --shims "$tmp/bin"
server=$(sed -n 's/^ *server: //p' "$KC" | head -1)

# The credential plugin of an EKS kubeconfig: `aws eks get-token --cluster-name demo` prints an
# ExecCredential. It is a file of its own (the kubeconfig names it by path); the aws on PATH is the
# served world's shim, which the playbook's commands reach.
mkdir -p "$tmp/plugin"
cat >"$tmp/plugin/aws" <<SH
#!/bin/sh
echo '{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "$TOKEN"}}'
SH
chmod +x "$tmp/plugin/aws"
# kubeconfig_for CONTEXT CLUSTER_ENTRY [PLUGIN ARGS...]: context CONTEXT reaches the served demo
# cluster through cluster entry CLUSTER_ENTRY; with plugin args, its user runs the plugin (whose
# environment holds a secret key, which refit must not copy anywhere).
kubeconfig_for() {
  local context=$1 entry=$2
  shift 2
  local user='{}'
  if [ $# -gt 0 ]; then
    local args
    args=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
    user=$(jq -n --arg cmd "$tmp/plugin/aws" --arg key "$SECRET_KEY" --argjson args "$args" '{exec: {apiVersion:
      "client.authentication.k8s.io/v1beta1", command: $cmd, args: $args, env: [{name: "AWS_SECRET_ACCESS_KEY", value: $key}]}}')
  fi
  jq -n --arg ctx "$context" --arg entry "$entry" --arg server "$server" --argjson user "$user" '{apiVersion: "v1",
    kind: "Config", clusters: [{name: $entry, cluster: {server: $server}}], users: [{name: "eks-user", user: $user}],
    contexts: [{name: $ctx, context: {cluster: $entry, user: "eks-user"}}], "current-context": $ctx}'
}
# As `aws eks update-kubeconfig` writes it, the context renamed to "prod": only the plugin's
# arguments and the cluster entry's ARN say which EKS cluster it is.
ARN=arn:aws:eks:us-west-2:111122223333:cluster/demo
kubeconfig_for prod $ARN eks get-token --cluster-name demo --output json >"$tmp/eks.kubeconfig"

# What a plan does, without when: each event's name, step and phase; commands with argv, mutates
# and exit code; mutations with what they change; step outcomes; check failures; logs. The
# cluster's name (the context's, "prod", in a plan from it) reads as the fixture's. Left out: the
# warnings about objects "stored at" a removed apiVersion, which only a simulated world can tell
# (it keeps the version an object was written with; an API server converts to the one asked for,
# and a snapshot reads each object at the version its group prefers).
plan_shape() {
  jq -c 'select(.event != "run_started" and .event != "world_log") |
    select(.event != "log" or (.message | contains("(stored at ") | not)) |
    {event, step, phase, argv, mutates, code, verb, kind, namespace, name, status, level, message}
    | with_entries(select(.value != null))' <<<"$1" | sed 's/"prod"/"demo"/g'
}
same_plan() {
  local actual
  actual=$(plan_shape "$out")
  if [ "$actual" = "$expected" ]; then pass; else
    fail "$1 differs from the fixture's" "$(diff <(echo "$expected") <(echo "$actual") | head -30)"
  fi
}

# The cluster entry's ARN gives the region: a plan from it passes --region us-west-2 (the fixture's
# region) to every aws call, which the fixture's plan does when told.
run plan eks/upgrade --sim $FX --set to=1.21 --set region=us-west-2 -o json
expect_code 0 "the plan from the fixture"
expected=$(plan_shape "$out")
# the served world, without when things happened (its clock runs on)
before=$(world_now)

# 1. The plan from the live cluster: the EKS side read through the aws shim, the plan the same.
PATH="$tmp/bin:$PATH" run plan eks/upgrade --kubeconfig "$tmp/eks.kubeconfig" --context prod --set to=1.21 -o json
expect_code 0 "the plan from the live cluster"
jq -se 'any(.[]; .event == "run_started" and .world == "snapshot")' <<<"$out" >/dev/null && pass ||
  fail "the plan is not from a snapshot"
same_plan "the plan from the live cluster"
commands=$(jq -r 'select(.event == "command" and .mutates) | .argv | join(" ")' <<<"$out")
grep -qx "aws eks update-cluster-version --name demo --kubernetes-version 1.21 --region us-west-2 --output json" \
  <<<"$commands" && pass || fail "the plan does not update the EKS cluster the plugin names" "$commands"
[ "$(grep -c "^aws eks update-nodegroup-version --cluster-name demo --nodegroup-name" <<<"$commands")" = 3 ] && pass ||
  fail "the plan does not roll the three node groups" "$commands"
! grep -q -e "$TOKEN" -e "$SECRET_KEY" <<<"$out$err" && pass || fail "the plan's output holds the token or the secret key"
# The served world saw reads only.
[ "$(world_now)" = "$before" ] && pass || fail "the plan changed the served world"

# 2. refit snapshot eks/upgrade saves the EKS side beside the objects, in the shape the aws model
# loads (docs/fixtures.md), and where it was read from, without the plugin's secret.
PATH="$tmp/bin:$PATH" run snapshot eks/upgrade --kubeconfig "$tmp/eks.kubeconfig" --context prod -o "$tmp/snap.yaml"
expect_code 0 "refit snapshot eks/upgrade"
expect_err "refit: wrote $tmp/snap.yaml: 1 cluster," "it says what it wrote"
expect_err "; cloud side: eks of prod" "it says it read the EKS side"
# a top-level block of cluster prod (4 spaces in), from its "KEY:" line to the next block
block() { awk -v key="    $1:" '$0 == key {on = 1; next} on && /^    [^ ]/ {exit} on' "$tmp/snap.yaml"; }
expected_eks=$(cat <<YAML
      accountId: "111122223333"
      addons:
        - name: coredns
          status: ACTIVE
          version: v1.8.3-eksbuild.1
        - name: kube-proxy
          status: ACTIVE
          version: v1.20.4-eksbuild.2
      fargateProfiles:
        - name: serverless
          selectors:
            - namespace: serverless
          subnets:
            - subnet-0a1b2c3d4e5f60001
            - subnet-0a1b2c3d4e5f60002
            - subnet-0a1b2c3d4e5f60003
      name: demo
      nodegroups:
$(for ng in general:4:6:1:2:m5.large:maxUnavailable:1 memory:3:4:1:1:r5.large:maxUnavailable:1 \
            system:3:3:3:3:t3.large:maxUnavailablePercentage:34; do
  IFS=: read -r name desired max _ min type ukey uval <<<"$ng"
  cat <<NG
        - amiType: AL2_x86_64
          capacityType: ON_DEMAND
          desiredSize: $desired
          diskSize: 20
          instanceTypes:
            - $type
          labels:
            workload: $name
          maxSize: $max
          $ukey: $uval
          minSize: $min
          name: $name
          releaseVersion: 1.20.11-20220406
          status: ACTIVE
          subnets:
            - subnet-0a1b2c3d4e5f60001
            - subnet-0a1b2c3d4e5f60002
            - subnet-0a1b2c3d4e5f60003
          version: "1.20"
NG
done)
      platformVersion: eks.14
      region: us-west-2
      selfManagedAddons: false
      status: ACTIVE
      subnets:
        - availabilityZone: us-west-2a
          availableIpAddressCount: 8112
          cidrBlock: 10.0.0.0/19
          id: subnet-0a1b2c3d4e5f60001
        - availabilityZone: us-west-2b
          availableIpAddressCount: 8097
          cidrBlock: 10.0.32.0/19
          id: subnet-0a1b2c3d4e5f60002
        - availabilityZone: us-west-2c
          availableIpAddressCount: 8120
          cidrBlock: 10.0.64.0/19
          id: subnet-0a1b2c3d4e5f60003
      version: "1.20"
YAML
)
[ "$(block eks)" = "$expected_eks" ] && pass ||
  fail "the snapshot's eks section differs" "$(diff <(echo "$expected_eks") <(block eks) | head -30)"
expected_kubeconfig=$(cat <<YAML
      cluster: $ARN
      context: prod
      exec:
        args:
          - eks
          - get-token
          - "--cluster-name"
          - demo
          - "--output"
          - json
        command: $tmp/plugin/aws
        env:
          AWS_SECRET_ACCESS_KEY: "[redacted]"
      namespace: default
      server: $server
YAML
)
[ "$(block kubeconfig)" = "$expected_kubeconfig" ] && pass ||
  fail "the snapshot's kubeconfig differs" "$(diff <(echo "$expected_kubeconfig") <(block kubeconfig) | head -30)"
! grep -q -e "$TOKEN" -e "$SECRET_KEY" "$tmp/snap.yaml" && pass || fail "the snapshot holds the token or the secret key"
# The file plans as the live cluster did: its kubeconfig names the EKS cluster and region again.
run plan eks/upgrade --sim "$tmp/snap.yaml" --set to=1.21 -o json
expect_code 0 "the plan from the saved snapshot"
same_plan "the plan from the saved snapshot"
# Without a playbook, a snapshot holds the Kubernetes side only, as before.
run snapshot --kubeconfig "$tmp/eks.kubeconfig" --context prod -o "$tmp/objects.yaml"
expect_code 0 "refit snapshot without a playbook"
! grep -q "^    eks:" "$tmp/objects.yaml" && pass || fail "a snapshot without a playbook read the EKS side"
run snapshot --kubeconfig "$tmp/eks.kubeconfig" --context prod --set cluster=demo
expect_code 1 "--set without a playbook"
expect_err_exact "refit: --set and -f give a playbook's parameters: name the playbook whose cloud side to read (refit snapshot eks/upgrade --context CTX --set cluster=NAME)" "says what --set is for"

# 3. Nothing names the EKS cluster (a context "lost", its cluster entry "lost", no plugin) and no
# EKS cluster bears the context's name: the plan says where refit looked and how to name it.
kubeconfig_for lost lost >"$tmp/lost.kubeconfig"
lost_error='refit: cannot read the eks section of cluster lost (the snapshot hook of eks/upgrade): cannot tell which EKS cluster context "lost" is: nothing in the kubeconfig names one (an exec plugin `aws eks get-token --cluster-name NAME`, or a context or cluster entry named arn:aws:eks:REGION:ACCOUNT:cluster/NAME), and there is no EKS cluster named after the cluster, "lost", in the aws CLI'"'"'s default region; give it with --set cluster=NAME (and its region with --set region=REGION)'
PATH="$tmp/bin:$PATH" run plan eks/upgrade --kubeconfig "$tmp/lost.kubeconfig" --context lost --set to=1.21
expect_code 1 "a plan whose EKS cluster nothing names"
expect_err_exact "$lost_error" "says how to name the EKS cluster"
PATH="$tmp/bin:$PATH" run snapshot eks/upgrade --kubeconfig "$tmp/lost.kubeconfig" --context lost -o "$tmp/lost.yaml"
expect_code 1 "a snapshot whose EKS cluster nothing names"
expect_err_exact "$lost_error" "says the same"
[ ! -e "$tmp/lost.yaml" ] && pass || fail "the failed snapshot wrote a file"
# Named with --set, the same context plans.
PATH="$tmp/bin:$PATH" run plan eks/upgrade --kubeconfig "$tmp/lost.kubeconfig" --context lost --set to=1.21 --set cluster=demo
expect_code 0 "the plan with --set cluster=demo"
expect_out "aws eks update-cluster-version --name demo --kubernetes-version 1.21 --output json" "it plans the named cluster"
# A name that the plugin gives wrongly is named with where it came from.
kubeconfig_for prod $ARN eks get-token --cluster-name demo-old >"$tmp/old.kubeconfig"
PATH="$tmp/bin:$PATH" run plan eks/upgrade --kubeconfig "$tmp/old.kubeconfig" --context prod --set to=1.21
expect_code 1 "a plan whose plugin names a cluster that does not exist"
expect_err_exact 'refit: cannot read the eks section of cluster prod (the snapshot hook of eks/upgrade): no EKS cluster "demo-old" in region us-west-2 (the name comes from the exec plugin of context prod): No cluster found for name: demo-old.; check it with aws eks list-clusters, or give it with --set cluster=NAME (and its region with --set region=REGION)' "names the plugin"

# 4. A snapshot hook only reads: a write, a mutating command, or what is not a section stops the plan
# before it runs, and the served world is as it was.
HOOKS=tests/cli/files/snapshot-hooks.lua
PATH="$tmp/bin:$PATH" run plan $HOOKS --kubeconfig "$KC" --context demo --set hook=write
expect_code 1 "a hook that writes"
expect_err_exact "refit: cannot read the eks section of cluster demo (the snapshot hook of tests/snapshot-hooks): $HOOKS:11: a snapshot hook only reads the live clusters (patch Node fargate-ip-10-0-32-13.us-west-2.compute.internal): refit plan and refit snapshot never change them" "refuses the write, naming the hook's line"
PATH="$tmp/bin:$PATH" run plan $HOOKS --kubeconfig "$KC" --context demo --set hook=command
expect_code 1 "a hook that runs a mutating command"
expect_err "a snapshot hook only reads the live clusters (runs aws eks update-cluster-version --name demo --kubernetes-version 1.21)" "refuses the command"
PATH="$tmp/bin:$PATH" run plan $HOOKS --kubeconfig "$KC" --context demo --set hook=number
expect_code 1 "a hook that returns a number"
expect_err_exact "refit: the eks section of cluster demo (the snapshot hook of tests/snapshot-hooks): the hook must return the fixture section (a table) or nil, got number" "says what it must return"
[ "$(world_now)" = "$before" ] && pass || fail "a refused hook changed the served world"
PATH="$tmp/bin:$PATH" run plan $HOOKS --kubeconfig "$KC" --context demo --set hook=none
expect_code 0 "a hook that finds no such side"
expect_out "the plan ran" "the plan runs"

finish
