-- refit.drain: cordon, uncordon and drain, run by tests/lua/fixtures/drain_playbook.lua in the
-- simulated world of tests/lua/fixtures/drain.yaml (which pod runs where is told at its top).
-- Each case asserts what the call returned, the mutations it made, and where the pods are after.
local t = require "refit.test"
local json = require "refit.json"
local drain = require "refit.drain"

local PLAYBOOK = "tests/lua/fixtures/drain_playbook.lua"
local FIXTURE = "tests/lua/fixtures/drain.yaml"
local CALL = PLAYBOOK .. ":26: "      -- the line of the playbook that calls drain.drain
local CORDON_CALL = PLAYBOOK .. ":28: "

local function run(set) return t.plan { playbook = PLAYBOOK, sim = FIXTURE, set = set } end

-- What each action of the playbook returned.
local function results(r)
  local e = r:find("state_set", { key = "results" })
  return e and e.value
end

-- "verb Kind ns/name" for every mutation, in order.
local function mutations(r)
  local out = {}
  for _, e in ipairs(r:all("mutation")) do
    out[#out + 1] = string.format("%s %s %s%s", e.verb, e.kind, e.namespace and (e.namespace .. "/") or "", e.name)
  end
  return out
end

-- The objects of a kind in a world dump (r.world or r.world_before), sorted by name.
local function objects(world, kind)
  local out = {}
  for key, list in pairs(world.clusters.lab.objects) do
    if key:match("[^/]*$") == kind then table.move(list, 1, #list, #out + 1, out) end
  end
  table.sort(out, function(a, b) return a.metadata.name < b.metadata.name end)
  return out
end

local function find(list, name)
  for _, o in ipairs(list) do
    if o.metadata.name == name then return o end
  end
end

-- node name -> the pods bound to it, "ns/name" sorted; a pod the fixture did not have shows as
-- "ns/<its ReplicaSet>-(new)" (its suffix is random). Pods bound to no node are under "(none)".
local function placement(r)
  local fixture_pods = {}
  for _, p in ipairs(objects(r.world_before, "Pod")) do fixture_pods[p.metadata.name] = true end
  local out = {}
  for _, p in ipairs(objects(r.world, "Pod")) do
    local name = p.metadata.name
    if not fixture_pods[name] then name = name:gsub("%-%w+$", "-(new)") end
    local node = p.spec.nodeName or "(none)"
    out[node] = out[node] or {}
    table.insert(out[node], p.metadata.namespace .. "/" .. name)
  end
  for _, list in pairs(out) do table.sort(list) end
  return out
end

-- The replacement pods ("(new)") in a placement, sorted, and a node's list without them.
local function replacements(where)
  local out = {}
  for _, list in pairs(where) do
    for _, p in ipairs(list) do
      if p:match("%(new%)$") then out[#out + 1] = p end
    end
  end
  table.sort(out)
  return out
end
local function without_replacements(list)
  local out = {}
  for _, p in ipairs(list or {}) do
    if not p:match("%(new%)$") then out[#out + 1] = p end
  end
  return out
end

local function unschedulable(r, node)
  return (find(objects(r.world, "Node"), node).spec or {}).unschedulable
end

-- Seconds since the run started of a timestamp the simulation wrote, measured from the Ready
-- condition the nodes got at time 0.
local function clock(ts)
  local d, h, m, s = ts:match("^%d+%-%d+%-(%d+)T(%d+):(%d+):(%d+)Z$")
  return ((tonumber(d) * 24 + tonumber(h)) * 60 + tonumber(m)) * 60 + tonumber(s)
end
local function seconds_since_start(r, ts)
  local node = objects(r.world_before, "Node")[1]
  local zero
  for _, c in ipairs(node.status.conditions) do
    if c.type == "Ready" then zero = clock(c.lastTransitionTime) end
  end
  return clock(ts) - zero
end

local function ready(pod)
  for _, c in ipairs(pod.status.conditions or {}) do
    if c.type == "Ready" then return c.status == "True", c.lastTransitionTime end
  end
  return false
end

-- The fixture's pods where nothing has moved, for the nodes a case does not touch.
local NODE_C = { "monitoring/node-exporter-ccccc", "shop/api-85f7d6c4b-ac222" }

---------------------------------------------------------------------------
-- cordon and uncordon
---------------------------------------------------------------------------

t.case("cordon sets spec.unschedulable with one merge patch; cordoning again writes nothing", function()
  local r = run { node = "node-a", actions = "cordon,cordon" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { true, false })
  t.eq(mutations(r), { "patch Node node-a" })
  t.eq(r:find("mutation").patch, { spec = { unschedulable = true } })
  t.eq(unschedulable(r, "node-a"), true)
  t.eq(unschedulable(r, "node-b"), nil)
  t.eq(placement(r), placement { world = r.world_before, world_before = r.world_before })
end)

t.case("uncordon removes spec.unschedulable with one merge patch; uncordoning again writes nothing", function()
  local r = run { node = "node-f", actions = "uncordon,uncordon" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { true, false })
  t.eq(mutations(r), { "patch Node node-f" })
  t.eq(r:find("mutation").patch, { spec = { unschedulable = json.null } })
  t.eq(unschedulable(r, "node-f"), nil)
end)

t.case("uncordon of a schedulable node writes nothing; cordon then uncordon leave it as it was", function()
  local r = run { node = "node-a", actions = "uncordon" }
  t.eq(results(r), { false })
  t.eq(mutations(r), {})
  t.eq(r.world, r.world_before)

  r = run { node = "node-a", actions = "cordon,uncordon" }
  t.eq(results(r), { true, true })
  t.eq(mutations(r), { "patch Node node-a", "patch Node node-a" })
  t.eq(unschedulable(r, "node-a"), nil)
end)

t.case("cordon, uncordon and drain of a node that does not exist name it and the cluster", function()
  for _, action in ipairs { "cordon", "uncordon" } do
    local r = run { node = "node-z", actions = action }
    t.eq(r.status, "rolled_back")
    t.eq(r:find("phase_failed").error, CORDON_CALL .. action ..
         ": no Node \"node-z\" in cluster lab (kubectl get nodes lists their names)")
    t.eq(r.world, r.world_before)
  end
  local r = run { node = "node-z" }
  t.eq(r:find("phase_failed").error,
       CALL .. "drain: no Node \"node-z\" in cluster lab (kubectl get nodes lists their names)")
  t.eq(r.world, r.world_before)
end)

---------------------------------------------------------------------------
-- drain
---------------------------------------------------------------------------

t.case("a drain evicts every pod but DaemonSet and mirror pods, and deletes finished ones", function()
  local r = run { node = "node-d", settle = "1m" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { {
    node = "node-d", cordoned = true,
    evicted = { "jobs/worker-5b8c7d9f6-wd111", "shop/cache-7c9d8b6f5-ad111" },
    deleted = { "jobs/report-28417-xk2lp" },
    skipped = { { pod = "kube-system/kube-apiserver-node-d", reason = "mirror" },
                { pod = "monitoring/node-exporter-ddddd", reason = "daemonset" } },
  } })
  -- cordoned first; one eviction per pod; the finished pod deleted, not evicted
  t.eq(mutations(r), { "patch Node node-d", "delete Pod jobs/report-28417-xk2lp",
                       "evict Pod jobs/worker-5b8c7d9f6-wd111", "evict Pod shop/cache-7c9d8b6f5-ad111" })
  t.eq(r:find("log", { step = "act" }).message,
       "drain node node-d: 2 pods to evict, 1 finished pod to delete, 2 left in place (DaemonSet and mirror pods)")
  -- nothing refused and the simulated API server removes an evicted pod at once: no time passes
  t.eq(r:find("step_finished", { step = "act" }).duration, 0)
  t.eq(unschedulable(r, "node-d"), true)
  -- the replacements run Ready elsewhere, the finished pod is gone, the other nodes keep their pods
  local where = placement(r)
  t.eq(where["node-d"], { "kube-system/kube-apiserver-node-d", "monitoring/node-exporter-ddddd" })
  t.eq(replacements(where), { "jobs/worker-5b8c7d9f6-(new)", "shop/cache-7c9d8b6f5-(new)" })
  local before = placement { world = r.world_before, world_before = r.world_before }
  for _, node in ipairs { "node-a", "node-b", "node-c", "node-e", "node-g" } do
    t.eq(without_replacements(where[node]), before[node], node)
  end
  t.eq(where["(none)"], nil)
  for _, p in ipairs(r:objects("lab", "Pod")) do
    if p.metadata.name:match("^cache") or p.metadata.name:match("^worker") then t.ok(ready(p), p.metadata.name) end
  end
end)

t.case("draining a drained node, or an empty cordoned one, changes nothing", function()
  local r = run { node = "node-d", actions = "drain,drain" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r)[2], {
    node = "node-d", cordoned = false, evicted = {}, deleted = {},
    skipped = { { pod = "kube-system/kube-apiserver-node-d", reason = "mirror" },
                { pod = "monitoring/node-exporter-ddddd", reason = "daemonset" } },
  })
  t.eq(#mutations(r), 4)     -- the first drain's, as above

  r = run { node = "node-f" }
  t.eq(results(r), { { node = "node-f", cordoned = false, evicted = {}, deleted = {}, skipped = {} } })
  t.eq(mutations(r), {})
  t.eq(r.world, r.world_before)
end)

t.case("a budget that allows one disruption: the second eviction waits for the first pod's replacement", function()
  local r = run { node = "node-a", settle = "1m" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { {
    node = "node-a", cordoned = true,
    evicted = { "shop/web-6d4b9c7f8-wa111", "shop/web-6d4b9c7f8-wa222" }, deleted = {},
    skipped = { { pod = "monitoring/node-exporter-aaaaa", reason = "daemonset" } },
  } })
  t.eq(mutations(r), { "patch Node node-a", "evict Pod shop/web-6d4b9c7f8-wa111",
                       "evict Pod shop/web-6d4b9c7f8-wa222" })
  local refusal = r:all("log", { step = "act" })[2]
  t.eq(refusal.time, 0)
  t.eq(refusal.message, "drain node node-a: eviction of shop/web-6d4b9c7f8-wa222 refused (Cannot evict pod " ..
       "shop/web-6d4b9c7f8-wa222 as it would violate the pod's disruption budget shop/web); retrying for up to 5m")

  -- The first replacement: created 3 s after the eviction, Ready 5-15 s later, on another node.
  local first
  for _, p in ipairs(r:objects("lab", "Pod")) do
    local ok, since = ready(p)
    if p.metadata.name:match("^web%-") and p.metadata.name ~= "web-6d4b9c7f8-wb333" and ok then
      local at = seconds_since_start(r, since) * 1000
      if not first or at < first.at then first = { pod = p, at = at } end
    end
  end
  t.ok(first, "a replacement web pod is Ready")
  t.ok(first.pod.spec.nodeName ~= "node-a", "the replacement runs on " .. first.pod.spec.nodeName)
  t.ok(first.at >= 8000 and first.at <= 18000, "replacement Ready at " .. first.at .. " ms")
  -- The drain looks at the budget every 5 s and retries once it allows a disruption again; the
  -- disruption controller writes the budget's status within 5 s of the replacement turning Ready
  -- (whose time the simulation writes in whole seconds: hence the extra second).
  local second = r:find("mutation", { verb = "evict", name = "web-6d4b9c7f8-wa222" }).time
  t.ok(second >= first.at and second <= first.at + 11000,
       "second eviction at " .. second .. " ms, replacement Ready at " .. first.at .. " ms")
  t.eq(r:find("step_finished", { step = "act" }).duration, second)
  t.eq(r:find("wait_finished", { what = "node node-a drained" }).ok, true)

  -- After the world settled: node-a holds only its DaemonSet pod; three web pods run Ready elsewhere.
  local where = placement(r)
  t.eq(where["node-a"], { "monitoring/node-exporter-aaaaa" })
  local web = {}
  for _, p in ipairs(r:objects("lab", "Pod")) do
    if p.metadata.name:match("^web%-") then
      t.ok(ready(p), p.metadata.name .. " Ready")
      t.ok(p.spec.nodeName ~= "node-a", p.metadata.name .. " off node-a")
      web[#web + 1] = p.metadata.name
    end
  end
  t.eq(#web, 3)
  t.eq(unschedulable(r, "node-a"), true)
end)

t.case("a drain blocked by a budget times out naming the pod and the budget's numbers; the node stays cordoned",
       function()
  local r = run { node = "node-b", timeout = "1m" }
  t.eq(r.status, "failed")
  t.eq(r:find("phase_failed", { step = "act" }).error,
       CALL .. "timed out after 1m00s waiting for node node-b drained: 1 pod still on it: shop/api-85f7d6c4b-ab111 " ..
       "(PodDisruptionBudget shop/api: disruptionsAllowed 0, currentHealthy 2, desiredHealthy 2); " ..
       "raise the budget (or scale up what it protects) or move the workload off the node")
  t.eq(r:find("step_finished", { step = "act" }).duration, 60000)
  -- refused evictions are no mutations: web-3 was evicted, api-1 never
  t.eq(mutations(r), { "patch Node node-b", "evict Pod shop/web-6d4b9c7f8-wb333" })
  t.eq(#r:all("log", { step = "act" }), 2)     -- the plan, and the refusal once (not every retry)
  local where = placement(r)
  t.eq(where["node-b"], { "monitoring/node-exporter-bbbbb", "shop/api-85f7d6c4b-ab111" })
  t.eq(where["node-c"], NODE_C)
  t.eq(unschedulable(r, "node-b"), true)
end)

t.case("force deletes the pods instead of evicting them, budgets or not, with a warning", function()
  local r = run { node = "node-b", force = "true", settle = "1m" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { {
    node = "node-b", cordoned = true, evicted = {},
    deleted = { "shop/api-85f7d6c4b-ab111", "shop/web-6d4b9c7f8-wb333" },
    skipped = { { pod = "monitoring/node-exporter-bbbbb", reason = "daemonset" } },
  } })
  t.eq(mutations(r), { "patch Node node-b", "delete Pod shop/api-85f7d6c4b-ab111",
                       "delete Pod shop/web-6d4b9c7f8-wb333" })
  t.eq(r:warnings(),
       { "drain node node-b: force: deleting 2 pods without eviction; PodDisruptionBudgets are not honoured" })
  local where = placement(r)
  t.eq(where["node-b"], { "monitoring/node-exporter-bbbbb" })
  -- api lost a pod its budget protects; the Deployments replaced both pods elsewhere
  t.eq(replacements(where), { "shop/api-85f7d6c4b-(new)", "shop/web-6d4b9c7f8-(new)" })
end)

t.case("pods with emptyDir data or without a controller are refused before any change", function()
  local r = run { node = "node-e" }
  t.eq(r.status, "rolled_back")
  t.eq(r:find("phase_failed").error, CALL .. "drain node node-e: refused before any change: " ..
       "jobs/scratch-9f6b5c8d7-se111 uses emptyDir volumes, whose data the drain would delete " ..
       "(pass delete_emptydir_data = true to drain it anyway); default/debug has no controller, so nothing " ..
       "would recreate it (pass force = true to delete it anyway)")
  t.eq(mutations(r), {})
  t.eq(r.world, r.world_before)      -- not even cordoned

  r = run { node = "node-e", delete_emptydir_data = "true" }
  t.eq(r:find("phase_failed").error, CALL .. "drain node node-e: refused before any change: " ..
       "default/debug has no controller, so nothing would recreate it (pass force = true to delete it anyway)")
  t.eq(r.world, r.world_before)
end)

t.case("delete_emptydir_data evicts pods with emptyDir volumes", function()
  local r = run { node = "node-g", delete_emptydir_data = "true" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r), { { node = "node-g", cordoned = true, evicted = { "jobs/scratch-9f6b5c8d7-sg222" }, deleted = {},
                       skipped = {} } })
  t.eq(mutations(r), { "patch Node node-g", "evict Pod jobs/scratch-9f6b5c8d7-sg222" })
  t.eq(placement(r)["node-g"], nil)
end)

t.case("delete_emptydir_data with force drains both kinds", function()
  local r = run { node = "node-e", delete_emptydir_data = "true", force = "true" }
  t.eq(r.status, "succeeded", r.output)
  t.eq(results(r)[1].deleted, { "default/debug", "jobs/scratch-9f6b5c8d7-se111", "jobs/worker-5b8c7d9f6-we222" })
  t.eq(results(r)[1].evicted, {})
  t.eq(placement(r)["node-e"], nil)
  -- the bare pod is gone for good
  t.eq(find(r:objects("lab", "Pod"), "debug"), nil)
end)

---------------------------------------------------------------------------
-- Arguments (checked before anything touches the cluster)
---------------------------------------------------------------------------

t.case("drain's arguments are checked before the cluster is touched", function()
  local ctx = { wait = function() error("unreachable") end }
  local c = setmetatable({}, { __index = function() error("the cluster must not be used") end })
  t.raises(function() drain.drain(ctx, c, "node-a", { delete_local_data = true }) end,
           "drain: unknown option \"delete_local_data\" (known: delete_emptydir_data, force, timeout)")
  t.raises(function() drain.drain(ctx, c, "node-a", { timeout = "30" }) end,
           "drain: opts.timeout: invalid duration \"30\": expected e.g. 90s, 10m, 1h30m")
  t.raises(function() drain.drain({}, "node-a") end,
           "drain: the first argument must be the step's ctx: drain(ctx, ctx.cluster, node [, opts])")
  t.raises(function() drain.drain(ctx, c, 42) end, "drain: the node must be a name or a Node object, got number")
  t.raises(function() drain.cordon("node-a") end,
           "cordon: the first argument must be a cluster handle (ctx.cluster), got string")
  t.raises(function() drain.uncordon(c, nil) end, "uncordon: the node must be a name or a Node object, got nil")
end)

---------------------------------------------------------------------------
-- What the simulated API server does not model: graceful termination, a pod recreated under its
-- name, a refusal that is no budget's. A stand-in handle over a virtual clock, with a ctx whose
-- wait polls as the engine's does (at once, then every interval until the timeout).
---------------------------------------------------------------------------

local function stand_in(pods)
  local w = { now = 0, pods = pods, calls = {}, logs = {} }
  local c = {}
  function c.name() return "stand-in" end
  function c.get(_, ref) return { kind = "Node", metadata = { name = ref.name }, spec = {} } end
  function c.patch(_, ref) w.calls[#w.calls + 1] = "patch " .. ref.name; return true end
  function c.delete(_, ref) w.calls[#w.calls + 1] = "delete " .. ref.name; return true end
  function c.list(_, q)
    if q.kind ~= "Pod" then return {} end
    t.eq(q.fields, "spec.nodeName=node-1")
    local out = {}
    for _, p in ipairs(w.pods) do
      if not (p.gone_at and w.now >= p.gone_at) then
        out[#out + 1] = { metadata = { namespace = "app", name = p.name, uid = p.uid,
                                       ownerReferences = { { kind = "ReplicaSet", controller = true } } },
                          spec = { nodeName = "node-1" }, status = { phase = "Running" } }
      end
    end
    return out
  end
  function c.evict(_, ref)
    w.calls[#w.calls + 1] = "evict " .. ref.name .. " at " .. w.now
    for _, p in ipairs(w.pods) do
      if p.name == ref.name then return p.on_evict(w, p) end
    end
  end
  local ctx = { log = setmetatable({ warn = function() end }, {
    __call = function(_, fmt, ...) w.logs[#w.logs + 1] = string.format(fmt, ...) end }) }
  function ctx.now() return w.now end
  function ctx.fail(_, fmt, ...) error(string.format(fmt, ...), 0) end
  function ctx.wait(_, what, predicate, opts)
    local deadline = w.now + opts.timeout
    while true do
      local ok, why = predicate()
      if ok then return true end
      if w.now >= deadline then error("timed out waiting for " .. what .. ": " .. why, 0) end
      w.now = math.min(w.now + opts.interval, deadline)
    end
  end
  return w, c, ctx
end

t.case("an evicted pod that takes its grace period is awaited, and named as terminating at the timeout", function()
  local function leaves_after_30s(w, p) p.gone_at = w.now + 30000; return true end
  local w, c, ctx = stand_in { { name = "slow", uid = "u1", on_evict = leaves_after_30s } }
  local s = drain.drain(ctx, c, "node-1")
  t.eq(s.evicted, { "app/slow" })
  t.eq(w.now, 30000)
  t.eq(w.calls, { "patch node-1", "evict slow at 0" })

  w, c, ctx = stand_in { { name = "slow", uid = "u1", on_evict = leaves_after_30s } }
  local err = t.raises(function() drain.drain(ctx, c, "node-1", { timeout = "20s" }) end)
  t.eq(err, "timed out waiting for node node-1 drained: 1 pod still on it: app/slow (terminating)")
end)

t.case("a pod recreated under its name (another uid) counts as gone; a pod already gone (404) is not evicted",
       function()
  local w, c, ctx = stand_in {
    { name = "db-0", uid = "u1", on_evict = function(_, p) p.uid = "u2"; return true end },
    { name = "vanished", uid = "u3",
      on_evict = function(_, p) p.gone_at = 0; return nil, "pods \"vanished\" not found", 404 end },
  }
  local s = drain.drain(ctx, c, "node-1")
  t.eq(s.evicted, { "app/db-0" })
  t.eq(w.now, 0)
end)

t.case("a refusal no budget explains is retried with backoff and named with its own words at the timeout", function()
  local function busy() return nil, "Too many requests, please try again later.", 429 end
  local w, c, ctx = stand_in { { name = "api", uid = "u1", on_evict = busy } }
  local err = t.raises(function() drain.drain(ctx, c, "node-1", { timeout = "1m" }) end)
  t.eq(err, "timed out waiting for node node-1 drained: 1 pod still on it: app/api " ..
            "(eviction refused: Too many requests, please try again later.)")
  -- 5 s, then doubling to at most 30 s between rounds that evicted nothing
  t.eq(w.calls, { "patch node-1", "evict api at 0", "evict api at 5000", "evict api at 15000", "evict api at 35000" })
  t.eq(w.logs[2], "drain node node-1: eviction of app/api refused (Too many requests, please try again later.); " ..
                  "retrying for up to 1m")
end)
