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
-- upgrades the seeds (deploy kubermatic-seed only where a seed runs the bundled MinIO or MLA); done means
-- every Seed Healthy at the target and every user cluster SeedResourcesUpToDate; KKP 2.22 refuses
-- user clusters on the Docker container runtime. docs/kkp.md explains each step.
--
-- Re-runs: the run records itself on the KubermaticConfiguration before the point of no return
-- (annotations under refit.dev/, see ANNOTATIONS), so that a run after a failure past deploy-master
-- resumes the recorded upgrade (its starting version, its backup directory) instead of refusing it,
-- and a run killed before its cleanup still finds the parallel-reconcile limit to restore.

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

-- What the playbook records on the KubermaticConfiguration kubermatic/kubermatic (docs/kkp.md, "What
-- refit records in the cluster"): a run's files and ctx.state die with it, these survive it.
local ANNOTATIONS = {
  from = "refit.dev/upgrade-from",               -- the master's KKP version when the upgrade started
  to = "refit.dev/upgrade-to",                   -- its target
  state = "refit.dev/upgrade-state",             -- "in-progress", then "done"
  backup_dir = "refit.dev/upgrade-backup-dir",   -- where its pre-upgrade backup was written
  saved_limit = "refit.dev/saved-max-parallel-reconciles",  -- the limit before it was lowered ("unset": KKP's default)
}
local IN_PROGRESS, DONE, UNSET = "in-progress", "done", "unset"
local CONFIG_NAME = NS .. "/kubermatic"

---------------------------------------------------------------------------------------------------
-- Where we are and where we go
---------------------------------------------------------------------------------------------------

-- A string param left unset arrives as "".
local given = refit.given

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

-- The upgrade record (ANNOTATIONS) of a KubermaticConfiguration: { from =, to =, state =, backup_dir = }.
-- Versions are normalized ("v2.21.12"); one that is not a version reads as absent.
local function upgrade_record(cfg)
  local a = (cfg and cfg.metadata and cfg.metadata.annotations) or {}
  local function version(key)
    local v = given(a[key])
    return v and semver.parse(v) and vtag(v) or nil
  end
  return { from = version(ANNOTATIONS.from), to = version(ANNOTATIONS.to), state = given(a[ANNOTATIONS.state]),
           backup_dir = given(a[ANNOTATIONS.backup_dir]), saved_limit = given(a[ANNOTATIONS.saved_limit]) }
end

local function seed_version(seed)
  local v = seed.status and seed.status.versions and seed.status.versions.kubermatic
  return given(v)
end

-- The hop of this run, fixed once in ctx.state: from and to (the target: --set to, else the
-- installer's version). After the deploy the master is at `to`, and the route must not move with it.
--   a new upgrade: from is the master's KKP version;
--   a resumption (ctx.state.resume): the master is at the target already, or the record says an
--     upgrade to this target is in progress (a run that failed or died): from is the recorded
--     version ("record"), else the oldest seed behind the master ("at-target", nothing recorded:
--     an upgrade run without refit, or a record removed by hand), else the target itself.
-- ctx.state.at_target: the master runs the target (deploy-master is done).
local function route(ctx)
  if ctx.state.to then return ctx.state.from, ctx.state.to end
  local cfg = config(ctx)
  if not cfg then
    error(string.format("cluster %s has no KubermaticConfiguration %s: it is not a KKP master (run " ..
                        "refit against the master cluster)", ctx.cluster:name(), CONFIG_NAME), 0)
  end
  local current = cfg.status and cfg.status.kubermaticVersion
  if not given(current) then
    error(string.format("the KubermaticConfiguration %s on %s has no status.kubermaticVersion: the " ..
                        "KKP operator has not reconciled it yet; wait until it has", CONFIG_NAME, ctx.cluster:name()), 0)
  end
  local to = vtag(given(ctx.params.to) or installer_version(ctx))
  current = vtag(current)
  local from, resume = current, nil
  local rec = upgrade_record(cfg)
  if rec.state == IN_PROGRESS and rec.from and rec.to == to then
    from, resume = rec.from, "record"
  elseif semver.compare(current, to) == 0 then
    resume = "at-target"
    for _, seed in ipairs(ctx.cluster:list { apiVersion = API, kind = "Seed", namespace = NS }) do
      local v = seed_version(seed)
      if v and semver.parse(v) and semver.lt(v, from) then from = vtag(v) end
    end
  end
  ctx.state.resume = resume
  ctx.state.at_target = semver.compare(current, to) == 0
  ctx.state.from = from
  ctx.state.to = to
  return from, to
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
local paths_graph
local function upgrade_paths()
  -- resource() reads relative to the chunk that calls it; read once, several checks ask
  paths_graph = paths_graph or paths.load(resource("data/paths.yaml"), "scripts/kkp/data/paths.yaml")
  return paths_graph
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


-- Where a seed needs `kubermatic-installer deploy kubermatic-seed` (KKP upgrade guides: "since 2.21
-- seeds are upgraded automatically by KKP unless they run the bundled MinIO or MLA stack"): the
-- reasons, e.g. { "the bundled MinIO" }, empty when the operator upgrades it alone. The bundled
-- MinIO is the Deployment minio/minio; the MLA stack lives in the namespace mla.
local function seed_stack_reasons(handle)
  local reasons = {}
  if handle:get { kind = "Deployment", namespace = "minio", name = "minio" } then
    reasons[#reasons + 1] = "the bundled MinIO"
  end
  if #handle:list { kind = "Deployment", namespace = "mla" } > 0 then reasons[#reasons + 1] = "the MLA stack" end
  return reasons
end

-- seed_contexts ("america=seed-us-admin", ...) as { [seed] = context }; raises on a malformed entry.
local function seed_context_map(ctx)
  local map = {}
  for _, entry in ipairs(ctx.params.seed_contexts or {}) do
    local seed, context = tostring(entry):match("^%s*([^=%s]+)%s*=%s*(%S+)%s*$")
    if not seed then
      error(string.format("seed_contexts entry %q is not SEED=CONTEXT (e.g. --set seed_contexts=america=seed-us-admin)",
                          tostring(entry)), 0)
    end
    map[seed] = context
  end
  return map
end

-- The --kube-context of `deploy kubermatic-seed` on a seed: the one seed_contexts names, else the
-- name of the seed's cluster in its Seed kubeconfig (the name the context often has in an
-- operator's kubeconfig too; the seed-contexts check makes sure it exists). Returns context, source.
local function seed_context(ctx, name, handle)
  local map = seed_context_map(ctx)
  if map[name] then return map[name], "seed_contexts" end
  return handle:name(), "default"
end

---------------------------------------------------------------------------------------------------
-- Resumption
---------------------------------------------------------------------------------------------------

-- Everything at the target already (a completed upgrade, run again): the master, every seed
-- Healthy, every user cluster up to date; and no upgrade to it recorded in progress. Fixed once in
-- ctx.state.nothing_to_do; every step is then skipped.
local function nothing_to_do(ctx)
  if ctx.state.nothing_to_do ~= nil then return ctx.state.nothing_to_do end
  local from, to = route(ctx)
  local idle = ctx.state.resume == "at-target" and from == to
  if idle then
    for _, seed in ipairs(seed_list(ctx)) do
      local handle = connect_seed(ctx, seed)
      if not handle or seed_lag(seed, to) then idle = false; break end
      for _, c in ipairs(user_clusters(handle)) do
        if not cluster_up_to_date(c, to) then idle = false; break end
      end
      if not idle then break end
    end
  end
  ctx.state.nothing_to_do = idle
  return idle
end

local function idle(ctx) return ctx.state.nothing_to_do == true end

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

local function check_master(ctx)
  local from, to = route(ctx)
  local master = ctx.cluster:name()
  if nothing_to_do(ctx) then
    ctx.log("KKP master %s is already at %s: nothing to do (every seed is Healthy and every user cluster " ..
            "SeedResourcesUpToDate at %s)", master, to, to)
  elseif ctx.state.resume == "record" then
    ctx.log("resuming the KKP upgrade %s -> %s recorded on the KubermaticConfiguration %s (annotation %s: %s): the " ..
            "master runs %s; the steps already done are skipped", from, to, CONFIG_NAME, ANNOTATIONS.state, IN_PROGRESS,
            vtag(config(ctx).status.kubermaticVersion))
  elseif ctx.state.resume == "at-target" then
    ctx.log("KKP master %s runs the target %s already, with no upgrade recorded in progress: resuming from %s (the " ..
            "seeds' version); the steps already done are skipped", master, to, from)
  else
    ctx.log("KKP master %s runs %s; the target is %s", master, from, to)
  end
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

-- Upgrade Versioning Policy (seed 003): one minor at a time, from the latest patch of the current
-- one. A resumption checks the recorded hop; an upgrade recorded in progress to another target that
-- the master already runs must be finished first.
local function check_version_route(ctx)
  local from, to = route_or_nil(ctx)
  if not from then return end   -- kkp-master says why
  local rec = upgrade_record(config(ctx))
  local current = vtag(config(ctx).status.kubermaticVersion)
  if rec.state == IN_PROGRESS and rec.to and rec.from and rec.to ~= to and rec.to == current and rec.from ~= rec.to then
    ctx:fail("the KKP upgrade %s -> %s recorded on the KubermaticConfiguration %s (annotation %s: %s) is not " ..
             "finished: the master runs %s, the seeds and user clusters may not yet. Finish it first with the %s " ..
             "kubermatic-installer (refit apply kkp/upgrade --set installer=PATH resumes it), then upgrade to %s",
             rec.from, rec.to, CONFIG_NAME, ANNOTATIONS.state, IN_PROGRESS, current, rec.to, to)
  end
  if from == to and ctx.state.resume then return end   -- the master and every seed at the target
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
-- an older one has not finished the last upgrade). Resuming with the master at the target, a seed
-- may be at the upgrade's starting version and not Healthy yet: the operator is upgrading it, and
-- wait-seeds waits for it; it must still be reachable.
local function check_seeds(ctx)
  local from, to = route_or_nil(ctx)
  local problems, upgrading = {}, {}
  local list = seed_list(ctx)
  ctx:require(#list > 0, "the master %s has no Seed in namespace %s: KKP needs at least one seed", ctx.cluster:name(), NS)
  local resuming = from and ctx.state.at_target
  for _, seed in ipairs(list) do
    local handle, why = connect_seed(ctx, seed)
    if not handle then
      problems[#problems + 1] = why
    elseif resuming then
      local v = seed_version(seed)
      if v ~= from and v ~= to then
        problems[#problems + 1] = string.format("seed %s: KKP %s, neither the upgrade's starting version %s nor its " ..
                                                "target %s", seed.metadata.name, tostring(v), from, to)
      else
        upgrading[#upgrading + 1] = seed_lag(seed, to)
      end
    else
      problems[#problems + 1] = seed_lag(seed, from)
    end
  end
  if resuming then
    ctx:require(#problems == 0, "to resume the upgrade %s -> %s every seed must be reachable and at %s or %s: %s. " ..
                "Fix the seeds first (kubectl -n %s describe seed NAME shows why the operator cannot reconcile one)",
                from, to, from, to, table.concat(problems, "; "), NS)
    if #upgrading > 0 then
      ctx.log("seeds not yet Healthy at %s (the KKP operator is upgrading them; wait-seeds waits for them): %s", to,
              table.concat(upgrading, "; "))
    end
    return
  end
  ctx:require(#problems == 0, "every seed must be reachable, Healthy and at the master's KKP version before an " ..
              "upgrade: %s. Fix the seeds first (kubectl -n %s describe seed NAME shows why the operator cannot " ..
              "reconcile one)", table.concat(problems, "; "), NS)
end

-- The seeds that need `deploy kubermatic-seed` get it through a context of the installer's
-- kubeconfig (refit never writes kubeconfigs: they are credentials). That context must exist
-- before the point of no return, not be found missing after it.
local function check_seed_contexts(ctx)
  if not route_or_nil(ctx) or idle(ctx) then return end
  local ok, map = pcall(seed_context_map, ctx)
  if not ok then ctx:fail("%s", map) end
  local names, known = {}, {}
  for _, seed in ipairs(seed_list(ctx)) do
    names[#names + 1] = seed.metadata.name
    known[seed.metadata.name] = seed
  end
  local named = {}
  for seed in pairs(map) do named[#named + 1] = seed end
  table.sort(named)
  for _, seed in ipairs(named) do
    ctx:require(known[seed], "seed_contexts names the seed %s, but the master %s has no such Seed (seeds: %s)", seed,
                ctx.cluster:name(), table.concat(names, ", "))
  end
  local problems = {}
  for _, name in ipairs(names) do
    local handle = connect_seed(ctx, known[name])
    local reasons = handle and seed_stack_reasons(handle) or {}
    if #reasons > 0 then
      local context, source = seed_context(ctx, name, handle)
      local argv = { "kubectl", "config", "get-contexts", context, "-o", "name", check = false }
      if given(ctx.params.kubeconfig) then argv[#argv + 1] = "--kubeconfig"; argv[#argv + 1] = ctx.params.kubeconfig end
      local r = ctx:exec(argv)
      local what = source == "default"
        and string.format("the name of the seed's cluster in its Seed kubeconfig; --set seed_contexts=%s=CONTEXT " ..
                          "names another", name)
        or "from seed_contexts"
      if r.code == 0 then
        ctx.log("seed %s runs %s: kubermatic-installer deploy kubermatic-seed will use --kube-context %s (%s)", name,
                table.concat(reasons, " and "), context, what)
      else
        problems[#problems + 1] = string.format("seed %s runs %s and needs kubermatic-installer deploy kubermatic-seed, " ..
          "but its context %s (%s) is not in the installer's kubeconfig (%s): %s", name, table.concat(reasons, " and "),
          context, what, given(ctx.params.kubeconfig) or "$KUBECONFIG",
          ((r.stderr ~= "" and r.stderr or r.stdout):gsub("%s+$", "")))
      end
    end
  end
  ctx:require(#problems == 0, "%s. Pass the context of your kubeconfig that reaches each such seed's cluster with " ..
              "--set seed_contexts=SEED=CONTEXT (comma-separated for several seeds); refit does not write kubeconfigs",
              table.concat(problems, "; "))
end

-- KKP 2.22 removed the Docker container runtime: the installer refuses while a user cluster uses it.
local function check_docker(ctx)
  if not valid_hop(ctx) and not (ctx.state.resume and ctx.state.from == ctx.state.to) then return end
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
-- unhealthy user clusters. A warning: they do not block the installer. (Resuming with the master at
-- the target, clusters behind are the upgrade's own work: wait-user-clusters waits for them.)
local function check_user_clusters(ctx)
  route_or_nil(ctx)
  if ctx.state.at_target then return end
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
-- Backups
---------------------------------------------------------------------------------------------------

local function backup_dir(ctx)
  if given(ctx.params.backup_dir) then return ctx.params.backup_dir end
  local from, to = route(ctx)
  return string.format("kkp-backup-%s-to-%s", from, to)
end

-- "./a/b/" and "a/b" name the same directory
local function same_dir(a, b)
  local function norm(p) return (p:gsub("/+$", ""):gsub("^%./", "")) end
  return norm(a) == norm(b)
end

-- The pre-upgrade backup of the upgrade this run resumes, as recorded (nil when none is).
local function recorded_backup(ctx)
  route(ctx)
  if ctx.state.resume ~= "record" then return nil end
  return upgrade_record(config(ctx)).backup_dir
end

-- A recorded backup directory is never written again (Create Backups: the dump to restore from is
-- the one taken before the upgrade). The record, not the files: a playbook cannot read files.
local function check_backup_dir(ctx)
  if not route_or_nil(ctx) or idle(ctx) or ctx.state.at_target or ctx.state.resume == "record" then return end
  local rec = upgrade_record(config(ctx))
  if not rec.backup_dir then return end
  local dir = backup_dir(ctx)
  ctx:require(not same_dir(dir, rec.backup_dir), "backup_dir %s holds the pre-upgrade backup of the KKP upgrade %s -> %s " ..
              "(annotation %s on the KubermaticConfiguration %s): refit never overwrites a pre-upgrade backup. Pass " ..
              "another directory with --set backup_dir=DIR (and keep %s for as long as you may need to restore %s)",
              dir, tostring(rec.from), tostring(rec.to), ANNOTATIONS.backup_dir, CONFIG_NAME, rec.backup_dir,
              tostring(rec.from))
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
  ctx.state.backup_written = backup_dir(ctx)
end

-- The master, then each seed. None when there is nothing to do, or when the master runs the target
-- already and no pre-upgrade backup is recorded: a dump now would hold upgraded objects, not the
-- state to restore.
local function backup_items(ctx)
  if idle(ctx) then return {} end
  if ctx.state.at_target and not recorded_backup(ctx) then
    ctx.log.warn("no backup: the master runs %s already and the KubermaticConfiguration %s records no pre-upgrade " ..
                 "backup (annotation %s); a dump now would hold upgraded objects, not the state before the upgrade",
                 target(ctx), CONFIG_NAME, ANNOTATIONS.backup_dir)
    return {}
  end
  local items = { { name = ctx.cluster:name(), master = true } }
  for _, s in ipairs(seeds(ctx)) do
    items[#items + 1] = { name = s.cluster:name(), seed = s.name, seed_object = s.seed }
  end
  return items
end

local function backup_step(item)
  return {
    summary = "back up the kubermatic CRDs' objects of cluster " .. item.name,
    -- resuming: the pre-upgrade backup was taken by the run that recorded the upgrade
    done = function(ctx)
      local dir = recorded_backup(ctx)
      if not dir then return false end
      ctx.log("cluster %s was backed up before the upgrade to %s/%s/ (recorded in annotation %s): kept as it is",
              item.name, dir, item.name, ANNOTATIONS.backup_dir)
      return true
    end,
    run = function(ctx) backup_cluster(ctx, item) end,
  }
end

---------------------------------------------------------------------------------------------------
-- The upgrade record
---------------------------------------------------------------------------------------------------

-- Before the point of no return: what a re-run needs to resume this upgrade. Rolled back (the
-- previous record restored) when the run fails before the master was changed.
local function record_upgrade_step()
  return refit.step "record-upgrade" {
    summary = "record the upgrade (from, to, backup directory) on the KubermaticConfiguration, so that a re-run resumes it",
    when = function(ctx) return not idle(ctx) end,
    done = function(ctx)
      local from, to = route(ctx)
      local rec = upgrade_record(config(ctx))
      return rec.state == IN_PROGRESS and rec.from == from and rec.to == to
    end,
    run = function(ctx)
      local from, to = route(ctx)
      local a = config(ctx).metadata.annotations or {}
      local previous = {}
      for _, key in ipairs { "from", "to", "state", "backup_dir" } do previous[key] = a[ANNOTATIONS[key]] or "" end
      ctx.state.previous_record = previous
      local dir = ctx.state.backup_written
      ctx.cluster:patch(CONFIG_REF, { metadata = { annotations = {
        [ANNOTATIONS.from] = from, [ANNOTATIONS.to] = to, [ANNOTATIONS.state] = IN_PROGRESS,
        [ANNOTATIONS.backup_dir] = dir or json.null,
      } } })
      ctx.log("recorded on the KubermaticConfiguration %s: upgrade %s -> %s in progress%s", CONFIG_NAME, from, to,
              dir and string.format(", pre-upgrade backup in %s/", dir) or "")
    end,
    rollback = function(ctx)
      local previous = ctx.state.previous_record
      if not previous then return end
      local ann = {}
      for key, v in pairs(previous) do ann[ANNOTATIONS[key]] = v ~= "" and v or json.null end
      ctx.cluster:patch(CONFIG_REF, { metadata = { annotations = ann } })
      ctx.log("the upgrade record on the KubermaticConfiguration %s is back as it was", CONFIG_NAME)
    end,
  }
end

local function record_done_step()
  return refit.step "record-upgrade-done" {
    summary = "record the upgrade as done on the KubermaticConfiguration (the backup directory stays recorded)",
    when = function(ctx) return not idle(ctx) end,
    done = function(ctx)
      local from, to = route(ctx)
      local rec = upgrade_record(config(ctx))
      return rec.state == DONE and rec.from == from and rec.to == to
    end,
    run = function(ctx)
      local from, to = route(ctx)
      ctx.cluster:patch(CONFIG_REF, { metadata = { annotations = { [ANNOTATIONS.state] = DONE } } })
      ctx.log("recorded on the KubermaticConfiguration %s: upgrade %s -> %s done", CONFIG_NAME, from, to)
    end,
  }
end

---------------------------------------------------------------------------------------------------
-- The parallel-reconcile limit
---------------------------------------------------------------------------------------------------

local function parallel_limit(cfg)
  local sc = cfg.spec and cfg.spec.seedController
  return sc and sc.maximumParallelReconciles
end

-- Puts the limit saved in the annotation back and removes the annotation (nothing when there is none).
local function restore_parallel_limit(ctx)
  local saved = upgrade_record(config(ctx)).saved_limit
  if not saved then return end
  if saved == UNSET then
    -- it was KKP's default: remove the field again rather than pin the default
    ctx.cluster:patch(CONFIG_REF, { metadata = { annotations = { [ANNOTATIONS.saved_limit] = json.null } },
                                    spec = { seedController = { maximumParallelReconciles = json.null } } })
    ctx.log("maximumParallelReconciles reset to KKP's default %d (the field removed again)", DEFAULT_PARALLEL_RECONCILES)
    return
  end
  local n = math.tointeger(tonumber(saved))
  ctx:require(n and n >= 1, "annotation %s on the KubermaticConfiguration %s is %q, neither a number nor %q: set " ..
              "spec.seedController.maximumParallelReconciles by hand (KKP's default is %d) and remove the annotation",
              ANNOTATIONS.saved_limit, CONFIG_NAME, saved, UNSET, DEFAULT_PARALLEL_RECONCILES)
  ctx.cluster:patch(CONFIG_REF, { metadata = { annotations = { [ANNOTATIONS.saved_limit] = json.null } },
                                  spec = { seedController = { maximumParallelReconciles = n } } })
  ctx.log("maximumParallelReconciles reset to %d", n)
end

-- Prepare for Reconciliation Load (seed 003): lower the limit before the upgrade; the cleanup puts
-- the saved value back at the end of the run, after the waits, whatever happened. The saved value
-- lives in an annotation, not in the run: a run that dies before its cleanup leaves it for the
-- next run, which restores it.
local function lower_parallel_step()
  return refit.step "lower-parallel-reconciles" {
    summary = "lower spec.seedController.maximumParallelReconciles for the upgrade (restored at the end of the run)",
    when = function(ctx)
      local cfg = config(ctx)
      local current = parallel_limit(cfg) or DEFAULT_PARALLEL_RECONCILES
      local saved = upgrade_record(cfg).saved_limit
      if saved then
        ctx.log("maximumParallelReconciles is %d, lowered by an earlier run that ended before restoring it " ..
                "(annotation %s: %s): this run restores it at its end", current, ANNOTATIONS.saved_limit, saved)
        return true
      end
      if idle(ctx) then return false end
      if current <= ctx.params.upgrade_parallel_reconciles then
        ctx.log("maximumParallelReconciles is %d already, not above %d: left as it is", current,
                ctx.params.upgrade_parallel_reconciles)
        return false
      end
      return true
    end,
    run = function(ctx)
      local cfg = config(ctx)
      local set = parallel_limit(cfg)
      local current = set or DEFAULT_PARALLEL_RECONCILES
      local low = ctx.params.upgrade_parallel_reconciles
      local patch = {}
      if not upgrade_record(cfg).saved_limit then
        patch.metadata = { annotations = { [ANNOTATIONS.saved_limit] = set and tostring(set) or UNSET } }
      end
      if current > low and not idle(ctx) then
        patch.spec = { seedController = { maximumParallelReconciles = low } }
      end
      if next(patch) ~= nil then
        ctx.cluster:patch(CONFIG_REF, patch)
        if patch.spec then
          ctx.log("maximumParallelReconciles lowered from %d%s to %d for the upgrade (saved in annotation %s)", current,
                  set and "" or " (KKP's default)", low, ANNOTATIONS.saved_limit)
        end
      end
      ctx.state.parallel_lowered = true
    end,
    -- Done when this run lowered the limit (ctx.state, which a resume gets back from the journal) and the
    -- KubermaticConfiguration shows it saved and lowered. A new run does not take an earlier run's
    -- lowered limit for its own: it runs the step, whose cleanup restores the saved value at its end.
    done = function(ctx)
      if not ctx.state.parallel_lowered then return false end
      local cfg = config(ctx)
      return upgrade_record(cfg).saved_limit ~= nil
        and (idle(ctx) or (parallel_limit(cfg) or DEFAULT_PARALLEL_RECONCILES) <= ctx.params.upgrade_parallel_reconciles)
    end,
    -- a failure before the point of no return: back at once; after it, the cleanup restores it
    rollback = restore_parallel_limit,
    cleanup = restore_parallel_limit,
  }
end

---------------------------------------------------------------------------------------------------
-- The installer
---------------------------------------------------------------------------------------------------

local RECOVERY_TEXT = "KKP does not support downgrades: the master runs (parts of) the target release. Fix what " ..
  "failed and run refit apply kkp/upgrade again with the same installer: it resumes the upgrade recorded on the " ..
  "KubermaticConfiguration kubermatic/kubermatic (annotations refit.dev/upgrade-*), skips the steps already done " ..
  "and keeps the pre-upgrade backup. Or reinstall the previous release with its own kubermatic-installer and restore " ..
  "the KKP resources from the backup directory (annotation refit.dev/upgrade-backup-dir: kubectl apply -f " ..
  "<backup_dir>/<cluster>/ on the master and on each seed)"

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

-- The Helm releases of a cluster (helm list -A through `context`, else the kubeconfig's current one), by
-- name: { chart =, status =, ... }. `stack` says whose releases they are, for the failure's message.
local function helm_releases(ctx, context, stack)
  local argv = { "helm", "list", "-A", check = false }
  if context then argv[#argv + 1] = "--kube-context"; argv[#argv + 1] = context end
  argv[#argv + 1] = "-o"; argv[#argv + 1] = "json"
  if given(ctx.params.kubeconfig) then argv[#argv + 1] = "--kubeconfig"; argv[#argv + 1] = ctx.params.kubeconfig end
  local r = ctx:exec(argv)
  if r.code ~= 0 or type(r.json) ~= "table" then
    ctx:fail("helm list -A%s failed (exit %d): %s. Its Helm releases tell whether %s runs %s already " ..
             "(kubermatic-installer needs helm 3 on the PATH too)", context and (" --kube-context " .. context) or "",
             r.code, r.stderr ~= "" and r.stderr or r.stdout, stack, target(ctx))
  end
  local out = {}
  for _, rel in ipairs(r.json) do out[rel.name] = rel end
  return out
end

-- Whether the charts are all deployed at the target among the releases: their versions are KKP's.
local function charts_at_target(ctx, releases, charts)
  local to = target(ctx)
  for _, name in ipairs(charts) do
    local rel = releases[name]
    local version = rel and tostring(rel.chart):sub(#name + 2)
    if not rel or rel.status ~= "deployed" or not semver.parse(version) or vtag(version) ~= to then return false end
  end
  return true
end

-- The charts `kubermatic-installer deploy kubermatic-master` deploys, the operator's among them.
local MASTER_STACK_CHARTS = { "nginx-ingress-controller", "cert-manager", "dex", "kubermatic-operator", "telemetry" }

local function deploy_master_step()
  return refit.step "deploy-master" {
    summary = "kubermatic-installer deploy kubermatic-master of the target release (validates the installation first)",
    when = function(ctx) return not idle(ctx) end,
    done = function(ctx)
      local v = config(ctx).status and config(ctx).status.kubermaticVersion
      return given(v) ~= nil and semver.parse(v) ~= nil and vtag(v) == target(ctx)
    end,
    run = function(ctx)
      -- A run stopped after the installer deployed the master stack, before the operator stamped its
      -- version (done says not done), deployed it already: only the operator's takeover (verify) is left.
      local context = given(ctx.params.kube_context)
      if charts_at_target(ctx, helm_releases(ctx, context, "the master stack"), MASTER_STACK_CHARTS) then
        ctx.log("the master stack's Helm releases are deployed at %s already (an earlier run deployed them): " ..
                "waiting for the KKP operator", target(ctx))
        return
      end
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

-- Seeds running the bundled MinIO or the MLA stack need `deploy kubermatic-seed` (seed 003), through
-- the context seed_context() gives (checked by seed-contexts).
local function seed_stack_items(ctx)
  if idle(ctx) then return {} end
  local items = {}
  for _, s in ipairs(seeds(ctx)) do
    local reasons = seed_stack_reasons(s.cluster)
    if #reasons > 0 then
      local context = seed_context(ctx, s.name, s.cluster)
      items[#items + 1] = { name = s.name, context = context, reasons = table.concat(reasons, " and ") }
    end
  end
  return items
end

-- The charts `kubermatic-installer deploy kubermatic-seed` deploys.
local SEED_STACK_CHARTS = { "minio", "s3-exporter" }

-- Whether the seed stack's releases are deployed at the target.
local function seed_stack_at_target(ctx, item)
  return charts_at_target(ctx, helm_releases(ctx, item.context, "the seed stack of seed " .. item.name),
                          SEED_STACK_CHARTS)
end

local function seed_stack_step(item)
  return {
    summary = string.format("kubermatic-installer deploy kubermatic-seed on seed %s (it runs %s), --kube-context %s",
                            item.name, item.reasons, item.context),
    -- done when Helm says the seed stack's releases are deployed at the target
    done = function(ctx) return seed_stack_at_target(ctx, item) end,
    run = function(ctx)
      run_installer(ctx, installer_args(ctx, "kubermatic-seed", item.context))
    end,
    irreversible = RECOVERY_TEXT,
  }
end

---------------------------------------------------------------------------------------------------
-- Waits
---------------------------------------------------------------------------------------------------

local function wait_seeds_step()
  return refit.step "wait-seeds" {
    summary = "every Seed Healthy, ResourcesReconciled and at the target version (the operator upgrades them)",
    when = function(ctx) return not idle(ctx) end,
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
    when = function(ctx) return not idle(ctx) end,
    verify = function(ctx)
      local to = target(ctx)
      local started = ctx:now()
      local total = 0
      local reached = seeds(ctx)   -- connected once: the seeds do not change while we wait
      ctx:wait("every user cluster SeedResourcesUpToDate at " .. to, function()
        local lag = {}
        total = 0
        for _, s in ipairs(reached) do
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
(kubectl get <crd> -A -o yaml format, one file per cluster and CRD under backup_dir); records the
upgrade on the KubermaticConfiguration (refit.dev/ annotations); lowers
spec.seedController.maximumParallelReconciles for the upgrade; runs kubermatic-installer deploy
kubermatic-master of the target release (the point of no return: KKP has no downgrade) and deploy
kubermatic-seed on seeds that run the bundled MinIO or the MLA stack (through seed_contexts); waits
for every Seed Healthy at the target and every user cluster SeedResourcesUpToDate; records the upgrade
done; then resets maximumParallelReconciles (also when the run fails). A run after a failure resumes
the recorded upgrade. The target is the release of the installer (--set installer=PATH, default
./kubermatic-installer). See docs/kkp.md.]],
  params = {
    to = refit.param.version { help = "target KKP version, e.g. 2.22.9 (default: the installer's version; the two must agree)" },
    installer = refit.param.string { default = "./kubermatic-installer",
                                     help = "the kubermatic-installer of the target release (from its release archive)" },
    config = refit.param.string { default = "kubermatic.yaml", help = "--config: the KubermaticConfiguration YAML" },
    helm_values = refit.param.string { default = "values.yaml", help = "--helm-values: the Helm values of the installation" },
    kubeconfig = refit.param.string { help = "--kubeconfig for the installer (default: $KUBECONFIG)" },
    kube_context = refit.param.string { help = "--kube-context of the master for the installer" },
    seed_contexts = refit.param.list { of = refit.param.string {},
      help = "SEED=CONTEXT: the context of the installer's kubeconfig that reaches a seed needing deploy kubermatic-seed " ..
             "(default: the name of the seed's cluster in its Seed kubeconfig)" },
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
    refit.check "seed-contexts" (check_seed_contexts),
    refit.check "no-docker-runtime" (check_docker),
    refit.check "backup-dir" (check_backup_dir),
    refit.check "user-clusters" (check_user_clusters),
  },
}
steps[#steps + 1] = refit.each "backup" {
  summary = "dump every kubermatic CRD's objects of the master and of each seed to backup_dir/<cluster>/<crd>.yaml",
  items = backup_items,
  step = backup_step,
}
steps[#steps + 1] = record_upgrade_step()
steps[#steps + 1] = lower_parallel_step()
steps[#steps + 1] = deploy_master_step()
steps[#steps + 1] = refit.each "seed-stack" {
  summary = "kubermatic-installer deploy kubermatic-seed on each seed that runs the bundled MinIO or the MLA stack",
  items = seed_stack_items,
  step = seed_stack_step,
}
steps[#steps + 1] = wait_seeds_step()
steps[#steps + 1] = wait_clusters_step()
steps[#steps + 1] = record_done_step()

return refit.playbook "kkp/upgrade" (steps)
