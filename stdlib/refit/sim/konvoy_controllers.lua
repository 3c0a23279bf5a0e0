-- refit.sim.konvoy_controllers: what happens over time in a Konvoy 1.8 cluster being adopted.
--
--  * StatefulSets (the EBS CSI controllers; refit.sim.kube has no StatefulSet controller): a new pod
--    template replaces the pods one at a time, 20-40 s each, on a Ready node that the template's
--    nodeSelector and tolerations allow; with no such node the rollout waits forever (Pending pod).
--    Pods are not materialised; the status is what `kubectl rollout status` reads.
--  * Adoption (after `dkp adopt cluster aws` unpaused the Cluster): 40-90 s later the CAPI / CAPA
--    controllers have reconciled the adopted objects: AWSCluster ready, Cluster Provisioned and Ready,
--    KubeadmControlPlane and MachineDeployments Ready with every replica ready. 60-120 s after that
--    the calico ClusterResourceSet has installed the Tigera operator, which moves Calico to the
--    `calico-system` namespace (DaemonSet calico-system/calico-node; kube-system/calico-node goes).
--  * Scenario fault `konvoy-calico-rollout-stalls`: the pods of calico-node's patched template never
--    become ready (the rollout stops after its first node) until the template is put back.

local util = require "refit.sim.util"
local capi = require "refit.sim.konvoy_capi"

local STS_STEP_MIN, STS_STEP_MAX = 20000, 40000
local RECONCILE_MIN, RECONCILE_MAX = 40000, 90000
local TIGERA_MIN, TIGERA_MAX = 60000, 120000
local CALICO_IMAGE = "calico/node:"

