-- refit.sim.kube: what Kubernetes' own controllers do in a simulated cluster.
--
--   local kube = require("refit.sim.kube")(W, { faults = faults })
--   kube.start("demo")      -- after the fixture's objects are in the store
--
-- Modelled here: node readiness (a new node boots, then turns Ready), the scheduler (round-robin
-- over Ready, schedulable, untainted nodes, honouring nodeSelector and node affinity), Deployments
-- (ReplicaSets and pods materialised, rolling updates, replacement of deleted pods, status), and pod
-- garbage collection when a node goes away. The Deployment and ReplicaSet controllers
-- (kube_deployment.lua), DaemonSets (kube_daemonset.lua), and disruption budgets, eviction and
-- drain (kube_disruption.lua) share the same per-cluster state; kube_objects.lua builds the objects.
--
-- The controllers keep a summary of the nodes and pods they care about, maintained from W.on_change,
-- so that a step of a 2,000-node upgrade costs O(what changed), never a scan of the cluster. Every
-- handler is idempotent (the controllers also see their own writes) and never reconciles inline: it
-- marks work and schedules one coalesced timer, so a burst of changes costs one pass.

local util = require "refit.sim.util"

-- Timing (milliseconds). Boot and start delays are drawn from the world's seeded generator.
local NODE_BOOT_MIN, NODE_BOOT_MAX = 60000, 120000    -- a new node's kubelet reports Ready
local POD_START_MIN, POD_START_MAX = 5000, 15000      -- image pull + container start
local REPLACE_DELAY = 3000                            -- a ReplicaSet notices a missing pod
local STATUS_SYNC = 5000                              -- controllers write status at most this often
local PROGRESS_DEADLINE = 600000                      -- default progressDeadlineSeconds

