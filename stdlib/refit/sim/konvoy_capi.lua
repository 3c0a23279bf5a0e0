-- refit.sim.konvoy_capi: the Cluster API objects `dkp prepare-to-adopt cluster aws` builds from a
-- Konvoy 1.8 state directory (cluster.yaml, inventory.yaml, the Terraform state), in the order and
-- with the names of the DKP 2.1 upgrade guide's example output:
--
--   secret/<c>-ca ... cluster.cluster.x-k8s.io/<c>, awscluster..., kubeadmcontrolplane.../<c>-control-plane,
--   awsmachinetemplate.../<c>-control-plane, clusterresourceset.../calico-installation-<c>,
--   configmap/calico-cni-<c>, then per control-plane machine i: secret, kubeadmconfig, machine,
--   awsmachine <c>-control-plane-<i>; then per node pool: machinedeployment, awsmachinetemplate,
--   kubeadmconfigtemplate, machineset <c>-<pool>, and per machine the same four objects.
--
-- Everything is in namespace `default`, labelled cluster.x-k8s.io/cluster-name=<c>; control-plane
-- Machines carry cluster.x-k8s.io/control-plane, node-pool Machines cluster.x-k8s.io/deployment-name
-- (the contract of refit.sim.dkp_capi). Objects are CAPI v1beta1 as the shared CAPI controllers
-- read them (DKP 2.1 itself ships CAPI v1alpha4, whose shapes these fields are the same in).
--
-- build(W, rec) returns { { obj =, resource = "machine.cluster.x-k8s.io", owner = index or nil }, ... }:
-- `owner` names an earlier entry that owns the object (set when it is created).

local util = require "refit.sim.util"
local base64 = require "refit.base64"
local fixture = require "refit.sim.konvoy_fixture"

local M = {}

M.NAMESPACE = "default"
M.CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
M.CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
M.DEPLOYMENT_LABEL = "cluster.x-k8s.io/deployment-name"
M.SET_LABEL = "cluster.x-k8s.io/set-name"

local CAPI = "cluster.x-k8s.io/v1beta1"
local CAPA = "infrastructure.cluster.x-k8s.io/v1beta1"
local KCP = "controlplane.cluster.x-k8s.io/v1beta1"
local CABPK = "bootstrap.cluster.x-k8s.io/v1beta1"
local CRS = "addons.cluster.x-k8s.io/v1beta1"

-- The resource names kubectl-style output uses ("kind.group"; core kinds have no group).
function M.resource(obj)
  local group = obj.apiVersion:match("^(.*)/[^/]*$")
  return obj.kind:lower() .. (group and ("." .. group) or "")
end

local function ref(apiVersion, kind, name)
  return { apiVersion = apiVersion, kind = kind, name = name, namespace = M.NAMESPACE }
end

function M.lb_host(rec)
  return rec.name .. "-lb-" .. util.hash_hex(rec.name, 8) .. "." .. rec.region .. ".elb.amazonaws.com"
end

-- Simulated certificate and bootstrap material: never real keys.
local function secret(name, cluster, data, stype)
  local d = {}
  for k, v in pairs(data) do d[k] = base64.encode(v) end
  return { apiVersion = "v1", kind = "Secret", type = stype or "cluster.x-k8s.io/secret",
           metadata = { name = name, namespace = M.NAMESPACE, labels = { [M.CLUSTER_LABEL] = cluster } }, data = d }
end

local PLACEHOLDER = "(simulated by refit)"

local function machine_template(W, rec, name, pool, role)
  return {
    apiVersion = CAPA, kind = "AWSMachineTemplate",
    metadata = { name = name, namespace = M.NAMESPACE, labels = { [M.CLUSTER_LABEL] = rec.name } },
    spec = { template = { spec = {
      ami = { id = pool.postAdoptImageID },
      instanceType = pool.instanceType,
      iamInstanceProfile = role .. ".cluster-api-provider-aws.sigs.k8s.io",
      sshKeyName = rec.name .. "-ssh-key",
      rootVolume = { size = 80, type = "gp2" },
    } } },
  }
end

