-- refit.eks: the `aws eks` calls the bundled EKS playbook needs, through ctx:exec.
--
-- Every call goes through ctx:exec, so in a simulated world it reaches the aws model and in a real
-- one the real CLI; mutating calls say `mutates = true` so plans list them. Output is requested as
-- JSON explicitly because a user's aws config may default to text or table output.
--
--   local eks = require "refit.eks"
--   local api = eks.client(ctx, "prod", { region = "eu-west-1" })
--   local id = api:update_cluster_version("1.21")
--   api:wait_update(id, { timeout = "60m" })
--
-- Client methods: describe_cluster, cluster_version, update_cluster_version, describe_update,
-- list_updates, update_in_progress, wait_update, list_nodegroups, describe_nodegroup,
-- update_nodegroup_version, list_addons, describe_addon, addon_versions, update_addon,
-- wait_addon_active, subnet_free_ips.
-- Module functions: client, parse_error, describe_issues, update_param, blocking_pdbs.
--
-- Error convention (as lauxlib): describe_* return nil, message when the resource does not exist
-- (an operational answer a check wants to report); everything else raises, which fails the phase.

local semver = require "refit.semver"
local k8s = require "refit.k8s"

local M = {}

-- Errors ---------------------------------------------------------------------------------------

-- "An error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: ..."
function M.parse_error(stderr)
  local code, op, message = (stderr or ""):match("An error occurred %(([%w_]+)%) when calling the (%w+) operation: ([^\n]*)")
  return code, message, op
end

-- EKS errors or health issues as one text: "Code: message (resourceIds: a, b); Code2: ...".
function M.describe_issues(list)
  local lines = {}
  for _, e in ipairs(list or {}) do
    local code = e.errorCode or e.code or "Error"
    local text = e.errorMessage or e.message or ""
    local line = code .. ": " .. text
    if type(e.resourceIds) == "table" and #e.resourceIds > 0 then
      line = line .. " (resourceIds: " .. table.concat(e.resourceIds, ", ") .. ")"
    end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "; ")
end

-- Client ---------------------------------------------------------------------------------------

local Client = {}
Client.__index = Client

-- A client for one EKS cluster. `opts.region` adds --region to every call (the CLI's own
-- configuration decides otherwise).
function M.client(ctx, cluster, opts)
  assert(type(cluster) == "string" and cluster ~= "", "eks.client: cluster name expected")
  opts = opts or {}
  return setmetatable({ ctx = ctx, cluster = cluster, region = opts.region }, Client)
end

