-- refit.sim.eks_eksctl: eksctl as far as EKS upgrades use it.
--
--   eksctl upgrade cluster --name C [--version V] [--approve]     plan only without --approve; with
--                                                                 it, waits until the control plane
--                                                                 update ends (as eksctl does)
--   eksctl upgrade nodegroup --name N --cluster C [--kubernetes-version V] [--release-version R]
--                            [--force-upgrade] [--wait=false]
--   eksctl utils update-kube-proxy | update-coredns | update-aws-node --cluster C [--approve]
--   eksctl get cluster [--name C] | get nodegroup --cluster C [--name N] [-o json]
--   eksctl version
--
-- Output is eksctl's log lines ("2026-01-01 00:00:00 [ℹ]  ...") on stdout; errors are "Error: ..."
-- on stderr with exit 1.
--
-- Waiting: the control plane update's end is known when it starts, so `upgrade cluster --approve`
-- lasts exactly until then. A node group update's end is not (it depends on drains), so
-- `upgrade nodegroup` waits only when the engine offers W.run_until(pred, timeout_ms, poll_ms);
-- without it, it returns once the update has started and says so on stderr.

local util = require "refit.sim.util"
local semver = require "refit.semver"

local VERSION = "0.110.0"
local STEP_MS = 1500         -- one eksctl API round trip (several AWS calls)
local POLL_MS = 30000        -- eksctl polls update status every 30 s
local BOOL = { approve = true, ["force-upgrade"] = true, wait = true, ["dry-run"] = true, verbose = true,
               ["skip-outdated-addons-check"] = true, force = true }
local SHORT = { n = "name", o = "output", r = "region", c = "cluster", v = "verbose" }

local function parse(args)
  local pos, flags = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local long, value = a:match("^%-%-([^=]+)=(.*)$")
    if not long then long = a:match("^%-%-(.+)$") end
    if not long and a:match("^%-%a$") then long = SHORT[a:sub(2)] or a:sub(2) end
    if long then
      if value == nil then
        local nxt = args[i + 1]
        if not BOOL[long] and nxt ~= nil and nxt:sub(1, 1) ~= "-" then
          value = nxt
          i = i + 1
        else
          value = "true"
        end
      end
      flags[long] = value
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return pos, flags
end

