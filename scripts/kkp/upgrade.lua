-- kkp/upgrade: upgrade a Kubermatic Kubernetes Platform (KKP) installation by one release (seed 003,
-- the KKP documentation's "General Guidelines", which apply to every upgrade, patch to patch included).
--
-- The guidelines, in their order, and where each lives here:
--   "Create Backups": dump every CRD whose name contains "kubermatic" (`kubectl get <crd> -A -o yaml`)
--     on the master and on every seed cluster                              -> step backup[<cluster>]
--   "Upgrade Versioning Policy": one minor version at a time, from the latest patch of the current
--     minor (scripts/kkp/data/paths.yaml)                                   -> check version-route
--   "Prepare for Reconciliation Load": lower spec.seedController.maximumParallelReconciles before the
--     upgrade, observe the seed load afterwards, then reset it              -> step lower-parallel-reconciles
--                                                                              (its cleanup resets it)
-- and from the KKP upgrade guides: the upgrade itself is `kubermatic-installer deploy kubermatic-master`
-- of the target release (KKP has no downgrade: a point of no return); since 2.21 the operator
-- upgrades the seeds (deploy kubermatic-seed only where a seed runs the bundled MinIO); done means
-- every Seed Healthy at the target and every user cluster SeedResourcesUpToDate; KKP 2.22 refuses
-- user clusters on the Docker container runtime. docs/kkp.md explains each step.

local refit = require "refit"
local yaml = require "refit.yaml"
local json = require "refit.json"
local semver = require "refit.semver"
local base64 = require "refit.base64"
local paths = require "refit.paths"
local resource = require "refit.resource"

local NS = "kubermatic"
local API = "kubermatic.k8c.io/v1"
local CONFIG_REF = { apiVersion = API, kind = "KubermaticConfiguration", namespace = NS, name = "kubermatic" }
-- KKP's default when the KubermaticConfiguration does not set it (seed 003)
local DEFAULT_PARALLEL_RECONCILES = 10
-- how many laggards a message names before it says "and N more"
local NAME_AT_MOST = 10

---------------------------------------------------------------------------------------------------
-- Where we are and where we go
---------------------------------------------------------------------------------------------------

-- A string param left unset arrives as "".
local function given(s)
  if s == nil or s == "" then return nil end
  return s
end

local function vtag(v) return "v" .. semver.tostring(v) end

local function config(ctx)
  return ctx.cluster:get(CONFIG_REF)
end

-- The version the installer at ctx.params.installer installs ("Kubermatic ... Installer v2.22.9").
local function installer_version(ctx)
  local r = ctx:exec { ctx.params.installer, "version", "--short", check = false }
  if r.code ~= 0 then
    error(string.format("cannot run the installer %s (%s version --short exited %d: %s): download the release " ..
                        "archive of the target KKP version, extract it, and pass its kubermatic-installer with " ..
                        "--set installer=PATH", ctx.params.installer, ctx.params.installer, r.code,
                        (r.stderr ~= "" and r.stderr or r.stdout):gsub("%s+$", "")), 0)
  end
  local v = r.stdout:match("(v?%d+%.%d+%.%d+[%w.+-]*)%s*$")
  if not v then
    error(string.format("%s version --short printed %q: no KKP version in it", ctx.params.installer, r.stdout), 0)
  end
  return v
end

-- The hop of this run, fixed once in ctx.state: from (the master's KKP version when the run started)
-- and to (the target: --set to, else the installer's version). After the deploy the master is at
-- `to`, and the route must not move with it.
local function route(ctx)
  if ctx.state.to then return ctx.state.from, ctx.state.to end
  local cfg = config(ctx)
  if not cfg then
    error(string.format("cluster %s has no KubermaticConfiguration %s/kubermatic: it is not a KKP master (run " ..
                        "refit against the master cluster)", ctx.cluster:name(), NS), 0)
  end
  local current = cfg.status and cfg.status.kubermaticVersion
  if not given(current) then
    error(string.format("the KubermaticConfiguration %s/kubermatic on %s has no status.kubermaticVersion: the " ..
                        "KKP operator has not reconciled it yet; wait until it has", NS, ctx.cluster:name()), 0)
  end
  local to = given(ctx.params.to) or installer_version(ctx)
  ctx.state.from = vtag(current)
  ctx.state.to = vtag(to)
  return ctx.state.from, ctx.state.to
end

local function route_or_nil(ctx)
  local ok, from, to = pcall(route, ctx)
  if ok then return from, to end
  return nil
end

local function target(ctx)
  local _, to = route(ctx)
  return to
end

local function minor(v) return semver.parse(v).minor end

-- The supported upgrades, from scripts/kkp/data/paths.yaml (the KKP Upgrade Versioning Policy).
local function upgrade_paths()
  -- resource() reads relative to the chunk that calls it
  return paths.load(resource("data/paths.yaml"), "scripts/kkp/data/paths.yaml")
end

-- Whether this run's hop is one KKP supports; when it is not, version-route says why, and the
-- checks that depend on the hop stay quiet rather than repeat it.
local function valid_hop(ctx)
  local from, to = route_or_nil(ctx)
  if not from then return false end
  local ok = upgrade_paths():check(from, to)
  return ok
end

---------------------------------------------------------------------------------------------------
-- Seeds and their clusters
---------------------------------------------------------------------------------------------------

local function seed_list(ctx)
  local seeds = ctx.cluster:list { apiVersion = API, kind = "Seed", namespace = NS }
  table.sort(seeds, function(a, b) return a.metadata.name < b.metadata.name end)
  return seeds
end

-- A handle on a Seed's cluster, through the kubeconfig its Secret holds (spec.kubeconfig; key
-- `kubeconfig`), as KKP itself reaches it. Returns handle, or nil and why.
local function connect_seed(ctx, seed)
  local ref = seed.spec and seed.spec.kubeconfig
  local name = seed.metadata.name
  if not (ref and given(ref.name)) then
    return nil, string.format("Seed %s has no spec.kubeconfig: KKP cannot reach it either", name)
  end
  local ns = given(ref.namespace) or NS
  local secret = ctx.cluster:get { kind = "Secret", namespace = ns, name = ref.name }
  local where = string.format("Secret %s/%s", ns, ref.name)
  if not secret then return nil, string.format("Seed %s: its kubeconfig %s does not exist", name, where) end
  local encoded = secret.data and secret.data[given(ref.fieldPath) or "kubeconfig"]
  if not encoded then return nil, string.format("Seed %s: %s has no key kubeconfig", name, where) end
  local text, why = base64.decode(encoded)
  if not text then return nil, string.format("Seed %s: the kubeconfig in %s is not base64 (%s)", name, where, why) end
  local ok, handle = pcall(ctx.connect, ctx, text, "the kubeconfig of Seed " .. name .. " (" .. where .. ")")
  if not ok then return nil, string.format("Seed %s is not reachable: %s", name, tostring(handle):gsub("^[^:]+:%d+: ", "")) end
  return handle
end

-- { { seed = obj, name =, cluster = handle }, ... }; raises when a seed cannot be reached.
local function seeds(ctx)
  local out = {}
  for _, seed in ipairs(seed_list(ctx)) do
    local handle, why = connect_seed(ctx, seed)
    if not handle then error(why, 0) end
    out[#out + 1] = { seed = seed, name = seed.metadata.name, cluster = handle }
  end
  return out
end

local function user_clusters(handle)
  local list = handle:list { apiVersion = API, kind = "Cluster" }
  table.sort(list, function(a, b) return a.metadata.name < b.metadata.name end)
  return list
end

local function cluster_label(c)
  local name = c.spec and c.spec.humanReadableName
  if given(name) and name ~= c.metadata.name then return c.metadata.name .. " (" .. name .. ")" end
  return c.metadata.name
end

-- "a, b, c and 7 more"
local function some(list)
  if #list <= NAME_AT_MOST then return table.concat(list, ", ") end
  return table.concat(list, ", ", 1, NAME_AT_MOST) .. string.format(" and %d more", #list - NAME_AT_MOST)
end

local function condition(obj, ctype)
  local conds = obj.status and obj.status.conditions
  return type(conds) == "table" and conds[ctype] or nil
end

-- What keeps a Seed from being done at `version` (nil when it is): phase Healthy, condition
-- ResourcesReconciled True, status.versions.kubermatic == version (seed 003's done checks).
local function seed_lag(seed, version)
  local st = seed.status or {}
  local problems = {}
  if st.phase ~= "Healthy" then problems[#problems + 1] = "phase " .. tostring(st.phase) end
  local rr = condition(seed, "ResourcesReconciled")
  if not (rr and rr.status == "True") then
    problems[#problems + 1] = string.format("ResourcesReconciled %s%s", rr and rr.status or "missing",
      rr and given(rr.reason) and string.format(" (%s%s)", rr.reason, given(rr.message) and (": " .. rr.message) or "") or "")
  end
  local v = st.versions and st.versions.kubermatic
  if version and v ~= version then problems[#problems + 1] = "KKP " .. tostring(v) end
  if #problems == 0 then return nil end
  return "seed " .. seed.metadata.name .. ": " .. table.concat(problems, ", ")
end

local function cluster_up_to_date(c, version)
  local cond = condition(c, "SeedResourcesUpToDate")
  return cond ~= nil and cond.status == "True" and (version == nil or cond.kubermaticVersion == version)
end

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

local function check_master(ctx)
  local from, to = route(ctx)
  ctx.log("KKP master %s runs %s; the target is %s", ctx.cluster:name(), from, to)
end

-- The installer is the release it installs: the one run must be the target's.
local function check_installer(ctx)
  local _, to = route_or_nil(ctx)
  if not to then return end   -- kkp-master says why
  local v = installer_version(ctx)
  ctx:require(semver.compare(v, to) == 0, "the installer %s installs KKP %s, not the target %s: download the KKP " ..
              "%s release archive, extract it, and pass its kubermatic-installer with --set installer=PATH",
              ctx.params.installer, vtag(v), to, to)
end

-- Upgrade Versioning Policy (seed 003): one minor at a time, from the latest patch of the current one.
local function check_version_route(ctx)
  local from, to = route_or_nil(ctx)
  if not from then return end   -- kkp-master says why
  local g = upgrade_paths()
  local hops, why = g:route(from, to)
  if not hops then ctx:fail("%s", why) end
  if #hops == 2 then return end
  local _, message = g:check(from, to)
  if semver.same_minor(hops[1], hops[2]) then
    -- the first hop is a patch upgrade: the current minor's latest patch comes first
    ctx:fail("KKP %s is not the latest %s patch release (%s): KKP moves to the next minor only from the latest " ..
             "patch of the current one. Install %s first (refit apply kkp/upgrade --set installer=<the %s " ..
             "kubermatic-installer>), then %s. %s", semver.tostring(from), semver.minor_of(from), hops[2], hops[2],
             hops[2], semver.tostring(to), message)
  end
  ctx:fail("%s (one refit apply kkp/upgrade per hop, each with that release's kubermatic-installer: --set " ..
           "installer=PATH)", message)
end

-- Every seed reachable through its kubeconfig, Healthy, and at the master's version (a seed still on
-- an older one has not finished the last upgrade).
local function check_seeds(ctx)
  local from = route_or_nil(ctx)
  local problems = {}
  local list = seed_list(ctx)
  ctx:require(#list > 0, "the master %s has no Seed in namespace %s: KKP needs at least one seed", ctx.cluster:name(), NS)
  for _, seed in ipairs(list) do
    local handle, why = connect_seed(ctx, seed)
    local lag = seed_lag(seed, from)
    if not handle then problems[#problems + 1] = why
    elseif lag then problems[#problems + 1] = lag end
  end
  ctx:require(#problems == 0, "every seed must be reachable, Healthy and at the master's KKP version before an " ..
              "upgrade: %s. Fix the seeds first (kubectl -n %s describe seed NAME shows why the operator cannot " ..
              "reconcile one)", table.concat(problems, "; "), NS)
end

-- KKP 2.22 removed the Docker container runtime: the installer refuses while a user cluster uses it.
local function check_docker(ctx)
  if not valid_hop(ctx) then return end
  local _, to = route(ctx)
  if minor(to) < 22 then return end
  local docker = {}
  for _, s in ipairs(seeds(ctx)) do
    for _, c in ipairs(user_clusters(s.cluster)) do
      if c.spec.containerRuntime == "docker" then
        docker[#docker + 1] = string.format("%s on seed %s", cluster_label(c), s.name)
      end
    end
  end
  ctx:require(#docker == 0, "KKP %s supports only the containerd container runtime, and these user clusters use " ..
    "Docker: %s. Migrate each to containerd before the upgrade: on its seed, kubectl patch cluster <id> --type=merge " ..
    "-p '{\"spec\":{\"containerRuntime\":\"containerd\"}}' (or edit it in the dashboard), then rotate its " ..
    "MachineDeployments so the nodes are re-created with containerd", semver.minor_of(to), some(docker))
end

-- Clusters already behind before the upgrade: the upgrade guides advise against submitting
-- unhealthy user clusters. A warning: they do not block the installer.
local function check_user_clusters(ctx)
  local behind = {}
  for _, s in ipairs(seeds(ctx)) do
    for _, c in ipairs(user_clusters(s.cluster)) do
      if not cluster_up_to_date(c) then behind[#behind + 1] = cluster_label(c) .. " on seed " .. s.name end
    end
  end
  if #behind > 0 then
    ctx.log.warn("these user clusters are not SeedResourcesUpToDate before the upgrade (the KKP upgrade guides advise " ..
                 "fixing unhealthy user clusters first): %s", some(behind))
  end
end

---------------------------------------------------------------------------------------------------
-- Steps
---------------------------------------------------------------------------------------------------

local function backup_dir(ctx)
  if given(ctx.params.backup_dir) then return ctx.params.backup_dir end
  local from, to = route(ctx)
  return string.format("kkp-backup-%s-to-%s", from, to)
end

-- `kubectl get <crd> -A -o yaml` of every kubermatic CRD of one cluster, one file per CRD (seed 003,
-- "Create Backups"), in kubectl's format (a List) so that `kubectl apply -f` restores it.
local function backup_cluster(ctx, item)
  local handle = item.master and ctx.cluster or assert(connect_seed(ctx, item.seed_object))
  local dir = backup_dir(ctx) .. "/" .. item.name
  local crds = {}
  for _, crd in ipairs(handle:list { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition" }) do
    if crd.metadata.name:find("kubermatic", 1, true) then crds[#crds + 1] = crd end
  end
  table.sort(crds, function(a, b) return a.metadata.name < b.metadata.name end)
  ctx:require(#crds > 0, "cluster %s has no CustomResourceDefinition whose name contains \"kubermatic\": nothing " ..
              "to back up (is it a KKP cluster?)", item.name)
  local objects = 0
  for _, crd in ipairs(crds) do
    local version
    for _, v in ipairs(crd.spec.versions or {}) do
      if v.storage or not version then version = v.name end
    end
    local items = handle:list { apiVersion = crd.spec.group .. "/" .. version, kind = crd.spec.names.kind }
    table.sort(items, function(a, b)
      return (a.metadata.namespace or "") .. "/" .. a.metadata.name < (b.metadata.namespace or "") .. "/" .. b.metadata.name
    end)
    objects = objects + #items
    ctx:write_file(dir .. "/" .. crd.metadata.name .. ".yaml", yaml.encode {
      apiVersion = "v1", kind = "List", items = json.array(items), metadata = { resourceVersion = "" },
    })
  end
  ctx.log("backed up %d objects of %d kubermatic CRDs of cluster %s to %s/", objects, #crds, item.name, dir)
end

local function backup_items(ctx)
  local items = { { name = ctx.cluster:name(), master = true } }
  for _, s in ipairs(seeds(ctx)) do
    items[#items + 1] = { name = s.cluster:name(), seed = s.name, seed_object = s.seed }
  end
  return items
end

local function parallel_limit(cfg)
  local sc = cfg.spec and cfg.spec.seedController
  return sc and sc.maximumParallelReconciles
end

-- Prepare for Reconciliation Load (seed 003): lower the limit before the upgrade; the cleanup puts
-- the saved value back at the end of the run, after the waits, whatever happened.
local function lower_parallel_step()
  return refit.step "lower-parallel-reconciles" {
    summary = "lower spec.seedController.maximumParallelReconciles for the upgrade (restored at the end of the run)",
    when = function(ctx)
      local current = parallel_limit(config(ctx)) or DEFAULT_PARALLEL_RECONCILES
      if current <= ctx.params.upgrade_parallel_reconciles then
        ctx.log("maximumParallelReconciles is %d already, not above %d: left as it is", current,
                ctx.params.upgrade_parallel_reconciles)
        return false
      end
      return true
    end,
    run = function(ctx)
      local set = parallel_limit(config(ctx))
      ctx.state.saved_parallel_reconciles = set or DEFAULT_PARALLEL_RECONCILES
      ctx.state.parallel_reconciles_was_set = set ~= nil
      ctx.cluster:patch(CONFIG_REF, { spec = { seedController = {
        maximumParallelReconciles = ctx.params.upgrade_parallel_reconciles } } })
      ctx.log("maximumParallelReconciles lowered from %d%s to %d for the upgrade", ctx.state.saved_parallel_reconciles,
              set and "" or " (KKP's default)", ctx.params.upgrade_parallel_reconciles)
    end,
    cleanup = function(ctx)
      local saved = ctx.state.saved_parallel_reconciles
      if saved == nil then return end
      if ctx.state.parallel_reconciles_was_set then
        ctx.cluster:patch(CONFIG_REF, { spec = { seedController = { maximumParallelReconciles = saved } } })
      else
        -- it was KKP's default: remove the field again rather than pin the default
        ctx.cluster:patch(CONFIG_REF, { { op = "remove", path = "/spec/seedController/maximumParallelReconciles" } },
                          { type = "json" })
      end
      ctx.log("maximumParallelReconciles reset to %d", saved)
    end,
  }
end

local RECOVERY_TEXT = "KKP does not support downgrades: the master runs (parts of) the target release. Fix what " ..
  "failed and run refit apply kkp/upgrade again with the same installer (it completes the upgrade), or reinstall " ..
  "the previous release with its own kubermatic-installer and restore the KKP resources from the backup directory " ..
  "(backup_dir: kubectl apply -f <backup_dir>/<cluster>/ on the master and on each seed)"

-- "5m" for 300000: the installer takes Go durations
local function go_duration(ms)
  if ms % 60000 == 0 then return (ms // 60000) .. "m" end
  return (ms // 1000) .. "s"
end

local function installer_args(ctx, stack, context)
  local argv = { ctx.params.installer, "deploy", stack, "--config", ctx.params.config,
                 "--helm-values", ctx.params.helm_values }
  if given(ctx.params.kubeconfig) then argv[#argv + 1] = "--kubeconfig"; argv[#argv + 1] = ctx.params.kubeconfig end
  context = context or given(ctx.params.kube_context)
  if context then argv[#argv + 1] = "--kube-context"; argv[#argv + 1] = context end
  argv[#argv + 1] = "--helm-timeout"
  argv[#argv + 1] = go_duration(ctx.params.helm_timeout)
  argv.mutates = true
  argv.check = false
  -- the installer waits for every Helm release (up to --helm-timeout each) and validates first
  argv.timeout = ctx.params.helm_timeout * 8 + 10 * 60000
  return argv
end

-- Runs the installer; on failure raises with what it printed as errors (the logrus ERRO lines).
local function run_installer(ctx, argv)
  local r = ctx:exec(argv)
  if r.code == 0 then return r end
  local errors = {}
  for line in (r.stderr .. "\n" .. r.stdout):gmatch("[^\n]+") do
    local msg = line:match("^ERRO%[%d+%]%s*(.-)%s*$") or line:match("level=error msg=\"(.-)\"")
    if msg then errors[#errors + 1] = msg end
  end
  local detail = #errors > 0 and table.concat(errors, " ") or (r.stderr ~= "" and r.stderr or r.stdout)
  ctx:fail("%s deploy %s exited %d: %s", ctx.params.installer, argv[3], r.code, detail)
end

local function deploy_master_step()
  return refit.step "deploy-master" {
    summary = "kubermatic-installer deploy kubermatic-master of the target release (validates the installation first)",
    done = function(ctx)
      local cfg = config(ctx)
      return cfg.status and cfg.status.kubermaticVersion == target(ctx)
    end,
    run = function(ctx)
      ctx.log("point of no return: KKP %s -> %s (KKP does not support downgrades)", ctx.state.from, target(ctx))
      run_installer(ctx, installer_args(ctx, "kubermatic-master"))
    end,
    -- the new operator takes over and stamps its version on the KubermaticConfiguration
    verify = function(ctx)
      local to = target(ctx)
      ctx:wait("the KKP operator at " .. to, function()
        local cfg = config(ctx)
        local v = cfg.status and cfg.status.kubermaticVersion
        if v ~= to then return false, "KubermaticConfiguration status.kubermaticVersion is " .. tostring(v) end
        return true
      end, { timeout = "10m", interval = "15s" })
    end,
    irreversible = RECOVERY_TEXT,
  }
end

-- Seeds running the bundled MinIO (Deployment minio/minio) need `deploy kubermatic-seed` (seed 003:
-- "since 2.21 seeds are upgraded automatically by KKP unless they run the bundled MinIO or MLA stack").
local function seed_stack_items(ctx)
  local items = {}
  for _, s in ipairs(seeds(ctx)) do
    if s.cluster:get { kind = "Deployment", namespace = "minio", name = "minio" } then
      items[#items + 1] = { name = s.name, cluster = s.cluster:name() }
    end
  end
  return items
end

local function seed_stack_step(item)
  return {
    summary = "kubermatic-installer deploy kubermatic-seed on seed " .. item.name .. " (it runs the bundled MinIO)",
    run = function(ctx)
      run_installer(ctx, installer_args(ctx, "kubermatic-seed", item.cluster))
    end,
    irreversible = RECOVERY_TEXT,
  }
end

local function wait_seeds_step()
  return refit.step "wait-seeds" {
    summary = "every Seed Healthy, ResourcesReconciled and at the target version (the operator upgrades them)",
    verify = function(ctx)
      local to = target(ctx)
      ctx:wait("every Seed Healthy at " .. to, function()
        local lag = {}
        for _, seed in ipairs(seed_list(ctx)) do
          local why = seed_lag(seed, to)
          if why then lag[#lag + 1] = why end
        end
        if #lag > 0 then return false, table.concat(lag, "; ") .. string.format(
          " (kubectl -n %s describe seed NAME shows what keeps the KKP operator from updating it)", NS) end
        return true
      end, { timeout = ctx.params.seed_timeout, interval = "30s" })
      ctx.log("every seed is Healthy at %s", to)
    end,
  }
end

local function wait_clusters_step()
  return refit.step "wait-user-clusters" {
    summary = "every user cluster SeedResourcesUpToDate at the target (at most maximumParallelReconciles at a time)",
    verify = function(ctx)
      local to = target(ctx)
      local started = ctx:now()
      local total = 0
      ctx:wait("every user cluster SeedResourcesUpToDate at " .. to, function()
        local lag = {}
        total = 0
        for _, s in ipairs(seeds(ctx)) do
          for _, c in ipairs(user_clusters(s.cluster)) do
            total = total + 1
            if not cluster_up_to_date(c, to) then lag[#lag + 1] = cluster_label(c) .. " on seed " .. s.name end
          end
        end
        if #lag > 0 then
          return false, string.format("%d of %d user clusters not SeedResourcesUpToDate at %s: %s (on a cluster's " ..
            "seed, kubectl -n cluster-<id> get pods shows which control-plane component does not finish)", #lag,
            total, to, some(lag))
        end
        return true
      end, { timeout = ctx.params.cluster_timeout, interval = "30s" })
      ctx.log("all %d user clusters are SeedResourcesUpToDate at %s, %d min after the seeds", total, to,
              (ctx:now() - started) // 60000)
    end,
  }
end

---------------------------------------------------------------------------------------------------
-- The playbook
---------------------------------------------------------------------------------------------------

local steps = {
  summary = "Upgrade Kubermatic KKP by one release: backups, lower reconcile load, kubermatic-installer, wait for seeds and user clusters",
  description = [[
Upgrades a KKP installation by one release (a patch, or the next minor from the latest patch of the
current one), following the KKP documentation's General Guidelines: refuses a skipped minor or an old
patch with the route to take, refuses KKP 2.22+ while a user cluster uses Docker, and requires every
seed reachable and Healthy; backs up every kubermatic CRD's objects on the master and on every seed
(kubectl get <crd> -A -o yaml format, one file per cluster and CRD under backup_dir); lowers
spec.seedController.maximumParallelReconciles for the upgrade; runs kubermatic-installer deploy
kubermatic-master of the target release (the point of no return: KKP has no downgrade) and deploy
kubermatic-seed on seeds that run the bundled MinIO; waits for every Seed Healthy at the target and
every user cluster SeedResourcesUpToDate; then resets maximumParallelReconciles (also when the run
fails). The target is the release of the installer (--set installer=PATH, default ./kubermatic-installer).
See docs/kkp.md.]],
  params = {
    to = refit.param.version { help = "target KKP version, e.g. 2.22.9 (default: the installer's version; the two must agree)" },
    installer = refit.param.string { default = "./kubermatic-installer",
                                     help = "the kubermatic-installer of the target release (from its release archive)" },
    config = refit.param.string { default = "kubermatic.yaml", help = "--config: the KubermaticConfiguration YAML" },
    helm_values = refit.param.string { default = "values.yaml", help = "--helm-values: the Helm values of the installation" },
    kubeconfig = refit.param.string { help = "--kubeconfig for the installer (default: $KUBECONFIG)" },
    kube_context = refit.param.string { help = "--kube-context of the master for the installer" },
    helm_timeout = refit.param.duration { default = "5m", help = "--helm-timeout: how long each Helm release may take" },
    backup_dir = refit.param.string { help = "where the backups go (default kkp-backup-<from>-to-<to>): <dir>/<cluster>/<crd>.yaml" },
    upgrade_parallel_reconciles = refit.param.int { default = 2, min = 1,
      help = "maximumParallelReconciles during the upgrade (the saved value is restored at the end)" },
    seed_timeout = refit.param.duration { default = "30m", help = "limit for every seed to be Healthy at the target" },
    cluster_timeout = refit.param.duration { default = "3h", help = "limit for every user cluster to be up to date" },
  },
  preflight = {
    refit.check "kkp-master" (check_master),
    refit.check "installer-release" (check_installer),
    refit.check "version-route" (check_version_route),
    refit.check "seeds-healthy" (check_seeds),
    refit.check "no-docker-runtime" (check_docker),
    refit.check "user-clusters" (check_user_clusters),
  },
}
steps[#steps + 1] = refit.each "backup" {
  summary = "dump every kubermatic CRD's objects of the master and of each seed to backup_dir/<cluster>/<crd>.yaml",
  items = backup_items,
  step = function(item)
    return {
      summary = "back up the kubermatic CRDs' objects of cluster " .. item.name,
      run = function(ctx) backup_cluster(ctx, item) end,
    }
  end,
}
steps[#steps + 1] = lower_parallel_step()
steps[#steps + 1] = deploy_master_step()
steps[#steps + 1] = refit.each "seed-stack" {
  summary = "kubermatic-installer deploy kubermatic-seed on each seed that runs the bundled MinIO",
  items = seed_stack_items,
  step = seed_stack_step,
}
steps[#steps + 1] = wait_seeds_step()
steps[#steps + 1] = wait_clusters_step()

return refit.playbook "kkp/upgrade" (steps)
