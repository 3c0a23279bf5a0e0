-- eks/upgrade: move an Amazon EKS cluster one Kubernetes minor version up (seed 004).
--
-- The procedure, in the seed's order: (1) no API the target removes is still in use; (2) every node
-- runs the control plane's current minor; (3) the control plane moves one minor; (4) the core
-- add-ons (kube-proxy, CoreDNS, VPC CNI) move to the versions that fit the target; (5) the managed
-- node groups roll their nodes to the target, and Fargate pods are relaunched so they land on a
-- kubelet of the target. docs/eks.md explains each step and what to do when one fails.

local refit = require "refit"
local yaml = require "refit.yaml"
local json = require "refit.json"
local semver = require "refit.semver"
local k8s = require "refit.k8s"
local eks = require "refit.eks"
local resource = require "refit.resource"
local paths = require "refit.paths"

-- How far ahead the removed-API data is read for deprecation warnings.
local WARN_AHEAD_MINORS = 12

-- EKS needs up to five free addresses in the cluster's subnets for the control plane update.
local MIN_FREE_IPS = 5

-- The core add-ons of the seed, in its order. `workload` is the kube-system object that runs a
-- self-managed one (EKS-managed ones run the same object, but EKS owns it).
local CORE_ADDONS = {
  { name = "kube-proxy", kind = "DaemonSet", workload = "kube-proxy", container = "kube-proxy" },
  { name = "coredns", kind = "Deployment", workload = "coredns", container = "coredns" },
  { name = "vpc-cni", kind = "DaemonSet", workload = "aws-node", container = "aws-node" },
}

local NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
local COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
local LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

---------------------------------------------------------------------------------------------------
-- Where we are and where we go
---------------------------------------------------------------------------------------------------

-- A string param left unset arrives as "".
local given = refit.given

-- The EKS cluster: --set cluster / region, else what the kubeconfig context says (refit.eks.identify).
local function cluster_name(ctx)
  return eks.target(ctx).name
end

local function api(ctx)
  return eks.client_for(ctx)
end

-- The hop of this run: the control plane's minor when the run started (from) and the target (to).
-- Fixed once, by the first check, and kept in ctx.state: after the control plane step the cluster
-- is at `to`, and a default of "one minor above the control plane" must not move with it.
local function route(ctx)
  if ctx.state.to then return ctx.state.from, ctx.state.to end
  local from = api(ctx):cluster_version()
  local to = given(ctx.params.to) and semver.minor_of(ctx.params.to) or semver.next_minor(from)
  ctx.state.from = from
  ctx.state.to = to
  return from, to
end

local function route_or_nil(ctx)
  local ok, from, to = pcall(route, ctx)
  if ok then return from, to end
  return nil
end

-- "1.21", 2 -> "1.23"; "1.21", -1 -> "1.20"
local function minor_plus(v, n)
  local p = semver.parse(v)
  return p.major .. "." .. (p.minor + n)
end

-- Whether this run's hop is one EKS can make (one minor up, or none); when it is not, version-route
-- says so and the checks that depend on the hop stay quiet rather than repeat it.
local function valid_hop(ctx)
  local from, to = route_or_nil(ctx)
  if not from then return false end
  local a, b = semver.parse(from), semver.parse(to)
  if not (a and b) or a.major ~= b.major then return false end
  local d = b.minor - a.minor
  return d == 0 or d == 1
end

local function target(ctx)
  local _, to = route(ctx)
  return to
end

---------------------------------------------------------------------------------------------------
-- Nodes
---------------------------------------------------------------------------------------------------

local function labels(obj)
  return (obj.metadata and obj.metadata.labels) or {}
end

local function is_fargate(node)
  return labels(node)[COMPUTE_TYPE_LABEL] == "fargate"
end

-- "node group ng-1", "Fargate" or "self-managed": who replaces the node.
local function node_owner(node)
  if is_fargate(node) then return "Fargate" end
  local ng = labels(node)[NODEGROUP_LABEL]
  if ng then return "node group " .. ng end
  return "self-managed"
end

local function kubelet_minor(node)
  local v = k8s.kubelet_version(node)
  return v and semver.minor_of(v)
end

-- The pods on one node (the store indexes spec.nodeName: cheap even in a large cluster).
local function pods_on(cluster, node_name)
  return cluster:list { kind = "Pod", fields = "spec.nodeName=" .. node_name }
end

local function pod_name(pod)
  return pod.metadata.namespace .. "/" .. pod.metadata.name
end

-- "ip-10-0-1-5 (v1.19.15-eks-1)"; a Fargate node also names its pods, since relaunching them is
-- what moves it: "fargate-ip-10-0-9-1 (v1.19.15-eks-1, pod shop/web-1)".
local function describe_node(cluster, node)
  local what = node.metadata.name .. " (" .. tostring(k8s.kubelet_version(node))
  if is_fargate(node) then
    for _, pod in ipairs(pods_on(cluster, node.metadata.name)) do what = what .. ", pod " .. pod_name(pod) end
  end
  return what .. ")"
end

---------------------------------------------------------------------------------------------------
-- Removed APIs
---------------------------------------------------------------------------------------------------

-- The API versions Kubernetes `minor` stops serving (data/removed-apis/<minor>.yaml beside this
-- file); none when there is no file for that minor.
local function removed_apis(minor)
  -- resource() reads relative to the chunk that calls it, hence the closure rather than pcall(resource, ...)
  local ok, text = pcall(function() return resource("data/removed-apis/" .. minor .. ".yaml") end)
  if not ok then return {} end
  local doc, err = yaml.decode(text)
  if not doc then error("scripts/eks/data/removed-apis/" .. minor .. ".yaml: " .. err, 0) end
  return doc.removed or {}