-- The four objects of one existing machine: its bootstrap data Secret, its KubeadmConfig, the
-- Machine (already provisioned: nodeRef, phase Running) and its AWSMachine.
local function machine_objects(W, rec, add, n, name, labels, owner, kubeadm_spec)
  add(secret(name, rec.name, { value = "#cloud-config " .. PLACEHOLDER, format = "cloud-config" }))
  add({ apiVersion = CABPK, kind = "KubeadmConfig",
        metadata = { name = name, namespace = M.NAMESPACE, labels = util.copy(labels) },
        spec = util.copy(kubeadm_spec),
        status = { ready = true, dataSecretName = name } })
  local provider = "aws:///" .. n.zone .. "/" .. n.instance
  local machine = add({
    apiVersion = CAPI, kind = "Machine",
    metadata = { name = name, namespace = M.NAMESPACE, labels = util.copy(labels) },
    spec = {
      clusterName = rec.name, version = rec.kubernetesVersion, providerID = provider, failureDomain = n.zone,
      bootstrap = { configRef = ref(CABPK, "KubeadmConfig", name), dataSecretName = name },
      infrastructureRef = ref(CAPA, "AWSMachine", name),
    },
    status = {
      phase = "Running", bootstrapReady = true, infrastructureReady = true,
      nodeRef = { apiVersion = "v1", kind = "Node", name = n.name },
      addresses = W.json.array { { type = "InternalIP", address = n.ip }, { type = "InternalDNS", address = n.name } },
    },
  }, owner)
  add({
    apiVersion = CAPA, kind = "AWSMachine",
    metadata = { name = name, namespace = M.NAMESPACE, labels = util.copy(labels) },
    spec = { ami = { id = n.pool.imageID }, instanceID = n.instance, providerID = provider,
             instanceType = n.pool.instanceType, sshKeyName = rec.name .. "-ssh-key",
             iamInstanceProfile = (n.pool.controlPlane and "control-plane" or "nodes") .. ".cluster-api-provider-aws.sigs.k8s.io" },
    status = { ready = true, instanceState = "running" },
  }, machine)
end

