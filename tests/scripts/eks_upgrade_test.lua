-- refit test tests/scripts/eks_upgrade_test.lua: the bundled eks/upgrade playbook (docs/eks.md)
-- against the simulated EKS world: the happy path, every refusal, and every fault scenario.
local t = require "refit.test"
local k8s = require "refit.k8s"

local PLAYBOOK = "scripts/eks/upgrade.lua"
local FIXTURE = "examples/clusters/eks-1.20.yaml"
local NODES_BEHIND = "examples/clusters/eks-1.20-nodes-behind.yaml"
local LARGE = "examples/clusters/eks-large.yaml"
local SELF_MANAGED = "tests/scripts/fixtures/eks-1.20-self-managed.yaml"
local REMOVED_APIS = "tests/scripts/fixtures/eks-1.21-removed-apis.yaml"
local FEW_IPS = "tests/scripts/fixtures/eks-1.20-few-ips.yaml"
local SCENARIOS = "examples/scenarios/"

local function plan(opts)
  opts.playbook = opts.playbook or PLAYBOOK
  opts.sim = opts.sim or FIXTURE
  return t.plan(opts)
end

local function eks(r) return r.world.cloud.eks.clusters.demo end
local function eks_before(r) return r.world_before.cloud.eks.clusters.demo end

