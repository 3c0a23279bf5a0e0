-- refit test tests/scripts/sim_models_test.lua: the simulated world's models (stdlib/refit/sim/),
-- where they must behave as Kubernetes and Amazon EKS do. The add-on cases run the bundled
-- eks/upgrade playbook; the Deployment controller cases drive refit.sim.kube directly, in a small
-- world written here (the engine's store and clock, reduced to what the controllers use), so that
-- they can look at a Deployment at the very instant its template changes.
local t = require "refit.test"
local k8s = require "refit.k8s"
local json = require "refit.json"
local util = require "refit.sim.util"

---------------------------------------------------------------------------------------------------
-- Amazon EKS add-ons (aws eks update-addon)
---------------------------------------------------------------------------------------------------

local FIXTURE = "examples/clusters/eks-1.20.yaml"
local IMAGE_CHANGED = "examples/scenarios/eks-addon-image-changed.yaml"

local function workload(r, kind, name)
  for _, o in ipairs(r:objects("demo", kind)) do
    if o.metadata.namespace == "kube-system" and o.metadata.name == name then return o end
  end
end

-- the image tag of a container of a workload, through the stdlib's own helpers
local function image_tag(obj, container)
  return k8s.image_tag(k8s.container_image(obj, container))
end

local function upgrade(opts)
  opts.playbook, opts.sim = "eks/upgrade", FIXTURE
  opts.set = opts.set or {}
  opts.set.to = "1.21"
  return t.plan(opts)
end

t.case("update-addon --resolve-conflicts PRESERVE: the add-on's image follows the new version", function()
  local r = upgrade {}   -- the playbook updates the managed add-ons with PRESERVE
  t.eq(r.status, "succeeded", r.output)
  t.ok(r:find("command", { argv = { "aws", "eks", "update-addon", "--cluster-name", "demo", "--addon-name", "coredns",
                                    "--addon-version", "v1.8.4-eksbuild.1", "--resolve-conflicts", "PRESERVE",
                                    "--output", "json" } }), "coredns updated with PRESERVE")
  local addons = r.world.cloud.eks.clusters.demo.addons
  t.eq(addons.coredns.addonVersion, "v1.8.4-eksbuild.1")
  t.eq(addons["kube-proxy"].addonVersion, "v1.21.2-eksbuild.2")
  -- EKS manages the image: the objects run what describe-addon reports
  t.eq(image_tag(workload(r, "Deployment", "coredns"), "coredns"), "v1.8.4-eksbuild.1")
  t.eq(image_tag(workload(r, "DaemonSet", "kube-proxy"), "kube-proxy"), "v1.21.2-eksbuild.2")
end)

t.case("PRESERVE keeps an image changed outside EKS; OVERWRITE replaces it; NONE is a conflict", function()
  local preserve = upgrade { scenario = IMAGE_CHANGED }
  t.eq(preserve.status, "succeeded", preserve.output)
  t.eq(preserve.world.cloud.eks.clusters.demo.addons.coredns.addonVersion, "v1.8.4-eksbuild.1")
  t.eq(image_tag(workload(preserve, "Deployment", "coredns"), "coredns"), "v1.8.3-patched.1")
  -- kube-proxy was not changed outside EKS: its image follows, PRESERVE or not
  t.eq(image_tag(workload(preserve, "DaemonSet", "kube-proxy"), "kube-proxy"), "v1.21.2-eksbuild.2")

  local overwrite = upgrade { scenario = IMAGE_CHANGED, set = { resolve_conflicts = "OVERWRITE" } }
  t.eq(overwrite.status, "succeeded", overwrite.output)
  t.eq(image_tag(workload(overwrite, "Deployment", "coredns"), "coredns"), "v1.8.4-eksbuild.1")

  local none = upgrade { scenario = IMAGE_CHANGED, set = { resolve_conflicts = "NONE" } }
  t.eq(none.status, "failed", none.output)
  t.contains(none:find("step_finished", { step = "addon[coredns]" }).error, "ConfigurationConflict")
  t.eq(none.world.cloud.eks.clusters.demo.addons.coredns.status, "UPDATE_FAILED")
  t.eq(image_tag(workload(none, "Deployment", "coredns"), "coredns"), "v1.8.3-patched.1")
end)

---------------------------------------------------------------------------------------------------
-- The Deployment controller (refit.sim.kube), in a small world
---------------------------------------------------------------------------------------------------

-- RFC 7386 merge patch (lists are replaced, json.null deletes).
local function merge(target, patch)
  if type(patch) ~= "table" or json.is_array(patch) then return util.copy(patch) end
  local out = type(target) == "table" and not json.is_array(target) and util.copy(target) or {}
  for k, v in pairs(patch) do
    if v == json.null then out[k] = nil else out[k] = merge(out[k], v) end
  end
  return out
end

-- The world primitives refit.sim.kube uses (docs/sim-models.md), over a store of Lua tables: one
-- cluster, object copies in and out, metadata.generation bumped when .spec changes, no change
-- event for a write that changes nothing, changes delivered after the operation at the same
-- virtual time, timers in time order (ties in scheduling order), a fixed random sequence.
local function small_world(cluster)
  local W = { json = json, cloud = {} }
  local now, seq, queue, watchers, store, uid, rnd = 0, 0, {}, {}, {}, 0, 7
  function W.now() return now end
  function W.after(ms, fn)
    seq = seq + 1
    local e = { due = now + ms, seq = seq, fn = fn }
    queue[#queue + 1] = e
    return e
  end
  function W.cancel(e) e.cancelled = true end
  function W.random(m, n)
    rnd = (rnd * 1103515245 + 12345) % 2147483648
    if m == nil then return rnd / 2147483648 end
    return m + rnd % (n - m + 1)
  end
  function W.log() end
  function W.on_change(_, kind, fn)
    watchers[kind] = watchers[kind] or {}
    table.insert(watchers[kind], fn)
  end
  local function changed(ctype, obj)
    for _, fn in ipairs(watchers[obj.kind] or {}) do
      local change = { type = ctype, object = util.copy(obj) }
      W.after(0, function() fn(change) end)
    end
  end
  local function key(kind, ns, name) return kind .. "/" .. (ns or "") .. "/" .. name end
  local function ref_key(ref)
    local md = ref.metadata or ref
    return key(ref.kind, md.namespace, md.name)
  end
  local c = {}
  function c:get(ref) return util.copy(store[ref_key(ref)]) end
  function c:list(q)
    local keys = {}
    for k, o in pairs(store) do if o.kind == q.kind then keys[#keys + 1] = k end end
    table.sort(keys)
    local out = json.array {}
    for _, k in ipairs(keys) do out[#out + 1] = util.copy(store[k]) end
    return out
  end
  local function result(obj, opts) if opts and opts.quiet then return true end return util.copy(obj) end
  function c:create(obj, opts)
    obj = util.copy(obj)
    local k = key(obj.kind, obj.metadata.namespace, obj.metadata.name)
    assert(store[k] == nil, k .. " exists")
    uid = uid + 1
    obj.metadata.uid, obj.metadata.generation = "uid-" .. uid, 1
    store[k] = obj
    changed("ADDED", obj)
    return result(obj, opts)
  end
  local function update(k, new, opts)
    local old = store[k]
    if util.deep_equal(old, new) then return result(old, opts) end
    if not util.deep_equal(old.spec, new.spec) then new.metadata.generation = old.metadata.generation + 1 end
    store[k] = new
    changed("MODIFIED", new)
    return result(new, opts)
  end
  function c:patch(ref, patch, opts)
    local k = ref_key(ref)
    local new = merge(store[k], patch)
    new.status = util.copy(store[k].status)
    return update(k, new, opts)
  end
  function c:patch_status(ref, patch, opts)
    local k = ref_key(ref)
    local new = util.copy(store[k])
    new.status = merge(new.status, patch)
    return update(k, new, opts)
  end
  function c:delete(ref)
    local k = ref_key(ref)
    local obj = store[k]
    if not obj then return nil, "not found" end
    store[k] = nil
    changed("DELETED", obj)
    return true
  end
  function W.cluster(name)
    assert(name == cluster, "no cluster " .. tostring(name))
    return c
  end
  -- runs every timer and change due by now + ms, then sets the clock there
  local function advance(ms)
    local target = now + ms
    while true do
      local best
      for i, e in ipairs(queue) do
        if not e.cancelled and e.due <= target and (not best or e.due < queue[best].due
            or (e.due == queue[best].due and e.seq < queue[best].seq)) then best = i end
      end
      if not best then break end
      local e = table.remove(queue, best)
      now = e.due
      e.fn()
    end
    now = target
  end
  return W, c, advance
end

local function progressing(d)
  for _, cond in ipairs(d.status and d.status.conditions or {}) do
    if cond.type == "Progressing" then return cond.status .. "/" .. cond.reason end
  end
end

local function set_image(c, image)
  c:patch({ kind = "Deployment", namespace = "default", name = "web" },
          { spec = { template = { spec = { containers = json.array { { name = "web", image = image } } } } } })
end

-- A cluster with two Ready nodes and a Deployment "web" (2 replicas), whose pods crash-loop on
-- images tagged "crash", with its controllers started at time 0.
local function web_cluster()
  local W, c, advance = small_world("demo")
  local faults = {
    node_never_ready = function() return false end,
    pod_crashes = function(_, images)
      for _, image in ipairs(images) do if image:match(":crash") then return true end end
      return false
    end,
  }
  local kube = require("refit.sim.kube")(W, { faults = faults })
  for i = 1, 2 do
    c:create(kube.node_object { name = "node-" .. i, kubeletVersion = "v1.21.2", ready = true,
                                internalIP = "10.0.0." .. i })
    kube.observe_node("demo", c:get { kind = "Node", name = "node-" .. i })
  end
  c:create {
    apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "web", namespace = "default" },
    spec = { replicas = 2, selector = { matchLabels = { app = "web" } },
             template = { metadata = { labels = { app = "web" } },
                          spec = { containers = json.array { { name = "web", image = "web:1" } } } } },
  }
  kube.start("demo")
  advance(0)
  local function web() return c:get { kind = "Deployment", namespace = "default", name = "web" } end
  return c, advance, web
end

t.case("a new template resets Progressing at once, even after ProgressDeadlineExceeded", function()
  local c, advance, web = web_cluster()
  t.eq(progressing(web()), "True/NewReplicaSetAvailable")

  set_image(c, "web:crash")
  advance(11 * 60000)   -- past progressDeadlineSeconds (600)
  local d = web()
  t.eq(progressing(d), "False/ProgressDeadlineExceeded")
  t.eq(d.status.observedGeneration, d.metadata.generation)

  -- a new rollout: the controller reports it in the same instant, as Kubernetes' does
  set_image(c, "web:2")
  advance(0)
  d = web()
  t.eq(d.status.observedGeneration, d.metadata.generation, "the new generation is observed at once")
  t.eq(progressing(d), "True/ReplicaSetUpdated")
  t.match(d.status.conditions[2].message, '^ReplicaSet "web%-%w+" is progressing%.$')

  advance(60000)
  t.eq(progressing(web()), "True/NewReplicaSetAvailable")
end)

t.case("a new template is reported at once, then its rollout times out on its own deadline", function()
  local c, advance, web = web_cluster()
  set_image(c, "web:crash")
  advance(0)
  local d = web()
  t.eq(d.status.observedGeneration, d.metadata.generation)
  t.eq(progressing(d), "True/ReplicaSetUpdated")
  advance(9 * 60000)
  t.eq(progressing(web()), "True/ReplicaSetUpdated")   -- 9 minutes without progress: not yet
  advance(2 * 60000)
  t.eq(progressing(web()), "False/ProgressDeadlineExceeded")
  -- another template that crash-loops as well: a new rollout with a new deadline
  set_image(c, "web:crash-again")
  advance(0)
  t.eq(progressing(web()), "True/ReplicaSetUpdated")
  advance(11 * 60000)
  t.eq(progressing(web()), "False/ProgressDeadlineExceeded")
end)
