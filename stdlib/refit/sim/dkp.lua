-- refit.sim.dkp: D2iQ DKP 2.x (Konvoy on Cluster API + Kommander) in the simulated world.
--
-- A cluster's `dkp` fixture section (docs/fixtures.md, "DKP"; validated by dkp_fixture.lua) makes it
-- a DKP management, managed or attached cluster. The model creates:
--   * in each management / managed cluster: its Nodes (control plane and node pools), with kubelets;
--   * on the management cluster, for itself (namespace default) and for every managed cluster (in its
--     workspace namespace): the Cluster API objects (dkp_capi_objects.lua), the `<cluster>-kubeconfig`
--     Secret, the core addons' ClusterResourceSets, and the clusterctl Provider objects;
--   * Kommander (dkp_kommander.lua): workspaces, projects, platform / catalog / custom apps,
--     KommanderClusters, HelmReleases on every cluster they reach, MetalLB, Velero.
-- Controllers: CAPI rollouts on every world cluster (dkp_capi.lua, whose header is the contract with
-- the Konvoy adoption model), AppDeployment and HelmRelease reconciliation. Tool: `dkp` (dkp_cli.lua).

local dkp_fixture = require "refit.sim.dkp_fixture"
local R = require "refit.sim.dkp_releases"
local util = require "refit.sim.util"

