-- refit.sim.faults: the scenario file's faults, validated once and asked by the models when the
-- moment a fault is about comes (a node boots, an update starts, a pod starts). docs/scenarios.md
-- is the user's description of every type.
--
--   local faults = require("refit.sim.faults")(W, scenario, default_cluster)
--   if faults.node_never_ready("demo", node_summary) then ... end
--   local f = faults.take("nodegroup-update-fails", "demo", { nodegroup = "ng-1", batch = 2 })
--
-- Product models declare their own fault types (init.lua passes them as `extra_types`): type ->
-- { field = "string" | "int", ..., match = { "field", ... } }. Such a fault matches a subject when
-- every `match` field it gives equals the subject's (a field it leaves out matches anything);
-- without `match`, every field is a match field. The others (a message, a count) are data.
local util = require "refit.sim.util"
local checker = require "refit.sim.check"

-- type -> the fields it takes besides type, cluster, times, description
local TYPES = {
  ["node-never-ready"] = { "nodegroup", "node", "labels", "count" },
  ["pod-crashloop"] = { "image" },
  ["nodegroup-update-fails"] = { "nodegroup", "batch", "errorCode", "message" },
  ["addon-degraded"] = { "addon", "version", "code", "message" },
  ["addon-update-fails"] = { "addon", "version", "errorCode", "message" },
  ["control-plane-health-check-fails"] = { "version", "errorCode", "message" },
}

-- A shell-style glob ("*coredns:v1.8.4*") as an anchored Lua pattern.
local function glob(s)
  local p = s:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
  return "^" .. p .. "$"
end

