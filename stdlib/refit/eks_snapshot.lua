-- refit.eks_snapshot: the `eks:` fixture section of a live EKS cluster (docs/fixtures.md, "EKS"),
-- read for real and only read, with the aws CLI: what eks/upgrade's snapshot hook returns
-- (engine/run/snapshot_hooks.hpp), so that a plan from live clusters has the control plane, node
-- groups, add-ons, Fargate profiles and subnets the aws model answers from.
--
--   aws eks describe-cluster --name C           -> name, region, accountId, version, platformVersion,
--                                                  status, tags, the cluster's subnets
--   aws eks list-nodegroups / describe-nodegroup -> nodegroups (scaling, update config, AMI, labels,
--                                                  taints, subnets, status and health issues)
--   aws eks list-addons / describe-addon         -> addons (version, status, health issues)
--   aws eks list-fargate-profiles / describe-fargate-profile -> fargateProfiles (selectors, subnets)
--   aws ec2 describe-subnets --subnet-ids ...     -> subnets (zone, CIDR, free addresses)
--
-- The Kubernetes side comes from the snapshot itself: node groups keep the nodes the snapshot holds
-- (the model adopts them), and `selfManagedAddons: false` keeps kube-proxy, CoreDNS and aws-node as
-- the cluster runs them. Used as refit.eks.snapshot(ctx); called with the refit.eks module.

-- t when it is a table with something in it (the CLI prints {} and [] for nothing), else nil.
local function nonempty(t)
  if type(t) == "table" and next(t) ~= nil then return t end
  return nil
end

local function nonblank(s)
  if type(s) == "string" and s ~= "" then return s end
  return nil
end

-- Why the EKS cluster could not be read (`message`: the aws CLI's), and how to say which it is.
local function not_found(ctx, t, message)
  local kc = ctx.cluster:kubeconfig()
  local context = kc and kc.context or ctx.cluster:name()
  local where = t.region and ("region " .. t.region) or "the aws CLI's default region"
  local how = "give it with --set cluster=NAME (and its region with --set region=REGION)"
  if t.guessed then
    return string.format(
      "cannot tell which EKS cluster context %q is: nothing in the kubeconfig names one (an exec plugin " ..
      "`aws eks get-token --cluster-name NAME`, or a context or cluster entry named " ..
      "arn:aws:eks:REGION:ACCOUNT:cluster/NAME), and there is no EKS cluster named after the cluster, %q, " ..
      "in %s; %s", context, t.name, where, how)
  end
  return string.format("no EKS cluster %q in %s (the name comes from %s): %s; check it with aws eks " ..
                       "list-clusters, or %s", t.name, where, t.name_from, message, how)
end

-- The instance type of a node group's nodes, for a group whose launch template names it (its
-- describe-nodegroup then lists no instanceTypes).
local function node_instance_types(cluster, nodegroup)
  for _, node in ipairs(cluster:list { kind = "Node", labels = { ["eks.amazonaws.com/nodegroup"] = nodegroup } }) do
    local t = node.metadata.labels["node.kubernetes.io/instance-type"]
    if t then return { t } end
  end
  return nil
end

local function nodegroup_entry(ctx, ng)
  local scaling, update = ng.scalingConfig or {}, ng.updateConfig or {}
  return {
    name = ng.nodegroupName, version = ng.version, releaseVersion = ng.releaseVersion, status = ng.status,
    desiredSize = scaling.desiredSize, minSize = scaling.minSize, maxSize = scaling.maxSize,
    maxUnavailable = update.maxUnavailable, maxUnavailablePercentage = update.maxUnavailablePercentage,
    instanceTypes = nonempty(ng.instanceTypes) or node_instance_types(ctx.cluster, ng.nodegroupName),
    amiType = ng.amiType, capacityType = ng.capacityType, diskSize = ng.diskSize,
    labels = nonempty(ng.labels), taints = nonempty(ng.taints), subnets = nonempty(ng.subnets),
    tags = nonempty(ng.tags), issues = nonempty(ng.health and ng.health.issues),
  }