return function(W, E, U)
  local function log(lines, at, sym, fmt, ...)
    lines[#lines + 1] = string.format("%s [%s]  %s", util.log_time(at), sym, string.format(fmt, ...))
  end
  local function out(lines) return #lines > 0 and (table.concat(lines, "\n") .. "\n") or "" end
  local function ok(lines, duration) return { code = 0, stdout = out(lines), stderr = "", duration = duration or STEP_MS } end
  local function fail(lines, fmt, ...)
    return { code = 1, stdout = out(lines), stderr = "Error: " .. string.format(fmt, ...) .. "\n", duration = STEP_MS }
  end

  local function find(flags, key, lines)
    local name = flags[key]
    if not name then return nil, fail(lines, "--%s must be set", key == "name" and "name" or key) end
    local rec = E.find(name)
    if not rec or (flags.region and flags.region ~= rec.region) then
      return nil, fail(lines, "unable to describe cluster control plane: ResourceNotFoundException: No cluster found for name: %s.", name)
    end
    log(lines, W.now(), "ℹ", "eksctl version %s", VERSION)
    log(lines, W.now(), "ℹ", "using region %s", rec.region)
    return rec
  end

  local function approved(flags) return flags.approve == "true" end

  -- upgrade cluster ------------------------------------------------------------------------------

  local function upgrade_cluster(flags)
    local lines = {}
    local rec, e = find(flags, "name", lines)
    if not rec then return e end
    local current = rec.version
    local major, minor = current:match("^(%d+)%.(%d+)$")
    local target = flags.version or flags["kubernetes-version"] or string.format("%s.%d", major, tonumber(minor) + 1)
    if target == current then
      log(lines, W.now(), "ℹ", "cluster %q is already at version %q: no control plane update required", rec.name, current)
      return ok(lines)
    end
    if not E.release(target) then
      return fail(lines, "control plane version %q is not known to this version of eksctl, try to upgrade eksctl first", target)
    end
    local to_minor = tonumber(target:match("^%d+%.(%d+)$"))
    if to_minor ~= tonumber(minor) + 1 then
      return fail(lines, "upgrading more than one version at a time is not supported. Found upgrade from %q to %q. Please upgrade to \"%s.%d\"",
                  current, target, major, tonumber(minor) + 1)
    end
    local bad = U.check_cluster_update(rec, target)
    if bad then return fail(lines, "updating cluster version: %s: %s", bad.code, bad.message) end
    if not approved(flags) then
      log(lines, W.now(), "!", "NOTE: cluster VPC (subnets, routing & NAT Gateway) configuration changes are not yet implemented")
      log(lines, W.now(), "ℹ", "(plan) would upgrade cluster %q control plane from current version %q to %q", rec.name, current, target)
      log(lines, W.now(), "!", "no changes were applied, run again with '--approve' to apply the changes")
      return ok(lines)
    end
    log(lines, W.now(), "ℹ", "will upgrade cluster %q control plane from current version %q to %q", rec.name, current, target)
    local u = U.start_cluster_update(rec, target)
    local wait = math.ceil((u.sim.finishAt - W.now() + 1) / POLL_MS) * POLL_MS
    local at = W.now() + wait
    if u.sim.outcome ~= "Successful" then
      local r = { code = 1, stdout = out(lines), duration = wait }
      r.stderr = string.format("Error: waiting for control plane update %s: update failed (status Failed)\n", u.id)
      return r
    end
    log(lines, at, "✔", "cluster %q control plane has been upgraded to version %q", rec.name, target)
    log(lines, at, "ℹ", "you will need to follow the upgrade procedure for all of nodegroups and add-ons")
    return ok(lines, wait)
  end

  -- upgrade nodegroup ----------------------------------------------------------------------------

  local function upgrade_nodegroup(flags)
    local lines = {}
    local rec, e = find(flags, "cluster", lines)
    if not rec then return e end
    local name = flags.name
    if not name then return fail(lines, "--name must be set") end
    local ng = rec.nodegroups[name]
    if not ng then return fail(lines, "could not find managed nodegroup with name %q", name) end
    local release = flags["release-version"]
    local version = flags["kubernetes-version"] or (release and release:match("^(%d+%.%d+)")) or rec.version
    local bad = U.check_nodegroup_update(rec, ng, version, release)
    if bad then return fail(lines, "error updating nodegroup version: %s: %s", bad.code, bad.message) end
    local force = flags["force-upgrade"] == "true"
    log(lines, W.now(), "ℹ", "setting ForceUpdateEnabled value to %s", tostring(force))
    log(lines, W.now(), "ℹ", "upgrading nodegroup version")
    local u = U.start_nodegroup_update(rec, ng, version, release, force)
    if flags.wait == "false" then
      log(lines, W.now(), "ℹ", "nodegroup %q upgrade started (update %s)", name, u.id)
      return ok(lines)
    end
    log(lines, W.now(), "ℹ", "waiting for upgrade of nodegroup %q to complete", name)
    if not W.run_until then
      local r = ok(lines)
      r.stderr = "refit: the simulated eksctl cannot wait for a node group update; it returns once the update has " ..
                 "started (update " .. u.id .. "): poll `aws eks describe-update --nodegroup-name` to follow it\n"
      return r
    end
    local timeout = util.parse_duration(flags.timeout or "") or 35 * 60000
    local done = W.run_until(function() return u.status ~= "InProgress" end, timeout, POLL_MS)
    if not done then return fail(lines, "timed out waiting for nodegroup %q upgrade after %s", name, flags.timeout or "35m0s") end
    if u.status ~= "Successful" then
      local e1 = u.errors[1] or {}
      return fail(lines, "nodegroup %q upgrade failed: %s: %s", name, tostring(e1.errorCode), tostring(e1.errorMessage))
    end
    log(lines, W.now(), "✔", "nodegroup %q successfully upgraded", name)
    return ok(lines)
  end

  -- utils update-* ---------------------------------------------------------------------------------

  local UTILS = { ["update-kube-proxy"] = "kube-proxy", ["update-coredns"] = "coredns", ["update-aws-node"] = "vpc-cni" }
  local REPLACED = {
    ["kube-proxy"] = { "kube-system:DaemonSet.apps/kube-proxy" },
    coredns = { "kube-system:Service/kube-dns", "kube-system:ServiceAccount/coredns", "kube-system:ConfigMap/coredns",
                "kube-system:Deployment.apps/coredns" },
    ["vpc-cni"] = { "CustomResourceDefinition.apiextensions.k8s.io/eniconfigs.crd.k8s.amazonaws.com",
                    "kube-system:ServiceAccount/aws-node", "kube-system:DaemonSet.apps/aws-node" },
  }

  local function update_addon_object(cmd, flags)
    local addon = UTILS[cmd]
    local lines = {}
    local rec, e = find(flags, "cluster", lines)
    if not rec then return e end
    local ref = E.addon_ref(addon)
    local shown = ref.name
    if rec.addons[addon] then
      return fail(lines, "%q is installed as an EKS managed add-on; update it with `eksctl update addon --name %s` or `aws eks update-addon`",
                  shown, addon)
    end
    local current = E.running_addon_version(rec, addon)
    if not current then return fail(lines, "%s %s/%s not found", ref.kind, ref.namespace, ref.name) end
    local target = E.addon_versions(rec.version, addon)
    if current == target or (semver.parse(current) and semver.ge(current, target)) then
      log(lines, W.now(), "ℹ", "%q is already up-to-date", shown)
      return ok(lines)
    end
    if not approved(flags) then
      log(lines, W.now(), "ℹ", "(plan) %q is currently %q, would be updated to %q", shown, current, target)
      log(lines, W.now(), "!", "no changes were applied, run again with '--approve' to apply the changes")
      return ok(lines)
    end
    E.set_addon_image(rec, addon, target)
    for _, r in ipairs(REPLACED[addon]) do log(lines, W.now(), "ℹ", "replaced %q", r) end
    log(lines, W.now(), "ℹ", "%q is now up-to-date", shown)
    return ok(lines)
  end

  -- get ------------------------------------------------------------------------------------------

  local function get(what, flags)
    local lines = {}
    if what == "cluster" or what == "clusters" then
      -- as the real tool: a named cluster that does not exist is an error, not an empty table
      if flags.name and not E.find(flags.name) then
        return fail(lines, "unable to describe cluster control plane: ResourceNotFoundException: No cluster found for name: %s.",
                    flags.name)
      end
      local rows = { "NAME\tREGION\t\tEKSCTL CREATED" }
      local list = W.json.array {}
      for _, name in ipairs(E.names()) do
        local rec = E.find(name)
        if (not flags.name or flags.name == name) and (not flags.region or flags.region == rec.region) then
          rows[#rows + 1] = string.format("%s\t%s\tFalse", name, rec.region)
          list[#list + 1] = { Name = name, Region = rec.region, EksctlCreated = "False" }
        end
      end
      if flags.output == "json" then return ok({ W.json.encode(list, { pretty = true }) }) end
      return ok(rows)
    elseif what == "nodegroup" or what == "nodegroups" or what == "ng" then
      local rec, e = find(flags, "cluster", lines)
      if not rec then return e end
      local list = W.json.array {}
      local rows = { "CLUSTER\tNODEGROUP\tSTATUS\tCREATED\t\t\tMIN SIZE\tMAX SIZE\tDESIRED CAPACITY\tINSTANCE TYPE\tIMAGE ID\tASG NAME\tTYPE" }
      for _, name in ipairs(util.sorted_keys(rec.nodegroups)) do
        local ng = rec.nodegroups[name]
        if not flags.name or flags.name == name then
          local s = ng.scalingConfig
          list[#list + 1] = {
            StackName = "", Cluster = rec.name, Name = name, Status = ng.status,
            MaxSize = s.maxSize, MinSize = s.minSize, DesiredCapacity = s.desiredSize,
            InstanceType = ng.instanceTypes[1], ImageID = ng.amiType, CreationTime = ng.createdAt,
            NodeInstanceRoleARN = ng.nodeRole, AutoScalingGroupName = ng.resources.autoScalingGroups[1].name,
            Version = ng.version, Type = "managed",
          }
          rows[#rows + 1] = string.format("%s\t%s\t%s\t%s\t%d\t\t%d\t\t%d\t\t\t%s\t%s\t%s\tmanaged", rec.name, name,
            ng.status, ng.createdAt, s.minSize, s.maxSize, s.desiredSize, ng.instanceTypes[1], ng.amiType,
            ng.resources.autoScalingGroups[1].name)
        end
      end
      if flags.name and #list == 0 then return fail({}, "could not find nodegroup with name %q", flags.name) end
      if flags.output == "json" then return ok({ W.json.encode(list, { pretty = true }) }) end
      return ok(rows)
    end
    return fail({}, "unknown resource type %q for `eksctl get` (the simulated eksctl knows cluster, nodegroup)", tostring(what))
  end

  return function(args)
    local pos, flags = parse(args)
    local verb, what = pos[1], pos[2]
    if verb == "version" then return { code = 0, stdout = VERSION .. "\n", stderr = "", duration = 100 } end
    if verb == "upgrade" and what == "cluster" then return upgrade_cluster(flags) end
    if verb == "upgrade" and (what == "nodegroup" or what == "ng") then return upgrade_nodegroup(flags) end
    if verb == "utils" and UTILS[what] then return update_addon_object(what, flags) end
    if verb == "get" then return get(what, flags) end
    return fail({}, "unknown command %q for \"eksctl\" (the simulated eksctl knows: upgrade cluster, upgrade nodegroup, " ..
                "utils update-kube-proxy, utils update-coredns, utils update-aws-node, get cluster, get nodegroup, version)",
                table.concat(pos, " "))
  end
end
