-- refit.sim.konvoy_fixture: the `konvoy` section of a fixture cluster (docs/fixtures.md, "Konvoy 1.8"):
-- a Konvoy 1.8 cluster on AWS as `konvoy up` left it, before the DKP 2.1 adoption (seed 000).
--
-- read(spec, path, check) validates the section and returns a record; objects(W, kube, name, rec,
-- namespaces) creates what the cluster holds: its Nodes (control plane and node pools), the Konvoy
-- addons (Addon objects, kubeaddons.mesosphere.io), Kaptain when enabled (KUDO Instance kaptain),
-- the EBS CSI controllers, calico-node, the kubeadm-config ConfigMap (no podSubnet yet), and the
-- `konvoy` namespace with the auto-provisioning Helm release.
--
-- Konvoy 1.x on AWS names nodes after their private address (ip-10-0-...<region>.compute.internal),
-- labels them konvoy.mesosphere.com/node_pool=<pool> and runs Kubernetes 1.20: 1.20.11 up to Konvoy
-- 1.8.3, 1.20.13 from 1.8.4 (the DKP 2.1 upgrade guide's note on the machine image).

local util = require "refit.sim.util"
local checker = require "refit.sim.check"
local base64 = require "refit.base64"

local F = {}

F.NODE_POOL_LABEL = "konvoy.mesosphere.com/node_pool"
F.CONTROL_PLANE_POOL = "control-plane"

local FIELDS = { "version", "kubernetesVersion", "provider", "region", "availabilityZones", "stateDir", "vpcID",
                 "podSubnet", "serviceSubnet", "controlPlane", "nodePools", "addons", "kaptain", "calicoVersion",
                 "description", "dkpCLI", "adopted" }
local POOL_FIELDS = { "name", "count", "instanceType", "imageID", "postAdoptImageID", "labels", "taints" }
local CP_FIELDS = { "count", "instanceType", "imageID", "postAdoptImageID" }

-- The addons a Konvoy 1.8 cluster runs when the fixture does not list them (kubernetes-base-addons).
local DEFAULT_ADDONS = { "awsebscsiprovisioner", "cert-manager", "dashboard", "defaultstorageclass-protection",
                         "dex", "elasticsearch", "fluentbit", "gatekeeper", "kibana", "kube-oidc-proxy",
                         "prometheus", "reloader", "traefik", "velero" }

-- Kubernetes of a Konvoy 1.8 release (the upgrade guide: 1.8.4 and 1.8.5 run 1.20.13, 1.8.3 1.20.11).
local function default_kubernetes(version)
  local patch = tonumber(version:match("^v?1%.8%.(%d+)$") or "")
  if patch and patch >= 4 then return "v1.20.13" end
  return "v1.20.11"
end
F.default_kubernetes = default_kubernetes

-- The API server version the section implies (fixture.lua's `version` hook): Konvoy's Kubernetes,
-- or the version an adopted cluster's control plane was already moved to.
function F.version(spec, path, check)
  local k = F.konvoy_kubernetes(spec, path, check)
  local cp = type(spec.adopted) == "table" and type(spec.adopted.controlPlane) == "table" and spec.adopted.controlPlane.version
  if type(cp) == "string" and cp:match("^v?1%.%d+%.%d+$") then return cp:sub(1, 1) == "v" and cp or ("v" .. cp) end
  return k
end

function F.konvoy_kubernetes(spec, path, check)
  check:map(path, spec, { required = true })
  local v = check:string(checker.field(path, "version"), spec.version, { required = true, version = true,
                         pattern = "^v?%d+%.%d+%.%d+$", example = "\"1.8.3\"" })
  local k = check:string(checker.field(path, "kubernetesVersion"), spec.kubernetesVersion, { version = true,
                         pattern = "^v?1%.%d+%.%d+$", example = "\"v1.20.11\"" })
  k = k or default_kubernetes(v)
  return k:sub(1, 1) == "v" and k or ("v" .. k)
end

local function pool(check, path, p, cp)
  check:map(path, p, { required = true })
  check:known_fields(path, p, cp and CP_FIELDS or POOL_FIELDS)
  local ami = "^ami%-%x+$"
  return {
    name = cp and F.CONTROL_PLANE_POOL or check:string(checker.field(path, "name"), p.name, { required = true,
                                                       pattern = "^[a-z0-9][a-z0-9-]*$", example = "worker" }),
    count = check:int(checker.field(path, "count"), p.count, { default = cp and 3 or 4, min = cp and 1 or 0 }),
    instanceType = check:string(checker.field(path, "instanceType"), p.instanceType,
                                { default = cp and "m5.xlarge" or "m5.2xlarge" }),
    imageID = check:string(checker.field(path, "imageID"), p.imageID, { default = "ami-0686851c4e7b1a8e1",
                           pattern = ami, example = "ami-0686851c4e7b1a8e1" }),
    postAdoptImageID = check:string(checker.field(path, "postAdoptImageID"), p.postAdoptImageID,
                                    { pattern = ami, example = "ami-03364d732f61fb1e2" }),
    labels = not cp and check:string_map(checker.field(path, "labels"), p.labels) or nil,
    taints = not cp and check:list(checker.field(path, "taints"), p.taints) or nil,
    controlPlane = cp or nil,
  }
end

-- Validates the section; returns the record the models keep (W.cloud.konvoy.clusters[name]).
function F.read(name, spec, path, check)
  check:map(path, spec, { required = true })
  check:known_fields(path, spec, FIELDS)
  local f = function(k) return checker.field(path, k) end
  local kubernetes = F.konvoy_kubernetes(spec, path, check)   -- validates version and kubernetesVersion first
  local rec = {
    name = name,
    version = (spec.version:gsub("^v", "")),
    kubernetesVersion = kubernetes,
    provider = check:oneof(f("provider"), spec.provider, { "aws" }, { default = "aws" }),
    region = check:string(f("region"), spec.region, { default = "us-west-2" }),
    stateDir = check:string(f("stateDir"), spec.stateDir, { default = "." }),
    vpcID = check:string(f("vpcID"), spec.vpcID, { default = "vpc-0" .. util.hash_hex(name .. ":vpc", 16),
                         pattern = "^vpc%-%x+$", example = "vpc-0a1b2c3d4e5f60718" }),
    podSubnet = check:string(f("podSubnet"), spec.podSubnet, { default = "192.168.0.0/16",
                             pattern = "^%d+%.%d+%.%d+%.%d+/%d+$", example = "192.168.0.0/16" }),
    serviceSubnet = check:string(f("serviceSubnet"), spec.serviceSubnet, { default = "10.0.0.0/18",
                                 pattern = "^%d+%.%d+%.%d+%.%d+/%d+$", example = "10.0.0.0/18" }),
    calicoVersion = check:string(f("calicoVersion"), spec.calicoVersion, { default = "v3.17.3", version = true }),
    description = check:string(f("description"), spec.description),
    -- the release of the dkp CLI on the operator's PATH (`dkp version`); the adoption needs 2.1
    dkpCLI = check:string(f("dkpCLI"), spec.dkpCLI, { default = "v2.1.1", version = true, pattern = "^v?%d+%.%d+%.%d+$",
                          example = "v2.1.1" }),
  }
  if not rec.version:match("^1%.8%.%d+$") and not rec.version:match("^1%.%d+%.%d+$") then
    check:error(f("version"), "must be a Konvoy 1.x version such as \"1.8.3\", got %q", spec.version)
  end
  local zones = check:list(f("availabilityZones"), spec.availabilityZones, { default = { rec.region .. "c" } })
  rec.availabilityZones = {}
  for i, z in ipairs(zones) do rec.availabilityZones[i] = check:string(checker.index(f("availabilityZones"), i), z) end
  rec.controlPlane = pool(check, f("controlPlane"), spec.controlPlane or {}, true)
  rec.nodePools = {}
  local seen = { [F.CONTROL_PLANE_POOL] = true }
  local pools = check:list(f("nodePools"), spec.nodePools, { default = { { name = "worker" } } })
  for i, p in ipairs(pools) do
    local np = pool(check, checker.index(f("nodePools"), i), p, false)
    if seen[np.name] then check:error(checker.field(checker.index(f("nodePools"), i), "name"),
                                      "node pool %q is defined twice (control-plane is the control plane's)", np.name) end
    seen[np.name] = true
    rec.nodePools[#rec.nodePools + 1] = np
  end
  rec.addons = {}
  local addons = check:list(f("addons"), spec.addons, { default = DEFAULT_ADDONS })
  for i, a in ipairs(addons) do
    local ap = checker.index(f("addons"), i)
    if type(a) == "string" then
      rec.addons[#rec.addons + 1] = { name = a }
    else
      check:map(ap, a, { required = true })
      check:known_fields(ap, a, { "name", "chart", "version", "values" })
      rec.addons[#rec.addons + 1] = {
        name = check:string(checker.field(ap, "name"), a.name, { required = true }),
        chart = check:string(checker.field(ap, "chart"), a.chart),
        version = check:string(checker.field(ap, "version"), a.version, { version = true }),
        values = check:string(checker.field(ap, "values"), a.values),
      }
    end
  end
  local k = spec.kaptain
  if k ~= nil then
    check:map(f("kaptain"), k)
    check:known_fields(f("kaptain"), k, { "enabled", "version", "addon" })
    rec.kaptain = {
      enabled = check:bool(checker.field(f("kaptain"), "enabled"), k.enabled, { default = true }),
      version = check:string(checker.field(f("kaptain"), "version"), k.version, { default = "1.2.0-1.1.0", version = true }),
      addon = check:bool(checker.field(f("kaptain"), "addon"), k.addon, { default = false }),
    }
  end
  rec.adopted = F.read_adopted(rec, spec.adopted, f("adopted"), check)
  return rec
end

-- `adopted`: how far an earlier run of dkp/major-upgrade got. Present: the cluster went through
-- every step up to the adoption (EBS CSI controllers on control-plane nodes, the bootstrap
-- controllers, the Cluster API objects, podSubnet, the auto-provisioner and namespace konvoy gone,
-- `dkp adopt`, Calico moved to calico-system, the Dex addon's env). `controlPlane: { version,
-- imageID }`: its control plane was moved to that version with a template of that image (machines
-- replaced by Cluster API); `nodePools: [{ name, version, imageID }]`: the pool's MachineDeployment
-- was patched to that version and a template of that image, and its rollout did not get anywhere
-- (the new machine that could not come up is not modelled): its machines still run Konvoy's version.
function F.read_adopted(rec, a, path, check)
  if a == nil then return nil end
  check:map(path, a)
  check:known_fields(path, a, { "controlPlane", "nodePools" })
  local out = { nodePools = {} }
  local function moved(p, m, pool_name)
    check:map(p, m, { required = true })
    check:known_fields(p, m, pool_name and { "name", "version", "imageID" } or { "version", "imageID" })
    local v = check:string(checker.field(p, "version"), m.version, { required = true, version = true,
                           pattern = "^v?1%.%d+%.%d+$", example = "v1.21.6" })
    return {
      name = pool_name and check:string(checker.field(p, "name"), m.name, { required = true }) or nil,
      version = v and (v:sub(1, 1) == "v" and v or ("v" .. v)),
      imageID = check:string(checker.field(p, "imageID"), m.imageID, { required = true, pattern = "^ami%-%x+$",
                             example = "ami-0e7253eeb699eddca" }),
    }
  end
  if a.controlPlane ~= nil then out.controlPlane = moved(checker.field(path, "controlPlane"), a.controlPlane, false) end
  local pools = {}
  for _, np in ipairs(rec.nodePools) do pools[np.name] = true end
  for i, m in ipairs(check:list(checker.field(path, "nodePools"), a.nodePools, { default = {} })) do
    local ip = checker.index(checker.field(path, "nodePools"), i)
    local np = moved(ip, m, true)
    if np.name and not pools[np.name] then
      check:error(checker.field(ip, "name"), "no node pool %q in nodePools", np.name)
    end
    out.nodePools[#out.nodePools + 1] = np
  end
  return out
end

-- Objects ----------------------------------------------------------------------------------------

-- The nodes of every pool, named after their private address as on AWS; each pool gets its own
-- 10.0.<64 x pool>.0 range, so that names never collide across pools.
local function node_specs(rec)
  local out = {}
  local pools = { rec.controlPlane }
  for _, p in ipairs(rec.nodePools) do pools[#pools + 1] = p end
  local suffix = rec.region == "us-east-1" and ".ec2.internal" or ("." .. rec.region .. ".compute.internal")
  for pi, p in ipairs(pools) do
    for i = 1, p.count do
      local ip = string.format("10.0.%d.%d", 64 * (pi - 1) + (i - 1) // 200, 10 + (i - 1) % 200)
      local zone = rec.availabilityZones[(i - 1) % #rec.availabilityZones + 1]
      out[#out + 1] = {
        pool = p, index = i - 1, ip = ip, zone = zone,
        name = "ip-" .. ip:gsub("%.", "-") .. suffix,
        instance = "i-0" .. util.hash_hex(rec.name .. ":" .. p.name .. ":" .. i, 16),
      }
    end
  end
  return out
end
F.node_specs = node_specs

-- The control-plane nodes Cluster API created when an adopted cluster's control plane was moved
-- (adopted.controlPlane): new instances, new addresses (10.0.0.110 on), the new kubelet.
function F.replaced_control_plane(rec)
  local out = {}
  local cp = rec.adopted and rec.adopted.controlPlane
  if not cp then return out end
  local suffix = rec.region == "us-east-1" and ".ec2.internal" or ("." .. rec.region .. ".compute.internal")
  for i = 1, rec.controlPlane.count do
    local ip = string.format("10.0.0.%d", 110 + i - 1)
    out[#out + 1] = {
      pool = rec.controlPlane, index = i - 1, ip = ip, zone = rec.availabilityZones[(i - 1) % #rec.availabilityZones + 1],
      name = "ip-" .. ip:gsub("%.", "-") .. suffix, kubelet = cp.version,
      instance = "i-0" .. util.hash_hex(rec.name .. ":control-plane:" .. cp.version .. ":" .. i, 16),
    }
  end
  return out
end

local function create(c, obj) c:create(obj, { quiet = true }) end

local function nodes(W, kube, c, rec)
  local specs = {}
  local replaced = F.replaced_control_plane(rec)
  for _, n in ipairs(replaced) do specs[#specs + 1] = n end
  for _, n in ipairs(node_specs(rec)) do
    if not (n.pool.controlPlane and #replaced > 0) then specs[#specs + 1] = n end
  end
  for _, n in ipairs(specs) do
    local labels = {
      [F.NODE_POOL_LABEL] = n.pool.name,
      ["konvoy.mesosphere.com/inventory_hostname"] = n.ip,
      ["node.kubernetes.io/instance-type"] = n.pool.instanceType,
      ["beta.kubernetes.io/instance-type"] = n.pool.instanceType,
      ["topology.kubernetes.io/zone"] = n.zone, ["topology.kubernetes.io/region"] = rec.region,
      ["failure-domain.beta.kubernetes.io/zone"] = n.zone, ["failure-domain.beta.kubernetes.io/region"] = rec.region,
    }
    local taints
    if n.pool.controlPlane then
      -- kubeadm 1.20 labels control-plane nodes with both roles and taints them master
      labels["node-role.kubernetes.io/master"] = ""
      labels["node-role.kubernetes.io/control-plane"] = ""
      taints = { { key = "node-role.kubernetes.io/master", effect = "NoSchedule" } }
    else
      for k, v in pairs(n.pool.labels or {}) do labels[k] = v end
      taints = n.pool.taints
    end
    local node = kube.node_object {
      name = n.name, labels = labels, taints = taints, kubeletVersion = n.kubelet or rec.kubernetesVersion,
      providerID = "aws:///" .. n.zone .. "/" .. n.instance, internalIP = n.ip, internalDNS = n.name,
      osImage = "CentOS Linux 7 (Core)", kernelVersion = "3.10.0-1160.45.1.el7.x86_64",
      containerRuntime = "containerd://1.4.11",
      capacity = n.pool.controlPlane and { cpu = "4", memory = "15950552Ki", pods = "110" }
                                      or { cpu = "8", memory = "32119852Ki", pods = "110" },
    }
    create(c, node)
    kube.observe_node(c:name(), taints and c:get { kind = "Node", name = n.name } or node)
  end
end

-- The env the DKP 2.1 guide gives the Dex addon (what dkp/major-upgrade's dex-addon step adds).
F.DEX_ENV = "env:\n- name: KUBERNETES_POD_NAMESPACE\n  valueFrom:\n    fieldRef:\n      fieldPath: metadata.namespace\n"

-- The Deployments of the cert-manager addon (kubernetes-base-addons: namespace cert-manager).
local CERT_MANAGER = { { "cert-manager", "cert-manager-controller" }, { "cert-manager-cainjector", "cert-manager-cainjector" },
                       { "cert-manager-webhook", "cert-manager-webhook" } }
local CERT_MANAGER_VERSION = "v1.0.3"

local function cert_manager(W, c, namespaces)
  namespaces["cert-manager"] = true
  for _, d in ipairs(CERT_MANAGER) do
    local labels = { app = d[1], ["app.kubernetes.io/name"] = d[1], ["app.kubernetes.io/instance"] = "cert-manager",
                     ["app.kubernetes.io/managed-by"] = "Helm" }
    create(c, {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = d[1], namespace = "cert-manager", labels = labels,
                   annotations = { ["meta.helm.sh/release-name"] = "cert-manager", ["meta.helm.sh/release-namespace"] = "cert-manager" } },
      spec = { replicas = 1, selector = { matchLabels = { app = d[1] } },
               template = { metadata = { labels = { app = d[1] } },
                            spec = { serviceAccountName = d[1],
                                     containers = W.json.array { { name = d[1], image = "quay.io/jetstack/" .. d[2] .. ":" ..
                                                                   CERT_MANAGER_VERSION } } } } },
    })
  end
end

local function addons(W, c, rec, namespaces)
  namespaces.kubeaddons = true
  for _, a in ipairs(rec.addons) do
    if a.name == "cert-manager" then cert_manager(W, c, namespaces) end
    local values = a.values
    if a.name == "dex" and rec.adopted and not tostring(values or ""):find("KUBERNETES_POD_NAMESPACE", 1, true) then
      values = (values and values:gsub("\n?$", "\n") or "---\n") .. F.DEX_ENV
    end
    create(c, {
      apiVersion = "kubeaddons.mesosphere.io/v1beta2", kind = "Addon",
      metadata = { name = a.name, namespace = "kubeaddons", labels = { ["kubeaddons.mesosphere.io/name"] = a.name },
                   annotations = { ["catalog.kubeaddons.mesosphere.io/addon-revision"] = a.version or "stable-1.20-1" } },
      spec = {
        kubernetes = { minSupportedVersion = "v1.15.0" },
        cloudProvider = W.json.array { { name = "aws", enabled = true } },
        chartReference = { chart = a.chart or a.name, repo = "https://mesosphere.github.io/charts/stable",
                           version = a.version or "1.0.0", values = values },
      },
      status = { ready = true, stage = "deployed" },
    })
  end
  local k = rec.kaptain
  if k and k.enabled then
    namespaces.kubeflow = true
    create(c, {
      apiVersion = "kudo.dev/v1beta1", kind = "Instance",
      metadata = { name = "kaptain", namespace = "kubeflow",
                   labels = { ["kudo.dev/operator"] = "kaptain" } },
      spec = { operatorVersion = { name = "kaptain-" .. k.version }, parameters = {} },
      status = { aggregatedStatus = { status = "COMPLETE", activePlanName = "deploy" },
                 planStatus = { deploy = { name = "deploy", status = "COMPLETE", phases = W.json.array {} } } },
    })
    if k.addon then
      create(c, {
        apiVersion = "kubeaddons.mesosphere.io/v1beta2", kind = "Addon",
        metadata = { name = "kaptain", namespace = "kubeaddons", labels = { ["kubeaddons.mesosphere.io/name"] = "kaptain" } },
        spec = { chartReference = { chart = "kaptain", repo = "https://mesosphere.github.io/kubeaddons-kaptain",
                                    version = k.version } },
        status = { ready = true, stage = "deployed" },
      })
    end
  end
end

-- The EBS CSI controllers as Konvoy 1.8's awsebscsiprovisioner addon runs them: StatefulSets on any node.
-- The placement dkp/major-upgrade's ebs-csi-controllers step gives them (the guide's patches).
local EBS_ADOPTED = {
  ["ebs-csi-controller"] = { { effect = "NoExecute", operator = "Exists", tolerationSeconds = 300 },
    { effect = "NoSchedule", key = "node-role.kubernetes.io/master", operator = "Exists" },
    { key = "CriticalAddonsOnly", operator = "Exists" } },
  ["ebs-csi-snapshot-controller"] = { { key = "CriticalAddonsOnly", operator = "Exists" },
    { effect = "NoExecute", operator = "Exists", tolerationSeconds = 300 },
    { effect = "NoSchedule", key = "node-role.kubernetes.io/master", operator = "Exists" } },
}

local function ebs_csi(W, c, rec)
  for _, s in ipairs { { name = "ebs-csi-controller", image = "k8s.gcr.io/provider-aws/aws-ebs-csi-driver:v0.9.1" },
                       { name = "ebs-csi-snapshot-controller", image = "quay.io/k8scsi/snapshot-controller:v2.1.3" } } do
    create(c, {
      apiVersion = "apps/v1", kind = "StatefulSet",
      metadata = { name = s.name, namespace = "kube-system", labels = { app = s.name } },
      spec = {
        replicas = 1, serviceName = s.name,
        selector = { matchLabels = { app = s.name } },
        updateStrategy = { type = "RollingUpdate" },
        template = {
          metadata = { labels = { app = s.name } },
          spec = {
            serviceAccountName = s.name == "ebs-csi-controller" and "ebs-csi-controller-sa" or "ebs-snapshot-controller",
            priorityClassName = "system-cluster-critical",
            nodeSelector = rec.adopted and { ["node-role.kubernetes.io/control-plane"] = "" } or nil,
            tolerations = W.json.array(rec.adopted and EBS_ADOPTED[s.name] or { { key = "CriticalAddonsOnly", operator = "Exists" } }),
            containers = W.json.array { { name = s.name:gsub("^ebs%-csi%-", ""), image = s.image } },
          },
        },
      },
    })
  end
end

local function calico(W, c, rec, namespaces)
  local env = {
    { name = "DATASTORE_TYPE", value = "kubernetes" }, { name = "WAIT_FOR_DATASTORE", value = "true" },
    { name = "NODENAME", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } },
    { name = "CALICO_NETWORKING_BACKEND", value = "bird" }, { name = "CLUSTER_TYPE", value = "k8s,bgp" },
    { name = "IP", value = "autodetect" }, { name = "CALICO_IPV4POOL_IPIP", value = "Always" },
    { name = "FELIX_IPINIPMTU", value = "1480" }, { name = "CALICO_IPV4POOL_CIDR", value = rec.podSubnet },
    { name = "CALICO_DISABLE_FILE_LOGGING", value = "true" }, { name = "FELIX_DEFAULTENDPOINTTOHOSTACTION", value = "ACCEPT" },
    { name = "FELIX_IPV6SUPPORT", value = "false" }, { name = "FELIX_LOGSEVERITYSCREEN", value = "info" },
    { name = "FELIX_HEALTHENABLED", value = "true" }, { name = "FELIX_PROMETHEUSMETRICSENABLED", value = "true" },
    { name = "FELIX_PROMETHEUSMETRICSPORT", value = "9091" },
  }
  local ns, image = "kube-system", "docker.io/calico/node:" .. rec.calicoVersion
  local affinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = W.json.array {
    { matchExpressions = W.json.array { { key = "kubernetes.io/os", operator = "In", values = W.json.array { "linux" } } } } } } } }
  if rec.adopted then
    -- the Tigera operator (a DKP 2.1 ClusterResourceSet) runs Calico from calico-system: the
    -- patched template (no affinity, no IP env), its own image
    ns, image, affinity = "calico-system", "docker.io/calico/node:v3.21.4", nil
    for i, e in ipairs(env) do if e.name == "IP" then table.remove(env, i) break end end
    namespaces["calico-system"], namespaces["tigera-operator"] = true, true
    create(c, {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = "tigera-operator", namespace = "tigera-operator", labels = { ["k8s-app"] = "tigera-operator" } },
      spec = { replicas = 1, selector = { matchLabels = { name = "tigera-operator" } },
               template = { metadata = { labels = { name = "tigera-operator" } },
                            spec = { tolerations = W.json.array { { operator = "Exists", effect = "NoSchedule" } },
                                     containers = W.json.array { { name = "tigera-operator", image = "quay.io/tigera/operator:v1.22.4" } } } } },
    })
  end
  create(c, {
    apiVersion = "apps/v1", kind = "DaemonSet",
    metadata = { name = "calico-node", namespace = ns, labels = { ["k8s-app"] = "calico-node" } },
    spec = {
      selector = { matchLabels = { ["k8s-app"] = "calico-node" } },
      updateStrategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 1 } },
      template = {
        metadata = { labels = { ["k8s-app"] = "calico-node" } },
        spec = {
          hostNetwork = true, serviceAccountName = "calico-node", priorityClassName = "system-node-critical",
          nodeSelector = { ["kubernetes.io/os"] = "linux" },
          affinity = affinity,
          tolerations = W.json.array { { operator = "Exists", effect = "NoSchedule" }, { key = "CriticalAddonsOnly", operator = "Exists" },
                                       { operator = "Exists", effect = "NoExecute" } },
          containers = W.json.array {
            { name = "calico-node", image = image, env = W.json.array(env) },
            { name = "bird-metrics", image = "mesosphere/bird-metrics:v0.1.0" },
          },
        },
      },
    },
  })
end

-- kubeadm's ClusterConfiguration as Konvoy 1.8 wrote it: no networking.podSubnet (Konvoy passed the
-- pod CIDR to Calico only); the DKP 2.1 guide adds it before adoption.
local function kubeadm_config(W, c, rec)
  local lines = {
    "apiServer:",
    "  certSANs:",
    "  - " .. rec.name .. "-lb-" .. util.hash_hex(rec.name, 8) .. ".elb." .. rec.region .. ".amazonaws.com",
    "  extraArgs:",
    "    cloud-provider: aws",
    "  timeoutForControlPlane: 4m0s",
    "apiVersion: kubeadm.k8s.io/v1beta2",
    "certificatesDir: /etc/kubernetes/pki",
    "clusterName: " .. rec.name,
    "controlPlaneEndpoint: " .. rec.name .. "-lb-" .. util.hash_hex(rec.name, 8) .. ".elb." .. rec.region .. ".amazonaws.com:6443",
    "controllerManager:",
    "  extraArgs:",
    "    cloud-provider: aws",
    "dns:",
    "  type: CoreDNS",
    "etcd:",
    "  local:",
    "    dataDir: /var/lib/etcd",
    "imageRepository: k8s.gcr.io",
    "kind: ClusterConfiguration",
    "kubernetesVersion: " .. rec.kubernetesVersion,
    "networking:",
    "  dnsDomain: cluster.local",
    "  serviceSubnet: " .. rec.serviceSubnet,
    "scheduler: {}",
    "",
  }
  if rec.adopted then
    -- dkp/major-upgrade's pod-subnet step added it, keys in order
    for i, line in ipairs(lines) do
      if line:match("^  serviceSubnet:") then table.insert(lines, i, "  podSubnet: " .. rec.podSubnet) break end
    end
  end
  create(c, {
    apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = "kubeadm-config", namespace = "kube-system" },
    data = { ClusterConfiguration = table.concat(lines, "\n"),
             ClusterStatus = "apiEndpoints: {}\napiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterStatus\n" },
  })
end

-- Helm 3 keeps a release in a Secret sh.helm.release.v1.<name>.v<revision> (labels owner=helm,
-- name, status, version). Its `release` field is base64 of the gzipped release JSON; the simulation
-- leaves the gzip out.
function F.helm_release_secret(W, rel)
  local body = W.json.encode {
    name = rel.name, namespace = rel.namespace, version = rel.revision,
    info = { status = rel.status, first_deployed = rel.updated, last_deployed = rel.updated, description = "Install complete" },
    chart = { metadata = { name = rel.chart, version = rel.chartVersion, appVersion = rel.appVersion } },
  }
  return {
    apiVersion = "v1", kind = "Secret", type = "helm.sh/release.v1",
    metadata = { name = string.format("sh.helm.release.v1.%s.v%d", rel.name, rel.revision), namespace = rel.namespace,
                 labels = { owner = "helm", name = rel.name, status = rel.status, version = tostring(rel.revision) } },
    data = { release = base64.encode(base64.encode(body)) },
  }
end

local function auto_provisioning(W, c, rec, namespaces)
  namespaces.konvoy = true
  create(c, F.helm_release_secret(W, { name = "auto-provisioning", namespace = "konvoy", revision = 1, status = "deployed",
                                       updated = util.k8s_time(-86400000 * 30), chart = "auto-provisioning",
                                       chartVersion = rec.version, appVersion = rec.version }))
  create(c, {
    apiVersion = "apps/v1", kind = "Deployment",
    metadata = { name = "auto-provisioning-konvoy", namespace = "konvoy",
                 labels = { ["app.kubernetes.io/managed-by"] = "Helm", ["app.kubernetes.io/instance"] = "auto-provisioning" },
                 annotations = { ["meta.helm.sh/release-name"] = "auto-provisioning", ["meta.helm.sh/release-namespace"] = "konvoy" } },
    spec = {
      replicas = 1,
      selector = { matchLabels = { app = "auto-provisioning-konvoy" } },
      template = { metadata = { labels = { app = "auto-provisioning-konvoy" } },
                   spec = { containers = W.json.array { { name = "konvoy", image = "mesosphere/konvoy:v" .. rec.version } } } },
    },
  })
end

-- Every object of a Konvoy 1.8 cluster (after the fixture's own objects).
function F.objects(W, kube, rec, namespaces)
  local c = W.cluster(rec.name)
  namespaces["kube-system"] = true
  nodes(W, kube, c, rec)
  addons(W, c, rec, namespaces)
  ebs_csi(W, c, rec)
  calico(W, c, rec, namespaces)
  kubeadm_config(W, c, rec)
  -- an adopted cluster's auto-provisioner is uninstalled and namespace konvoy deleted
  if not rec.adopted then auto_provisioning(W, c, rec, namespaces) end
end

return F
