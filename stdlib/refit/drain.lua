-- refit.drain: cordon, uncordon and drain a node through a cluster handle (docs/playbooks.md,
-- "Draining nodes"). Only the handle's primitives are used (get, list, patch, evict, delete), so a
-- drain behaves the same in a simulated world and against a real cluster.
--
--   local drain = require "refit.drain"
--   drain.cordon(c, "node-1")                      -- true when it changed the node, false when already so
--   drain.uncordon(c, "node-1")
--   local summary = drain.drain(ctx, c, "node-1", { timeout = "10m" })
--
-- drain follows `kubectl drain --ignore-daemonsets`: DaemonSet and mirror pods stay; pods with
-- emptyDir data and pods no controller manages are refused unless asked for (before any change);
-- evictions a PodDisruptionBudget refuses (429) are retried once the budget allows again (else with
-- backoff) until the timeout, whose error names every pod left and the budget that holds it.
local duration = require "refit.duration"
local json = require "refit.json"
local k8s = require "refit.k8s"

local M = {}

local DEFAULT_TIMEOUT = "5m"
local POLL_MS = 5000           -- how often the node and the budgets holding its pods are looked at
-- Between eviction rounds while the budgets holding the refused pods still allow no disruption
-- (or a refusal had another cause): doubling after each round that evicted nothing.
local BACKOFF_FIRST_MS, BACKOFF_MAX_MS = 5000, 30000
local OPTIONS = { timeout = true, force = true, delete_emptydir_data = true }

local function pod_key(pod) return pod.metadata.namespace .. "/" .. pod.metadata.name end

-- A node is given by name or as the Node object.
local function node_name(node, fn, level)
  if type(node) == "table" and type(node.metadata) == "table" then node = node.metadata.name end
  if type(node) ~= "string" or node == "" then
    error(string.format("%s: the node must be a name or a Node object, got %s", fn, type(node)), level + 1)
  end
  return node
end

local function check_handle(c, fn, level)
  if type(c) ~= "userdata" and type(c) ~= "table" then
    error(string.format("%s: the first argument must be a cluster handle (ctx.cluster), got %s", fn, type(c)),
          level + 1)
  end
end

-- Sets spec.unschedulable as kubectl cordon / uncordon do (uncordon removes the field). Writes only
-- when the node is not so already; returns whether it wrote.
local function set_unschedulable(c, node, want, fn)
  check_handle(c, fn, 3)
  local name = node_name(node, fn, 3)
  local obj = c:get { kind = "Node", name = name }
  if not obj then
    error(string.format("%s: no Node %q in cluster %s (kubectl get nodes lists their names)", fn, name, c:name()), 3)
  end
  if (k8s.path(obj, "spec", "unschedulable") == true) == want then return false end
  c:patch({ kind = "Node", name = name }, { spec = { unschedulable = want or json.null } },
          { type = "merge", quiet = true })
  return true
end

-- cordon(c, node) -> true when this call cordoned the node, false when it already was.
function M.cordon(c, node)
  local changed = set_unschedulable(c, node, true, "cordon")
  return changed
end

-- uncordon(c, node) -> true when this call made the node schedulable, false when it already was.
function M.uncordon(c, node)
  local changed = set_unschedulable(c, node, false, "uncordon")
  return changed
end

local function has_emptydir(pod)
  for _, v in ipairs(k8s.path(pod, "spec", "volumes") or {}) do
    if v.emptyDir ~= nil then return true end
  end
  return false
end

local function has_controller(pod)
  for _, r in ipairs(k8s.path(pod, "metadata", "ownerReferences") or {}) do
    if r.controller then return true end
  end
  return false
end

local function finished(pod)
  local phase = k8s.path(pod, "status", "phase")
  return phase == "Succeeded" or phase == "Failed"
end

