-- dkp/major-upgrade: the major upgrade of ONE Konvoy 1.8.3 cluster on AWS to DKP 2.1, by Cluster
-- API adoption (seed 000, "Major Version Upgrade to DKP 2.1"; the DKP 2.1 guide "Upgrade your AWS
-- Cluster"; domain notes dkp.md). docs/dkp-major-upgrade.md explains every step and failure.
--
-- Seed 000 IMPORTANT: "You must perform the major version upgrade steps on individual clusters, one
-- at a time." A run therefore targets exactly one cluster (param `cluster`); every command gets that
-- cluster's kubeconfig (<state_dir>/admin.conf) and every object read or written goes through that
-- cluster's handle. Nothing else in the world is touched.
--
-- Order, as the guide gives it: prerequisites (the DKP 2.1 CLI, Konvoy 1.8.3, Kaptain disabled, the machine image for
-- the adopted machines recorded as postAdoptImageID, IAM roles, subnets), the EBS CSI controllers
-- moved to control-plane nodes, `dkp create bootstrap controllers`, `dkp prepare-to-adopt cluster
-- aws`, podSubnet in the kubeadm-config ConfigMap, `helm uninstall auto-provisioning` and the
-- `konvoy` namespace deleted, the calico-node patch and its rollout, `dkp adopt cluster aws`, a
-- steady state (Cluster, KubeadmControlPlane, MachineDeployments Ready; Calico in calico-system),
-- the Dex addon prepared for 1.21, then Kubernetes v1.21.6: the control plane, then each node pool.
--
-- Before the auto-provisioner is uninstalled everything rolls back (prepare-to-adopt objects are
-- deleted while the Cluster is still paused); the uninstall, the adoption and the Kubernetes upgrade
-- are points of no return, each with its recovery text.

local refit = require "refit"
local yaml = require "refit.yaml"
local k8s = require "refit.k8s"

-- Konvoy releases the DKP 2.1 documentation upgrades from (seed 000: "Upgrade all clusters to
-- Konvoy 1.8.3"; the 2.1 guide and the DKP 2.2 path matrix also name 1.8.4 and 1.8.5).
local SUPPORTED_KONVOY = { ["1.8.3"] = true, ["1.8.4"] = true, ["1.8.5"] = true }
local TARGET_KUBERNETES = "v1.21.6"      -- DKP 2.1's Kubernetes (the guide's last two sections)

local CAPI = "cluster.x-k8s.io/v1beta1"
local KCP_API = "controlplane.cluster.x-k8s.io/v1beta1"
local CAPA = "infrastructure.cluster.x-k8s.io/v1beta1"
local CABPK = "bootstrap.cluster.x-k8s.io/v1beta1"
local NS = "default"                     -- where prepare-to-adopt puts the CAPI objects
local CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
local CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
local DEPLOYMENT_LABEL = "cluster.x-k8s.io/deployment-name"
local CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"

-- The AWS prerequisites refit cannot read (they live in IAM and EC2, not in the cluster): the
-- operator confirms them with --set confirm=...
local CONFIRMATIONS = {
  { name = "iam-roles", text = "the IAM role of every control-plane machine is control-plane.cluster-api-provider-aws.sigs.k8s.io " ..
    "and of every node-pool machine nodes.cluster-api-provider-aws.sigs.k8s.io (DKP 2.1 guide, \"Modify the IAM Roles of " ..
    "Existing Machines\"; without them the CAPA controllers cannot call the AWS APIs after adoption)" },
  { name = "subnet-public-ips", text = "the \"control-plane\" and \"private\" subnets auto-assign public IPv4 addresses " ..
    "(DKP 2.1 guide, \"Modify Subnets\"; DKP 2.1 relies on the subnet default, so new machines would have no egress); " ..
    "with several availability zones and existing subnets, the control-plane subnets are also tagged konvoy/subnet=control_plane" },
}

-- Resource names in prepare-to-adopt's output -> the object to delete on rollback.
local RESOURCES = {
  secret = { apiVersion = "v1", kind = "Secret" },
  configmap = { apiVersion = "v1", kind = "ConfigMap" },
  ["cluster.cluster.x-k8s.io"] = { apiVersion = CAPI, kind = "Cluster" },
  ["machine.cluster.x-k8s.io"] = { apiVersion = CAPI, kind = "Machine" },
  ["machineset.cluster.x-k8s.io"] = { apiVersion = CAPI, kind = "MachineSet" },
  ["machinedeployment.cluster.x-k8s.io"] = { apiVersion = CAPI, kind = "MachineDeployment" },
  ["kubeadmcontrolplane.controlplane.cluster.x-k8s.io"] = { apiVersion = KCP_API, kind = "KubeadmControlPlane" },
  ["awscluster.infrastructure.cluster.x-k8s.io"] = { apiVersion = CAPA, kind = "AWSCluster" },
  ["awsmachine.infrastructure.cluster.x-k8s.io"] = { apiVersion = CAPA, kind = "AWSMachine" },
  ["awsmachinetemplate.infrastructure.cluster.x-k8s.io"] = { apiVersion = CAPA, kind = "AWSMachineTemplate" },
  ["kubeadmconfig.bootstrap.cluster.x-k8s.io"] = { apiVersion = CABPK, kind = "KubeadmConfig" },
  ["kubeadmconfigtemplate.bootstrap.cluster.x-k8s.io"] = { apiVersion = CABPK, kind = "KubeadmConfigTemplate" },
  ["clusterresourceset.addons.cluster.x-k8s.io"] = { apiVersion = "addons.cluster.x-k8s.io/v1beta1", kind = "ClusterResourceSet" },
}

-- The EBS CSI controllers' placement, exactly the guide's patches ("Prepare AWS EBS CSI Plugin").
local EBS_CSI = {
  { name = "ebs-csi-controller", tolerations = {
    { effect = "NoExecute", operator = "Exists", tolerationSeconds = 300 },
    { effect = "NoSchedule", key = "node-role.kubernetes.io/master", operator = "Exists" },
    { key = "CriticalAddonsOnly", operator = "Exists" } } },
  { name = "ebs-csi-snapshot-controller", tolerations = {
    { key = "CriticalAddonsOnly", operator = "Exists" },
    { effect = "NoExecute", operator = "Exists", tolerationSeconds = 300 },
    { effect = "NoSchedule", key = "node-role.kubernetes.io/master", operator = "Exists" } } },
}

---------------------------------------------------------------------------------------------------
-- The one cluster of this run
---------------------------------------------------------------------------------------------------

local given = refit.given

local function cluster_name(ctx) return given(ctx.params.cluster) or ctx.cluster:name() end

-- The handle of the run's cluster; every read and write goes through it.
local function target(ctx) return ctx.clusters[cluster_name(ctx)] end

local function state_dir(ctx) return given(ctx.params.state_dir) or "." end

local function cluster_yaml(ctx)
  local dir = state_dir(ctx)
  return dir == "." and "cluster.yaml" or (dir:gsub("/$", "") .. "/cluster.yaml")
end

local function kubeconfig(ctx)
  if given(ctx.params.kubeconfig) then return ctx.params.kubeconfig end
  local dir = state_dir(ctx)
  return dir == "." and "admin.conf" or (dir:gsub("/$", "") .. "/admin.conf")
end

-- Runs a dkp / helm command against the run's cluster (its kubeconfig appended).
local function exec(ctx, argv)
  argv[#argv + 1] = "--kubeconfig=" .. kubeconfig(ctx)
  return ctx:exec(argv)
end

-- What a failed command said: its "Error:" (or Go panic) line, else its first line.
local function first_line(s)
  s = tostring(s or "")
  local line = s:match("\nError: ([^\n]*)") or s:match("^Error: ([^\n]*)") or s:match("(panic: [^\n]*)")
  if line then return line end
  return (s:gsub("^%s+", ""):match("^[^\n]*") or "")
end

-- Runs a mutating command; a failure fails the phase with the command's own error line.
local function run_command(ctx, argv)
  argv.mutates, argv.check = true, false
  local r = exec(ctx, argv)
  if r.code ~= 0 then
    local shown = {}
    for i, a in ipairs(argv) do shown[i] = a end
    ctx:fail("%s failed (exit %d): %s", table.concat(shown, " "), r.code, first_line(r.stderr ~= "" and r.stderr or r.stdout))
  end
  return r
end

local function cluster_ref(ctx) return { apiVersion = CAPI, kind = "Cluster", namespace = NS, name = cluster_name(ctx) } end

local function capi_cluster(ctx) return target(ctx):get(cluster_ref(ctx)) end

-- Whether an earlier run already adopted the cluster (its Cluster exists and is unpaused): a re-run
-- after a point of no return, which the preflight checks of the Konvoy 1.8 state must let through.
local function adopted(ctx)
  local c = capi_cluster(ctx)
  return c ~= nil and c.spec.paused ~= true
end

local function owned_list(ctx, kind, api, extra)
  local labels = CLUSTER_LABEL .. "=" .. cluster_name(ctx) .. (extra and ("," .. extra) or "")
  local items = target(ctx):list { apiVersion = api, kind = kind, namespace = NS, labels = labels }
  table.sort(items, function(a, b) return a.metadata.name < b.metadata.name end)
  return items
end

---------------------------------------------------------------------------------------------------
-- What the Konvoy 1.8 state directory describes (dkp prepare-to-adopt --dry-run)
---------------------------------------------------------------------------------------------------

-- The objects prepare-to-adopt would create, read once per run (a read-only dry run), or nil and
-- the error dkp printed.
local planned
local function planned_objects(ctx)
  if planned then return planned.items, planned.err end
  local r = exec(ctx, { "dkp", "prepare-to-adopt", "cluster", "aws", "--konvoy-1-state-dir", state_dir(ctx),
                        "--dry-run", "-o", "json", check = false })
  if r.code ~= 0 or type(r.json) ~= "table" then
    planned = { err = first_line(r.stderr ~= "" and r.stderr or r.stdout) }
  else
    planned = { items = r.json.items or {} }
  end
  return planned.items, planned.err
end

local function of_kind(items, kind)
  local out = {}
  for _, o in ipairs(items or {}) do
    if o.kind == kind then out[#out + 1] = o end
  end
  return out
end

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

-- Seed 000, "Download and install DKP 2.1": every dkp command below is the DKP 2.1 CLI's (the
-- adoption commands and the Kubernetes v1.21.6 it moves to). `dkp version` prints one line per
-- component; the konvoy line is the release.
local REQUIRED_DKP = "2.1"

local function check_dkp_cli(ctx)
  local r = ctx:exec { "dkp", "version", check = false }
  local install = "Download and install the DKP " .. REQUIRED_DKP .. " CLI for your OS (\"Major Version Upgrade to DKP " ..
                  "2.1\": \"Download and install DKP 2.1\"), put its dkp first on PATH, check that `dkp version` prints " ..
                  "konvoy: v" .. REQUIRED_DKP .. ".x, then run this playbook again"
  ctx:require(r.code == 0, "cannot run `dkp version` (exit %d: %s): the major upgrade runs the DKP %s CLI. %s", r.code,
              first_line(r.stderr ~= "" and r.stderr or r.stdout), REQUIRED_DKP, install)
  local version = tostring(r.stdout):match("konvoy:%s*(v?[%w%.%-%+]+)")
  if not version and type(r.json) == "table" then version = r.json.konvoy end
  ctx:require(version, "`dkp version` printed no konvoy version: the major upgrade runs the DKP %s CLI. %s", REQUIRED_DKP, install)
  local plain = tostring(version):gsub("^v", "")
  ctx:require(plain:match("^2%.1%.%d+") ~= nil,
              "the dkp CLI on PATH is DKP %s, not %s.x: the major upgrade from Konvoy 1.8 (\"Major Version Upgrade to DKP " ..
              "2.1\", \"Upgrade your AWS Cluster\") uses the DKP 2.1 CLI's adoption commands and moves the cluster to DKP " ..
              "2.1's Kubernetes %s. %s", version, REQUIRED_DKP, TARGET_KUBERNETES, install)
  ctx.log("the dkp CLI is DKP %s", version)
end

local function check_upgrade_image(ctx)
  local want = ctx.params.upgrade_image_id
  ctx:require(tostring(want):match("^ami%-%x+$"), "upgrade_image_id must be an AMI ID such as ami-0e7253eeb699eddca (built " ..
              "with konvoy-image-builder for Kubernetes %s), got %q", TARGET_KUBERNETES, tostring(want))
end

local function check_target(ctx)
  local name = cluster_name(ctx)
  local ok, handle = pcall(function() return ctx.clusters[name] end)
  ctx:require(ok and handle, "no cluster %q to upgrade: %s", name, tostring(handle))
  local items, err = planned_objects(ctx)
  -- a missing postAdoptImageID is the post-adopt-image check's to report
  if not items and tostring(err):find("postAdoptImageID", 1, true) then return end
  ctx:require(items, "cannot read the Konvoy 1.8 state directory %s with kubeconfig %s: %s. Point --set state_dir= at " ..
              "the directory holding the cluster's cluster.yaml, inventory.yaml, state/ and admin.conf", state_dir(ctx),
              kubeconfig(ctx), tostring(err))
  local cluster = of_kind(items, "Cluster")[1]
  ctx:require(cluster and cluster.metadata.name == name,
              "the state directory %s describes cluster %q, not %q: one run upgrades exactly one cluster, from its own " ..
              "state directory", state_dir(ctx), cluster and cluster.metadata.name or "?", name)
  ctx.log("this run upgrades exactly one cluster, %s (state directory %s): Konvoy's major upgrade is done on " ..
          "individual clusters, one at a time; run it again for each other cluster", name, state_dir(ctx))
end

-- The Konvoy version: the chart of the auto-provisioning release (versioned with Konvoy).
local function konvoy_release(ctx)
  local r = exec(ctx, { "helm", "list", "-n", "konvoy", "-o", "json", check = false })
  ctx:require(r.code == 0, "helm list -n konvoy failed: %s", first_line(r.stderr))
  for _, rel in ipairs(type(r.json) == "table" and r.json or {}) do
    if rel.name == "auto-provisioning" then return rel end
  end
  return nil
end

local function check_konvoy_version(ctx)
  local name = cluster_name(ctx)
  local rel = konvoy_release(ctx)
  if not rel then
    -- a run that stopped after the uninstall: the CAPI Cluster tells that this cluster is being adopted
    ctx:require(capi_cluster(ctx), "cluster %s has no auto-provisioning Helm release in namespace konvoy and no Cluster " ..
                "API Cluster %s/%s: it is not a Konvoy 1.8 cluster, so there is nothing to adopt", name, NS, name)
    ctx.log("cluster %s: the Konvoy 1.8 auto-provisioner is already removed and the Cluster API objects exist: resuming " ..
            "an adoption already under way", name)
    return
  end
  local version = tostring(rel.app_version or ""):gsub("^v", "")
  ctx:require(SUPPORTED_KONVOY[version],
              "cluster %s runs Konvoy %s: the major upgrade to DKP 2.1 starts from Konvoy 1.8.3 (1.8.3 to 1.8.5 are " ..
              "accepted). Upgrade the cluster to Konvoy 1.8.3 first (konvoy up with the Konvoy 1.8.3 CLI, from its state " ..
              "directory), then run this playbook again", name, version)
  local v = target(ctx):version()
  ctx:require(tonumber(v.major) == 1 and tostring(v.minor):match("^20") ~= nil,
              "cluster %s's API server runs %s, but Konvoy %s runs Kubernetes 1.20: finish the Konvoy upgrade first",
              name, tostring(v.gitVersion), version)
  ctx.state.konvoy_version = version
  ctx.log("cluster %s runs Konvoy %s (Kubernetes %s)", name, version, tostring(v.gitVersion))
end

local function check_kaptain(ctx)
  local c = target(ctx)
  local found = {}
  local ok, instances = pcall(c.list, c, { apiVersion = "kudo.dev/v1beta1", kind = "Instance" })
  for _, i in ipairs(ok and instances or {}) do
    local ov = tostring(((i.spec or {}).operatorVersion or {}).name or "")
    if i.metadata.name == "kaptain" or ov:match("^kaptain") then
      found[#found + 1] = string.format("KUDO Instance %s/%s (%s)", i.metadata.namespace, i.metadata.name, ov)
    end
  end
  local aok, addon = pcall(c.get, c, { apiVersion = "kubeaddons.mesosphere.io/v1beta2", kind = "Addon",
                                       namespace = "kubeaddons", name = "kaptain" })
  if aok and addon then found[#found + 1] = "Addon kubeaddons/kaptain" end
  ctx:require(#found == 0,
              "Kaptain is enabled on cluster %s (%s): the major upgrade requires Kaptain to be disabled first. Back up the " ..
              "notebooks and pipeline data, then uninstall it with `kubectl kudo uninstall --instance kaptain --namespace " ..
              "kubeflow` (and, if it is a Konvoy addon, set `enabled: false` for kaptain in cluster.yaml and run `konvoy " ..
              "deploy addons`); run this playbook again once it is gone. On DKP 2.1 Kaptain is installed again as a " ..
              "Kommander application", cluster_name(ctx), table.concat(found, ", "))
end

local function check_post_adopt_image(ctx)
  local want = ctx.params.post_adopt_image_id
  ctx:require(tostring(want):match("^ami%-%x+$"), "post_adopt_image_id must be an AMI ID such as ami-03364d732f61fb1e2, got %q",
              tostring(want))
  local items, err = planned_objects(ctx)
  if not items and not tostring(err):find("postAdoptImageID", 1, true) then return end  -- one-cluster reports it
  ctx:require(items, "the machine image for the adopted machines is not recorded in %s: %s. Add `postAdoptImageID: %s` " ..
              "under machine: of every node pool there (the image konvoy-image-builder built for the cluster's current " ..
              "Kubernetes version)", cluster_yaml(ctx), tostring(err):gsub(": set it to .*$", ""), want)
  local wrong = {}
  for _, t in ipairs(of_kind(items, "AWSMachineTemplate")) do
    local ami = (((t.spec or {}).template or {}).spec or {}).ami or {}
    if ami.id ~= want then wrong[#wrong + 1] = string.format("%s uses %s", t.metadata.name, tostring(ami.id)) end
  end
  ctx:require(#wrong == 0, "the postAdoptImageID recorded in %s is not %s for every node pool (%s): record the " ..
              "same image (built for the cluster's current Kubernetes version) for every node pool", cluster_yaml(ctx), want,
              table.concat(wrong, "; "))
  ctx.log("postAdoptImageID %s is recorded for every node pool", want)
end

local function check_aws_prerequisites(ctx)
  local have, missing = {}, {}
  for _, c in ipairs(ctx.params.confirm or {}) do have[c] = true end
  for _, c in ipairs(CONFIRMATIONS) do
    if not have[c.name] then missing[#missing + 1] = c.name .. ": " .. c.text end
  end
  ctx:require(#missing == 0, "confirm the AWS prerequisites refit cannot check from the cluster, then pass --set " ..
              "confirm=iam-roles,subnet-public-ips. Not confirmed: %s", table.concat(missing, "; "))
end

local function check_nodes(ctx)
  local bad = {}
  local nodes = target(ctx):list { kind = "Node" }
  if adopted(ctx) then
    -- Cluster API owns the machines now: a node of a rollout still under way is its business, and
    -- the Machines no longer come from the state directory
    ctx.log("cluster %s is already adopted by Cluster API: its nodes are Cluster API's Machines, not the state directory's",
            cluster_name(ctx))
    return
  end
  for _, n in ipairs(nodes) do
    if not k8s.node_ready(n) then bad[#bad + 1] = n.metadata.name .. " is not Ready" end
  end
  ctx:require(#bad == 0, "cluster %s is not healthy: %s. Adoption maps every node to a Machine: fix the nodes first",
              cluster_name(ctx), table.concat(bad, "; "))
  -- the state directory must describe the nodes that run: otherwise `dkp adopt` fails half-way
  local items = planned_objects(ctx)
  if not items or capi_cluster(ctx) then return end
  local by_node = {}
  for _, m in ipairs(of_kind(items, "Machine")) do
    local node = (((m.status or {}).nodeRef) or {}).name
    if node then by_node[node] = m.metadata.name end
  end
  local off = {}
  for _, n in ipairs(nodes) do
    if not by_node[n.metadata.name] then off[#off + 1] = "node " .. n.metadata.name .. " has no machine in the state directory" end
    by_node[n.metadata.name] = nil
  end
  for node, m in pairs(by_node) do off[#off + 1] = "machine " .. m .. " stands for node " .. node .. ", which is not in the cluster" end
  table.sort(off)
  ctx:require(#off == 0, "the state directory %s is out of date: %s. Run `konvoy up` (Konvoy 1.8) from it to bring its " ..
              "state in line with the cluster, then run this playbook again", state_dir(ctx), table.concat(off, "; "))
end

---------------------------------------------------------------------------------------------------
-- Steps before adoption (reversible)
---------------------------------------------------------------------------------------------------

local function sts_ref(name) return { kind = "StatefulSet", namespace = "kube-system", name = name } end

local function ebs_on_control_plane(sts)
  local sel = (((sts.spec or {}).template or {}).spec or {}).nodeSelector or {}
  return sel[CONTROL_PLANE_ROLE] == ""
end

local function ebs_step()
  return refit.step "ebs-csi-controllers" {
    summary = "run the EBS CSI controllers on control-plane nodes only (the only machines with EBS permissions in DKP 2.1)",
    done = function(ctx)
      for _, s in ipairs(EBS_CSI) do
        local sts = target(ctx):get(sts_ref(s.name))
        if sts and not ebs_on_control_plane(sts) then return false end
      end
      return true
    end,
    run = function(ctx)
      local saved = {}
      for _, s in ipairs(EBS_CSI) do
        local sts = target(ctx):get(sts_ref(s.name))
        if sts then
          local spec = sts.spec.template.spec
          saved[s.name] = { nodeSelector = spec.nodeSelector or false, tolerations = spec.tolerations or false }
          target(ctx):patch(sts_ref(s.name), { spec = { template = { spec = {
            nodeSelector = { [CONTROL_PLANE_ROLE] = "" }, tolerations = s.tolerations } } } })
        else
          ctx.log.warn("no StatefulSet kube-system/%s: nothing to move", s.name)
        end
      end
      ctx.state.ebs_saved = saved
    end,
    verify = function(ctx)
      for _, s in ipairs(EBS_CSI) do
        if target(ctx):get(sts_ref(s.name)) then
          ctx:wait("StatefulSet kube-system/" .. s.name .. " rolled out on control-plane nodes", function()
            return k8s.rollout_complete(target(ctx):get(sts_ref(s.name)))
          end, { timeout = ctx.params.ebs_timeout, interval = "10s" })
        end
      end
    end,
    rollback = function(ctx)
      for name, saved in pairs(ctx.state.ebs_saved or {}) do
        local ops = {}
        for _, field in ipairs { "nodeSelector", "tolerations" } do
          local path = "/spec/template/spec/" .. field
          if saved[field] then ops[#ops + 1] = { op = "add", path = path, value = saved[field] }
          else ops[#ops + 1] = { op = "remove", path = path } end
        end
        target(ctx):patch(sts_ref(name), ops, { type = "json" })
      end
      for name in pairs(ctx.state.ebs_saved or {}) do
        ctx:wait("StatefulSet kube-system/" .. name .. " rolled back", function()
          return k8s.rollout_complete(target(ctx):get(sts_ref(name)))
        end, { timeout = ctx.params.ebs_timeout, interval = "10s" })
      end
    end,
  }
end

local PROVIDER_API = "clusterctl.cluster.x-k8s.io/v1alpha3"
local REQUIRED_PROVIDERS = {
  { ns = "capi-system", name = "cluster-api", deploy = "capi-controller-manager" },
  { ns = "capi-kubeadm-bootstrap-system", name = "kubeadm", deploy = "capi-kubeadm-bootstrap-controller-manager" },
  { ns = "capi-kubeadm-control-plane-system", name = "kubeadm", deploy = "capi-kubeadm-control-plane-controller-manager" },
  { ns = "capa-system", name = "aws", deploy = "capa-controller-manager" },
}

-- The namespaces `dkp create bootstrap controllers` installs into (DKP 2.1). cert-manager is among
-- them, but a Konvoy 1.8 cluster already runs cert-manager there (its cert-manager base addon), and
-- the CLI then leaves it as it is: the rollback must not touch what was there before.
local CONTROLLER_NAMESPACES = { "capi-system", "capi-kubeadm-bootstrap-system", "capi-kubeadm-control-plane-system",
                                "capa-system", "capz-system", "capv-system", "cappp-system", "cert-manager" }
local CRS_API = "addons.cluster.x-k8s.io/v1beta1"

-- What the bootstrap controllers' namespaces and namespace default hold, as sorted lists of
-- "Kind ns/name" (data, for ctx.state): taken before the command, so that the rollback removes
-- only what this run added.
local function controller_objects(ctx)
  local c = target(ctx)
  local out = {}
  for _, ns in ipairs(CONTROLLER_NAMESPACES) do
    if c:get { kind = "Namespace", name = ns } then
      out[#out + 1] = "Namespace " .. ns
      for _, d in ipairs(c:list { kind = "Deployment", namespace = ns }) do
        out[#out + 1] = "Deployment " .. ns .. "/" .. d.metadata.name
      end
      for _, p in ipairs(c:list { apiVersion = PROVIDER_API, kind = "Provider", namespace = ns }) do
        out[#out + 1] = "Provider " .. ns .. "/" .. p.metadata.name
      end
    end
  end
  -- the DKP addons' ClusterResourceSets, each with its ConfigMap of the same name
  for _, crs in ipairs(c:list { apiVersion = CRS_API, kind = "ClusterResourceSet", namespace = NS }) do
    out[#out + 1] = "ClusterResourceSet " .. NS .. "/" .. crs.metadata.name
    if c:get { kind = "ConfigMap", namespace = NS, name = crs.metadata.name } then
      out[#out + 1] = "ConfigMap " .. NS .. "/" .. crs.metadata.name
    end
  end
  table.sort(out)
  return out
end

-- nil when the controllers the adoption needs are installed and available, else what is missing.
local function controllers_missing(ctx)
  for _, p in ipairs(REQUIRED_PROVIDERS) do
    if not target(ctx):get { apiVersion = PROVIDER_API, kind = "Provider", namespace = p.ns, name = p.name } then
      return "no Provider " .. p.ns .. "/" .. p.name
    end
    local d = target(ctx):get { kind = "Deployment", namespace = p.ns, name = p.deploy }
    if not d then return "no Deployment " .. p.ns .. "/" .. p.deploy end
    local ok, why = k8s.rollout_complete(d)
    if not ok then return "Deployment " .. p.ns .. "/" .. p.deploy .. ": " .. tostring(why) end
  end
  return nil
end

local function controller_ref(entry)
  local kind, ns, name = entry:match("^(%S+) ([^/]+)/(.+)$")
  if not kind then return { kind = "Namespace", name = entry:match("^Namespace (.+)$") } end
  local api = ({ Provider = PROVIDER_API, ClusterResourceSet = CRS_API })[kind]
  return { apiVersion = api, kind = kind, namespace = ns, name = name }
end

local function bootstrap_step()
  return refit.step "bootstrap-controllers" {
    summary = "dkp create bootstrap controllers: the CAPI/CAPA controllers on the cluster itself (self-managed)",
    timeout = "20m",
    done = function(ctx) return controllers_missing(ctx) == nil end,
    run = function(ctx)
      -- what was there before (cert-manager of Konvoy 1.8 among it): the rollback leaves it alone.
      -- ctx.state is enough: only this run's rollback uses it, and a later run that finds the
      -- controllers installed skips this step (and so has nothing of it to roll back)
      ctx.state.controllers_before = controller_objects(ctx)
      -- the controllers use the machines' instance profiles: bootstrap credentials could expire
      run_command(ctx, { "dkp", "create", "bootstrap", "controllers", "--with-aws-bootstrap-credentials=false" })
    end,
    verify = function(ctx)
      ctx:wait("the CAPI and CAPA controllers available", function()
        local missing = controllers_missing(ctx)
        return missing == nil, missing
      end, { timeout = "10m", interval = "10s" })
    end,
    -- removes what this run added, and only that: Providers and Deployments first, then the
    -- ClusterResourceSets and their ConfigMaps, then the namespaces it created
    rollback = function(ctx)
      local before = ctx.state.controllers_before
      if not before then return end
      local had = {}
      for _, e in ipairs(before) do had[e] = true end
      local added = {}
      for _, e in ipairs(controller_objects(ctx)) do
        if not had[e] then added[#added + 1] = e end
      end
      local order = { Provider = 1, Deployment = 2, ClusterResourceSet = 3, ConfigMap = 4, Namespace = 5 }
      table.sort(added, function(a, b)
        local ka, kb = order[a:match("^%S+")] or 9, order[b:match("^%S+")] or 9
        if ka ~= kb then return ka < kb end
        return a < b
      end)
      for _, e in ipairs(added) do target(ctx):delete(controller_ref(e)) end
      local kept = {}
      for _, e in ipairs(before) do
        if e:match("^Namespace ") then kept[#kept + 1] = e:sub(11) end
      end
      if #kept > 0 then
        ctx.log("left as they were before the run: namespaces %s and what they held", table.concat(kept, ", "))
      end
    end,
  }
end

-- "cluster.cluster.x-k8s.io/konvoy-prod adopted" -> the object's ref
local function parse_adopted(stdout)
  local out = {}
  for resource, name in tostring(stdout):gmatch("([%w%.%-]+)/([%w%.%-]+) adopted\n") do
    local r = RESOURCES[resource]
    if r then out[#out + 1] = { apiVersion = r.apiVersion, kind = r.kind, namespace = NS, name = name } end
  end
  return out
end

-- Machines whose Node is missing, Nodes without a Machine: what would make adoption fail.
local function machine_mismatch(ctx)
  local off, seen = {}, {}
  for _, m in ipairs(owned_list(ctx, "Machine", CAPI)) do
    local node = (((m.status or {}).nodeRef) or {}).name
    if node then seen[node] = true end
    if not node or not target(ctx):get { kind = "Node", name = node } then
      off[#off + 1] = string.format("Machine %s has no Node (%s)", m.metadata.name, tostring(node))
    end
  end
  for _, n in ipairs(target(ctx):list { kind = "Node" }) do
    if not seen[n.metadata.name] then off[#off + 1] = "Node " .. n.metadata.name .. " has no Machine" end
  end
  return off
end

local function prepare_step()
  return refit.step "prepare-to-adopt" {
    summary = "dkp prepare-to-adopt cluster aws: the paused Cluster API objects of the cluster",
    done = function(ctx) return capi_cluster(ctx) ~= nil end,
    run = function(ctx)
      local r = exec(ctx, { "dkp", "prepare-to-adopt", "cluster", "aws", "--konvoy-1-state-dir", state_dir(ctx),
                            mutates = true, check = false })
      -- what it created, for the rollback, even when it stopped half-way
      ctx.state.adopt_objects = parse_adopted(r.stdout)
      ctx:require(r.code == 0, "dkp prepare-to-adopt cluster aws failed (exit %d) after creating %d objects: %s",
                  r.code, #ctx.state.adopt_objects, first_line(r.stderr))
    end,
    verify = function(ctx)
      local cluster = capi_cluster(ctx)
      ctx:require(cluster, "no Cluster %s/%s after prepare-to-adopt", NS, cluster_name(ctx))
      ctx:require(cluster.spec.paused == true, "Cluster %s/%s is not paused: the CAPI controllers would act on the " ..
                  "machines before adoption", NS, cluster_name(ctx))
      local off = machine_mismatch(ctx)
      ctx:require(#off == 0, "the Machines do not match the nodes: %s", table.concat(off, "; "))
      ctx.log("Cluster %s/%s (paused), its KubeadmControlPlane and %d MachineDeployments stand for the cluster's nodes",
              NS, cluster_name(ctx), #owned_list(ctx, "MachineDeployment", CAPI))
    end,
    -- the Cluster is still paused: deleting the objects leaves the machines as they are
    rollback = function(ctx)
      local objects = ctx.state.adopt_objects or {}
      for i = #objects, 1, -1 do
        local ok = target(ctx):delete(objects[i])
        if not ok then ctx.log.debug("%s %s already gone", objects[i].kind, objects[i].name) end
      end
    end,
  }
end

local function kubeadm_ref() return { kind = "ConfigMap", namespace = "kube-system", name = "kubeadm-config" } end

local function pod_subnet_of(text)
  local ok, doc = pcall(yaml.decode, text or "")
  return ok and type(doc) == "table" and type(doc.networking) == "table" and doc.networking.podSubnet or nil
end

-- ClusterConfiguration text with networking.podSubnet added, nothing else changed (the guide: "Do
-- not change any other values in the ConfigMap").
local function with_pod_subnet(text, cidr)
  local lines, out, inserted = {}, {}, false
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i, n = 1, #lines
  while i <= n do
    local line = lines[i]
    out[#out + 1] = line
    if not inserted and line:match("^networking:%s*$") then
      local j = i + 1
      while j <= n and lines[j]:match("^%s+%S") and (lines[j]:match("^  ([%w]+):") or "") < "podSubnet" do
        out[#out + 1] = lines[j]
        j = j + 1
      end
      out[#out + 1] = "  podSubnet: " .. cidr
      inserted = true
      i = j
    else
      i = i + 1
    end
  end
  if not inserted then
    if out[#out] == "" then out[#out] = nil end
    out[#out + 1] = "networking:"
    out[#out + 1] = "  podSubnet: " .. cidr
    out[#out + 1] = ""
  end
  return table.concat(out, "\n")
end

local function pod_subnet_step()
  return refit.step "pod-subnet" {
    summary = "add the pod subnet to the kubeadm-config ConfigMap (networking.podSubnet)",
    done = function(ctx)
      local cm = target(ctx):get(kubeadm_ref())
      return cm ~= nil and pod_subnet_of((cm.data or {}).ClusterConfiguration) ~= nil
    end,
    run = function(ctx)
      local cluster = capi_cluster(ctx)
      local cidr = (((cluster.spec.clusterNetwork or {}).pods or {}).cidrBlocks or {})[1]
      ctx:require(cidr, "Cluster %s/%s has no spec.clusterNetwork.pods.cidrBlocks: cluster.yaml names no podSubnet",
                  NS, cluster_name(ctx))
      local cm = target(ctx):get(kubeadm_ref())
      ctx:require(cm and cm.data and cm.data.ClusterConfiguration, "no ClusterConfiguration in ConfigMap kube-system/kubeadm-config")
      ctx.state.kubeadm_config = cm.data.ClusterConfiguration
      ctx.state.pod_subnet = cidr
      target(ctx):patch(kubeadm_ref(), { data = { ClusterConfiguration = with_pod_subnet(cm.data.ClusterConfiguration, cidr) } })
    end,
    verify = function(ctx)
      local cm = target(ctx):get(kubeadm_ref())
      local got = pod_subnet_of(cm.data.ClusterConfiguration)
      ctx:require(got == ctx.state.pod_subnet, "kubeadm-config's networking.podSubnet is %s, not %s", tostring(got),
                  tostring(ctx.state.pod_subnet))
    end,
    rollback = function(ctx)
      if ctx.state.kubeadm_config then
        target(ctx):patch(kubeadm_ref(), { data = { ClusterConfiguration = ctx.state.kubeadm_config } })
      end
    end,
  }
end

-- Recovery texts of the points of no return, with the run's cluster named. The engine reads a
-- step's `irreversible` text when the step is defined; only a refit.each item knows the cluster, so
-- the steps that carry these texts are expanded for the run's one cluster (see for_the_cluster).
local function auto_provisioner_recovery(cluster)
  return ("The Konvoy 1.8 auto-provisioner of cluster CLUSTER is uninstalled and namespace konvoy deleted; refit " ..
    "cannot put them back. The cluster keeps running its workloads, but nothing manages its machines until the " ..
    "adoption completes. To finish: fix the cause and run refit apply dkp/major-upgrade again with the same parameters " ..
    "(the steps already done are skipped). To return to Konvoy 1.8 instead: while the Cluster is still paused " ..
    "(kubectl get cluster CLUSTER -n default -o jsonpath='{.spec.paused}' prints true), delete the Cluster API objects " ..
    "prepare-to-adopt created (the Cluster CLUSTER and the objects labelled cluster.x-k8s.io/cluster-name=CLUSTER in " ..
    "namespace default), comment out the postAdoptImageID fields in cluster.yaml and run `konvoy up` with Konvoy " ..
    "1.8.3 from the state directory: it installs the auto-provisioner again."):gsub("CLUSTER", cluster)
end

local function adopt_recovery(cluster)
  return ("The cluster CLUSTER is adopted: Cluster API owns its machines (ownerReferences set, Cluster CLUSTER " ..
    "unpaused). This cannot be undone, and the Konvoy 1.8 CLI must not be used on the cluster again. See its state with " ..
    "`dkp describe cluster --cluster-name CLUSTER`, fix what failed and run refit apply dkp/major-upgrade again with " ..
    "the same parameters: the steps already done are skipped."):gsub("CLUSTER", cluster)
end

local function k8s_recovery(cluster)
  return ("Kubernetes cannot be downgraded: the machines of cluster CLUSTER already replaced run v1.21.6, and Cluster " ..
    "API keeps rolling the others as long as the spec says v1.21.6. Find the machine that does not come up (`dkp " ..
    "describe cluster --cluster-name CLUSTER`, `kubectl get machines -n default`) and fix the cause. EC2 capacity or " ..
    "IAM roles: fix them and run refit apply dkp/major-upgrade again with the same parameters. The v1.21.6 machine " ..
    "image: build a working one with konvoy-image-builder and run refit apply dkp/major-upgrade again with it, --set " ..
    "upgrade_image_id=<the new AMI> (the other parameters unchanged): the control plane and the node pools not yet at " ..
    "v1.21.6 get a new AWSMachineTemplate with that image. The steps already done are skipped."):gsub("CLUSTER", cluster)
end

-- A step of the run's one cluster, named "<name>[<cluster>]": a refit.each over that cluster, so
-- that its recovery text can name it.
local function for_the_cluster(name, summary, make)
  return refit.each(name) {
    summary = summary,
    items = function(ctx) return { { name = cluster_name(ctx) } } end,
    step = function(item) return make(item.name) end,
  }
end

local function auto_provisioner_step()
  local summary = "helm uninstall auto-provisioning -n konvoy, then delete namespace konvoy (point of no return)"
  return for_the_cluster("remove-auto-provisioner", summary, function(cluster) return {
    summary = summary,
    done = function(ctx)
      return target(ctx):get { kind = "Namespace", name = "konvoy" } == nil
    end,
    run = function(ctx)
      ctx.log("point of no return: the Konvoy 1.8 auto-provisioner of %s is removed", cluster_name(ctx))
      if konvoy_release(ctx) then
        run_command(ctx, { "helm", "uninstall", "auto-provisioning", "-n", "konvoy" })
      end
      target(ctx):delete { kind = "Namespace", name = "konvoy" }
    end,
    verify = function(ctx)
      ctx:wait("namespace konvoy deleted", function()
        local ns = target(ctx):get { kind = "Namespace", name = "konvoy" }
        return ns == nil, ns and ("namespace konvoy is " .. tostring((ns.status or {}).phase)) or nil
      end, { timeout = "5m", interval = "5s" })
    end,
    irreversible = auto_provisioner_recovery(cluster),
  } end)
end

local CALICO = { kind = "DaemonSet", namespace = "kube-system", name = "calico-node" }

-- calico-node's container index (0-based), the index of its IP env entry, and the DaemonSet.
local function calico_parts(ctx)
  local ds = target(ctx):get(CALICO)
  if not ds then return nil end
  for ci, c in ipairs(ds.spec.template.spec.containers or {}) do
    if c.name == "calico-node" then
      for ei, e in ipairs(c.env or {}) do
        if e.name == "IP" then return ds, ci - 1, ei - 1, e end
      end
      return ds, ci - 1, nil
    end
  end
  return ds, nil, nil
end

local function wait_calico(ctx, what)
  ctx:wait(what, function()
    local ds = target(ctx):get(CALICO)
    if not ds then return false, "DaemonSet kube-system/calico-node is gone" end
    return k8s.rollout_complete(ds)
  end, { timeout = ctx.params.calico_timeout, interval = "10s" })
end

local function calico_step()
  return refit.step "calico-node" {
    summary = "patch the calico-node DaemonSet (no node affinity, no IP env) and wait for its rollout",
    done = function(ctx)
      local ds, _, ip = calico_parts(ctx)
      return ds == nil or (ip == nil and ds.spec.template.spec.affinity == nil)
    end,
    run = function(ctx)
      local ds, ci, ei, env = calico_parts(ctx)
      ctx:require(ci, "DaemonSet kube-system/calico-node has no container calico-node")
      local ops = {}
      local saved = { container = ci }
      if ds.spec.template.spec.affinity ~= nil then
        saved.affinity = ds.spec.template.spec.affinity
        ops[#ops + 1] = { op = "remove", path = "/spec/template/spec/affinity" }
      end
      if ei then
        saved.env_index, saved.env = ei, env
        ops[#ops + 1] = { op = "remove", path = string.format("/spec/template/spec/containers/%d/env/%d", ci, ei) }
      end
      ctx.state.calico_saved = saved
      -- the guide's strategic merge patch: "affinity": null and {"$patch": "delete", "name": "IP"}
      if #ops > 0 then target(ctx):patch(CALICO, ops, { type = "json" }) end
    end,
    verify = function(ctx) wait_calico(ctx, "DaemonSet kube-system/calico-node rolled out") end,
    rollback = function(ctx)
      local s = ctx.state.calico_saved
      if not s then return end
      local ops = {}
      if s.env then
        ops[#ops + 1] = { op = "add", path = string.format("/spec/template/spec/containers/%d/env/%d", s.container, s.env_index),
                          value = s.env }
      end
      if s.affinity then ops[#ops + 1] = { op = "add", path = "/spec/template/spec/affinity", value = s.affinity } end
      if #ops > 0 then target(ctx):patch(CALICO, ops, { type = "json" }) end
      wait_calico(ctx, "DaemonSet kube-system/calico-node rolled back")
    end,
  }
end

---------------------------------------------------------------------------------------------------
-- Adoption and the steady state (irreversible)
---------------------------------------------------------------------------------------------------

-- What is not owned yet: every Machine has an owner (its KubeadmControlPlane or MachineSet); the
-- bootstrap KubeadmConfig and Secret of an adopted machine are owned (dkp adopt sets them). With
-- `adopted`, every machine must have both (right after adoption); later, machines Cluster API
-- created itself may have none.
local function ownership_missing(ctx, adopted)
  local off = {}
  for _, m in ipairs(owned_list(ctx, "Machine", CAPI)) do
    local name = m.metadata.name
    if not (m.metadata.ownerReferences or {})[1] then off[#off + 1] = "Machine " .. name .. " has no owner" end
    local kc = target(ctx):get { apiVersion = CABPK, kind = "KubeadmConfig", namespace = NS, name = name }
    local sec = target(ctx):get { kind = "Secret", namespace = NS, name = name }
    if (kc or adopted) and not (kc and (kc.metadata.ownerReferences or {})[1]) then
      off[#off + 1] = "KubeadmConfig " .. name .. " has no owner"
    end
    if (sec or adopted) and not (sec and (sec.metadata.ownerReferences or {})[1]) then
      off[#off + 1] = "Secret " .. name .. " has no owner"
    end
  end
  return off
end

local function adopt_step()
  local summary = "dkp adopt cluster aws: set the machines' ownerReferences and unpause the Cluster (point of no return)"
  return for_the_cluster("adopt", summary, function(cluster) return {
    summary = summary,
    -- dkp adopt unpauses the Cluster last; once it is unpaused, machines Cluster API created itself
    -- (a control plane already moved to v1.21.6) have no adopted KubeadmConfig to own
    done = function(ctx) return adopted(ctx) and #ownership_missing(ctx) == 0 end,
    run = function(ctx)
      ctx.log("point of no return: cluster %s is handed to Cluster API", cluster_name(ctx))
      run_command(ctx, { "dkp", "adopt", "cluster", "aws", "--konvoy-1-state-dir", state_dir(ctx) })
    end,
    verify = function(ctx)
      local c = capi_cluster(ctx)
      ctx:require(c and c.spec.paused ~= true, "Cluster %s/%s is still paused after dkp adopt", NS, cluster_name(ctx))
      local off = ownership_missing(ctx, true)
      ctx:require(#off == 0, "dkp adopt left objects without owners: %s", table.concat(off, "; "))
    end,
    -- adopt failed: as long as the Cluster is paused, nothing was handed over
    rollback = function(ctx)
      local c = capi_cluster(ctx)
      ctx:require(c == nil or c.spec.paused == true, "Cluster %s/%s is unpaused: %s", NS, cluster_name(ctx), adopt_recovery(cluster))
      ctx.log("Cluster %s/%s is still paused: Cluster API did not take the machines over", NS, cluster_name(ctx))
    end,
    irreversible = adopt_recovery(cluster),
  } end)
end

local function ready(obj)
  return obj ~= nil and k8s.condition_true(obj, "Ready")
end

local function not_ready_parts(ctx)
  local off = {}
  local c = capi_cluster(ctx)
  if not ready(c) then off[#off + 1] = "Cluster " .. cluster_name(ctx) end
  local kcps = owned_list(ctx, "KubeadmControlPlane", KCP_API)
  if #kcps == 0 then off[#off + 1] = "no KubeadmControlPlane" end
  for _, kcp in ipairs(kcps) do
    local st = kcp.status or {}
    if not ready(kcp) or (st.readyReplicas or 0) < kcp.spec.replicas then
      off[#off + 1] = string.format("KubeadmControlPlane %s (%d/%d ready)", kcp.metadata.name, st.readyReplicas or 0, kcp.spec.replicas)
    end
  end
  for _, md in ipairs(owned_list(ctx, "MachineDeployment", CAPI)) do
    local st = md.status or {}
    if not ready(md) or (st.readyReplicas or 0) < md.spec.replicas then
      off[#off + 1] = string.format("MachineDeployment %s (%d/%d ready)", md.metadata.name, st.readyReplicas or 0, md.spec.replicas)
    end
  end
  return off
end

-- Whether an earlier run already started the move to Kubernetes v1.21.6 (the KubeadmControlPlane's
-- version): it passed the steady state and Calico's move first, and a node pool whose rollout
-- failed is not Ready, so waiting for them again would keep a re-run from finishing the upgrade.
local function kubernetes_upgrade_started(ctx)
  local kcp = owned_list(ctx, "KubeadmControlPlane", KCP_API)[1]
  return kcp ~= nil and kcp.spec.version == TARGET_KUBERNETES
end

local function steady_state_step()
  return refit.step "steady-state" {
    summary = "wait until the Cluster, its KubeadmControlPlane and every MachineDeployment are Ready",
    done = kubernetes_upgrade_started,
    verify = function(ctx)
      ctx:wait("cluster " .. cluster_name(ctx) .. " in a steady state (Cluster, control plane, node pools Ready)", function()
        local off = not_ready_parts(ctx)
        return #off == 0, "not Ready: " .. table.concat(off, ", ")
      end, { timeout = ctx.params.steady_state_timeout, interval = "30s" })
    end,
  }
end

local CALICO_SYSTEM = { kind = "DaemonSet", namespace = "calico-system", name = "calico-node" }

local function calico_system_step()
  return refit.step "calico-system" {
    summary = "wait until Calico runs from calico-system on every node (the Tigera operator took it over)",
    done = kubernetes_upgrade_started,
    verify = function(ctx)
      local nodes = #target(ctx):list { kind = "Node" }   -- the step replaces no node
      ctx:wait("DaemonSet calico-system/calico-node up to date on every node", function()
        local ds = target(ctx):get(CALICO_SYSTEM)
        if not ds then return false, "no DaemonSet calico-system/calico-node yet" end
        local ok, why = k8s.rollout_complete(ds)
        if not ok then return false, why end
        local up = (ds.status or {}).updatedNumberScheduled or 0
        return up == nodes, string.format("%d of %d nodes up to date", up, nodes)
      end, { timeout = ctx.params.steady_state_timeout, interval = "30s" })
    end,
  }
end

local DEX = { apiVersion = "kubeaddons.mesosphere.io/v1beta2", kind = "Addon", namespace = "kubeaddons", name = "dex" }
local DEX_ENV = "env:\n- name: KUBERNETES_POD_NAMESPACE\n  valueFrom:\n    fieldRef:\n      fieldPath: metadata.namespace\n"

local function dex_values(ctx)
  local addon = target(ctx):get(DEX)
  return addon and (((addon.spec or {}).chartReference or {}).values or "")
end

local function dex_step()
  return refit.step "dex-addon" {
    summary = "give the Dex addon KUBERNETES_POD_NAMESPACE, so that it works on Kubernetes 1.20 and 1.21",
    when = function(ctx) return dex_values(ctx) ~= nil end,
    done = function(ctx) return tostring(dex_values(ctx)):find("KUBERNETES_POD_NAMESPACE", 1, true) ~= nil end,
    run = function(ctx)
      local values = dex_values(ctx)
      ctx.state.dex_values = values
      -- the env block goes at the top level, aligned with `image:` (the guide), nothing else changes
      local patched, n = values:gsub("\nimage:", "\n" .. DEX_ENV .. "image:", 1)
      if n == 0 then patched = (values == "" and "---\n" or values:gsub("\n?$", "\n")) .. DEX_ENV end
      target(ctx):patch(DEX, { spec = { chartReference = { values = patched } } })
    end,
    verify = function(ctx)
      local doc, err = yaml.decode(dex_values(ctx))
      ctx:require(doc ~= nil, "the Dex addon's values are not YAML after the patch (%s): fix spec.chartReference.values " ..
                  "of Addon %s/%s by hand, then run again", tostring(err), DEX.namespace, DEX.name)
      ctx:require(type(doc) == "table" and type(doc.env) == "table", "the Dex addon's values have no top-level env " ..
                  "list after the patch: add the guide's env block to spec.chartReference.values of Addon %s/%s, then " ..
                  "run again", DEX.namespace, DEX.name)
    end,
    rollback = function(ctx)
      if ctx.state.dex_values then target(ctx):patch(DEX, { spec = { chartReference = { values = ctx.state.dex_values } } }) end
    end,
  }
end

---------------------------------------------------------------------------------------------------
-- Kubernetes v1.21.6 (irreversible)
---------------------------------------------------------------------------------------------------

local function template_ref(name) return { apiVersion = CAPA, kind = "AWSMachineTemplate", namespace = NS, name = name } end

local function ami_of(tmpl)
  local spec = (((tmpl or {}).spec or {}).template or {}).spec or {}
  return (spec.ami or {}).id
end

-- The AWSMachineTemplate with the v1.21.6 machine image for `owner` (a KubeadmControlPlane or a
-- MachineDeployment): a copy of its current one (`current`) with ami.id = upgrade_image_id, as the
-- guide's `kubectl get ... | kubectl patch --local ... | kubectl create -f-`. Named <owner>-v1.21.6
-- as in the guide; when an earlier run left a template of that name with another image (the image
-- that did not work), <owner>-v1.21.6-<ami>: a re-run with a fixed image uses the fixed image.
-- Returns its name.
local function new_template(ctx, current, owner)
  local image = ctx.params.upgrade_image_id
  local name = owner .. "-" .. TARGET_KUBERNETES
  local existing = target(ctx):get(template_ref(name))
  if existing and ami_of(existing) ~= image then
    ctx.log("AWSMachineTemplate %s/%s uses image %s, not %s (an earlier run's): %s moves to a template with %s",
            NS, name, tostring(ami_of(existing)), image, owner, image)
    name = name .. "-" .. image
    existing = target(ctx):get(template_ref(name))
    ctx:require(not existing or ami_of(existing) == image, "AWSMachineTemplate %s/%s uses image %s, not %s: delete it " ..
                "(nothing uses it yet) and run again", NS, name, tostring(ami_of(existing)), image)
  end
  if existing then return name end
  local old = target(ctx):get(template_ref(current))
  ctx:require(old, "AWSMachineTemplate %s/%s, used by %s, is missing", NS, tostring(current), owner)
  local spec = old.spec
  spec.template.spec.ami = { id = image }
  target(ctx):create { apiVersion = CAPA, kind = "AWSMachineTemplate",
                       metadata = { name = name, namespace = NS, labels = old.metadata.labels }, spec = spec }
  return name
end

-- Nodes of these machines that do not run the target kubelet yet.
local function nodes_behind(ctx, machines)
  local off = {}
  for _, m in ipairs(machines) do
    local node_name = (((m.status or {}).nodeRef) or {}).name
    local node = node_name and target(ctx):get { kind = "Node", name = node_name }
    local v = node and k8s.kubelet_version(node)
    if not node then off[#off + 1] = "machine " .. m.metadata.name .. " has no node yet"
    elseif v ~= TARGET_KUBERNETES or not k8s.node_ready(node) then
      off[#off + 1] = string.format("node %s (%s%s)", node_name, tostring(v), k8s.node_ready(node) and "" or ", NotReady")
    end
  end
  return off
end

local function control_plane_step()
  local summary = "move the control plane to Kubernetes " .. TARGET_KUBERNETES .. " (new AWSMachineTemplate, KubeadmControlPlane version)"
  return for_the_cluster("control-plane", summary, function(cluster) return {
    summary = summary,
    done = function(ctx)
      local kcp = owned_list(ctx, "KubeadmControlPlane", KCP_API)[1]
      return kcp ~= nil and kcp.spec.version == TARGET_KUBERNETES
        and #nodes_behind(ctx, owned_list(ctx, "Machine", CAPI, CONTROL_PLANE_LABEL)) == 0
    end,
    run = function(ctx)
      local kcp = owned_list(ctx, "KubeadmControlPlane", KCP_API)[1]
      ctx:require(kcp, "no KubeadmControlPlane labelled %s=%s", CLUSTER_LABEL, cluster_name(ctx))
      ctx.state.kcp = kcp.metadata.name
      local tmpl = new_template(ctx, kcp.spec.machineTemplate.infrastructureRef.name, kcp.metadata.name)
      ctx.log("point of no return: the control plane of %s moves from %s to %s", cluster_name(ctx), kcp.spec.version, TARGET_KUBERNETES)
      target(ctx):patch({ apiVersion = KCP_API, kind = "KubeadmControlPlane", namespace = NS, name = kcp.metadata.name },
                        { spec = { version = TARGET_KUBERNETES, machineTemplate = { infrastructureRef = { name = tmpl } } } },
                        { type = "merge" })
    end,
    verify = function(ctx)
      local ref = { apiVersion = KCP_API, kind = "KubeadmControlPlane", namespace = NS, name = ctx.state.kcp }
      ctx:wait("KubeadmControlPlane " .. tostring(ctx.state.kcp) .. " Ready at " .. TARGET_KUBERNETES, function()
        local kcp = target(ctx):get(ref)
        if not kcp then return false, "gone" end
        local st = kcp.status or {}
        if (st.updatedReplicas or 0) < kcp.spec.replicas or (st.readyReplicas or 0) < kcp.spec.replicas then
          return false, string.format("%d of %d machines updated, %d ready", st.updatedReplicas or 0, kcp.spec.replicas,
                                      st.readyReplicas or 0)
        end
        if not ready(kcp) then return false, "condition Ready is not True" end
        local off = nodes_behind(ctx, owned_list(ctx, "Machine", CAPI, CONTROL_PLANE_LABEL))
        return #off == 0, table.concat(off, ", ")
      end, { timeout = ctx.params.control_plane_timeout, interval = "30s" })
    end,
    irreversible = k8s_recovery(cluster),
  } end)
end

local function nodepool_step(item)
  return {
    summary = "move node pool " .. item.name .. " to Kubernetes " .. TARGET_KUBERNETES,
    done = function(ctx)
      local md = target(ctx):get { apiVersion = CAPI, kind = "MachineDeployment", namespace = NS, name = item.name }
      return md ~= nil and md.spec.template.spec.version == TARGET_KUBERNETES
        and #nodes_behind(ctx, owned_list(ctx, "Machine", CAPI, DEPLOYMENT_LABEL .. "=" .. item.name)) == 0
    end,
    run = function(ctx)
      local md = target(ctx):get { apiVersion = CAPI, kind = "MachineDeployment", namespace = NS, name = item.name }
      local tmpl = new_template(ctx, md.spec.template.spec.infrastructureRef.name, item.name)
      target(ctx):patch({ apiVersion = CAPI, kind = "MachineDeployment", namespace = NS, name = item.name },
                        { spec = { template = { spec = { version = TARGET_KUBERNETES, infrastructureRef = { name = tmpl } } } } },
                        { type = "merge" })
    end,
    verify = function(ctx)
      local ref = { apiVersion = CAPI, kind = "MachineDeployment", namespace = NS, name = item.name }
      ctx:wait("MachineDeployment " .. item.name .. " rolled to " .. TARGET_KUBERNETES, function()
        local md = target(ctx):get(ref)
        local st = md.status or {}
        local n = md.spec.replicas
        if (st.replicas or 0) ~= n or (st.updatedReplicas or 0) < n or (st.readyReplicas or 0) < n then
          return false, string.format("replicas %d, updated %d, ready %d of %d", st.replicas or 0, st.updatedReplicas or 0,
                                      st.readyReplicas or 0, n)
        end
        local off = nodes_behind(ctx, owned_list(ctx, "Machine", CAPI, DEPLOYMENT_LABEL .. "=" .. item.name))
        return #off == 0, table.concat(off, ", ")
      end, { timeout = ctx.params.nodepool_timeout, interval = "30s" })
    end,
    irreversible = k8s_recovery(item.cluster),
  }
end

local function verify_final(ctx)
  local off = {}
  local c = capi_cluster(ctx)
  if not c or c.spec.paused == true then off[#off + 1] = "Cluster " .. cluster_name(ctx) .. " is paused or missing" end
  for _, o in ipairs(ownership_missing(ctx)) do off[#off + 1] = o end
  for _, n in ipairs(target(ctx):list { kind = "Node" }) do
    local v = k8s.kubelet_version(n)
    if v ~= TARGET_KUBERNETES or not k8s.node_ready(n) then
      off[#off + 1] = string.format("node %s (%s%s)", n.metadata.name, tostring(v), k8s.node_ready(n) and "" or ", NotReady")
    end
  end
  if target(ctx):get { kind = "Namespace", name = "konvoy" } then off[#off + 1] = "namespace konvoy still exists" end
  local cm = target(ctx):get(kubeadm_ref())
  if not cm or not pod_subnet_of((cm.data or {}).ClusterConfiguration) then off[#off + 1] = "kubeadm-config has no podSubnet" end
  ctx:require(#off == 0, "cluster %s is not a DKP 2.1 cluster at Kubernetes %s: %s", cluster_name(ctx), TARGET_KUBERNETES,
              table.concat(off, "; "))
  ctx.log("cluster %s is adopted by Cluster API and runs Kubernetes %s on every node", cluster_name(ctx), TARGET_KUBERNETES)
end

---------------------------------------------------------------------------------------------------
-- The playbook
---------------------------------------------------------------------------------------------------

local steps = {
  summary = "Major upgrade of one Konvoy 1.8.3 cluster on AWS to DKP 2.1 by Cluster API adoption, then Kubernetes 1.21.6",
  description = [[
Moves ONE Konvoy 1.8.3 (1.8.3-1.8.5) cluster on AWS to DKP 2.1, as D2iQ documents it: refuses unless
the cluster runs Konvoy 1.8.3-1.8.5, Kaptain is disabled, the machine image for the adopted machines is
recorded as postAdoptImageID for every node pool and the IAM roles and subnets are confirmed; moves
the EBS CSI controllers to control-plane nodes; installs the Cluster API controllers (dkp create
bootstrap controllers); creates the paused Cluster API objects (dkp prepare-to-adopt cluster aws); adds
podSubnet to kubeadm-config; uninstalls the Konvoy auto-provisioner and deletes namespace konvoy;
patches calico-node and waits for its rollout; adopts the cluster (dkp adopt cluster aws); waits for a
steady state; prepares Dex; moves the control plane, then each node pool, to Kubernetes v1.21.6.
Run it once per cluster. See docs/dkp-major-upgrade.md.]],
  params = {
    post_adopt_image_id = refit.param.string { required = true,
      help = "AMI built with konvoy-image-builder for the cluster's current Kubernetes (1.20.11 for Konvoy 1.8.3, 1.20.13 " ..
             "for 1.8.4/1.8.5), recorded as postAdoptImageID for every node pool in cluster.yaml",
      example = "ami-03364d732f61fb1e2" },
    upgrade_image_id = refit.param.string { required = true,
      help = "AMI built with konvoy-image-builder for Kubernetes v1.21.6 (the control plane and node pools after adoption)",
      example = "ami-0e7253eeb699eddca" },
    cluster = refit.param.string { help = "the one cluster to upgrade (default: the target cluster)" },
    state_dir = refit.param.string { default = ".",
      help = "the cluster's Konvoy 1.8 directory: cluster.yaml, inventory.yaml, state/ and admin.conf" },
    kubeconfig = refit.param.string { help = "kubeconfig of the cluster (default: <state_dir>/admin.conf)" },
    confirm = refit.param.list { of = refit.param.enum { values = { "iam-roles", "subnet-public-ips" } },
      help = "AWS prerequisites you have done: iam-roles, subnet-public-ips (refit cannot read them)" },
    ebs_timeout = refit.param.duration { default = "10m", help = "limit for each EBS CSI controller's rollout" },
    calico_timeout = refit.param.duration { default = "15m", help = "limit for the calico-node rollout" },
    steady_state_timeout = refit.param.duration { default = "30m", help = "limit for the steady state after adoption" },
    control_plane_timeout = refit.param.duration { default = "60m", help = "limit for the control plane's move to 1.21.6" },
    nodepool_timeout = refit.param.duration { default = "90m", help = "limit for each node pool's move to 1.21.6" },
  },
  preflight = {
    refit.check "dkp-cli" (check_dkp_cli),
    refit.check "one-cluster" (check_target),
    refit.check "konvoy-version" (check_konvoy_version),
    refit.check "kaptain-disabled" (check_kaptain),
    refit.check "post-adopt-image" (check_post_adopt_image),
    refit.check "upgrade-image" (check_upgrade_image),
    refit.check "aws-prerequisites" (check_aws_prerequisites),
    refit.check "nodes" (check_nodes),
  },
  ebs_step(),
  bootstrap_step(),
  prepare_step(),
  pod_subnet_step(),
  auto_provisioner_step(),
  calico_step(),
  adopt_step(),
  steady_state_step(),
  calico_system_step(),
  dex_step(),
  control_plane_step(),
}
steps[#steps + 1] = refit.each "node-pool" {
  summary = "move each node pool (MachineDeployment) to Kubernetes " .. TARGET_KUBERNETES .. ", one at a time",
  items = function(ctx)
    local items = {}
    for _, md in ipairs(owned_list(ctx, "MachineDeployment", CAPI)) do
      items[#items + 1] = { name = md.metadata.name, cluster = cluster_name(ctx) }
    end
    return items
  end,
  step = nodepool_step,
}
steps[#steps + 1] = refit.step "verify" {
  summary = "the cluster is adopted, unpaused, and every node runs Kubernetes " .. TARGET_KUBERNETES,
  verify = verify_final,
}

return refit.playbook "dkp/major-upgrade" (steps)
