-- refit.sim.eks_aws: the `aws` CLI (v2) as far as EKS upgrades use it.
--
--   aws eks describe-cluster | list-clusters | update-cluster-version | describe-update | list-updates
--           | list-nodegroups | describe-nodegroup | update-nodegroup-version | list-addons
--           | describe-addon | describe-addon-versions | update-addon | create-addon
--           | list-fargate-profiles | describe-fargate-profile | update-kubeconfig
--           | wait cluster-active | addon-active | nodegroup-active
--   aws ec2 describe-subnets --subnet-ids ...
--   aws sts get-caller-identity
--
-- Output is what the real CLI prints: JSON (indented, --output json is the default; yaml and text
-- work for simple values), `--query` for dotted paths (`cluster.status`, `addons[0]`,
-- `nodegroups[*].name`). Errors are the CLI's: exit 254 and
-- "An error occurred (Code) when calling the Operation operation: message" on stderr for service
-- errors, exit 252 for usage errors, exit 255 for waiters that fail.

local util = require "refit.sim.util"

local CALL_MS = 800        -- one API round trip
local GLOBAL = {
  region = 1, output = 1, profile = 1, query = 1, ["endpoint-url"] = 1, color = 1, ["ca-bundle"] = 1,
  ["cli-read-timeout"] = 1, ["cli-connect-timeout"] = 1, ["cli-binary-format"] = 1,
  ["no-cli-pager"] = 0, debug = 0, ["no-verify-ssl"] = 0, ["no-paginate"] = 0, ["no-sign-request"] = 0,
  ["cli-auto-prompt"] = 0, ["no-cli-auto-prompt"] = 0,
}