end

local function addon_entry(a)
  return {
    name = a.addonName, version = a.addonVersion, status = a.status,
    serviceAccountRoleArn = nonblank(a.serviceAccountRoleArn), configurationValues = nonblank(a.configurationValues),
    issues = nonempty(a.health and a.health.issues),
  }
end

local function fargate_entry(p)
  local selectors = {}
  for _, s in ipairs(p.selectors or {}) do
    selectors[#selectors + 1] = { namespace = s.namespace, labels = nonempty(s.labels) }
  end
  return { name = p.fargateProfileName, selectors = selectors, subnets = nonempty(p.subnets) }
end

return function(eks, ctx)
  local t = eks.target(ctx)
  local api = eks.client_for(ctx)
  local out, code, message = api:call("describe-cluster", { "--name", api.cluster }, { check = false })
  if not out then
    if code == "ResourceNotFoundException" then error(not_found(ctx, t, message), 0) end
    error(eks.failure("describe-cluster", code, message), 0)
  end
  local cluster = out.cluster

  local region, account = (cluster.arn or ""):match("^arn:aws[%w%-]*:eks:([%w%-]+):(%d+):")
  local section = {
    name = cluster.name, region = region or t.region, accountId = account,
    version = cluster.version, platformVersion = cluster.platformVersion, status = cluster.status,
    tags = nonempty(cluster.tags),
    selfManagedAddons = false,
  }

  -- Subnets: the cluster's first (describe-cluster lists them), then those only node groups and
  -- Fargate profiles use (clusterSubnet: false).
  local subnet_ids, cluster_subnet = {}, {}
  local function add_subnets(ids, of_cluster)
    for _, id in ipairs(ids or {}) do
      if cluster_subnet[id] == nil then
        subnet_ids[#subnet_ids + 1] = id
        cluster_subnet[id] = of_cluster
      end
    end
  end
  add_subnets(cluster.resourcesVpcConfig and cluster.resourcesVpcConfig.subnetIds, true)

  local nodegroups = {}
  for _, name in ipairs(api:list_nodegroups()) do
    local ng, why = api:describe_nodegroup(name)
    if not ng then error(why, 0) end
    nodegroups[#nodegroups + 1] = nodegroup_entry(ctx, ng)
    add_subnets(ng.subnets, false)
  end
  section.nodegroups = nonempty(nodegroups)

  local addons = {}
  for _, name in ipairs(api:list_addons()) do
    local a, why = api:describe_addon(name)
    if not a then error(why, 0) end
    addons[#addons + 1] = addon_entry(a)
  end
  section.addons = nonempty(addons)

  local profiles = {}
  for _, name in ipairs(api:list_fargate_profiles()) do
    local p = api:describe_fargate_profile(name)
    profiles[#profiles + 1] = fargate_entry(p)
    add_subnets(p.subnets, false)
  end
  section.fargateProfiles = nonempty(profiles)

  local described, why = api:describe_subnets(subnet_ids)
  if not described then
    ctx.log.warn("could not read subnets %s (%s): the plan assumes they have free addresses (the control " ..
                 "plane update needs 5)", table.concat(subnet_ids, ", "), why)
  end
  local by_id = {}
  for _, s in ipairs(described or {}) do by_id[s.SubnetId] = s end
  local subnets = {}
  for _, id in ipairs(subnet_ids) do
    local s = by_id[id] or {}
    subnets[#subnets + 1] = {
      id = id, availabilityZone = s.AvailabilityZone, cidrBlock = s.CidrBlock,
      availableIpAddressCount = s.AvailableIpAddressCount,
      clusterSubnet = (not cluster_subnet[id]) and false or nil,
    }
  end
  section.subnets = nonempty(subnets)
  return section
end