return function(W, opts)
  opts = opts or {}
  local faults = opts.faults
  local objects = require("refit.sim.kube_objects")(W)
  local K = { NODE_BOOT_MIN = NODE_BOOT_MIN, NODE_BOOT_MAX = NODE_BOOT_MAX, STATUS_SYNC = STATUS_SYNC }
  local states, order = {}, {}

  -- Per-cluster state ------------------------------------------------------------------------------

  local function state(cluster)
    local S = states[cluster]
    if not S then
      S = {
        name = cluster, c = W.cluster(cluster),
        nodes = {},          -- name -> node summary (see summarize_node)
        candidates = {},     -- Ready, schedulable node names, sorted: the scheduler's round-robin
                             -- order, kept up to date node by node (never rebuilt from all nodes)
        rr = 0,              -- round-robin cursor into candidates
        -- The scheduler's node count ("0/N nodes are available", Fargate subnets) counts a deleted
        -- node until the scheduler next looks at its candidates after a schedulability change.
        node_count = 0,      -- nodes the scheduler counts
        name_entries = {},   -- node name -> how many times node_count counts it
        gone_names = {},     -- deleted node names node_count still counts
        recheck = true,      -- a schedulability change since the scheduler last looked
        pods = {},           -- "ns/name" -> pod summary
        pods_by_ns = {},     -- ns -> { podkey = true }
        pods_by_node = {},   -- node name -> { podkey = true }
        owned = {},          -- deployment key -> { podkey = true }
        pending = {},        -- podkey -> true: not yet scheduled
        waiting = {},        -- node name -> { podkey = true }: scheduled, waiting for the node to be Ready
        deploys = {},        -- "ns/name" -> deployment summary
        timers = {},         -- coalescing: key -> timer id
        ip = 0,
        placement = {},      -- hooks: fn(S, pod) -> node name, start delay ms (e.g. Fargate)
        pod_gone = {},       -- hooks: fn(S, summary) after a pod left the store
        node_ready = {},     -- hooks: fn(S, node name) when a node turns Ready
        never_ready = {},    -- node name -> true (scenario fault)
        pod_observers = {},  -- fn(S, key, old_summary, new_summary): disruption budgets
        node_observers = {}, -- fn(S, name, old_summary, new_summary): daemonsets
        started = false,
      }
      states[cluster] = S
      order[#order + 1] = cluster
    end
    return S
  end
  K.state = state

  -- Schedules fn once per key: further calls before it runs are absorbed (an earlier due time wins).
  local function coalesce(S, key, delay, fn)
    local t = S.timers[key]
    local due = W.now() + delay
    if t then
      if t.due <= due then return end
      W.cancel(t.id)
    end
    local entry = { due = due }
    entry.id = W.after(delay, function()
      if S.timers[key] == entry then S.timers[key] = nil end
      fn()
    end, S.name .. ": " .. key)
    S.timers[key] = entry
  end
  K.coalesce = coalesce

  local function random_suffix(n)
    local a, out = util.NAME_ALPHABET, {}
    for i = 1, n do
      local k = W.random(1, #a)
      out[i] = a:sub(k, k)
    end
    return table.concat(out)
  end
  K.random_suffix = random_suffix

  -- Nodes ---------------------------------------------------------------------------------------------

  local function condition(obj, ctype)
    local status = obj.status
    local conds = type(status) == "table" and status.conditions
    if type(conds) ~= "table" then return nil end
    for _, c in ipairs(conds) do
      if c.type == ctype then return c end
    end
  end

  local function field(t, k)
    if type(t) ~= "table" then return nil end
    return t[k]
  end

  -- Whether taints keep pods without tolerations off a node (NoSchedule, NoExecute).
  local function blocking(taints)
    for _, t in ipairs(taints) do
      if t.effect == "NoSchedule" or t.effect == "NoExecute" then return true end
    end
    return false
  end

  -- A node's summary. Labels and taints equal to those of `old` (the node's previous summary) are
  -- shared with it, so that observers can tell "unchanged" by identity.
  local function summarize_node(obj, old)
    local md, spec, status = obj.metadata, obj.spec, obj.status
    local ready = condition(obj, "Ready")
    local labels = field(md, "labels") or {}
    local taints = field(spec, "taints") or {}
    local ip
    for _, a in ipairs(field(status, "addresses") or {}) do
      if a.type == "InternalIP" then ip = a.address end
    end
    if old then
      if util.same_map(old.labels, labels) then labels = old.labels end
      if util.deep_equal(old.taints, taints) then taints = old.taints end
    end
    return {
      ip = ip,
      name = md.name,
      labels = labels,
      taints = taints,
      blocking = blocking(taints),
      unschedulable = field(spec, "unschedulable") == true,
      ready = ready ~= nil and ready.status == "True",
      fargate = labels["eks.amazonaws.com/compute-type"] == "fargate",
      kubelet = field(field(status, "nodeInfo"), "kubeletVersion"),
    }
  end

  local function same_node(a, b)
    return a.labels == b.labels and a.taints == b.taints and a.ready == b.ready and a.ip == b.ip
       and a.unschedulable == b.unschedulable and a.kubelet == b.kubelet and a.name == b.name
  end

  -- A copy of a node summary (to change a field of it).
  local function copy_summary(n)
    local out = {}
    for k, v in pairs(n) do out[k] = v end
    return out
  end

  K.node_conditions, K.node_object = objects.node_conditions, objects.node_object

  local schedulable -- forward

  local start_waiting -- forward: pods that waited for a node to turn Ready

  -- The position of `name` in the sorted list `names`: its index, or where it would go.
  local function search(names, name)
    local lo, hi = 1, #names + 1
    while lo < hi do
      local mid = (lo + hi) // 2
      if names[mid] < name then lo = mid + 1 else hi = mid end
    end
    return lo
  end

  -- Records a node's new summary (`new` nil: the node is gone) and tells the observers.
  local function track_summary(S, name, old, new)
    S.nodes[name] = new
    if not old and new then
      S.node_count = S.node_count + 1
      S.name_entries[name] = (S.name_entries[name] or 0) + 1
    elseif old and not new then
      S.gone_names[name] = true -- uncounted lazily, when the scheduler next looks (see place)
    end
    -- the candidate list holds the schedulable nodes; the scheduler rechecks its count when a node
    -- comes, goes, or changes schedulability (nil ~= false: a node added or deleted counts)
    local was, is = old and schedulable(old), new and schedulable(new)
    if was ~= is then S.recheck = true end
    if (was == true) ~= (is == true) then
      local list = S.candidates
      local i = search(list, name)
      if is then
        if list[i] ~= name then table.insert(list, i, name) end
      elseif list[i] == name then
        table.remove(list, i)
      end
    end
    for _, fn in ipairs(S.node_observers) do fn(S, name, old, new) end
    if new and new.ready and not (old and old.ready) then
      for _, fn in ipairs(S.node_ready) do fn(S, name) end
      if S.waiting[name] then start_waiting(S, name) end
    end
    if S.started and next(S.pending) and new and new.ready and not new.unschedulable then
      coalesce(S, "schedule-pending", 0, function() K.schedule_pending(S) end)
    end
  end

  -- Updates the summary of one node from its object (`obj` nil: the node is gone).
  local function track_node(S, name, obj)
    local old = S.nodes[name]
    local new = obj and summarize_node(obj, old) or nil
    if old and new and same_node(old, new) then return end
    if not old and not new then return end
    track_summary(S, name, old, new)
  end

  -- New nodes boot: every node added at the same instant turns Ready after one shared delay (one
  -- timer per batch, not per node), unless a scenario fault keeps it NotReady forever.
  local function boot(S, name)
    S.booting = S.booting or {}
    if S.booting[name] then return end
    S.booting[name] = true
    if faults and faults.node_never_ready(S.name, S.nodes[name]) then
      S.never_ready[name] = true
      W.log("%s: node %s will never become Ready (scenario fault)", S.name, name)
      return
    end
    local b = S.boot_batch
    if not b or b.at ~= W.now() then
      b = { at = W.now(), names = {} }
      S.boot_batch = b
      W.after(W.random(NODE_BOOT_MIN, NODE_BOOT_MAX), function()
        for _, n in ipairs(b.names) do
          local old = S.nodes[n]
          if old and not old.ready then
            S.c:patch_status({ kind = "Node", name = n }, { conditions = K.node_conditions(true) }, { quiet = true })
            local new = copy_summary(old)
            new.ready = true
            track_summary(S, n, old, new)
          end
        end
      end, S.name .. ": nodes boot")
    end
    b.names[#b.names + 1] = name
  end

  local function on_node(S, change)
    local obj, name = change.object, change.object.metadata.name
    if change.type == "DELETED" then
      if S.nodes[name] then
        track_node(S, name, nil)
        K.collect_pods_of_node(S, name)
      end
      return
    end
    track_node(S, name, obj)
    if change.type == "ADDED" and not S.nodes[name].ready then boot(S, name) end
  end

  -- For models that create nodes before the controllers subscribe (the fixture's nodes, Fargate
  -- nodes at load): `obj` is the Node as stored.
  function K.observe_node(cluster, obj) track_node(state(cluster), obj.metadata.name, obj) end

  -- Whether the controllers of a cluster run (after kube.start).
  function K.started(cluster) return state(cluster).started end

  -- How many nodes the scheduler counts (see node_count above).
  function K.node_count(S) return S.node_count end

  -- Whether a node is Ready (nil when it does not exist).
  function K.node(cluster, name) return state(cluster).nodes[name] end
  function K.never_ready(cluster, name) return state(cluster).never_ready[name] == true end

  -- Scheduling ----------------------------------------------------------------------------------------

  function schedulable(n)
    if not n.ready or n.unschedulable or n.fargate then return false end
    return true
  end
  K.schedulable = schedulable

  -- The scheduler looks at its candidates: nodes deleted since the last schedulability change stop
  -- being counted.
  local function recheck(S)
    if not S.recheck then return end
    S.recheck = false
    if next(S.gone_names) == nil then return end
    for name in pairs(S.gone_names) do
      if not S.nodes[name] then
        S.node_count = S.node_count - S.name_entries[name]
        S.name_entries[name] = nil
      end
    end
    S.gone_names = {}
  end

  local function fits(n, spec)
    return util.map_matches(spec.nodeSelector, n.labels)
       and util.node_affinity_matches(spec.affinity, n.labels)
       and util.tolerates(spec.tolerations, n.taints)
  end

  -- Whether only taints can keep a pod with this spec off a node (no nodeSelector, no required node
  -- affinity, no tolerations): then it fits exactly the nodes without blocking taints.
  local function plain(spec)
    if spec.nodeSelector ~= nil and next(spec.nodeSelector) ~= nil then return false end
    if spec.tolerations ~= nil and next(spec.tolerations) ~= nil then return false end
    local terms = util.get(spec.affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    return type(terms) ~= "table" or #terms == 0
  end

  local NODE_START = { POD_START_MIN, POD_START_MAX }

  -- Chooses a node for a pod (a Pod object): a placement hook (Fargate) first, then round robin.
  -- Returns the node name and the pod's start delay range { min, max } (ms), or nil and the
  -- scheduler's message.
  local function place(S, pod)
    for _, hook in ipairs(S.placement) do
      local node, range = hook(S, pod)
      if node then return node, range end
    end
    recheck(S)
    local list, nodes = S.candidates, S.nodes
    local n = #list
    local spec = pod.spec
    local rr = S.rr
    if plain(spec) then
      for i = 1, n do
        local idx = (rr + i - 1) % n + 1
        local node = nodes[list[idx]]
        if not node.blocking then
          S.rr = idx
          return node.name, NODE_START
        end
      end
    else
      for i = 1, n do
        local idx = (rr + i - 1) % n + 1
        local node = nodes[list[idx]]
        if fits(node, spec) then
          S.rr = idx
          return node.name, NODE_START
        end
      end
    end
    return nil, string.format("0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector or had untolerated taints.",
                              S.node_count, S.node_count)
  end

  -- Pods ----------------------------------------------------------------------------------------------

  local function pod_key(obj) return obj.metadata.namespace .. "/" .. obj.metadata.name end

  local function images_of(spec)
    local out = {}
    for _, c in ipairs(spec and spec.containers or {}) do out[#out + 1] = c.image end
    return out
  end

  local function summarize_pod(S, obj)
    local md, spec = obj.metadata, obj.spec or {}
    local owner_kind, owner_name
    for _, o in ipairs(md.ownerReferences or {}) do
      if o.controller then owner_kind, owner_name = o.kind, o.name end
    end
    local labels = md.labels or {}
    local deploy
    if owner_kind == "ReplicaSet" and labels["pod-template-hash"] then
      local dname = owner_name:sub(1, #owner_name - #labels["pod-template-hash"] - 1)
      deploy = md.namespace .. "/" .. dname
    end
    local ready = condition(obj, "Ready")
    return {
      key = pod_key(obj), ns = md.namespace, name = md.name, labels = labels,
      node = spec.nodeName, deploy = deploy, hash = labels["pod-template-hash"],
      owner_kind = owner_kind,
      mirror = (md.annotations or {})["kubernetes.io/config.mirror"] ~= nil,
      phase = field(obj.status, "phase") or "Pending",
      ready = ready ~= nil and ready.status == "True",
      images = images_of(spec),
      containers = spec.containers,
    }
  end

  -- Whether two summaries of a pod say the same.
  local function same_pod(a, b)
    return a.phase == b.phase and a.ready == b.ready and a.node == b.node and a.deploy == b.deploy
       and a.hash == b.hash and a.owner_kind == b.owner_kind and a.mirror == b.mirror
       and util.same_map(a.labels, b.labels) and util.deep_equal(a.images, b.images)
       and util.deep_equal(a.containers, b.containers)
  end

  -- Records a pod's summary (obj nil: the pod is gone) and tells the observers.
  local function track_pod(S, key, new)
    local old = S.pods[key]
    if old == nil and new == nil then return end
    S.pods[key] = new
    local ns = (new or old or {}).ns
    if ns then
      S.pods_by_ns[ns] = S.pods_by_ns[ns] or {}
      S.pods_by_ns[ns][key] = new and true or nil
    end
    if old and old.deploy and (not new or new.deploy ~= old.deploy) and S.owned[old.deploy] then
      S.owned[old.deploy][key] = nil
    end
    if old and old.node and (not new or new.node ~= old.node) and S.pods_by_node[old.node] then
      S.pods_by_node[old.node][key] = nil
      if next(S.pods_by_node[old.node]) == nil then S.pods_by_node[old.node] = nil end
    end
    if new and new.node then
      S.pods_by_node[new.node] = S.pods_by_node[new.node] or {}
      S.pods_by_node[new.node][key] = true
    end
    if new and new.deploy then
      S.owned[new.deploy] = S.owned[new.deploy] or {}
      S.owned[new.deploy][key] = true
    end
    if not new then
      S.pending[key] = nil
      if old and old.node and S.waiting[old.node] then S.waiting[old.node][key] = nil end
    end
    for _, fn in ipairs(S.pod_observers) do fn(S, key, old, new) end
  end
  K.track_pod = function(S, obj) track_pod(S, pod_key(obj), summarize_pod(S, obj)) end

  local kick_deploy -- forward

  -- The controllers track their own writes as they make them: the changes they see afterwards
  -- mostly say what they know already, and cost only a comparison.
  local function on_pod(S, change)
    local key = pod_key(change.object)
    local old = S.pods[key]
    if change.type == "DELETED" then
      if not old then return end
      track_pod(S, key, nil)
      if old.deploy and S.deploys[old.deploy] then kick_deploy(S, old.deploy, REPLACE_DELAY) end
      for _, fn in ipairs(S.pod_gone) do fn(S, old) end
    else
      local new = summarize_pod(S, change.object)
      if old and same_pod(old, new) then return end
      track_pod(S, key, new)
    end
  end

  local function next_ip(S)
    S.ip = S.ip + 1
    return string.format("10.0.%d.%d", 128 + (S.ip // 250) % 128, S.ip % 250 + 2)
  end

  local function crashes(S, p) return K.image_crashes(S.name, p.images) end

  local function running_status(S, p, node, crash)
    return objects.running_status(p, S.nodes[node] and S.nodes[node].ip, next_ip(S), crash)
  end
  local pending_status = objects.pending_status

  -- Pods scheduled at the same instant with the same start delay range start together, after one
  -- delay drawn for the batch (one timer per batch, not per pod).
  local function start_later(S, key, range)
    local bkey = W.now() .. ":" .. range[1] .. "-" .. range[2]
    S.start_batches = S.start_batches or {}
    local b = S.start_batches[bkey]
    if not b then
      b = {}
      S.start_batches[bkey] = b
      W.after(W.random(range[1], range[2]), function()
        S.start_batches[bkey] = nil
        K.start_pods(S, b)
      end, S.name .. ": pods start")
    end
    b[#b + 1] = key
  end

  -- Marks scheduled pods Running (Ready unless they crash); pods whose node is not Ready yet wait
  -- for it. Kicks the owners, whose rollouts may now proceed.
  function K.start_pods(S, keys, instant)
    local owners = {}
    for _, key in ipairs(keys) do
      local p = S.pods[key]
      if p and p.node and p.phase == "Pending" then
        local n = S.nodes[p.node]
        if n and n.ready then
          local crash = crashes(S, p)
          S.c:patch_status({ kind = "Pod", namespace = p.ns, name = p.name },
                           running_status(S, p, p.node, crash), { quiet = true })
          local new = copy_summary(p)
          new.phase, new.ready = "Running", not crash
          track_pod(S, key, new)
          if p.deploy then owners[p.deploy] = true end
        elseif n then
          S.waiting[p.node] = S.waiting[p.node] or {}
          S.waiting[p.node][key] = true
        end
      end
    end
    if not instant then
      for d in util.spairs(owners) do kick_deploy(S, d, 0) end
    end
  end

  function start_waiting(S, node)
    local keys = util.sorted_keys(S.waiting[node])
    S.waiting[node] = nil
    for _, key in ipairs(keys) do start_later(S, key, NODE_START) end
  end

  -- Creates a pod (a Pod object without placement): schedules it, stores it, and starts it later,
  -- or at once when `instant` (the fixture's steady state at time 0: a pod whose node is Ready is
  -- created Running). The store keeps the pod as given, so its summary is made from `pod`.
  function K.create_pod(S, pod, instant)
    local node, range_or_msg = place(S, pod)
    pod.spec.nodeName = node
    local n = node and S.nodes[node]
    local running = instant and n and n.ready
    if running then
      local p = { name = pod.metadata.name, containers = pod.spec.containers }
      pod.status = running_status(S, p, node, K.image_crashes(S.name, images_of(pod.spec)))
    else
      pod.status = node and pending_status() or pending_status(range_or_msg)
    end
    S.c:create(pod, { quiet = true })
    local key = pod_key(pod)
    track_pod(S, key, summarize_pod(S, pod))
    if not node then
      S.pending[key] = true
    elseif instant then
      if not running then K.start_pods(S, { key }, true) end
    else
      start_later(S, key, range_or_msg)
    end
    return pod
  end

  -- Tries to schedule every pending pod (after nodes became available).
  function K.schedule_pending(S)
    for _, key in ipairs(util.sorted_keys(S.pending)) do
      local p = S.pods[key]
      local obj = p and S.c:get { kind = "Pod", namespace = p.ns, name = p.name }
      if not obj then
        S.pending[key] = nil
      else
        local node, range = place(S, obj)
        if node then
          S.pending[key] = nil
          S.c:patch(obj, { spec = { nodeName = node } }, { quiet = true })
          obj = S.c:patch_status(obj, pending_status())
          K.track_pod(S, obj)
          start_later(S, key, range)
        end
      end
    end
  end

  -- The keys ("ns/name") of the pods bound to a node, sorted.
  function K.pods_on(S, node) return util.sorted_keys(S.pods_by_node[node] or {}) end

  -- Pod garbage collection: the pods bound to a node that is gone are deleted.
  function K.collect_pods_of_node(S, node)
    for _, key in ipairs(K.pods_on(S, node)) do K.remove_pod(S, key) end
  end

  -- Deletes a pod as the API server does for an eviction or a `kubectl delete`: gone at once (no
  -- graceful termination), its owner replaces it.
  function K.remove_pod(S, key)
    local p = S.pods[key]
    if not p then return false end
    S.c:delete { kind = "Pod", namespace = p.ns, name = p.name }  -- nil, "not found" when already gone
    track_pod(S, key, nil)
    if p.deploy and S.deploys[p.deploy] then kick_deploy(S, p.deploy, REPLACE_DELAY) end
    for _, fn in ipairs(S.pod_gone) do fn(S, p) end
    return true
  end

  -- Deployments ------------------------------------------------------------------------------------

  local deploy = require("refit.sim.kube_deployment")(W, K, { progress_deadline = PROGRESS_DEADLINE })

  function kick_deploy(S, key, delay)
    coalesce(S, "deploy:" .. key, delay, function() deploy.reconcile(S, key) end)
  end
  K.kick_deploy = kick_deploy

  local function on_deployment(S, change)
    local obj = change.object
    local key = obj.metadata.namespace .. "/" .. obj.metadata.name
    if change.type == "DELETED" then
      deploy.forget(S, key)
      return
    end
    if deploy.observe(S, obj) then kick_deploy(S, key, 0) end
  end

  -- Extensions -------------------------------------------------------------------------------------

  local daemonsets = require("refit.sim.kube_daemonset")(W, K)
  local disruption = require("refit.sim.kube_disruption")(W, K)
  K.evict, K.drain, K.pdb_status = disruption.evict, disruption.drain, disruption.status

  -- Hooks for cloud models: where a pod runs (Fargate), what happens when a pod is gone, when a
  -- node turns Ready.
  function K.add_placement(cluster, fn) table.insert(state(cluster).placement, fn) end
  function K.on_pod_gone(cluster, fn) table.insert(state(cluster).pod_gone, fn) end
  function K.on_node_ready(cluster, fn) table.insert(state(cluster).node_ready, fn) end

  -- Start ------------------------------------------------------------------------------------------

  -- Builds the summaries from the store, brings every workload to its steady state at time 0
  -- (missing pods created Running), writes their status, and subscribes to changes.
  function K.start(cluster)
    local S = state(cluster)
    local c = S.c
    -- the nodes are known already: every model that creates one at load tells (K.observe_node)
    for _, pod in ipairs(c:list { kind = "Pod" }) do K.track_pod(S, pod) end
    disruption.start(S)
    for _, d in ipairs(c:list { kind = "Deployment" }) do deploy.observe(S, d, true) end
    for _, key in ipairs(util.sorted_keys(S.deploys)) do deploy.reconcile(S, key, true) end
    deploy.write_status(S)
    daemonsets.start(S)
    disruption.write_all(S, true)
    W.on_change(cluster, "Node", function(ch) on_node(S, ch) end)
    W.on_change(cluster, "Pod", function(ch) on_pod(S, ch) end)
    W.on_change(cluster, "Deployment", function(ch) on_deployment(S, ch) end)
    daemonsets.subscribe(S)
    disruption.subscribe(S)
    S.started = true
  end

  -- Whether pods running these images crash-loop (scenario fault `pod-crashloop`).
  function K.image_crashes(cluster, images)
    return faults ~= nil and faults.pod_crashes(cluster, images) or false
  end

  return K
end
