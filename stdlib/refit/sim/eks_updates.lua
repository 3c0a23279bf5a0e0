-- refit.sim.eks_updates: what Amazon EKS does over time once an update is accepted.
--
--   control plane  UPDATING for 25-40 min, then ACTIVE at the new version (the API server's
--                  gitVersion changes); if health checks fail (scenario), EKS reverts: 5-10 min more,
--                  the update ends Failed, the version is unchanged, the cluster ACTIVE again.
--   add-on         UPDATING for 1-3 min; the kube-system object's image follows at the start (with
--                  every --resolve-conflicts mode: PRESERVE keeps only an image changed outside
--                  EKS); ends ACTIVE, or DEGRADED with a health issue (scenario), or the update
--                  Failed with ConfigurationConflict when the object was changed outside EKS and
--                  --resolve-conflicts is NONE.
--   node group     setup (20-40 s), then per batch of maxUnavailable nodes: launch new nodes, wait
--                  until they are Ready (NodeCreationFailure after 15 min), taint the old nodes
--                  eks.amazonaws.com/nodegroup=unschedulable:NoSchedule (once), evict the batch's
--                  pods honouring PodDisruptionBudgets (retry every 10 s; PodEvictionFailure after
--                  15 min unless --force), cordon, wait 60 s, terminate; then the node group's
--                  version and releaseVersion change and the update is Successful.
--
-- Each update is a record in W.cloud (see eks.lua) whose `sim` part holds what the tools need to
-- predict its end (finishAt, outcome) when it is known in advance. Work is batched: one timer per
-- step of an update, never one per node.

local util = require "refit.sim.util"
local semver = require "refit.semver"

local CP_MIN, CP_MAX = 25 * 60000, 40 * 60000
local CP_REVERT_MIN, CP_REVERT_MAX = 5 * 60000, 10 * 60000
local IP_FAIL_MIN, IP_FAIL_MAX = 60000, 180000
local ADDON_MIN, ADDON_MAX = 60000, 180000
local NG_SETUP_MIN, NG_SETUP_MAX = 20000, 40000
local NODE_JOIN_TIMEOUT = 15 * 60000
local EVICT_RETRY = 10000
local EVICT_TIMEOUT = 15 * 60000
local COOLDOWN = 60000
local TERMINATE_MIN, TERMINATE_MAX = 20000, 40000
local LAUNCH_FAIL_MIN, LAUNCH_FAIL_MAX = 60000, 180000
local UPDATE_TAINT = "eks.amazonaws.com/nodegroup"

