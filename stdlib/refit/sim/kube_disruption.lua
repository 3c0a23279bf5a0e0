-- refit.sim.kube_disruption: PodDisruptionBudgets, the eviction API and node drains.
--
-- The disruption controller keeps each budget's status (currentHealthy, desiredHealthy,
-- disruptionsAllowed, expectedPods) as pods come and go; evictions check the live numbers, as the
-- API server does, so several evictions at the same instant cannot overdraw a budget.
--
--   kube.evict(cluster, pod)            -> true | false, pdb name (blocked) | nil, "not found"
--   kube.drain(cluster, node, opts)     -> true | false, { { pod =, pdb =, node = }, ... }
--
-- Part of refit.sim.kube: `K` is that module, `S` its per-cluster state.

local util = require "refit.sim.util"

return function(W, K)
  local P = {}

  local function selects(p, labels)
    -- policy/v1beta1: an empty selector selects nothing; policy/v1: everything
    if p.v1beta1 and (p.selector == nil or next(p.selector) == nil) then return false end
    return util.selector_matches(p.selector, labels)
  end

  -- Indexes, so that a pod event looks only at the budgets that may select it:
  --   S.pdb_by_label[ns]["k=v"] = { pdbkey = true }  budgets whose first matchLabels pair is k=v
  --   S.pdb_scan[ns]            = { pdbkey = true }  budgets without matchLabels (checked always)
  --   S.pod_pdbs[podkey]        = { pdbkey = true }  the budgets a pod is a member of
  local function index_of(p)
    local keys = util.sorted_keys(p.selector and p.selector.matchLabels or {})
    if #keys == 0 then return nil end
    return keys[1] .. "=" .. tostring(p.selector.matchLabels[keys[1]])
  end

  local function set_index(S, p, on)
    local ns = p.ns
    local bucket
    if p.index then
      S.pdb_by_label[ns] = S.pdb_by_label[ns] or {}
      S.pdb_by_label[ns][p.index] = S.pdb_by_label[ns][p.index] or {}
      bucket = S.pdb_by_label[ns][p.index]
    else
      S.pdb_scan[ns] = S.pdb_scan[ns] or {}
      bucket = S.pdb_scan[ns]
    end
    bucket[p.key] = on or nil
  end

  -- Membership: members[podkey] = "ready" | "unready". Returns whether it changed.
  local function set_member(S, p, key, value)
    local was = p.members[key]
    if was == value then return false end
    if was then
      p.n_members = p.n_members - 1
      if was == "ready" then p.n_healthy = p.n_healthy - 1 end
    end
    p.members[key] = value
    if value then
      p.n_members = p.n_members + 1
      if value == "ready" then p.n_healthy = p.n_healthy + 1 end
    end
    local set = S.pod_pdbs[key]
    if value then
      if not set then set = {} S.pod_pdbs[key] = set end
      set[p.key] = true
    elseif set then
      set[p.key] = nil
      if next(set) == nil then S.pod_pdbs[key] = nil end
    end
    return true
  end

  local function member_value(p, pod)
    if pod and selects(p, pod.labels) then return pod.ready and "ready" or "unready" end
    return nil
  end

  local function rebuild(S, p)
    for key in pairs(p.members or {}) do set_member(S, p, key, nil) end
    p.members, p.n_members, p.n_healthy = {}, 0, 0
    for key in pairs(S.pods_by_ns[p.ns] or {}) do set_member(S, p, key, member_value(p, S.pods[key])) end
  end

  -- The budget's numbers now: healthy, desired, allowed, expected.
  local function numbers(S, p)
    local healthy = p.n_healthy
    local min, max = p.min_available, p.max_unavailable
    local expected
    if math.type(min) == "integer" then
      expected = p.n_members
    else
      -- the scale of the owning controllers, as the disruption controller reads it
      expected = 0
      local seen = {}
      for key in pairs(p.members) do
        local pod = S.pods[key]
        local d = pod and pod.deploy and S.deploys[pod.deploy]
        if d then
          if not seen[d.key] then seen[d.key] = true expected = expected + d.replicas end
        else
          expected = expected + 1
        end
      end
    end
    local desired
    if min ~= nil then
      desired = util.int_or_percent(min, expected, true)
    elseif max ~= nil then
      desired = math.max(0, expected - util.int_or_percent(max, expected, true))
    else
      desired = expected
    end
    return { healthy = healthy, desired = desired, allowed = math.max(0, healthy - desired), expected = expected }
  end

  local function status_of(S, p)
    local n = numbers(S, p)
    local ok = n.allowed > 0
    return {
      observedGeneration = p.gen,
      currentHealthy = n.healthy, desiredHealthy = n.desired,
      disruptionsAllowed = n.allowed, expectedPods = n.expected,
      conditions = W.json.array { {
        type = "DisruptionAllowed", status = ok and "True" or "False",
        reason = ok and "SufficientPods" or "InsufficientPods", message = "",
        observedGeneration = p.gen,
      } },
    }
  end

  -- Writes the status of the budgets whose pods changed (all of them when `all`).
  function P.write_all(S, all)
    S.written = S.written or {}
    local keys = util.sorted_keys(all and S.pdbs or S.pdb_dirty)
    S.pdb_dirty = {}
    for _, key in ipairs(keys) do
      local p = S.pdbs[key]
      if p then
        local st = status_of(S, p)
        if not util.deep_equal(S.written["PDB:" .. key], st) then
          S.written["PDB:" .. key] = st
          S.c:patch_status({ apiVersion = p.api_version, kind = "PodDisruptionBudget", namespace = p.ns, name = p.name }, st, { quiet = true })
        end
      end
    end
  end

  local function dirty(S, key)
    S.pdb_dirty[key] = true
    if S.started then K.coalesce(S, "pdb-status", K.STATUS_SYNC, function() P.write_all(S) end) end
  end

  local function forget(S, key)
    local p = S.pdbs[key]
    if not p then return end
    for podkey in pairs(p.members) do set_member(S, p, podkey, nil) end
    set_index(S, p, false)
    S.pdbs[key] = nil
  end

  local function observe(S, obj)
    local key = obj.metadata.namespace .. "/" .. obj.metadata.name
    local spec = obj.spec or {}
    local p = S.pdbs[key]
    local gen = obj.metadata.generation or 1
    if p and p.gen == gen then return end   -- same generation, same spec
    if p then forget(S, key) end
    p = { key = key, ns = obj.metadata.namespace, name = obj.metadata.name, gen = gen, api_version = obj.apiVersion,
          v1beta1 = obj.apiVersion == "policy/v1beta1",
          selector = spec.selector, min_available = spec.minAvailable, max_unavailable = spec.maxUnavailable }
    p.index = index_of(p)
    S.pdbs[key] = p
    set_index(S, p, true)
    rebuild(S, p)
    dirty(S, key)
  end

  local function on_pod(S, key, old, new)
    local ns = (new or old).ns
    local candidates = {}
    for pkey in pairs(S.pod_pdbs[key] or {}) do candidates[pkey] = true end
    for pkey in pairs(S.pdb_scan[ns] or {}) do candidates[pkey] = true end
    local by_label = S.pdb_by_label[ns]
    if by_label and new then
      for k, v in pairs(new.labels) do
        for pkey in pairs(by_label[k .. "=" .. v] or {}) do candidates[pkey] = true end
      end
    end
    for pkey in pairs(candidates) do
      local p = S.pdbs[pkey]
      if p and set_member(S, p, key, member_value(p, new)) then dirty(S, pkey) end
    end
  end

  function P.start(S)
    S.pdbs, S.pdb_dirty, S.pdb_by_label, S.pdb_scan, S.pod_pdbs = {}, {}, {}, {}, {}
    table.insert(S.pod_observers, on_pod)
    for _, obj in ipairs(S.c:list { kind = "PodDisruptionBudget" }) do observe(S, obj) end
  end

  function P.subscribe(S)
    W.on_change(S.name, "PodDisruptionBudget", function(change)
      local obj = change.object
      local key = obj.metadata.namespace .. "/" .. obj.metadata.name
      if change.type == "DELETED" then
        forget(S, key)
        return
      end
      observe(S, obj)
    end)
  end

  -- { currentHealthy, desiredHealthy, disruptionsAllowed, expectedPods } of a budget, live.
  function P.status(cluster, ns, name)
    local S = K.state(cluster)
    local p = S.pdbs and S.pdbs[ns .. "/" .. name]
    return p and status_of(S, p)
  end

  local function key_of(pod)
    if type(pod) == "string" then return pod end
    local md = pod.metadata or pod
    return md.namespace .. "/" .. md.name
  end

  -- Evicts a pod unless a disruption budget forbids it. A Ready pod needs disruptionsAllowed > 0 in
  -- every budget selecting it; a pod that is not Ready may go when its budgets are met.
  function P.evict(cluster, pod)
    local S = K.state(cluster)
    local key = key_of(pod)
    local p = S.pods[key]
    if not p then return nil, "not found" end
    for _, pkey in ipairs(util.sorted_keys(S.pod_pdbs[key] or {})) do
      local b = S.pdbs[pkey]
      if b and b.members[key] then
        local n = numbers(S, b)
        if (p.ready and n.allowed <= 0) or (not p.ready and n.healthy < n.desired) then
          return false, b.name
        end
      end
    end
    K.remove_pod(S, key)
    return true
  end

  -- Drains a node: cordons it (unless opts.cordon == false), then evicts every pod except
  -- DaemonSet and mirror pods (opts.force deletes them regardless of budgets). Returns true when the
  -- node is empty, else false and what blocked: { pod = "ns/name", pdb = "ns/name", node = node }.
  function P.drain(cluster, node, opts)
    opts = opts or {}
    local S = K.state(cluster)
    if opts.cordon ~= false then
      local n = S.nodes[node]
      if n and not n.unschedulable then S.c:patch({ kind = "Node", name = node }, { spec = { unschedulable = true } }, { quiet = true }) end
    end
    local blocked = {}
    for _, key in ipairs(K.pods_on(S, node)) do
      local p = S.pods[key]
      if p.owner_kind == "DaemonSet" or p.mirror then
        -- left in place, as kubectl drain --ignore-daemonsets does
      elseif opts.force or p.phase == "Succeeded" or p.phase == "Failed" then
        K.remove_pod(S, key)
      else
        local ok, pdb = P.evict(cluster, key)
        if ok == false then blocked[#blocked + 1] = { pod = key, pdb = p.ns .. "/" .. pdb, node = node } end
      end
    end
    return #blocked == 0, blocked
  end

  return P
end