function M.build(W, rec)
  local out = {}
  local function add(obj, owner)
    out[#out + 1] = { obj = obj, resource = M.resource(obj), owner = owner }
    return #out
  end
  local c = rec.name
  local cl = { [M.CLUSTER_LABEL] = c }
  for _, s in ipairs { "ca", "sa", "etcd", "proxy" } do
    add(secret(c .. "-" .. s, c, { ["tls.crt"] = PLACEHOLDER, ["tls.key"] = PLACEHOLDER }))
  end
  add(secret(c .. "-etcd-encryption-config", c, { value = PLACEHOLDER }, "Opaque"))
  local cluster = add({
    apiVersion = CAPI, kind = "Cluster",
    metadata = { name = c, namespace = M.NAMESPACE, labels = { ["konvoy.d2iq.io/cni"] = "calico",
                 ["konvoy.d2iq.io/csi"] = "aws-ebs", ["konvoy.d2iq.io/provider"] = "aws" } },
    spec = {
      paused = true,
      clusterNetwork = { pods = { cidrBlocks = W.json.array { rec.podSubnet } },
                         services = { cidrBlocks = W.json.array { rec.serviceSubnet } }, serviceDomain = "cluster.local" },
      controlPlaneEndpoint = { host = M.lb_host(rec), port = 6443 },
      controlPlaneRef = ref(KCP, "KubeadmControlPlane", c .. "-control-plane"),
      infrastructureRef = ref(CAPA, "AWSCluster", c),
    },
  })
  add({
    apiVersion = CAPA, kind = "AWSCluster",
    metadata = { name = c, namespace = M.NAMESPACE, labels = util.copy(cl) },
    spec = {
      region = rec.region, sshKeyName = c .. "-ssh-key",
      controlPlaneEndpoint = { host = M.lb_host(rec), port = 6443 },
      network = { vpc = { id = rec.vpcID } },
      controlPlaneLoadBalancer = { name = c .. "-lb", scheme = "internet-facing" },
      bastion = { enabled = false },
    },
  }, cluster)
  local networking = { podSubnet = rec.podSubnet, serviceSubnet = rec.serviceSubnet, dnsDomain = "cluster.local" }
  local kcp = add({
    apiVersion = KCP, kind = "KubeadmControlPlane",
    metadata = { name = c .. "-control-plane", namespace = M.NAMESPACE, labels = util.copy(cl) },
    spec = {
      replicas = rec.controlPlane.count, version = rec.kubernetesVersion,
      machineTemplate = { infrastructureRef = ref(CAPA, "AWSMachineTemplate", c .. "-control-plane") },
      kubeadmConfigSpec = {
        clusterConfiguration = { networking = networking, apiServer = { extraArgs = { ["cloud-provider"] = "aws" } },
                                 controllerManager = { extraArgs = { ["cloud-provider"] = "aws" } } },
        initConfiguration = { nodeRegistration = { name = "{{ ds.meta_data.local_hostname }}",
                                                   kubeletExtraArgs = { ["cloud-provider"] = "aws" } } },
        joinConfiguration = { nodeRegistration = { name = "{{ ds.meta_data.local_hostname }}",
                                                   kubeletExtraArgs = { ["cloud-provider"] = "aws" } } },
      },
      rolloutStrategy = { type = "RollingUpdate", rollingUpdate = { maxSurge = 1 } },
    },
  }, cluster)
  add(machine_template(W, rec, c .. "-control-plane", rec.controlPlane, "control-plane"), cluster)
  add({
    apiVersion = CRS, kind = "ClusterResourceSet",
    metadata = { name = "calico-installation-" .. c, namespace = M.NAMESPACE },
    spec = { clusterSelector = { matchLabels = { ["konvoy.d2iq.io/cni"] = "calico" } }, strategy = "ApplyOnce",
             resources = W.json.array { { kind = "ConfigMap", name = "calico-cni-" .. c } } },
  })
  add({
    apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = "calico-cni-" .. c, namespace = M.NAMESPACE },
    data = { ["custom-resources.yaml"] = table.concat({
      "apiVersion: operator.tigera.io/v1", "kind: Installation", "metadata:", "  name: default", "spec:",
      "  cni:", "    type: Calico", "  calicoNetwork:", "    bgp: Enabled", "    ipPools:",
      "    - cidr: " .. rec.podSubnet, "      encapsulation: IPIP", "", }, "\n") },
  })
  local specs = fixture.node_specs(rec)
  local cp_labels = { [M.CLUSTER_LABEL] = c, [M.CONTROL_PLANE_LABEL] = "" }
  for _, n in ipairs(specs) do
    if n.pool.controlPlane then
      machine_objects(W, rec, add, n, string.format("%s-control-plane-%d", c, n.index), cp_labels, kcp,
                      { joinConfiguration = { nodeRegistration = { name = n.name } } })
    end
  end
  for _, p in ipairs(rec.nodePools) do
    local md_name = c .. "-" .. p.name
    local sel = { [M.CLUSTER_LABEL] = c, [M.DEPLOYMENT_LABEL] = md_name }
    local template_spec = {
      clusterName = c, version = rec.kubernetesVersion, failureDomain = rec.availabilityZones[1],
      bootstrap = { configRef = { apiVersion = CABPK, kind = "KubeadmConfigTemplate", name = md_name, namespace = M.NAMESPACE } },
      infrastructureRef = ref(CAPA, "AWSMachineTemplate", md_name),
    }
    local md = add({
      apiVersion = CAPI, kind = "MachineDeployment",
      metadata = { name = md_name, namespace = M.NAMESPACE, labels = util.copy(cl) },
      spec = {
        clusterName = c, replicas = p.count,
        selector = { matchLabels = util.copy(sel) },
        template = { metadata = { labels = util.copy(sel) }, spec = util.copy(template_spec) },
        strategy = { type = "RollingUpdate", rollingUpdate = { maxSurge = 1, maxUnavailable = 0 } },
      },
    }, cluster)
    add(machine_template(W, rec, md_name, p, "nodes"), cluster)
    add({
      apiVersion = CABPK, kind = "KubeadmConfigTemplate",
      metadata = { name = md_name, namespace = M.NAMESPACE, labels = util.copy(cl) },
      spec = { template = { spec = { joinConfiguration = { nodeRegistration = {
        name = "{{ ds.meta_data.local_hostname }}", kubeletExtraArgs = { ["cloud-provider"] = "aws" } } } } } },
    }, cluster)
    local set_labels = util.copy(sel)
    set_labels[M.SET_LABEL] = md_name
    local ms = add({
      apiVersion = CAPI, kind = "MachineSet",
      metadata = { name = md_name, namespace = M.NAMESPACE, labels = util.copy(set_labels) },
      spec = { clusterName = c, replicas = p.count, selector = { matchLabels = util.copy(sel) },
               template = { metadata = { labels = util.copy(set_labels) }, spec = util.copy(template_spec) } },
    }, md)
    local i = 0
    for _, n in ipairs(specs) do
      if n.pool == p then
        machine_objects(W, rec, add, n, string.format("%s-%d", md_name, i), set_labels, ms,
                        { joinConfiguration = { nodeRegistration = { name = n.name } } })
        i = i + 1
      end
    end
  end
  return out
end

-- The ownerReference pointing at a stored object.
function M.owner_ref(obj, controller)
  return { apiVersion = obj.apiVersion, kind = obj.kind, name = obj.metadata.name, uid = obj.metadata.uid,
           controller = controller or nil, blockOwnerDeletion = controller or nil }
end

return M
