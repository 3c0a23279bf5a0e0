-- refit test tests/scripts/dkp_upgrade_test.lua: the bundled dkp/upgrade playbook (docs/dkp.md, seed 001)
-- against the simulated DKP 2.1.1 fleet: the happy path, every refusal, the fault scenarios, durations.
local t = require "refit.test"

local PLAYBOOK = "scripts/dkp/upgrade.lua"
local FLEET = "examples/clusters/dkp-2.1-fleet.yaml"
local FIX = "tests/scripts/fixtures/"
local SCENARIOS = "examples/scenarios/"
local MGMT = "dkp-mgmt"
local PROD = "production-x7k2p"

local function plan(opts)
  opts.playbook = opts.playbook or PLAYBOOK
  opts.sim = opts.sim or FLEET
  return t.plan(opts)
end

local function step_duration(r, step)
  return r:find("step_finished", { step = step }).duration
end

local function objects(world, cluster, key)
  return ((world.clusters[cluster] or {}).objects or {})[key] or {}
end

local function find(list, ns, name)
  for _, o in ipairs(list) do
    if o.metadata.name == name and (ns == nil or o.metadata.namespace == ns) then return o end
  end
end

-- the CAPI objects of one cluster on the management cluster (Machines, KCP, MDs, CRS ConfigMaps)
local function capi_of(world, cluster)
  local out = {}
  for _, key in ipairs { "cluster.x-k8s.io/Machine", "cluster.x-k8s.io/MachineDeployment", "cluster.x-k8s.io/Cluster",
                         "controlplane.cluster.x-k8s.io/KubeadmControlPlane", "addons.cluster.x-k8s.io/ClusterResourceSet",
                         "core/ConfigMap" } do
    for _, o in ipairs(objects(world, MGMT, key)) do
      local labels = o.metadata.labels or {}
      if labels["cluster.x-k8s.io/cluster-name"] == cluster or o.metadata.name == cluster then out[#out + 1] = o end
    end
  end
  return out
end

local HAPPY_STEPS = {
  "record-upgrade=succeeded",
  "velero-backup=succeeded",
  "detach-metallb=succeeded",
  "kommander=succeeded",
  "workspace[default-workspace]=succeeded",
  "workspace[production]=succeeded",
  "workspace[staging]=succeeded",
  "catalogapp-workspace[production/kafka-operator]=succeeded",
  "catalogapp-workspace[production/zookeeper-operator]=succeeded",
  "catalogapp-workspace[staging/spark-operator]=succeeded",
  "catalogapp-project[payments/kafka-operator-payments]=succeeded",
  "custom-apps=succeeded",
  "capi-components=succeeded",
  "management[dkp-mgmt/addons]=succeeded",
  "management[dkp-mgmt/controlplane]=succeeded",
  "management[dkp-mgmt/nodepool/dkp-mgmt-md-0]=succeeded",
  "managed[prod-east/addons]=succeeded",
  "managed[prod-east/controlplane]=succeeded",
  "managed[prod-east/nodepool/prod-east-gpu]=succeeded",
  "managed[prod-east/nodepool/prod-east-md-0]=succeeded",
  "managed[prod-west/addons]=succeeded",
  "managed[prod-west/controlplane]=succeeded",
  "managed[prod-west/nodepool/prod-west-md-0]=succeeded",
  "managed[prod-west/nodepool/prod-west-md-1]=succeeded",
  "managed[staging-1/addons]=succeeded",
  "managed[staging-1/controlplane]=succeeded",
  "managed[staging-1/nodepool/staging-1-md-0]=succeeded",
  "verify-fleet=succeeded",
  "record-done=succeeded",
}

local HAPPY_COMMANDS = {
  "velero backup create dkp-upgrade-2-1-1-to-2-2-0 --labels refit.dev/upgrade=2.1.1-to-2.2.0 --wait",
  "dkp upgrade kommander",
  "dkp upgrade workspace default-workspace",
  "dkp upgrade workspace production",
  "dkp upgrade workspace staging",
  "dkp upgrade catalogapp kafka-operator --to-version 0.20.2 -w production",
  "dkp upgrade catalogapp zookeeper-operator --to-version 0.2.14 -w production",
  "dkp upgrade catalogapp spark-operator --to-version 1.1.17 -w staging",
  "dkp upgrade catalogapp kafka-operator-payments --to-version 0.20.2 -w production --project payments",
  "dkp upgrade capi-components",
  "dkp upgrade addons aws -c dkp-mgmt",
  "dkp update controlplane aws -c dkp-mgmt --kubernetes-version v1.22.8",
  "dkp update nodepool aws dkp-mgmt-md-0 -c dkp-mgmt --kubernetes-version v1.22.8",
  "dkp upgrade addons aws -c prod-east -n production-x7k2p",
  "dkp update controlplane aws -c prod-east --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp update nodepool aws prod-east-gpu -c prod-east --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp update nodepool aws prod-east-md-0 -c prod-east --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp upgrade addons aws -c prod-west -n production-x7k2p",
  "dkp update controlplane aws -c prod-west --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp update nodepool aws prod-west-md-0 -c prod-west --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp update nodepool aws prod-west-md-1 -c prod-west --kubernetes-version v1.22.8 -n production-x7k2p",
  "dkp upgrade addons aws -c staging-1 -n staging-m3n9d",
  "dkp update controlplane aws -c staging-1 --kubernetes-version v1.22.8 -n staging-m3n9d",
  "dkp update nodepool aws staging-1-md-0 -c staging-1 --kubernetes-version v1.22.8 -n staging-m3n9d",
}

local happy
local function happy_run()
  happy = happy or plan {}
  return happy
end

t.case("happy path: the seed's order, management first, then each managed cluster one at a time", function()
  local r = happy_run()
  t.eq(r.status, "succeeded")
  t.eq(r:step_results(), HAPPY_STEPS)
  t.eq(r:mutating_commands(), HAPPY_COMMANDS)
end)

t.case("happy path: every node and API server at v1.22.8, nodes replaced", function()
  local r = happy_run()
  for _, name in ipairs { MGMT, "prod-east", "prod-west", "staging-1" } do
    t.eq(r.world.clusters[name].version, "v1.22.8", name)
    local before = {}
    for _, n in ipairs(objects(r.world_before, name, "core/Node")) do before[n.metadata.name] = true end
    local nodes = r:objects(name, "Node")
    t.eq(#nodes, #objects(r.world_before, name, "core/Node"), name .. " keeps its node count")
    for _, n in ipairs(nodes) do
      t.eq(n.status.nodeInfo.kubeletVersion, "v1.22.8", n.metadata.name)
      t.ok(not before[n.metadata.name], "node " .. n.metadata.name .. " is a new machine")
    end
  end
  for _, m in ipairs(r:objects(MGMT, "Machine")) do t.eq(m.spec.version, "v1.22.8", m.metadata.name) end
end)

t.case("happy path: HelmReleases at the new versions, Providers upgraded, MetalLB detached, addons rewritten", function()
  local r = happy_run()
  local hrs = r:objects(MGMT, "HelmRelease")
  t.eq(find(hrs, "kommander", "kommander").spec.chart.spec.version, "v2.2.0")
  t.eq(find(hrs, "kommander", "kube-prometheus-stack").status.lastAppliedRevision, "33.1.5")
  t.eq(find(hrs, "kommander", "metallb"), nil)
  for _, hr in ipairs(r:objects("prod-east", "HelmRelease")) do
    t.ok(hr.status.lastAppliedRevision == hr.spec.chart.spec.version, hr.metadata.name)
  end
  t.eq(find(r:objects("prod-east", "HelmRelease"), PROD, "kafka-operator").spec.chart.spec.version, "0.20.2")
  t.eq(find(r:objects("prod-west", "HelmRelease"), "payments-q8w4z", "kafka-operator-payments").spec.chart.spec.version, "0.20.2")
  t.eq(find(r:objects("staging-1", "HelmRelease"), "staging-m3n9d", "spark-operator").spec.chart.spec.version, "1.1.17")
  for _, p in ipairs(r:objects(MGMT, "Provider")) do
    t.ok(p.version:match("^v1%.1%.3%-d2iq%.3$") or p.version == "v1.4.1-d2iq.1", p.metadata.name .. " " .. p.version)
  end
  -- MetalLB: no AppDeployment, no Helm storage Secrets, still running
  t.eq(find(r:objects(MGMT, "AppDeployment"), "kommander", "metallb"), nil)
  for _, s in ipairs(r:objects(MGMT, "Secret")) do
    t.ok(not (s.metadata.labels and s.metadata.labels.name == "metallb" and s.metadata.labels.owner == "helm"), s.metadata.name)
  end
  t.ok(find(r:objects(MGMT, "Deployment"), "metallb-system", "metallb-controller"), "MetalLB keeps running")
  t.contains(find(r:objects(MGMT, "ConfigMap"), PROD, "calico-cni-installation-prod-east").data["custom-resources.yaml"],
             "calico/cni:v3.22.1")
  -- the Velero backup came first and is Completed
  local b = find(r:objects(MGMT, "Backup"), "velero", "dkp-upgrade-2-1-1-to-2-2-0")
  t.eq(b.status.phase, "Completed")
  t.eq(b.metadata.labels["refit.dev/upgrade"], "2.1.1-to-2.2.0")
end)

-- the durable record of the upgrade (docs/dkp.md, "Re-runs"), as annotations
local function record_of(world)
  local cm = find(objects(world, MGMT, "core/ConfigMap"), "kommander", "refit-dkp-upgrade")
  return cm and cm.metadata.annotations
end

t.case("happy path: the upgrade is recorded before the first change and marked done at the end", function()
  local r = happy_run()
  t.eq(record_of(r.world_before), nil)
  t.eq(record_of(r.world), { ["refit.dev/from-version"] = "2.1.1", ["refit.dev/to-version"] = "2.2.0",
                             ["refit.dev/state"] = "done", ["refit.dev/backup"] = "dkp-upgrade-2-1-1-to-2-2-0" })
  -- written before the backup, which comes before anything irreversible
  local wrote = r:find("step_finished", { step = "record-upgrade" })
  local backup = r:find("step_started", { step = "velero-backup" })
  t.ok(wrote and backup and wrote.time <= backup.time, "record first")
end)

t.case("preflight: the dkp CLI on the PATH is checked with dkp version", function()
  local r = happy_run()
  t.ok(r:find("command", { argv = { "dkp", "version" } }), "dkp version ran")
  t.contains(r.output, "dkp CLI v2.2.0: the DKP 2.2 release")
end)

t.case("refusal: a dkp CLI of another release on the PATH, with what to install", function()
  local r = plan { sim = FIX .. "dkp-old-cli.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["dkp-cli"], "the dkp CLI on the PATH is v2.1.1 (dkp version), not DKP 2.2.x: the upgrade to 2.2.0 runs the " ..
       "2.2 CLI's dkp upgrade commands. Download dkp v2.2.0 for your OS from the D2iQ support portal, put it first on the " ..
       "PATH (dkp version then says konvoy: v2.2.0) and run again")
  t.eq(r:mutating_commands(), {})
end)

t.case("refusal: no Velero on the management cluster", function()
  local r = plan { sim = FIX .. "dkp-no-velero.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["velero-installed"], "Velero is not installed on dkp-mgmt (no Deployment velero/velero): the on-demand " ..
       "backup the upgrade needs cannot be taken; enable the velero platform application first")
  t.eq(r:mutating_commands(), {})
end)

t.case("attached cluster in 1.19-1.21: accepted, with the warning that DKP does not upgrade it", function()
  local r = plan { sim = FIX .. "dkp-attached.yaml" }
  t.eq(r.status, "succeeded")
  t.contains(table.concat(r:warnings(), "\n"), "attached cluster edge-1 is not upgraded by DKP: upgrade its Kubernetes by " ..
             "its own means (\"How to upgrade DKP via CLI\": \"We recommend you upgrade your Kubernetes version on any attached clusters\")")
  t.eq(r.world.clusters["edge-1"].version, "v1.20.15")
  for _, c in ipairs(r:mutating_commands()) do t.ok(not c:find("edge-1", 1, true), c) end
  -- its workspace's platform applications were upgraded there all the same
  t.eq(find(r:objects("edge-1", "HelmRelease"), "staging-m3n9d", "traefik").status.lastAppliedRevision, "10.9.1")
end)

t.case("refusal: an attached cluster below Kubernetes 1.19", function()
  local r = plan { sim = FIX .. "dkp-attached-too-old.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["kubernetes-versions"], "DKP 2.1 runs Kubernetes 1.21 (attached clusters 1.19 to 1.21); move these " ..
       "clusters there with DKP 2.1 first: cluster edge-1 (attached): API server v1.18.20")
end)

t.case("happy path: the kubeconfig credentials never appear in the output or events", function()
  local r = happy_run()
  local base64 = require "refit.base64"
  local events = require("refit.json").encode(r.events)
  local n = 0
  for _, s in ipairs(r:objects("dkp-mgmt", "Secret")) do
    if s.metadata.name:match("%-kubeconfig$") then
      local key = assert(base64.decode(s.data.value)):match("client%-key%-data: (%S+)")
      t.ok(key and #key > 20, "the kubeconfig of " .. s.metadata.name .. " has a client key")
      for what, text in pairs { output = r.output, events = events } do
        t.eq(text:find(key, 1, true), nil, "client key of " .. s.metadata.name .. " in the " .. what)
        t.eq(text:find(s.data.value, 1, true), nil, "kubeconfig " .. s.metadata.name .. " in the " .. what)
      end
      n = n + 1
    end
  end
  t.ok(n >= 3, "the managed clusters' kubeconfig Secrets were checked: " .. n)
end)

t.case("refusal: an upgrade the supported-path matrix does not list, with the route", function()
  local r = plan { sim = FIX .. "dkp-2.1.0-fleet.yaml", set = { to = "2.1.1" } }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["version-route"], "no supported DKP upgrade path leads from 2.1.0 to 2.1.1")
  t.contains(failed["version-route"], "from 2.1.0, DKP upgrades to 2.2.0")
  t.eq(r:mutating_commands(), {})
end)

t.case("2.1.0 -> 2.2.0 is supported", function()
  local r = plan { sim = FIX .. "dkp-2.1.0-fleet.yaml" }
  t.eq(r.status, "succeeded")
end)

t.case("refusal: a managed cluster not at Kubernetes 1.21", function()
  local r = plan { sim = FIX .. "dkp-managed-behind.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["kubernetes-versions"], "DKP 2.1 runs Kubernetes 1.21 (attached clusters 1.19 to 1.21)")
  t.contains(failed["kubernetes-versions"], "cluster staging-1: API server v1.20.13")
  t.eq(r:mutating_commands(), {})
end)

t.case("refusal: an unhealthy HelmRelease, with the suspend/resume recovery", function()
  local r = plan { scenario = FIX .. "dkp-unhealthy-helmrelease.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  t.contains(failed["helmreleases-healthy"], "kommander/traefik on dkp-mgmt: suspended")
  t.contains(failed["helmreleases-healthy"], "'{\"spec\":{\"suspend\":true}}', then the same with false")
end)

t.case("refusal: a custom catalog application incompatible with Kubernetes 1.22", function()
  local r = plan { sim = FIX .. "dkp-incompatible-custom-app.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks()
  t.eq(n, 1)
  local e = failed["custom-apps-compatible"]
  t.contains(e, "supports Kubernetes >=1.19.0-0 <1.22.0-0, not v1.22.8")
  t.contains(e, "deploys extensions/v1beta1 Ingress production-x7k2p/ledger-exporter on cluster prod-east")
  t.contains(e, "change its chart to networking.k8s.io/v1")
end)

t.case("fault: a managed cluster's node pool fails; the run stops and later clusters are untouched", function()
  local r = plan { scenario = SCENARIOS .. "dkp-nodepool-update-fails.yaml" }
  t.eq(r.status, "failed")
  t.eq(r.exit_code, 4)
  local results = r:step_results()
  t.eq(results[#results], "managed[prod-west/nodepool/prod-west-md-1]=failed")
  t.contains(r:find("step_finished", { step = "managed[prod-west/nodepool/prod-west-md-1]" }).error,
             "no progress for 20m (1 of 3 machines updated, 3 ready)")
  t.ok(r:find("irreversible_reached", { step = "managed[prod-west/nodepool/prod-west-md-1]" }), "recovery printed")
  t.contains(r.output, "the managed clusters after prod-west were not touched")
  -- the upgrade stays recorded in progress, so that a re-run resumes it (the half-upgraded fixture
  -- models what this run left: the same record)
  local rec = record_of(r.world)
  t.eq(rec, { ["refit.dev/from-version"] = "2.1.1", ["refit.dev/to-version"] = "2.2.0",
              ["refit.dev/state"] = "in-progress", ["refit.dev/backup"] = "dkp-upgrade-2-1-1-to-2-2-0" })
  local half = plan { sim = FIX .. "dkp-2.2.0-half-upgraded.yaml" }
  t.eq(record_of(half.world_before), rec)
  -- staging-1: its nodes and its CAPI objects are exactly as before
  t.eq(r:objects("staging-1", "Node"), objects(r.world_before, "staging-1", "core/Node"))
  t.eq(capi_of(r.world, "staging-1"), capi_of(r.world_before, "staging-1"))
  t.eq(r.world.clusters["staging-1"].version, "v1.21.6")
  for _, c in ipairs(r:mutating_commands()) do t.ok(not c:find("staging-1", 1, true), c) end
end)

t.case("fault: a platform application fails in dkp upgrade kommander; no Kubernetes version changes", function()
  local r = plan { scenario = SCENARIOS .. "dkp-helmrelease-fails.yaml" }
  t.eq(r.status, "failed")
  t.eq(r:step_results()[#r:step_results()], "kommander=failed")
  t.contains(r:find("step_finished", { step = "kommander" }).error, "HelmRelease kommander/kube-prometheus-stack on cluster dkp-mgmt: upgrade retries exhausted")
  t.ok(r:find("irreversible_reached", { step = "kommander" }), "Kommander cannot be downgraded")
  -- the recovery text is this run's: the release that failed, the suspend/resume fix, the backup
  t.contains(r.output, "HelmReleases not Ready in namespace kommander: kube-prometheus-stack (UpgradeFailed: upgrade retries exhausted)")
  t.contains(r.output, "kubectl -n kommander patch helmrelease kube-prometheus-stack --type merge -p " ..
             "'{\"spec\":{\"suspend\":true}}', then the same with false")
  t.contains(r.output, "the upgrade is recorded in ConfigMap kommander/refit-dkp-upgrade and the steps already done are skipped")
  t.contains(r.output, "To go back to DKP 2.1.1 instead, restore the management cluster from this upgrade's Velero backup: " ..
             "velero restore create --from-backup dkp-upgrade-2-1-1-to-2-2-0.")
  for _, name in ipairs { MGMT, "prod-east", "prod-west", "staging-1" } do
    t.eq(r:objects(name, "Node"), objects(r.world_before, name, "core/Node"), name)
  end
end)

t.case("fault: dkp upgrade kommander fails before changing anything", function()
  local r = plan { scenario = SCENARIOS .. "dkp-kommander-upgrade-fails.yaml" }
  t.eq(r.status, "failed")
  t.contains(r:find("step_finished", { step = "kommander" }).error, "failed to ensure application definitions are updated")
  t.eq(find(r:objects(MGMT, "HelmRelease"), "kommander", "kommander").spec.chart.spec.version, "v2.1.1")
  -- MetalLB stays detached: the run ends at detach-metallb's recovery text, not at a missing rollback
  t.eq(r:rollback_events(), { "rollback_started kommander", "irreversible_reached detach-metallb" })
  t.contains(r.output, "MetalLB is detached from Kommander: it keeps running in metallb-system")
  t.contains(r.output, "the upgrade is recorded in ConfigMap kommander/refit-dkp-upgrade and continues from there")
  t.ok(not r.output:find("has no rollback", 1, true), "no missing rollback")
  t.ok(find(r:objects(MGMT, "Deployment"), "metallb-system", "metallb-controller"), "MetalLB keeps running")
  t.eq(record_of(r.world)["refit.dev/state"], "in-progress")
end)

t.case("re-run after the point of no return: the half-upgraded fleet is finished, done steps skipped", function()
  local r = plan { sim = FIX .. "dkp-2.2.0-half-upgraded.yaml" }
  t.eq(r.status, "succeeded")
  t.eq(select(2, r:failed_checks()), 0)
  t.contains(r.output, "resuming the upgrade DKP 2.1.1 -> 2.2.0 recorded in ConfigMap kommander/refit-dkp-upgrade " ..
             "(Kommander runs 2.2.0): the steps already done are skipped")
  t.contains(r.output, "node pool prod-west-md-1 of prod-west is rolling to v1.22.8")
  t.contains(r.output, "Velero backup dkp-upgrade-2-1-1-to-2-2-0 of this upgrade is Completed: it is kept, not taken again")
  local results = r:step_results()
  for i, want in ipairs { "record-upgrade=skipped:done", "velero-backup=skipped:done", "detach-metallb=skipped:when",
                          "kommander=skipped:done" } do
    t.eq(results[i], want)
  end
  for _, res in ipairs(results) do
    if res:find("^managed%[prod%-east") or res:find("^management%[") or res:find("^workspace%[") or res:find("^catalogapp")
       or res:find("^managed%[prod%-west/[ac]") or res:find("^managed%[prod%-west/nodepool/prod%-west%-md%-0") then
      t.match(res, "=skipped:done$", res)
    end
  end
  -- prod-west-md-1 was asked for v1.22.8 before the stop: its step waits for the rollout, asking nothing again
  t.eq(r:find("log", { step = "managed[prod-west/nodepool/prod-west-md-1]" }).message,
       "node pool prod-west-md-1 of prod-west was moved to Kubernetes v1.22.8 already (its rollout goes on): waiting for it")
  t.eq(r:find("step_finished", { step = "managed[prod-west/nodepool/prod-west-md-1]" }).status, "succeeded")
  t.eq(r:mutating_commands(), {
    "dkp upgrade addons aws -c staging-1 -n staging-m3n9d",
    "dkp update controlplane aws -c staging-1 --kubernetes-version v1.22.8 -n staging-m3n9d",
    "dkp update nodepool aws staging-1-md-0 -c staging-1 --kubernetes-version v1.22.8 -n staging-m3n9d",
  })
  t.eq(results[#results - 1], "verify-fleet=succeeded")
  t.eq(results[#results], "record-done=succeeded")
  for _, name in ipairs { MGMT, "prod-east", "prod-west", "staging-1" } do
    for _, n in ipairs(r:objects(name, "Node")) do t.eq(n.status.nodeInfo.kubeletVersion, "v1.22.8", n.metadata.name) end
  end
  t.eq(record_of(r.world)["refit.dev/state"], "done")
  -- no second backup, and none of the finished fleet
  t.eq(#r:objects(MGMT, "Backup"), 1)
end)

t.case("re-run of a completed upgrade: nothing to do, nothing changes", function()
  local r = plan { sim = FIX .. "dkp-2.2.0-upgraded.yaml" }
  t.eq(r.status, "succeeded")
  t.contains(r.output, "DKP is already at 2.2.0: nothing to do (the upgrade from 2.1.1 is recorded done in " ..
             "ConfigMap kommander/refit-dkp-upgrade)")
  t.eq(r:mutating_commands(), {})
  for _, res in ipairs(r:step_results()) do t.match(res, "=skipped:when$", res) end
  t.eq(r.world, r.world_before)
end)

t.case("refusal: a failed backup of an earlier run blocks the backup's name, before anything changes", function()
  local r = plan { sim = FIX .. "dkp-failed-backup.yaml" }
  t.eq(r.status, "precondition_failed")
  local failed, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(failed["backup-usable"], "Velero backup dkp-upgrade-2-1-1-to-2-2-0 exists already (phase PartiallyFailed, taken " ..
       "by an earlier run of this upgrade): velero backup create cannot take this upgrade's backup under that name. " ..
       "Delete it first (velero backup delete dkp-upgrade-2-1-1-to-2-2-0 --confirm) or pass backup_name=<another name>")
  t.eq(r:mutating_commands(), {})
  -- with another name the upgrade goes on, and the record names the new backup
  local again = plan { sim = FIX .. "dkp-failed-backup.yaml", set = { backup_name = "dkp-upgrade-retry" } }
  t.eq(again.status, "succeeded")
  t.eq(again:mutating_commands()[1], "velero backup create dkp-upgrade-retry --labels refit.dev/upgrade=2.1.1-to-2.2.0 --wait")
  t.eq(record_of(again.world)["refit.dev/backup"], "dkp-upgrade-retry")
end)

t.case("durations follow cluster sizes", function()
  local r = happy_run()
  -- 2 GPU nodes roll faster than 4 general nodes; 1 control-plane machine faster than 3
  t.ok(step_duration(r, "managed[prod-east/nodepool/prod-east-gpu]") < step_duration(r, "managed[prod-east/nodepool/prod-east-md-0]"))
  t.ok(step_duration(r, "managed[staging-1/controlplane]") < step_duration(r, "managed[prod-west/controlplane]"))
  local big = plan { sim = FIX .. "dkp-bigger-pool.yaml" }
  local small_d = step_duration(r, "managed[prod-east/nodepool/prod-east-md-0]")
  local big_d = step_duration(big, "managed[prod-east/nodepool/prod-east-md-0]")
  -- 12 machines instead of 4: about three times as long (each machine 2.5-5.5 minutes)
  t.ok(big_d > 2 * small_d and big_d < 4.5 * small_d, string.format("%d vs %d", big_d, small_d))
  t.ok(step_duration(r, "kommander") >= 10 * 60000 and step_duration(r, "kommander") <= 20 * 60000, "Kommander 10-20 min")
end)
