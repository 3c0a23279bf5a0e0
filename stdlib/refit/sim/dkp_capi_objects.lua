-- refit.sim.dkp_capi_objects: the Cluster API objects of a DKP cluster, in the shapes the API server
-- returns them (cluster.x-k8s.io/v1beta1 and its provider groups): Cluster, AWSCluster, machine
-- templates, KubeadmControlPlane, MachineDeployment, MachineSet, Machine, the kubeconfig Secret,
-- the ClusterResourceSets and ConfigMaps of the core addons; and the workload cluster's Nodes.
--
-- Builders only: dkp.lua creates what the fixture describes, dkp_capi.lua what rollouts add.

local util = require "refit.sim.util"
local base64 = require "refit.base64"
local R = require "refit.sim.dkp_releases"

return function(W)
  local O = {}
  local arr = W.json.array

  O.CAPI = "cluster.x-k8s.io/v1beta1"
  O.KCP_API = "controlplane.cluster.x-k8s.io/v1beta1"
  O.INFRA_API = "infrastructure.cluster.x-k8s.io/v1beta1"
  O.BOOTSTRAP_API = "bootstrap.cluster.x-k8s.io/v1beta1"
  O.CRS_API = "addons.cluster.x-k8s.io/v1beta1"
  O.CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
  O.CP_LABEL = "cluster.x-k8s.io/control-plane"
  O.MD_LABEL = "cluster.x-k8s.io/deployment-name"
  O.MS_LABEL = "cluster.x-k8s.io/set-name"

  local INFRA = {
    aws = { cluster = "AWSCluster", template = "AWSMachineTemplate", machine = "AWSMachine" },
    azure = { cluster = "AzureCluster", template = "AzureMachineTemplate", machine = "AzureMachine" },
    preprovisioned = { cluster = "PreprovisionedCluster", template = "PreprovisionedMachineTemplate", machine = "PreprovisionedMachine" },
  }
  O.INFRA = INFRA
  function O.provider_of(kind)
    for p, k in pairs(INFRA) do if k.cluster == kind then return p end end
  end

  -- the time stamp of conditions written now (one string per instant: a fleet loads 10,000 machines at 0)
  local stamp_at, stamp
  local function now_stamp()
    local t = W.now()
    if t ~= stamp_at then stamp_at, stamp = t, util.k8s_time(t) end
    return stamp
  end
  local function cond(ctype, status, reason, message)
    return { type = ctype, status = status, reason = reason, message = message, lastTransitionTime = now_stamp() }
  end
  O.cond = cond

  -- "v1.21.6" -> 10 hex characters naming the templates and MachineSet of that version
  function O.template_hash(name, version) return util.hash_hex(name .. "@" .. version, 10) end

  -- Cluster ----------------------------------------------------------------------------------------

  function O.cluster(s)
    local infra = INFRA[s.provider]
    return {
      apiVersion = O.CAPI, kind = "Cluster",
      metadata = { name = s.cluster, namespace = s.namespace,
                   labels = { ["konvoy.d2iq.io/cluster-name"] = s.cluster, ["konvoy.d2iq.io/provider"] = s.provider } },
      spec = {
        clusterNetwork = { pods = { cidrBlocks = arr { "192.168.0.0/16" } }, services = { cidrBlocks = arr { "10.96.0.0/12" } } },
        controlPlaneEndpoint = { host = s.endpoint, port = 6443 },
        controlPlaneRef = { apiVersion = O.KCP_API, kind = "KubeadmControlPlane", name = s.cluster .. "-control-plane", namespace = s.namespace },
        infrastructureRef = { apiVersion = O.INFRA_API, kind = infra.cluster, name = s.cluster, namespace = s.namespace },
      },
      status = {
        phase = "Provisioned", controlPlaneReady = true, infrastructureReady = true, observedGeneration = 1,
        conditions = arr { cond("Ready", "True"), cond("ControlPlaneInitialized", "True"), cond("ControlPlaneReady", "True"),
                           cond("InfrastructureReady", "True") },
      },
    }
  end

  function O.infra_cluster(s)
    local spec
    if s.provider == "aws" then
      spec = { region = s.region, sshKeyName = "dkp-" .. s.cluster,
               network = { vpc = { id = "vpc-" .. util.hash_hex(s.cluster .. "vpc", 17) } },
               controlPlaneEndpoint = { host = s.endpoint, port = 6443 } }
    else
      spec = { controlPlaneEndpoint = { host = s.endpoint, port = 6443 } }
    end
    return { apiVersion = O.INFRA_API, kind = INFRA[s.provider].cluster,
             metadata = { name = s.cluster, namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster } },
             spec = spec, status = { ready = true } }
  end

  -- A machine template for `owner` (the KCP or MD name) at `version`: named <owner>-<hash>.
  function O.machine_template(s, owner, version, instance_type)
    local name = owner .. "-" .. O.template_hash(owner, version)
    local spec = { instanceType = instance_type }
    if s.provider == "aws" then
      spec.ami = { id = R.AMI[version] or ("ami-" .. util.hash_hex(version, 17)) }
      spec.iamInstanceProfile = owner:match("control%-plane$") and "control-plane.cluster-api-provider-aws.sigs.k8s.io"
                                or "nodes.cluster-api-provider-aws.sigs.k8s.io"
      spec.sshKeyName = "dkp-" .. s.cluster
    end
    return { apiVersion = O.INFRA_API, kind = INFRA[s.provider].template,
             metadata = { name = name, namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster } },
             spec = { template = { spec = spec } } }
  end

  function O.kubeadm_config_template(s, pool)
    return { apiVersion = O.BOOTSTRAP_API, kind = "KubeadmConfigTemplate",
             metadata = { name = pool, namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster } },
             spec = { template = { spec = { joinConfiguration = { nodeRegistration = {
               name = "{{ ds.meta_data.local_hostname }}", kubeletExtraArgs = { ["cloud-provider"] = s.provider } } } } } } }
  end

  -- Control plane and node pools ------------------------------------------------------------------

  function O.kcp(s, template, version)
    local name = s.cluster .. "-control-plane"
    local n = s.controlPlane.replicas
    return {
      apiVersion = O.KCP_API, kind = "KubeadmControlPlane",
      metadata = { name = name, namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster } },
      spec = {
        replicas = n, version = version,
        machineTemplate = { infrastructureRef = { apiVersion = O.INFRA_API, kind = INFRA[s.provider].template,
                                                  name = template, namespace = s.namespace } },
        kubeadmConfigSpec = { clusterConfiguration = { apiServer = { extraArgs = { ["cloud-provider"] = s.provider } },
                                                       controllerManager = { extraArgs = { ["cloud-provider"] = s.provider } } },
                              initConfiguration = { nodeRegistration = { name = "{{ ds.meta_data.local_hostname }}" } },
                              joinConfiguration = { nodeRegistration = { name = "{{ ds.meta_data.local_hostname }}" } } },
        rolloutStrategy = { type = "RollingUpdate", rollingUpdate = { maxSurge = 1 } },
      },
      status = {
        replicas = n, updatedReplicas = n, readyReplicas = n, unavailableReplicas = 0, version = version,
        ready = true, initialized = true, observedGeneration = 1,
        selector = O.CLUSTER_LABEL .. "=" .. s.cluster .. "," .. O.CP_LABEL,
        conditions = arr { cond("Ready", "True"), cond("Available", "True"), cond("CertificatesAvailable", "True"),
                           cond("MachinesReady", "True"), cond("MachinesSpecUpToDate", "True"), cond("Resized", "True") },
      },
    }
  end

  function O.machine_deployment(s, pool, template, version)
    local labels = { [O.CLUSTER_LABEL] = s.cluster, [O.MD_LABEL] = pool.name }
    local n = pool.replicas
    return {
      apiVersion = O.CAPI, kind = "MachineDeployment",
      metadata = { name = pool.name, namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster },
                   annotations = { ["machinedeployment.clusters.x-k8s.io/revision"] = "1" } },
      spec = {
        clusterName = s.cluster, replicas = n, minReadySeconds = 0, progressDeadlineSeconds = 600, revisionHistoryLimit = 1,
        selector = { matchLabels = util.copy(labels) },
        strategy = { type = "RollingUpdate", rollingUpdate = { maxSurge = 1, maxUnavailable = 0 } },
        template = {
          metadata = { labels = util.copy(labels) },
          spec = {
            clusterName = s.cluster, version = version,
            bootstrap = { configRef = { apiVersion = O.BOOTSTRAP_API, kind = "KubeadmConfigTemplate", name = pool.name, namespace = s.namespace } },
            infrastructureRef = { apiVersion = O.INFRA_API, kind = INFRA[s.provider].template, name = template, namespace = s.namespace },
          },
        },
      },
      status = {
        replicas = n, updatedReplicas = n, readyReplicas = n, availableReplicas = n, unavailableReplicas = 0,
        phase = "Running", observedGeneration = 1,
        selector = O.CLUSTER_LABEL .. "=" .. s.cluster .. "," .. O.MD_LABEL .. "=" .. pool.name,
        conditions = arr { cond("Ready", "True"), cond("Available", "True") },
      },
    }
  end

  function O.machine_set(ns, cluster, md, hash, version, replicas)
    local name = md .. "-" .. hash
    return {
      apiVersion = O.CAPI, kind = "MachineSet",
      metadata = { name = name, namespace = ns,
                   labels = { [O.CLUSTER_LABEL] = cluster, [O.MD_LABEL] = md, ["machine-template-hash"] = hash },
                   ownerReferences = arr { { apiVersion = O.CAPI, kind = "MachineDeployment", name = md, controller = true } } },
      spec = { clusterName = cluster, replicas = replicas,
               template = { spec = { clusterName = cluster, version = version } } },
      status = { replicas = replicas, readyReplicas = replicas, availableReplicas = replicas, fullyLabeledReplicas = replicas },
    }
  end

  -- A Machine. m: { name, namespace, cluster, version, control_plane = bool, md =, hash =, owner =,
  -- provider, zone, instance, node = node name or nil (still provisioning), phase }
  function O.machine(m)
    local labels = { [O.CLUSTER_LABEL] = m.cluster }
    local owner
    if m.control_plane then
      labels[O.CP_LABEL] = ""
      owner = { apiVersion = O.KCP_API, kind = "KubeadmControlPlane", name = m.owner, controller = true }
    else
      labels[O.MD_LABEL] = m.md
      labels[O.MS_LABEL] = m.md .. "-" .. m.hash
      labels["machine-template-hash"] = m.hash
      owner = { apiVersion = O.CAPI, kind = "MachineSet", name = m.md .. "-" .. m.hash, controller = true }
    end
    local infra = INFRA[m.provider] or INFRA.aws
    local status
    if m.node then
      status = O.machine_running(m.node)
    else
      status = { phase = "Provisioning", bootstrapReady = true, infrastructureReady = false,
                 conditions = arr { cond("Ready", "False", "WaitingForInfrastructure", nil),
                                    cond("BootstrapReady", "True"), cond("InfrastructureReady", "False", "WaitingForInfrastructure") } }
    end
    return {
      apiVersion = O.CAPI, kind = "Machine",
      metadata = { name = m.name, namespace = m.namespace, labels = labels, ownerReferences = arr { owner } },
      spec = {
        clusterName = m.cluster, version = m.version,
        bootstrap = { configRef = { apiVersion = O.BOOTSTRAP_API, kind = "KubeadmConfig", name = m.name, namespace = m.namespace },
                      dataSecretName = m.name },
        infrastructureRef = { apiVersion = O.INFRA_API, kind = infra.machine, name = m.name, namespace = m.namespace },
        providerID = m.instance and string.format("aws:///%s/%s", m.zone, m.instance) or nil,
        failureDomain = m.zone,
      },
      status = status,
    }
  end

  -- a Running machine's conditions, built once per instant and shared (the store copies what it gets)
  local running_at, running_conds
  function O.machine_running(node)
    if running_at ~= W.now() then
      running_at = W.now()
      running_conds = arr { cond("Ready", "True"), cond("BootstrapReady", "True"), cond("InfrastructureReady", "True"),
                            cond("NodeHealthy", "True") }
    end
    return {
      phase = "Running", bootstrapReady = true, infrastructureReady = true,
      nodeRef = { apiVersion = "v1", kind = "Node", name = node },
      conditions = running_conds,
    }
  end

  -- The workload cluster's Node of a machine. n: { name, ip, zone, instance, instanceType, kubelet,
  -- control_plane, ready, labels (copied from a node it replaces) }
  function O.node(kube, n)
    local labels = {}
    for k, v in pairs(n.labels or {}) do labels[k] = v end
    labels["kubernetes.io/hostname"] = nil
    labels["topology.kubernetes.io/zone"] = n.zone
    labels["topology.kubernetes.io/region"] = n.region
    labels["node.kubernetes.io/instance-type"] = n.instanceType
    local taints
    if n.control_plane then
      labels["node-role.kubernetes.io/control-plane"] = ""
      labels["node-role.kubernetes.io/master"] = ""
      taints = { { key = "node-role.kubernetes.io/master", effect = "NoSchedule" } }
    end
    local node = kube.node_object {
      name = n.name, labels = labels, taints = taints, kubeletVersion = n.kubelet, ready = n.ready,
      providerID = n.instance and string.format("aws:///%s/%s", n.zone, n.instance) or nil,
      internalIP = n.ip, internalDNS = n.name, osImage = "CentOS Linux 7 (Core)",
      kernelVersion = "3.10.0-1160.45.1.el7.x86_64", containerRuntime = "containerd://1.4.13",
      capacity = { cpu = "8", memory = "32408484Ki", pods = "110" },
    }
    return node
  end

  -- Node and instance naming: the i-th address of a cluster. AWS names nodes after their private DNS.
  function O.address(cluster, region, i)
    local ip = string.format("10.0.%d.%d", 64 + (i // 250) % 190, i % 250 + 4)
    local dns = region == "us-east-1" and "ec2.internal" or (region .. ".compute.internal")
    local zone = region .. string.char(97 + i % 3)
    return { ip = ip, name = "ip-" .. ip:gsub("%.", "-") .. "." .. dns, zone = zone,
             instance = "i-0" .. util.hash_hex(cluster .. "#" .. i, 16) }
  end

  -- Access ------------------------------------------------------------------------------------------

  -- The admin kubeconfig CAPI writes for a cluster. Its cluster entry and current context name the
  -- world cluster; the credentials are fake, and never printed (the Secret's data is masked).
  function O.kubeconfig(cluster, endpoint)
    local fake = base64.encode("simulated " .. cluster .. " credential (not a real key)")
    return table.concat({
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: " .. cluster,
      "  cluster:",
      "    server: https://" .. endpoint .. ":6443",
      "    certificate-authority-data: " .. fake,
      "contexts:",
      "- name: " .. cluster .. "-admin@" .. cluster,
      "  context:",
      "    cluster: " .. cluster,
      "    user: " .. cluster .. "-admin",
      "current-context: " .. cluster .. "-admin@" .. cluster,
      "users:",
      "- name: " .. cluster .. "-admin",
      "  user:",
      "    client-certificate-data: " .. fake,
      "    client-key-data: " .. fake,
      "",
    }, "\n")
  end

  function O.kubeconfig_secret(s)
    return {
      apiVersion = "v1", kind = "Secret", type = "cluster.x-k8s.io/secret",
      metadata = { name = s.cluster .. "-kubeconfig", namespace = s.namespace, labels = { [O.CLUSTER_LABEL] = s.cluster },
                   ownerReferences = arr { { apiVersion = O.KCP_API, kind = "KubeadmControlPlane", name = s.cluster .. "-control-plane", controller = true } } },
      data = { value = base64.encode(O.kubeconfig(s.cluster, s.endpoint)) },
    }
  end

  -- Core addons --------------------------------------------------------------------------------------

  -- The addons of a provider, in R.addons order.
  function O.addons_for(provider)
    local out = {}
    for _, a in ipairs(R.addons) do
      if a.provider == nil or a.provider == provider then out[#out + 1] = a end
    end
    return out
  end

  -- The ClusterResourceSet and ConfigMap of one addon of a cluster, at a release's addon set.
  function O.addon_objects(cluster, namespace, addon, set)
    local name = addon.name .. "-" .. cluster
    local image = addon.images[set]
    local manifest = table.concat({
      "# " .. addon.what .. ", DKP core addon (generated by dkp; manual edits are lost on `dkp upgrade addons`)",
      "apiVersion: apps/v1",
      "kind: " .. (addon.name == "calico-cni-installation" and "DaemonSet" or "Deployment"),
      "metadata:",
      "  name: " .. addon.name,
      "spec:",
      "  template:",
      "    spec:",
      "      containers:",
      "      - name: " .. addon.name,
      "        image: " .. image,
      "",
    }, "\n")
    local crs = {
      apiVersion = O.CRS_API, kind = "ClusterResourceSet",
      metadata = { name = name, namespace = namespace, labels = { [O.CLUSTER_LABEL] = cluster } },
      spec = { clusterSelector = { matchLabels = { ["konvoy.d2iq.io/cluster-name"] = cluster } },
               resources = arr { { kind = "ConfigMap", name = name } }, strategy = "ApplyOnce" },
    }
    local cm = {
      apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = name, namespace = namespace, labels = { [O.CLUSTER_LABEL] = cluster } },
      data = { [addon.key] = manifest },
    }
    return crs, cm
  end

  return O
end