-- Runs `aws eks <op> ...args`; returns the decoded JSON, or nil, code, message when check is
-- false and the call failed.
function Client:call(op, args, opts)
  opts = opts or {}
  local argv = { "aws", "eks", op }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  if self.region then
    argv[#argv + 1] = "--region"
    argv[#argv + 1] = self.region
  end
  argv[#argv + 1] = "--output"
  argv[#argv + 1] = "json"
  argv.mutates = opts.mutates or false
  argv.check = false
  local r = self.ctx:exec(argv)
  if r.code ~= 0 then
    local code, message = M.parse_error(r.stderr)
    code = code or ("exit " .. tostring(r.code))
    message = message or (r.stderr ~= "" and r.stderr) or r.stdout
    if opts.check == false then return nil, code, message end
    error(string.format("aws eks %s failed: %s: %s", op, code, message), 0)
  end
  if r.json == nil then
    error(string.format("aws eks %s: output is not JSON: %s", op, (r.stdout or ""):sub(1, 200)), 0)
  end
  return r.json
end

-- Cluster --------------------------------------------------------------------------------------

-- The `cluster` object of describe-cluster, or nil, message when it does not exist.
function Client:describe_cluster()
  local out, code, message = self:call("describe-cluster", { "--name", self.cluster }, { check = false })
  if not out then
    if code == "ResourceNotFoundException" then
      return nil, string.format("no EKS cluster %q: %s", self.cluster, message)
    end
    error(string.format("aws eks describe-cluster failed: %s: %s", code, message), 0)
  end
  return out.cluster
end

-- The control plane's minor ("1.20"); raises when the cluster does not exist.
function Client:cluster_version()
  local cluster, err = self:describe_cluster()
  if not cluster then error(err, 0) end
  return semver.minor_of(cluster.version)
end

-- Starts the control plane update; returns the update id.
function Client:update_cluster_version(version)
  local out = self:call("update-cluster-version",
    { "--name", self.cluster, "--kubernetes-version", version }, { mutates = true })
  return out.update.id, out.update
end

-- The `update` object of describe-update; opts.nodegroup / opts.addon for their updates.
function Client:describe_update(id, opts)
  opts = opts or {}
  local args = { "--name", self.cluster, "--update-id", id }
  if opts.nodegroup then args[#args + 1] = "--nodegroup-name"; args[#args + 1] = opts.nodegroup end
  if opts.addon then args[#args + 1] = "--addon-name"; args[#args + 1] = opts.addon end
  return self:call("describe-update", args).update
end

-- The ids of the updates of the cluster (opts.nodegroup / opts.addon: of that node group or add-on).
function Client:list_updates(opts)
  opts = opts or {}
  local args = { "--name", self.cluster }
  if opts.nodegroup then args[#args + 1] = "--nodegroup-name"; args[#args + 1] = opts.nodegroup end
  if opts.addon then args[#args + 1] = "--addon-name"; args[#args + 1] = opts.addon end
  return self:call("list-updates", args).updateIds or {}
end

-- The value of an update's parameter ("Version", "AddonVersion"), or nil.
function M.update_param(update, name)
  for _, p in ipairs(update and update.params or {}) do
    if p.type == name then return p.value end
  end
end

-- The update in progress on the cluster's control plane (opts.nodegroup / opts.addon: on that node
-- group or add-on), or nil. EKS runs one at a time on each: a run stopped after starting one finds
-- it here and waits for it, where starting another would be refused (ResourceInUseException).
function Client:update_in_progress(opts)
  opts = opts or {}
  local ids = self:list_updates(opts)
  -- newest first: an update in progress is one of the last
  for i = #ids, 1, -1 do
    local u = self:describe_update(ids[i], opts)
    if u.status == "InProgress" then return u end
  end
end

-- What an update is about, for messages: "control plane update u-1 of cluster prod".
local function update_subject(self, id, opts)
  if opts.nodegroup then
    return string.format("update %s of node group %s", id, opts.nodegroup)
  elseif opts.addon then
    return string.format("update %s of add-on %s", id, opts.addon)
  end
  return string.format("update %s of cluster %s", id, self.cluster)
end

-- Waits until describe-update says Successful and returns the update. Failed or Cancelled raise
-- an error naming the update's error codes, messages and resourceIds (the nodes that blocked a
-- drain, say). The last update seen stays in `client.last_update`, so a caller that pcalls this
-- can look further into the errors (refit.eks.blocking_pdbs names the PodDisruptionBudgets).
-- opts: nodegroup, addon, timeout, interval, what.
function Client:wait_update(id, opts)
  opts = opts or {}
  local subject = update_subject(self, id, opts)
  self.last_update = nil
  self.ctx:wait(opts.what or (subject .. " Successful"), function()
    local u = self:describe_update(id, opts)
    self.last_update = u
    if u.status == "Successful" then return true end
    if u.status == "InProgress" then return false, "status InProgress" end
    local detail = M.describe_issues(u.errors)
    error(string.format("%s %s%s", subject, tostring(u.status),
                        detail ~= "" and (": " .. detail) or ""), 0)
  end, { timeout = opts.timeout or "60m", interval = opts.interval or "30s" })
  return self.last_update
end

-- Node groups ----------------------------------------------------------------------------------

function Client:list_nodegroups()
  local out = self:call("list-nodegroups", { "--cluster-name", self.cluster })
  return out.nodegroups or {}
end

-- The `nodegroup` object, or nil, message when it does not exist.
function Client:describe_nodegroup(name)
  local out, code, message = self:call("describe-nodegroup",
    { "--cluster-name", self.cluster, "--nodegroup-name", name }, { check = false })
  if not out then
    if code == "ResourceNotFoundException" then
      return nil, string.format("no node group %q in cluster %q: %s", name, self.cluster, message)
    end
    error(string.format("aws eks describe-nodegroup failed: %s: %s", code, message), 0)
  end
  return out.nodegroup
end

-- Starts a rolling replacement of the node group's nodes at `version`; returns the update id.
-- opts.force: evict pods even when a PodDisruptionBudget forbids it.
function Client:update_nodegroup_version(name, version, opts)
  opts = opts or {}
  local args = { "--cluster-name", self.cluster, "--nodegroup-name", name, "--kubernetes-version", version }
  if opts.force then args[#args + 1] = "--force" end
  local out = self:call("update-nodegroup-version", args, { mutates = true })
  return out.update.id, out.update
end

-- Add-ons --------------------------------------------------------------------------------------

function Client:list_addons()
  local out = self:call("list-addons", { "--cluster-name", self.cluster })
  return out.addons or {}
end

-- The `addon` object, or nil, message when the add-on is not managed by EKS.
function Client:describe_addon(name)
  local out, code, message = self:call("describe-addon",
    { "--cluster-name", self.cluster, "--addon-name", name }, { check = false })
  if not out then
    if code == "ResourceNotFoundException" then
      return nil, string.format("add-on %s is not managed by EKS in cluster %q: %s", name, self.cluster, message)
    end
    error(string.format("aws eks describe-addon failed: %s: %s", code, message), 0)
  end
  return out.addon
end

-- The versions of an add-on for a Kubernetes minor: returns the default version (what EKS
-- installs on a new cluster of that minor, and what AWS recommends) and the list of every
-- compatible version, newest first as EKS lists them. The default is nil when none is marked.
function Client:addon_versions(name, k8s_minor)
  local out = self:call("describe-addon-versions",
    { "--kubernetes-version", k8s_minor, "--addon-name", name })
  local default, all = nil, {}
  for _, addon in ipairs(out.addons or {}) do
    for _, v in ipairs(addon.addonVersions or {}) do
      for _, c in ipairs(v.compatibilities or {}) do
        if semver.same_minor(c.clusterVersion, k8s_minor) then
          all[#all + 1] = v.addonVersion
          if c.defaultVersion == true then default = v.addonVersion end
          break
        end
      end
    end
  end
  return default, all
end

-- Starts an add-on update; returns the update id. resolve: NONE, OVERWRITE or PRESERVE.
function Client:update_addon(name, version, resolve)
  local args = { "--cluster-name", self.cluster, "--addon-name", name, "--addon-version", version }
  if resolve then args[#args + 1] = "--resolve-conflicts"; args[#args + 1] = resolve end
  local out = self:call("update-addon", args, { mutates = true })
  return out.update.id, out.update
end

-- Waits until the add-on is ACTIVE (as `aws eks wait addon-active`). DEGRADED, UPDATE_FAILED and
-- CREATE_FAILED raise with the add-on's health issues; opts: timeout, interval, version (also wait
-- for this addonVersion, since an update is not visible in the status the moment it starts).
local FAILED_ADDON = { DEGRADED = true, UPDATE_FAILED = true, CREATE_FAILED = true, DELETE_FAILED = true }

function Client:wait_addon_active(name, opts)
  opts = opts or {}
  local last
  local what = "add-on " .. name .. " ACTIVE" .. (opts.version and (" at " .. opts.version) or "")
  self.ctx:wait(what, function()
    local a, err = self:describe_addon(name)
    if not a then error(err, 0) end
    last = a
    if FAILED_ADDON[a.status] then
      local issues = M.describe_issues(a.health and a.health.issues)
      error(string.format("add-on %s is %s%s", name, a.status,
                          issues ~= "" and (": " .. issues) or ""), 0)
    end
    if a.status ~= "ACTIVE" then return false, "status " .. tostring(a.status) end
    if opts.version and a.addonVersion ~= opts.version then
      return false, "version " .. tostring(a.addonVersion)
    end
    return true
  end, { timeout = opts.timeout or "20m", interval = opts.interval or "15s" })
  return last
end

-- Drains ---------------------------------------------------------------------------------------

-- The PodDisruptionBudgets that forbid evicting a pod from these nodes (status.disruptionsAllowed
-- is 0), each as { pdb = "ns/name", pod = "ns/name", node = "n" }: what a failed managed node group
-- drain (PodEvictionFailure, whose resourceIds are only the nodes) was waiting for.
function M.blocking_pdbs(cluster, node_names)
  local found, pdbs_by_ns = {}, {}
  for _, node in ipairs(node_names) do
    for _, pod in ipairs(cluster:list { kind = "Pod", fields = "spec.nodeName=" .. node }) do
      local ns = pod.metadata.namespace
      pdbs_by_ns[ns] = pdbs_by_ns[ns] or cluster:list { kind = "PodDisruptionBudget", namespace = ns }
      for _, pdb in ipairs(pdbs_by_ns[ns]) do
        local allowed = pdb.status and pdb.status.disruptionsAllowed
        if allowed == 0 and pdb.spec and k8s.match_labels(pdb.spec.selector or {}, pod.metadata.labels) then
          found[#found + 1] = {
            pdb = ns .. "/" .. pdb.metadata.name,
            pod = ns .. "/" .. pod.metadata.name,
            node = node,
          }
        end
      end
    end
  end
  return found
end

-- EC2 ------------------------------------------------------------------------------------------

-- Free IP addresses per subnet id ({ ["subnet-1"] = 250, ... }), or nil, message when the EC2
-- call is not available (no permission, or a simulated world without an ec2 model).
function Client:subnet_free_ips(subnet_ids)
  if #subnet_ids == 0 then return {} end
  local argv = { "aws", "ec2", "describe-subnets", "--subnet-ids" }
  for _, id in ipairs(subnet_ids) do argv[#argv + 1] = id end
  if self.region then argv[#argv + 1] = "--region"; argv[#argv + 1] = self.region end
  argv[#argv + 1] = "--output"
  argv[#argv + 1] = "json"
  argv.check = false
  local r = self.ctx:exec(argv)
  if r.code ~= 0 or type(r.json) ~= "table" then
    local code, message = M.parse_error(r.stderr)
    return nil, (code and (code .. ": " .. message)) or r.stderr or ("exit " .. tostring(r.code))
  end
  local free = {}
  for _, s in ipairs(r.json.Subnets or {}) do
    free[s.SubnetId] = s.AvailableIpAddressCount
  end
  return free
end

return M
