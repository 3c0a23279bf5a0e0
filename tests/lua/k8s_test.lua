-- refit.k8s: helpers over object tables.
local t = require "refit.test"
local k8s = require "refit.k8s"

local function node(fields)
  local n = {
    apiVersion = "v1", kind = "Node",
    metadata = { name = "ip-10-0-1-2", labels = { ["kubernetes.io/os"] = "linux" } },
    spec = {},
    status = {
      conditions = {
        { type = "MemoryPressure", status = "False" },
        { type = "Ready", status = "True", reason = "KubeletReady" },
      },
      nodeInfo = { kubeletVersion = "v1.21.2-eks-0389ca3" },
    },
  }
  for k, v in pairs(fields or {}) do n[k] = v end
  return n
end

t.case("condition finds a condition by type", function()
  local n = node()
  t.eq(k8s.condition(n, "Ready"), { type = "Ready", status = "True", reason = "KubeletReady" })
  t.eq(k8s.condition(n, "DiskPressure"), nil)
  t.eq(k8s.condition({ kind = "Node" }, "Ready"), nil)      -- no status at all
end)

t.case("condition_true and node_ready", function()
  t.eq(k8s.condition_true(node(), "Ready"), true)
  t.eq(k8s.condition_true(node(), "MemoryPressure"), false)
  t.eq(k8s.condition_true(node(), "Nope"), false)
  t.eq(k8s.node_ready(node()), true)
  local n = node { status = { conditions = { { type = "Ready", status = "Unknown" } } } }
  t.eq(k8s.node_ready(n), false)
  t.eq(k8s.node_ready({}), false)
end)

t.case("kubelet_version and node_schedulable", function()
  t.eq(k8s.kubelet_version(node()), "v1.21.2-eks-0389ca3")
  t.eq(k8s.kubelet_version({ kind = "Node" }), nil)
  t.eq(k8s.node_schedulable(node()), true)
  t.eq(k8s.node_schedulable(node { spec = { unschedulable = true } }), false)
end)

t.case("has_taint with or without effect", function()
  local n = node { spec = { taints = { { key = "node.kubernetes.io/unschedulable", effect = "NoSchedule" } } } }
  t.eq(k8s.has_taint(n, "node.kubernetes.io/unschedulable"), true)
  t.eq(k8s.has_taint(n, "node.kubernetes.io/unschedulable", "NoSchedule"), true)
  t.eq(k8s.has_taint(n, "node.kubernetes.io/unschedulable", "NoExecute"), false)
  t.eq(k8s.has_taint(n, "other"), false)
  t.eq(k8s.has_taint(node(), "other"), false)
end)

t.case("match_labels: matchLabels and matchExpressions", function()
  local labels = { app = "web", tier = "front", env = "prod" }
  t.eq(k8s.match_labels({ matchLabels = { app = "web" } }, labels), true)
  t.eq(k8s.match_labels({ matchLabels = { app = "db" } }, labels), false)
  local sel = {
    matchLabels = { app = "web" },
    matchExpressions = {
      { key = "env", operator = "In", values = { "prod", "staging" } },
      { key = "tier", operator = "NotIn", values = { "back" } },
      { key = "tier", operator = "Exists" },
      { key = "canary", operator = "DoesNotExist" },
    },
  }
  t.eq(k8s.match_labels(sel, labels), true)
  t.eq(k8s.match_labels(sel, { app = "web", tier = "front", env = "dev" }), false)          -- In
  t.eq(k8s.match_labels(sel, { app = "web", tier = "back", env = "prod" }), false)          -- NotIn
  t.eq(k8s.match_labels(sel, { app = "web", env = "prod" }), false)                         -- Exists
  t.eq(k8s.match_labels(sel, { app = "web", tier = "f", env = "prod", canary = "1" }), false) -- DoesNotExist
  -- a missing label is "not in"
  t.eq(k8s.match_labels({ matchExpressions = { { key = "x", operator = "NotIn", values = { "a" } } } }, {}), true)
end)

t.case("match_labels: empty, nil and plain-map selectors", function()
  t.eq(k8s.match_labels({}, { a = "1" }), true)
  t.eq(k8s.match_labels(nil, { a = "1" }), false)
  t.eq(k8s.match_labels({ app = "web" }, { app = "web", x = "y" }), true)     -- a Service's spec.selector
  t.eq(k8s.match_labels({ app = "web" }, nil), false)
end)

t.case("match_labels refuses an unknown operator", function()
  t.raises(function()
    k8s.match_labels({ matchExpressions = { { key = "a", operator = "Gt", values = { "1" } } } }, {})
  end, 'k8s.match_labels: unknown operator "Gt" (In, NotIn, Exists, DoesNotExist)')
end)

