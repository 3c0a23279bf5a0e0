-- refit test tests/scripts/dkp_major_upgrade_test.lua: the dkp/major-upgrade playbook (seed 000,
-- Konvoy 1.8.3 -> DKP 2.1 by Cluster API adoption; docs/dkp-major-upgrade.md) against the simulated
-- Konvoy 1.8 world: the happy path, every refusal, the faults with their rollbacks, and the
-- one-cluster-at-a-time guarantee.
local t = require "refit.test"
local yaml = require "refit.yaml"

local PLAYBOOK = "scripts/dkp/major-upgrade.lua"
local FIXTURE = "examples/clusters/konvoy-1.8.3.yaml"
local FIXTURES = "tests/scripts/fixtures/"
local SCENARIOS = "examples/scenarios/"
local C = "konvoy-prod"
local IMAGE = "ami-03364d732f61fb1e2"
local UPGRADE_IMAGE = "ami-0e7253eeb699eddca"

local function plan(opts)
  opts.playbook = PLAYBOOK
  opts.sim = opts.sim or FIXTURE
  local set = { post_adopt_image_id = IMAGE, upgrade_image_id = UPGRADE_IMAGE, confirm = "iam-roles,subnet-public-ips" }
  for k, v in pairs(opts.set or {}) do set[k] = v ~= false and v or nil end
  opts.set = set
  return t.plan(opts)
end

local function find(r, kind, ns, name, cluster)
  for _, o in ipairs(r:objects(cluster or C, kind)) do
    if o.metadata.name == name and o.metadata.namespace == ns then return o end
  end
  return nil
end