-- argv -> positionals, flags (name -> list of values; a flag without values gets { true })
local function parse(args)
  local pos, flags, order = {}, {}, {}
  local current
  for _, a in ipairs(args) do
    if a:sub(1, 2) == "--" then
      local k, v = a:match("^%-%-([^=]+)=(.*)$")
      current = k or a:sub(3)
      flags[current] = flags[current] or {}
      order[#order + 1] = current
      if v then flags[current][#flags[current] + 1] = v current = nil end
    elseif current then
      flags[current][#flags[current] + 1] = a
    else
      pos[#pos + 1] = a
    end
  end
  return pos, flags, order
end

-- A minimal JMESPath: a.b, a[0], a[-1], a[*].b, a[].b, a.[b,c]
local function query(W, value, expr)
  local function walk(v, path)
    if path == "" or v == nil then return v end
    local name, rest = path:match("^%.?([%w_%-]+)(.*)$")
    if name then
      if type(v) ~= "table" then return nil end
      return walk(v[name], rest)
    end
    local idx, rest2 = path:match("^%[(%-?%d+)%](.*)$")
    if idx then
      if type(v) ~= "table" then return nil end
      local i = tonumber(idx)
      if i < 0 then i = #v + i end
      return walk(v[i + 1], rest2)
    end
    local multi = path:match("^%.?%[([^%]]*,[^%]]*)%]$")
    if multi then
      local out = setmetatable({}, getmetatable(value))
      for part in multi:gmatch("[^,%s]+") do
        local r = walk(v, "." .. part)
        out[#out + 1] = r == nil and W.json.null or r
      end
      return out
    end
    local rest3 = path:match("^%[%*?%](.*)$")
    if rest3 then
      if type(v) ~= "table" then return nil end
      local out = setmetatable({}, getmetatable(v))
      for _, x in ipairs(v) do
        local r = walk(x, rest3)
        if r ~= nil then out[#out + 1] = r end
      end
      return out
    end
    error("unsupported --query expression: " .. expr, 0)
  end
  return walk(value, expr)
end

return function(W, E, U)
  local function result(code, stdout, stderr, duration)
    return { code = code, stdout = stdout or "", stderr = stderr or "", duration = duration or CALL_MS }
  end

  local function service_error(op, code, message)
    return result(254, "", string.format("\nAn error occurred (%s) when calling the %s operation: %s\n", code, op, message))
  end

  local function usage_error(message)
    return result(252, "", "\nusage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\n" ..
      "To see help text, you can run:\n\n  aws help\n  aws <command> help\n  aws <command> <subcommand> help\n\n" ..
      message .. "\n", 0)
  end

  local function text_of(v)
    if type(v) ~= "table" then return tostring(v) end
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = type(x) == "table" and W.json.encode(x) or tostring(x) end
    if #parts > 0 or next(v) == nil then return table.concat(parts, "\t") end
    return W.json.encode(v)
  end

  local function output(flags, value)
    local ok, v = pcall(query, W, value, flags.query and flags.query[1] or "")
    if not ok then return usage_error(v) end
    local fmt = flags.output and flags.output[1] or "json"
    if v == nil then return result(0, fmt == "json" and "null\n" or "None\n") end
    if fmt == "text" then return result(0, text_of(v) .. "\n") end
    if fmt == "yaml" then return result(0, W.yaml.encode(v)) end
    return result(0, W.json.encode(v, { pretty = true }) .. "\n")
  end

  local function arg(flags, name) return flags[name] and flags[name][1] end

  -- Operations ------------------------------------------------------------------------------------

  -- Each: op (the API name for errors), params (name -> "required" | "optional" | "bool"), run.
  local EKS = {}

  local function cluster_of(op, flags, key)
    local name = arg(flags, key)
    local rec = E.find(name)
    local region = arg(flags, "region")
    if not rec or (region and region ~= rec.region) then
      return nil, service_error(op, "ResourceNotFoundException", string.format("No cluster found for name: %s.", tostring(name)))
    end
    return rec
  end

  EKS["describe-cluster"] = { op = "DescribeCluster", params = { name = "required" }, run = function(flags, op)
    local rec, e = cluster_of(op, flags, "name")
    if not rec then return e end
    return output(flags, { cluster = E.cluster_json(rec) })
  end }

  EKS["list-clusters"] = { op = "ListClusters", params = { ["max-results"] = "optional", ["next-token"] = "optional", include = "optional" },
    run = function(flags)
      local names = W.json.array {}
      for _, name in ipairs(E.names()) do
        local region = arg(flags, "region")
        if not region or E.find(name).region == region then names[#names + 1] = name end
      end
      return output(flags, { clusters = names })
    end }

  EKS["update-cluster-version"] = { op = "UpdateClusterVersion",
    params = { name = "required", ["kubernetes-version"] = "required", ["client-request-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "name")
      if not rec then return e end
      local bad = U.check_cluster_update(rec, arg(flags, "kubernetes-version"))
      if bad then return service_error(op, bad.code, bad.message) end
      local u = U.start_cluster_update(rec, arg(flags, "kubernetes-version"))
      return output(flags, { update = E.update_json(u) })
    end }

  local function subject_of(flags)
    if arg(flags, "nodegroup-name") then return "nodegroup", arg(flags, "nodegroup-name") end
    if arg(flags, "addon-name") then return "addon", arg(flags, "addon-name") end
    return "cluster"
  end

  EKS["describe-update"] = { op = "DescribeUpdate",
    params = { name = "required", ["update-id"] = "required", ["nodegroup-name"] = "optional", ["addon-name"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "name")
      if not rec then return e end
      local id = arg(flags, "update-id")
      local u = rec.updates[id]
      local kind, name = subject_of(flags)
      if not u or u.sim.subject.kind ~= kind or (name and u.sim.subject.name ~= name) then
        return service_error(op, "ResourceNotFoundException", string.format("No update found for ID: %s", tostring(id)))
      end
      return output(flags, { update = E.update_json(u) })
    end }

  EKS["list-updates"] = { op = "ListUpdates",
    params = { name = "required", ["nodegroup-name"] = "optional", ["addon-name"] = "optional",
               ["max-results"] = "optional", ["next-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "name")
      if not rec then return e end
      local kind, name = subject_of(flags)
      local ids = W.json.array {}
      for _, id in ipairs(rec.updateIds) do
        local s = rec.updates[id].sim.subject
        if s.kind == kind and (not name or s.name == name) then ids[#ids + 1] = id end
      end
      return output(flags, { updateIds = ids })
    end }

  EKS["list-nodegroups"] = { op = "ListNodegroups",
    params = { ["cluster-name"] = "required", ["max-results"] = "optional", ["next-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      return output(flags, { nodegroups = W.json.array(util.sorted_keys(rec.nodegroups)) })
    end }

  local function nodegroup_of(op, rec, flags)
    local name = arg(flags, "nodegroup-name")
    local ng = rec.nodegroups[name]
    if not ng then
      return nil, service_error(op, "ResourceNotFoundException", string.format("No node group found for name: %s.", tostring(name)))
    end
    return ng
  end

  EKS["describe-nodegroup"] = { op = "DescribeNodegroup",
    params = { ["cluster-name"] = "required", ["nodegroup-name"] = "required" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      local ng, e2 = nodegroup_of(op, rec, flags)
      if not ng then return e2 end
      return output(flags, { nodegroup = E.nodegroup_json(ng) })
    end }

  EKS["update-nodegroup-version"] = { op = "UpdateNodegroupVersion",
    params = { ["cluster-name"] = "required", ["nodegroup-name"] = "required", ["kubernetes-version"] = "optional",
               ["release-version"] = "optional", force = "bool", ["no-force"] = "bool", ["launch-template"] = "optional",
               ["client-request-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      local ng, e2 = nodegroup_of(op, rec, flags)
      if not ng then return e2 end
      local release = arg(flags, "release-version")
      local version = arg(flags, "kubernetes-version") or (release and release:match("^(%d+%.%d+)")) or rec.version
      local bad = U.check_nodegroup_update(rec, ng, version, release)
      if bad then return service_error(op, bad.code, bad.message) end
      local u = U.start_nodegroup_update(rec, ng, version, release, flags.force ~= nil)
      return output(flags, { update = E.update_json(u) })
    end }

  EKS["list-addons"] = { op = "ListAddons",
    params = { ["cluster-name"] = "required", ["max-results"] = "optional", ["next-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      return output(flags, { addons = W.json.array(util.sorted_keys(rec.addons)) })
    end }

  local function addon_of(op, rec, flags)
    local name = arg(flags, "addon-name")
    local a = rec.addons[name]
    if not a then
      return nil, service_error(op, "ResourceNotFoundException",
                                string.format("No addon: %s found in cluster: %s", tostring(name), rec.name))
    end
    return a
  end

  EKS["describe-addon"] = { op = "DescribeAddon", params = { ["cluster-name"] = "required", ["addon-name"] = "required" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      local a, e2 = addon_of(op, rec, flags)
      if not a then return e2 end
      return output(flags, { addon = E.addon_json(a) })
    end }

  EKS["describe-addon-versions"] = { op = "DescribeAddonVersions",
    params = { ["kubernetes-version"] = "optional", ["addon-name"] = "optional", types = "optional",
               publishers = "optional", owners = "optional", ["max-results"] = "optional", ["next-token"] = "optional" },
    run = function(flags)
      local k8s, only = arg(flags, "kubernetes-version"), arg(flags, "addon-name")
      local catalog = E.addon_catalog()
      local semver = require "refit.semver"
      local addons = W.json.array {}
      for _, name in ipairs(util.sorted_keys(catalog)) do
        if not only or only == name then
          local versions = util.sorted_keys(catalog[name])
          table.sort(versions, function(a, b) return semver.gt(a, b) end)
          local list = W.json.array {}
          for _, v in ipairs(versions) do
            local compat = W.json.array {}
            for _, c in ipairs(catalog[name][v]) do
              if not k8s or c.clusterVersion == k8s then
                compat[#compat + 1] = { clusterVersion = c.clusterVersion, platformVersions = W.json.array { "*" },
                                        defaultVersion = c.defaultVersion }
              end
            end
            if #compat > 0 then
              list[#list + 1] = { addonVersion = v, architecture = W.json.array { "amd64", "arm64" },
                                  compatibilities = compat, requiresConfiguration = false }
            end
          end
          if #list > 0 then
            addons[#addons + 1] = { addonName = name, type = "networking",
                                    addonVersions = list, publisher = "eks", owner = "aws" }
          end
        end
      end
      return output(flags, { addons = addons })
    end }

  local function addon_change(create)
    return function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      local name = arg(flags, "addon-name")
      local version = arg(flags, "addon-version") or (E.addon_versions(rec.version, name))
      local resolve = arg(flags, "resolve-conflicts")
      local bad = U.check_addon_update(rec, name, version, resolve, create)
      if bad then return service_error(op, bad.code, bad.message) end
      local u, a = U.start_addon_update(rec, name, version, resolve, create)
      if create then return output(flags, { addon = E.addon_json(a) }) end
      return output(flags, { update = E.update_json(u) })
    end
  end
  local ADDON_PARAMS = { ["cluster-name"] = "required", ["addon-name"] = "required", ["addon-version"] = "optional",
                         ["resolve-conflicts"] = "optional", ["service-account-role-arn"] = "optional",
                         ["configuration-values"] = "optional", ["client-request-token"] = "optional",
                         tags = "optional", ["pod-identity-associations"] = "optional" }
  EKS["update-addon"] = { op = "UpdateAddon", params = ADDON_PARAMS, run = addon_change(false) }
  EKS["create-addon"] = { op = "CreateAddon", params = ADDON_PARAMS, run = addon_change(true) }

  EKS["list-fargate-profiles"] = { op = "ListFargateProfiles",
    params = { ["cluster-name"] = "required", ["max-results"] = "optional", ["next-token"] = "optional" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      return output(flags, { fargateProfileNames = W.json.array(util.sorted_keys(rec.fargateProfiles)) })
    end }

  EKS["describe-fargate-profile"] = { op = "DescribeFargateProfile",
    params = { ["cluster-name"] = "required", ["fargate-profile-name"] = "required" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "cluster-name")
      if not rec then return e end
      local p = rec.fargateProfiles[arg(flags, "fargate-profile-name")]
      if not p then
        return service_error(op, "ResourceNotFoundException",
                             string.format("No Fargate Profile found with name: %s.", tostring(arg(flags, "fargate-profile-name"))))
      end
      return output(flags, { fargateProfile = E.fargate_json(p) })
    end }

  EKS["update-kubeconfig"] = { op = "DescribeCluster",
    params = { name = "required", alias = "optional", kubeconfig = "optional", ["role-arn"] = "optional",
               ["user-alias"] = "optional", ["dry-run"] = "bool", verbose = "bool" },
    run = function(flags, op)
      local rec, e = cluster_of(op, flags, "name")
      if not rec then return e end
      return result(0, string.format("Added new context %s to %s\n", arg(flags, "alias") or rec.arn,
                                     arg(flags, "kubeconfig") or "/root/.kube/config"))
    end }

  -- Waiters: they return at once when the state is reached, or when the model already knows when
  -- (and how) the update in progress ends; the call lasts until then, in poll steps.
  local function waited(ms, poll) return math.max(CALL_MS, math.ceil(ms / poll) * poll) end

  local WAITERS = {}
  WAITERS["cluster-active"] = { params = { name = "required" }, run = function(flags)
    local rec, e = cluster_of("DescribeCluster", flags, "name")
    if not rec then return e end
    if rec.status == "ACTIVE" then return result(0) end
    local u = U.in_progress(rec, "cluster", rec.name)
    local left = u and u.sim.finishAt and (u.sim.finishAt - W.now()) or math.huge
    if left > 40 * 30000 then
      return result(255, "", "\nWaiter ClusterActive failed: Max attempts exceeded\n", 40 * 30000)
    end
    return result(0, "", "", waited(left + 1, 30000))
  end }
  WAITERS["addon-active"] = { params = { ["cluster-name"] = "required", ["addon-name"] = "required" }, run = function(flags)
    local rec, e = cluster_of("DescribeAddon", flags, "cluster-name")
    if not rec then return e end
    local a, e2 = addon_of("DescribeAddon", rec, flags)
    if not a then return e2 end
    local function terminal(status, ms)
      return result(255, "", string.format(
        "\nWaiter AddonActive failed: Waiter encountered a terminal failure state: For expression \"addon.status\" we matched expected path: \"%s\"\n",
        status), ms)
    end
    if a.status == "ACTIVE" then return result(0) end
    if a.status == "DEGRADED" or a.status:match("FAILED$") then return terminal(a.status, CALL_MS) end
    local left = a.sim and (a.sim.finishAt - W.now()) or math.huge
    if left > 60 * 10000 then return result(255, "", "\nWaiter AddonActive failed: Max attempts exceeded\n", 60 * 10000) end
    if a.sim.status ~= "ACTIVE" then return terminal(a.sim.status, waited(left + 1, 10000)) end
    return result(0, "", "", waited(left + 1, 10000))
  end }
  WAITERS["nodegroup-active"] = { params = { ["cluster-name"] = "required", ["nodegroup-name"] = "required" }, run = function(flags)
    local rec, e = cluster_of("DescribeNodegroup", flags, "cluster-name")
    if not rec then return e end
    local ng, e2 = nodegroup_of("DescribeNodegroup", rec, flags)
    if not ng then return e2 end
    if ng.status == "ACTIVE" then return result(0) end
    return result(255, "", "\nWaiter NodegroupActive failed: the simulated aws CLI cannot wait for a node group " ..
                  "update in progress; poll `aws eks describe-update --nodegroup-name` instead\n")
  end }

  -- Dispatch ----------------------------------------------------------------------------------------

  local function check_params(spec_params, flags, order)
    for _, k in ipairs(order) do
      if not spec_params[k] and GLOBAL[k] == nil then return usage_error("Unknown options: --" .. k) end
    end
    local missing = {}
    for _, k in ipairs(util.sorted_keys(spec_params)) do
      if spec_params[k] == "required" and (not flags[k] or flags[k][1] == nil) then missing[#missing + 1] = "--" .. k end
    end
    if #missing > 0 then
      return usage_error("aws: error: the following arguments are required: " .. table.concat(missing, ", "))
    end
  end

  local function invalid_choice(what, choices)
    return usage_error(string.format("aws: error: argument %s: Invalid choice, valid choices are:\n\n%s", what,
                                     table.concat(choices, " | ")))
  end

  local function run_eks(pos, flags, order)
    local sub = pos[2]
    if sub == "wait" then
      local w = WAITERS[pos[3]]
      if not w then return invalid_choice("wait_name", util.sorted_keys(WAITERS)) end
      local bad = check_params(w.params, flags, order)
      if bad then return bad end
      return w.run(flags)
    end
    local spec = EKS[sub]
    if not spec then return invalid_choice("operation", util.sorted_keys(EKS)) end
    local bad = check_params(spec.params, flags, order)
    if bad then return bad end
    return spec.run(flags, spec.op)
  end

  local function run_ec2(pos, flags, order)
    if pos[2] ~= "describe-subnets" then return invalid_choice("operation", { "describe-subnets" }) end
    local bad = check_params({ ["subnet-ids"] = "optional", filters = "optional", ["max-results"] = "optional" }, flags, order)
    if bad then return bad end
    local wanted = flags["subnet-ids"] or {}
    local out = W.json.array {}
    for _, id in ipairs(wanted) do
      local found
      for _, name in ipairs(E.names()) do
        local rec = E.find(name)
        local s = rec.subnets[id]
        if s then
          found = {
            SubnetId = s.subnetId, VpcId = s.vpcId, CidrBlock = s.cidrBlock, AvailabilityZone = s.availabilityZone,
            AvailableIpAddressCount = s.availableIpAddressCount, State = "available", DefaultForAz = false,
            MapPublicIpOnLaunch = false, AssignIpv6AddressOnCreation = false, OwnerId = rec.sim.account,
            Ipv6CidrBlockAssociationSet = W.json.array {},
            SubnetArn = string.format("arn:aws:ec2:%s:%s:subnet/%s", rec.region, rec.sim.account, s.subnetId),
            Tags = W.json.array { { Key = "kubernetes.io/cluster/" .. rec.name, Value = "shared" } },
          }
        end
      end
      if not found then
        return service_error("DescribeSubnets", "InvalidSubnetID.NotFound", string.format("The subnet ID '%s' does not exist", id))
      end
      out[#out + 1] = found
    end
    return output(flags, { Subnets = out })
  end

  local function run_sts(pos, flags)
    if pos[2] ~= "get-caller-identity" then return invalid_choice("operation", { "get-caller-identity" }) end
    local name = E.names()[1]
    local account = name and E.find(name).sim.account or "111122223333"
    return output(flags, { UserId = "AIDA" .. util.hash_hex("user", 17):upper(), Account = account,
                           Arn = string.format("arn:aws:iam::%s:user/refit", account) })
  end

  return function(args)
    local pos, flags, order = parse(args)
    if pos[1] == "eks" then return run_eks(pos, flags, order) end
    if pos[1] == "ec2" then return run_ec2(pos, flags, order) end
    if pos[1] == "sts" then return run_sts(pos, flags) end
    if pos[1] == "--version" or flags.version then return result(0, "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.debian.12\n") end
    return invalid_choice("command", { "ec2", "eks", "sts" })
  end
end
