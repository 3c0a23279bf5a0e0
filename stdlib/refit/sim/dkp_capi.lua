-- refit.sim.dkp_capi: the Cluster API controllers of the simulated world (KubeadmControlPlane and
-- MachineDeployment rollouts), shared by every model that creates CAPI objects.
--
-- CONTRACT (read by the DKP 2.1 -> 2.2 model, stdlib/refit/sim/dkp*.lua, and by the Konvoy 1.8 ->
-- DKP 2.1 adoption model, stdlib/refit/sim/konvoy*.lua):
--
--  * refit.sim.dkp's start() runs these controllers on EVERY world cluster (W.clusters()), whether
--    or not the cluster has a `dkp` fixture section. Any model may create CAPI objects in any world
--    cluster, at load or later (e.g. `dkp prepare-to-adopt`): the controllers watch for them.
--  * Kinds watched, in the world cluster that holds them (the "management" side):
--      Cluster              cluster.x-k8s.io/v1beta1
--      KubeadmControlPlane  controlplane.cluster.x-k8s.io/v1beta1
--      MachineDeployment    cluster.x-k8s.io/v1beta1
--      Machine              cluster.x-k8s.io/v1beta1
--  * A paused Cluster (spec.paused: true) is left alone: nothing of it rolls. Unpausing it (a
--    MODIFIED Cluster with spec.paused false or absent) makes the controllers look at its
--    KubeadmControlPlane and MachineDeployments again.
--  * The Cluster of a KCP / MD is spec.clusterName (MD) or the label cluster.x-k8s.io/cluster-name
--    (both), in the same namespace.
--  * A KCP's machines: Machines in the KCP's namespace labelled
--      cluster.x-k8s.io/cluster-name=<cluster> and cluster.x-k8s.io/control-plane (key present,
--      any value).
--    An MD's machines: Machines in its namespace labelled
--      cluster.x-k8s.io/cluster-name=<cluster> and cluster.x-k8s.io/deployment-name=<md name>.
--  * A machine's Kubernetes version is its spec.version (e.g. "v1.21.6"); when absent, the kubelet
--    version of the Node named by status.nodeRef.name.
--  * The workload cluster's Nodes live in the WORLD cluster named like the CAPI Cluster
--    (metadata.name). A Machine's Node is status.nodeRef.name in that world cluster. (For a
--    self-managed cluster, e.g. an adopted Konvoy cluster, that is the same world cluster.)
--  * Rollout trigger: a KCP whose spec.version differs from the version of one of its machines, or
--    an MD whose spec.template.spec.version differs from one of its machines' (any write to the
--    KCP / MD other than patch_status, and any write to the Cluster, re-checks; status writes to a
--    KCP / MD do not, as they change neither version nor machines). Machines are replaced one at a
--    time (maxSurge 1, maxUnavailable 0, as CAPI's defaults for both): a new Machine (phase
--    Provisioning -> Provisioned -> Running, status.nodeRef set once its Node registers), its Node
--    created NotReady in the workload cluster with the new kubelet (labels copied from the node it
--    replaces, hostname excepted), Ready after the kubelet boots (kube.lua: 60-120 s); then the
--    oldest outdated machine is drained (its Node cordoned, pods evicted), its Node and Machine
--    deleted; then the next.
--    Durations: instance launch + bootstrap 2-3 min; control-plane machines also join etcd (another
--    1-2 min); drain and delete 30-60 s.
--  * Status, as CAPI writes it: KCP status.replicas / updatedReplicas / readyReplicas /
--    unavailableReplicas / version / ready / initialized, conditions Ready, MachinesReady,
--    MachinesSpecUpToDate (False, reason RollingUpdateInProgress, during a rollout); MD status
--    replicas / updatedReplicas / readyReplicas / availableReplicas / unavailableReplicas / phase
--    (Running, ScalingUp) / observedGeneration, conditions Ready, Available. A machine's status:
--    phase, bootstrapReady, infrastructureReady, nodeRef, conditions Ready / NodeHealthy.
--  * The objects it creates carry the labels above; new KCP machines are named
--    <kcp name>-<5 chars>, new MD machines <md name>-<10 hex>-<5 chars> with the MachineSet
--    <md name>-<10 hex> (cluster.x-k8s.io/set-name label).
--  * Nothing of a rollout is undone by the controllers: a failed machine stays (Kubernetes cannot
--    be downgraded; the user deletes it or fixes the cause).
--
-- Faults (docs/scenarios.md): `dkp-nodepool-update-fails` (cluster = the CAPI cluster's name,
-- nodepool = the MachineDeployment's name) and `dkp-controlplane-update-fails` are consulted when a
-- rollout creates a new machine.

local util = require "refit.sim.util"

-- Timing (milliseconds), drawn from the world's seeded generator.
local LAUNCH_MIN, LAUNCH_MAX = 120000, 180000     -- instance launch + cloud-init + kubeadm join
local ETCD_MIN, ETCD_MAX = 60000, 120000          -- a new control-plane member joins etcd, KCP health checks
local SETTLE_MIN, SETTLE_MAX = 5000, 10000        -- a node pool machine's node is Ready: MachineSet notices
local DELETE_MIN, DELETE_MAX = 30000, 60000       -- drained machine: instance terminated, Machine deleted
local DRAIN_RETRY = 20000                         -- a drain blocked by a PodDisruptionBudget is retried
local NEXT_MIN, NEXT_MAX = 5000, 10000            -- to the next machine

return function(W, env, O)
  local kube, faults = env.kube, env.faults
  local C = {}
  local states = {}        -- management world cluster -> state
  local worlds = {}        -- world cluster names
  local ready_hooks = {}   -- workload world cluster -> node name -> fn

  local function exists(name) return worlds[name] == true end

  -- Machines ----------------------------------------------------------------------------------------

  local function labels_of(obj) return obj.metadata.labels or {} end

  local function cluster_of(obj)
    return (obj.spec and obj.spec.clusterName) or labels_of(obj)[O.CLUSTER_LABEL]
  end

  local function selector(kind, obj, cluster)
    if kind == "KubeadmControlPlane" then
      return O.CLUSTER_LABEL .. "=" .. cluster .. "," .. O.CP_LABEL
    end
    return O.CLUSTER_LABEL .. "=" .. cluster .. "," .. O.MD_LABEL .. "=" .. obj.metadata.name
  end

  local function desired_of(kind, obj)
    if kind == "KubeadmControlPlane" then return obj.spec.version end
    return obj.spec.template and obj.spec.template.spec and obj.spec.template.spec.version
  end

  local function api_of(kind) return kind == "KubeadmControlPlane" and O.KCP_API or O.CAPI end

  -- A machine's record: { name, version, node, ready, order, new, deleting }
  local function record(R, m, order)
    local node = m.status and m.status.nodeRef and m.status.nodeRef.name
    local version = m.spec and m.spec.version
    local n = node and R.wc and kube.node(R.wc, node)
    if not version and n then version = n.kubelet end
    local phase = m.status and m.status.phase
    return { name = m.metadata.name, version = version, node = node, order = order,
             ready = (n ~= nil and n.ready) or (n == nil and phase == "Running") }
  end

  -- Status ------------------------------------------------------------------------------------------

  -- replicas, updated, ready, and (control planes only: a handful of machines) the lowest version.
  -- Kept as counters: a 100-machine pool writes its status ~4 times per machine replaced.
  local function counts(R)
    local lowest
    if R.kind == "KubeadmControlPlane" then
      for _, m in pairs(R.machines) do
        if m.version and (lowest == nil or m.version < lowest) then lowest = m.version end
      end
    end
    return R.n, R.n_updated, R.n_ready, lowest
  end

  local function add_machine(R, m)
    R.machines[m.name] = m
    R.n = R.n + 1
    if m.version == R.desired then R.n_updated = R.n_updated + 1 end
    if m.ready then R.n_ready = R.n_ready + 1 end
    if m.version ~= R.desired then R.outdated[#R.outdated + 1] = m end
  end

  local function remove_machine(R, m)
    R.machines[m.name] = nil
    R.n = R.n - 1
    if m.version == R.desired then R.n_updated = R.n_updated - 1 end
    if m.ready then R.n_ready = R.n_ready - 1 end
  end

  local function mark_ready(R, m)
    if not m.ready then
      m.ready = true
      R.n_ready = R.n_ready + 1
    end
  end

  local function write_status(R)
    local replicas, updated, ready, lowest = counts(R)
    local rolling = updated < replicas or replicas ~= R.spec_replicas
    local status
    if R.kind == "KubeadmControlPlane" then
      status = {
        replicas = replicas, updatedReplicas = updated, readyReplicas = ready, unavailableReplicas = replicas - ready,
        version = lowest or R.desired, ready = ready > 0, initialized = true,
        conditions = W.json.array {
          O.cond("Ready", ready > 0 and "True" or "False"),
          O.cond("Available", "True"),
          O.cond("MachinesReady", ready == replicas and "True" or "False", ready == replicas and nil or "NodeProvisioning"),
          rolling and O.cond("MachinesSpecUpToDate", "False", "RollingUpdateInProgress",
                             string.format("Rolling %d replicas with outdated spec (%d replicas up to date)", replicas - updated, updated))
                  or O.cond("MachinesSpecUpToDate", "True"),
          O.cond("Resized", "True"),
        },
      }
    else
      local phase = "Running"
      if replicas < R.spec_replicas then phase = "ScalingUp" elseif replicas > R.spec_replicas then phase = "ScalingDown" end
      local available = ready >= R.spec_replicas
      status = {
        replicas = replicas, updatedReplicas = updated, readyReplicas = ready, availableReplicas = ready,
        unavailableReplicas = math.max(0, replicas - ready), phase = phase,
        conditions = W.json.array {
          O.cond("Ready", available and "True" or "False", available and nil or "WaitingForAvailableMachines"),
          O.cond("Available", available and "True" or "False", available and nil or "WaitingForAvailableMachines",
                 available and nil or string.format("Minimum availability requires %d replicas, current %d available", R.spec_replicas, ready)),
        },
      }
    end
    R.S.c:patch_status({ apiVersion = api_of(R.kind), kind = R.kind, namespace = R.ns, name = R.name }, status, { quiet = true })
  end

  -- Rollouts ----------------------------------------------------------------------------------------

  local step -- forward

  -- Whether the rollout's Cluster is paused (or gone), as the Cluster watcher last saw it: a step
  -- reads the controllers' own record rather than the object (one conversion per machine step less).
  local function paused(R)
    return R.S.paused[R.ns .. "/" .. R.cluster] ~= false
  end

  local function finish(R)
    R.S.rollouts[R.key] = nil
    write_status(R)
    if R.kind == "KubeadmControlPlane" then
      if R.wc then W.cluster(R.wc):set_version(R.desired) end
    else
      -- the MachineSet of the new template holds every machine; older ones are gone
      local c = R.S.c
      for _, ms in ipairs(c:list { apiVersion = O.CAPI, kind = "MachineSet", namespace = R.ns,
                                   labels = { [O.CLUSTER_LABEL] = R.cluster, [O.MD_LABEL] = R.name } }) do
        if ms.metadata.name ~= R.name .. "-" .. R.hash then
          c:delete { apiVersion = O.CAPI, kind = "MachineSet", namespace = R.ns, name = ms.metadata.name }
        end
      end
      c:patch({ apiVersion = O.CAPI, kind = "MachineSet", namespace = R.ns, name = R.name .. "-" .. R.hash },
              { spec = { replicas = R.spec_replicas } }, { quiet = true })
      c:patch_status({ apiVersion = O.CAPI, kind = "MachineSet", namespace = R.ns, name = R.name .. "-" .. R.hash },
                     { replicas = R.spec_replicas, readyReplicas = R.spec_replicas, availableReplicas = R.spec_replicas,
                       fullyLabeledReplicas = R.spec_replicas }, { quiet = true })
    end
    W.log("%s: %s %s/%s rolled out to %s", R.S.name, R.kind, R.ns, R.name, R.desired)
    -- settled at this version: later writes (its own status) need no new look at the machines
    R.S.settled[R.key] = R.desired
    C.reconcile(R.S, R.kind, R.ns, R.name)
  end

  -- The oldest machine not at the desired version (and not already going): the head of R.outdated
  -- (sorted by age when the rollout started).
  local function oldest_outdated(R)
    while R.head <= #R.outdated do
      local m = R.outdated[R.head]
      if R.machines[m.name] == m and not m.deleting and m.version ~= R.desired then return m end
      R.head = R.head + 1
    end
    return nil
  end

  local function machine_ref(R, name) return { apiVersion = O.CAPI, kind = "Machine", namespace = R.ns, name = name } end

  local function delete_machine(R, m)
    if m.node and R.wc then W.cluster(R.wc):delete { kind = "Node", name = m.node } end
    R.S.c:delete(machine_ref(R, m.name))
    remove_machine(R, m)
    write_status(R)
    -- The last outdated machine gone, the rollout ends in the same reconcile, as CAPI's controllers
    -- end it: the MachineSets scaled and the control plane's version set when the status first says
    -- every machine is up to date, not some seconds after a client saw that and moved on.
    if oldest_outdated(R) == nil and R.spec_desired == R.desired then return step(R) end
    W.after(W.random(NEXT_MIN, NEXT_MAX), function() step(R) end, R.S.name .. ": " .. R.key .. " next machine")
  end

  -- Drains the node of an outdated machine (honouring PodDisruptionBudgets, retried while blocked),
  -- then deletes it.
  local function drain(R, m)
    if m.node and R.wc and kube.node(R.wc, m.node) then
      local ok, blocked = kube.drain(R.wc, m.node, {})
      if not ok then
        W.log("%s: drain of node %s blocked by PodDisruptionBudget %s; retrying", R.wc, m.node, blocked[1].pdb)
        W.after(DRAIN_RETRY, function() drain(R, m) end, R.wc .. ": drain " .. m.node)
        return
      end
    end
    W.after(W.random(DELETE_MIN, DELETE_MAX), function() delete_machine(R, m) end, R.S.name .. ": delete " .. m.name)
  end

  local function replace_next(R)
    local m = oldest_outdated(R)
    if not m then return step(R) end
    m.deleting = true
    drain(R, m)
  end

  local function node_ready(R, m)
    mark_ready(R, m)
    R.S.c:patch_status(machine_ref(R, m.name), O.machine_running(m.node), { quiet = true })
    write_status(R)
    local delay = R.kind == "KubeadmControlPlane" and W.random(ETCD_MIN, ETCD_MAX) or W.random(SETTLE_MIN, SETTLE_MAX)
    W.after(delay, function() replace_next(R) end, R.S.name .. ": " .. R.key .. " replace")
  end

  -- The labels of the node a new machine replaces (pool labels, roles), to give the new node: the
  -- node summary refit.sim.kube keeps from every Node change (its labels are the object's), not a
  -- copy of the whole Node; every model tells kube of the nodes it creates (kube.observe_node).
  local function template_labels(R)
    local m = oldest_outdated(R)
    if not (m and m.node and R.wc) then return {} end
    local summary = kube.node(R.wc, m.node)
    if summary then return summary.labels end
    local n = W.cluster(R.wc):get { kind = "Node", name = m.node }
    return n and n.metadata.labels or {}
  end

  local function region_of(R)
    if R.region then return R.region end
    local cl = R.S.c:get { apiVersion = O.CAPI, kind = "Cluster", namespace = R.ns, name = R.cluster }
    local ref = cl and cl.spec and cl.spec.infrastructureRef
    local infra = ref and R.S.c:get { apiVersion = ref.apiVersion or O.INFRA_API, kind = ref.kind, namespace = R.ns, name = ref.name }
    R.region = (infra and infra.spec and infra.spec.region) or "us-west-2"
    return R.region
  end

  -- A free node address in the workload cluster.
  local function next_address(R)
    local wc = W.cluster(R.wc)
    local S = R.S
    S.addr = S.addr or {}
    local i = S.addr[R.wc] or 1000
    while true do
      local a = O.address(R.wc, region_of(R), i)
      i = i + 1
      if not wc:get { kind = "Node", name = a.name } then
        S.addr[R.wc] = i
        return a
      end
    end
  end

  -- The new machine's instance is up: its node registers (or a fault keeps it from joining).
  local function provisioned(R, m)
    local c = R.S.c
    if R.fault then
      local f = R.fault
      if f.failureMessage then
        c:patch_status(machine_ref(R, m.name), {
          phase = "Failed", infrastructureReady = false, failureReason = "CreateError", failureMessage = f.failureMessage,
          conditions = W.json.array { O.cond("Ready", "False", "InstanceProvisionFailed", f.failureMessage),
                                      O.cond("InfrastructureReady", "False", "InstanceProvisionFailed", f.failureMessage) },
        }, { quiet = true })
      else
        c:patch_status(machine_ref(R, m.name), {
          phase = "Provisioned", infrastructureReady = true,
          conditions = W.json.array { O.cond("Ready", "False", "WaitingForNodeRef", nil), O.cond("BootstrapReady", "True"),
                                      O.cond("InfrastructureReady", "True"),
                                      O.cond("NodeHealthy", "False", "WaitingForNodeRef", nil) },
        }, { quiet = true })
      end
      R.stalled = true
      W.log("%s: machine %s/%s never gets a Ready node (scenario fault)", R.S.name, R.ns, m.name)
      write_status(R)
      return
    end
    if not R.wc then
      mark_ready(R, m)
      c:patch_status(machine_ref(R, m.name), { phase = "Running", infrastructureReady = true }, { quiet = true })
      write_status(R)
      W.after(W.random(SETTLE_MIN, SETTLE_MAX), function() replace_next(R) end)
      return
    end
    local a = next_address(R)
    m.node = a.name
    local node = O.node(kube, { name = a.name, ip = a.ip, zone = a.zone, region = region_of(R), instance = a.instance,
                                instanceType = R.instance_type, kubelet = R.desired, ready = false,
                                control_plane = R.kind == "KubeadmControlPlane", labels = R.node_labels })
    ready_hooks[R.wc] = ready_hooks[R.wc] or {}
    ready_hooks[R.wc][a.name] = function() node_ready(R, m) end
    W.cluster(R.wc):create(node, { quiet = true })
    c:patch_status(machine_ref(R, m.name), {
      phase = "Running", infrastructureReady = true, nodeRef = { apiVersion = "v1", kind = "Node", name = a.name },
      conditions = W.json.array { O.cond("Ready", "False", "NodeProvisioning", nil), O.cond("BootstrapReady", "True"),
                                  O.cond("InfrastructureReady", "True"), O.cond("NodeHealthy", "False", "NodeProvisioning", nil) },
    }, { quiet = true })
  end

  local function create_machine(R)
    local name
    if R.kind == "KubeadmControlPlane" then
      name = R.name .. "-" .. kube.random_suffix(5)
    else
      name = R.name .. "-" .. R.hash .. "-" .. kube.random_suffix(5)
    end
    R.seq = R.seq + 1
    local m = { name = name, version = R.desired, order = R.seq, new = true, ready = false }
    add_machine(R, m)
    local ftype = R.kind == "KubeadmControlPlane" and "dkp-controlplane-update-fails" or "dkp-nodepool-update-fails"
    local subject = R.kind == "KubeadmControlPlane" and { controlplane = R.name } or { nodepool = R.name }
    R.fault = faults and faults.take(ftype, R.cluster, subject,
      string.format("machine %s/%s of %s %s never gets a Ready node", R.ns, name, R.kind, R.name)) or nil
    R.node_labels = template_labels(R)
    R.S.c:create(O.machine { name = name, namespace = R.ns, cluster = R.cluster, version = R.desired,
                             control_plane = R.kind == "KubeadmControlPlane", owner = R.name, md = R.name, hash = R.hash,
                             provider = R.provider }, { quiet = true })
    write_status(R)
    W.after(W.random(LAUNCH_MIN, LAUNCH_MAX), function() provisioned(R, m) end, R.S.name .. ": launch " .. name)
  end

  function step(R)
    if paused(R) then
      R.S.rollouts[R.key] = nil
      W.log("%s: cluster %s is paused: %s %s/%s waits", R.S.name, R.cluster, R.kind, R.ns, R.name)
      return
    end
    -- the KCP / MD as its watcher last saw it (R.gone, R.spec_desired): no get per machine step
    if R.gone then R.S.rollouts[R.key] = nil return end
    if R.stalled then return end
    if R.spec_desired ~= R.desired then
      -- changed again mid-rollout: what is left rolls to the newest version (counts and queue anew)
      R.desired = R.spec_desired
      local all = {}
      for _, m in pairs(R.machines) do all[#all + 1] = m end
      table.sort(all, function(a, b) return a.order < b.order end)
      R.machines, R.outdated, R.head, R.n, R.n_updated, R.n_ready = {}, {}, 1, 0, 0, 0
      for _, m in ipairs(all) do add_machine(R, m) end
    end
    if oldest_outdated(R) == nil then
      -- every machine is at the desired version; a surplus (none with maxSurge 1) would scale down
      return finish(R)
    end
    create_machine(R)
  end

  -- Looks at one KCP / MD: starts a rollout when one of its machines runs another version.
  function C.reconcile(S, kind, ns, name)
    local key = kind .. "/" .. ns .. "/" .. name
    if S.rollouts[key] then return end
    local c = S.c
    local obj = c:get { apiVersion = api_of(kind), kind = kind, namespace = ns, name = name }
    if not obj then return end
    local cluster = cluster_of(obj)
    if not cluster then return end
    local cl = c:get { apiVersion = O.CAPI, kind = "Cluster", namespace = ns, name = cluster }
    if not cl or (cl.spec and cl.spec.paused == true) then return end
    local desired = desired_of(kind, obj)
    if not desired or S.settled[key] == desired then return end
    S.settled[key] = nil
    local R = { S = S, kind = kind, ns = ns, name = name, key = key, cluster = cluster, desired = desired,
                spec_desired = desired, gone = false,
                wc = exists(cluster) and cluster or nil, machines = {}, seq = 0,
                outdated = {}, head = 1, n = 0, n_updated = 0, n_ready = 0,
                spec_replicas = obj.spec.replicas or 1,
                provider = O.provider_of(cl.spec and cl.spec.infrastructureRef and cl.spec.infrastructureRef.kind) or "aws" }
    local list = c:list { apiVersion = O.CAPI, kind = "Machine", namespace = ns, labels = selector(kind, obj, cluster) }
    table.sort(list, function(a, b) return a.metadata.name < b.metadata.name end)
    local outdated = false
    for i, m in ipairs(list) do
      local rec = record(R, m, i)
      add_machine(R, rec)
      if rec.version ~= desired then outdated = true end
    end
    R.seq = #list
    if not outdated then return end
    -- the instance type of the new machines: the template's
    local tref = kind == "KubeadmControlPlane" and obj.spec.machineTemplate and obj.spec.machineTemplate.infrastructureRef
                 or obj.spec.template.spec.infrastructureRef
    local tmpl = tref and c:get { apiVersion = tref.apiVersion or O.INFRA_API, kind = tref.kind, namespace = ns, name = tref.name }
    R.instance_type = tmpl and tmpl.spec and tmpl.spec.template and tmpl.spec.template.spec.instanceType or "m5.xlarge"
    if kind == "MachineDeployment" then
      R.hash = O.template_hash(name, desired)
      local ms = name .. "-" .. R.hash
      if not c:get { apiVersion = O.CAPI, kind = "MachineSet", namespace = ns, name = ms } then
        c:create(O.machine_set(ns, cluster, name, R.hash, desired, 0), { quiet = true })
      end
    end
    S.rollouts[key] = R
    W.log("%s: %s %s/%s rolls its machines to %s", S.name, kind, ns, name, desired)
    step(R)
  end

  -- Watches ------------------------------------------------------------------------------------------

  -- Marks a KCP / MD for reconciliation; one timer per cluster reconciles every marked object
  -- (in name order) at the current instant, however many changes marked them.
  local function schedule(S, kind, ns, name)
    S.dirty[kind .. "/" .. ns .. "/" .. name] = { kind, ns, name }
    if not S.timer then
      S.timer = W.after(0, function()
        S.timer = nil
        local work = S.dirty
        S.dirty = {}
        for _, key in ipairs(util.sorted_keys(work)) do C.reconcile(S, table.unpack(work[key])) end
      end, S.name .. ": capi reconcile")
    end
  end

  -- Only spec changes (a new version, replicas) start a rollout: `status = false` keeps the
  -- controllers' own status writes (about 3 per machine replaced) from being delivered at all.
  local function watch(S, kind)
    W.on_change(S.name, kind, function(ch)
      local md = ch.object.metadata
      local R = S.rollouts[kind .. "/" .. md.namespace .. "/" .. md.name]
      if R then
        -- its rollout looks itself, at its next step, at what is recorded here
        R.gone = ch.type == "DELETED"
        if not R.gone then R.spec_desired = desired_of(kind, ch.object) end
        return
      end
      if ch.type == "DELETED" then return end
      schedule(S, kind, md.namespace, md.name)
    end, { status = false })
  end

  -- Starts the controllers on world cluster `name` (every world cluster: any may hold CAPI objects).
  function C.start(name)
    worlds[name] = true
    if states[name] then return end
    -- paused: "ns/name" -> whether that Cluster is paused (nil: no such Cluster), kept from the
    -- Cluster watcher below so that a rollout's steps need not read the Cluster
    local S = { name = name, c = W.cluster(name), rollouts = {}, dirty = {}, settled = {}, paused = {} }
    states[name] = S
    for _, cl in ipairs(S.c:list { apiVersion = O.CAPI, kind = "Cluster" }) do
      S.paused[cl.metadata.namespace .. "/" .. cl.metadata.name] = (cl.spec and cl.spec.paused == true) or false
    end
    watch(S, "KubeadmControlPlane")
    watch(S, "MachineDeployment")
    -- unpausing a Cluster lets its control plane and node pools roll
    W.on_change(name, "Cluster", function(ch)
      local md = ch.object.metadata
      if ch.type == "DELETED" then S.paused[md.namespace .. "/" .. md.name] = nil
      else S.paused[md.namespace .. "/" .. md.name] = (ch.object.spec and ch.object.spec.paused == true) or false end
      if ch.type ~= "MODIFIED" or (ch.object.spec and ch.object.spec.paused == true) then return end
      local cl = ch.object
      local ns = cl.metadata.namespace
      local kcp = cl.spec and cl.spec.controlPlaneRef
      if kcp and kcp.kind == "KubeadmControlPlane" then schedule(S, "KubeadmControlPlane", ns, kcp.name) end
      for _, md in ipairs(S.c:list { apiVersion = O.CAPI, kind = "MachineDeployment", namespace = ns,
                                     labels = { [O.CLUSTER_LABEL] = cl.metadata.name } }) do
        schedule(S, "MachineDeployment", ns, md.metadata.name)
      end
    end)
    -- a new machine's node turns Ready: its rollout goes on
    kube.on_node_ready(name, function(_, node)
      local hooks = ready_hooks[name]
      local fn = hooks and hooks[node]
      if fn then
        hooks[node] = nil
        fn()
      end
    end)
  end

  function C.known(name) worlds[name] = true end

  -- Reconciles a KCP / MD of world cluster `name` at once, as the controllers do when they start:
  -- a fixture's rollout left half done (a node pool whose spec is newer than its machines) goes on.
  function C.kick(name, kind, ns, obj)
    local S = states[name]
    if S then schedule(S, kind, ns, obj) end
  end

  return C
end
