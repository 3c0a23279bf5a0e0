-- refit.k8s: helpers over Kubernetes objects as plain tables (what
-- cluster:get and cluster:list return). None of them talks to a cluster.
-- Missing fields are read as Kubernetes defaults them (spec.replicas is 1,
-- absent lists are empty), so objects from a sparse fixture work too.

local M = {}

-- path(obj, "status", "conditions") -> the nested value, or nil at the first gap
local function path(t, ...)
  for i = 1, select("#", ...) do
    if type(t) ~= "table" then return nil end
    t = t[select(i, ...)]
  end
  return t
end
M.path = path

-- condition(obj, "Ready") -> the condition table of that type, or nil
function M.condition(obj, ctype)
  for _, c in ipairs(path(obj, "status", "conditions") or {}) do
    if c.type == ctype then return c end
  end
  return nil
end

function M.condition_true(obj, ctype)
  local c = M.condition(obj, ctype)
  return c ~= nil and c.status == "True"
end

function M.node_ready(node) return M.condition_true(node, "Ready") end

-- kubelet_version(node) -> "v1.21.2-eks-0389ca3", or nil
function M.kubelet_version(node) return path(node, "status", "nodeInfo", "kubeletVersion") end

-- cordoned nodes have spec.unschedulable = true
function M.node_schedulable(node) return not path(node, "spec", "unschedulable") end

-- has_taint(node, key [, effect]) -> true when the node has that taint
function M.has_taint(node, key, effect)
  for _, taint in ipairs(path(node, "spec", "taints") or {}) do
    if taint.key == key and (effect == nil or taint.effect == effect) then return true end
  end
  return false
end

-- match_labels(selector, labels) -> bool, for a LabelSelector
-- { matchLabels = {...}, matchExpressions = { {key=, operator=, values=}, ... } }.
-- As in Kubernetes an empty selector matches everything and a nil one nothing.
-- A plain map such as a Service's spec.selector ({ app = "x" }) also works.
function M.match_labels(selector, labels)
  if selector == nil then return false end
  labels = labels or {}
  local map, exprs = selector.matchLabels, selector.matchExpressions
  if map == nil and exprs == nil then map = selector end

  for k, v in pairs(map or {}) do
    if labels[k] ~= v then return false end
  end
  for _, e in ipairs(exprs or {}) do
    local value, found = labels[e.key], false
    for _, candidate in ipairs(e.values or {}) do
      if value == candidate then found = true end
    end
    local op = e.operator
    local ok
    if op == "In" then ok = found
    elseif op == "NotIn" then ok = not found        -- a missing label is "not in"
    elseif op == "Exists" then ok = value ~= nil
    elseif op == "DoesNotExist" then ok = value == nil
    else
      error(string.format("k8s.match_labels: unknown operator %q (In, NotIn, Exists, DoesNotExist)",
                          tostring(op)), 2)
    end
    if not ok then return false end
  end
  return true
end

-- Rollout status, with kubectl rollout status' rules and wording.
local rollout = {}

local function observed(obj)
  local gen, seen = path(obj, "metadata", "generation"), path(obj, "status", "observedGeneration")
  if gen and (seen or 0) < gen then
    return false, string.format("generation %d not yet observed (observed %d)", gen, seen or 0)
  end
  return true
end

function rollout.Deployment(d)
  local st = d.status or {}
  local c = M.condition(d, "Progressing")
  if c and c.reason == "ProgressDeadlineExceeded" then
    return false, "progress deadline exceeded"
  end
  local want = path(d, "spec", "replicas") or 1
  local updated, total = st.updatedReplicas or 0, st.replicas or 0
  local available = st.availableReplicas or 0
  if updated < want then
    return false, string.format("%d of %d replicas updated", updated, want)
  end
  if total > updated then
    return false, string.format("%d old replicas pending termination", total - updated)
  end
  if available < updated then
    return false, string.format("%d of %d updated replicas available", available, updated)
  end
  if (st.unavailableReplicas or 0) > 0 then
    return false, string.format("%d replicas unavailable", st.unavailableReplicas)
  end
  return true
end

function rollout.DaemonSet(ds)
  local st = ds.status or {}
  local want = st.desiredNumberScheduled or 0
  local updated, available = st.updatedNumberScheduled or 0, st.numberAvailable or 0
  if updated < want then
    return false, string.format("%d of %d pods updated", updated, want)
  end
  if available < want then
    return false, string.format("%d of %d updated pods available", available, want)
  end
  return true
