-- refit.sim.kube_deployment: the Deployment and ReplicaSet controllers of a simulated cluster.
--
-- A Deployment owns one ReplicaSet per pod template (named <deployment>-<pod-template-hash>), which
-- owns pods named <deployment>-<hash>-<5 random characters>. A template change (an image patched,
-- say) rolls pods over within maxSurge / maxUnavailable; a deleted or evicted pod is replaced; the
-- status (replicas, updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas,
-- observedGeneration, conditions Available and Progressing) follows the pods. A rollout that makes
-- no progress for progressDeadlineSeconds gets Progressing=False, reason ProgressDeadlineExceeded.
--
-- Part of refit.sim.kube: `K` is that module, `S` its per-cluster state.

local util = require "refit.sim.util"

return function(W, K, opts)
  local D = {}
  local deadline_default = opts.progress_deadline

  local function deploy_key(obj) return obj.metadata.namespace .. "/" .. obj.metadata.name end

  -- The hash most of the pods owned by d carry (adopting a fixture's existing pods), or nil.
  local function adopted_hash(S, key)
    local counts, best, best_n = {}, nil, 0
    for podkey in util.spairs(S.owned[key] or {}) do
      local h = S.pods[podkey] and S.pods[podkey].hash
      if h then
        counts[h] = (counts[h] or 0) + 1
        if counts[h] > best_n then best, best_n = h, counts[h] end
      end
    end
    return best
  end

  -- Records a Deployment's spec; returns true when the controller has work to do.
  function D.observe(S, obj, initial)
    local key = deploy_key(obj)
    local d = S.deploys[key]
    local spec = obj.spec or {}
    local gen = obj.metadata.generation or 1
    -- the API server bumps metadata.generation on every change of .spec: same generation, same spec
    if d and d.gen == gen then return false end
    local spec_fp = util.canonical(spec)
    if d and d.spec_fp == spec_fp then d.gen = gen return false end
    if not d then
      d = { key = key, ns = obj.metadata.namespace, name = obj.metadata.name, rs = {}, revision = 0 }
      S.deploys[key] = d
    end
    d.uid, d.gen, d.spec_fp = obj.metadata.uid, gen, spec_fp
    d.replicas = spec.replicas or 1
    d.template = spec.template or {}
    d.selector = spec.selector or {}
    local strategy = spec.strategy or {}
    d.recreate = strategy.type == "Recreate"
    local ru = strategy.rollingUpdate or {}
    d.max_surge, d.max_unavailable = ru.maxSurge or "25%", ru.maxUnavailable or "25%"
    d.deadline = (spec.progressDeadlineSeconds and spec.progressDeadlineSeconds * 1000) or deadline_default
    local fp = util.canonical(d.template)
    if fp ~= d.fp then
      d.fp = fp
      d.hash = (initial and adopted_hash(S, key)) or util.hash_name(fp, 10)
      d.revision = d.revision + 1
      -- a new rollout: its progress deadline counts from now, and the controller reports it at
      -- once (Progressing True, ReplicaSetUpdated; observedGeneration), as Kubernetes does, rather
      -- than leaving the last rollout's condition (ProgressDeadlineExceeded, say) until the next
      -- status sync
      d.progress_at = W.now()
      if not initial then d.new_rollout = true end
    end
    return true
  end

  -- The Deployment is gone: its ReplicaSets and pods go too (garbage collection).
  function D.forget(S, key)
    local d = S.deploys[key]
    if not d then return end
    S.deploys[key] = nil
    for _, podkey in ipairs(util.sorted_keys(S.owned[key] or {})) do K.remove_pod(S, podkey) end
    for _, hash in ipairs(util.sorted_keys(d.rs)) do
      S.c:delete { kind = "ReplicaSet", namespace = d.ns, name = d.rs[hash].name }
    end
  end

  local function ensure_rs(S, d, hash)
    local rs = d.rs[hash]
    if rs then return rs end
    local name = d.name .. "-" .. hash
    local obj = S.c:get { kind = "ReplicaSet", namespace = d.ns, name = name }
    if not obj then
      local tmd = d.template.metadata or {}
      local labels = util.copy(tmd.labels or {})
      labels["pod-template-hash"] = hash
      local match = util.copy(d.selector.matchLabels or {})
      match["pod-template-hash"] = hash
      local template = util.copy(d.template)
      template.metadata = template.metadata or {}
      template.metadata.labels = labels
      obj = S.c:create {
        apiVersion = "apps/v1", kind = "ReplicaSet",
        metadata = {
          name = name, namespace = d.ns, labels = labels,
          annotations = { ["deployment.kubernetes.io/revision"] = tostring(d.revision),
                          ["deployment.kubernetes.io/desired-replicas"] = tostring(d.replicas) },
          ownerReferences = W.json.array { { apiVersion = "apps/v1", kind = "Deployment", name = d.name,
                                               uid = d.uid, controller = true, blockOwnerDeletion = true } },
        },
        spec = { replicas = 0, selector = { matchLabels = match }, template = template },
        status = { replicas = 0 },
      }
    end
    -- the template is kept so that this ReplicaSet, once old, can still replace its own pods
    rs = { name = name, uid = obj.metadata.uid, template = util.copy(d.template), target = 0 }
    d.rs[hash] = rs
    return rs
  end

  -- A ReplicaSet of an older template found through its pods (a fixture taken mid-rollout).
  local function adopt_rs(S, d, hash)
    d.no_rs = d.no_rs or {}
    if d.no_rs[hash] then return end
    local obj = S.c:get { kind = "ReplicaSet", namespace = d.ns, name = d.name .. "-" .. hash }
    if obj then
      d.rs[hash] = { name = obj.metadata.name, uid = obj.metadata.uid, template = util.copy(util.get(obj, "spec", "template")),
                     target = util.get(obj, "spec", "replicas") or 0 }
    else
      d.no_rs[hash] = true
    end
  end

  -- A pod of ReplicaSet `rs` (template hash `hash`).
  local function new_pod(S, d, rs, hash, instant)
    local template = rs.template or d.template
    local tmd = template.metadata or {}
    local labels = util.copy(tmd.labels or {})
    labels["pod-template-hash"] = hash
    local name
    repeat
      name = d.name .. "-" .. hash .. "-" .. K.random_suffix(5)
    until not S.pods[d.ns .. "/" .. name]
    local spec = util.copy(template.spec or {})
    spec.schedulerName = spec.schedulerName or "default-scheduler"
    spec.restartPolicy = spec.restartPolicy or "Always"
    spec.terminationGracePeriodSeconds = spec.terminationGracePeriodSeconds or 30
    return K.create_pod(S, {
      apiVersion = "v1", kind = "Pod",
      metadata = {
        name = name, namespace = d.ns, labels = labels, annotations = util.copy(tmd.annotations),
        ownerReferences = W.json.array { { apiVersion = "apps/v1", kind = "ReplicaSet", name = rs.name,
                                             uid = rs.uid, controller = true, blockOwnerDeletion = true } },
      },
      spec = spec,
    }, instant)
  end

  -- Pods to remove first: not ready before ready, then by name (deterministic).
  local function removal_order(S, keys)
    table.sort(keys, function(a, b)
      local ra, rb = S.pods[a].ready, S.pods[b].ready
      if ra ~= rb then return not ra end
      return a < b
    end)
    return keys
  end

  local function write_if_changed(S, cache, key, ref, fields, write)
    if util.deep_equal(cache[key], fields) then return end
    cache[key] = fields
    write(ref, fields)
  end

  local function update_status(S, d, counts)
    local desired = d.replicas
    local max_unavailable = util.int_or_percent(d.max_unavailable, desired, false) or 0
    local complete = counts.updated == desired and counts.total == desired and counts.available == desired
    if complete or counts.ready_new > (d.last_ready_new or 0) then d.progress_at = W.now() end
    d.last_ready_new = counts.ready_new
    local exceeded = not complete and W.now() - (d.progress_at or 0) >= d.deadline
    local rs_name = d.name .. "-" .. d.hash
    local available_ok = counts.available >= desired - max_unavailable
    local status = {
      observedGeneration = d.gen,
      replicas = counts.total,
      updatedReplicas = counts.updated,
      readyReplicas = counts.ready,
      availableReplicas = counts.available,
      unavailableReplicas = math.max(0, desired - counts.available),
      conditions = W.json.array {
        { type = "Available", status = available_ok and "True" or "False",
          reason = available_ok and "MinimumReplicasAvailable" or "MinimumReplicasUnavailable",
          message = available_ok and "Deployment has minimum availability."
                                  or "Deployment does not have minimum availability." },
        complete and { type = "Progressing", status = "True", reason = "NewReplicaSetAvailable",
                       message = string.format('ReplicaSet "%s" has successfully progressed.', rs_name) }
          or exceeded and { type = "Progressing", status = "False", reason = "ProgressDeadlineExceeded",
                            message = string.format('ReplicaSet "%s" has timed out progressing.', rs_name) }
          or { type = "Progressing", status = "True", reason = "ReplicaSetUpdated",
               message = string.format('ReplicaSet "%s" is progressing.', rs_name) },
      },
    }
    S.written = S.written or {}
    write_if_changed(S, S.written, "Deployment:" .. d.key,
      { kind = "Deployment", namespace = d.ns, name = d.name }, status,
      function(ref, st) S.c:patch_status(ref, st, { quiet = true }) end)
    if not complete and not exceeded then
      -- look again when the deadline would pass without progress
      local due = d.progress_at + d.deadline - W.now()
      K.coalesce(S, "deadline:" .. d.key, math.max(due, 0), function() D.reconcile(S, d.key) end)
    end
  end

  local function update_replicasets(S, d, by_hash)
    S.written = S.written or {}
    for _, hash in ipairs(util.sorted_keys(d.rs)) do
      local rs = d.rs[hash]
      local c = by_hash[hash] or { total = 0, ready = 0 }
      local want = rs.target
      local ref = { kind = "ReplicaSet", namespace = d.ns, name = rs.name }
      write_if_changed(S, S.written, "RS-spec:" .. d.key .. hash, ref, { replicas = want },
        function(r, spec) S.c:patch(r, { spec = spec }, { quiet = true }) end)
      write_if_changed(S, S.written, "RS-status:" .. d.key .. hash, ref,
        { replicas = c.total, fullyLabeledReplicas = c.total, readyReplicas = c.ready,
          availableReplicas = c.ready, observedGeneration = 1 },
        function(r, st) S.c:patch_status(r, st, { quiet = true }) end)
    end
  end

  -- Brings a Deployment's pods one step towards its spec. `instant`: the fixture's initial state,
  -- where missing pods are created already Running.
  function D.reconcile(S, key, instant)
    local d = S.deploys[key]
    if not d then return end
    local rs = ensure_rs(S, d, d.hash)
    local new, old = {}, {}
    for podkey in util.spairs(S.owned[key] or {}) do
      local p = S.pods[podkey]
      if p then
        if p.hash == d.hash then new[#new + 1] = podkey else old[#old + 1] = podkey end
        if p.hash and not d.rs[p.hash] then adopt_rs(S, d, p.hash) end
      end
    end
    local function ready_count(list)
      local n = 0
      for _, k in ipairs(list) do if S.pods[k] and S.pods[k].ready then n = n + 1 end end
      return n
    end
    local desired = d.replicas
    local surge = util.int_or_percent(d.max_surge, desired, true) or 0
    local max_unavailable = util.int_or_percent(d.max_unavailable, desired, false) or 0
    if surge == 0 and max_unavailable == 0 then max_unavailable = 1 end

    -- old ReplicaSets replace the pods they lost (evicted, or gone with their node)
    local old_by_hash = {}
    for _, k in ipairs(old) do
      local h = S.pods[k].hash
      old_by_hash[h] = (old_by_hash[h] or 0) + 1
    end
    for _, hash in ipairs(util.sorted_keys(d.rs)) do
      local r = d.rs[hash]
      if hash ~= d.hash and r.template and (old_by_hash[hash] or 0) < r.target then
        for _ = 1, r.target - (old_by_hash[hash] or 0) do
          local obj = new_pod(S, d, r, hash, instant)
          old[#old + 1] = obj.metadata.namespace .. "/" .. obj.metadata.name
        end
      end
    end

    -- scale the old ReplicaSets down, as the rolling update of the Deployment controller does:
    -- never below minAvailable, counting the new pods that are not available yet, unhealthy first
    if #old > 0 then
      removal_order(S, old)
      local keep = {}
      if d.recreate then
        for _, k in ipairs(old) do K.remove_pod(S, k) end
      else
        local min_available = desired - max_unavailable
        local new_unavailable = #new - ready_count(new)
        local max_down = #new + #old - min_available - new_unavailable
        local available = ready_count(new) + ready_count(old)
        local healthy_down = math.min(max_down, available - min_available)
        for _, k in ipairs(old) do
          local p = S.pods[k]
          if not p.ready and max_down > 0 then
            max_down = max_down - 1
            K.remove_pod(S, k)
          elseif p.ready and max_down > 0 and healthy_down > 0 then
            max_down, healthy_down = max_down - 1, healthy_down - 1
            K.remove_pod(S, k)
          else
            keep[#keep + 1] = k
          end
        end
      end
      old = keep
    end

    -- scale the new ReplicaSet up (within the surge budget) or down
    if #new < desired and not (d.recreate and #old > 0) then
      local room = d.recreate and desired or (desired + surge - #new - #old)
      for _ = 1, math.min(desired - #new, room) do
        local obj = new_pod(S, d, rs, d.hash, instant)
        new[#new + 1] = obj.metadata.namespace .. "/" .. obj.metadata.name
      end
    elseif #new > desired then
      removal_order(S, new)
      for _ = 1, #new - desired do K.remove_pod(S, table.remove(new, 1)) end
    end

    -- the ReplicaSets' targets: the new one the Deployment's replicas, old ones what they kept
    for _, r in pairs(d.rs) do r.target = 0 end
    rs.target = desired
    for _, k in ipairs(old) do
      local r = d.rs[S.pods[k].hash]
      if r then r.target = r.target + 1 end
    end

    d.rs_dirty = true
    S.deploy_dirty = S.deploy_dirty or {}
    S.deploy_dirty[key] = true
    if not instant then K.coalesce(S, "deployment-status", K.STATUS_SYNC, function() D.write_status(S) end) end
    if d.new_rollout then
      -- the sync that sees a new template writes the Deployment's status (and its ReplicaSets') now
      d.new_rollout = nil
      D.write_one(S, d)
    end
  end

  -- The pods of a Deployment counted as its status reports them.
  local function counts_of(S, d)
    local by_hash = {}
    local c = { total = 0, updated = 0, ready = 0, ready_new = 0 }
    for podkey in pairs(S.owned[d.key] or {}) do
      local p = S.pods[podkey]
      if p and p.hash then
        local h = by_hash[p.hash] or { total = 0, ready = 0 }
        by_hash[p.hash] = h
        h.total = h.total + 1
        c.total = c.total + 1
        if p.ready then h.ready, c.ready = h.ready + 1, c.ready + 1 end
        if p.hash == d.hash then
          c.updated = c.updated + 1
          if p.ready then c.ready_new = c.ready_new + 1 end
        end
      end
    end
    c.available = c.ready
    return c, by_hash
  end

  -- Writes the status of the Deployments (and their ReplicaSets) that changed since the last sync:
  -- the controllers' status lags their actions by up to STATUS_SYNC, and several changes in that
  -- window make one write.
  function D.write_one(S, d)
    local counts, by_hash = counts_of(S, d)
    update_replicasets(S, d, by_hash)
    update_status(S, d, counts)
  end

  function D.write_status(S)
    local dirty = S.deploy_dirty or {}
    S.deploy_dirty = {}
    for _, key in ipairs(util.sorted_keys(dirty)) do
      local d = S.deploys[key]
      if d then D.write_one(S, d) end
    end
  end

  return D
end
