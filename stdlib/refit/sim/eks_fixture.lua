-- refit.sim.eks_fixture: reads the `eks:` section of a fixture's cluster (docs/fixtures.md) into
-- the cloud state of refit.sim.eks: the cluster record, its subnets, managed node groups (with their
-- Ready nodes), add-ons (with their kube-system objects) and Fargate profiles. Every mistake is a
-- fixture error naming the field.
--
-- Part of refit.sim.eks: `E` is that module; returns load(kube_name, spec, path, check).

local util = require "refit.sim.util"
local checker = require "refit.sim.check"
local releases = require "refit.sim.eks_releases"

-- The values EKS reports (a snapshot of a live cluster carries whichever it read).
local CLUSTER_STATUSES = { "ACTIVE", "CREATING", "UPDATING", "DELETING", "FAILED", "PENDING" }
local NODEGROUP_STATUSES = { "ACTIVE", "DEGRADED", "CREATING", "UPDATING", "DELETING", "CREATE_FAILED", "DELETE_FAILED" }
local ADDON_STATUSES = { "ACTIVE", "DEGRADED", "CREATING", "UPDATING", "DELETING", "CREATE_FAILED", "UPDATE_FAILED",
  "DELETE_FAILED" }
local AMI_TYPES = { "AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64", "CUSTOM", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64",
  "BOTTLEROCKET_x86_64_NVIDIA", "BOTTLEROCKET_ARM_64_NVIDIA", "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD",
  "AL2023_x86_64_NEURON", "AL2023_x86_64_NVIDIA", "WINDOWS_CORE_2019_x86_64", "WINDOWS_FULL_2019_x86_64",
  "WINDOWS_CORE_2022_x86_64", "WINDOWS_FULL_2022_x86_64" }
local NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"

