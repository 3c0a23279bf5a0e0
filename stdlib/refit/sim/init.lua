-- refit.sim: the simulated world's entry point (docs/sim-models.md).
--
-- The engine runs this chunk with the world primitives W and calls the function it returns once,
-- with the decoded fixture, the fixture's directory and the decoded scenario (or nil). It creates the
-- clusters and their objects (docs/fixtures.md), the cloud state of EKS clusters, applies the
-- scenario (docs/scenarios.md), starts the controllers and registers the tool models (aws, eksctl,
-- and those of the product models below); it returns the function that adds a cluster later.

local W = ...

local checker = require "refit.sim.check"

-- Product models (docs/sim-models.md, "Product models"), in the order they load. Each module
-- returns { section =, faults =, version =, new = function(W, env) ... end }. A model loads when
-- the fixture has a cluster with its section (or `always`); `with` loads other models too (the
-- Konvoy adoption ends in CAPI rollouts, which the DKP model runs).
local PRODUCTS = {
  { section = "dkp", module = "refit.sim.dkp" },
  { section = "konvoy", module = "refit.sim.konvoy", with = { "dkp" } },
  { section = "kaptain", module = "refit.sim.kaptain" },
  { section = "kkp", module = "refit.sim.kkp" },
  { module = "refit.sim.velero", always = true },
}

-- The cluster fields the fixture uses, read before it is validated (it is validated with the
-- sections of the models loaded).
local function sections_used(fixture)
  local used = {}
  local function scan(spec)
    if type(spec) == "table" then
      for key in pairs(spec) do used[key] = true end
    end
  end
  if type(fixture) ~= "table" then return used end
  for _, spec in pairs(type(fixture.clusters) == "table" and fixture.clusters or {}) do scan(spec) end
  local gens = fixture.clusters_generate
  if type(gens) == "table" then
    if gens.template then gens = { gens } end
    for _, g in ipairs(gens) do scan(type(g) == "table" and g.template) end
  end
  return used
end

-- The product models this fixture needs, loaded.
local function product_models(fixture)
  local used = sections_used(fixture)
  local wanted = {}
  local function want(section)
    for _, p in ipairs(PRODUCTS) do
      if p.section == section and not wanted[p] then
        wanted[p] = true
        for _, other in ipairs(p.with or {}) do want(other) end
      end
    end
  end
  for _, p in ipairs(PRODUCTS) do
    if p.section and used[p.section] then
      want(p.section)
    elseif p.always then
      wanted[p] = true
    end
  end
  local models = {}
  for _, p in ipairs(PRODUCTS) do
    if wanted[p] then
      local ok, model = pcall(require, p.module)
      if ok then
        models[#models + 1] = model
      elseif not tostring(model):find("module '" .. p.module .. "' not found", 1, true) then
        error(model, 0)
      end
    end
  end
  return models
end

return function(fixture, fixture_dir, scenario)
  local _ = fixture_dir  -- W.read_yaml resolves paths against it already
  scenario = scenario or W.scenario
  local check = checker.new(W.fixture_error)
  local models = product_models(fixture)
  local sections, fault_types = {}, {}
  for _, m in ipairs(models) do
    if m.section then sections[m.section] = m end
    for name, fields in pairs(m.faults or {}) do fault_types[name] = fields end
  end

  local fx = require("refit.sim.fixture")(W, check, sections)
  local clusters, default = fx.clusters(fixture)

  local faults = require("refit.sim.faults")(W, scenario, default, fault_types)
  local kube = require("refit.sim.kube")(W, { faults = faults })
  -- the eviction subresource (cluster:evict, and `refit sim serve`'s pods/eviction) keeps the budgets
  W.evictor(function(cluster, ns, name) return kube.evict(cluster, ns .. "/" .. name) end)
  local eks = require("refit.sim.eks")(W, kube, faults)
  local updates = require("refit.sim.eks_updates")(W, eks, kube, faults)
  local tools = require("refit.sim.tools")(W)
  local env = { kube = kube, faults = faults, tools = tools, check = check, fixture = fx }
  local products = {}
  for _, m in ipairs(models) do products[#products + 1] = { model = m, instance = m.new(W, env) } end

  -- the clusters first, so that every name a scenario mentions can be checked
  local names = {}
  for _, c in ipairs(clusters) do
    if c.spec.eks ~= nil then
      local eks_path = checker.field(c.path, "eks")
      local server = eks.server_version(c.spec.eks, eks_path, check)
      if c.version and eks.minor(c.version) ~= eks.minor(server) then
        check:error(checker.field(c.path, "version"), "%s does not match eks.version %s", c.version, c.spec.eks.version)
      end
      c.version = c.version or server
    end
    W.add_cluster(c.name, { version = c.version, default = c.default, kubeconfig = c.kubeconfig })
    names[c.name] = true
  end
  faults.check_clusters(function(name) return names[name] == true end)

  for _, c in ipairs(clusters) do
    local ctx = fx.populate(c, kube)
    local rec
    if c.spec.eks ~= nil then
      rec = eks.load(c.name, c.spec.eks, checker.field(c.path, "eks"), check)
      faults.check_names(c.name, rec)
    end
    for _, p in ipairs(products) do
      local section = p.model.section
      if section and c.spec[section] ~= nil and p.instance.load then
        p.instance.load(c, c.spec[section], checker.field(c.path, section), ctx.namespaces)
      end
    end
    fx.ensure_namespaces(c.name, ctx.namespaces)
    local extra = faults.objects(c.name)
    if #extra > 0 then fx.apply_objects(c, kube, extra, checker.field("scenario.objects", c.name)) end
    if rec then
      eks.start(rec)
      updates.start(rec)
    end
    kube.start(c.name)
  end
  -- cross-cluster links (a managed cluster and its management cluster), controllers, tools
  for _, p in ipairs(products) do
    if p.instance.start then p.instance.start(clusters) end
  end

  W.tool("aws", require("refit.sim.eks_aws")(W, eks, updates))
  W.tool("eksctl", require("refit.sim.eks_eksctl")(W, eks, updates))

  -- Adds cluster `name` to the running world: a plan from live clusters snapshots a cluster that a
  -- playbook reaches through ctx:connect (engine/run/snapshot_connect.hpp). `spec` is a fixture
  -- cluster entry of objects (a snapshot's: no product section, so no product model reads it); its
  -- objects are created, and the Kubernetes controllers started, as for the fixture's clusters.
  return function(name, spec)
    local c = fx.clusters({ clusters = { [name] = spec } })[1]
    W.add_cluster(c.name, { version = c.version, default = false })
    local ctx = fx.populate(c, kube)
    fx.ensure_namespaces(c.name, ctx.namespaces)
    kube.start(c.name)
  end
end