local function assert_untouched(r)
  t.eq(r.status, "precondition_failed", r.output)
  t.eq(r.exit_code, 2)
  t.eq(r:find("mutation"), nil)
  t.eq(#r:mutating_commands(), 0)
  t.eq(r:find("step_started"), nil)
  t.eq(r.world, r.world_before)
end

-- The steps whose recovery text names the cluster are expanded for the run's one cluster.
local STEPS = {
  "ebs-csi-controllers", "bootstrap-controllers", "prepare-to-adopt", "pod-subnet", "remove-auto-provisioner[konvoy-prod]",
  "calico-node", "adopt[konvoy-prod]", "steady-state", "calico-system", "dex-addon", "control-plane[konvoy-prod]",
}

---------------------------------------------------------------------------------------------------
-- The happy path
---------------------------------------------------------------------------------------------------

t.case("happy path: adopts konvoy-prod in the guide's order, then moves it to Kubernetes v1.21.6", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  t.eq(r.exit_code, 0)
  local want = {}
  for i, s in ipairs(STEPS) do want[i] = s .. "=succeeded" end
  want[#want + 1] = "node-pool[konvoy-prod-worker]=succeeded"
  want[#want + 1] = "verify=succeeded"
  t.eq(r:step_results(), want)

  -- the points of no return
  for _, s in ipairs { "remove-auto-provisioner[konvoy-prod]", "adopt[konvoy-prod]", "control-plane[konvoy-prod]",
                       "node-pool[konvoy-prod-worker]" } do
    t.eq(r:find("step_started", { step = s }).irreversible, true, s)
  end
  for _, s in ipairs { "ebs-csi-controllers", "bootstrap-controllers", "prepare-to-adopt", "pod-subnet", "calico-node" } do
    t.eq(r:find("step_started", { step = s }).irreversible, false, s)
  end

  t.eq(r:mutating_commands(), {
    "dkp create bootstrap controllers --with-aws-bootstrap-credentials=false --kubeconfig=admin.conf",
    "dkp prepare-to-adopt cluster aws --konvoy-1-state-dir . --kubeconfig=admin.conf",
    "helm uninstall auto-provisioning -n konvoy --kubeconfig=admin.conf",
    "dkp adopt cluster aws --konvoy-1-state-dir . --kubeconfig=admin.conf",
  })

  -- the changes made through the API, in order (the guide's kubectl commands)
  local muts = {}
  for _, e in ipairs(r:all("mutation")) do
    muts[#muts + 1] = string.format("%s %s %s/%s", e.verb, e.kind, tostring(e.namespace), e.name)
  end
  t.eq(muts, {
    "patch StatefulSet kube-system/ebs-csi-controller",
    "patch StatefulSet kube-system/ebs-csi-snapshot-controller",
    "patch ConfigMap kube-system/kubeadm-config",
    "delete Namespace nil/konvoy",
    "patch DaemonSet kube-system/calico-node",
    "patch Addon kubeaddons/dex",
    "create AWSMachineTemplate default/konvoy-prod-control-plane-v1.21.6",
    "patch KubeadmControlPlane default/konvoy-prod-control-plane",
    "create AWSMachineTemplate default/konvoy-prod-worker-v1.21.6",
    "patch MachineDeployment default/konvoy-prod-worker",
  })

  -- the final world: adopted, unpaused, owned, every node at v1.21.6
  local cluster = find(r, "cluster.x-k8s.io/Cluster", "default", C)
  t.ok(cluster, "Cluster default/konvoy-prod")
  t.eq(cluster.spec.paused, false)
  t.eq(r.world.clusters[C].version, "v1.21.6")
  for _, kind in ipairs { "controlplane.cluster.x-k8s.io/KubeadmControlPlane", "cluster.x-k8s.io/MachineDeployment",
                          "cluster.x-k8s.io/Machine" } do
    local objs = r:objects(C, kind)
    t.ok(#objs > 0, kind)
    for _, o in ipairs(objs) do t.ok((o.metadata.ownerReferences or {})[1], kind .. " " .. o.metadata.name .. " owned") end
  end
  local kcp = find(r, "controlplane.cluster.x-k8s.io/KubeadmControlPlane", "default", "konvoy-prod-control-plane")
  t.eq(kcp.spec.version, "v1.21.6")
  t.eq(kcp.spec.machineTemplate.infrastructureRef.name, "konvoy-prod-control-plane-v1.21.6")
  local md = find(r, "cluster.x-k8s.io/MachineDeployment", "default", "konvoy-prod-worker")
  t.eq(md.spec.template.spec.version, "v1.21.6")
  t.eq(md.spec.template.spec.infrastructureRef.name, "konvoy-prod-worker-v1.21.6")
  local tmpl = find(r, "infrastructure.cluster.x-k8s.io/AWSMachineTemplate", "default", "konvoy-prod-worker-v1.21.6")
  t.eq(tmpl.spec.template.spec.ami.id, UPGRADE_IMAGE)
  -- the adoption's templates use the recorded postAdoptImageID
  for _, name in ipairs { "konvoy-prod-control-plane", "konvoy-prod-worker" } do
    t.eq(find(r, "infrastructure.cluster.x-k8s.io/AWSMachineTemplate", "default", name).spec.template.spec.ami.id, IMAGE, name)
  end
  local nodes = r:objects(C, "Node")
  t.eq(#nodes, 7)
  for _, n in ipairs(nodes) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.21.6", n.metadata.name) end

  -- the Konvoy 1.8 auto-provisioner is gone, kubeadm-config has the pod subnet
  t.eq(find(r, "Namespace", nil, "konvoy"), nil)
  for kind, objs in pairs(r.world.clusters[C].objects) do
    for _, o in ipairs(objs) do t.ok(o.metadata.namespace ~= "konvoy", kind .. " " .. o.metadata.name .. " left in konvoy") end
  end
  t.eq(#r:objects(C, "Secret") > 0, true)
  for _, s in ipairs(r:objects(C, "Secret")) do t.ok(s.metadata.name ~= "sh.helm.release.v1.auto-provisioning.v1") end
  local cm = find(r, "ConfigMap", "kube-system", "kubeadm-config")
  local cfg = yaml.decode(cm.data.ClusterConfiguration)
  t.eq(cfg.networking, { dnsDomain = "cluster.local", podSubnet = "192.168.0.0/16", serviceSubnet = "10.0.0.0/18" })
  -- nothing else of the ClusterConfiguration changed
  local before
  for _, o in ipairs(r.world_before.clusters[C].objects["core/ConfigMap"] or {}) do
    if o.metadata.name == "kubeadm-config" then before = yaml.decode(o.data.ClusterConfiguration) end
  end
  before.networking.podSubnet = "192.168.0.0/16"
  t.eq(cfg, before)

  -- EBS CSI on control-plane nodes, Calico taken over by the Tigera operator, Dex ready for 1.21
  for _, name in ipairs { "ebs-csi-controller", "ebs-csi-snapshot-controller" } do
    local sts = find(r, "apps/StatefulSet", "kube-system", name)
    t.eq(sts.spec.template.spec.nodeSelector, { ["node-role.kubernetes.io/control-plane"] = "" })
  end
  t.eq(find(r, "apps/DaemonSet", "kube-system", "calico-node"), nil)
  t.ok(find(r, "apps/DaemonSet", "calico-system", "calico-node"))
  local dex = find(r, "kubeaddons.mesosphere.io/Addon", "kubeaddons", "dex")
  t.eq(yaml.decode(dex.spec.chartReference.values).env[1].name, "KUBERNETES_POD_NAMESPACE")
end)

t.case("happy path: the calico-node patch removes exactly affinity and the IP env entry", function()
  local r = plan {}
  local e = r:find("mutation", { kind = "DaemonSet", name = "calico-node" })
  t.eq(e.patch, { { op = "remove", path = "/spec/template/spec/affinity" },
                  { op = "remove", path = "/spec/template/spec/containers/0/env/5" } })
  local ebs = r:find("mutation", { kind = "StatefulSet", name = "ebs-csi-controller" })
  t.eq(ebs.patch.spec.template.spec.nodeSelector, { ["node-role.kubernetes.io/control-plane"] = "" })
  t.eq(#ebs.patch.spec.template.spec.tolerations, 3)
end)

t.case("happy path: waits for a steady state before Kubernetes 1.21.6, the control plane before each node pool", function()
  local r = plan {}
  local order = {}
  for _, e in ipairs(r:all("wait_finished")) do
    if e.ok then order[#order + 1] = e.step end
  end
  local function first(step)
    for i, s in ipairs(order) do if s == step then return i end end
  end
  t.ok(first("steady-state") and first("calico-system"), "steady-state waits happen")
  t.ok(first("steady-state") < first("control-plane[konvoy-prod]"))
  t.ok(first("control-plane[konvoy-prod]") < first("node-pool[konvoy-prod-worker]"))
  t.eq(r:find("wait_finished", { step = "steady-state" }).what,
       "cluster konvoy-prod in a steady state (Cluster, control plane, node pools Ready)")
  -- the KubeadmControlPlane patch comes after the steady state
  local steady_end = r:find("step_finished", { step = "steady-state" }).time
  t.ok(r:find("mutation", { kind = "KubeadmControlPlane" }).time >= steady_end)
end)

t.case("Konvoy 1.8.5 is accepted (the documented 1.8.3-1.8.5 range)", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.5.yaml" }
  t.eq(r.status, "succeeded", r.output)
  t.ok(r:find("log", { message = "cluster konvoy-prod runs Konvoy 1.8.5 (Kubernetes v1.20.13)" }))
end)

---------------------------------------------------------------------------------------------------
-- Refusals: nothing changes
---------------------------------------------------------------------------------------------------

t.case("checks first that the dkp CLI is DKP 2.1 (\"Download and install DKP 2.1\")", function()
  local r = plan {}
  t.eq(r:all("check_started")[1].check, "dkp-cli")
  t.ok(r:find("log", { phase = "check", message = "the dkp CLI is DKP v2.1.1" }))
  t.eq(r:all("command")[1].argv, { "dkp", "version" })
end)

t.case("refuses a dkp CLI that is not DKP 2.1.x, saying what to install", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-dkp-2.2.yaml" }
  assert_untouched(r)
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["dkp-cli"], "the dkp CLI on PATH is DKP v2.2.0, not 2.1.x: the major upgrade from Konvoy 1.8 (\"Major " ..
       "Version Upgrade to DKP 2.1\", \"Upgrade your AWS Cluster\") uses the DKP 2.1 CLI's adoption commands and moves " ..
       "the cluster to DKP 2.1's Kubernetes v1.21.6. Download and install the DKP 2.1 CLI for your OS (\"Major Version " ..
       "Upgrade to DKP 2.1\": \"Download and install DKP 2.1\"), put its dkp first on PATH, check that `dkp version` " ..
       "prints konvoy: v2.1.x, then run this playbook again")
end)

t.case("refuses an upgrade_image_id that is not an AMI ID", function()
  local r = plan { set = { upgrade_image_id = "my-image" } }
  assert_untouched(r)
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["upgrade-image"], "upgrade_image_id must be an AMI ID such as ami-0e7253eeb699eddca (built with " ..
       "konvoy-image-builder for Kubernetes v1.21.6), got \"my-image\"")
end)

t.case("operator messages cite the documents, never the seed file", function()
  for _, opts in ipairs { {}, { scenario = SCENARIOS .. "konvoy-calico-rollout-stalls.yaml" },
                          { sim = FIXTURES .. "konvoy-1.8.3-dkp-2.2.yaml" }, { sim = FIXTURES .. "konvoy-1.8.3-kaptain.yaml" } } do
    local r = plan(opts)
    t.eq(r.output:lower():find("seed 0", 1, true), nil, r.output)
  end
  local doc = t.read_file("docs/dkp-major-upgrade.md")
  t.eq(doc:lower():match("seed %d%d%d"), nil, "docs/dkp-major-upgrade.md cites a seed file")
  t.contains(doc, "\"Major Version Upgrade to DKP 2.1\"")
  t.contains(doc, "\"Upgrade your AWS Cluster\"")
end)

t.case("refuses while Kaptain is enabled, saying how to disable it", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-kaptain.yaml" }
  assert_untouched(r)
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["kaptain-disabled"], "Kaptain is enabled on cluster konvoy-prod (KUDO Instance kubeflow/kaptain " ..
             "(kaptain-1.2.0-1.1.0)): the major upgrade requires Kaptain to be disabled first. Back up the notebooks and " ..
             "pipeline data, then uninstall it with `kubectl kudo uninstall --instance kaptain --namespace kubeflow`")
end)

t.case("refuses Konvoy 1.8.2: upgrade to 1.8.3 first", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.2.yaml" }
  assert_untouched(r)
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["konvoy-version"], "cluster konvoy-prod runs Konvoy 1.8.2: the major upgrade to DKP 2.1 starts " ..
             "from Konvoy 1.8.3 (1.8.3 to 1.8.5 are accepted). Upgrade the cluster to Konvoy 1.8.3 first")
end)

t.case("refuses to start without the machine image parameters", function()
  for _, param in ipairs { "post_adopt_image_id", "upgrade_image_id" } do
    local r = plan { set = { [param] = false } }
    t.eq(r.status, "setup_failed", param)
    t.eq(r.exit_code, 1)
    t.contains(r.message, "param \"" .. param .. "\": required (e.g. --set " .. param .. "=ami-")
    t.eq(#r.events, 0)
  end
end)

t.case("refuses when cluster.yaml records no postAdoptImageID for a node pool", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-no-post-adopt-image.yaml" }
  assert_untouched(r)
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["post-adopt-image"], "the machine image for the adopted machines is not recorded in cluster.yaml: " ..
             "node pool \"gpu\" in cluster.yaml has no machine.postAdoptImageID. Add `postAdoptImageID: " .. IMAGE ..
             "` under machine: of every node pool there")
end)

t.case("refuses when the recorded postAdoptImageID is not the image given", function()
  local r = plan { set = { post_adopt_image_id = "ami-0123456789abcdef0" } }
  assert_untouched(r)
  local failed = r:failed_checks()
  t.contains(failed["post-adopt-image"], "the postAdoptImageID recorded in cluster.yaml is not ami-0123456789abcdef0 for " ..
             "every node pool (konvoy-prod-control-plane uses " .. IMAGE .. "; konvoy-prod-worker uses " .. IMAGE .. ")")
end)

t.case("refuses until the IAM roles and subnet public IPs are confirmed", function()
  local r = plan { set = { confirm = "iam-roles" } }
  assert_untouched(r)
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["aws-prerequisites"], "confirm the AWS prerequisites refit cannot check from the cluster, then pass " ..
             "--set confirm=iam-roles,subnet-public-ips. Not confirmed: subnet-public-ips: the \"control-plane\" and " ..
             "\"private\" subnets auto-assign public IPv4 addresses")
end)

t.case("refuses when the state directory does not describe the running nodes (adopt would fail)", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-stale-state.yaml" }
  assert_untouched(r)
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["nodes"], "the state directory . is out of date: node ip-10-0-99-7.us-west-2.compute.internal has no " ..
             "machine in the state directory")
end)

---------------------------------------------------------------------------------------------------
-- Faults
---------------------------------------------------------------------------------------------------

t.case("prepare-to-adopt fails half-way: its objects are deleted, everything before it undone (exit 3)", function()
  local r = plan { scenario = SCENARIOS .. "konvoy-prepare-fails.yaml" }
  t.eq(r.status, "rolled_back", r.output)
  t.eq(r.exit_code, 3)
  t.eq(r:step_results(), { "ebs-csi-controllers=succeeded", "bootstrap-controllers=succeeded", "prepare-to-adopt=failed" })
  t.contains(r:find("step_finished", { step = "prepare-to-adopt" }).error,
             "dkp prepare-to-adopt cluster aws failed (exit 2) after creating 7 objects: panic: runtime error: index out " ..
             "of range [0] with length 0")
  t.eq(r:rollback_events(), {
    "rollback_started prepare-to-adopt",
    "step_rolled_back prepare-to-adopt succeeded",
    "step_rolled_back bootstrap-controllers succeeded",
    "step_rolled_back ebs-csi-controllers succeeded",
  })
  -- the seven objects, deleted newest first
  local deleted = {}
  for _, e in ipairs(r:all("mutation", { verb = "delete", phase = "rollback", step = "prepare-to-adopt" })) do
    deleted[#deleted + 1] = e.kind .. "/" .. e.name
  end
  t.eq(deleted, { "AWSCluster/konvoy-prod", "Cluster/konvoy-prod", "Secret/konvoy-prod-etcd-encryption-config",
                  "Secret/konvoy-prod-proxy", "Secret/konvoy-prod-etcd", "Secret/konvoy-prod-sa", "Secret/konvoy-prod-ca" })
  -- the world: no CAPI objects or controllers, Konvoy 1.8 as it was
  t.eq(#r:objects(C, "cluster.x-k8s.io/Cluster"), 0)
  t.eq(find(r, "Namespace", nil, "capi-system"), nil)
  t.ok(find(r, "Namespace", nil, "konvoy"))
  t.ok(find(r, "Secret", "konvoy", "sh.helm.release.v1.auto-provisioning.v1"))
  for _, name in ipairs { "ebs-csi-controller", "ebs-csi-snapshot-controller" } do
    local sts = find(r, "apps/StatefulSet", "kube-system", name)
    t.eq(sts.spec.template.spec.nodeSelector, nil, name)
    t.eq(sts.status.updatedReplicas, 1, name)
  end
  t.eq(#r:mutating_commands(), 2)
  -- Konvoy 1.8's cert-manager (its base addon, namespace cert-manager) was there before the run:
  -- the rollback removes only what `dkp create bootstrap controllers` added
  local cm_before = {}
  for _, d in ipairs(r.world_before.clusters[C].objects["apps/Deployment"]) do
    if d.metadata.namespace == "cert-manager" then cm_before[#cm_before + 1] = d.metadata.name end
  end
  t.eq(cm_before, { "cert-manager", "cert-manager-cainjector", "cert-manager-webhook" })
  for _, name in ipairs(cm_before) do t.ok(find(r, "apps/Deployment", "cert-manager", name), name .. " still runs") end
  t.ok(find(r, "Namespace", nil, "cert-manager"))
  local by_kind = {}
  for _, e in ipairs(r:all("mutation", { phase = "rollback", step = "bootstrap-controllers" })) do
    t.eq(e.verb, "delete")
    t.ok(e.namespace ~= "cert-manager" and e.name ~= "cert-manager", e.kind .. " " .. tostring(e.namespace) .. "/" .. e.name)
    by_kind[e.kind] = (by_kind[e.kind] or 0) + 1
  end
  t.eq(by_kind, { Provider = 7, Deployment = 7, ClusterResourceSet = 7, ConfigMap = 7, Namespace = 7 })
  t.ok(r:find("log", { step = "bootstrap-controllers", phase = "rollback",
                       message = "left as they were before the run: namespaces cert-manager and what they held" }))
  -- the world is the Konvoy 1.8 cluster it was: same kinds, same counts
  local counts = function(w)
    local out = {}
    for k, objs in pairs(w.clusters[C].objects) do
      local n = 0
      for _, o in ipairs(objs) do if o.metadata.namespace ~= "kube-system" then n = n + 1 end end
      out[k] = n
    end
    return out
  end
  t.eq(counts(r.world), counts(r.world_before))
end)

t.case("calico-node rollout stalls: the template is put back, rollback stops at the uninstalled auto-provisioner", function()
  local r = plan { scenario = SCENARIOS .. "konvoy-calico-rollout-stalls.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.contains(r:find("step_finished", { step = "calico-node" }).error,
             "timed out after 15m00s waiting for DaemonSet kube-system/calico-node rolled out: 1 of 7 pods updated")
  t.eq(r:rollback_events(), {
    "rollback_started calico-node",
    "step_rolled_back calico-node succeeded",
    "irreversible_reached remove-auto-provisioner[konvoy-prod]",
  })
  -- the recovery text names the cluster, not the guide's $CLUSTER_NAME
  local recovery = r:find("irreversible_reached").recovery
  t.contains(recovery, "The Konvoy 1.8 auto-provisioner of cluster konvoy-prod is uninstalled and namespace konvoy " ..
             "deleted; refit cannot put them back.")
  t.contains(recovery, "(kubectl get cluster konvoy-prod -n default -o jsonpath='{.spec.paused}' prints true), delete " ..
             "the Cluster API objects prepare-to-adopt created (the Cluster konvoy-prod and the objects labelled " ..
             "cluster.x-k8s.io/cluster-name=konvoy-prod in namespace default)")
  t.eq(recovery:find("$", 1, true), nil, recovery)
  t.contains(r.output, "kubectl get cluster konvoy-prod -n default")
  local ds = find(r, "apps/DaemonSet", "kube-system", "calico-node")
  local env = {}
  for _, e in ipairs(ds.spec.template.spec.containers[1].env) do env[#env + 1] = e.name end
  t.eq(env[6], "IP")
  t.ok(ds.spec.template.spec.affinity)
  t.eq(ds.status.updatedNumberScheduled, 7)
  t.eq(ds.status.numberAvailable, 7)
  -- not adopted: the Cluster stays paused
  t.eq(find(r, "cluster.x-k8s.io/Cluster", "default", C).spec.paused, true)
end)

t.case("dkp adopt fails: the Cluster is still paused, calico is put back, recovery text of the uninstall", function()
  local r = plan { scenario = SCENARIOS .. "konvoy-adopt-fails.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.contains(r:find("step_finished", { step = "adopt[konvoy-prod]" }).error,
             "dkp adopt cluster aws --konvoy-1-state-dir . --kubeconfig=admin.conf failed (exit 1): failed to adopt " ..
             "cluster: Machine default/konvoy-prod-worker-0: no EC2 instance with ID")
  t.eq(r:rollback_events(), {
    "rollback_started adopt[konvoy-prod]",
    "step_rolled_back adopt[konvoy-prod] succeeded",
    "step_rolled_back calico-node succeeded",
    "irreversible_reached remove-auto-provisioner[konvoy-prod]",
  })
  t.ok(r:find("log", { step = "adopt[konvoy-prod]", phase = "rollback",
                       message = "Cluster default/konvoy-prod is still paused: Cluster API did not take the machines over" }))
  t.eq(find(r, "cluster.x-k8s.io/Cluster", "default", C).spec.paused, true)
  for _, n in ipairs(r:objects(C, "Node")) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.20.11") end
end)

---------------------------------------------------------------------------------------------------
-- One cluster at a time (seed 000, IMPORTANT)
---------------------------------------------------------------------------------------------------

t.case("one cluster at a time: the other Konvoy cluster of the world is untouched", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-two-clusters.yaml", set = { state_dir = "/home/ops/konvoy-prod" } }
  t.eq(r.status, "succeeded", r.output)
  t.ok(r:find("log", { message = "this run upgrades exactly one cluster, konvoy-prod (state directory /home/ops/konvoy-prod): " ..
                       "Konvoy's major upgrade is done on individual clusters, one at a time; run it again for each other cluster" }))
  for _, e in ipairs(r:all("mutation")) do t.eq(e.cluster, C) end
  -- every command that reaches a cluster gets konvoy-prod's kubeconfig (`dkp version` reaches none)
  for _, e in ipairs(r:all("command")) do
    if table.concat(e.argv, " ") ~= "dkp version" then t.eq(e.argv[#e.argv], "--kubeconfig=/home/ops/konvoy-prod/admin.conf") end
  end
  -- konvoy-edge: same objects, no CAPI objects, still Konvoy 1.8 at 1.20.11
  local before, after = r.world_before.clusters["konvoy-edge"], r.world.clusters["konvoy-edge"]
  t.eq(after.version, "v1.20.11")
  local kinds_before, kinds_after = {}, {}
  for k, objs in pairs(before.objects) do kinds_before[k] = #objs end
  for k, objs in pairs(after.objects) do kinds_after[k] = #objs end
  t.eq(kinds_after, kinds_before)
  t.eq(r:objects("konvoy-edge", "cluster.x-k8s.io/Cluster"), {})
  t.ok(find(r, "Namespace", nil, "konvoy", "konvoy-edge"))
  for _, n in ipairs(r:objects("konvoy-edge", "Node")) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.20.11") end
  -- and konvoy-prod is done
  for _, n in ipairs(r:objects(C, "Node")) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.21.6") end
end)

t.case("one cluster at a time: the second cluster is upgraded by its own run, from its own state directory", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-two-clusters.yaml",
                   set = { cluster = "konvoy-edge", state_dir = "/home/ops/konvoy-edge", post_adopt_image_id = "ami-0b1e2d3c4f5a69788" } }
  t.eq(r.status, "succeeded", r.output)
  for _, e in ipairs(r:all("mutation")) do t.eq(e.cluster, "konvoy-edge") end
  t.eq(r.world.clusters["konvoy-prod"].version, "v1.20.11")
  t.eq(r:objects("konvoy-prod", "cluster.x-k8s.io/Cluster"), {})
  t.eq(find(r, "cluster.x-k8s.io/Cluster", "default", "konvoy-edge", "konvoy-edge").spec.paused, false)
end)

t.case("one cluster at a time: a state directory of another cluster is refused", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-two-clusters.yaml",
                   set = { cluster = "konvoy-edge", state_dir = "/home/ops/konvoy-prod" } }
  assert_untouched(r)
  local failed = r:failed_checks()
  t.contains(failed["one-cluster"], "the state directory /home/ops/konvoy-prod describes cluster \"konvoy-prod\", not " ..
             "\"konvoy-edge\": one run upgrades exactly one cluster, from its own state directory")
end)

---------------------------------------------------------------------------------------------------
-- Re-runs after a point of no return
---------------------------------------------------------------------------------------------------

local FIXED_IMAGE = "ami-0f1e2d3c4b5a69788"

t.case("a node pool fails during the v1.21.6 rollout: the recovery text names the cluster and the image parameter", function()
  local r = plan { scenario = SCENARIOS .. "konvoy-nodepool-rollout-fails.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:rollback_events(), { "rollback_started node-pool[konvoy-prod-worker]", "irreversible_reached node-pool[konvoy-prod-worker]" })
  local recovery = r:find("irreversible_reached").recovery
  t.contains(recovery, "the machines of cluster konvoy-prod already replaced run v1.21.6")
  t.contains(recovery, "`dkp describe cluster --cluster-name konvoy-prod`")
  t.contains(recovery, "The v1.21.6 machine image: build a working one with konvoy-image-builder and run refit apply " ..
             "dkp/major-upgrade again with it, --set upgrade_image_id=<the new AMI> (the other parameters unchanged)")
  t.eq(recovery:find("$", 1, true), nil, recovery)
  t.eq(recovery:find("with the same parameters: the steps", 1, true), nil, "no 'same parameters' for a broken image")
  -- the world the re-run fixture stands for: control plane at v1.21.6, the pool's MachineDeployment
  -- at v1.21.6 with template konvoy-prod-worker-v1.21.6, its machines at v1.20.11
  local md = find(r, "cluster.x-k8s.io/MachineDeployment", "default", "konvoy-prod-worker")
  t.eq(md.spec.template.spec.infrastructureRef.name, "konvoy-prod-worker-v1.21.6")
  t.eq(find(r, "controlplane.cluster.x-k8s.io/KubeadmControlPlane", "default", "konvoy-prod-control-plane").spec.version, "v1.21.6")
end)

t.case("re-run on an adopted cluster: the preflight checks let it through, done steps are skipped", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-adopted.yaml", set = { upgrade_image_id = FIXED_IMAGE } }
  t.eq(r.status, "succeeded", r.output)
  local failed, n = r:failed_checks()
  t.eq(n, 0, failed)
  t.ok(r:find("log", { phase = "check", message = "cluster konvoy-prod: the Konvoy 1.8 auto-provisioner is already " ..
                       "removed and the Cluster API objects exist: resuming an adoption already under way" }))
  t.ok(r:find("log", { phase = "check", message = "cluster konvoy-prod is already adopted by Cluster API: its nodes are " ..
                       "Cluster API's Machines, not the state directory's" }))
  local want = {}
  for i, s in ipairs(STEPS) do want[i] = s .. "=skipped:done" end
  want[#want + 1] = "node-pool[konvoy-prod-worker]=succeeded"
  want[#want + 1] = "verify=succeeded"
  t.eq(r:step_results(), want)
  -- no dkp / helm command changes anything again
  t.eq(r:mutating_commands(), {})
  local muts = {}
  for _, e in ipairs(r:all("mutation")) do muts[#muts + 1] = e.verb .. " " .. e.kind .. " " .. e.name end
  t.eq(muts, { "create AWSMachineTemplate konvoy-prod-worker-v1.21.6-" .. FIXED_IMAGE, "patch MachineDeployment konvoy-prod-worker" })
  for _, n in ipairs(r:objects(C, "Node")) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.21.6", n.metadata.name) end
end)

t.case("re-run with a fixed upgrade_image_id: the node pool moves to a template with that image, not the old one", function()
  local r = plan { sim = FIXTURES .. "konvoy-1.8.3-adopted.yaml", set = { upgrade_image_id = FIXED_IMAGE } }
  t.eq(r.status, "succeeded", r.output)
  local md = find(r, "cluster.x-k8s.io/MachineDeployment", "default", "konvoy-prod-worker")
  t.eq(md.spec.template.spec.infrastructureRef.name, "konvoy-prod-worker-v1.21.6-" .. FIXED_IMAGE)
  local tmpl = find(r, "infrastructure.cluster.x-k8s.io/AWSMachineTemplate", "default", "konvoy-prod-worker-v1.21.6-" .. FIXED_IMAGE)
  t.eq(tmpl.spec.template.spec.ami.id, FIXED_IMAGE)
  t.eq(tmpl.spec.template.spec.instanceType, "m5.2xlarge")
  -- the earlier run's template is left as it was
  t.eq(find(r, "infrastructure.cluster.x-k8s.io/AWSMachineTemplate", "default", "konvoy-prod-worker-v1.21.6").spec.template.spec.ami.id,
       UPGRADE_IMAGE)
  t.ok(r:find("log", { message = "AWSMachineTemplate default/konvoy-prod-worker-v1.21.6 uses image " .. UPGRADE_IMAGE ..
                       ", not " .. FIXED_IMAGE .. " (an earlier run's): konvoy-prod-worker moves to a template with " .. FIXED_IMAGE }))
end)
