-- refit.sim.kube_objects: the Kubernetes objects and statuses the simulated controllers write,
-- in the shapes the API server returns: Nodes (with their conditions and nodeInfo), and the status
-- of pods that are Pending, Running, or crash-looping.
--
-- Part of refit.sim.kube (returns a table of builders; W gives the virtual time and JSON arrays).

local util = require "refit.sim.util"

return function(W)
  local O = {}

  -- Status parts that only depend on the instant are built once per instant and shared by every
  -- object written then (the store copies what it is given; nothing here changes them later).
  local function per_instant(build)
    local at, cache = nil, {}
    return function(key)
      local now = W.now()
      if now ~= at then at, cache = now, {} end
      local v = cache[key]
      if v == nil then
        v = build(key)
        cache[key] = v
      end
      return v
    end
  end

  -- The conditions of a healthy (ready = true) or booting node at virtual time now.
  O.node_conditions = per_instant(function(ready)
    local t = util.k8s_time(W.now())
    local function c(ctype, status, reason, message)
      return { type = ctype, status = status, reason = reason, message = message,
               lastHeartbeatTime = t, lastTransitionTime = t }
    end
    return W.json.array {
      c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      ready and c("Ready", "True", "KubeletReady", "kubelet is posting ready status")
            or c("Ready", "False", "KubeletNotReady",
                 "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized"),
    }
  end)

  -- A Node object. spec: name, labels, taints, kubeletVersion, ready, providerID, internalIP,
  -- hostname, instanceType, capacity = { cpu=, memory=, pods= }, osImage, kernelVersion, containerRuntime.
  function O.node_object(spec)
    local arch = spec.arch or "amd64"
    local id = util.hash_hex(spec.name .. ":" .. W.now(), 96)
    local labels = {
      ["kubernetes.io/hostname"] = spec.hostname or spec.name,
      ["kubernetes.io/os"] = "linux", ["kubernetes.io/arch"] = arch,
      ["beta.kubernetes.io/os"] = "linux", ["beta.kubernetes.io/arch"] = arch,
    }
    for k, v in pairs(spec.labels or {}) do labels[k] = v end
    local cap = spec.capacity or { cpu = "2", memory = "7934464Ki", pods = "29" }
    local addresses = W.json.array {}
    if spec.internalIP then addresses[#addresses + 1] = { type = "InternalIP", address = spec.internalIP } end
    addresses[#addresses + 1] = { type = "Hostname", address = spec.hostname or spec.name }
    if spec.internalDNS then addresses[#addresses + 1] = { type = "InternalDNS", address = spec.internalDNS } end
    local node = {
      apiVersion = "v1", kind = "Node",
      metadata = { name = spec.name, labels = labels, annotations = spec.annotations },
      spec = { providerID = spec.providerID, taints = spec.taints and W.json.array(util.copy(spec.taints)) or nil },
      status = {
        conditions = O.node_conditions(spec.ready ~= false),
        addresses = addresses,
        capacity = cap,
        allocatable = { cpu = cap.cpu, memory = cap.memory, pods = cap.pods },
        nodeInfo = {
          kubeletVersion = spec.kubeletVersion,
          kubeProxyVersion = spec.kubeletVersion,
          osImage = spec.osImage or "Amazon Linux 2",
          kernelVersion = spec.kernelVersion or "5.4.209-116.367.amzn2.x86_64",
          containerRuntimeVersion = spec.containerRuntime or "containerd://1.6.6",
          operatingSystem = "linux", architecture = arch,
          machineID = id:sub(1, 32),
          systemUUID = id:sub(33, 64),
          bootID = id:sub(65, 96),
        },
      },
    }
    return node
  end

  local running_conditions = per_instant(function(crash)
    local t = util.k8s_time(W.now())
    local r = crash and "False" or "True"
    return W.json.array {
      { type = "Initialized", status = "True", lastTransitionTime = t },
      { type = "Ready", status = r, lastTransitionTime = t, reason = crash and "ContainersNotReady" or nil },
      { type = "ContainersReady", status = r, lastTransitionTime = t },
      { type = "PodScheduled", status = "True", lastTransitionTime = t },
    }
  end)

  -- The status of a pod that runs on `node`: Ready, or crash-looping when a fault says so.
  -- hostIP / podIP: the node's and the pod's addresses.
  function O.running_status(p, host_ip, pod_ip, crash)
    local t = util.k8s_time(W.now())
    local statuses = W.json.array {}
    for _, c in ipairs(p.containers or {}) do
      statuses[#statuses + 1] = {
        name = c.name, image = c.image, imageID = "", ready = not crash, started = not crash,
        restartCount = crash and 5 or 0,
        containerID = "containerd://" .. util.hash_hex(p.name .. c.name, 64),
        state = crash and { waiting = { reason = "CrashLoopBackOff",
                                        message = "back-off 2m40s restarting failed container=" .. c.name } }
                      or { running = { startedAt = t } },
      }
    end
    return {
      phase = "Running", hostIP = host_ip, podIP = pod_ip, startTime = t,
      qosClass = "BestEffort",
      conditions = running_conditions(crash == true),
      containerStatuses = statuses,
    }
  end

  -- Pending: scheduled (message nil) or unschedulable (the scheduler's message).
  function O.pending_status(message)
    local t = util.k8s_time(W.now())
    if message then
      return { phase = "Pending", qosClass = "BestEffort", conditions = W.json.array {
        { type = "PodScheduled", status = "False", reason = "Unschedulable", message = message, lastTransitionTime = t } } }
    end
    return { phase = "Pending", qosClass = "BestEffort", conditions = W.json.array {
      { type = "PodScheduled", status = "True", lastTransitionTime = t } } }
  end

  return O
end
