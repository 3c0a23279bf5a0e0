-- refit.sim.kube_daemonset: the DaemonSet controller of a simulated cluster.
--
-- DaemonSet pods are not materialised (a 2,000-node world would hold 6,000 of them for nothing):
-- the status is computed from the nodes. A node counts when the DaemonSet's nodeSelector and node
-- affinity match it, it tolerates the node's NoExecute taints, and it is not a Fargate node
-- (Fargate runs no DaemonSets). NoSchedule taints are ignored: they keep new pods off a node but
-- leave running ones in place, and every node here already runs its DaemonSet pods.
--
-- A template change (a new image) rolls over the nodes in steps of maxUnavailable (rounded up from a
-- percentage; default 1), each step taking 10-20 s; with updateStrategy OnDelete nothing rolls. If
-- the new image crash-loops (scenario fault `pod-crashloop`), the first step never completes.
--
-- Counts are kept incrementally per node change, so a status costs O(1), not a scan of the nodes.
-- Part of refit.sim.kube: `K` is that module, `S` its per-cluster state.

local util = require "refit.sim.util"

local STEP_MIN, STEP_MAX = 10000, 20000

return function(W, K)
  local DS = {}

  local function compute_match(d, n)
    if n.fargate then return false end
    if not util.map_matches(d.node_selector, n.labels) then return false end
    if not util.node_affinity_matches(d.affinity, n.labels) then return false end
    local no_execute = {}
    for _, t in ipairs(n.taints) do
      if t.effect == "NoExecute" then no_execute[#no_execute + 1] = t end
    end
    return util.tolerates(d.tolerations, no_execute)
  end

  -- The label keys the DaemonSet's placement reads: the Fargate label, its nodeSelector's, its
  -- required node affinity's.
  local function label_keys(d)
    local keys = { ["eks.amazonaws.com/compute-type"] = true }
    for k in pairs(d.node_selector or {}) do keys[k] = true end
    local terms = util.get(d.affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    for _, term in ipairs(type(terms) == "table" and terms or {}) do
      for _, e in ipairs(term.matchExpressions or {}) do keys[e.key] = true end
    end
    return util.sorted_keys(keys)
  end

  -- What of a node the answer depends on: those labels' values and the NoExecute taints.
  local function signature(d, n)
    local parts = {}
    for i, k in ipairs(d.keys) do parts[i] = n.labels[k] or "\0" end
    for _, t in ipairs(n.taints) do
      if t.effect == "NoExecute" then parts[#parts + 1] = tostring(t.key) .. "=" .. tostring(t.value or "") end
    end
    return table.concat(parts, "\1")
  end

  -- Whether the DaemonSet runs on a node. The answer depends only on the node's labels and taints,
  -- which node summaries share while they do not change: it is kept per node until they do, and
  -- per signature (most nodes look alike to a DaemonSet).
  local function matches(d, name, n)
    if not n then return false end
    local m = d.match
    if m.labels[name] == n.labels and m.taints[name] == n.taints then return m.result[name] end
    local sig = signature(d, n)
    local result = d.by_signature[sig]
    if result == nil then
      result = compute_match(d, n)
      d.by_signature[sig] = result
    end
    m.labels[name], m.taints[name], m.result[name] = n.labels, n.taints, result
    return result
  end

  -- Adds (sign 1) or removes (sign -1) a node's contribution to the DaemonSet's counters.
  local function account(d, name, n, sign)
    if not matches(d, name, n) then return end
    local c = d.counts
    c.desired = c.desired + sign
    if n.ready then c.ready = c.ready + sign end
    if d.old[name] then
      c.old = c.old + sign
      if n.ready then c.ready_old = c.ready_old + sign end
    end
    if d.updating[name] and n.ready then c.updating_ready = c.updating_ready + sign end
  end

  local function recount(S, d)
    d.counts = { desired = 0, ready = 0, old = 0, ready_old = 0, updating_ready = 0 }
    for name, n in pairs(S.nodes) do account(d, name, n, 1) end
  end

  local function status_of(d)
    local c = d.counts
    local available = d.crash and c.ready_old or (c.ready - c.updating_ready)
    return {
      observedGeneration = d.gen,
      desiredNumberScheduled = c.desired,
      currentNumberScheduled = c.desired,
      updatedNumberScheduled = c.desired - c.old,
      numberReady = available,
      numberAvailable = available,
      numberUnavailable = c.desired - available,
      numberMisscheduled = 0,
    }
  end

  local function write_all(S)
    S.written = S.written or {}
    for _, key in ipairs(util.sorted_keys(S.ds)) do
      local d = S.ds[key]
      local st = status_of(d)
      if not util.deep_equal(S.written["DaemonSet:" .. key], st) then
        S.written["DaemonSet:" .. key] = st
        S.c:patch_status({ kind = "DaemonSet", namespace = d.ns, name = d.name }, st, { quiet = true })
      end
    end
  end

  local function dirty(S)
    if S.started then K.coalesce(S, "daemonset-status", K.STATUS_SYNC, function() write_all(S) end) end
  end

  -- Moves a node between the rollout's sets, keeping the counters right.
  local function move(S, d, name, from, to)
    local n = S.nodes[name]
    account(d, name, n, -1)
    if from then d[from][name] = nil end
    if to then d[to][name] = true end
    account(d, name, n, 1)
  end

  -- One rollout step: the nodes being updated are done (unless the new pods crash), and the next
  -- batch of old nodes starts.
  local function step(S, key)
    local d = S.ds[key]
    if not d then return end
    d.timer = nil
    if d.crash and next(d.updating) then
      dirty(S) -- stuck: the new pods never become available
      return
    end
    for _, name in ipairs(util.sorted_keys(d.updating)) do move(S, d, name, "updating", nil) end
    local batch = math.max(1, util.int_or_percent(d.max_unavailable, d.counts.desired, true) or 1)
    local started = 0
    for _, name in ipairs(util.sorted_keys(d.old)) do
      if started >= batch then break end
      if S.nodes[name] then
        move(S, d, name, "old", "updating")
        started = started + 1
      else
        d.old[name] = nil
      end
    end
    if started > 0 then
      d.timer = W.after(W.random(STEP_MIN, STEP_MAX), function() step(S, key) end,
                        S.name .. ": daemonset " .. key .. " rollout step")
    end
    dirty(S)
  end

  -- Records a DaemonSet's spec; a new template starts a rollout.
  local function observe(S, obj, initial)
    local key = obj.metadata.namespace .. "/" .. obj.metadata.name
    local spec = obj.spec or {}
    local tspec = util.get(spec, "template", "spec") or {}
    local d = S.ds[key]
    local gen = obj.metadata.generation or 1
    if d and d.gen == gen then return end   -- same generation, same spec
    local fp = util.canonical(spec.template)
    if d and d.fp == fp and d.spec_fp == util.canonical(spec) then d.gen = gen return end
    local new_template = not d or d.fp ~= fp
    if not d then S.ds_keys = nil end
    d = d or { key = key, ns = obj.metadata.namespace, name = obj.metadata.name, old = {}, updating = {} }
    S.ds[key] = d
    d.gen, d.fp, d.spec_fp = gen, fp, util.canonical(spec)
    d.node_selector, d.affinity, d.tolerations = tspec.nodeSelector, tspec.affinity, tspec.tolerations
    d.match, d.by_signature = { labels = {}, taints = {}, result = {} }, {}
    d.keys = label_keys(d)
    local strategy = spec.updateStrategy or {}
    d.on_delete = strategy.type == "OnDelete"
    d.max_unavailable = util.get(strategy, "rollingUpdate", "maxUnavailable") or 1
    local images = {}
    for _, c in ipairs(tspec.containers or {}) do images[#images + 1] = c.image end
    d.crash = K.image_crashes(S.name, images)
    if new_template and not initial and S.ds_seen[key] then
      -- every node runs the old template now; the rollout replaces them batch by batch
      d.old, d.updating = {}, {}
      for name, n in pairs(S.nodes) do
        if matches(d, name, n) then d.old[name] = true end
      end
      if d.timer then W.cancel(d.timer) d.timer = nil end
      recount(S, d)
      if not d.on_delete then
        d.timer = W.after(0, function() step(S, key) end, S.name .. ": daemonset " .. key .. " rollout")
      end
    else
      recount(S, d)
    end
    S.ds_seen[key] = true
    dirty(S)
  end

  local function on_node(S, name, old, new)
    -- a change of neither labels, taints nor readiness (a cordon, say) leaves every count as it is
    local same = old and new and old.labels == new.labels and old.taints == new.taints and old.ready == new.ready
    if not same then
      S.ds_keys = S.ds_keys or util.sorted_keys(S.ds)
      for _, key in ipairs(S.ds_keys) do
        local d = S.ds[key]
        account(d, name, old, -1)
        if not new then
          d.old[name], d.updating[name] = nil, nil
          d.match.labels[name], d.match.taints[name], d.match.result[name] = nil, nil, nil
        end
        account(d, name, new, 1)
      end
    end
    if next(S.ds) then dirty(S) end
  end

  function DS.start(S)
    S.ds, S.ds_seen = {}, {}
    for _, obj in ipairs(S.c:list { kind = "DaemonSet" }) do observe(S, obj, true) end
    write_all(S)
    table.insert(S.node_observers, on_node)
  end

  function DS.subscribe(S)
    W.on_change(S.name, "DaemonSet", function(change)
      local obj = change.object
      local key = obj.metadata.namespace .. "/" .. obj.metadata.name
      if change.type == "DELETED" then
        local d = S.ds[key]
        if d and d.timer then W.cancel(d.timer) end
        S.ds[key], S.ds_keys = nil, nil
        return
      end
      observe(S, obj, false)
    end)
  end

  return DS
end
