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
-- wait_addon_active, list_fargate_profiles, describe_fargate_profile, describe_subnets, subnet_free_ips.
-- Module functions: client, identify, target, client_for, snapshot, parse_error, describe_issues,
-- update_param, blocking_pdbs.
--
-- Which EKS cluster a playbook acts on is `identify`'s answer (the playbook's parameters, else what
-- the kubeconfig context says), and `snapshot` is the playbook's snapshot hook: the `eks:` fixture
-- section of a live cluster, so that a plan from live clusters (refit plan --context) has the cloud
-- side the aws model answers from.
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

-- What an operator does about the aws CLI's errors that are theirs to mend, not the cluster's: the
-- identity or its credentials.
local FIXES = {
  AccessDeniedException = "the AWS identity in use (aws sts get-caller-identity) may not do this: grant it the "
    .. "permission, or use a profile that has it (AWS_PROFILE, or the env of the kubeconfig's exec plugin)",
  ExpiredTokenException = "the AWS credentials have expired: sign in again (aws sso login, or new keys) and rerun",
  UnrecognizedClientException = "the AWS credentials are not valid: check the keys of the profile in use "
    .. "(aws configure list)",
  InvalidSignatureException = "the AWS secret key does not match its key id, or this machine's clock is off: "
    .. "check both",
}

-- The error text of a failed `aws eks OP`: the CLI's code and message, and what to do where that is the
-- operator's to mend.
function M.failure(op, code, message)
  local text = string.format("aws eks %s failed: %s: %s", op, code, message)
  local fix = FIXES[code]
  return fix and (text .. "\n" .. fix) or text
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

-- Which EKS cluster ------------------------------------------------------------------------------

-- An exec plugin argument's value: "--name value" or "--name=value" (nil when absent).
local function flag_value(args, names)
  for i, a in ipairs(args or {}) do
    for _, name in ipairs(names) do
      if a == name then return args[i + 1] end
      local v = a:match("^" .. name:gsub("%-", "%%-") .. "=(.*)$")
      if v then return v end
    end
  end
end

-- "arn:aws:eks:eu-west-1:111122223333:cluster/prod" (aws eks update-kubeconfig names contexts and
-- cluster entries so; aws-cn and aws-us-gov partitions too) -> name, region, account.
local function from_arn(text)
  local region, account, name = (text or ""):match("^arn:aws[%w%-]*:eks:([%w%-]+):(%d+):cluster/(.+)$")
  return name, region, account
end

-- "prod.eu-west-1.eksctl.io", or the context "admin@prod.eu-west-1.eksctl.io" (eksctl) -> name, region.
local function from_eksctl(text)
  local name, region = (text or ""):gsub("^.*@", ""):match("^(.+)%.([%l%d%-]+%-%d)%.eksctl%.io$")
  return name, region
end

-- The region in an EKS API server's host: https://<id>.<cell>.eu-west-1.eks.amazonaws.com
local function region_of_server(server)
  return (server or ""):match("^https://[^/]-%.([%l%d%-]+%-%d)%.eks%.amazonaws%.com")
end