local FAULTS = {
  -- a new machine of a node pool (MachineDeployment) never gets a Ready node; with failureMessage
  -- its instance fails to provision (Machine phase Failed)
  ["dkp-nodepool-update-fails"] = { nodepool = "string", failureMessage = "string" },
  -- the same for a new control-plane machine (controlplane = the KubeadmControlPlane's name)
  ["dkp-controlplane-update-fails"] = { controlplane = "string", failureMessage = "string" },
  -- a HelmRelease's reconciliation ends Ready False ("upgrade retries exhausted")
  ["dkp-helmrelease-fails"] = { release = "string", namespace = "string", version = "string", message = "string" },
  -- `dkp upgrade kommander` fails before it changes anything
  ["dkp-kommander-upgrade-fails"] = { message = "string" },
}

return {
  section = "dkp",
  faults = FAULTS,
  version = dkp_fixture.version,
  new = function(W, env)
    local O = require("refit.sim.dkp_capi_objects")(W)
    local capi = require("refit.sim.dkp_capi")(W, env, O)
    local kommander = require("refit.sim.dkp_kommander")(W, env)
    local sections = {}

    -- The workload side of a cluster: its Nodes, named after their private DNS, with kubelets.
    local function create_nodes(s)
      local c = W.cluster(s.cluster)
      local i = 0
      s.nodes = { controlPlane = {}, pools = {} }
      local function add(kubelet, instance_type, control_plane, list)
        local a = O.address(s.cluster, s.region, i)
        i = i + 1
        a.kubelet, a.instanceType, a.control_plane, a.ready, a.region = kubelet, instance_type, control_plane, true, s.region
        local node = O.node(env.kube, a)
        c:create(node, { quiet = true })
        env.kube.observe_node(s.cluster, node)
        list[#list + 1] = a
      end
      for _ = 1, s.controlPlane.replicas do
        add(s.controlPlane.kubeletVersion or s.kubernetes, s.controlPlane.instanceType, true, s.nodes.controlPlane)
      end
      for _, p in ipairs(s.nodePools) do
        s.nodes.pools[p.name] = {}
        for _ = 1, p.replicas do add(p.kubeletVersion or s.kubernetes, p.instanceType, false, s.nodes.pools[p.name]) end
      end
    end

    local function create_velero(s, namespaces)
      local c = W.cluster(s.cluster)
      namespaces.velero = true
      c:create({ apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "velero", namespace = "velero",
                   labels = { ["app.kubernetes.io/name"] = "velero" } },
                 spec = { replicas = 1, selector = { matchLabels = { ["app.kubernetes.io/name"] = "velero" } },
                          template = { metadata = { labels = { ["app.kubernetes.io/name"] = "velero" } },
                                       spec = { containers = W.json.array { { name = "velero", image = "velero/velero:v1.7.1" } } } } } },
               { quiet = true })
      c:create({ apiVersion = "velero.io/v1", kind = "BackupStorageLocation", metadata = { name = "default", namespace = "velero" },
                 spec = { provider = "aws", default = true, objectStorage = { bucket = "dkp-velero" } },
                 status = { phase = "Available" } }, { quiet = true })
    end

    -- Machines of the fixture's nodes (each already Running with its nodeRef).
    local function create_machines(s, mc)
      local used = {}
      local function unique(base)
        local suffix, salt = util.hash_name(base, 5), 0
        while used[suffix] do
          salt = salt + 1
          suffix = util.hash_name(base .. "#" .. salt, 5)
        end
        used[suffix] = true
        return suffix
      end
      local kcp = s.cluster .. "-control-plane"
      for j, n in ipairs(s.nodes.controlPlane) do
        mc:create(O.machine { name = kcp .. "-" .. unique(kcp .. j), namespace = s.namespace, cluster = s.cluster,
                              version = n.kubelet, control_plane = true, owner = kcp, provider = s.provider,
                              zone = n.zone, instance = n.instance, node = n.name }, { quiet = true })
      end
      for _, p in ipairs(s.nodePools) do
        local version = p.kubeletVersion or s.kubernetes
        local hash = O.template_hash(p.name, version)
        mc:create(O.machine_set(s.namespace, s.cluster, p.name, hash, version, p.replicas), { quiet = true })
        used = {}
        for j, n in ipairs(s.nodes.pools[p.name]) do
          mc:create(O.machine { name = p.name .. "-" .. hash .. "-" .. unique(p.name .. j), namespace = s.namespace,
                                cluster = s.cluster, version = n.kubelet, md = p.name, hash = hash, provider = s.provider,
                                zone = n.zone, instance = n.instance, node = n.name }, { quiet = true })
        end
      end
    end

    -- Whether node pool `p` of section `s` is a rollout an earlier run started (fixture `version`
    -- newer than its machines').
    local function rolling(s, p)
      return p.version ~= nil and p.version ~= (p.kubeletVersion or s.kubernetes)
    end

    -- The Cluster API objects of cluster `s` on management cluster `m`.
    local function create_capi(s, m)
      local mc = W.cluster(m.cluster)
      kommander.ensure_ns(mc, s.namespace)
      s.endpoint = s.cluster .. "-apiserver-" .. (util.fnv1a(s.cluster) % 1000000000) .. "." .. s.region .. ".elb.amazonaws.com"
      mc:create(O.cluster(s), { quiet = true })
      mc:create(O.infra_cluster(s), { quiet = true })
      local cp_version = s.controlPlane.kubeletVersion or s.kubernetes
      local cp_template = O.machine_template(s, s.cluster .. "-control-plane", cp_version, s.controlPlane.instanceType)
      mc:create(cp_template, { quiet = true })
      mc:create(O.kcp(s, cp_template.metadata.name, cp_version), { quiet = true })
      for _, p in ipairs(s.nodePools) do
        local version = p.kubeletVersion or s.kubernetes
        local t = O.machine_template(s, p.name, p.version or version, p.instanceType)
        mc:create(t, { quiet = true })
        mc:create(O.kubeadm_config_template(s, p.name), { quiet = true })
        local md = O.machine_deployment(s, p, t.metadata.name, p.version or version)
        if rolling(s, p) then
          -- a rollout left half done: no machine at the new version yet
          md.status.updatedReplicas = 0
          md.metadata.annotations["machinedeployment.clusters.x-k8s.io/revision"] = "2"
        end
        mc:create(md, { quiet = true })
      end
      create_machines(s, mc)
      mc:create(O.kubeconfig_secret(s), { quiet = true })
      local set = s.addons or R.releases[s.version].addons
      for _, addon in ipairs(O.addons_for(s.provider)) do
        local crs, cm = O.addon_objects(s.cluster, s.namespace, addon, set)
        mc:create(crs, { quiet = true })
        mc:create(cm, { quiet = true })
      end
    end

    local function create_providers(m)
      local mc = W.cluster(m.cluster)
      local versions = R.provider_versions[R.releases[m.version].providers]
      for _, p in ipairs(R.providers) do
        if p.type ~= "InfrastructureProvider" or p.providerName == m.provider then
          kommander.ensure_ns(mc, p.namespace)
          mc:create({ apiVersion = "clusterctl.cluster.x-k8s.io/v1alpha3", kind = "Provider",
                      metadata = { name = p.name, namespace = p.namespace,
                                   labels = { ["clusterctl.cluster.x-k8s.io"] = "", ["clusterctl.cluster.x-k8s.io/core"] = p.type == "CoreProvider" and "inventory" or nil } },
                      type = p.type, providerName = p.providerName, version = versions[p.name] }, { quiet = true })
        end
      end
    end

    return {
      load = function(c, spec, path, namespaces)
        local s = dkp_fixture.normalize(env.check, c.name, spec, path, c.version or W.cluster(c.name):version().gitVersion)
        sections[#sections + 1] = s
        sections[c.name] = s
        if s.role ~= "attached" then create_nodes(s) end
        if s.role == "management" then
          kommander.load_management(s, namespaces)
          if s.velero then create_velero(s, namespaces) end
        end
      end,

      start = function()
        dkp_fixture.link(env.check, sections)
        local members = {}
        for _, s in ipairs(sections) do
          if s.role == "management" then
            create_providers(s)
            create_capi(s, s)
          else
            members[s.management] = members[s.management] or {}
            table.insert(members[s.management], s)
          end
        end
        for _, s in ipairs(sections) do
          if s.role == "managed" then create_capi(s, sections[s.management]) end
          if s.role == "attached" then
            -- Kommander reaches an attached cluster through the kubeconfig given when attaching it:
            -- Secret <cluster>-kubeconfig in its workspace namespace (KommanderCluster kubeconfigRef)
            local mc = W.cluster(s.management)
            kommander.ensure_ns(mc, s.namespace)
            s.endpoint = s.cluster .. "-apiserver-" .. (util.fnv1a(s.cluster) % 1000000000) .. ".attached.example.com"
            mc:create(O.kubeconfig_secret(s), { quiet = true })
          end
          if s.role ~= "management" then
            local namespaces = {}
            kommander.load_workspace_releases(s, namespaces)
            for ns in pairs(namespaces) do kommander.ensure_ns(W.cluster(s.cluster), ns) end
          end
        end
        for _, s in ipairs(sections) do
          if s.role == "management" then kommander.link(s, members[s.cluster] or {}) end
        end
        -- controllers: CAPI on every world cluster (the Konvoy adoption creates CAPI objects in
        -- clusters without a dkp section), Kommander on the DKP clusters
        for _, name in ipairs(W.clusters()) do capi.known(name) end
        for _, name in ipairs(W.clusters()) do capi.start(name) end
        for _, s in ipairs(sections) do kommander.start_cluster(s.cluster, s.role == "management") end
        -- the CAPI controllers go on with a rollout the fixture left half done, as they would
        for _, s in ipairs(sections) do
          for _, p in ipairs(s.nodePools or {}) do
            if rolling(s, p) then
              capi.kick(s.role == "management" and s.cluster or s.management, "MachineDeployment", s.namespace, p.name)
            end
          end
        end
        require("refit.sim.dkp_cli")(W, env, { O = O, kommander = kommander, sections = sections })
      end,
    }
  end,
}