end

function rollout.StatefulSet(sts)
  local st = sts.status or {}
  local want = path(sts, "spec", "replicas") or 1
  local ready, updated = st.readyReplicas or 0, st.updatedReplicas or 0
  if ready < want then
    return false, string.format("%d of %d replicas ready", ready, want)
  end
  -- a partitioned rolling update only updates the pods at or above the partition
  local partition = path(sts, "spec", "updateStrategy", "rollingUpdate", "partition")
  if partition and partition > 0 then
    if updated < want - partition then
      return false, string.format("%d of %d replicas updated (partition %d)", updated, want - partition, partition)
    end
    return true
  end
  if updated < want then
    return false, string.format("%d of %d replicas updated", updated, want)
  end
  if st.updateRevision and st.currentRevision and st.updateRevision ~= st.currentRevision then
    return false, string.format("rolling update to revision %s not finished", st.updateRevision)
  end
  return true
end

-- rollout_complete(obj) -> true, or false, "why" (e.g. "2 of 3 replicas updated")
-- for a Deployment, DaemonSet or StatefulSet.
function M.rollout_complete(obj)
  local check = rollout[obj and obj.kind]
  if not check then
    error(string.format("k8s.rollout_complete: %s has no rollout (Deployment, DaemonSet or StatefulSet)",
                        M.describe(obj)), 2)
  end
  local ok, why = observed(obj)
  if not ok then return false, why end
  return check(obj)
end

-- the containers of a Pod, or of the pod template of a workload
local function containers(obj)
  local spec = path(obj, "spec", "template", "spec") or path(obj, "spec") or {}
  local list = {}
  for _, field in ipairs { "containers", "initContainers" } do
    for _, c in ipairs(spec[field] or {}) do list[#list + 1] = c end
  end
  return list
end

-- container_image(obj, name) -> the image of that container (the first
-- container when name is nil), or nil
function M.container_image(obj, name)
  for _, c in ipairs(containers(obj)) do
    if name == nil or c.name == name then return c.image end
  end
  return nil
end

-- Splits "registry:5000/repo/name:tag@sha256:..." into the name and the tag
-- (nil if none), leaving out the digest. A ':' before the last '/' belongs to
-- the registry's port, not to a tag.
local function split_image(image)
  local name = image:match("^(.-)@") or image
  local base, tag = name:match("^(.*):([^/:]+)$")
  if base then return base, tag end
  return name, nil
end

-- image_tag("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.21.2-eksbuild.2")
--   -> "v1.21.2-eksbuild.2"; nil when the image has no tag
function M.image_tag(image)
  local _, tag = split_image(image)
  return tag
end

-- with_image_tag(image, tag) -> the same image at another tag (a digest is dropped,
-- since it would pin the old image)
function M.with_image_tag(image, tag)
  local name = split_image(image)
  return name .. ":" .. tag
end

-- pod_owner(pod) -> the controller's ownerReference, else the first one, or nil
function M.pod_owner(pod)
  local refs = path(pod, "metadata", "ownerReferences") or {}
  for _, r in ipairs(refs) do
    if r.controller then return r end
  end
  return refs[1]
end

function M.is_daemonset_pod(pod)
  local owner = M.pod_owner(pod)
  return owner ~= nil and owner.kind == "DaemonSet"
end

-- static pods of the kubelet show in the API as mirror pods, which cannot be evicted
function M.is_mirror_pod(pod)
  return path(pod, "metadata", "annotations", "kubernetes.io/config.mirror") ~= nil
end

-- ref(obj) -> { apiVersion =, kind =, namespace =, name = }
function M.ref(obj)
  local md = obj.metadata or {}
  return { apiVersion = obj.apiVersion, kind = obj.kind, namespace = md.namespace, name = md.name }
end

-- describe(obj) -> "Deployment kube-system/coredns", or "Node ip-10-0-1-2" when cluster-scoped
function M.describe(obj)
  if type(obj) ~= "table" then return tostring(obj) end
  local md = obj.metadata or obj     -- a ref has its names at the top
  local name = md.name or "?"
  if md.namespace then name = md.namespace .. "/" .. name end
  return (obj.kind or "?") .. " " .. name
end

return M
