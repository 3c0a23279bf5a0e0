-- refit test tests/scripts/kkp_upgrade_test.lua: the bundled kkp/upgrade playbook (docs/kkp.md,
-- seed 003: the KKP upgrade "General Guidelines") against the simulated KKP world: the happy path,
-- every refusal, every fault scenario, and the parallel-reconcile limit's effect on the duration.
local t = require "refit.test"
local json = require "refit.json"
local yaml = require "refit.yaml"
local base64 = require "refit.base64"

local PLAYBOOK = "scripts/kkp/upgrade.lua"
local FIXTURE = "examples/clusters/kkp-2.21.yaml"
local SKIPS_MINOR = "examples/clusters/kkp-2.20.yaml"
local DOCKER = "tests/scripts/fixtures/kkp-2.21-docker.yaml"
local OLD_PATCH = "tests/scripts/fixtures/kkp-2.21-old-patch.yaml"
local SEED_UNHEALTHY = "tests/scripts/fixtures/kkp-2.21-seed-unhealthy.yaml"
-- the world a run with the kkp-seed-unhealthy scenario leaves (past the point of no return)
local RESUME = "tests/scripts/fixtures/kkp-2.22-resume-seed-unhealthy.yaml"
-- a run killed after it lowered the limit (no cleanup)
local LIMIT_STUCK = "tests/scripts/fixtures/kkp-2.21-limit-stuck.yaml"
local UPGRADED = "tests/scripts/fixtures/kkp-2.22-upgraded.yaml"
local UPGRADED_LIMIT_STUCK = "tests/scripts/fixtures/kkp-2.22-upgraded-limit-stuck.yaml"
local UPGRADED_BY_HAND = "tests/scripts/fixtures/kkp-2.22-upgraded-by-hand.yaml"
local MASTER_ONLY = "tests/scripts/fixtures/kkp-2.22-master-only.yaml"
local MLA = "tests/scripts/fixtures/kkp-2.21-mla.yaml"
local SCENARIOS = "examples/scenarios/"
local TARGET = "v2.22.9"

-- The kubermatic CRDs of KKP 2.21 (what `kubectl get crd | grep kubermatic` lists), sorted.
local CRDS = {
  "addonconfigs.kubermatic.k8c.io", "addons.kubermatic.k8c.io", "admissionplugins.kubermatic.k8c.io",
  "alertmanagers.kubermatic.k8c.io", "allowedregistries.kubermatic.k8c.io",
  "applicationdefinitions.apps.kubermatic.k8c.io", "applicationinstallations.apps.kubermatic.k8c.io",
  "clusters.kubermatic.k8c.io", "clustertemplateinstances.kubermatic.k8c.io", "clustertemplates.kubermatic.k8c.io",
  "constraints.kubermatic.k8c.io", "constrainttemplates.kubermatic.k8c.io", "etcdbackupconfigs.kubermatic.k8c.io",
  "etcdrestores.kubermatic.k8c.io", "externalclusters.kubermatic.k8c.io", "ipamallocations.kubermatic.k8c.io",
  "ipampools.kubermatic.k8c.io", "kubermaticconfigurations.kubermatic.k8c.io", "kubermaticsettings.kubermatic.k8c.io",
  "mlaadminsettings.kubermatic.k8c.io", "presets.kubermatic.k8c.io", "projects.kubermatic.k8c.io",
  "resourcequotas.kubermatic.k8c.io", "rulegroups.kubermatic.k8c.io", "seeds.kubermatic.k8c.io",
  "userprojectbindings.kubermatic.k8c.io", "users.kubermatic.k8c.io", "usersshkeys.kubermatic.k8c.io",
}

local function plan(opts)
  opts.playbook = opts.playbook or PLAYBOOK
  opts.sim = opts.sim or FIXTURE
  return t.plan(opts)
end