end

-- A list of objects, or nil when the server does not serve that apiVersion/kind.
local function try_list(cluster, apiVersion, kind, cache)
  local key = apiVersion .. " " .. kind
  if cache[key] == nil then
    local ok, items = pcall(cluster.list, cluster, { apiVersion = apiVersion, kind = kind })
    cache[key] = ok and items or false
  end
  return cache[key] or nil
end

-- Whether the object was last applied (kubectl apply) from a manifest at this apiVersion/kind.
local function last_applied_uses(obj, entry)
  local text = obj.metadata.annotations and obj.metadata.annotations[LAST_APPLIED]
  if type(text) ~= "string" then return false end
  local ok, cfg = pcall(json.decode, text)
  return ok and type(cfg) == "table" and cfg.apiVersion == entry.apiVersion and cfg.kind == entry.kind
end

-- The objects that still use a removed API, as { obj =, how = } records.
--
-- The kind is listed at its replacement apiVersion. An object that comes back with the removed
-- apiVersion is stored at it: a simulated world keeps the version an object was written with (a
-- real API server converts to the version asked for, so this never fires there). Without a
-- replacement (PodSecurityPolicy), every object of the kind goes with the API. Otherwise the
-- last-applied-configuration annotation tells which apiVersion the manifest kubectl applied uses:
-- a manifest still at the removed version fails on its next apply after the upgrade. When the
-- replacement is not served yet (a real cluster, for a removal several minors ahead) the objects
-- are listed at the removed version and only the annotation counts.
local function uses_of(cluster, entry, cache)
  local found = {}
  local objects = entry.replacement and try_list(cluster, entry.replacement, entry.kind, cache)
  local by_annotation_only = false
  if not objects then
    objects = try_list(cluster, entry.apiVersion, entry.kind, cache) or {}
    by_annotation_only = entry.replacement ~= nil
  end
  for _, obj in ipairs(objects) do
    if not by_annotation_only and (entry.replacement == nil or obj.apiVersion == entry.apiVersion) then
      found[#found + 1] = { obj = obj, how = "stored at " .. entry.apiVersion }
    elseif last_applied_uses(obj, entry) then
      found[#found + 1] = { obj = obj, how = "last applied as " .. entry.apiVersion }
    end
  end
  return found
end

local function replacement_text(entry)
  local text = entry.replacement and ("use " .. entry.replacement) or "no replacement"
  if entry.note then text = text .. "; " .. entry.note end
  return text
end

---------------------------------------------------------------------------------------------------
-- Add-ons
---------------------------------------------------------------------------------------------------

-- AWS's recommended self-managed add-on versions per Kubernetes minor (data/addons.yaml).
local addon_table
local function recommended_addons()
  if not addon_table then
    local doc, err = yaml.decode(resource("data/addons.yaml"))
    if type(doc) ~= "table" then error("scripts/eks/data/addons.yaml: " .. (err or "expected a mapping"), 0) end
    addon_table = doc.versions
  end
  return addon_table
end

local function workload_ref(spec)
  return { kind = spec.kind, namespace = "kube-system", name = spec.workload }
end

-- The names of the EKS-managed add-ons, as a set.
local function managed_addons(ctx)
  local set = {}
  for _, name in ipairs(api(ctx):list_addons()) do set[name] = true end
  return set
end

-- What moving one add-on to the target means: { managed =, current =, target = }, or nil when
-- the cluster runs no such add-on. Raises when no version for the target is known. `managed` is
-- managed_addons(ctx), when the caller already has it.
local function addon_plan(ctx, spec, managed)
  local to = target(ctx)
  managed = managed or managed_addons(ctx)
  if managed[spec.name] then
    local a = api(ctx)
    local addon, err = a:describe_addon(spec.name)
    if not addon then error(err, 0) end
    local default, all = a:addon_versions(spec.name, to)
    -- no default marked: the newest compatible version, as EKS lists them newest first
    local want = default or all[1]
    if not want then
      error(string.format("EKS offers no version of add-on %s for Kubernetes %s", spec.name, to), 0)
    end
    return { managed = true, current = addon.addonVersion, target = want }
  end
  local obj = ctx.cluster:get(workload_ref(spec))
  if not obj then return nil end
  local image = k8s.container_image(obj, spec.container)
  if not image then
    error(string.format("%s has no container %s", k8s.describe(obj), spec.container), 0)
  end
  local versions = recommended_addons()[to]
  local want = versions and versions[spec.name]
  if not want then
    error(string.format("no recommended %s version for Kubernetes %s in scripts/eks/data/addons.yaml", spec.name, to), 0)
  end
  local tag = k8s.image_tag(image)
  if not tag then
    error(string.format("%s runs %s without a tag: cannot tell its version", k8s.describe(obj), image), 0)
  end
  return { managed = false, current = tag, target = want, image = image }
end

-- Whether the add-on already runs the target version or a newer one (never downgrade).
local function addon_at_target(plan)
  local ok, parsed = pcall(semver.parse, plan.current or "")
  return ok and parsed ~= nil and semver.ge(plan.current, plan.target)
end

-- The image changes that move a self-managed add-on: every container and init container of the
-- workload whose tag is the add-on's current version (aws-node also runs aws-vpc-cni-init).
local function image_patch(obj, from_tag, to_tag)
  local ops, saved = {}, {}
  local spec = obj.spec.template.spec
  for _, field in ipairs { "containers", "initContainers" } do
    for i, c in ipairs(spec[field] or {}) do
      if k8s.image_tag(c.image) == from_tag then
        local path = string.format("/spec/template/spec/%s/%d/image", field, i - 1)
        ops[#ops + 1] = { op = "replace", path = path, value = k8s.with_image_tag(c.image, to_tag) }
        saved[#saved + 1] = { op = "replace", path = path, value = c.image }
      end
    end
  end
  return ops, saved
end

-- "pod kube-system/coredns-5d8f-x2: coredns CrashLoopBackOff (image .../coredns:v1.8.4-eksbuild.1)"
-- for each pod of the workload that is not ready: what a stuck rollout is waiting for.
local function unready_pods(cluster, obj)
  local out = {}
  local match = obj.spec.selector and obj.spec.selector.matchLabels
  if not match then return out end
  -- the selector as text: the engine's list does not take the map form (yet)
  local terms = {}
  for k, v in pairs(match) do terms[#terms + 1] = k .. "=" .. v end
  table.sort(terms)
  for _, pod in ipairs(cluster:list { kind = "Pod", namespace = obj.metadata.namespace,
                                      labels = table.concat(terms, ",") }) do
    if not k8s.condition_true(pod, "Ready") then
      local why = {}
      for _, c in ipairs(pod.status and pod.status.containerStatuses or {}) do
        local waiting = c.state and c.state.waiting
        if waiting then why[#why + 1] = string.format("%s %s (image %s)", c.name, tostring(waiting.reason), tostring(c.image)) end
      end
      out[#out + 1] = "pod " .. pod_name(pod) .. (#why > 0 and (": " .. table.concat(why, ", ")) or ": not ready")
    end
  end
  return out
end

-- Waits for the add-on's workload to finish its rollout. A Deployment past its progress deadline
-- will not finish by itself (kubectl rollout status gives up there too): fail at once, naming the
-- pods that do not start.
local function wait_rollout(ctx, spec, timeout)
  local ref = workload_ref(spec)
  -- Only a deadline passed during this wait counts: right after a new template (a rollback's) the
  -- condition can still tell about the rollout before it.
  local progressed = false
  ctx:wait(string.format("%s %s/%s rolled out", spec.kind, ref.namespace, ref.name), function()
    local obj = ctx.cluster:get(ref)
    if not obj then return false, "not found" end
    local ok, why = k8s.rollout_complete(obj)
    local progressing = k8s.condition(obj, "Progressing")
    local exceeded = progressing and progressing.reason == "ProgressDeadlineExceeded"
    if not exceeded then progressed = true end
    if not ok and exceeded and progressed then
      local pods = unready_pods(ctx.cluster, obj)
      error(string.format("%s did not roll out: progress deadline exceeded%s", k8s.describe(obj),
                          #pods > 0 and ("; " .. table.concat(pods, "; ")) or ""), 0)
    end
    return ok, why
  end, { timeout = timeout, interval = "10s" })
end

-- Starts the update of one subject (the control plane, a node group, an add-on) and returns its id,
-- unless there is one to do already: an update to the same version in progress (its id is returned),
-- or the subject at that version already (nil is returned). A run stopped after starting an update
-- (killed, interrupted) finds it so when resumed or applied again: waiting for it is what is left to do
-- (starting another would be refused while it runs: ResourceInUseException), and when it ended in the
-- meantime, even between the step's `done` and its `run`, there is nothing left to start.
-- u: opts (describe-update's: {}, { nodegroup = }, { addon = }), param (the update's parameter that
-- holds the version), version, subject (for messages), reached() and start() (returns the new id).
local function start_update(ctx, a, u)
  local running = a:update_in_progress(u.opts)
  if running and eks.update_param(running, u.param) == u.version then
    ctx.log("%s: update %s to %s is in progress already: waiting for it rather than starting another",
            u.subject, running.id, u.version)
    return running.id
  end
  if u.reached() then
    ctx.log("%s is at %s already: no update to start", u.subject, u.version)
    return nil
  end
  return u.start()
end

-- The core add-ons the cluster runs, with how each is managed, for refit.each "addon".
local function addon_items(ctx)
  local items, managed = {}, managed_addons(ctx)
  for _, spec in ipairs(CORE_ADDONS) do
    local plan = addon_plan(ctx, spec, managed)
    if plan then
      items[#items + 1] = { name = spec.name, spec = spec, managed = plan.managed, target = plan.target,
                            cluster = cluster_name(ctx) }
    end
  end
  return items
end

-- One add-on step. An EKS-managed add-on cannot be downgraded (update-addon refuses an older
-- version), so its update is a point of no return; a self-managed one is put back by its image.
local function addon_step(item)
  local spec, key = item.spec, "addon:" .. item.name
  local checked   -- the plan `done` just read, so that `run` does not ask EKS again
  local step = {
    summary = string.format("move %s (%s) to %s", item.name, item.managed and "EKS add-on" or "self-managed", item.target),
    done = function(ctx)
      checked = addon_plan(ctx, spec)
      return addon_at_target(checked)
    end,
    run = function(ctx)
      local plan = checked or addon_plan(ctx, spec)
      checked = nil
      if plan.managed then
        ctx.state[key] = { managed = true, version = plan.current }
        local a = api(ctx)
        local id = start_update(ctx, a, {
          opts = { addon = spec.name }, param = "AddonVersion", version = plan.target, subject = "add-on " .. spec.name,
          reached = function() return addon_at_target(addon_plan(ctx, spec)) end,
          start = function() return a:update_addon(spec.name, plan.target, ctx.params.resolve_conflicts) end,
        })
        ctx.state[key .. ":update"] = { id = id, version = plan.target }
      else
        local obj = ctx.cluster:get(workload_ref(spec))
        local ops, saved = image_patch(obj, plan.current, plan.target)
        ctx.state[key] = { managed = false, version = plan.current, restore = saved }
        ctx.cluster:patch(workload_ref(spec), ops, { type = "json" })
      end
      ctx.log("%s: %s -> %s (%s)", spec.name, tostring(plan.current), plan.target,
              plan.managed and "EKS add-on" or "self-managed")
    end,
    verify = function(ctx)
      if ctx.state[key].managed then
        local update = ctx.state[key .. ":update"]
        local a = api(ctx)
        if update.id then
          a:wait_update(update.id, { addon = spec.name, timeout = ctx.params.addon_timeout, interval = "15s" })
        end
        a:wait_addon_active(spec.name, { version = update.version, timeout = ctx.params.addon_timeout })
      else
        wait_rollout(ctx, spec, ctx.params.addon_timeout)
      end
    end,
  }
  if item.managed then
    step.irreversible = string.format(
      "EKS cannot downgrade an add-on, so refit does not undo the update of %s (cluster %s) to %s. Check it " ..
      "with aws eks describe-addon --cluster-name %s --addon-name %s; if it is unhealthy, fix its configuration " ..
      "(or update it with --resolve-conflicts OVERWRITE), then run refit apply eks/upgrade again with the same " ..
      "--set to=...: the steps already done are skipped.",
      item.name, item.cluster, item.target, item.cluster, item.name)
  else
    step.rollback = function(ctx)
      local saved = ctx.state[key]
      if not saved then return end
      ctx.cluster:patch(workload_ref(spec), saved.restore, { type = "json" })
      wait_rollout(ctx, spec, ctx.params.addon_timeout)
      ctx.log("%s restored to %s", spec.name, saved.version)
    end
  end
  return step
end

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

local function check_cluster_active(ctx)
  local a = api(ctx)
  local cluster, err = a:describe_cluster()
  ctx:require(cluster, "%s", err)
  ctx:require(cluster.status == "ACTIVE",
    "EKS cluster %s is %s, not ACTIVE: an update is in progress or the cluster is unhealthy; wait until it is ACTIVE",
    a.cluster, tostring(cluster.status))

  local problems = {}
  for _, name in ipairs(a:list_nodegroups()) do
    local ng = assert(a:describe_nodegroup(name))
    if ng.status ~= "ACTIVE" then
      local issues = eks.describe_issues(ng.health and ng.health.issues)
      problems[#problems + 1] = string.format("node group %s is %s%s", name, tostring(ng.status),
                                              issues ~= "" and (" (" .. issues .. ")") or "")
    elseif ng.amiType == "CUSTOM" then
      -- --kubernetes-version cannot move a custom AMI: its launch template names the image
      problems[#problems + 1] = string.format(
        "node group %s uses a custom AMI: update its launch template to an AMI for the target instead", name)
    end
  end
  ctx:require(#problems == 0, "cluster %s: %s", a.cluster, table.concat(problems, "; "))
end

-- The upgrades EKS supports (data/paths.yaml): one minor at a time, over the minors refit models.
-- resource() reads relative to the chunk that calls it, so this loader lives in the playbook.
local eks_paths
local function upgrade_paths()
  if not eks_paths then eks_paths = paths.load(resource("data/paths.yaml"), "scripts/eks/data/paths.yaml") end
  return eks_paths
end

local function check_version_route(ctx)
  local from, to = route_or_nil(ctx)
  if not from then return end   -- no cluster to read: cluster-active says why
  local name = cluster_name(ctx)
  local a, b = semver.parse(from), semver.parse(to)
  if a and b and a.major == b.major and b.minor <= a.minor then
    ctx:require(b.minor == a.minor,
      "EKS cannot downgrade a control plane: cluster %s is at %s, to=%s is older", name, from, to)
    ctx.log("cluster %s is already at Kubernetes %s: only the add-ons, node groups and Fargate pods " ..
            "that lag behind are upgraded", name, to)
    return
  end
  -- a skipped minor, or a minor the data does not know: the message gives the route or says why not
  local ok, why = upgrade_paths():check(from, to)
  ctx:require(ok, "%s", why)
  ctx.log("cluster %s: Kubernetes %s -> %s", name, from, to)
end

local function check_removed_apis(ctx)
  if not valid_hop(ctx) then return end
  local from, to = route(ctx)
  local cache, blocking = {}, {}
  if semver.minor_distance(from, to) == 1 then
    local requests = {}
    for _, entry in ipairs(removed_apis(to)) do
      if entry.request_only then
        requests[#requests + 1] = string.format("%s %s (use %s)", entry.apiVersion, entry.kind, entry.replacement)
      else
        for _, use in ipairs(uses_of(ctx.cluster, entry, cache)) do
          blocking[#blocking + 1] = string.format("%s (%s): %s", k8s.describe(use.obj), use.how,
                                                  replacement_text(entry))
        end
      end
    end
    -- requests are not stored, so only their senders could tell; say so once
    if #requests > 0 then
      ctx.log("Kubernetes %s also stops serving these request APIs; clients that send them need the " ..
              "replacement: %s", to, table.concat(requests, ", "))
    end
  end
  -- APIs a later minor removes: worth fixing now, not a reason to stop
  for m = 1, WARN_AHEAD_MINORS do
    local later = minor_plus(to, m)
    for _, entry in ipairs(removed_apis(later)) do
      if not entry.request_only then
        for _, use in ipairs(uses_of(ctx.cluster, entry, cache)) do
          ctx.log.warn("%s (%s) uses an API that Kubernetes %s removes: %s",
                       k8s.describe(use.obj), use.how, later, replacement_text(entry))
        end
      end
    end
  end
  ctx:require(#blocking == 0,
    "Kubernetes %s no longer serves the API versions these objects use; move them (and the manifests, " ..
    "charts and clients that create them) to the replacement first:\n  - %s",
    to, table.concat(blocking, "\n  - "))
end

local function check_node_versions(ctx)
  if not valid_hop(ctx) then return end
  local from, to = route(ctx)
  local cp = api(ctx):cluster_version()
  -- Before the control plane moves, every node runs its minor, so that after the move they are one
  -- behind (the seed's step 2). When it has already moved (a re-run after a failure), nodes may
  -- still be one behind: that is what the node group and Fargate steps then fix.
  local moved = semver.minor_distance(from, to) == 0
  local oldest = moved and minor_plus(cp, -1) or cp
  local behind, ahead, self_managed, owners = {}, {}, {}, {}
  for _, node in ipairs(ctx.cluster:list { kind = "Node" }) do
    local minor = kubelet_minor(node)
    local owner = node_owner(node)
    if owner == "self-managed" then self_managed[#self_managed + 1] = node.metadata.name end
    if minor and semver.minor_distance(minor, cp) < 0 then
      ahead[#ahead + 1] = describe_node(ctx.cluster, node)
    elseif not minor or semver.minor_distance(oldest, minor) < 0 then
      behind[#behind + 1] = describe_node(ctx.cluster, node) .. " [" .. owner .. "]"
      owners[owner] = true
    end
  end
  ctx:require(#ahead == 0, "these nodes run a kubelet newer than the control plane (%s), which Kubernetes " ..
              "does not support: %s", cp, table.concat(ahead, ", "))
  if #behind > 0 then
    local fix = {}
    for owner in pairs(owners) do
      if owner:match("^node group ") then fix[#fix + 1] = "upgrade " .. owner .. " to " .. cp end
    end
    table.sort(fix)
    if owners.Fargate then
      fix[#fix + 1] = "relaunch those Fargate pods (delete them: their controllers recreate them on " .. cp .. ")"
    end
    if owners["self-managed"] then fix[#fix + 1] = "replace those self-managed nodes with nodes at " .. cp end
    if moved then
      ctx:fail("the control plane of %s is at %s; these nodes are more than one minor behind it: %s. First %s",
               cluster_name(ctx), cp, table.concat(behind, ", "), table.concat(fix, "; "))
    end
    ctx:fail("every node must run the control plane's minor %s before the control plane moves to %s; " ..
             "these are behind: %s. First %s (refit apply eks/upgrade --set to=%s does that for node groups " ..
             "and Fargate pods, leaving the control plane where it is)",
             cp, to, table.concat(behind, ", "), table.concat(fix, "; "), cp)
  end
  if #self_managed > 0 then
    ctx.log.warn("self-managed nodes are not upgraded by eks/upgrade and will run one minor behind %s: %s",
                 to, table.concat(self_managed, ", "))
  end
end

local function check_subnets(ctx)
  if not valid_hop(ctx) then return end
  local from, to = route(ctx)
  if semver.minor_distance(from, to) == 0 then return end
  local a = api(ctx)
  local cluster = assert(a:describe_cluster())
  local ids = cluster.resourcesVpcConfig and cluster.resourcesVpcConfig.subnetIds
  if not ids or #ids == 0 then
    ctx.log.debug("cluster %s lists no subnets: free addresses not checked", a.cluster)
    return
  end
  local free, err = a:subnet_free_ips(ids)
  if not free then
    ctx.log.warn("could not read the free addresses of subnets %s (%s): EKS needs up to %d for the " ..
                 "control plane update", table.concat(ids, ", "), err, MIN_FREE_IPS)
    return
  end
  local total, counts = 0, {}
  for _, id in ipairs(ids) do
    total = total + (free[id] or 0)
    counts[#counts + 1] = string.format("%s: %s", id, tostring(free[id] or "unknown"))
  end
  ctx:require(total >= MIN_FREE_IPS,
    "EKS needs up to %d free IP addresses in the cluster's subnets to update the control plane; " ..
    "they have %d (%s): free addresses or add subnets first", MIN_FREE_IPS, total, table.concat(counts, ", "))
end

local function check_addons(ctx)
  if not valid_hop(ctx) then return end
  local a = api(ctx)
  local problems = {}
  -- every EKS-managed add-on, not only the core ones: an unhealthy one says the cluster is not
  -- in a state to upgrade
  for _, name in ipairs(a:list_addons()) do
    local addon = assert(a:describe_addon(name))
    local issues = addon.health and addon.health.issues or {}
    if addon.status ~= "ACTIVE" or #issues > 0 then
      local detail = eks.describe_issues(issues)
      problems[#problems + 1] = string.format("add-on %s is %s%s", name, tostring(addon.status),
                                              detail ~= "" and (" (" .. detail .. ")") or "")
    end
  end
  local managed = managed_addons(ctx)
  for _, spec in ipairs(CORE_ADDONS) do
    local plan = addon_plan(ctx, spec, managed)   -- also proves a target version is known for each
    if plan then
      if not plan.managed then
        local obj = ctx.cluster:get(workload_ref(spec))
        local ok, why = k8s.rollout_complete(obj)
        if not ok then problems[#problems + 1] = string.format("%s is not healthy: %s", k8s.describe(obj), why) end
      end
      if addon_at_target(plan) then
        ctx.log("%s (%s) is at %s: no update needed", spec.name,
                plan.managed and "EKS add-on" or "self-managed", tostring(plan.current))
      else
        ctx.log("%s (%s): %s -> %s", spec.name, plan.managed and "EKS add-on" or "self-managed",
                tostring(plan.current), plan.target)
      end
    end
  end
  ctx:require(#problems == 0, "add-ons must be healthy before the upgrade: %s", table.concat(problems, "; "))
end

---------------------------------------------------------------------------------------------------
-- Steps
---------------------------------------------------------------------------------------------------

local CONTROL_PLANE_RECOVERY = "EKS cannot downgrade a control plane: the cluster stays at the target " ..
  "version. Nothing needs undoing for it to keep serving: nodes one minor behind are within the supported " ..
  "version skew. Fix what made the later step fail, then run refit apply eks/upgrade again with the same " ..
  "--set to=...: the steps already done are skipped. If the new version itself is the problem, the way back " ..
  "is a new cluster at the old version and a migration of the workloads to it."

local function control_plane_step()
  return refit.step "control-plane" {
    summary = "update the EKS control plane one minor version (update-cluster-version)",
    done = function(ctx) return api(ctx):cluster_version() == target(ctx) end,
    run = function(ctx)
      local a = api(ctx)
      ctx.state["control-plane:from"] = a:cluster_version()
      ctx.state["control-plane:update"] = start_update(ctx, a, {
        opts = {}, param = "Version", version = target(ctx), subject = "cluster " .. a.cluster,
        reached = function() return a:cluster_version() == target(ctx) end,
        start = function()
          local id = a:update_cluster_version(target(ctx))
          ctx.log("point of no return: cluster %s moves from %s to %s (update %s)", a.cluster,
                  ctx.state["control-plane:from"], target(ctx), id)
          return id
        end,
      })
    end,
    verify = function(ctx)
      local a = api(ctx)
      local id = ctx.state["control-plane:update"]
      if id then a:wait_update(id, { timeout = ctx.params.control_plane_timeout }) end
      ctx:wait("cluster " .. a.cluster .. " ACTIVE at " .. target(ctx), function()
        local c = assert(a:describe_cluster())
        if c.status ~= "ACTIVE" then return false, "status " .. tostring(c.status) end
        if semver.minor_of(c.version) ~= target(ctx) then return false, "version " .. tostring(c.version) end
        return true
      end, { timeout = "10m", interval = "30s" })
    end,
    -- EKS reverts a control plane update whose health checks fail. Rolling back here means
    -- making sure that happened: the cluster is ACTIVE again at the version it had.
    rollback = function(ctx)
      local a = api(ctx)
      local from = ctx.state["control-plane:from"]
      local cluster
      ctx:wait("cluster " .. a.cluster .. " ACTIVE", function()
        cluster = assert(a:describe_cluster())
        if cluster.status ~= "ACTIVE" then return false, "status " .. tostring(cluster.status) end
        return true
      end, { timeout = ctx.params.control_plane_timeout, interval = "30s" })
      ctx:require(semver.minor_of(cluster.version) == from,
        "the control plane of %s is at %s, not back at %s: EKS did not revert the update, and it cannot " ..
        "be downgraded. %s", a.cluster, tostring(cluster.version), tostring(from), CONTROL_PLANE_RECOVERY)
      ctx.log("EKS reverted the update: cluster %s is ACTIVE at %s", a.cluster, tostring(cluster.version))
    end,
    irreversible = CONTROL_PLANE_RECOVERY,
  }
end

-- Node names from an update's errors: resourceIds are node names or EC2 instance ids.
local function error_nodes(ctx, update)
  local ids = {}
  for _, e in ipairs(update and update.errors or {}) do
    for _, id in ipairs(e.resourceIds or {}) do ids[#ids + 1] = id end
  end
  if #ids == 0 then return {} end
  local by_instance, by_name = {}, {}
  for _, node in ipairs(ctx.cluster:list { kind = "Node" }) do
    by_name[node.metadata.name] = true
    local instance = node.spec and node.spec.providerID and node.spec.providerID:match("(i%-[%w]+)$")
    if instance then by_instance[instance] = node.metadata.name end
  end
  local nodes = {}
  for _, id in ipairs(ids) do
    if by_name[id] then nodes[#nodes + 1] = id
    elseif by_instance[id] then nodes[#nodes + 1] = by_instance[id] end
  end
  return nodes
end

-- Whether the node group runs Kubernetes `to` and no update.
local function nodegroup_at(a, name, to)
  local ng = assert(a:describe_nodegroup(name))
  return semver.minor_of(ng.version) == to and ng.status == "ACTIVE"
end

local function nodegroup_step(item)
  local recovery = string.format(
    "EKS cannot roll back a managed node group update: node group %s of cluster %s runs (some of) its nodes " ..
    "at Kubernetes %s. To finish, fix the cause and run refit apply eks/upgrade --set to=%s again: the steps " ..
    "already done are skipped. To go back, create a node group at %s, move the workloads to it and delete " ..
    "node group %s.", item.name, item.cluster, item.to, item.to, item.from, item.name)
  return {
    summary = "roll node group " .. item.name .. " to Kubernetes " .. item.to,
    done = function(ctx) return nodegroup_at(api(ctx), item.name, item.to) end,
    run = function(ctx)
      local a = api(ctx)
      ctx.state["nodegroup:" .. item.name .. ":update"] = start_update(ctx, a, {
        opts = { nodegroup = item.name }, param = "Version", version = item.to, subject = "node group " .. item.name,
        reached = function() return nodegroup_at(a, item.name, item.to) end,
        start = function() return a:update_nodegroup_version(item.name, item.to, { force = ctx.params.force }) end,
      })
    end,
    verify = function(ctx)
      local a = api(ctx)
      local id = ctx.state["nodegroup:" .. item.name .. ":update"]
      if not id then return end   -- at the target already when its run looked
      local ok, err = pcall(a.wait_update, a, id, { nodegroup = item.name, timeout = ctx.params.nodegroup_timeout })
      if ok then return end
      -- EKS names the nodes whose drain failed; the PodDisruptionBudgets that forbid evicting
      -- their pods are what the user has to change, so name those too
      local message, lines = tostring(err), {}
      for _, b in ipairs(eks.blocking_pdbs(ctx.cluster, error_nodes(ctx, a.last_update))) do
        if not message:find(b.pdb, 1, true) then
          lines[#lines + 1] = string.format("PodDisruptionBudget %s allows no disruption of pod %s on node %s",
                                            b.pdb, b.pod, b.node)
        end
      end
      if #lines > 0 then message = message .. ". Blocked by: " .. table.concat(lines, "; ") end
      if message:find("PodDisruptionBudget", 1, true) then
        message = message .. ". Scale the workload up or relax the budget, then run again " ..
                  "(or --set force=true to evict regardless of the budget)"
      end
      error(message, 0)
    end,
    irreversible = recovery,
  }
end

-- The Fargate pods that run on a kubelet older than the target and have a controller to recreate
-- them. A bare pod would be gone for good if deleted: it is reported instead.
local function lagging_fargate_pods(ctx, to)
  local items, bare = {}, {}
  for _, node in ipairs(ctx.cluster:list { kind = "Node" }) do
    local minor = kubelet_minor(node)
    if is_fargate(node) and minor and semver.minor_distance(minor, to) > 0 then
      for _, pod in ipairs(pods_on(ctx.cluster, node.metadata.name)) do
        local owner = k8s.pod_owner(pod)
        if owner then
          items[#items + 1] = { name = pod_name(pod), namespace = pod.metadata.namespace,
                                pod = pod.metadata.name, owner_uid = owner.uid, owner = owner.kind .. " " .. owner.name,
                                owner_ref = { apiVersion = owner.apiVersion, kind = owner.kind,
                                              namespace = pod.metadata.namespace, name = owner.name },
                                node = node.metadata.name, to = to }
        else
          bare[#bare + 1] = pod_name(pod)
        end
      end
    end
  end
  if #bare > 0 then
    ctx.log.warn("these Fargate pods have no controller, so relaunching them is left to you: %s",
                 table.concat(bare, ", "))
  end
  return items
end

local function fargate_step(item)
  local key = "fargate:" .. item.name
  local function siblings(ctx)
    local out = {}
    for _, pod in ipairs(ctx.cluster:list { kind = "Pod", namespace = item.namespace }) do
      local owner = k8s.pod_owner(pod)
      if owner and owner.uid == item.owner_uid then out[#out + 1] = pod end
    end
    return out
  end
  local function pod_ref() return { kind = "Pod", namespace = item.namespace, name = item.pod } end
  return {
    summary = "relaunch Fargate pod " .. item.name .. " so it runs on Kubernetes " .. item.to,
    -- Done once the pod is gone and its replacement runs: every pod of its controller Running, as many
    -- as it asks for. A run stopped after the delete, before the replacement was made or while it
    -- starts, is not done, and goes on to wait for it.
    done = function(ctx)
      if ctx.cluster:get(pod_ref()) then return false end
      local running = 0
      for _, pod in ipairs(siblings(ctx)) do
        if (pod.status and pod.status.phase) ~= "Running" then return false end
        running = running + 1
      end
      local owner = item.owner_ref and ctx.cluster:get(item.owner_ref)
      local wanted = owner and owner.spec and owner.spec.replicas
      return running >= (wanted or 1)
    end,
    run = function(ctx)
      -- The replacement is a pod that did not run before. Those running now: a stopped run that
      -- deleted the pod already may have left its replacement starting, which is not one of them.
      if ctx.state[key] == nil then
        local before = {}
        for _, pod in ipairs(siblings(ctx)) do
          if (pod.status and pod.status.phase) == "Running" then before[#before + 1] = pod.metadata.name end
        end
        ctx.state[key] = before
      end
      if ctx.cluster:get(pod_ref()) then ctx.cluster:delete(pod_ref()) end
    end,
    verify = function(ctx)
      local known = {}
      for _, name in ipairs(ctx.state[key] or {}) do known[name] = true end
      ctx:wait(string.format("a replacement of %s (%s) Running on Fargate at %s", item.name, item.owner, item.to), function()
        local why = "no replacement pod yet"
        for _, pod in ipairs(siblings(ctx)) do
          if not known[pod.metadata.name] then
            local node = pod.spec.nodeName and ctx.cluster:get { kind = "Node", name = pod.spec.nodeName }
            if not node then
              why = "pod " .. pod.metadata.name .. " not scheduled"
            elseif (pod.status and pod.status.phase) ~= "Running" then
              why = "pod " .. pod.metadata.name .. " is " .. tostring(pod.status and pod.status.phase)
            elseif not is_fargate(node) or kubelet_minor(node) ~= item.to then
              why = "pod " .. pod.metadata.name .. " runs on " .. describe_node(ctx.cluster, node)
            else
              return true
            end
          end
        end
        return false, why
      end, { timeout = ctx.params.fargate_timeout, interval = "10s" })
    end,
  }
end

-- The end state the seed asks for: control plane, nodes and core add-ons at the target.
local function verify_versions(ctx)
  local a = api(ctx)
  local to = target(ctx)
  local off = {}
  local cluster = assert(a:describe_cluster())
  if semver.minor_of(cluster.version) ~= to or cluster.status ~= "ACTIVE" then
    off[#off + 1] = string.format("control plane is %s at %s", tostring(cluster.status), tostring(cluster.version))
  end
  for _, name in ipairs(a:list_nodegroups()) do
    local ng = assert(a:describe_nodegroup(name))
    if semver.minor_of(ng.version) ~= to or ng.status ~= "ACTIVE" then
      off[#off + 1] = string.format("node group %s is %s at %s", name, tostring(ng.status), tostring(ng.version))
    end
  end
  -- Nodes the playbook cannot move (self-managed ones, Fargate nodes of pods without a
  -- controller) were reported before; they are left for the user, not a reason to roll back.
  local left = {}
  for _, node in ipairs(ctx.cluster:list { kind = "Node" }) do
    if kubelet_minor(node) ~= to then
      local owned = false
      for _, pod in ipairs(is_fargate(node) and pods_on(ctx.cluster, node.metadata.name) or {}) do
        if k8s.pod_owner(pod) then owned = true end
      end
      local owner = node_owner(node)
      if owner == "self-managed" or (owner == "Fargate" and not owned) then
        left[#left + 1] = describe_node(ctx.cluster, node)
      else
        off[#off + 1] = "node " .. describe_node(ctx.cluster, node) .. " [" .. owner .. "]"
      end
    end
  end
  local managed = managed_addons(ctx)
  for _, spec in ipairs(CORE_ADDONS) do
    local plan = addon_plan(ctx, spec, managed)
    if plan and not addon_at_target(plan) then
      off[#off + 1] = string.format("add-on %s is at %s, not %s", spec.name, tostring(plan.current), plan.target)
    end
  end
  if #left > 0 then
    ctx.log.warn("these nodes still run an older kubelet and are left to you (self-managed nodes, " ..
                 "Fargate pods without a controller): %s", table.concat(left, ", "))
  end
  ctx:require(#off == 0, "cluster %s is not at Kubernetes %s: %s", a.cluster, to, table.concat(off, "; "))
  ctx.log("cluster %s: control plane, node groups, Fargate pods and core add-ons at Kubernetes %s", a.cluster, to)
end

---------------------------------------------------------------------------------------------------
-- The playbook
---------------------------------------------------------------------------------------------------

local steps = {
  summary = "Upgrade an Amazon EKS cluster one Kubernetes minor version (control plane, add-ons, nodes)",
  description = [[
Moves an EKS cluster one Kubernetes minor version up, as AWS documents it: check that no API the
target removes is in use and that every node runs the control plane's minor; update the control plane
(update-cluster-version); move kube-proxy, CoreDNS and the VPC CNI to the versions for the target
(EKS add-ons through update-addon, self-managed ones by their image tag); roll every managed node
group (update-nodegroup-version); relaunch Fargate pods one at a time; verify that everything runs
the target. A request that skips minor versions is refused with the hops to run instead. With the
control plane already at `to`, only what lags behind it is upgraded. See docs/eks.md.]],
  params = {
    to = refit.param.version {
      help = "target Kubernetes minor, e.g. 1.21 (default: one minor above the control plane)",
      example = "1.21",
    },
    cluster = refit.param.string {
      help = "EKS cluster name (default: the kubeconfig context's `aws eks get-token --cluster-name`, or its " ..
             "arn:aws:eks:...:cluster/NAME name, else the name of the target cluster)",
    },
    region = refit.param.string {
      help = "AWS region of the cluster (default: the kubeconfig context's, else the aws CLI's configuration)",
    },
    resolve_conflicts = refit.param.enum {
      values = { "NONE", "OVERWRITE", "PRESERVE" }, default = "PRESERVE",
      help = "how update-addon treats settings changed on an EKS add-on's objects",
    },
    force = refit.param.bool {
      default = false,
      help = "update-nodegroup-version --force: evict pods even when a PodDisruptionBudget forbids it",
    },
    control_plane_timeout = refit.param.duration { default = "60m", help = "limit for the control plane update" },
    addon_timeout = refit.param.duration { default = "20m", help = "limit for each add-on update" },
    nodegroup_timeout = refit.param.duration { default = "3h", help = "limit for each node group's rolling update" },
    fargate_timeout = refit.param.duration { default = "10m", help = "limit for each Fargate pod's relaunch" },
  },
  -- A plan from live clusters (refit plan --context) needs the EKS side too: refit.eks reads it,
  -- read-only, into the fixture's eks section (docs/real-clusters.md).
  snapshot = { eks = eks.snapshot },
  preflight = {
    refit.check "cluster-active" (check_cluster_active),
    refit.check "version-route" (check_version_route),
    refit.check "removed-apis" (check_removed_apis),
    refit.check "node-versions" (check_node_versions),
    refit.check "subnet-addresses" (check_subnets),
    refit.check "addons-healthy" (check_addons),
  },
  control_plane_step(),
}
steps[#steps + 1] = refit.each "addon" {
  summary = "move kube-proxy, CoreDNS and the VPC CNI to the versions for the target, one at a time",
  items = addon_items,
  step = addon_step,
}
steps[#steps + 1] = refit.each "nodegroup" {
  summary = "roll every managed node group to the target, one at a time",
  items = function(ctx)
    local from, to = route(ctx)
    local items = {}
    for _, name in ipairs(api(ctx):list_nodegroups()) do
      items[#items + 1] = { name = name, cluster = cluster_name(ctx), from = from, to = to }
    end
    return items
  end,
  step = nodegroup_step,
}
steps[#steps + 1] = refit.each "fargate-pod" {
  summary = "relaunch each Fargate pod on an older kubelet, one at a time",
  items = function(ctx) return lagging_fargate_pods(ctx, target(ctx)) end,
  step = fargate_step,
}
steps[#steps + 1] = refit.step "verify-versions" {
  summary = "control plane, every node and every core add-on at the target",
  verify = verify_versions,
}

return refit.playbook "eks/upgrade" (steps)