-- the argv (without "--output json") of every mutating command, in order
local function mutating_commands(r)
  local out = {}
  for _, e in ipairs(r:all("command")) do
    if e.mutates then
      local argv = {}
      for _, a in ipairs(e.argv) do
        if a == "--output" then break end
        argv[#argv + 1] = a
      end
      out[#out + 1] = table.concat(argv, " ")
    end
  end
  return out
end

-- the image tag of a container of a workload, through the stdlib's own helpers
local function image_tag(obj, container)
  return k8s.image_tag(k8s.container_image(obj, container))
end

local function workload(r, kind, name)
  for _, o in ipairs(r:objects("demo", kind)) do
    if o.metadata.namespace == "kube-system" and o.metadata.name == name then return o end
  end
end

-- The refusals: nothing may change, not even in the cloud.
local function assert_untouched(r)
  t.eq(r.status, "precondition_failed", r.output)
  t.eq(r.exit_code, 2)
  t.eq(r:find("mutation"), nil)
  t.eq(#mutating_commands(r), 0)
  t.eq(r:find("step_started"), nil)
  t.eq(r.world, r.world_before)
end

---------------------------------------------------------------------------------------------------
-- The happy path (seed 004, 1.20 -> 1.21)
---------------------------------------------------------------------------------------------------

t.case("1.20 -> 1.21: control plane, add-ons, node groups and Fargate pods end at 1.21", function()
  local r = plan { set = { to = "1.21" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r.exit_code, 0)

  -- the seed's order: control plane, add-ons, worker nodes; the VPC CNI's 1.20 version is also
  -- the 1.21 default, so only kube-proxy and CoreDNS move (as the seed says for 1.20 -> 1.21)
  local results = r:step_results()
  t.eq(#results, 10)
  t.eq({ table.unpack(results, 1, 7) }, {
    "control-plane=succeeded",
    "addon[kube-proxy]=succeeded",
    "addon[coredns]=succeeded",
    "addon[vpc-cni]=skipped:done",
    "nodegroup[general]=succeeded",
    "nodegroup[memory]=succeeded",
    "nodegroup[system]=succeeded",
  })
  t.match(results[8], "^fargate%-pod%[serverless/hello%-[%w-]+%]=succeeded$")
  t.match(results[9], "^fargate%-pod%[serverless/hello%-[%w-]+%]=succeeded$")
  t.eq(results[10], "verify-versions=succeeded")
  t.eq(r:find("step_started", { step = "control-plane" }).irreversible, true)
  t.eq(r:find("step_started", { step = "addon[coredns]" }).irreversible, true)   -- EKS-managed: no downgrade
  t.eq(r:find("step_started", { step = "nodegroup[general]" }).irreversible, true)

  t.eq(mutating_commands(r), {
    "aws eks update-cluster-version --name demo --kubernetes-version 1.21",
    "aws eks update-addon --cluster-name demo --addon-name kube-proxy --addon-version v1.21.2-eksbuild.2 --resolve-conflicts PRESERVE",
    "aws eks update-addon --cluster-name demo --addon-name coredns --addon-version v1.8.4-eksbuild.1 --resolve-conflicts PRESERVE",
    "aws eks update-nodegroup-version --cluster-name demo --nodegroup-name general --kubernetes-version 1.21",
    "aws eks update-nodegroup-version --cluster-name demo --nodegroup-name memory --kubernetes-version 1.21",
    "aws eks update-nodegroup-version --cluster-name demo --nodegroup-name system --kubernetes-version 1.21",
  })
  -- the two Fargate pods are relaunched through the API, one at a time
  local deletes = r:all("mutation", { verb = "delete", kind = "Pod", namespace = "serverless" })
  t.eq(#deletes, 2)

  -- the cloud
  local c = eks(r)
  t.eq(c.version, "1.21")
  t.eq(c.status, "ACTIVE")
  t.eq(c.platformVersion, "eks.18")
  for _, name in ipairs { "general", "memory", "system" } do
    t.eq(c.nodegroups[name].version, "1.21", name)
    t.eq(c.nodegroups[name].releaseVersion, "1.21.5-20220406", name)
    t.eq(c.nodegroups[name].status, "ACTIVE", name)
  end
  t.eq(c.addons["kube-proxy"].addonVersion, "v1.21.2-eksbuild.2")
  t.eq(c.addons["kube-proxy"].status, "ACTIVE")
  t.eq(c.addons.coredns.addonVersion, "v1.8.4-eksbuild.1")
  t.eq(c.addons.coredns.status, "ACTIVE")

  -- the Kubernetes side: the API server, every node (10 EC2, 2 Fargate) and the self-managed CNI
  t.match(r.world.clusters.demo.version, "^v1%.21%.")
  local nodes, fargate = r:objects("demo", "Node"), 0
  t.eq(#nodes, 12)
  for _, node in ipairs(nodes) do
    t.match(node.status.nodeInfo.kubeletVersion, "^v1%.21%.", node.metadata.name)
    if node.metadata.labels["eks.amazonaws.com/compute-type"] == "fargate" then fargate = fargate + 1 end
  end
  t.eq(fargate, 2)
  t.eq(image_tag(workload(r, "DaemonSet", "aws-node"), "aws-node"), "v1.10.1-eksbuild.1")
end)

t.case("without `to` the target is one minor above the control plane, kept for the whole run", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:find("state_set", { key = "to" }).value, "1.21")
  t.eq(r:find("state_set", { key = "from" }).value, "1.20")
  t.eq(#r:all("state_set", { key = "to" }), 1)
  t.eq(eks(r).version, "1.21")
end)

t.case("`to` may be written v1.21 or 1.21.2: EKS versions are minors", function()
  local r = plan { set = { to = "v1.21.2" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:find("state_set", { key = "to" }).value, "1.21")
  t.eq(eks(r).version, "1.21")
end)

t.case("preflight warns about APIs a later version removes (the shop PDBs at policy/v1beta1)", function()
  local r = plan { set = { to = "1.21" } }
  t.eq(r:warnings(), {
    "PodDisruptionBudget shop/api (stored at policy/v1beta1) uses an API that Kubernetes 1.25 removes: " ..
      "use policy/v1; an empty spec.selector selects every pod of the namespace",
    "PodDisruptionBudget shop/web (stored at policy/v1beta1) uses an API that Kubernetes 1.25 removes: " ..
      "use policy/v1; an empty spec.selector selects every pod of the namespace",
  })
end)

t.case("to equal to the control plane's version: nothing lags, every step is skipped as done", function()
  local r = plan { set = { to = "1.20" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), {
    "control-plane=skipped:done",
    "addon[kube-proxy]=skipped:done",
    "addon[coredns]=skipped:done",
    "addon[vpc-cni]=skipped:done",
    "nodegroup[general]=skipped:done",
    "nodegroup[memory]=skipped:done",
    "nodegroup[system]=skipped:done",
    "verify-versions=succeeded",
  })
  t.eq(r:find("run_finished").changed, false)
  t.eq(#mutating_commands(r), 0)
end)

t.case("self-managed add-ons move by their image tag and wait for the rollout", function()
  local r = plan { sim = SELF_MANAGED, set = { to = "1.21" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:find("step_started", { step = "addon[kube-proxy]" }).irreversible, false)
  local patches = r:all("mutation", { verb = "patch", namespace = "kube-system" })
  t.eq(#patches, 2)
  t.eq(patches[1].kind, "DaemonSet")
  t.eq(patches[1].name, "kube-proxy")
  t.eq(patches[2].kind, "Deployment")
  t.eq(patches[2].name, "coredns")
  t.eq(r:find("wait_finished", { step = "addon[coredns]", what = "Deployment kube-system/coredns rolled out" }).ok, true)
  t.eq(image_tag(workload(r, "DaemonSet", "kube-proxy"), "kube-proxy"), "v1.21.2-eksbuild.2")
  t.eq(image_tag(workload(r, "Deployment", "coredns"), "coredns"), "v1.8.4-eksbuild.1")
  t.eq(image_tag(workload(r, "DaemonSet", "aws-node"), "aws-node"), "v1.10.1-eksbuild.1")
  t.eq(next(eks(r).addons), nil)   -- no EKS add-on was created on the way
end)

t.case("the large fixture plans successfully", function()
  local r = plan { sim = LARGE }
  t.eq(r.status, "succeeded", r.output)
  local to = r:find("state_set", { key = "to" }).value
  local nodes = r:objects(next(r.world.clusters), "Node")
  t.ok(#nodes >= 2000, "the large fixture's nodes: " .. #nodes)
  for _, node in ipairs(nodes) do
    t.match(node.status.nodeInfo.kubeletVersion, "^v" .. to:gsub("%.", "%%.") .. "%.", node.metadata.name)
  end
end)

---------------------------------------------------------------------------------------------------
-- Refusals: nothing changes
---------------------------------------------------------------------------------------------------

t.case("a request that skips minors is refused with the route", function()
  local r = plan { set = { to = "1.23" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  local msg = checks["version-route"]
  t.eq(n, 1)   -- the other checks stay quiet rather than repeat it
  t.match(msg, "^scripts/eks/upgrade%.lua:%d+: ")
  t.eq((msg:gsub("^[^:]+:%d+: ", "")),
       "EKS upgrades the control plane one minor version at a time: 1.20 -> 1.23 skips 1.21, 1.22. " ..
       "Run refit apply eks/upgrade once per hop: --set to=1.21, then --set to=1.22, then --set to=1.23")
end)

t.case("a downgrade is refused", function()
  local r = plan { set = { to = "1.19" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  t.contains(checks["version-route"], "EKS cannot downgrade a control plane: cluster demo is at 1.20, to=1.19 is older")
  t.eq(n, 1)
end)

t.case("a target beyond the minors refit models (data/paths.yaml) is refused, naming the file to extend", function()
  local r = plan { set = { to = "1.31" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  t.contains(checks["version-route"], "EKS 1.31 is newer than the versions refit knows (up to 1.30): " ..
             "if EKS has released it, add its upgrade paths to scripts/eks/data/paths.yaml")
  t.eq(n, 1)
end)

t.case("nodes behind the control plane stop the run before anything changes", function()
  local r = plan { sim = NODES_BEHIND, set = { to = "1.21" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  t.eq(n, 1)
  local msg = checks["node-versions"]
  t.contains(msg, "every node must run the control plane's minor 1.20 before the control plane moves to 1.21; these are behind: ")
  -- the four nodes of node group general, each named with its kubelet
  local named = 0
  for _, node in ipairs(r:objects("demo", "Node")) do
    if node.metadata.labels["eks.amazonaws.com/nodegroup"] == "general" then
      t.contains(msg, node.metadata.name .. " (" .. node.status.nodeInfo.kubeletVersion .. ") [node group general]")
      named = named + 1
    else
      t.eq(msg:find(node.metadata.name, 1, true), nil, node.metadata.name .. " is not behind")
    end
  end
  t.eq(named, 4)
  t.contains(msg, "First upgrade node group general to 1.20 (refit apply eks/upgrade --set to=1.20 does that")
end)

t.case("... and the fix the message names works: to=1.20 upgrades only the lagging node group", function()
  local r = plan { sim = NODES_BEHIND, set = { to = "1.20" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(mutating_commands(r), {
    "aws eks update-nodegroup-version --cluster-name demo --nodegroup-name general --kubernetes-version 1.20",
  })
  t.eq(eks(r).version, "1.20")
  t.eq(eks(r).nodegroups.general.version, "1.20")
  for _, node in ipairs(r:objects("demo", "Node")) do
    t.match(node.status.nodeInfo.kubeletVersion, "^v1%.20%.", node.metadata.name)
  end
end)

t.case("objects on APIs the target removes are refused, each with its replacement", function()
  local r = plan { sim = REMOVED_APIS, set = { to = "1.22" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  t.eq(n, 1)
  local msg = checks["removed-apis"]
  local ingress_note = "spec.backend is renamed spec.defaultBackend; serviceName/servicePort become " ..
                       "service.name/service.port.{name,number}; pathType is required"
  t.contains(msg, "Kubernetes 1.22 no longer serves the API versions these objects use; move them " ..
                  "(and the manifests, charts and clients that create them) to the replacement first:\n" ..
                  "  - Ingress shop/web (stored at extensions/v1beta1): use networking.k8s.io/v1; " .. ingress_note .. "\n" ..
                  "  - Ingress shop/api (last applied as networking.k8s.io/v1beta1): use networking.k8s.io/v1; " .. ingress_note)
  -- a later removal is only a warning
  t.eq(r:warnings(), { "CronJob shop/nightly (stored at batch/v1beta1) uses an API that Kubernetes 1.25 removes: use batch/v1" })
end)

t.case("the same cluster may go to 1.21's successor only once the Ingresses moved; 1.21 itself removes nothing", function()
  -- control plane already at 1.21: nothing is removed by staying there
  local r = plan { sim = REMOVED_APIS, set = { to = "1.21" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:find("check_failed"), nil)
end)

t.case("subnets without 5 free addresses stop the run before the control plane update", function()
  local r = plan { sim = FEW_IPS, set = { to = "1.21" } }
  assert_untouched(r)
  local checks, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(checks["subnet-addresses"],
    "EKS needs up to 5 free IP addresses in the cluster's subnets to update the control plane; they have 3 " ..
    "(subnet-0a1b2c3d4e5f60001: 2, subnet-0a1b2c3d4e5f60002: 1): free addresses or add subnets first")
end)

---------------------------------------------------------------------------------------------------
-- Faults (examples/scenarios/eks-*.yaml)
---------------------------------------------------------------------------------------------------

t.case("control plane health checks fail: EKS reverts, the run ends rolled back at 1.20", function()
  local r = plan { scenario = SCENARIOS .. "eks-control-plane-health-check-fails.yaml", set = { to = "1.21" } }
  t.eq(r.status, "rolled_back", r.output)
  t.eq(r.exit_code, 3)
  t.eq(r:step_results(), { "control-plane=failed" })
  t.eq(r:rollback_events(), {
    "rollback_started control-plane",
    "step_rolled_back control-plane succeeded",
  })
  local failed = r:find("step_finished", { step = "control-plane" })
  t.contains(failed.error, "Failed: ClusterUnreachable: The control plane failed EKS health checks after the update " ..
                           "to Kubernetes 1.21 and was rolled back to 1.20.")
  t.contains(failed.error, "(resourceIds: demo)")
  t.ok(r:find("log", { step = "control-plane", phase = "rollback", message = "EKS reverted the update: cluster demo is ACTIVE at 1.20" }))
  t.eq(mutating_commands(r), { "aws eks update-cluster-version --name demo --kubernetes-version 1.21" })
  t.eq(eks(r).version, "1.20")
  t.eq(eks(r).status, "ACTIVE")
  t.match(r.world.clusters.demo.version, "^v1%.20%.")
end)

t.case("a PodDisruptionBudget blocks the drain: the run fails at the node group, naming the PDB, pod and node", function()
  local r = plan { scenario = SCENARIOS .. "eks-pdb-blocks-drain.yaml", set = { to = "1.21" } }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), {
    "control-plane=succeeded", "addon[kube-proxy]=succeeded", "addon[coredns]=succeeded",
    "addon[vpc-cni]=skipped:done", "nodegroup[general]=failed",
  })
  -- a managed node group update cannot be rolled back: the rollback stops at once
  t.eq(r:rollback_events(), { "rollback_started nodegroup[general]", "irreversible_reached nodegroup[general]" })
  local err = r:find("step_finished", { step = "nodegroup[general]" }).error
  local blocked_node = err:match("on node (ip%-[%w%.%-]+%.compute%.internal) is protected")
  t.ok(blocked_node, err)
  t.contains(err, "PodEvictionFailure: Reached max retries while trying to evict pods from nodes in node group general: pod shop/ledger-")
  t.contains(err, "is protected by PodDisruptionBudget shop/ledger (resourceIds: " .. blocked_node .. ")")
  t.contains(err, "Scale the workload up or relax the budget, then run again (or --set force=true to evict regardless of the budget)")
  local recovery = r:find("irreversible_reached").recovery
  t.contains(recovery, "node group general of cluster demo runs (some of) its nodes at Kubernetes 1.21")
  t.contains(recovery, "run refit apply eks/upgrade --set to=1.21 again")
  -- where it stopped: control plane and add-ons at 1.21, node group general (and the rest) at 1.20
  t.eq(eks(r).version, "1.21")
  t.eq(eks(r).nodegroups.general.version, "1.20")
  t.eq(eks(r).nodegroups.memory.version, "1.20")
end)

t.case("... and force=true evicts regardless of the budget", function()
  local r = plan { scenario = SCENARIOS .. "eks-pdb-blocks-drain.yaml", set = { to = "1.21", force = "true" } }
  t.eq(r.status, "succeeded", r.output)
  t.contains(mutating_commands(r)[4], "--nodegroup-name general --kubernetes-version 1.21 --force")
end)

t.case("a replacement node never becomes Ready: the node group update fails naming the node", function()
  local r = plan { scenario = SCENARIOS .. "eks-node-never-ready.yaml", set = { to = "1.21" } }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:rollback_events(), { "rollback_started nodegroup[general]", "irreversible_reached nodegroup[general]" })
  local err = r:find("step_finished", { step = "nodegroup[general]" }).error
  t.match(err, "NodeCreationFailure: Instances failed to join the kubernetes cluster: ip%-[%d%-]+%.us%-west%-2%.compute%.internal %(i%-%x+%) did not become Ready within 15 minutes")
  t.eq(eks(r).nodegroups.general.version, "1.20")
end)

t.case("EC2 capacity runs out in the second node group: the first stays upgraded, the run fails there", function()
  local r = plan { scenario = SCENARIOS .. "eks-nodegroup-update-fails.yaml", set = { to = "1.21" } }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), {
    "control-plane=succeeded", "addon[kube-proxy]=succeeded", "addon[coredns]=succeeded",
    "addon[vpc-cni]=skipped:done", "nodegroup[general]=succeeded", "nodegroup[memory]=failed",
  })
  t.eq(r:rollback_events(), { "rollback_started nodegroup[memory]", "irreversible_reached nodegroup[memory]" })
  t.contains(r:find("step_finished", { step = "nodegroup[memory]" }).error,
             "Failed: NodeCreationFailure: Could not launch On-Demand Instances. InsufficientInstanceCapacity")
  t.eq(eks(r).nodegroups.general.version, "1.21")
  t.eq(eks(r).nodegroups.memory.version, "1.20")
end)

t.case("the coredns add-on ends DEGRADED: the run fails there with the health issue (no downgrade)", function()
  local r = plan { scenario = SCENARIOS .. "eks-addon-degraded.yaml", set = { to = "1.21" } }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), { "control-plane=succeeded", "addon[kube-proxy]=succeeded", "addon[coredns]=failed" })
  t.eq(r:rollback_events(), { "rollback_started addon[coredns]", "irreversible_reached addon[coredns]" })
  t.contains(r:find("step_finished", { step = "addon[coredns]" }).error,
             "add-on coredns is DEGRADED: InsufficientNumberOfReplicas: The add-on is unhealthy because it doesn't " ..
             "have the desired number of replicas. (resourceIds: Deployment/coredns)")
  t.contains(r:find("irreversible_reached").recovery,
             "EKS cannot downgrade an add-on, so refit does not undo the update of coredns (cluster demo) to v1.8.4-eksbuild.1")
  t.eq(eks(r).addons.coredns.status, "DEGRADED")
  t.eq(eks(r).nodegroups.general.version, "1.20")
end)

t.case("a self-managed CoreDNS that crash-loops is put back, then the rollback stops at the control plane", function()
  local r = plan { sim = SELF_MANAGED, scenario = "tests/scripts/fixtures/eks-coredns-crashloop.yaml", set = { to = "1.21" } }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), { "control-plane=succeeded", "addon[kube-proxy]=succeeded", "addon[coredns]=failed" })
  t.eq(r:rollback_events(), {
    "rollback_started addon[coredns]",
    "step_rolled_back addon[coredns] succeeded",
    "step_rolled_back addon[kube-proxy] succeeded",
    "irreversible_reached control-plane",
  })
  local err = r:find("step_finished", { step = "addon[coredns]" }).error
  t.contains(err, "Deployment kube-system/coredns did not roll out: progress deadline exceeded; pod kube-system/coredns-")
  t.contains(err, ": coredns CrashLoopBackOff (image 602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.8.4-eksbuild.1)")
  -- both self-managed add-ons are back at their 1.20 images; the control plane stays at 1.21
  t.eq(image_tag(workload(r, "DaemonSet", "kube-proxy"), "kube-proxy"), "v1.20.4-eksbuild.2")
  t.eq(image_tag(workload(r, "Deployment", "coredns"), "coredns"), "v1.8.3-eksbuild.1")
  t.eq(eks(r).version, "1.21")
  t.contains(r:find("irreversible_reached").recovery, "EKS cannot downgrade a control plane")
end)