local function assert_untouched(r)
  t.eq(r.status, "precondition_failed", r.output)
  t.eq(r.exit_code, 2)
  t.eq(r:find("mutation"), nil)
  t.eq(#r:mutating_commands(), 0)
  t.eq(r:find("step_started"), nil)
  t.eq(r:find("file_written"), nil)
  t.eq(r.world, r.world_before)
end

local function kubermatic_config(r)
  for _, o in ipairs(r:objects("kkp-master", "KubermaticConfiguration")) do
    if o.metadata.namespace == "kubermatic" and o.metadata.name == "kubermatic" then return o end
  end
end

local function parallel_limit(r)
  local sc = kubermatic_config(r).spec.seedController
  return sc and sc.maximumParallelReconciles
end

-- the refit.dev/ annotations of the master's KubermaticConfiguration (nil when none)
local function record(r, world)
  local cfg
  for _, o in ipairs((world or r.world).clusters["kkp-master"].objects["kubermatic.k8c.io/KubermaticConfiguration"]) do
    if o.metadata.name == "kubermatic" then cfg = o end
  end
  local out
  for k, v in pairs(cfg.metadata.annotations or {}) do
    if k:match("^refit%.dev/") then out = out or {}; out[k] = v end
  end
  return out
end

local function done_record(from, to, dir)
  return { ["refit.dev/upgrade-from"] = from, ["refit.dev/upgrade-to"] = to, ["refit.dev/upgrade-state"] = "done",
           ["refit.dev/upgrade-backup-dir"] = dir }
end

local function seed_states(r)
  local out = {}
  for _, seed in ipairs(r:objects("kkp-master", "Seed")) do
    out[seed.metadata.name] = seed.status.phase .. " " .. seed.status.versions.kubermatic
  end
  return out
end

local function index_of(r, pred)
  for i, e in ipairs(r.events) do
    if pred(e) then return i end
  end
end

---------------------------------------------------------------------------------------------------
-- The happy path (2.21.12 -> 2.22.9, master + 2 seeds, 50 user clusters)
---------------------------------------------------------------------------------------------------

t.case("2.21.12 -> 2.22.9: backups, lowered limit, installer, seeds Healthy, 50 clusters up to date, limit reset", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  t.eq(r.exit_code, 0)
  -- the seed's order: backups first, then the lowered limit, then the installer; seeds (america,
  -- seed-us, runs MinIO: deploy kubermatic-seed) and user clusters follow
  t.eq(r:step_results(), {
    "backup[kkp-master]=succeeded",
    "backup[seed-us]=succeeded",
    "backup[seed-eu]=succeeded",
    "record-upgrade=succeeded",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=succeeded",
    "seed-stack[america]=succeeded",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  t.eq(r:find("step_started", { step = "deploy-master" }).irreversible, true)
  t.eq(r:find("step_started", { step = "seed-stack[america]" }).irreversible, true)
  -- the seed stack's done asks Helm what the seed runs (v2.21.12: not done)
  t.eq(r:find("command", { step = "seed-stack[america]", phase = "done" }).argv,
       { "helm", "list", "-A", "--kube-context", "seed-us", "-o", "json" })
  t.eq(r:mutating_commands(), {
    "./kubermatic-installer deploy kubermatic-master --config kubermatic.yaml --helm-values values.yaml --helm-timeout 5m",
    "./kubermatic-installer deploy kubermatic-seed --config kubermatic.yaml --helm-values values.yaml --kube-context seed-us --helm-timeout 5m",
  })

  -- one backup file per cluster and kubermatic CRD, in the plan only recorded (not written)
  local written = {}
  for _, e in ipairs(r:all("file_written")) do
    t.eq(e.written, false, e.path)
    written[#written + 1] = e.path
  end
  local expected = {}
  for _, cluster in ipairs { "kkp-master", "seed-us", "seed-eu" } do
    for _, crd in ipairs(CRDS) do
      expected[#expected + 1] = "kkp-backup-v2.21.12-to-v2.22.9/" .. cluster .. "/" .. crd .. ".yaml"
    end
  end
  t.eq(written, expected)

  -- the world: KKP at the target on the master, every seed Healthy at it, every user cluster reconciled
  local cfg = kubermatic_config(r)
  t.eq(cfg.status.kubermaticVersion, TARGET)
  t.eq(parallel_limit(r), 10)
  -- the record says done and keeps the backup directory; the saved limit is gone with the reset
  t.eq(record(r), done_record("v2.21.12", TARGET, "kkp-backup-v2.21.12-to-v2.22.9"))
  local function deployment(cluster, name)
    for _, d in ipairs(r:objects(cluster, "Deployment")) do
      if d.metadata.name == name then return d end
    end
    error("no Deployment " .. name .. " in " .. cluster)
  end
  t.eq(deployment("kkp-master", "kubermatic-operator").spec.template.spec.containers[1].image,
       "quay.io/kubermatic/kubermatic-ee:v2.22.9")
  local seeds = r:objects("kkp-master", "Seed")
  t.eq(#seeds, 2)
  for _, seed in ipairs(seeds) do
    t.eq(seed.status.phase, "Healthy", seed.metadata.name)
    t.eq(seed.status.conditions.ResourcesReconciled.status, "True", seed.metadata.name)
    t.eq(seed.status.versions.kubermatic, TARGET, seed.metadata.name)
  end
  local clusters = 0
  for _, name in ipairs { "seed-eu", "seed-us" } do
    for _, c in ipairs(r:objects(name, "Cluster")) do
      clusters = clusters + 1
      local cond = c.status.conditions.SeedResourcesUpToDate
      t.eq(cond.status, "True", c.metadata.name)
      t.eq(cond.kubermaticVersion, TARGET, c.metadata.name)
    end
    t.eq(deployment(name, "seed-controller-manager").spec.template.spec.containers[1].image,
         "quay.io/kubermatic/kubermatic-ee:v2.22.9", name)
  end
  t.eq(clusters, 50)
  t.eq(r.world.cloud.kkp.releases["kkp-master"]["kubermatic-operator"], { version = "2.22.9", status = "deployed",
                                                                          namespace = "kubermatic", revision = 2 })
  t.eq(r.world.cloud.kkp.releases["seed-us"].minio.version, "2.22.9")
end)

t.case("the limit is lowered before the installer runs and reset after the waits (seed 003, reconciliation load)", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  -- the saved value lives on the KubermaticConfiguration (a run's state dies with it)
  local lowered = r:all("mutation", { kind = "KubermaticConfiguration", verb = "patch", step = "lower-parallel-reconciles" })
  t.eq(#lowered, 2)
  t.eq(lowered[1].phase, "run")
  t.eq(lowered[1].patch, { metadata = { annotations = { ["refit.dev/saved-max-parallel-reconciles"] = "10" } },
                           spec = { seedController = { maximumParallelReconciles = 2 } } })
  t.eq(lowered[2].phase, "cleanup")
  t.eq(lowered[2].patch.spec, { seedController = { maximumParallelReconciles = 10 } })
  local lowered_at = index_of(r, function(e) return e.event == "mutation" and e.phase == "run" and e.step == "lower-parallel-reconciles" end)
  local deploy = index_of(r, function(e) return e.event == "command" and e.argv[2] == "deploy" end)
  local waited = index_of(r, function(e) return e.event == "step_finished" and e.step == "wait-user-clusters" end)
  local reset = index_of(r, function(e) return e.event == "cleanup_finished" and e.step == "lower-parallel-reconciles" end)
  local last_backup = index_of(r, function(e) return e.event == "step_finished" and e.step == "backup[seed-eu]" end)
  t.ok(last_backup and lowered_at and deploy and waited and reset and
       last_backup < lowered_at and lowered_at < deploy and deploy < waited and waited < reset,
       "backups, then lower, then deploy, then the waits, then the reset")
  t.eq(r:find("cleanup_finished", { step = "lower-parallel-reconciles" }).status, "succeeded")
  t.eq(parallel_limit(r), 10)
  t.eq(kubermatic_config(r).metadata.annotations["refit.dev/saved-max-parallel-reconciles"], nil)
end)

t.case("a limit already at or below the upgrade value is left alone (and not reset)", function()
  local r = plan { set = { upgrade_parallel_reconciles = 10 } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:find("step_skipped", { step = "lower-parallel-reconciles" }).reason, "when")
  t.eq(r:find("mutation", { step = "lower-parallel-reconciles" }), nil)
  t.eq(r:find("cleanup_finished", { step = "lower-parallel-reconciles" }), nil)
  t.eq(parallel_limit(r), 10)
  t.eq(kubermatic_config(r).metadata.annotations["refit.dev/saved-max-parallel-reconciles"], nil)
end)

t.case("the backup directory follows backup_dir: <dir>/<cluster>/<crd>.yaml", function()
  local r = plan { set = { backup_dir = "/var/backups/kkp" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(#r:all("file_written"), 3 * #CRDS)
  t.eq(r:all("file_written")[1].path, "/var/backups/kkp/kkp-master/addonconfigs.kubermatic.k8c.io.yaml")
  t.ok(r:find("file_written", { path = "/var/backups/kkp/seed-eu/clusters.kubermatic.k8c.io.yaml" }).bytes > 10000,
       "the Clusters of seed-eu are in its backup")
end)

t.case("a patch upgrade follows the same guidelines; a limit left at KKP's default is removed again", function()
  local r = plan { sim = OLD_PATCH, set = { installer = "./kubermatic-v2.21.12/kubermatic-installer" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), {
    "backup[kkp-master]=succeeded",
    "backup[seed-eu]=succeeded",
    "record-upgrade=succeeded",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=succeeded",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  t.eq(#r:all("file_written"), 2 * #CRDS)
  t.eq(r:mutating_commands(), {
    "./kubermatic-v2.21.12/kubermatic-installer deploy kubermatic-master --config kubermatic.yaml --helm-values values.yaml --helm-timeout 5m",
  })
  -- the field was unset: the annotation says so, and the cleanup removes the field again
  t.eq(r:find("mutation", { step = "lower-parallel-reconciles", phase = "run" }).patch.metadata,
       { annotations = { ["refit.dev/saved-max-parallel-reconciles"] = "unset" } })
  t.eq(parallel_limit(r), nil)
  t.eq(record(r), done_record("v2.21.3", "v2.21.12", "kkp-backup-v2.21.3-to-v2.21.12"))
  t.eq(kubermatic_config(r).status.kubermaticVersion, "v2.21.12")
end)

---------------------------------------------------------------------------------------------------
-- Refusals: nothing changes
---------------------------------------------------------------------------------------------------

t.case("a skipped minor is refused with the route (2.20.11 with the 2.22.9 installer)", function()
  local r = plan { sim = SKIPS_MINOR }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["version-route"],
       "KKP upgrades one minor version at a time, from the latest patch release of the current minor: " ..
       "2.20.11 -> 2.22.9 skips 2.21.12. Run the hops one at a time: 2.20.11 -> 2.21.12, then 2.21.12 -> 2.22.9 " ..
       "(one refit apply kkp/upgrade per hop, each with that release's kubermatic-installer: --set installer=PATH)")
end)

t.case("a minor upgrade from an old patch is refused, naming the patch to install first", function()
  local r = plan { sim = OLD_PATCH }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["version-route"],
       "KKP 2.21.3 is not the latest 2.21 patch release (2.21.12): KKP moves to the next minor only from the latest " ..
       "patch of the current one. Install 2.21.12 first (refit apply kkp/upgrade --set installer=<the 2.21.12 " ..
       "kubermatic-installer>), then 2.22.9. KKP upgrades one minor version at a time, from the latest patch release " ..
       "of the current minor: 2.21.3 -> 2.22.9 skips 2.21.12. Run the hops one at a time: 2.21.3 -> 2.21.12, then " ..
       "2.21.12 -> 2.22.9")
end)

t.case("2.22 is refused while user clusters use Docker, naming each and the fix", function()
  local r = plan { sim = DOCKER }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["no-docker-runtime"],
       "KKP 2.22 supports only the containerd container runtime, and these user clusters use Docker: batchz4m7w " ..
       "(batch-jobs) on seed europe, legacyx8k2q (legacy-shop) on seed europe. Migrate each to containerd before the " ..
       "upgrade: on its seed, kubectl patch cluster <id> --type=merge -p '{\"spec\":{\"containerRuntime\":" ..
       "\"containerd\"}}' (or edit it in the dashboard), then rotate its MachineDeployments so the nodes are " ..
       "re-created with containerd")
end)

t.case("an installer of another release than the target is refused", function()
  local r = plan { set = { to = "2.22.5" } }
  assert_untouched(r)
  local checks = r:failed_checks { positions = false }
  t.eq(checks["installer-release"],
       "the installer ./kubermatic-installer installs KKP v2.22.9, not the target v2.22.5: download the KKP v2.22.5 " ..
       "release archive, extract it, and pass its kubermatic-installer with --set installer=PATH")
end)

t.case("a missing installer is refused with what to do", function()
  local r = plan { set = { installer = "/opt/kkp/kubermatic-installer" } }
  assert_untouched(r)
  local checks = r:failed_checks { positions = false }
  t.match(checks["kkp-master"], "^cannot run the installer /opt/kkp/kubermatic%-installer %(/opt/kkp/kubermatic%-installer " ..
          "version %-%-short exited 127: .*%): download the release archive of the target KKP version")
end)

t.case("an Unhealthy seed is refused before anything changes", function()
  local r = plan { sim = SEED_UNHEALTHY }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["seeds-healthy"],
       "every seed must be reachable, Healthy and at the master's KKP version before an upgrade: seed america: phase " ..
       "Unhealthy, ResourcesReconciled False (ReconcilingError: failed to reconcile seed-controller-manager: Deployment " ..
       "kubermatic/seed-controller-manager has no ready replicas). Fix the seeds first (kubectl -n kubermatic describe " ..
       "seed NAME shows why the operator cannot reconcile one)")
end)

---------------------------------------------------------------------------------------------------
-- Faults
---------------------------------------------------------------------------------------------------

t.case("kkp-deploy-fails: the installer fails, the run stops at the point of no return, the limit is reset", function()
  local r = plan { scenario = SCENARIOS .. "kkp-deploy-fails.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), {
    "backup[kkp-master]=succeeded",
    "backup[seed-us]=succeeded",
    "backup[seed-eu]=succeeded",
    "record-upgrade=succeeded",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=failed",
  })
  local failed = r:find("step_finished", { step = "deploy-master" })
  t.eq((failed.error:gsub("^[^:]+:%d+: ", "")),
       "./kubermatic-installer deploy kubermatic-master exited 1: ❌ Operation failed: failed to deploy Kubermatic " ..
       "Operator: failed to deploy Helm release: Error: UPGRADE FAILED: timed out waiting for the condition.")
  t.eq(r:find("irreversible_reached").step, "deploy-master")
  t.contains(r:find("irreversible_reached").recovery, "restore the KKP resources from the backup directory")
  -- the cleanup ran: the saved value is back
  t.eq(r:find("cleanup_finished", { step = "lower-parallel-reconciles" }).status, "succeeded")
  t.eq(parallel_limit(r), 10)
  -- the charts before the operator were upgraded; the operator's release failed; the seeds were not touched
  local rel = r.world.cloud.kkp.releases["kkp-master"]
  t.eq(rel.dex.version, "2.22.9")
  t.eq(rel["kubermatic-operator"].status, "failed")
  t.eq(kubermatic_config(r).status.kubermaticVersion, "v2.21.12")
  for _, seed in ipairs(r:objects("kkp-master", "Seed")) do t.eq(seed.status.versions.kubermatic, "v2.21.12") end
  -- the installer changed the master: the record stays for the re-run (not rolled back)
  t.eq(record(r)["refit.dev/upgrade-state"], "in-progress")
  t.eq(r:find("rollback_started", { step = "record-upgrade" }), nil)
end)

t.case("kkp-seed-unhealthy: wait-seeds names the seed and why; the limit is reset", function()
  local r = plan { scenario = SCENARIOS .. "kkp-seed-unhealthy.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  local f = r:find("step_finished", { step = "wait-seeds" })
  t.eq(f.status, "failed")
  t.contains(f.error, "timed out after 30m00s waiting for every Seed Healthy at v2.22.9: seed america: phase " ..
             "Unhealthy, ResourcesReconciled False (ReconcilingError: ")
  t.eq(f.error:find("seed europe", 1, true), nil)
  t.eq(parallel_limit(r), 10)
  t.eq(r:find("step_started", { step = "wait-user-clusters" }), nil)
end)

t.case("kkp-cluster-reconcile-stuck: wait-user-clusters names the laggard; the limit is reset", function()
  local r = plan { scenario = SCENARIOS .. "kkp-cluster-reconcile-stuck.yaml" }
  t.eq(r.status, "failed", r.output)
  local f = r:find("step_finished", { step = "wait-user-clusters" })
  t.eq(f.status, "failed")
  t.contains(f.error, "waiting for every user cluster SeedResourcesUpToDate at v2.22.9: 1 of 50 user clusters not " ..
             "SeedResourcesUpToDate at v2.22.9: payments7x2k (payments) on seed europe")
  t.eq(parallel_limit(r), 10)
  local stuck
  for _, c in ipairs(r:objects("seed-eu", "Cluster")) do
    if c.metadata.name == "payments7x2k" then stuck = c end
  end
  t.eq(stuck.status.conditions.SeedResourcesUpToDate.status, "False")
end)

---------------------------------------------------------------------------------------------------
-- Re-runs: the upgrade is recorded on the KubermaticConfiguration before the point of no return,
-- and a run after a failure resumes it (the recovery text promises it)
---------------------------------------------------------------------------------------------------

local IN_PROGRESS_RECORD = {
  ["refit.dev/upgrade-from"] = "v2.21.12", ["refit.dev/upgrade-to"] = TARGET,
  ["refit.dev/upgrade-state"] = "in-progress", ["refit.dev/upgrade-backup-dir"] = "kkp-backup-v2.21.12-to-v2.22.9",
}

t.case("the upgrade is recorded before the point of no return, after the backups", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  local rec = r:find("mutation", { step = "record-upgrade" })
  t.eq(rec.patch, { metadata = { annotations = IN_PROGRESS_RECORD } })
  local recorded = index_of(r, function(e) return e.event == "mutation" and e.step == "record-upgrade" end)
  local deploy = index_of(r, function(e) return e.event == "command" and e.argv[2] == "deploy" end)
  local last_backup = index_of(r, function(e) return e.event == "step_finished" and e.step == "backup[seed-eu]" end)
  t.ok(last_backup and recorded and deploy and last_backup < recorded and recorded < deploy,
       "backups, then the record, then the installer")
  t.eq(r:find("mutation", { step = "record-upgrade-done" }).patch,
       { metadata = { annotations = { ["refit.dev/upgrade-state"] = "done" } } })
end)

t.case("a failed run past the point of no return leaves the world the resume fixture describes", function()
  local r = plan { scenario = SCENARIOS .. "kkp-seed-unhealthy.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(record(r), IN_PROGRESS_RECORD)
  t.eq(kubermatic_config(r).status.kubermaticVersion, TARGET)
  t.eq(parallel_limit(r), 10)
  t.eq(seed_states(r), { america = "Unhealthy v2.21.12", europe = "Healthy v2.22.9" })
  -- the fixture says the same
  local fx = yaml.decode(t.read_file(RESUME))
  local master = fx.clusters[1].kkp
  t.eq(master.annotations, IN_PROGRESS_RECORD)
  t.eq(master.version, TARGET)
  t.eq(master.maximumParallelReconciles, 10)
  t.eq(master.seeds[2].name, "america")
  t.eq(master.seeds[2].phase, "Unhealthy")
  t.eq(fx.clusters[2].kkp.version, TARGET)
  t.eq(fx.clusters[3].kkp.version, "v2.21.12")
  -- and the recovery text tells the operator to run again
  t.contains(r:find("irreversible_reached").recovery, "run refit apply kkp/upgrade again with the same installer: it " ..
             "resumes the upgrade recorded on the KubermaticConfiguration kubermatic/kubermatic")
end)

t.case("re-run after the point of no return: resumes the recorded upgrade, skips what is done, finishes it", function()
  local r = plan { sim = RESUME }
  t.eq(r.status, "succeeded", r.output)
  t.eq(select(2, r:failed_checks()), 0)
  t.eq(r:find("state_set", { key = "from" }).value, "v2.21.12")
  t.eq(r:find("state_set", { key = "resume" }).value, "record")
  t.contains(r.output, "resuming the KKP upgrade v2.21.12 -> v2.22.9 recorded on the KubermaticConfiguration " ..
             "kubermatic/kubermatic (annotation refit.dev/upgrade-state: in-progress): the master runs v2.22.9; the steps " ..
             "already done are skipped")
  -- the seed behind the master is accepted (the operator upgrades it), and named
  t.contains(r.output, "seeds not yet Healthy at v2.22.9 (the KKP operator is upgrading them; wait-seeds waits for " ..
             "them): seed america: phase Unhealthy")
  t.eq(r:step_results(), {
    "backup[kkp-master]=skipped:done",
    "backup[seed-us]=skipped:done",
    "backup[seed-eu]=skipped:done",
    "record-upgrade=skipped:done",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=skipped:done",
    "seed-stack[america]=succeeded",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  -- the pre-upgrade backup is kept: nothing is written
  t.eq(r:find("file_written"), nil)
  t.contains(r.output, "cluster seed-us was backed up before the upgrade to kkp-backup-v2.21.12-to-v2.22.9/seed-us/ " ..
             "(recorded in annotation refit.dev/upgrade-backup-dir): kept as it is")
  t.eq(r:mutating_commands(), {
    "./kubermatic-installer deploy kubermatic-seed --config kubermatic.yaml --helm-values values.yaml --kube-context seed-us --helm-timeout 5m",
  })
  t.eq(seed_states(r), { america = "Healthy v2.22.9", europe = "Healthy v2.22.9" })
  for _, c in ipairs(r:objects("seed-us", "Cluster")) do
    t.eq(c.status.conditions.SeedResourcesUpToDate.kubermaticVersion, TARGET, c.metadata.name)
  end
  t.eq(record(r), done_record("v2.21.12", TARGET, "kkp-backup-v2.21.12-to-v2.22.9"))
  t.eq(parallel_limit(r), 10)
end)

t.case("re-run while the seed still fails: fails at wait-seeds again, the backup and the record kept", function()
  local r = plan { sim = RESUME, scenario = SCENARIOS .. "kkp-seed-unhealthy.yaml" }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:find("step_finished", { step = "wait-seeds" }).status, "failed")
  t.eq(r:find("file_written"), nil)
  t.eq(record(r), IN_PROGRESS_RECORD)
  t.eq(parallel_limit(r), 10)
  t.eq(kubermatic_config(r).metadata.annotations["refit.dev/saved-max-parallel-reconciles"], nil)
end)

t.case("re-run with the next release's installer while the recorded upgrade is unfinished is refused", function()
  local r = plan { sim = RESUME, set = { installer = "./kubermatic-v2.23.5/kubermatic-installer" } }
  assert_untouched(r)
  local checks = r:failed_checks { positions = false }
  t.eq(checks["version-route"],
       "the KKP upgrade v2.21.12 -> v2.22.9 recorded on the KubermaticConfiguration kubermatic/kubermatic (annotation " ..
       "refit.dev/upgrade-state: in-progress) is not finished: the master runs v2.22.9, the seeds and user clusters may " ..
       "not yet. Finish it first with the v2.22.9 kubermatic-installer (refit apply kkp/upgrade --set installer=PATH " ..
       "resumes it), then upgrade to v2.23.5")
end)

t.case("the master at the target without a record: resumes from the seeds' version, takes no backup", function()
  local r = plan { sim = MASTER_ONLY }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), {
    "record-upgrade=succeeded",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=skipped:done",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  t.eq(r:find("file_written"), nil)
  t.eq(r:warnings(), { "no backup: the master runs v2.22.9 already and the KubermaticConfiguration kubermatic/kubermatic " ..
    "records no pre-upgrade backup (annotation refit.dev/upgrade-backup-dir); a dump now would hold upgraded objects, " ..
    "not the state before the upgrade" })
  t.eq(record(r), { ["refit.dev/upgrade-from"] = "v2.21.12", ["refit.dev/upgrade-to"] = TARGET,
                    ["refit.dev/upgrade-state"] = "done" })
  t.eq(seed_states(r), { europe = "Healthy v2.22.9" })
end)

for _, case in ipairs { { UPGRADED, "recorded done" }, { UPGRADED_BY_HAND, "no record" } } do
  t.case("a completed upgrade run again (" .. case[2] .. "): already at v2.22.9, nothing to do, nothing changed", function()
    local r = plan { sim = case[1] }
    t.eq(r.status, "succeeded", r.output)
    t.eq(r.exit_code, 0)
    t.contains(r.output, "KKP master kkp-master is already at v2.22.9: nothing to do (every seed is Healthy and every " ..
               "user cluster SeedResourcesUpToDate at v2.22.9)")
    t.eq(r:step_results(), {
      "record-upgrade=skipped:when",
      "lower-parallel-reconciles=skipped:when",
      "deploy-master=skipped:when",
      "wait-seeds=skipped:when",
      "wait-user-clusters=skipped:when",
      "record-upgrade-done=skipped:when",
    })
    t.eq(r:find("mutation"), nil)
    t.eq(#r:mutating_commands(), 0)
    t.eq(r:find("file_written"), nil)
    t.eq(r.world, r.world_before)
  end)
end

t.case("a recorded backup directory is never written again: refused, naming it and what to do", function()
  local r = plan { sim = UPGRADED, set = { installer = "./kubermatic-v2.23.5/kubermatic-installer", backup_dir = "/var/backups/kkp/" } }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["backup-dir"],
       "backup_dir /var/backups/kkp/ holds the pre-upgrade backup of the KKP upgrade v2.21.12 -> v2.22.9 (annotation " ..
       "refit.dev/upgrade-backup-dir on the KubermaticConfiguration kubermatic/kubermatic): refit never overwrites a " ..
       "pre-upgrade backup. Pass another directory with --set backup_dir=DIR (and keep /var/backups/kkp for as long as " ..
       "you may need to restore v2.21.12)")
end)

t.case("the next upgrade after a recorded one: its own backup directory and record", function()
  local r = plan { sim = UPGRADED, set = { installer = "./kubermatic-v2.23.5/kubermatic-installer" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:all("file_written")[1].path, "kkp-backup-v2.22.9-to-v2.23.5/kkp-master/addonconfigs.kubermatic.k8c.io.yaml")
  t.eq(record(r), done_record("v2.22.9", "v2.23.5", "kkp-backup-v2.22.9-to-v2.23.5"))
end)

t.case("a deploy that fails before it changed anything rolls the record back (the next run starts afresh)", function()
  local r = plan { set = { kube_context = "kkp-prod" } }
  t.eq(r.status, "rolled_back", r.output)
  t.eq(r.exit_code, 3)
  t.eq(r:rollback_events(), {
    "rollback_started deploy-master",
    "step_rolled_back lower-parallel-reconciles succeeded",
    "step_rolled_back record-upgrade succeeded",
    "cleanup_finished lower-parallel-reconciles",
  })
  t.eq(record(r), nil)
  t.eq(record(r, r.world_before), nil)
  t.eq(parallel_limit(r), 10)
  t.eq(kubermatic_config(r).spec, r.world_before.clusters["kkp-master"].objects["kubermatic.k8c.io/KubermaticConfiguration"][1].spec)
end)

t.case("a run that died before its cleanup: the next run restores the saved limit and removes the annotation", function()
  local r = plan { sim = LIMIT_STUCK }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), {
    "backup[kkp-master]=skipped:done",
    "backup[seed-eu]=skipped:done",
    "record-upgrade=skipped:done",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=succeeded",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  t.contains(r.output, "maximumParallelReconciles is 2, lowered by an earlier run that ended before restoring it " ..
             "(annotation refit.dev/saved-max-parallel-reconciles: 10): this run restores it at its end")
  -- the saved value is kept while the run works at 2, then restored from the annotation
  t.eq(r:find("mutation", { step = "lower-parallel-reconciles", phase = "run" }), nil)
  t.eq(r:find("cleanup_finished", { step = "lower-parallel-reconciles" }).status, "succeeded")
  t.eq(parallel_limit(r), 10)
  t.eq(record(r), done_record("v2.21.12", TARGET, "/var/backups/kkp-2.21"))
end)

t.case("a stuck limit is restored even when the upgrade itself is done", function()
  local r = plan { sim = UPGRADED_LIMIT_STUCK }
  t.eq(r.status, "succeeded", r.output)
  t.contains(r.output, "KKP master kkp-master is already at v2.22.9: nothing to do")
  t.eq(r:step_results(), {
    "record-upgrade=skipped:when",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=skipped:when",
    "wait-seeds=skipped:when",
    "wait-user-clusters=skipped:when",
    "record-upgrade-done=skipped:when",
  })
  t.eq(#r:all("mutation"), 1)
  t.eq(r:find("mutation").phase, "cleanup")
  t.eq(parallel_limit(r), 7)
  t.eq(record(r), done_record("v2.21.12", TARGET, "/var/backups/kkp"))
end)

---------------------------------------------------------------------------------------------------
-- Seeds that need deploy kubermatic-seed, and the context that reaches them
---------------------------------------------------------------------------------------------------

t.case("a seed running the MLA stack gets deploy kubermatic-seed, through the context seed_contexts names", function()
  local r = plan { sim = MLA, set = { seed_contexts = "europe=eu-admin" } }
  t.eq(r.status, "succeeded", r.output)
  t.contains(r.output, "seed europe runs the MLA stack: kubermatic-installer deploy kubermatic-seed will use " ..
             "--kube-context eu-admin (from seed_contexts)")
  t.eq(r:step_results(), {
    "backup[kkp-master]=succeeded",
    "backup[seed-us]=succeeded",
    "backup[seed-eu]=succeeded",
    "record-upgrade=succeeded",
    "lower-parallel-reconciles=succeeded",
    "deploy-master=succeeded",
    "seed-stack[europe]=succeeded",
    "wait-seeds=succeeded",
    "wait-user-clusters=succeeded",
    "record-upgrade-done=succeeded",
  })
  t.eq(r:mutating_commands(), {
    "./kubermatic-installer deploy kubermatic-master --config kubermatic.yaml --helm-values values.yaml --helm-timeout 5m",
    "./kubermatic-installer deploy kubermatic-seed --config kubermatic.yaml --helm-values values.yaml --kube-context eu-admin --helm-timeout 5m",
  })
  -- the installer reached seed-eu through eu-admin
  t.eq(r.world.cloud.kkp.releases["seed-eu"].minio.version, "2.22.9")
  t.eq(r.world.cloud.kkp.releases["seed-us"], nil)
  -- the read-only look-up of the context ran before anything changed
  local lookup = index_of(r, function(e) return e.event == "command" and e.argv[1] == "kubectl" end)
  t.eq(r.events[lookup].argv, { "kubectl", "config", "get-contexts", "eu-admin", "-o", "name" })
  t.ok(lookup < index_of(r, function(e) return e.event == "step_started" end))
end)

t.case("a seed needing deploy kubermatic-seed without a context in the kubeconfig is refused before anything changes", function()
  local r = plan { sim = MLA }
  assert_untouched(r)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 1)
  t.eq(checks["seed-contexts"],
       "seed europe runs the MLA stack and needs kubermatic-installer deploy kubermatic-seed, but its context seed-eu " ..
       "(the name of the seed's cluster in its Seed kubeconfig; --set seed_contexts=europe=CONTEXT names another) is " ..
       "not in the installer's kubeconfig ($KUBECONFIG): error: context seed-eu not found. Pass the context of your " ..
       "kubeconfig that reaches each such seed's cluster with --set seed_contexts=SEED=CONTEXT (comma-separated for " ..
       "several seeds); refit does not write kubeconfigs")
end)

t.case("seed_contexts entries must be SEED=CONTEXT of a Seed of the master", function()
  local r = plan { sim = MLA, set = { seed_contexts = "europe" } }
  assert_untouched(r)
  t.eq(r:failed_checks({ positions = false })["seed-contexts"],
       "seed_contexts entry \"europe\" is not SEED=CONTEXT (e.g. --set seed_contexts=america=seed-us-admin)")
  r = plan { sim = MLA, set = { seed_contexts = "europe=eu-admin,asia=asia-admin" } }
  assert_untouched(r)
  t.eq(r:failed_checks({ positions = false })["seed-contexts"],
       "seed_contexts names the seed asia, but the master kkp-master has no such Seed (seeds: america, europe)")
end)

---------------------------------------------------------------------------------------------------
-- What the operator reads
---------------------------------------------------------------------------------------------------

t.case("messages cite the KKP documents, never refit's seed files", function()
  for _, r in ipairs {
    plan {}, plan { sim = SKIPS_MINOR }, plan { sim = OLD_PATCH }, plan { sim = DOCKER }, plan { sim = SEED_UNHEALTHY },
    plan { scenario = SCENARIOS .. "kkp-deploy-fails.yaml" }, plan { sim = RESUME }, plan { sim = MLA },
  } do
    local text = r.output .. json.encode(r.events)
    t.eq(text:match("[Ss]eed 0%d%d"), nil, r.output)
  end
  local doc = t.read_file("docs/kkp.md")
  t.eq(doc:match("[Ss]eed 0%d%d"), nil, "docs/kkp.md cites a seed file")
end)

t.case("docs/kkp.md warns that the backup directory holds credentials and must stay private", function()
  local doc = t.read_file("docs/kkp.md")
  t.contains(doc, "The backup directory holds credentials")
  t.contains(doc, "mode 0600")
end)

---------------------------------------------------------------------------------------------------
-- The simulated load: the limit counts clusters not yet SeedResourcesUpToDate
---------------------------------------------------------------------------------------------------

t.case("50 user clusters take far longer at maximumParallelReconciles 2 than at 10", function()
  local slow = plan { set = { upgrade_parallel_reconciles = 2 } }
  local fast = plan { set = { upgrade_parallel_reconciles = 10 } }
  t.eq(slow.status, "succeeded", slow.output)
  t.eq(fast.status, "succeeded", fast.output)
  local slow_ms = slow:find("step_finished", { step = "wait-user-clusters" }).duration
  local fast_ms = fast:find("step_finished", { step = "wait-user-clusters" }).duration
  -- 25 clusters per seed, 1-3 minutes each: about 13 rounds at 2, 3 at 10
  t.ok(slow_ms > 3 * fast_ms, string.format("at 2: %d ms, at 10: %d ms", slow_ms, fast_ms))
  t.ok(slow_ms >= 15 * 60000 and slow_ms <= 60 * 60000, "at 2 the seeds need 15-60 minutes, took " .. slow_ms)
  t.ok(fast_ms >= 3 * 60000 and fast_ms <= 15 * 60000, "at 10 the seeds need 3-15 minutes, took " .. fast_ms)
end)

---------------------------------------------------------------------------------------------------
-- Secrets
---------------------------------------------------------------------------------------------------

t.case("the seeds' kubeconfigs never appear in the output or the events", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  local events = json.encode(r.events)
  local n = 0
  for _, s in ipairs(r:objects("kkp-master", "Secret")) do
    if s.metadata.name:match("^kubeconfig%-") then
      local text = assert(base64.decode(s.data.kubeconfig))
      local token = text:match("token: (%S+)")
      t.ok(token and #token > 20, "the fixture's kubeconfig has a token")
      t.eq(r.output:find(token, 1, true), nil, "token in the output")
      t.eq(events:find(token, 1, true), nil, "token in the events")
      t.eq(events:find(s.data.kubeconfig, 1, true), nil, "kubeconfig in the events")
      n = n + 1
    end
  end
  t.eq(n, 2)
end)
