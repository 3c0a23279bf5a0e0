-- refit.sim.eks: the Amazon EKS cloud as a simulated world sees it.
--
--   local eks = require("refit.sim.eks")(W, kube, faults)
--   local git_version = eks.server_version(spec.eks, path)     -- before W.add_cluster
--   eks.load("demo", spec.eks, path, check)                    -- cloud state, nodes, add-on objects
--   eks.start("demo")                                          -- Fargate placement, node hooks
--
-- Cloud state lives in W.cloud.eks (data only, part of the world's dump):
--   W.cloud.eks.clusters[<EKS name>] = { AWS fields of describe-cluster ..., kube = <world cluster>,
--     subnets = {...}, nodegroups = { [name] = {...} }, addons = { [name] = {...} },
--     fargateProfiles = { [name] = {...} }, updates = { [id] = {...} }, updateIds = {...} }
-- Fields an AWS response shows are stored under their AWS names; the model's own bookkeeping sits in
-- `sim` sub-tables, which the tools never print.
--
-- The fixture section is read by eks_fixture.lua, updates over time are in eks_updates.lua, the
-- `aws` and `eksctl` tools in eks_aws.lua and eks_eksctl.lua; they all use the helpers below. The
-- data: eks_releases.lua (versions per minor), eks_addon_versions.lua (add-on versions per minor).

local util = require "refit.sim.util"
local checker = require "refit.sim.check"
local releases = require "refit.sim.eks_releases"
local addon_table = require "refit.sim.eks_addon_versions"

-- The ECR account that serves EKS's add-on images in most regions.
local ECR = "602401143452.dkr.ecr.%s.amazonaws.com"

-- The core add-ons and the kube-system objects behind them.
local CORE_ADDONS = {
  ["kube-proxy"] = { kind = "DaemonSet", name = "kube-proxy", container = "kube-proxy", repo = "eks/kube-proxy" },
  ["vpc-cni"] = { kind = "DaemonSet", name = "aws-node", container = "aws-node", repo = "amazon-k8s-cni",
                  init = { container = "aws-vpc-cni-init", repo = "amazon-k8s-cni-init" } },
  coredns = { kind = "Deployment", name = "coredns", container = "coredns", repo = "eks/coredns" },
}
local ADDON_ALIASES = { ["aws-node"] = "vpc-cni" }

-- Node capacity of common instance types (what the kubelet reports).
local INSTANCE_TYPES = {
  ["t3.medium"] = { cpu = "2", memory = "3967336Ki", pods = "17" },
  ["t3.large"] = { cpu = "2", memory = "8047888Ki", pods = "35" },
  ["m5.large"] = { cpu = "2", memory = "7934464Ki", pods = "29" },
  ["m5.xlarge"] = { cpu = "4", memory = "15950088Ki", pods = "58" },
  ["m5.2xlarge"] = { cpu = "8", memory = "32019880Ki", pods = "58" },
  ["m6i.large"] = { cpu = "2", memory = "7934464Ki", pods = "29" },
  ["m6g.large"] = { cpu = "2", memory = "7934464Ki", pods = "29", arch = "arm64" },
  ["c5.xlarge"] = { cpu = "4", memory = "7820744Ki", pods = "58" },
  ["r5.large"] = { cpu = "2", memory = "16098788Ki", pods = "29" },
}

return function(W, kube, faults)
  local E = { releases = releases, CORE_ADDONS = CORE_ADDONS }
  W.cloud.eks = W.cloud.eks or { clusters = {}, seq = 0 }
  local root = W.cloud.eks

  -- Identifiers ----------------------------------------------------------------------------------

  -- Deterministic ids that do not draw from W.random (so a describe call cannot shift the world's
  -- random sequence).
  function E.new_id(salt)
    root.seq = root.seq + 1
    local h = util.hash_hex(salt .. ":" .. root.seq, 32)
    return string.format("%s-%s-4%s-a%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16), h:sub(18, 20), h:sub(21, 32))
  end

  function E.now() return util.aws_time(W.now()) end

  -- The world's handle on the Kubernetes cluster of an EKS cluster record (one per cluster, kept).
  local handles = {}
  function E.kube(rec)
    local c = handles[rec.kube]
    if not c then
      c = W.cluster(rec.kube)
      handles[rec.kube] = c
    end
    return c
  end

  local function ip_to_int(ip)
    local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)")
    return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
  end
  local function int_to_ip(n)
    return string.format("%d.%d.%d.%d", n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
  end

  function E.dns_suffix(region)
    return region == "us-east-1" and "ec2.internal" or (region .. ".compute.internal")
  end

  -- Versions and add-on data ------------------------------------------------------------------------

  function E.minor(v) return tostring(v):match("^v?(%d+%.%d+)") end
  function E.release(minor) return releases[minor] end
  function E.supported_minors() return util.sorted_keys(releases) end

  function E.addon_name(name) return ADDON_ALIASES[name] or name end

  -- default version, and every version, of an add-on for a minor (nil when the minor is unknown)
  function E.addon_versions(minor, addon)
    local entry = addon_table[minor] and addon_table[minor][addon]
    if not entry then return nil, {} end
    local all = { entry.default }
    for _, v in ipairs(entry.others) do all[#all + 1] = v end
    return entry.default, all
  end

  -- { [addon] = { [version] = { minors... } } } and the default per minor, for describe-addon-versions
  function E.addon_catalog()
    local catalog = {}
    for minor, addons in util.spairs(addon_table) do
      for name, entry in util.spairs(addons) do
        catalog[name] = catalog[name] or {}
        local versions = { entry.default }
        for _, v in ipairs(entry.others) do versions[#versions + 1] = v end
        for _, v in ipairs(versions) do
          catalog[name][v] = catalog[name][v] or {}
          table.insert(catalog[name][v], { clusterVersion = minor, defaultVersion = v == entry.default })
        end
      end
    end
    return catalog
  end

  function E.addon_image(region, addon, version)
    local a = CORE_ADDONS[addon]
    return string.format(ECR, region) .. "/" .. a.repo .. ":" .. version
  end

  -- Cluster records ------------------------------------------------------------------------------

  function E.find(name) return root.clusters[name] end
  function E.names() return util.sorted_keys(root.clusters) end

  -- The API server version a fixture's eks section implies.
  function E.server_version(spec, path, check)
    check:map(path, spec, { required = true })
    local v = check:string(checker.field(path, "version"), spec.version,
                           { required = true, version = true, pattern = "^1%.%d+$", example = "\"1.20\"" })
    local r = releases[v]
    if not r then
      check:error(checker.field(path, "version"), "EKS %s is not modelled (known: %s)", v,
                  table.concat(E.supported_minors(), ", "))
    end
    return r.server
  end

  -- Nodes ----------------------------------------------------------------------------------------

  function E.next_address(rec, subnet)
    subnet.sim.next = subnet.sim.next + 1
    return int_to_ip(ip_to_int(subnet.cidrBlock) + subnet.sim.next)
  end

  local function k8s_taints(ng)
    local out = {}
    local effects = { NO_SCHEDULE = "NoSchedule", NO_EXECUTE = "NoExecute", PREFER_NO_SCHEDULE = "PreferNoSchedule" }
    for _, t in ipairs(ng.taints or {}) do
      out[#out + 1] = { key = t.key, value = t.value, effect = effects[t.effect] or t.effect }
    end
    return out
  end

  local ami_ids = {}
  function E.ami_id(ng, release)
    local key = ng.amiType .. ":" .. release
    local id = ami_ids[key]
    if not id then
      id = "ami-0" .. util.hash_hex(key, 16)
      ami_ids[key] = id
    end
    return id
  end

  -- Launches one instance of a node group and registers its Node: Ready at once (`ready`, the
  -- fixture's nodes) or booting (kube.lua turns it Ready later). Returns the node name.
  function E.launch_node(rec, ng, opts)
    local subnets = ng.sim.subnets
    ng.sim.next_subnet = ng.sim.next_subnet % #subnets + 1
    local subnet = rec.subnets[subnets[ng.sim.next_subnet]]
    local ip = E.next_address(rec, subnet)
    if not opts.ready then
      subnet.availableIpAddressCount = math.max(0, subnet.availableIpAddressCount - 1)
    end
    local name = "ip-" .. ip:gsub("%.", "-") .. "." .. E.dns_suffix(rec.region)
    local instance_id = "i-0" .. util.hash_hex("instance:" .. rec.name .. ":" .. name .. ":" .. W.now(), 16)
    local itype = ng.instanceTypes[1]
    local cap = INSTANCE_TYPES[itype] or INSTANCE_TYPES["m5.large"]
    local labels = {
      ["eks.amazonaws.com/nodegroup"] = ng.nodegroupName,
      ["eks.amazonaws.com/nodegroup-image"] = E.ami_id(ng, opts.release),
      ["eks.amazonaws.com/capacityType"] = ng.capacityType,
      ["node.kubernetes.io/instance-type"] = itype,
      ["beta.kubernetes.io/instance-type"] = itype,
      ["topology.kubernetes.io/region"] = rec.region,
      ["topology.kubernetes.io/zone"] = subnet.availabilityZone,
      ["failure-domain.beta.kubernetes.io/region"] = rec.region,
      ["failure-domain.beta.kubernetes.io/zone"] = subnet.availabilityZone,
      ["alpha.eksctl.io/cluster-name"] = nil,
    }
    for k, v in pairs(ng.labels or {}) do labels[k] = v end
    local taints = k8s_taints(ng)
    local node = kube.node_object {
      name = name, labels = labels, taints = #taints > 0 and taints or nil,
      kubeletVersion = opts.kubelet, ready = opts.ready, internalIP = ip, internalDNS = name,
      providerID = "aws:///" .. subnet.availabilityZone .. "/" .. instance_id,
      capacity = { cpu = cap.cpu, memory = cap.memory, pods = cap.pods }, arch = cap.arch,
      kernelVersion = "5.4.190-107.353.amzn2.x86_64",
    }
    E.kube(rec):create(node, { quiet = true })
    -- at load the controllers do not watch yet: they learn of the node from its object
    if not kube.started(rec.kube) then kube.observe_node(rec.kube, node) end
    table.insert(ng.sim.instances, { node = name, instanceId = instance_id, subnet = subnet.subnetId,
                                     release = opts.release, kubelet = opts.kubelet })
    return name
  end

  local function in_cidr(ip, cidr)
    local base, bits = cidr:match("^([%d%.]+)/(%d+)$")
    if not base or not ip:match("^%d+%.%d+%.%d+%.%d+$") then return false end
    local shift = 32 - tonumber(bits)
    return ip_to_int(ip) >> shift == ip_to_int(base) >> shift
  end

  local function internal_ip(node)
    for _, a in ipairs(util.get(node, "status", "addresses") or {}) do
      if a.type == "InternalIP" then return a.address end
    end
  end

  -- The fixture's own nodes (a snapshot's) hold addresses of the subnets: new nodes take the next
  -- ones after them, so that no name is given twice.
  function E.reserve_listed_addresses(rec)
    for _, node in ipairs(E.kube(rec):list { kind = "Node" }) do
      local ip = internal_ip(node)
      for _, subnet in pairs(rec.subnets) do
        if ip and in_cidr(ip, subnet.cidrBlock) then
          subnet.sim.next = math.max(subnet.sim.next, ip_to_int(ip) - ip_to_int(subnet.cidrBlock))
        end
      end
    end
  end

  -- Makes a Node the fixture lists (a snapshot's) an instance of node group `ng`: an update replaces
  -- it like the nodes the model launches. Its subnet is the group's that holds its address.
  function E.adopt_node(rec, ng, node, release)
    local ip = internal_ip(node)
    local subnet = ng.sim.subnets[1]
    for _, id in ipairs(ng.sim.subnets) do
      if ip and rec.subnets[id] and in_cidr(ip, rec.subnets[id].cidrBlock) then subnet = id break end
    end
    local provider = util.get(node, "spec", "providerID") or ""
    table.insert(ng.sim.instances, {
      node = node.metadata.name, subnet = subnet, release = release,
      instanceId = provider:match("(i%-%w+)$") or ("i-0" .. util.hash_hex("instance:" .. rec.name .. ":" .. node.metadata.name, 16)),
      kubelet = util.get(node, "status", "nodeInfo", "kubeletVersion"),
    })
  end

  -- Terminates the instance behind a node: the Node goes away, its address is free again.
  function E.terminate_node(rec, ng, name)
    for i, inst in ipairs(ng.sim.instances) do
      if inst.node == name then
        table.remove(ng.sim.instances, i)
        local subnet = rec.subnets[inst.subnet]
        if subnet then subnet.availableIpAddressCount = subnet.availableIpAddressCount + 1 end
        break
      end
    end
    E.kube(rec):delete { kind = "Node", name = name }
  end

  function E.instance_of(ng, name)
    for _, inst in ipairs(ng.sim.instances) do
      if inst.node == name then return inst end
    end
  end

  -- Add-on objects ---------------------------------------------------------------------------------

  -- The kube-system object of a core add-on at a version, as EKS installs it.
  function E.addon_object(rec, addon, version)
    local a = CORE_ADDONS[addon]
    local image = E.addon_image(rec.region, addon, version)
    local linux_affinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = W.json.array { {
      matchExpressions = W.json.array {
        { key = "kubernetes.io/os", operator = "In", values = W.json.array { "linux" } },
        { key = "kubernetes.io/arch", operator = "In", values = W.json.array { "amd64", "arm64" } },
        { key = "eks.amazonaws.com/compute-type", operator = "NotIn", values = W.json.array { "fargate" } },
      } } } } } }
    local labels = { ["k8s-app"] = a.kind == "Deployment" and "kube-dns" or a.name,
                     ["eks.amazonaws.com/component"] = a.name }
    local container = { name = a.container, image = image }
    if addon == "kube-proxy" then
      container.command = W.json.array { "kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config" }
    elseif addon == "coredns" then
      container.args = W.json.array { "-conf", "/etc/coredns/Corefile" }
      container.ports = W.json.array { { containerPort = 53, name = "dns", protocol = "UDP" },
                                       { containerPort = 53, name = "dns-tcp", protocol = "TCP" } }
    else
      container.env = W.json.array { { name = "AWS_VPC_K8S_CNI_LOGLEVEL", value = "DEBUG" } }
    end
    local pod_spec = {
      serviceAccountName = a.kind == "Deployment" and "coredns" or a.name,
      priorityClassName = a.kind == "Deployment" and "system-cluster-critical" or "system-node-critical",
      affinity = linux_affinity,
      containers = W.json.array { container },
    }
    if a.init then
      pod_spec.initContainers = W.json.array { { name = a.init.container,
        image = string.format(ECR, rec.region) .. "/" .. a.init.repo .. ":" .. version } }
    end
    local obj = {
      apiVersion = "apps/v1", kind = a.kind,
      metadata = { name = a.name, namespace = "kube-system", labels = labels },
      spec = {
        selector = { matchLabels = { ["k8s-app"] = labels["k8s-app"] } },
        template = { metadata = { labels = { ["k8s-app"] = labels["k8s-app"] } }, spec = pod_spec },
      },
    }
    if a.kind == "DaemonSet" then
      pod_spec.hostNetwork = true
      pod_spec.tolerations = W.json.array { { operator = "Exists" } }
      obj.spec.updateStrategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = "10%" } }
    else
      pod_spec.tolerations = W.json.array {
        { key = "CriticalAddonsOnly", operator = "Exists" },
        { key = "node-role.kubernetes.io/master", effect = "NoSchedule" } }
      obj.spec.replicas = 2
      obj.spec.strategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 1, maxSurge = "25%" } }
    end
    return obj
  end

  -- The kube-system object behind a core add-on, as { kind, namespace, name } and its container.
  function E.addon_ref(addon)
    local a = CORE_ADDONS[E.addon_name(addon)]
    if not a then return nil end
    return { kind = a.kind, namespace = "kube-system", name = a.name }, a
  end

  -- The image tag the add-on's object runs now (nil when the object is missing).
  function E.running_addon_version(rec, addon)
    local ref, a = E.addon_ref(addon)
    local obj = ref and E.kube(rec):get(ref)
    for _, c in ipairs(util.get(obj, "spec", "template", "spec", "containers") or {}) do
      if c.name == a.container then return c.image:match(":([^:/]+)$") end
    end
  end

  -- Points the add-on's object at `version` (its containers' image tags); a changed template rolls out.
  function E.set_addon_image(rec, addon, version)
    local ref, a = E.addon_ref(addon)
    local c = E.kube(rec)
    local obj = c:get(ref)
    if not obj then return false end
    local spec = obj.spec.template.spec
    local function retag(list, cname, repo)
      for _, ct in ipairs(list or {}) do
        if ct.name == cname then
          local base = ct.image:match("^(.*):[^:/]+$") or (string.format(ECR, rec.region) .. "/" .. repo)
          ct.image = base .. ":" .. version
        end
      end
    end
    retag(spec.containers, a.container, a.repo)
    local patch = { spec = { template = { spec = { containers = spec.containers } } } }
    if a.init then
      retag(spec.initContainers, a.init.container, a.init.repo)
      patch.spec.template.spec.initContainers = spec.initContainers
    end
    c:patch(ref, patch, { quiet = true })
    return true
  end

  -- Fixture ----------------------------------------------------------------------------------------

  -- Creates the cloud state of one EKS cluster from the fixture's `eks:` section (eks_fixture.lua).
  local loader
  function E.load(kube_name, spec, path, check)
    loader = loader or require("refit.sim.eks_fixture")(W, E)
    return loader(kube_name, spec, path, check)
  end

  -- Fargate ----------------------------------------------------------------------------------------

  local function fargate_profile(rec, pod)
    local labels = pod.metadata.labels or {}
    for _, name in ipairs(util.sorted_keys(rec.fargateProfiles)) do
      local p = rec.fargateProfiles[name]
      for _, s in ipairs(p.selectors) do
        if s.namespace == pod.metadata.namespace and util.map_matches(s.labels, labels) then return p end
      end
    end
  end

  local FARGATE_START = { 40000, 70000 }   -- a Fargate pod's micro-VM boots, then the pod starts

  -- A pod that a Fargate profile selects runs on a node of its own, whose kubelet is the control
  -- plane's version at the time the pod was launched.
  local function place_on_fargate(rec, S, pod, instant)
    local profile = fargate_profile(rec, pod)
    if not profile then return nil end
    local subnet_id = profile.subnets[(kube.node_count(S) % #profile.subnets) + 1]
    local subnet = rec.subnets[subnet_id]
    local ip = E.next_address(rec, subnet)
    local name = "fargate-ip-" .. ip:gsub("%.", "-") .. "." .. E.dns_suffix(rec.region)
    local kubelet = (instant and profile.sim.kubelet) or releases[rec.version].fargate
    local node = kube.node_object {
      name = name, kubeletVersion = kubelet, ready = true, internalIP = ip, internalDNS = name,
      labels = { ["eks.amazonaws.com/compute-type"] = "fargate",
                 ["topology.kubernetes.io/region"] = rec.region,
                 ["topology.kubernetes.io/zone"] = subnet.availabilityZone,
                 ["failure-domain.beta.kubernetes.io/region"] = rec.region,
                 ["failure-domain.beta.kubernetes.io/zone"] = subnet.availabilityZone },
      taints = { { key = "eks.amazonaws.com/compute-type", value = "fargate", effect = "NoSchedule" } },
      providerID = "aws:///" .. subnet.availabilityZone .. "/" .. util.hash_hex("fargate:" .. name, 32) .. "/" .. name,
      capacity = { cpu = "2", memory = "4002276Ki", pods = "1" },
      kernelVersion = "4.14.294-220.533.amzn2.x86_64",
    }
    local obj = E.kube(rec):create(node)
    kube.observe_node(rec.kube, obj)
    pod.metadata.labels = pod.metadata.labels or {}
    pod.metadata.labels["eks.amazonaws.com/fargate-profile"] = profile.fargateProfileName
    pod.metadata.annotations = pod.metadata.annotations or {}
    pod.metadata.annotations["CapacityProvisioned"] = "0.25vCPU 0.5GB"
    pod.metadata.annotations["Logging"] = "LoggingDisabled: LOGGING_CONFIGMAP_NOT_FOUND"
    pod.spec.schedulerName = "fargate-scheduler"
    return name, FARGATE_START
  end

  -- Hooks into the Kubernetes controllers of the cluster; call before kube.start.
  function E.start(rec)
    kube.add_placement(rec.kube, function(S, pod)
      return place_on_fargate(rec, S, pod, not S.started)
    end)
    kube.on_pod_gone(rec.kube, function(S, p)
      -- a Fargate pod's node goes with it
      if p.node and p.node:match("^fargate%-") then
        local c = E.kube(rec)
        if c:get { kind = "Node", name = p.node } then c:delete { kind = "Node", name = p.node } end
      end
    end)
  end

  -- Outputs (AWS response shapes) --------------------------------------------------------------------

  -- A copy of a record without the model's bookkeeping (`sim`, `kube`, ...).
  local function public(t, drop)
    local out = {}
    for k, v in pairs(t) do
      if k ~= "sim" and not (drop and drop[k]) then out[k] = util.copy(v) end
    end
    return out
  end

  function E.cluster_json(rec)
    return public(rec, { kube = true, subnets = true, nodegroups = true, addons = true, fargateProfiles = true,
                         updates = true, updateIds = true, region = true })
  end
  function E.nodegroup_json(ng) return public(ng) end
  function E.addon_json(a) return public(a) end
  function E.fargate_json(p) return public(p) end
  function E.update_json(u) return public(u) end

  return E
end