return function(W, scenario, default_cluster, extra_types)
  scenario = scenario or {}
  extra_types = extra_types or {}
  local function type_names()
    local names = {}
    for name in pairs(TYPES) do names[#names + 1] = name end
    for name in pairs(extra_types) do names[#names + 1] = name end
    table.sort(names)
    return names
  end
  -- scenario mistakes name the scenario's field; W.scenario_error when the engine has it
  local fail = W.scenario_error or function(path, fmt, ...)
    W.fixture_error("scenario: " .. path, fmt, ...)
  end
  local check = checker.new(fail)
  local F = { list = {} }

  check:map("", scenario)
  check:known_fields("", scenario, { "name", "description", "faults", "objects", "seed", "api" })
  check:string("name", scenario.name)
  check:string("description", scenario.description)

  for i, f in ipairs(check:list("faults", scenario.faults, { default = {} })) do
    local path = checker.index("faults", i)
    check:map(path, f, { required = true })
    local ftype = check:oneof(checker.field(path, "type"), f.type, type_names(), { required = true })
    local known = { "type", "cluster", "times", "description" }
    local extra = extra_types[ftype]
    local extra_fields = {}
    if extra then
      for _, k in ipairs(util.sorted_keys(extra)) do
        if k ~= "match" then extra_fields[#extra_fields + 1] = k end
      end
    end
    for _, k in ipairs(TYPES[ftype] or extra_fields) do known[#known + 1] = k end
    check:known_fields(path, f, known)
    local fault = {
      index = i, type = ftype, path = path,
      cluster = check:string(checker.field(path, "cluster"), f.cluster) or nil,
      times = check:int(checker.field(path, "times"), f.times, { min = 1 }),
      fired = 0,
    }
    local function str(k, o) fault[k] = check:string(checker.field(path, k), f[k], o) end
    if ftype == "node-never-ready" then
      str("nodegroup") str("node")
      fault.node_pattern = fault.node and glob(fault.node)
      fault.labels = check:string_map(checker.field(path, "labels"), f.labels)
      fault.times = check:int(checker.field(path, "count"), f.count, { min = 1, default = fault.times or 1 })
    elseif ftype == "pod-crashloop" then
      str("image", { required = true })
      fault.image_pattern = glob(fault.image)
    elseif ftype == "nodegroup-update-fails" then
      str("nodegroup") str("errorCode") str("message")
      fault.batch = check:int(checker.field(path, "batch"), f.batch, { min = 1, default = 1 })
    elseif ftype == "addon-degraded" or ftype == "addon-update-fails" then
      str("addon", { required = true }) str("version") str("code") str("errorCode") str("message")
    elseif ftype == "control-plane-health-check-fails" then
      str("version", { version = true }) str("errorCode") str("message")
    else
      for _, k in ipairs(extra_fields) do
        if extra[k] == "int" then
          fault[k] = check:int(checker.field(path, k), f[k], { min = 1 })
        else
          str(k)
        end
      end
      fault.match = extra.match or extra_fields
    end
    F.list[#F.list + 1] = fault
  end

  local function applies(f, cluster)
    return f.cluster == nil or f.cluster == cluster
  end

  -- A fault naming a node group or add-on the EKS cluster does not have would never fire, and the
  -- rehearsal would pass without the failure it was meant to show: refuse it, with a hint.
  local CORE_ADDONS = { ["kube-proxy"] = true, coredns = true, ["vpc-cni"] = true }
  function F.check_names(cluster, rec)
    local closest = require("refit.params").closest
    local function known(field, value, set)
      if value == nil or set[value] then return end
      local names = util.sorted_keys(set)
      local hint = closest(value, names)
      fail(field, "%q is not in cluster %s (%s)", value, cluster,
           hint and string.format("did you mean %q?", hint) or "it has: " .. table.concat(names, ", "))
    end
    local addons = {}
    for name in pairs(CORE_ADDONS) do addons[name] = true end
    for name in pairs(rec.addons or {}) do addons[name] = true end
    for _, f in ipairs(F.list) do
      if applies(f, cluster) then
        known(checker.field(f.path, "nodegroup"), f.nodegroup, rec.nodegroups or {})
        known(checker.field(f.path, "addon"), f.addon, addons)
      end
    end
  end

  local function fire(f, what)
    f.fired = f.fired + 1
    W.log("scenario fault %s (%s) fires: %s", f.path, f.type, what)
    W.cloud.faults_fired = W.cloud.faults_fired or {}
    table.insert(W.cloud.faults_fired, { fault = f.path, type = f.type, what = what, time = W.now() })
  end

  local function available(f) return f.times == nil or f.fired < f.times end

  -- A node that has just been added: does a fault keep it NotReady forever? (consumes one count)
  function F.node_never_ready(cluster, node)
    for _, f in ipairs(F.list) do
      if f.type == "node-never-ready" and applies(f, cluster) and available(f) and node then
        local ok = true
        if f.nodegroup and node.labels["eks.amazonaws.com/nodegroup"] ~= f.nodegroup then ok = false end
        if f.node_pattern and not node.name:match(f.node_pattern) then ok = false end
        if f.labels and not util.map_matches(f.labels, node.labels) then ok = false end
        if ok then
          fire(f, "node " .. node.name .. " never becomes Ready")
          return true
        end
      end
    end
    return false
  end

  -- Images a model made crash (an add-on update that ends DEGRADED): cluster -> image -> true.
  local crash_images = {}
  function F.add_crash_image(cluster, image)
    crash_images[cluster] = crash_images[cluster] or {}
    crash_images[cluster][image] = true
  end

  -- Do pods running these images crash-loop? (does not consume: every such pod crashes)
  function F.pod_crashes(cluster, images)
    for _, image in ipairs(images or {}) do
      if crash_images[cluster] and crash_images[cluster][image] then return true end
    end
    for _, f in ipairs(F.list) do
      if f.type == "pod-crashloop" and applies(f, cluster) then
        for _, image in ipairs(images or {}) do
          if image:match(f.image_pattern) then return true end
        end
      end
    end
    return false
  end

  -- The first fault of `ftype` for this cluster whose fields match `subject` (a field the fault
  -- leaves out matches anything), consumed once; nil when none.
  function F.take(ftype, cluster, subject, what)
    for _, f in ipairs(F.list) do
      if f.type == ftype and applies(f, cluster) and available(f) then
        local ok = true
        if f.match then
          for _, k in ipairs(f.match) do
            if f[k] ~= nil and f[k] ~= subject[k] then ok = false end
          end
        else
          for _, k in ipairs { "nodegroup", "addon", "version", "batch" } do
            if f[k] ~= nil and subject[k] ~= nil and f[k] ~= subject[k] then ok = false end
            if f[k] ~= nil and subject[k] == nil and k ~= "batch" then ok = false end
          end
        end
        if ok then
          fire(f, what or ftype)
          return f
        end
      end
    end
    return nil
  end

  -- The scenario's extra objects for a cluster: `objects: { demo: [...] }`, or a plain list for the
  -- default cluster.
  function F.objects(cluster)
    local objs = scenario.objects
    if objs == nil then return {} end
    if checker.is_list(objs) then
      return cluster == default_cluster and objs or {}
    end
    check:map("objects", objs)
    return check:list(checker.field("objects", cluster), objs[cluster], { default = {} })
  end

  -- Cluster names the scenario's objects and faults mention, to check they exist.
  function F.check_clusters(exists)
    if type(scenario.objects) == "table" and not checker.is_list(scenario.objects) then
      for name in util.spairs(scenario.objects) do
        if not exists(name) then fail(checker.field("objects", name), "no cluster %q in the fixture", name) end
      end
    end
    for _, f in ipairs(F.list) do
      if f.cluster and not exists(f.cluster) then
        fail(checker.field(f.path, "cluster"), "no cluster %q in the fixture", f.cluster)
      end
    end
  end

  return F
end
