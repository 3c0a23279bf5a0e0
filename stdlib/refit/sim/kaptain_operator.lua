-- refit.sim.kaptain_operator: the Kaptain KUDO packages (operator `kubeflow`) and what their plans
-- do to the cluster (seed 002, "Breaking changes").
--
-- The phases and steps of the deploy plan are a model (D2iQ does not publish them): they follow the
-- order Kaptain installs its parts in, with durations that add up to the 25-40 minutes an upgrade
-- takes. The effects of 1.2.0-1.0.0 -> 1.2.0-1.1.0, as the release notes state them:
--   storage.mysql   the MySQL databases of Pipelines, Metadata and Katib (Deployments mysql,
--                   metadata-db, katib-mysql and their volumes) give way to one highly-available
--                   MySQL (StatefulSet kaptain-mysql, 3 replicas): pipeline history and metadata
--                   are NOT migrated (cloud.kaptain.<cluster>.mysql.runs becomes empty)
--   storage.minio   the single MinIO (Deployment minio, volume minio-pvc) gives way to an HA MinIO
--                   (StatefulSet kaptain-minio, 4 servers): its data is NOT migrated
--   pipelines.pipelines  the Argo Workflows of Kubeflow Pipelines runs are gone with the history

local util = require "refit.sim.util"

local APP_VERSION = "1.2.0"

-- seconds { min, max } per step
local function plan()
  return {
    deploy = {
      strategy = "serial",
      phases = {
        { name = "prerequisites", strategy = "serial", steps = {
          { name = "crds", duration = { 60, 90 } },
          { name = "namespaces", duration = { 20, 40 } },
          { name = "istio-config", duration = { 90, 150 } },
        } },
        { name = "storage", strategy = "serial", steps = {
          { name = "mysql", duration = { 240, 360 } },
          { name = "minio", duration = { 180, 300 } },
        } },
        { name = "kubeflow", strategy = "parallel", steps = {
          { name = "central-dashboard", duration = { 120, 180 } },
          { name = "profiles", duration = { 90, 150 } },
          { name = "notebooks", duration = { 150, 240 } },
          { name = "training-operators", duration = { 120, 180 } },
          { name = "katib", duration = { 180, 300 } },
          { name = "kfserving", duration = { 240, 360 } },
        } },
        { name = "pipelines", strategy = "serial", steps = {
          { name = "pipelines", duration = { 300, 480 } },
          { name = "metadata", duration = { 120, 240 } },
        } },
        { name = "auth", strategy = "serial", steps = {
          { name = "dex-client", duration = { 60, 90 } },
          { name = "oidc-authservice", duration = { 90, 150 } },
        } },
      },
    },
  }
end

local OLD_MYSQL = { "mysql", "metadata-db", "katib-mysql" }
local OLD_MYSQL_PVC = { "mysql-pv-claim", "metadata-mysql", "katib-mysql" }

return function(W, kudo)
  local M = {}

  local function state(cluster)
    W.cloud.kaptain = W.cloud.kaptain or {}
    W.cloud.kaptain[cluster] = W.cloud.kaptain[cluster] or {}
    return W.cloud.kaptain[cluster]
  end
  M.state = state

  local function statefulset(name, ns, replicas, image, app)
    return {
      apiVersion = "apps/v1", kind = "StatefulSet",
      metadata = { name = name, namespace = ns, labels = { ["app.kubernetes.io/name"] = app,
                                                           ["app.kubernetes.io/part-of"] = "kaptain" } },
      spec = { replicas = replicas, serviceName = name, selector = { matchLabels = { app = name } },
               template = { metadata = { labels = { app = name } },
                            spec = { containers = W.json.array { { name = app, image = image } } } } },
      -- no StatefulSet controller in the world: the status is what it reports once the pods run
      status = { replicas = replicas, readyReplicas = replicas, currentReplicas = replicas,
                 updatedReplicas = replicas, observedGeneration = 1 },
    }
  end

  -- What the 1.1.0 plan changes, step by step, when it upgrades a 1.0.0 instance.
  local function on_step(cluster, inst, phase, step, from_ov)
    if from_ov ~= "kubeflow-" .. APP_VERSION .. "-1.0.0" then return end
    local c = W.cluster(cluster)
    local ns = inst.namespace
    local s = state(cluster)
    if phase == "storage" and step == "mysql" then
      for _, name in ipairs(OLD_MYSQL) do c:delete { kind = "Deployment", namespace = ns, name = name } end
      for _, name in ipairs(OLD_MYSQL_PVC) do c:delete { kind = "PersistentVolumeClaim", namespace = ns, name = name } end
      c:create(statefulset("kaptain-mysql", ns, 3, "percona/percona-xtradb-cluster:5.7.32", "mysql"), { quiet = true })
      s.mysql = { engine = "highly-available MySQL (StatefulSet kaptain-mysql, 3 replicas)", runs = W.json.array {},
                  pipelines = W.json.array {} }
      W.log("kaptain: %s: new HA MySQL; pipeline history and metadata not migrated", cluster)
    elseif phase == "storage" and step == "minio" then
      c:delete { kind = "Deployment", namespace = ns, name = "minio" }
      c:delete { kind = "PersistentVolumeClaim", namespace = ns, name = "minio-pvc" }
      c:create(statefulset("kaptain-minio", ns, 4, "minio/minio:RELEASE.2020-12-03T05-49-24Z", "minio"), { quiet = true })
      s.minio = { mode = "highly-available MinIO (StatefulSet kaptain-minio, 4 servers)", objects = 0 }
      W.log("kaptain: %s: new HA MinIO; its data not migrated", cluster)
    elseif phase == "pipelines" and step == "pipelines" then
      for _, wf in ipairs(c:list { apiVersion = "argoproj.io/v1alpha1", kind = "Workflow", labels = "pipeline/runid" }) do
        c:delete { apiVersion = "argoproj.io/v1alpha1", kind = "Workflow", namespace = wf.metadata.namespace,
                   name = wf.metadata.name }
      end
    end
  end

  M.packages = {
    kudo.package { operator = "kubeflow", appVersion = APP_VERSION, version = "1.0.0", plans = plan(),
                   description = "Kaptain: Kubeflow for Konvoy", on_step = on_step },
    kudo.package { operator = "kubeflow", appVersion = APP_VERSION, version = "1.1.0", plans = plan(),
                   description = "Kaptain: Kubeflow for Konvoy", on_step = on_step },
  }

  -- The package of a Kaptain version "1.2.0-1.0.0", or nil.
  function M.package(version)
    for _, p in ipairs(M.packages) do
      if p.appVersion .. "-" .. p.version == version then return p end
    end
    return nil
  end

  function M.versions()
    local out = {}
    for _, p in ipairs(M.packages) do out[#out + 1] = p.appVersion .. "-" .. p.version end
    return out
  end

  M.OLD_MYSQL, M.OLD_MYSQL_PVC = OLD_MYSQL, OLD_MYSQL_PVC
  M.time = util.k8s_time
  return M
end
