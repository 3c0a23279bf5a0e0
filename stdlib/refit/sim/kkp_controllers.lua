-- refit.sim.kkp_controllers: what KKP's own controllers do once `kubermatic-installer deploy
-- kubermatic-master` has put a new kubermatic-operator in place.
--
--   operator      30-60 s after its chart: the new operator runs; it stamps the KubermaticConfiguration's
--                 status.kubermaticVersion, moves the API, dashboard and master-controller-manager to the
--                 new image, then reconciles every Seed (since KKP 2.21 seeds are upgraded automatically),
--                 one after another, 10-20 s apart
--   seed          20-40 s per seed: the CRDs on the seed and its seed-controller-manager move to the new
--                 version; 30-60 s later (the rollout) the Seed reports phase Healthy, condition
--                 ResourcesReconciled True and status.versions.kubermatic = the new version. Scenario fault
--                 kkp-seed-unhealthy: the Seed turns Unhealthy (ResourcesReconciled False) and stays so
--   user clusters the new seed-controller-manager reconciles every user cluster of its seed, with at most
--                 spec.seedController.maximumParallelReconciles of the master's KubermaticConfiguration
--                 (default 10) in flight: the limit counts the clusters whose condition
--                 SeedResourcesUpToDate is False. Each takes 60-180 s (its control plane rolls); the limit
--                 is read again whenever a slot frees or the KubermaticConfiguration changes. Scenario fault
--                 kkp-cluster-reconcile-stuck: that cluster never becomes SeedResourcesUpToDate, and keeps
--                 its slot
--   resumption    at start, a seed whose version is behind the master's (a fixture of a half-finished
--                 upgrade) is reconciled by the running operator as above
--
-- Part of refit.sim.kkp: `S` is the model's state, `fx` refit.sim.kkp_fixture; returns the controllers.

local util = require "refit.sim.util"
local semver = require "refit.semver"
local releases = require "refit.sim.kkp_releases"
local crds = require "refit.sim.kkp_crds"

local OPERATOR_START_MIN, OPERATOR_START_MAX = 30000, 60000
local SEED_GAP_MIN, SEED_GAP_MAX = 10000, 20000
local SEED_RECONCILE_MIN, SEED_RECONCILE_MAX = 20000, 40000
local SEED_ROLLOUT_MIN, SEED_ROLLOUT_MAX = 30000, 60000
local CLUSTER_MIN, CLUSTER_MAX = 60000, 180000
local DEFAULT_PARALLEL = 10

local NS = "kubermatic"
local API = "kubermatic.k8c.io/v1"

return function(W, S, fx, faults)
  local C = {}

  local function config_ref() return { apiVersion = API, kind = "KubermaticConfiguration", namespace = NS, name = "kubermatic" } end

  -- The limit as the seed-controller-manager sees it: the master's KubermaticConfiguration.
  local function parallel_limit()
    local cfg = W.cluster(S.master.name):get(config_ref())
    local v = cfg and cfg.spec and cfg.spec.seedController and cfg.spec.seedController.maximumParallelReconciles
    if math.type(v) == "integer" and v > 0 then return v end
    if type(v) == "number" and v >= 1 then return math.floor(v) end
    return DEFAULT_PARALLEL
  end

  local function set_image(cluster, name, namespace, image)
    local c = W.cluster(cluster)
    local d = c:get { kind = "Deployment", namespace = namespace, name = name }
    if not d then return end
    local containers = d.spec.template.spec.containers
    local patch = {}
    for i, ct in ipairs(containers) do
      patch[#patch + 1] = { op = "replace", path = string.format("/spec/template/spec/containers/%d/image", i - 1), value = image }
    end
    c:patch({ kind = "Deployment", namespace = namespace, name = name }, patch, { type = "json", quiet = true })
  end
  C.set_image = set_image

  -- The CRDs of a cluster move to `version` (the installer and the operator apply them).
  function C.update_crds(cluster, version)
    local c = W.cluster(cluster)
    for _, obj in ipairs(crds.objects(version)) do c:apply(obj, { quiet = true }) end
  end

  -- User clusters ----------------------------------------------------------------------------------

  local queues = {}   -- seed world cluster -> { version =, pending = { ids }, head =, inflight = { id = true }, n = }

  local function cluster_ref(id) return { apiVersion = API, kind = "Cluster", name = id } end

  local function set_up_to_date(seed_cluster, id, up, version)
    local now = W.now()
    local cond = up
      and fx.condition("True", "ClusterUpdateSuccessful", "All control plane components are up to date", now,
                       { kubermaticVersion = version })
      or fx.condition("False", "ClusterUpdateInProgress", "Some control plane components did not finish updating", now,
                      { kubermaticVersion = version })
    W.cluster(seed_cluster):patch_status(cluster_ref(id), { conditions = { SeedResourcesUpToDate = cond } },
                                         { quiet = true })
  end

  local pump
  local function finish(seed_cluster, q, id)
    set_up_to_date(seed_cluster, id, true, q.version)
    q.inflight[id] = nil
    q.n = q.n - 1
    pump(seed_cluster)
  end

  -- Starts reconciles while fewer than the limit are in flight.
  pump = function(seed_cluster)
    local q = queues[seed_cluster]
    if not q then return end
    local limit = parallel_limit()
    while q.n < limit and q.head <= #q.pending do
      local id = q.pending[q.head]
      q.head = q.head + 1
      q.inflight[id] = true
      q.n = q.n + 1
      set_up_to_date(seed_cluster, id, false, q.version)
      local stuck = faults.take("kkp-cluster-reconcile-stuck", seed_cluster, { userCluster = id },
                                "user cluster " .. id .. " never becomes SeedResourcesUpToDate")
      if not stuck then
        W.after(W.random(CLUSTER_MIN, CLUSTER_MAX), function() finish(seed_cluster, q, id) end,
                "kkp: user cluster " .. id .. " reconciled")
      end
    end
  end

  -- The seed-controller-manager at `version` starts reconciling every (unpaused) user cluster.
  local function start_cluster_reconciles(seed_cluster, version)
    local pending, paused_behind = {}, 0
    for _, obj in ipairs(W.cluster(seed_cluster):list { apiVersion = API, kind = "Cluster" }) do
      if not obj.spec.pause then
        pending[#pending + 1] = obj.metadata.name
      else
        -- a paused cluster is not reconciled, but one left not up to date still counts against the limit
        local c = obj.status and obj.status.conditions and obj.status.conditions.SeedResourcesUpToDate
        if c and c.status ~= "True" then paused_behind = paused_behind + 1 end
      end
    end
    table.sort(pending)
    queues[seed_cluster] = { version = version, pending = pending, head = 1, inflight = {}, n = paused_behind }
    pump(seed_cluster)
  end

  -- Seeds ------------------------------------------------------------------------------------------

  local function seed_ref(name) return { apiVersion = API, kind = "Seed", namespace = NS, name = name } end

  local function reconcile_seed(seed, version, edition)
    W.log("kkp: the operator reconciles seed %s at %s", seed.name, version)
    local master = W.cluster(S.master.name)
    local now = W.now()
    local fault = faults.take("kkp-seed-unhealthy", seed.cluster, { seed = seed.name },
                              "seed " .. seed.name .. " never becomes Healthy")
    if fault then
      master:patch_status(seed_ref(seed.name), { phase = "Unhealthy", conditions = {
        ResourcesReconciled = fx.condition("False", "ReconcilingError",
          "failed to reconcile seed-controller-manager: Deployment kubermatic/seed-controller-manager: " ..
          "0/2 replicas available (pods CrashLoopBackOff)", now),
      } }, { quiet = true })
      return
    end
    C.update_crds(seed.cluster, version)
    set_image(seed.cluster, "seed-controller-manager", NS, releases.image(edition, version))
    W.after(W.random(SEED_ROLLOUT_MIN, SEED_ROLLOUT_MAX), function()
      local t = W.now()
      seed.version = version
      master:patch_status(seed_ref(seed.name), {
        phase = "Healthy",
        versions = { kubermatic = version },
        conditions = {
          ClusterInitialized = fx.condition("True", "CRDsUpdated", "All KKP CRDs have been installed successfully.", t),
          ResourcesReconciled = fx.condition("True", "ReconcilingSuccess", "", t),
        },
      }, { quiet = true })
      start_cluster_reconciles(seed.cluster, version)
    end, "kkp: seed " .. seed.name .. " reconciled at " .. version)
  end

  -- Operator ---------------------------------------------------------------------------------------

  -- The operator chart at `version` is deployed: the new operator takes over after its rollout.
  function C.operator_deployed(version, edition)
    W.log("kkp: kubermatic-operator %s deployed; it takes over after its rollout", version)
    W.after(W.random(OPERATOR_START_MIN, OPERATOR_START_MAX), function()
      W.log("kkp: kubermatic-operator %s running", version)
      local m = S.master
      local master = W.cluster(m.name)
      master:patch_status(config_ref(), { kubermaticVersion = version, kubermaticEdition = releases.EDITIONS[edition] },
                          { quiet = true })
      local image = releases.image(edition, version)
      set_image(m.name, "kubermatic-api", NS, image)
      set_image(m.name, "kubermatic-master-controller-manager", NS, image)
      set_image(m.name, "kubermatic-dashboard", NS,
                string.format("quay.io/kubermatic/dashboard%s:%s", edition == "ee" and "-ee" or "", version))
      m.version = version
      local delay = 0
      for _, entry in ipairs(m.seeds) do
        local seed = S.seeds[entry.cluster]
        delay = delay + W.random(SEED_RECONCILE_MIN, SEED_RECONCILE_MAX)
        W.after(delay, function() reconcile_seed(seed, version, edition) end, "kkp: operator reconciles seed " .. entry.name)
        delay = delay + W.random(SEED_GAP_MIN, SEED_GAP_MAX)
      end
    end, "kkp: kubermatic-operator " .. version .. " running")
  end

  -- A changed limit takes effect at once (the seed-controller-managers read it from the master).
  -- A half-finished upgrade in the fixture (a seed behind the master's version): the running
  -- operator keeps reconciling it, as after its own start.
  function C.start()
    if not S.master then return end
    local m = S.master
    local delay = 0
    for _, entry in ipairs(m.seeds) do
      local seed = S.seeds[entry.cluster]
      if seed and semver.lt(seed.version, m.version) then
        delay = delay + W.random(SEED_RECONCILE_MIN, SEED_RECONCILE_MAX)
        W.after(delay, function() reconcile_seed(seed, m.version, m.edition) end,
                "kkp: operator reconciles seed " .. entry.name)
        delay = delay + W.random(SEED_GAP_MIN, SEED_GAP_MAX)
      end
    end
    W.on_change(S.master.name, "KubermaticConfiguration", function()
      for _, name in ipairs(util.sorted_keys(queues)) do pump(name) end
    end)
  end

  return C
end