-- Sorts the node's pods into what a drain does with them: skipped (DaemonSet and mirror pods, as
-- `kubectl drain --ignore-daemonsets`), finished (deleted: they hold nothing a budget protects),
-- to_evict; and the refusals, which stop the drain before any change.
local function classify(pods, opts)
  local plan = { skipped = {}, finished = {}, to_evict = {}, emptydir = {}, unmanaged = {} }
  for _, pod in ipairs(pods) do
    local key = pod_key(pod)
    if k8s.is_mirror_pod(pod) then
      plan.skipped[#plan.skipped + 1] = { pod = key, reason = "mirror" }
    elseif k8s.is_daemonset_pod(pod) then
      plan.skipped[#plan.skipped + 1] = { pod = key, reason = "daemonset" }
    elseif finished(pod) then
      plan.finished[#plan.finished + 1] = pod
    else
      if has_emptydir(pod) and not opts.delete_emptydir_data then plan.emptydir[#plan.emptydir + 1] = key end
      if not has_controller(pod) and not opts.force then plan.unmanaged[#plan.unmanaged + 1] = key end
      plan.to_evict[#plan.to_evict + 1] = pod
    end
  end
  return plan
end

local function plural(n, one, many) return n == 1 and one or many end

local function refusal(name, plan)
  local parts = {}
  local n = #plan.emptydir
  if n > 0 then
    parts[#parts + 1] = string.format("%s %s emptyDir volumes, whose data the drain would delete " ..
      "(pass delete_emptydir_data = true to drain %s anyway)", table.concat(plan.emptydir, ", "),
      plural(n, "uses", "use"), plural(n, "it", "them"))
  end
  n = #plan.unmanaged
  if n > 0 then
    parts[#parts + 1] = string.format("%s %s no controller, so nothing would recreate %s " ..
      "(pass force = true to delete %s anyway)", table.concat(plan.unmanaged, ", "), plural(n, "has", "have"),
      plural(n, "it", "them"), plural(n, "it", "them"))
  end
  if #parts == 0 then return nil end
  return string.format("drain node %s: refused before any change: %s", name, table.concat(parts, "; "))
end

-- The budgets that select a pod (policy/v1beta1: an empty selector selects nothing).
local function budgets_of(pod, budgets)
  local out = {}
  for _, b in ipairs(budgets) do
    local sel = k8s.path(b, "spec", "selector")
    local empty = sel == nil or next(sel) == nil
    if not (empty and b.apiVersion == "policy/v1beta1") and k8s.match_labels(sel or {}, pod.metadata.labels) then
      out[#out + 1] = b
    end
  end
  return out
end

local function budget_text(b)
  local st = b.status or {}
  return string.format("PodDisruptionBudget %s/%s: disruptionsAllowed %s, currentHealthy %s, desiredHealthy %s",
    b.metadata.namespace, b.metadata.name, tostring(st.disruptionsAllowed), tostring(st.currentHealthy),
    tostring(st.desiredHealthy))
end

-- What holds each refused pod, from the budgets as they are now: the budgets selecting it that
-- allow no disruption (all those selecting it when none does: their status lags behind), else the
-- refusal's own words. Returns the texts in pod order, whether a budget was among the causes, and
-- whether some pod's budgets all allow a disruption again (then its eviction is worth retrying now).
local function blockers(c, pods, refused)
  local by_ns, texts, any_budget, freed = {}, {}, false, false
  for _, pod in ipairs(pods) do
    local ns = pod.metadata.namespace
    by_ns[ns] = by_ns[ns] or c:list { kind = "PodDisruptionBudget", namespace = ns }
    local selecting, holding = budgets_of(pod, by_ns[ns]), {}
    for _, b in ipairs(selecting) do
      if (k8s.path(b, "status", "disruptionsAllowed") or 0) < 1 then holding[#holding + 1] = budget_text(b) end
    end
    if #selecting > 0 and #holding == 0 then
      freed = true
      for _, b in ipairs(selecting) do holding[#holding + 1] = budget_text(b) end
    end
    if #holding > 0 then
      any_budget = true
      texts[#texts + 1] = string.format("%s (%s)", pod_key(pod), table.concat(holding, "; "))
    else
      texts[#texts + 1] = string.format("%s (eviction refused: %s)", pod_key(pod), refused[pod_key(pod)])
    end
  end
  return texts, any_budget, freed
end

-- drain(ctx, c, node [, opts]) -> summary
--   opts.timeout               how long evictions are retried and evicted pods awaited ("5m")
--   opts.force                 delete the pods instead of evicting them: budgets are not honoured;
--                              pods without a controller are deleted too (kubectl drain --force
--                              --disable-eviction)
--   opts.delete_emptydir_data  drain pods with emptyDir volumes too (their data is lost)
-- summary = { node =, cordoned = (this call cordoned it), evicted = { "ns/name", ... },
--             deleted = { "ns/name", ... }, skipped = { { pod = "ns/name", reason = "daemonset" | "mirror" }, ... } }
function M.drain(ctx, c, node, opts)
  if type(ctx) ~= "table" or type(ctx.wait) ~= "function" then
    error("drain: the first argument must be the step's ctx: drain(ctx, ctx.cluster, node [, opts])", 2)
  end
  check_handle(c, "drain", 2)
  local name = node_name(node, "drain", 2)
  opts = opts or {}
  if type(opts) ~= "table" then error("drain: opts must be a table, got " .. type(opts), 2) end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error(string.format("drain: unknown option %q (known: delete_emptydir_data, force, timeout)", tostring(k)), 2)
    end
  end
  local timeout, why = duration.parse(opts.timeout or DEFAULT_TIMEOUT)
  if not timeout then error("drain: opts.timeout: " .. why, 2) end

  if not c:get { kind = "Node", name = name } then
    ctx:fail("drain: no Node %q in cluster %s (kubectl get nodes lists their names)", name, c:name())
  end
  local pods = c:list { kind = "Pod", fields = "spec.nodeName=" .. name }
  table.sort(pods, function(a, b) return pod_key(a) < pod_key(b) end)
  local plan = classify(pods, opts)
  local refused_text = refusal(name, plan)
  if refused_text then ctx:fail(refused_text) end

  local summary = { node = name, cordoned = M.cordon(c, name), evicted = {}, deleted = {}, skipped = plan.skipped }
  ctx.log("drain node %s: %d %s to %s, %d finished %s to delete, %d left in place (DaemonSet and mirror pods)",
          name, #plan.to_evict, plural(#plan.to_evict, "pod", "pods"), opts.force and "delete" or "evict",
          #plan.finished, plural(#plan.finished, "pod", "pods"), #plan.skipped)

  -- Pods on their way out: key -> uid. A pod that comes back under the same name (a StatefulSet's)
  -- is another pod, with another uid.
  local leaving = {}
  local function delete(pod)
    local gone = c:delete(k8s.ref(pod))
    if gone then summary.deleted[#summary.deleted + 1] = pod_key(pod) end
    leaving[pod_key(pod)] = pod.metadata.uid or true
  end
  for _, pod in ipairs(plan.finished) do delete(pod) end

  local pending = plan.to_evict
  if opts.force and #pending > 0 then
    ctx.log.warn("drain node %s: force: deleting %d %s without eviction; PodDisruptionBudgets are not honoured",
                 name, #pending, plural(#pending, "pod", "pods"))
    for _, pod in ipairs(pending) do delete(pod) end
    pending = {}
  end

  local refused = {}          -- key -> the last refusal's message
  local next_round, backoff = ctx:now(), BACKOFF_FIRST_MS

  local function evict_round()
    local still, progress = {}, false
    for _, pod in ipairs(pending) do
      local key = pod_key(pod)
      local ok, message, status = c:evict(k8s.ref(pod))
      if ok then
        summary.evicted[#summary.evicted + 1] = key
        leaving[key] = pod.metadata.uid or true
        progress = true
      elseif status ~= 404 then     -- 404: already gone, nothing to wait for
        if not refused[key] then
          ctx.log("drain node %s: eviction of %s refused (%s); retrying for up to %s", name, key, message,
                  duration.format(timeout))
        end
        refused[key] = message
        still[#still + 1] = pod
      end
    end
    pending = still
    if progress then backoff = BACKOFF_FIRST_MS end
    next_round = ctx:now() + backoff
    backoff = math.min(backoff * 2, BACKOFF_MAX_MS)
  end

  -- One wait for both: refused evictions are retried as soon as their budgets allow a disruption
  -- again, else with backoff; meanwhile the node is watched for the evicted pods to leave it.
  ctx:wait(string.format("node %s drained", name), function()
    local held, any_budget, freed
    if #pending > 0 and ctx:now() < next_round then
      held, any_budget, freed = blockers(c, pending, refused)
      if freed then next_round = ctx:now() end
    end
    if #pending > 0 and ctx:now() >= next_round then
      evict_round()
      held, any_budget = nil, false     -- what held the pods before this round may have changed
    end

    local on_node = {}
    for _, p in ipairs(c:list { kind = "Pod", fields = "spec.nodeName=" .. name }) do
      on_node[pod_key(p)] = p.metadata.uid or true
    end
    local terminating = {}
    for key, uid in pairs(leaving) do
      if on_node[key] ~= nil and on_node[key] == uid then terminating[#terminating + 1] = key .. " (terminating)" end
    end
    if #pending == 0 and #terminating == 0 then return true end

    table.sort(terminating)
    if #pending > 0 and not held then held, any_budget = blockers(c, pending, refused) end
    local left = table.move(held or {}, 1, #(held or {}), 1, {})
    table.move(terminating, 1, #terminating, #left + 1, left)
    local text = string.format("%d %s still on it: %s", #left, plural(#left, "pod", "pods"), table.concat(left, ", "))
    if any_budget then
      text = text .. "; raise the budget (or scale up what it protects) or move the workload off the node"
    end
    return false, text
  end, { timeout = timeout, interval = POLL_MS })

  table.sort(summary.evicted)
  table.sort(summary.deleted)
  return summary
end

return M