return function(W, E)
  local CORE_ADDONS = E.CORE_ADDONS

  -- `issues`: the health issues EKS reports ({ code, message, resourceIds }), as health.issues.
  local function load_issues(path, list, check)
    local out = W.json.array {}
    for i, issue in ipairs(check:list(path, list, { default = {} })) do
      local ip = checker.index(path, i)
      check:map(ip, issue, { required = true })
      check:known_fields(ip, issue, { "code", "message", "resourceIds" })
      local ids = W.json.array {}
      for j, id in ipairs(check:list(checker.field(ip, "resourceIds"), issue.resourceIds, { default = {} })) do
        ids[#ids + 1] = check:string(checker.index(checker.field(ip, "resourceIds"), j), id)
      end
      out[#out + 1] = { code = check:string(checker.field(ip, "code"), issue.code, { required = true }),
                        message = check:string(checker.field(ip, "message"), issue.message, { default = "" }),
                        resourceIds = ids }
    end
    return out
  end

  -- The Nodes the fixture already lists for a node group (a snapshot of a live cluster keeps its
  -- nodes), sorted by name: the group adopts them instead of launching its own.
  local function listed_nodes(rec, name)
    local nodes = W.cluster(rec.kube):list { kind = "Node", labels = { [NODEGROUP_LABEL] = name } }
    table.sort(nodes, function(a, b) return a.metadata.name < b.metadata.name end)
    return nodes
  end


  local NODEGROUP_FIELDS = { "name", "count", "version", "releaseVersion", "desiredSize", "minSize", "maxSize",
    "maxUnavailable", "maxUnavailablePercentage", "instanceTypes", "amiType", "capacityType", "labels",
    "taints", "kubeletVersion", "diskSize", "status", "subnets", "tags", "issues" }

  local function load_nodegroup(rec, ng_spec, path, check)
    local f = function(k) return checker.field(path, k) end
    check:map(path, ng_spec, { required = true })
    check:known_fields(path, ng_spec, NODEGROUP_FIELDS)
    local name = check:string(f("name"), ng_spec.name, { required = true })
    if rec.nodegroups[name] then check:error(f("name"), "node group %q is defined twice", name) end
    local version = check:string(f("version"), ng_spec.version, { version = true, default = rec.version,
                                                                  pattern = "^1%.%d+$", example = "\"1.20\"" })
    local r = releases[version]
    if not r then check:error(f("version"), "EKS %s is not modelled", version) end
    local cluster_minor = tonumber(rec.version:match("%.(%d+)$"))
    local ng_minor = tonumber(version:match("%.(%d+)$"))
    if ng_minor > cluster_minor then
      check:error(f("version"), "%s is newer than the control plane (%s)", version, rec.version)
    end
    local desired = check:int(f("desiredSize"), ng_spec.desiredSize, { min = 0, default = 2 })
    local min = check:int(f("minSize"), ng_spec.minSize, { min = 0, default = math.min(desired, 1) })
    local max = check:int(f("maxSize"), ng_spec.maxSize, { min = 1, default = math.max(desired, 1) })
    if desired < min or desired > max then
      check:error(f("desiredSize"), "%d is outside minSize..maxSize (%d..%d)", desired, min, max)
    end
    local update_config
    if ng_spec.maxUnavailablePercentage ~= nil then
      update_config = { maxUnavailablePercentage = check:int(f("maxUnavailablePercentage"),
                                                             ng_spec.maxUnavailablePercentage, { min = 1, max = 100 }) }
    else
      update_config = { maxUnavailable = check:int(f("maxUnavailable"), ng_spec.maxUnavailable,
                                                   { min = 1, max = 100, default = 1 }) }
    end
    local types = check:list(f("instanceTypes"), ng_spec.instanceTypes, { default = { "m5.large" } })
    for i, t in ipairs(types) do check:string(checker.index(f("instanceTypes"), i), t) end
    local taints = check:list(f("taints"), ng_spec.taints, { default = {} })
    for i, t in ipairs(taints) do
      local tp = checker.index(f("taints"), i)
      check:map(tp, t, { required = true })
      check:string(checker.field(tp, "key"), t.key, { required = true })
      check:string(checker.field(tp, "value"), t.value)
      check:oneof(checker.field(tp, "effect"), t.effect, { "NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE" }, { required = true })
    end
    local subnet_ids = {}
    for i, id in ipairs(check:list(f("subnets"), ng_spec.subnets, { default = rec.resourcesVpcConfig.subnetIds })) do
      check:string(checker.index(f("subnets"), i), id)
      if not rec.subnets[id] then check:error(checker.index(f("subnets"), i), "no subnet %q in this cluster's subnets", id) end
      subnet_ids[#subnet_ids + 1] = id
    end
    local release = check:string(f("releaseVersion"), ng_spec.releaseVersion, { default = r.release })
    local kubelet = check:string(f("kubeletVersion"), ng_spec.kubeletVersion, { default = r.kubelet, version = true })
    local ng = {
      nodegroupName = name,
      nodegroupArn = string.format("arn:aws:eks:%s:%s:nodegroup/%s/%s/%s", rec.region, rec.sim.account, rec.name, name,
                                   util.hash_hex("ng:" .. rec.name .. name, 8) .. "-" .. util.hash_hex("ng2:" .. name, 4)),
      clusterName = rec.name,
      version = version,
      releaseVersion = release,
      createdAt = util.aws_time(-86400000 * 30),
      modifiedAt = util.aws_time(-86400000 * 30),
      status = check:oneof(f("status"), ng_spec.status, NODEGROUP_STATUSES, { default = "ACTIVE" }),
      capacityType = check:oneof(f("capacityType"), ng_spec.capacityType, { "ON_DEMAND", "SPOT", "CAPACITY_BLOCK" },
                                 { default = "ON_DEMAND" }),
      scalingConfig = { minSize = min, maxSize = max, desiredSize = desired },
      instanceTypes = W.json.array(util.copy(types)),
      subnets = W.json.array(subnet_ids),
      amiType = check:oneof(f("amiType"), ng_spec.amiType, AMI_TYPES, { default = "AL2_x86_64" }),
      nodeRole = string.format("arn:aws:iam::%s:role/%s-nodegroup-role", rec.sim.account, rec.name),
      labels = check:string_map(f("labels"), ng_spec.labels) or {},
      taints = #taints > 0 and W.json.array(util.copy(taints)) or nil,
      diskSize = check:int(f("diskSize"), ng_spec.diskSize, { min = 1, default = 20 }),
      health = { issues = load_issues(f("issues"), ng_spec.issues, check) },
      updateConfig = update_config,
      resources = { autoScalingGroups = W.json.array { { name = "eks-" .. name .. "-" .. util.hash_hex("asg:" .. rec.name .. name, 8) } } },
      tags = check:string_map(f("tags"), ng_spec.tags) or {},
      sim = { instances = W.json.array {}, subnets = subnet_ids, next_subnet = 0 },
    }
    rec.nodegroups[name] = ng
    local listed = listed_nodes(rec, name)
    if #listed > 0 then
      for _, node in ipairs(listed) do E.adopt_node(rec, ng, node, release) end
      return
    end
    for _ = 1, desired do
      E.launch_node(rec, ng, { ready = true, kubelet = kubelet, release = release })
    end
  end

  local function load_addons(rec, spec, path, check)
    local managed = {}
    for i, a in ipairs(check:list(checker.field(path, "addons"), spec.addons, { default = {} })) do
      local ap = checker.index(checker.field(path, "addons"), i)
      check:map(ap, a, { required = true })
      check:known_fields(ap, a, { "name", "version", "status", "serviceAccountRoleArn", "configurationValues", "issues" })
      local name = check:string(checker.field(ap, "name"), a.name, { required = true })
      name = E.addon_name(name)
      local default = E.addon_versions(rec.version, name)
      local version = check:string(checker.field(ap, "version"), a.version, { default = default })
      if not version then
        check:error(checker.field(ap, "version"), "is required for add-on %q (no default known)", name)
      end
      rec.addons[name] = {
        addonName = name, clusterName = rec.name, addonVersion = version,
        status = check:oneof(checker.field(ap, "status"), a.status, ADDON_STATUSES, { default = "ACTIVE" }),
        health = { issues = load_issues(checker.field(ap, "issues"), a.issues, check) },
        addonArn = string.format("arn:aws:eks:%s:%s:addon/%s/%s/%s", rec.region, rec.sim.account, rec.name, name,
                                 E.new_id("addon"):sub(1, 36)),
        createdAt = util.aws_time(-86400000 * 30), modifiedAt = util.aws_time(-86400000 * 30),
        serviceAccountRoleArn = check:string(checker.field(ap, "serviceAccountRoleArn"), a.serviceAccountRoleArn),
        configurationValues = check:string(checker.field(ap, "configurationValues"), a.configurationValues),
        tags = {},
      }
      managed[name] = version
    end
    -- self-managed core add-ons: true (all that are not managed), false, or { name = version }
    local self_managed = spec.selfManagedAddons
    local smp = checker.field(path, "selfManagedAddons")
    local versions = {}
    if self_managed == nil or self_managed == true then
      for name in pairs(CORE_ADDONS) do versions[name] = true end
    elseif self_managed == false then
      versions = {}
    elseif type(self_managed) == "table" and checker.is_list(self_managed) then
      for i, name in ipairs(self_managed) do
        check:string(checker.index(smp, i), name)
        versions[E.addon_name(name)] = true
      end
    else
      check:map(smp, self_managed)
      for name, v in pairs(self_managed) do
        versions[E.addon_name(name)] = check:string(checker.field(smp, name), v)
      end
    end
    local c = W.cluster(rec.kube)
    for _, name in ipairs(util.sorted_keys(CORE_ADDONS)) do
      local version = managed[name] or versions[name]
      if version ~= nil then
        if version == true then version = E.addon_versions(rec.version, name) end
        local ref = E.addon_ref(name)
        if not c:get(ref) then c:create(E.addon_object(rec, name, version), { quiet = true }) end
      end
    end
    for name in pairs(versions) do
      if not CORE_ADDONS[name] then check:error(smp, "unknown core add-on %q (kube-proxy, coredns, vpc-cni)", name) end
    end
    if c:get { kind = "Deployment", namespace = "kube-system", name = "coredns" }
       and not c:get { kind = "Service", namespace = "kube-system", name = "kube-dns" } then
      c:create({ apiVersion = "v1", kind = "Service",
                 metadata = { name = "kube-dns", namespace = "kube-system", labels = { ["k8s-app"] = "kube-dns" } },
                 spec = { clusterIP = "10.100.0.10", selector = { ["k8s-app"] = "kube-dns" },
                          ports = W.json.array { { name = "dns", port = 53, protocol = "UDP" },
                                                 { name = "dns-tcp", port = 53, protocol = "TCP" } } } },
               { quiet = true })
    end
  end

  local function load_fargate(rec, spec, path, check)
    for i, p in ipairs(check:list(checker.field(path, "fargateProfiles"), spec.fargateProfiles, { default = {} })) do
      local pp = checker.index(checker.field(path, "fargateProfiles"), i)
      check:map(pp, p, { required = true })
      check:known_fields(pp, p, { "name", "selectors", "kubeletVersion", "subnets" })
      local name = check:string(checker.field(pp, "name"), p.name, { required = true })
      local selectors = W.json.array {}
      for j, s in ipairs(check:list(checker.field(pp, "selectors"), p.selectors, { required = true })) do
        local sp = checker.index(checker.field(pp, "selectors"), j)
        check:map(sp, s, { required = true })
        check:known_fields(sp, s, { "namespace", "labels" })
        selectors[#selectors + 1] = { namespace = check:string(checker.field(sp, "namespace"), s.namespace, { required = true }),
                                      labels = check:string_map(checker.field(sp, "labels"), s.labels) }
      end
      local subnets = W.json.array {}
      for j, id in ipairs(check:list(checker.field(pp, "subnets"), p.subnets, { default = rec.resourcesVpcConfig.subnetIds })) do
        check:string(checker.index(checker.field(pp, "subnets"), j), id)
        if not rec.subnets[id] then check:error(checker.index(checker.field(pp, "subnets"), j), "no subnet %q in this cluster's subnets", id) end
        subnets[#subnets + 1] = id
      end
      rec.fargateProfiles[name] = {
        fargateProfileName = name,
        fargateProfileArn = string.format("arn:aws:eks:%s:%s:fargateprofile/%s/%s/%s", rec.region, rec.sim.account,
                                          rec.name, name, util.hash_hex("fp:" .. name, 8)),
        clusterName = rec.name, createdAt = util.aws_time(-86400000 * 30),
        podExecutionRoleArn = string.format("arn:aws:iam::%s:role/%s-fargate-pod-execution", rec.sim.account, rec.name),
        subnets = subnets,
        selectors = selectors, status = "ACTIVE", tags = {},
        sim = { kubelet = check:string(checker.field(pp, "kubeletVersion"), p.kubeletVersion, { version = true }) },
      }
    end
  end

  local function load_subnets(rec, spec, path, check)
    local list = check:list(checker.field(path, "subnets"), spec.subnets)
    if not list then
      list = {}
      for i = 1, 3 do list[i] = {} end
    end
    local ids = W.json.array {}
    for i, s in ipairs(list) do
      local sp = checker.index(checker.field(path, "subnets"), i)
      check:map(sp, s, { required = true })
      check:known_fields(sp, s, { "id", "availabilityZone", "cidrBlock", "availableIpAddressCount", "clusterSubnet" })
      local id = check:string(checker.field(sp, "id"), s.id, { default = "subnet-0" .. util.hash_hex("subnet:" .. rec.name .. i, 16) })
      local cidr = check:string(checker.field(sp, "cidrBlock"), s.cidrBlock,
                                { default = string.format("10.0.%d.0/19", 32 * (i - 1)),
                                  pattern = "^%d+%.%d+%.%d+%.%d+/%d+$", example = "10.0.0.0/19" })
      rec.subnets[id] = {
        subnetId = id, vpcId = rec.resourcesVpcConfig.vpcId, cidrBlock = cidr,
        availabilityZone = check:string(checker.field(sp, "availabilityZone"), s.availabilityZone,
                                        { default = rec.region .. string.char(string.byte("a") + (i - 1) % 6) }),
        availableIpAddressCount = check:int(checker.field(sp, "availableIpAddressCount"), s.availableIpAddressCount,
                                            { min = 0, default = 8000 }),
        sim = { next = 9 },
      }
      -- clusterSubnet: false for a subnet only node groups or Fargate profiles use (describe-cluster
      -- does not list it, and the control plane update does not count its free addresses)
      if check:bool(checker.field(sp, "clusterSubnet"), s.clusterSubnet, { default = true }) then ids[#ids + 1] = id end
    end
    rec.resourcesVpcConfig.subnetIds = ids
  end

  local CLUSTER_FIELDS = { "name", "region", "accountId", "version", "platformVersion", "status", "subnets",
    "nodegroups", "addons", "selfManagedAddons", "fargateProfiles", "tags" }

  -- Creates the cloud state of one EKS cluster from the fixture's `eks:` section, with its nodes and
  -- its add-ons' kube-system objects, in world cluster `kube_name`.
  return function(kube_name, spec, path, check)
    check:known_fields(path, spec, CLUSTER_FIELDS)
    local f = function(k) return checker.field(path, k) end
    local name = check:string(f("name"), spec.name, { default = kube_name })
    if E.find(name) then check:error(f("name"), "EKS cluster %q is defined twice", name) end
    local region = check:string(f("region"), spec.region, { default = "us-west-2", pattern = "^%l%l%-[%l%-]+%-%d$", example = "us-west-2" })
    local account = check:string(f("accountId"), spec.accountId, { default = "111122223333", pattern = "^%d+$", example = "\"111122223333\"" })
    local version = check:string(f("version"), spec.version, { required = true, version = true })
    local hex = util.hash_hex("endpoint:" .. name .. region, 32):upper()
    local rec = {
      name = name,
      arn = string.format("arn:aws:eks:%s:%s:cluster/%s", region, account, name),
      createdAt = util.aws_time(-86400000 * 200),
      version = version,
      endpoint = string.format("https://%s.gr7.%s.eks.amazonaws.com", hex, region),
      roleArn = string.format("arn:aws:iam::%s:role/%s-cluster-role", account, name),
      resourcesVpcConfig = {
        subnetIds = W.json.array {}, securityGroupIds = W.json.array {},
        clusterSecurityGroupId = "sg-0" .. util.hash_hex("sg:" .. name, 16),
        vpcId = "vpc-0" .. util.hash_hex("vpc:" .. name, 16),
        endpointPublicAccess = true, endpointPrivateAccess = false,
        publicAccessCidrs = W.json.array { "0.0.0.0/0" },
      },
      kubernetesNetworkConfig = { serviceIpv4Cidr = "10.100.0.0/16", ipFamily = "ipv4" },
      logging = { clusterLogging = W.json.array { { types = W.json.array { "api", "audit", "authenticator",
                                                    "controllerManager", "scheduler" }, enabled = false } } },
      identity = { oidc = { issuer = string.format("https://oidc.eks.%s.amazonaws.com/id/%s", region, hex) } },
      status = check:oneof(f("status"), spec.status, CLUSTER_STATUSES, { default = "ACTIVE" }),
      certificateAuthority = { data = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJeU1ETXdNVEE1TURBd01Gb1hEVE15TURJeU56QTVNREF3TUZvd0ZURVRNQkVHQTFVRQpBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBTHZ4Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K" },
      platformVersion = check:string(f("platformVersion"), spec.platformVersion,
                                     { default = releases[version].platform, pattern = "^eks%.%d+$", example = "eks.3" }),
      tags = check:string_map(f("tags"), spec.tags) or {},
      region = region,
      kube = kube_name,
      subnets = {}, nodegroups = {}, addons = {}, fargateProfiles = {}, updates = {}, updateIds = W.json.array {},
      sim = { account = account },
    }
    W.cloud.eks.clusters[name] = rec
    load_subnets(rec, spec, path, check)
    E.reserve_listed_addresses(rec)
    for i, ng in ipairs(check:list(f("nodegroups"), spec.nodegroups, { default = {} })) do
      local ngp = checker.index(f("nodegroups"), i)
      check:map(ngp, ng, { required = true })
      -- `count: N` with a name containing {i} stands for N node groups
      local count = check:int(checker.field(ngp, "count"), ng.count, { min = 1 })
      if count then
        local pattern = check:string(checker.field(ngp, "name"), ng.name, { required = true })
        if not pattern:find("{i}", 1, true) then
          check:error(checker.field(ngp, "name"), "must contain {i} when count is given, e.g. \"ng-{i}\"")
        end
        for n = 1, count do
          local one = util.substitute(ng, { i = n })
          one.count = nil
          load_nodegroup(rec, one, ngp, check)
        end
      else
        load_nodegroup(rec, ng, ngp, check)
      end
    end
    load_addons(rec, spec, path, check)
    load_fargate(rec, spec, path, check)
    return rec
  end
end