---------------------------------------------------------------------------
-- rollouts
---------------------------------------------------------------------------

local function deployment(spec_replicas, status, generation)
  return { apiVersion = "apps/v1", kind = "Deployment",
           metadata = { name = "coredns", namespace = "kube-system", generation = generation or 2 },
           spec = { replicas = spec_replicas }, status = status }
end

t.case("Deployment rollout", function()
  local full = { observedGeneration = 2, replicas = 3, updatedReplicas = 3, availableReplicas = 3 }
  t.eq({ k8s.rollout_complete(deployment(3, full)) }, { true })
  t.eq({ k8s.rollout_complete(deployment(3, { observedGeneration = 1, replicas = 3, updatedReplicas = 3,
                                              availableReplicas = 3 })) },
       { false, "generation 2 not yet observed (observed 1)" })
  t.eq({ k8s.rollout_complete(deployment(3, { observedGeneration = 2, replicas = 4, updatedReplicas = 2,
                                              availableReplicas = 3 })) },
       { false, "2 of 3 replicas updated" })
  t.eq({ k8s.rollout_complete(deployment(3, { observedGeneration = 2, replicas = 4, updatedReplicas = 3,
                                              availableReplicas = 3 })) },
       { false, "1 old replicas pending termination" })
  t.eq({ k8s.rollout_complete(deployment(3, { observedGeneration = 2, replicas = 3, updatedReplicas = 3,
                                              availableReplicas = 2 })) },
       { false, "2 of 3 updated replicas available" })
  t.eq({ k8s.rollout_complete(deployment(3, { observedGeneration = 2, replicas = 3, updatedReplicas = 3,
                                              availableReplicas = 3, unavailableReplicas = 1 })) },
       { false, "1 replicas unavailable" })
end)

t.case("Deployment: defaults and a stuck rollout", function()
  -- spec.replicas defaults to 1; no generation means nothing to observe
  local d = { kind = "Deployment", metadata = { name = "x" }, spec = {},
              status = { replicas = 1, updatedReplicas = 1, availableReplicas = 1 } }
  t.eq({ k8s.rollout_complete(d) }, { true })
  d.status.conditions = { { type = "Progressing", status = "False", reason = "ProgressDeadlineExceeded" } }
  t.eq({ k8s.rollout_complete(d) }, { false, "progress deadline exceeded" })
  t.eq({ k8s.rollout_complete(deployment(2, nil, 1)) }, { false, "generation 1 not yet observed (observed 0)" })
end)

t.case("DaemonSet rollout", function()
  local function ds(status)
    return { kind = "DaemonSet", metadata = { name = "kube-proxy", namespace = "kube-system", generation = 5 },
             status = status }
  end
  t.eq({ k8s.rollout_complete(ds { observedGeneration = 5, desiredNumberScheduled = 3,
                                   updatedNumberScheduled = 3, numberAvailable = 3 }) }, { true })
  t.eq({ k8s.rollout_complete(ds { observedGeneration = 4, desiredNumberScheduled = 3,
                                   updatedNumberScheduled = 3, numberAvailable = 3 }) },
       { false, "generation 5 not yet observed (observed 4)" })
  t.eq({ k8s.rollout_complete(ds { observedGeneration = 5, desiredNumberScheduled = 3,
                                   updatedNumberScheduled = 1, numberAvailable = 3 }) },
       { false, "1 of 3 pods updated" })
  t.eq({ k8s.rollout_complete(ds { observedGeneration = 5, desiredNumberScheduled = 3,
                                   updatedNumberScheduled = 3, numberAvailable = 2 }) },
       { false, "2 of 3 updated pods available" })
end)

t.case("StatefulSet rollout", function()
  local function sts(spec, status)
    return { kind = "StatefulSet", metadata = { name = "mysql", namespace = "db", generation = 1 },
             spec = spec, status = status }
  end
  t.eq({ k8s.rollout_complete(sts({ replicas = 3 }, { observedGeneration = 1, readyReplicas = 3, updatedReplicas = 3,
                                                      currentRevision = "r2", updateRevision = "r2" })) }, { true })
  t.eq({ k8s.rollout_complete(sts({ replicas = 3 }, { observedGeneration = 1, readyReplicas = 2, updatedReplicas = 3 })) },
       { false, "2 of 3 replicas ready" })
  t.eq({ k8s.rollout_complete(sts({ replicas = 3 }, { observedGeneration = 1, readyReplicas = 3, updatedReplicas = 1 })) },
       { false, "1 of 3 replicas updated" })
  t.eq({ k8s.rollout_complete(sts({ replicas = 3 }, { observedGeneration = 1, readyReplicas = 3, updatedReplicas = 3,
                                                      currentRevision = "r1", updateRevision = "r2" })) },
       { false, "rolling update to revision r2 not finished" })
  local partitioned = { replicas = 3, updateStrategy = { type = "RollingUpdate", rollingUpdate = { partition = 2 } } }
  t.eq({ k8s.rollout_complete(sts(partitioned, { observedGeneration = 1, readyReplicas = 3, updatedReplicas = 1 })) },
       { true })
  t.eq({ k8s.rollout_complete(sts(partitioned, { observedGeneration = 1, readyReplicas = 3, updatedReplicas = 0 })) },
       { false, "0 of 1 replicas updated (partition 2)" })
end)