-- The EKS cluster behind a cluster handle: { name =, region =, profile =, name_from =, region_from =,
-- guessed = (true when nothing named the cluster and name is the handle's own) }.
--
--   name    params.cluster (--set cluster=NAME); else what the kubeconfig context says
--           (cluster:kubeconfig()): its exec plugin's `aws eks get-token --cluster-name NAME` (or
--           aws-iam-authenticator's -i / --cluster-id NAME), a context or cluster entry named as
--           `aws eks update-kubeconfig` names them (arn:aws:eks:REGION:ACCOUNT:cluster/NAME) or as
--           eksctl does (NAME.REGION.eksctl.io); else the handle's name (a fixture's cluster key).
--   region  params.region; else the plugin's --region, its AWS_REGION or AWS_DEFAULT_REGION, the
--           ARN or eksctl name, the server's host (*.REGION.eks.amazonaws.com); else nil, which
--           leaves it to the aws CLI's configuration.
--   profile the plugin's --profile or AWS_PROFILE: refit's aws calls use the account the
--           kubeconfig authenticates with.
--
-- The plugin is the first place looked because it is what the cluster's credentials come from: a
-- renamed context still runs it with the cluster's name.
function M.identify(cluster, params)
  params = params or {}
  local kc = cluster.kubeconfig and cluster:kubeconfig() or nil
  local exec = kc and kc.exec or {}
  local args, env = exec.args or {}, exec.env or {}
  local command = (exec.command or ""):match("([^/]+)$") or ""
  local id = {}
  local function take(field, value, from)
    if value and value ~= "" and id[field] == nil then
      id[field] = value
      id[field .. "_from"] = from
    end
  end
  take("name", params.cluster, "--set cluster")   -- take skips "" (a string param left unset)
  take("region", params.region, "--set region")
  local plugin = "the exec plugin of context " .. tostring(kc and kc.context)
  if command == "aws" then
    take("name", flag_value(args, { "--cluster-name" }), plugin)
    take("profile", flag_value(args, { "--profile" }), plugin)
  elseif command == "aws-iam-authenticator" then
    take("name", flag_value(args, { "-i", "--cluster-id" }), plugin)
  end
  if command ~= "" then
    take("region", flag_value(args, { "--region" }), plugin)
    take("region", env.AWS_REGION, plugin)
    take("region", env.AWS_DEFAULT_REGION, plugin)
    take("profile", env.AWS_PROFILE, plugin)
  end
  if kc then
    for _, entry in ipairs { { kc.context, "the name of context " .. tostring(kc.context) },
                             { kc.cluster, "the kubeconfig's cluster entry " .. tostring(kc.cluster) } } do
      local name, region = from_arn(entry[1])
      if not name then name, region = from_eksctl(entry[1]) end
      take("name", name, entry[2])
      take("region", region, entry[2])
    end
    take("region", region_of_server(kc.server), "the server " .. tostring(kc.server))
  end
  if id.name == nil then
    -- nothing says: in a fixture the cluster's key is the EKS name; a live cluster may be named so
    id.name, id.name_from, id.guessed = cluster:name(), "the name of cluster " .. cluster:name(), true
  end
  return id
end

-- identify(ctx.cluster, ctx.params), once per run (every aws call of a playbook needs it).
local targets = setmetatable({}, { __mode = "k" })
function M.target(ctx)
  local t = targets[ctx]
  if not t then
    t = M.identify(ctx.cluster, ctx.params)
    targets[ctx] = t
  end
  return t
end

-- The client for the EKS cluster of ctx.cluster (M.target).
function M.client_for(ctx)
  local t = M.target(ctx)
  return M.client(ctx, t.name, { region = t.region, profile = t.profile })
end

-- The `eks:` fixture section of ctx.cluster, read from AWS: the playbook's snapshot hook
-- (refit.eks_snapshot).
function M.snapshot(ctx)
  return require("refit.eks_snapshot")(M, ctx)
end

-- Client ---------------------------------------------------------------------------------------

local Client = {}
Client.__index = Client

-- A client for one EKS cluster. `opts.region` adds --region to every call and `opts.profile`
-- --profile (the CLI's own configuration decides otherwise).
function M.client(ctx, cluster, opts)
  assert(type(cluster) == "string" and cluster ~= "", "eks.client: cluster name expected")
  opts = opts or {}
  return setmetatable({ ctx = ctx, cluster = cluster, region = opts.region, profile = opts.profile }, Client)
end

-- --region, --profile and --output json: the options every aws call of the client takes.
function Client:add_globals(argv)
  if self.region then argv[#argv + 1] = "--region"; argv[#argv + 1] = self.region end
  if self.profile then argv[#argv + 1] = "--profile"; argv[#argv + 1] = self.profile end
  argv[#argv + 1] = "--output"
  argv[#argv + 1] = "json"
end

-- Runs `aws eks <op> ...args`; returns the decoded JSON, or nil, code, message when check is
-- false and the call failed.
function Client:call(op, args, opts)
  opts = opts or {}
  local argv = { "aws", "eks", op }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  self:add_globals(argv)
  argv.mutates = opts.mutates or false
  argv.check = false
  local r = self.ctx:exec(argv)
  if r.code ~= 0 then
    local code, message = M.parse_error(r.stderr)
    code = code or ("exit " .. tostring(r.code))
    message = message or (r.stderr ~= "" and r.stderr) or r.stdout
    if opts.check == false then return nil, code, message end
    error(M.failure(op, code, message), 0)
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
    error(M.failure("describe-cluster", code, message), 0)
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
    error(M.failure("describe-nodegroup", code, message), 0)
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
    error(M.failure("describe-addon", code, message), 0)
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

-- Fargate -----------------------------------------------------------------------------------------

function Client:list_fargate_profiles()
  local out = self:call("list-fargate-profiles", { "--cluster-name", self.cluster })
  return out.fargateProfileNames or {}
end

function Client:describe_fargate_profile(name)
  local out = self:call("describe-fargate-profile",
    { "--cluster-name", self.cluster, "--fargate-profile-name", name })
  return out.fargateProfile
end

-- EC2 ------------------------------------------------------------------------------------------

-- The Subnets of `aws ec2 describe-subnets --subnet-ids ...`, or nil, message when the call is not
-- available (no permission, or a simulated world without an ec2 model).
function Client:describe_subnets(subnet_ids)
  if #subnet_ids == 0 then return {} end
  local argv = { "aws", "ec2", "describe-subnets", "--subnet-ids" }
  for _, id in ipairs(subnet_ids) do argv[#argv + 1] = id end
  self:add_globals(argv)
  argv.check = false
  local r = self.ctx:exec(argv)
  if r.code ~= 0 or type(r.json) ~= "table" then
    local code, message = M.parse_error(r.stderr)
    return nil, (code and (code .. ": " .. message)) or r.stderr or ("exit " .. tostring(r.code))
  end
  return r.json.Subnets or {}
end

-- Free IP addresses per subnet id ({ ["subnet-1"] = 250, ... }), or nil, message (describe_subnets).
function Client:subnet_free_ips(subnet_ids)
  local subnets, err = self:describe_subnets(subnet_ids)
  if not subnets then return nil, err end
  local free = {}
  for _, s in ipairs(subnets) do
    free[s.SubnetId] = s.AvailableIpAddressCount
  end
  return free
end

return M