return function(W, env)
  local C = {}

  -- StatefulSets ----------------------------------------------------------------------------------

  local function revision(obj)
    return obj.metadata.name .. "-" .. util.hash_name(util.canonical(util.get(obj, "spec", "template")), 10)
  end

  -- Whether a Ready node takes the template's pods (nodeSelector, NoSchedule/NoExecute taints).
  local function placeable(c, tspec)
    for _, node in ipairs(c:list { kind = "Node" }) do
      local ready = false
      for _, cond in ipairs(util.get(node, "status", "conditions") or {}) do
        if cond.type == "Ready" and cond.status == "True" then ready = true end
      end
      local taints = {}
      for _, t in ipairs(util.get(node, "spec", "taints") or {}) do
        if t.effect == "NoSchedule" or t.effect == "NoExecute" then taints[#taints + 1] = t end
      end
      if ready and not util.get(node, "spec", "unschedulable")
          and util.map_matches(tspec.nodeSelector, node.metadata.labels or {})
          and util.tolerates(tspec.tolerations, taints) then
        return true
      end
    end
    return false
  end

  local function sts_ready_status(obj, rev)
    local n = util.get(obj, "spec", "replicas") or 1
    return { observedGeneration = obj.metadata.generation or 1, replicas = n, readyReplicas = n, currentReplicas = n,
             updatedReplicas = n, availableReplicas = n, currentRevision = rev, updateRevision = rev, collisionCount = 0 }
  end

  local sts_timers = {}

  local function sts_roll(cluster, obj)
    local c = W.cluster(cluster)
    local key = cluster .. "/" .. obj.metadata.namespace .. "/" .. obj.metadata.name
    local ref = { kind = "StatefulSet", namespace = obj.metadata.namespace, name = obj.metadata.name }
    local n = util.get(obj, "spec", "replicas") or 1
    local rev = revision(obj)
    local current = util.get(obj, "status", "currentRevision") or rev
    if sts_timers[key] then W.cancel(sts_timers[key]) end
    -- the highest ordinal goes first: one pod down while its replacement starts
    c:patch_status(ref, { observedGeneration = obj.metadata.generation, updateRevision = rev, currentRevision = current,
                          updatedReplicas = 0, readyReplicas = n - 1, availableReplicas = n - 1 }, { quiet = true })
    local done = 0
    local function step()
      sts_timers[key] = nil
      local now = c:get(ref)
      if not now or revision(now) ~= rev then return end
      if not placeable(c, util.get(now, "spec", "template", "spec") or {}) then return end  -- Pending for good
      done = done + 1
      if done >= n then
        c:patch_status(ref, sts_ready_status(now, rev), { quiet = true })
      else
        c:patch_status(ref, { updatedReplicas = done, readyReplicas = n - 1, availableReplicas = n - 1 }, { quiet = true })
        sts_timers[key] = W.after(W.random(STS_STEP_MIN, STS_STEP_MAX), step, key .. " statefulset rollout step")
      end
    end
    sts_timers[key] = W.after(W.random(STS_STEP_MIN, STS_STEP_MAX), step, key .. " statefulset rollout step")
  end

  function C.statefulsets(cluster)
    local c = W.cluster(cluster)
    for _, obj in ipairs(c:list { kind = "StatefulSet" }) do
      c:patch_status({ kind = "StatefulSet", namespace = obj.metadata.namespace, name = obj.metadata.name },
                     sts_ready_status(obj, revision(obj)), { quiet = true })
    end
    W.on_change(cluster, "StatefulSet", function(ch)
      local obj = ch.object
      if ch.type ~= "MODIFIED" then return end
      if (obj.metadata.generation or 1) > (util.get(obj, "status", "observedGeneration") or 0) then sts_roll(cluster, obj) end
    end)
  end

  -- The calico-node rollout fault -------------------------------------------------------------------

  -- cluster -> fingerprint of the calico-node template whose pods never become ready
  local stalled, stall_active = {}, {}

  -- Registered before refit.sim.kube's own DaemonSet watcher (load runs before kube.start), so the
  -- DaemonSet controller sees the stall when it looks at the new template. refit.sim.faults offers
  -- no hook for "these pods crash" decided per template, so its pod_crashes is wrapped once.
  local wrapped = false
  function C.calico_fault(cluster)
    if not wrapped then
      wrapped = true
      local pod_crashes = env.faults.pod_crashes
      env.faults.pod_crashes = function(name, images)
        if stall_active[name] then
          for _, image in ipairs(images or {}) do
            if image:find(CALICO_IMAGE, 1, true) then return true end
          end
        end
        return pod_crashes(name, images)
      end
    end
    local c = W.cluster(cluster)
    local ds = c:get { kind = "DaemonSet", namespace = "kube-system", name = "calico-node" }
    local baseline = ds and util.canonical(util.get(ds, "spec", "template"))
    W.on_change(cluster, "DaemonSet", function(ch)
      local obj = ch.object
      if ch.type ~= "MODIFIED" or obj.metadata.namespace ~= "kube-system" or obj.metadata.name ~= "calico-node" then return end
      local fp = util.canonical(util.get(obj, "spec", "template"))
      if fp ~= baseline and not stalled[cluster] and
          env.faults.take("konvoy-calico-rollout-stalls", cluster, {}, "the new calico-node pods on " .. cluster ..
                          " never become ready") then
        stalled[cluster] = fp
      end
      stall_active[cluster] = stalled[cluster] ~= nil and stalled[cluster] == fp
    end)
  end

  -- Adoption --------------------------------------------------------------------------------------

  local function ready_conditions(now, extra)
    local t = util.k8s_time(now)
    local out = { { type = "Ready", status = "True", lastTransitionTime = t } }
    for _, name in ipairs(extra or {}) do out[#out + 1] = { type = name, status = "True", lastTransitionTime = t } end
    return W.json.array(out)
  end

  local function list(c, kind, api, name)
    return c:list { apiVersion = api, kind = kind, namespace = capi.NAMESPACE, labels = capi.CLUSTER_LABEL .. "=" .. name }
  end

  -- The status the CAPI controllers write once they have reconciled the adopted objects. A status
  -- already written (by the CAPI rollout controllers) is left alone.
  local function reconcile(name)
    local c = W.cluster(name)
    local cluster = c:get { apiVersion = "cluster.x-k8s.io/v1beta1", kind = "Cluster", namespace = capi.NAMESPACE, name = name }
    if not cluster or util.get(cluster, "spec", "paused") then return end
    local now = W.now()
    local ns = capi.NAMESPACE
    c:patch_status({ apiVersion = "infrastructure.cluster.x-k8s.io/v1beta1", kind = "AWSCluster", namespace = ns, name = name },
                   { ready = true, conditions = ready_conditions(now, { "ClusterSecurityGroupsReady", "LoadBalancerReady", "VpcReady" }) },
                   { quiet = true })
    for _, m in ipairs(list(c, "Machine", "cluster.x-k8s.io/v1beta1", name)) do
      if not util.get(m, "status", "conditions") then
        c:patch_status({ apiVersion = m.apiVersion, kind = "Machine", namespace = ns, name = m.metadata.name },
                       { phase = "Running", conditions = ready_conditions(now, { "BootstrapReady", "InfrastructureReady", "NodeHealthy" }) },
                       { quiet = true })
      end
    end
    for _, kcp in ipairs(list(c, "KubeadmControlPlane", "controlplane.cluster.x-k8s.io/v1beta1", name)) do
      if not util.get(kcp, "status", "conditions") then
        local n = kcp.spec.replicas
        c:patch_status({ apiVersion = kcp.apiVersion, kind = kcp.kind, namespace = ns, name = kcp.metadata.name }, {
          observedGeneration = kcp.metadata.generation, replicas = n, readyReplicas = n, updatedReplicas = n,
          unavailableReplicas = 0, initialized = true, ready = true, version = kcp.spec.version,
          selector = capi.CLUSTER_LABEL .. "=" .. name .. "," .. capi.CONTROL_PLANE_LABEL,
          conditions = ready_conditions(now, { "Available", "CertificatesAvailable", "ControlPlaneComponentsHealthy",
                                               "EtcdClusterHealthy", "MachinesReady", "MachinesSpecUpToDate", "Resized" }),
        }, { quiet = true })
      end
    end
    for _, kind in ipairs { "MachineDeployment", "MachineSet" } do
      for _, md in ipairs(list(c, kind, "cluster.x-k8s.io/v1beta1", name)) do
        if not util.get(md, "status", "conditions") then
          local n = md.spec.replicas
          c:patch_status({ apiVersion = md.apiVersion, kind = kind, namespace = ns, name = md.metadata.name }, {
            observedGeneration = md.metadata.generation, replicas = n, readyReplicas = n, updatedReplicas = n,
            availableReplicas = n, unavailableReplicas = 0, fullyLabeledReplicas = kind == "MachineSet" and n or nil,
            phase = kind == "MachineDeployment" and "Running" or nil,
            selector = capi.CLUSTER_LABEL .. "=" .. name .. "," .. capi.DEPLOYMENT_LABEL .. "=" .. md.metadata.name,
            conditions = ready_conditions(now, kind == "MachineDeployment" and { "Available" } or { "MachinesCreated", "MachinesReady", "Resized" }),
          }, { quiet = true })
        end
      end
    end
    c:patch_status({ apiVersion = cluster.apiVersion, kind = "Cluster", namespace = ns, name = name }, {
      phase = "Provisioned", infrastructureReady = true, controlPlaneReady = true,
      observedGeneration = cluster.metadata.generation,
      conditions = ready_conditions(now, { "ControlPlaneInitialized", "ControlPlaneReady", "InfrastructureReady" }),
    }, { quiet = true })
  end

  -- The Tigera operator takes Calico over: calico-system/calico-node replaces kube-system/calico-node.
  local function tigera(name)
    local c = W.cluster(name)
    local old = c:get { kind = "DaemonSet", namespace = "kube-system", name = "calico-node" }
    if not old then return end
    for _, ns in ipairs { "tigera-operator", "calico-system" } do env.fixture.ensure_namespace(c, ns) end
    c:create({
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = "tigera-operator", namespace = "tigera-operator", labels = { ["k8s-app"] = "tigera-operator" } },
      spec = { replicas = 1, selector = { matchLabels = { name = "tigera-operator" } },
               template = { metadata = { labels = { name = "tigera-operator" } },
                            spec = { tolerations = W.json.array { { operator = "Exists", effect = "NoSchedule" } },
                                     containers = W.json.array { { name = "tigera-operator", image = "quay.io/tigera/operator:v1.22.4" } } } } },
    }, { quiet = true })
    local ds = util.copy(old)
    ds.metadata = { name = "calico-node", namespace = "calico-system", labels = { ["k8s-app"] = "calico-node" } }
    ds.status = nil
    local containers = util.get(ds, "spec", "template", "spec", "containers") or {}
    for _, ct in ipairs(containers) do
      if ct.name == "calico-node" then ct.image = "docker.io/calico/node:v3.21.4" end
    end
    c:create(ds, { quiet = true })
    c:delete { kind = "DaemonSet", namespace = "kube-system", name = "calico-node" }
  end

  C.reconcile = reconcile

  function C.adopted(name)
    W.after(W.random(RECONCILE_MIN, RECONCILE_MAX), function()
      reconcile(name)
      W.after(W.random(TIGERA_MIN, TIGERA_MAX), function() tigera(name) end, name .. ": tigera operator migrates calico")
    end, name .. ": CAPI controllers reconcile the adopted cluster")
  end

  return C
end