t.case("rollout_complete refuses kinds without a rollout", function()
  t.raises(function() k8s.rollout_complete(node()) end,
           "k8s.rollout_complete: Node ip-10-0-1-2 has no rollout (Deployment, DaemonSet or StatefulSet)")
end)

---------------------------------------------------------------------------
-- images
---------------------------------------------------------------------------

local KUBE_PROXY = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.21.2-eksbuild.2"

t.case("image_tag", function()
  t.eq(k8s.image_tag(KUBE_PROXY), "v1.21.2-eksbuild.2")
  t.eq(k8s.image_tag("nginx"), nil)
  t.eq(k8s.image_tag("nginx:1.25"), "1.25")
  t.eq(k8s.image_tag("localhost:5000/team/app"), nil)            -- a port is not a tag
  t.eq(k8s.image_tag("localhost:5000/team/app:v2"), "v2")
  t.eq(k8s.image_tag("app:v2@sha256:abcd"), "v2")
  t.eq(k8s.image_tag("app@sha256:abcd"), nil)
end)

t.case("with_image_tag replaces the tag and drops a digest", function()
  t.eq(k8s.with_image_tag(KUBE_PROXY, "v1.22.6-eksbuild.1"),
       "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.22.6-eksbuild.1")
  t.eq(k8s.with_image_tag("nginx", "1.25"), "nginx:1.25")
  t.eq(k8s.with_image_tag("localhost:5000/app:v1@sha256:ab", "v2"), "localhost:5000/app:v2")
end)

t.case("container_image of pods and workloads", function()
  local pod = { kind = "Pod", spec = { initContainers = { { name = "init", image = "busybox" } },
                                       containers = { { name = "a", image = "a:1" }, { name = "b", image = "b:2" } } } }
  t.eq(k8s.container_image(pod), "a:1")
  t.eq(k8s.container_image(pod, "b"), "b:2")
  t.eq(k8s.container_image(pod, "init"), "busybox")
  t.eq(k8s.container_image(pod, "c"), nil)
  local ds = { kind = "DaemonSet", spec = { template = { spec = { containers = { { name = "kube-proxy", image = KUBE_PROXY } } } } } }
  t.eq(k8s.container_image(ds, "kube-proxy"), KUBE_PROXY)
end)

---------------------------------------------------------------------------
-- pods and references
---------------------------------------------------------------------------

t.case("pod_owner prefers the controller reference", function()
  local pod = { metadata = { ownerReferences = {
    { kind = "Foo", name = "x" }, { kind = "ReplicaSet", name = "web-1", controller = true } } } }
  t.eq(k8s.pod_owner(pod).name, "web-1")
  t.eq(k8s.pod_owner({ metadata = { ownerReferences = { { kind = "Job", name = "j" } } } }).kind, "Job")
  t.eq(k8s.pod_owner({ metadata = {} }), nil)
end)

t.case("daemonset and mirror pods", function()
  local ds_pod = { metadata = { ownerReferences = { { kind = "DaemonSet", name = "kube-proxy", controller = true } } } }
  t.eq(k8s.is_daemonset_pod(ds_pod), true)
  t.eq(k8s.is_daemonset_pod({ metadata = {} }), false)
  t.eq(k8s.is_mirror_pod({ metadata = { annotations = { ["kubernetes.io/config.mirror"] = "abc" } } }), true)
  t.eq(k8s.is_mirror_pod({ metadata = { annotations = { other = "1" } } }), false)
  t.eq(k8s.is_mirror_pod(ds_pod), false)
end)

t.case("ref and describe", function()
  local d = deployment(1, {})
  t.eq(k8s.ref(d), { apiVersion = "apps/v1", kind = "Deployment", namespace = "kube-system", name = "coredns" })
  t.eq(k8s.ref(node()), { apiVersion = "v1", kind = "Node", name = "ip-10-0-1-2" })
  t.eq(k8s.describe(d), "Deployment kube-system/coredns")
  t.eq(k8s.describe(node()), "Node ip-10-0-1-2")
  t.eq(k8s.describe(k8s.ref(d)), "Deployment kube-system/coredns")    -- a ref works too
end)