return function(W, E, kube, faults)
  local U = {
    timing = { CP_MIN = CP_MIN, CP_MAX = CP_MAX, ADDON_MIN = ADDON_MIN, ADDON_MAX = ADDON_MAX,
               NODE_JOIN_TIMEOUT = NODE_JOIN_TIMEOUT, EVICT_RETRY = EVICT_RETRY, EVICT_TIMEOUT = EVICT_TIMEOUT },
  }
  local jobs_by_node = {}   -- world cluster -> node name -> node group update job

  -- An error a tool reports: { code = "InvalidParameterException", message = "..." }.
  local function err(code, fmt, ...) return { code = code, message = string.format(fmt, ...) } end

  local function new_update(rec, utype, params, subject)
    local u = {
      id = E.new_id(rec.name), status = "InProgress", type = utype,
      params = W.json.array(params), createdAt = E.now(), errors = W.json.array {},
      sim = { subject = subject },
    }
    rec.updates[u.id] = u
    table.insert(rec.updateIds, u.id)
    return u
  end

  local function minor_number(v) return tonumber(tostring(v):match("^v?1%.(%d+)")) end

  -- The update in progress on a subject, if any.
  function U.in_progress(rec, kind, name)
    for _, id in ipairs(rec.updateIds) do
      local u = rec.updates[id]
      if u.status == "InProgress" and u.sim.subject.kind == kind and u.sim.subject.name == name then return u end
    end
  end

  -- Control plane ----------------------------------------------------------------------------------

  -- nil when EKS accepts an update of the control plane to `target`, else the error.
  function U.check_cluster_update(rec, target)
    if type(target) ~= "string" or not target:match("^1%.%d+$") then
      return err("InvalidParameterException", "Unsupported Kubernetes version: %s", tostring(target))
    end
    if rec.status ~= "ACTIVE" then
      local u = U.in_progress(rec, "cluster", rec.name)
      return err("ResourceInUseException", "Cluster %s has an update in progress%s", rec.name, u and (": " .. u.id) or "")
    end
    local from, to = minor_number(rec.version), minor_number(target)
    if to ~= from + 1 or not E.release(target) then
      return err("InvalidParameterException", "Unsupported Kubernetes minor version update from %s to %s", rec.version, target)
    end
    local behind = {}
    for _, name in ipairs(util.sorted_keys(rec.nodegroups)) do
      if rec.nodegroups[name].version ~= rec.version then behind[#behind + 1] = name end
    end
    if #behind > 0 then
      return err("InvalidParameterException",
                 "Nodegroups %s must be updated to match cluster version %s before updating cluster version",
                 table.concat(behind, ", "), rec.version)
    end
    for name, n in util.spairs(kube.state(rec.kube).nodes) do
      if n.fargate and n.kubelet and minor_number(n.kubelet) ~= from then
        return err("InvalidRequestException",
                   "Kubelet version of Fargate pods must be updated to match cluster version %s before updating cluster version; Please recycle all offending pod replicas (node %s runs %s)",
                   rec.version, name, n.kubelet)
      end
    end
    return nil
  end

  function U.start_cluster_update(rec, target)
    local r = E.release(target)
    local u = new_update(rec, "VersionUpdate",
      { { type = "Version", value = target }, { type = "PlatformVersion", value = r.platform } },
      { kind = "cluster", name = rec.name })
    rec.status = "UPDATING"
    local free = 0
    for _, id in ipairs(rec.resourcesVpcConfig.subnetIds) do free = free + rec.subnets[id].availableIpAddressCount end
    local duration, outcome, error_detail
    if free < 5 then
      duration, outcome = W.random(IP_FAIL_MIN, IP_FAIL_MAX), "Failed"
      error_detail = { errorCode = "InsufficientFreeAddresses",
        errorMessage = string.format("The cluster's subnets have %d free IP addresses; updating the control plane needs at least 5", free),
        resourceIds = W.json.array(util.copy(rec.resourcesVpcConfig.subnetIds)) }
    else
      duration = W.random(CP_MIN, CP_MAX)
      local f = faults.take("control-plane-health-check-fails", rec.kube, { version = target },
                            "control plane update of " .. rec.name .. " to " .. target)
      if f then
        duration, outcome = duration + W.random(CP_REVERT_MIN, CP_REVERT_MAX), "Failed"
        error_detail = { errorCode = f.errorCode or "ClusterUnreachable",
          errorMessage = f.message or string.format(
            "EKS health checks failed after updating the control plane to %s; the control plane was rolled back to %s",
            target, rec.version),
          resourceIds = W.json.array { rec.name } }
      else
        outcome = "Successful"
      end
    end
    u.sim.finishAt, u.sim.outcome = W.now() + duration, outcome
    W.after(duration, function()
      rec.status = "ACTIVE"
      u.status = outcome
      if outcome == "Successful" then
        rec.version, rec.platformVersion = target, r.platform
        W.cluster(rec.kube):set_version(r.server)
      else
        u.errors = W.json.array { error_detail }
      end
      W.log("eks: control plane update %s of %s: %s", u.id, rec.name, outcome)
    end, "eks: control plane update of " .. rec.name)
    return u
  end

  -- Add-ons ----------------------------------------------------------------------------------------

  local RESOLVE = { NONE = true, OVERWRITE = true, PRESERVE = true }

  -- nil when EKS accepts updating (or, `create`, creating) an add-on to `version`, else the error.
  function U.check_addon_update(rec, name, version, resolve, create)
    local op_addon = rec.addons[name]
    if create then
      if op_addon then return err("ResourceInUseException", "Addon already exists.") end
    else
      if not op_addon then return err("ResourceNotFoundException", "No addon: %s found in cluster: %s", name, rec.name) end
      if op_addon.status == "UPDATING" or op_addon.status == "CREATING" then
        return err("ResourceInUseException", "Addon %s cannot be updated as it is currently in %s state", name, op_addon.status)
      end
    end
    if resolve and not RESOLVE[resolve] then
      return err("InvalidParameterException", "resolveConflicts must be one of NONE, OVERWRITE, PRESERVE, got %s", resolve)
    end
    if not E.CORE_ADDONS[name] then
      return err("InvalidParameterException", "Addon %s is not supported", name)
    end
    local _, versions = E.addon_versions(rec.version, name)
    local ok = false
    for _, v in ipairs(versions) do if v == version then ok = true end end
    if not ok then
      return err("InvalidParameterException", "Addon version specified is not supported (%s %s on Kubernetes %s)",
                 name, tostring(version), rec.version)
    end
    if op_addon and version ~= op_addon.addonVersion then
      if semver.lt(version, op_addon.addonVersion) then
        return err("InvalidParameterException", "Updating addon %s from %s to %s is not supported: an add-on cannot be downgraded",
                   name, op_addon.addonVersion, version)
      end
    end
    return nil
  end

  -- Starts an add-on update (or creation, when `create`); returns the update (nil for a creation).
  function U.start_addon_update(rec, name, version, resolve, create)
    resolve = resolve or "NONE"
    local a = rec.addons[name]
    if create then
      a = {
        addonName = name, clusterName = rec.name, addonVersion = version, status = "CREATING",
        health = { issues = W.json.array {} },
        addonArn = string.format("arn:aws:eks:%s:%s:addon/%s/%s/%s", rec.region, rec.sim.account, rec.name, name,
                                 E.new_id("addon")),
        createdAt = E.now(), modifiedAt = E.now(), tags = {},
      }
      rec.addons[name] = a
    else
      a.status = "UPDATING"
    end
    local u
    if not create then
      u = new_update(rec, "AddonUpdate",
        { { type = "AddonVersion", value = version }, { type = "ResolveConflicts", value = resolve } },
        { kind = "addon", name = name })
    end
    -- the image is a field EKS manages: it follows the add-on's version unless it was changed
    -- outside EKS; then NONE refuses (a conflict), PRESERVE keeps the changed image, OVERWRITE
    -- replaces it
    local running = E.running_addon_version(rec, name)
    local changed_outside = running ~= nil and running ~= (create and version or a.addonVersion)
    local conflict = resolve == "NONE" and changed_outside
    local failed = faults.take("addon-update-fails", rec.kube, { addon = name, version = version },
                               "add-on " .. name .. " update to " .. version)
    local degraded = not failed and not conflict
      and faults.take("addon-degraded", rec.kube, { addon = name, version = version },
                      "add-on " .. name .. " degraded at " .. version)
    local ref = E.addon_ref(name)
    if not failed and not conflict and not (resolve == "PRESERVE" and changed_outside) then
      if degraded then faults.add_crash_image(rec.kube, E.addon_image(rec.region, name, version)) end
      E.set_addon_image(rec, name, version)
    end
    local duration = W.random(ADDON_MIN, ADDON_MAX)
    local outcome = (failed or conflict) and "Failed" or "Successful"
    if u then u.sim.finishAt, u.sim.outcome = W.now() + duration, outcome end
    a.sim = { finishAt = W.now() + duration, status = (failed or conflict) and (create and "CREATE_FAILED" or "UPDATE_FAILED")
                                                      or (degraded and "DEGRADED" or "ACTIVE") }
    W.after(duration, function()
      a.modifiedAt = E.now()
      a.sim = nil
      if failed or conflict then
        local detail = {
          errorCode = failed and (failed.errorCode or "ConfigurationConflict") or "ConfigurationConflict",
          errorMessage = failed and failed.message or string.format(
            "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode. Conflicts:\n%s.apps %s - .spec.template.spec.containers[name=\"%s\"].image",
            ref.kind, ref.name, E.CORE_ADDONS[name].container),
          resourceIds = W.json.array {},
        }
        a.status = create and "CREATE_FAILED" or "UPDATE_FAILED"
        a.health.issues = W.json.array { { code = detail.errorCode, message = detail.errorMessage, resourceIds = W.json.array {} } }
        if u then u.status, u.errors = "Failed", W.json.array { detail } end
      else
        a.addonVersion = version
        if degraded then
          a.status = "DEGRADED"
          a.health.issues = W.json.array { {
            code = degraded.code or "InsufficientNumberOfReplicas",
            message = degraded.message or "The add-on is unhealthy because it doesn't have the desired number of replicas.",
            resourceIds = W.json.array { ref.kind .. "/" .. ref.name } } }
        else
          a.status = "ACTIVE"
          a.health.issues = W.json.array {}
        end
        if u then u.status = "Successful" end
      end
      W.log("eks: add-on %s of %s: %s", name, rec.name, a.status)
    end, "eks: add-on " .. name .. " of " .. rec.name)
    return u, a
  end

  -- Node groups ------------------------------------------------------------------------------------

  -- The kubelet a release version's AMI runs.
  local function kubelet_of(release)
    local minor = release:match("^(%d+%.%d+)")
    local r = E.release(minor)
    if r and r.release == release then return r.kubelet end
    return "v" .. (release:match("^(%d+%.%d+%.%d+)") or (minor .. ".0")) .. "-eks-" .. util.hash_hex(release, 7)
  end

  -- nil when EKS accepts a node group update to version / release, else the error.
  function U.check_nodegroup_update(rec, ng, version, release)
    if ng.status ~= "ACTIVE" and ng.status ~= "DEGRADED" then
      return err("ResourceInUseException", "Nodegroup cannot be updated as it is currently not in Active State")
    end
    if rec.status ~= "ACTIVE" then
      return err("ResourceInUseException", "Cluster %s is currently being updated", rec.name)
    end
    if version ~= rec.version then
      return err("InvalidParameterException",
                 "Requested Nodegroup Kubernetes version %s is invalid; a node group can only be updated to the cluster's version %s",
                 version, rec.version)
    end
    local from, to = minor_number(ng.version), minor_number(version)
    if to > from + 1 or to < from then
      return err("InvalidParameterException", "Unsupported Kubernetes minor version update from %s to %s for node group %s",
                 ng.version, version, ng.nodegroupName)
    end
    if release and release:match("^(%d+%.%d+)") ~= version then
      return err("InvalidParameterException", "Requested release version %s is not valid for kubernetes version %s", release, version)
    end
    if version == ng.version and (release or E.release(version).release) == ng.releaseVersion then
      return err("InvalidParameterException", "Nodegroup %s is already at version %s with release %s",
                 ng.nodegroupName, ng.version, ng.releaseVersion)
    end
    return nil
  end

  local function batch_size(ng)
    local uc = ng.updateConfig
    if uc.maxUnavailablePercentage then
      return math.max(1, math.ceil(uc.maxUnavailablePercentage * ng.scalingConfig.desiredSize / 100))
    end
    return uc.maxUnavailable or 1
  end

  local function remaining_old(job)
    local alive = {}
    for _, inst in ipairs(job.ng.sim.instances) do alive[inst.node] = true end
    local left = {}
    for _, name in ipairs(job.old) do
      if alive[name] then left[#left + 1] = name end
    end
    return left
  end

  local function set_update_taint(job, name, on)
    local n = kube.node(job.rec.kube, name)
    if not n then return end
    local taints, has = W.json.array {}, false
    for _, t in ipairs(n.taints) do
      if t.key == UPDATE_TAINT then has = true else taints[#taints + 1] = util.copy(t) end
    end
    if on == has then return end
    if on then taints[#taints + 1] = { key = UPDATE_TAINT, value = "unschedulable", effect = "NoSchedule" } end
    E.kube(job.rec):patch({ kind = "Node", name = name }, { spec = { taints = taints } }, { quiet = true })
  end

  local function forget_nodes(job, names)
    local m = jobs_by_node[job.rec.kube] or {}
    for _, n in ipairs(names or {}) do m[n] = nil end
  end

  local function finish(job, status, detail)
    local ng, u = job.ng, job.u
    if job.join_timer then W.cancel(job.join_timer) end
    forget_nodes(job, job.new_nodes)
    ng.status = "ACTIVE"
    ng.modifiedAt = E.now()
    u.status = status
    if status == "Successful" then
      ng.version, ng.releaseVersion = job.version, job.release
      ng.health.issues = W.json.array {}
    else
      u.errors = W.json.array { detail }
      if detail.errorCode == "NodeCreationFailure" then
        ng.health.issues = W.json.array { { code = "NodeCreationFailure", message = "Instances failed to join the kubernetes cluster",
                                            resourceIds = util.copy(detail.resourceIds) } }
      end
      -- the old nodes that are left are schedulable again
      for _, name in ipairs(remaining_old(job)) do set_update_taint(job, name, false) end
    end
    job.done = true
    W.log("eks: node group update %s of %s/%s: %s", u.id, job.rec.name, ng.nodegroupName, status)
  end

  local launch_batch -- forward

  local function terminate_batch(job)
    for _, name in ipairs(job.draining) do E.terminate_node(job.rec, job.ng, name) end
    W.after(W.random(TERMINATE_MIN, TERMINATE_MAX), function() launch_batch(job) end,
            "eks: node group " .. job.ng.nodegroupName .. " next batch")
  end

  local function drain_batch(job)
    if job.done then return end
    local blocked = {}
    for _, name in ipairs(job.draining) do
      if not job.drained[name] then
        local ok, why = kube.drain(job.rec.kube, name, { cordon = false, force = job.force })
        if ok then
          job.drained[name] = true
        else
          for _, b in ipairs(why) do blocked[#blocked + 1] = b end
        end
      end
    end
    if #blocked == 0 then
      local c = E.kube(job.rec)
      for _, name in ipairs(job.draining) do c:patch({ kind = "Node", name = name }, { spec = { unschedulable = true } }, { quiet = true }) end
      W.after(COOLDOWN, function() terminate_batch(job) end, "eks: node group " .. job.ng.nodegroupName .. " terminate")
    elseif W.now() - job.drain_started >= EVICT_TIMEOUT then
      local b = blocked[1]
      local nodes, seen = W.json.array {}, {}
      for _, x in ipairs(blocked) do
        if not seen[x.node] then seen[x.node] = true nodes[#nodes + 1] = x.node end
      end
      finish(job, "Failed", {
        errorCode = "PodEvictionFailure",
        errorMessage = string.format(
          "Reached max retries while trying to evict pods from nodes in node group %s: pod %s on node %s is protected by PodDisruptionBudget %s",
          job.ng.nodegroupName, b.pod, b.node, b.pdb),
        resourceIds = nodes,
      })
    else
      W.after(EVICT_RETRY, function() drain_batch(job) end, "eks: node group " .. job.ng.nodegroupName .. " evict retry")
    end
  end

  -- Every new node of the batch is Ready: taint the old nodes (first time), drain the batch.
  local function batch_ready(job)
    if job.done then return end
    local left = remaining_old(job)
    if not job.tainted then
      job.tainted = true
      for _, name in ipairs(left) do set_update_taint(job, name, true) end
    end
    job.draining, job.drained = {}, {}
    for i = 1, math.min(job.size, #left) do job.draining[i] = left[i] end
    job.drain_started = W.now()
    drain_batch(job)
  end

  function launch_batch(job)
    if job.done then return end
    local rec, ng = job.rec, job.ng
    local left = remaining_old(job)
    if #left == 0 then return finish(job, "Successful") end
    job.batch = job.batch + 1
    job.size = math.min(batch_size(ng), #left)
    local f = faults.take("nodegroup-update-fails", rec.kube, { nodegroup = ng.nodegroupName, batch = job.batch },
                          string.format("node group %s update, batch %d", ng.nodegroupName, job.batch))
    if f then
      W.after(W.random(LAUNCH_FAIL_MIN, LAUNCH_FAIL_MAX), function()
        finish(job, "Failed", {
          errorCode = f.errorCode or "NodeCreationFailure",
          errorMessage = f.message or string.format(
            "Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have sufficient %s capacity in the Availability Zone you requested. Launching EC2 instance failed.",
            ng.instanceTypes[1]),
          resourceIds = W.json.array { ng.resources.autoScalingGroups[1].name },
        })
      end, "eks: node group " .. ng.nodegroupName .. " launch failure")
      return
    end
    job.waiting = {}
    local m = jobs_by_node[rec.kube]
    for _ = 1, job.size do
      local name = E.launch_node(rec, ng, { ready = false, kubelet = job.kubelet, release = job.release })
      job.waiting[name] = true
      job.new_nodes[#job.new_nodes + 1] = name
      m[name] = job
    end
    job.join_timer = W.after(NODE_JOIN_TIMEOUT, function()
      job.join_timer = nil
      local names, ids = {}, W.json.array {}
      for _, name in ipairs(util.sorted_keys(job.waiting)) do
        local inst = E.instance_of(ng, name)
        names[#names + 1] = name .. (inst and (" (" .. inst.instanceId .. ")") or "")
        ids[#ids + 1] = inst and inst.instanceId or name
      end
      finish(job, "Failed", {
        errorCode = "NodeCreationFailure",
        errorMessage = "Instances failed to join the kubernetes cluster: " .. table.concat(names, ", ") ..
                       " did not become Ready within 15 minutes",
        resourceIds = ids,
      })
    end, "eks: node group " .. ng.nodegroupName .. " join timeout")
  end

  -- Starts a rolling replacement of a node group's nodes at version / release.
  function U.start_nodegroup_update(rec, ng, version, release, force)
    release = release or E.release(version).release
    local u = new_update(rec, "VersionUpdate",
      { { type = "Version", value = version }, { type = "ReleaseVersion", value = release } },
      { kind = "nodegroup", name = ng.nodegroupName })
    ng.status = "UPDATING"
    ng.modifiedAt = E.now()
    local old = {}
    for _, inst in ipairs(ng.sim.instances) do old[#old + 1] = inst.node end
    table.sort(old)
    local job = { rec = rec, ng = ng, u = u, force = force, version = version, release = release,
                  kubelet = kubelet_of(release), old = old, batch = 0, new_nodes = {} }
    W.after(W.random(NG_SETUP_MIN, NG_SETUP_MAX), function() launch_batch(job) end,
            "eks: node group " .. ng.nodegroupName .. " update setup")
    return u
  end

  -- Hooks into the cluster's Kubernetes controllers: a new node of an update batch turned Ready.
  function U.start(rec)
    jobs_by_node[rec.kube] = jobs_by_node[rec.kube] or {}
    kube.on_node_ready(rec.kube, function(_, name)
      local job = jobs_by_node[rec.kube][name]
      if not job or job.done or not job.waiting or not job.waiting[name] then return end
      job.waiting[name] = nil
      if next(job.waiting) == nil then
        if job.join_timer then W.cancel(job.join_timer) job.join_timer = nil end
        W.after(0, function() batch_ready(job) end, "eks: node group " .. job.ng.nodegroupName .. " batch ready")
      end
    end)
  end

  return U
end
