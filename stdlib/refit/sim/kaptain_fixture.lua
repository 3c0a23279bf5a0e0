-- refit.sim.kaptain_fixture: the `kaptain` section of a fixture cluster (docs/fixtures.md, "Kaptain"):
-- a Konvoy 1.x cluster running Kaptain, with its base addons, the KUDO instance, the ingress
-- gateway, the storage of Kubeflow Pipelines (MySQL, MinIO), pipeline runs (Argo Workflows) and the
-- workloads that keep running through an upgrade (notebooks, training jobs, Katib, Spark).
--
--   local fixture = require("refit.sim.kaptain_fixture")(W, env, kudo, operator, argo)
--   fixture.load(c, spec, path, namespaces)

local checker = require "refit.sim.check"
local util = require "refit.sim.util"

local NAMESPACE = "kubeflow"

-- The addons Kaptain needs (seed 002, "Upgrading Kaptain"): kind, namespace (Addon) and repository.
local ADDONS = {
  { name = "istio", kind = "ClusterAddon", repo = "kubernetes-base-addons", revision = "1.6.4-5" },
  { name = "dex", kind = "Addon", namespace = "kubeaddons", repo = "kubernetes-base-addons", revision = "2.27.0-2" },
  { name = "cert-manager", kind = "ClusterAddon", repo = "kubernetes-base-addons", revision = "0.10.1-7" },
  { name = "prometheus", kind = "Addon", namespace = "kubeaddons", repo = "kubernetes-base-addons", revision = "0.42.1-5" },
  { name = "knative", kind = "ClusterAddon", repo = "kubeaddons-kaptain", revision = "0.18.3-1" },
}
local ADDON_API = "kubeaddons.mesosphere.io/v1beta1"
local CONFIG_VERSIONS = { ["kubernetes-base-addons"] = "stable-1.19-3.2.0", ["kubeaddons-kaptain"] = "stable-1.20-1.1.0" }

local PLAN_STATUSES = { "NEVER_RUN", "PENDING", "IN_PROGRESS", "COMPLETE", "ERROR", "FATAL_ERROR" }
local PLATFORMS = { "on-premises", "aws" }
local DEFAULT_ENDPOINT = { ["on-premises"] = "10.0.50.21",
                           aws = "a4f3c1b2d9e8f7a6b5c4d3e2f1a0b9c8-1234567890.us-west-2.elb.amazonaws.com" }
local PHASES = { "Running", "Succeeded", "Failed" }
local TRAINING_KINDS = { "TFJob", "PyTorchJob", "MXNetJob" }
local FIELDS = { "version", "platform", "endpoint", "instance", "planStatus", "planMessage", "planFailedAt",
                 "upgradedFrom", "addons", "configVersions", "pipelines", "notebooks", "trainingJobs", "experiments",
                 "sparkApplications", "minioObjects" }

return function(W, env, kudo, operator, argo)
  local check = env.check
  local F = { ADDONS = ADDONS, NAMESPACE = NAMESPACE }

  local function create(c, obj) c:create(obj, { quiet = true }) end

  -- configVersions: repository short name -> the configVersion cluster.yaml deploys it from
  local function config_versions(spec, path)
    check:map(path, spec)
    local known = {}
    for repo in pairs(CONFIG_VERSIONS) do known[#known + 1] = repo end
    table.sort(known)
    check:known_fields(path, spec or {}, known)
    local out = {}
    for repo, default in pairs(CONFIG_VERSIONS) do
      out[repo] = check:string(checker.field(path, repo), (spec or {})[repo], { default = default })
    end
    return out
  end

  -- addons: name -> true / false (not deployed: Konvoy removes a disabled addon) / { enabled =, ready = }
  local function addons(c, spec, path, platform, namespaces, versions)
    check:map(path, spec)
    local known = {}
    for _, a in ipairs(ADDONS) do known[#known + 1] = a.name end
    check:known_fields(path, spec or {}, known)
    local provider = platform == "aws" and "aws" or "none"
    for _, a in ipairs(ADDONS) do
      local p = checker.field(path, a.name)
      local v = (spec or {})[a.name]
      local enabled, ready = true, true
      if type(v) == "boolean" then
        enabled = v
      elseif v ~= nil then
        check:map(p, v)
        check:known_fields(p, v, { "enabled", "ready" })
        enabled = check:bool(checker.field(p, "enabled"), v.enabled, { default = true })
        ready = check:bool(checker.field(p, "ready"), v.ready, { default = true })
      end
      if enabled then
        if a.namespace then namespaces[a.namespace] = true end
        create(c, {
          apiVersion = ADDON_API, kind = a.kind,
          metadata = { name = a.name, namespace = a.namespace, labels = { ["kubeaddons.mesosphere.io/name"] = a.name },
                       annotations = { ["catalog.kubeaddons.mesosphere.io/addon-revision"] = a.revision,
                                       ["kubeaddons.mesosphere.io/config-repository"] = "https://github.com/mesosphere/" .. a.repo,
                                       ["kubeaddons.mesosphere.io/config-version"] = versions[a.repo] } },
          spec = { cloudProvider = W.json.array { { name = provider, enabled = true } } },
          status = { ready = ready, stage = ready and "deployed" or "deploying" },
        })
      end
    end
  end

  local function list_of(path, v) return check:list(path, v, { default = {} }) end

  local function named(path, item, extra)
    check:map(path, item, { required = true })
    local known = { "name", "namespace" }
    for _, k in ipairs(extra or {}) do known[#known + 1] = k end
    check:known_fields(path, item, known)
    local name = check:string(checker.field(path, "name"), item.name, { required = true })
    local ns = check:string(checker.field(path, "namespace"), item.namespace, { default = "data-science" })
    return name, ns
  end

  local function deployment(name, image, labels)
    return {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = name, namespace = NAMESPACE, labels = labels },
      spec = { replicas = 1, strategy = { type = "Recreate" }, selector = { matchLabels = { app = name } },
               template = { metadata = { labels = { app = name } },
                            spec = { containers = W.json.array { { name = name, image = image } } } } },
    }
  end

  local function pvc(name, size)
    return { apiVersion = "v1", kind = "PersistentVolumeClaim", metadata = { name = name, namespace = NAMESPACE },
             spec = { accessModes = W.json.array { "ReadWriteOnce" }, resources = { requests = { storage = size } } },
             status = { phase = "Bound" } }
  end

  -- The storage of Kaptain 1.2.0-1.0.0: several MySQL databases and one MinIO, each with a volume.
  local function storage(c)
    create(c, deployment("mysql", "mysql:5.6", { app = "mysql", ["app.kubernetes.io/component"] = "ml-pipeline" }))
    create(c, deployment("metadata-db", "mysql:8.0.3", { component = "db", ["app.kubernetes.io/component"] = "metadata" }))
    create(c, deployment("katib-mysql", "mysql:8", { ["app.kubernetes.io/component"] = "katib" }))
    create(c, deployment("minio", "minio/minio:RELEASE.2019-08-14T20-37-41Z-license-compliance",
                         { app = "minio", ["app.kubernetes.io/component"] = "ml-pipeline" }))
    create(c, pvc("mysql-pv-claim", "20Gi"))
    create(c, pvc("metadata-mysql", "10Gi"))
    create(c, pvc("katib-mysql", "10Gi"))
    create(c, pvc("minio-pvc", "20Gi"))
  end

  local function workflow(c, p, i, namespaces)
    local pipeline = check:string(checker.field(p, "pipeline"), i.pipeline, { required = true })
    local run = check:string(checker.field(p, "run"), i.run, { default = pipeline .. "-run" })
    local ns = check:string(checker.field(p, "namespace"), i.namespace, { default = "data-science" })
    local phase = check:oneof(checker.field(p, "phase"), i.phase, PHASES, { default = "Running" })
    local finishes = check:duration(checker.field(p, "finishesAfter"), i.finishesAfter)
    if finishes and phase ~= "Running" then
      check:error(checker.field(p, "finishesAfter"), "only a Running pipeline run finishes later (phase is %s)", phase)
    end
    namespaces[ns] = true
    local name = check:string(checker.field(p, "name"), i.name, { default = pipeline .. "-" .. util.hash_name(run, 5) })
    local runid = util.hash_hex(ns .. "/" .. run, 8) .. "-" .. util.hash_hex(run, 4) .. "-4" .. util.hash_hex(pipeline, 3) ..
                  "-a" .. util.hash_hex(name, 3) .. "-" .. util.hash_hex(ns .. run .. name, 12)
    local done = phase ~= "Running"
    local extra = check:map(checker.field(p, "annotations"), i.annotations) or {}
    local annotations = { ["pipelines.kubeflow.org/run_name"] = run,
                          ["pipelines.kubeflow.org/pipeline_spec"] = W.json.encode { name = pipeline },
                          ["pipelines.kubeflow.org/kfp_sdk_version"] = "1.4.0" }
    for k, v in pairs(extra) do
      annotations[k] = check:string(checker.field(checker.field(p, "annotations"), k), v, { required = true })
    end
    create(c, {
      apiVersion = argo.API, kind = "Workflow",
      metadata = {
        name = name, namespace = ns, generateName = pipeline .. "-",
        labels = { ["pipeline/runid"] = runid, ["pipelines.kubeflow.org/kfp_sdk_version"] = "1.4.0",
                   ["workflows.argoproj.io/completed"] = done and "true" or "false",
                   ["workflows.argoproj.io/phase"] = phase },
        annotations = annotations,
      },
      spec = { entrypoint = pipeline, serviceAccountName = "pipeline-runner",
               arguments = { parameters = W.json.array {} } },
      status = { phase = phase, startedAt = util.k8s_time(-3600000), finishedAt = done and util.k8s_time(-600000) or nil,
                 progress = done and "5/5" or "2/5" },
    })
    if finishes then argo.finish_after(c:name(), ns, name, finishes) end
    return { run = run, pipeline = pipeline, namespace = ns, phase = phase }
  end

  local function workloads(c, spec, path, namespaces)
    for i, n in ipairs(list_of(checker.field(path, "notebooks"), spec.notebooks)) do
      local name, ns = named(checker.index(checker.field(path, "notebooks"), i), n)
      namespaces[ns] = true
      create(c, { apiVersion = "kubeflow.org/v1", kind = "Notebook", metadata = { name = name, namespace = ns },
                  spec = { template = { spec = { containers = W.json.array { { name = name,
                    image = "mesosphere/kubeflow:1.2.0-jupyter-tensorflow-2.3.1" } } } } },
                  status = { readyReplicas = 1, containerState = { running = { startedAt = util.k8s_time(-7200000) } } } })
    end
    for i, j in ipairs(list_of(checker.field(path, "trainingJobs"), spec.trainingJobs)) do
      local p = checker.index(checker.field(path, "trainingJobs"), i)
      local name, ns = named(p, j, { "kind" })
      local kind = check:oneof(checker.field(p, "kind"), j.kind, TRAINING_KINDS, { default = "TFJob" })
      namespaces[ns] = true
      create(c, { apiVersion = "kubeflow.org/v1", kind = kind, metadata = { name = name, namespace = ns },
                  spec = { runPolicy = { cleanPodPolicy = "None" } },
                  status = { conditions = W.json.array { { type = "Running", status = "True", reason = kind .. "Running" } },
                             startTime = util.k8s_time(-5400000) } })
    end
    for i, e in ipairs(list_of(checker.field(path, "experiments"), spec.experiments)) do
      local name, ns = named(checker.index(checker.field(path, "experiments"), i), e)
      namespaces[ns] = true
      create(c, { apiVersion = "kubeflow.org/v1beta1", kind = "Experiment", metadata = { name = name, namespace = ns },
                  spec = { maxTrialCount = 12, parallelTrialCount = 3 },
                  status = { conditions = W.json.array { { type = "Running", status = "True", reason = "ExperimentRunning" } },
                             trialsRunning = 3 } })
    end
    for i, s in ipairs(list_of(checker.field(path, "sparkApplications"), spec.sparkApplications)) do
      local name, ns = named(checker.index(checker.field(path, "sparkApplications"), i), s)
      namespaces[ns] = true
      create(c, { apiVersion = "sparkoperator.k8s.io/v1beta2", kind = "SparkApplication",
                  metadata = { name = name, namespace = ns }, spec = { type = "Python", mode = "cluster" },
                  status = { applicationState = { state = "RUNNING" } } })
    end
  end

  function F.load(c, spec, path, namespaces)
    check:map(path, spec, { required = true })
    check:known_fields(path, spec, FIELDS)
    local version = check:string(checker.field(path, "version"), spec.version, { required = true })
    local package = operator.package(version)
    if not package then
      check:error(checker.field(path, "version"), "Kaptain %s is not modelled (known: %s)", version,
                  table.concat(operator.versions(), ", "))
    end
    local platform = check:oneof(checker.field(path, "platform"), spec.platform, PLATFORMS, { default = "on-premises" })
    local endpoint = check:string(checker.field(path, "endpoint"), spec.endpoint, { default = DEFAULT_ENDPOINT[platform] })
    local instance = check:string(checker.field(path, "instance"), spec.instance, { default = "kaptain" })
    local plan_status = check:oneof(checker.field(path, "planStatus"), spec.planStatus, PLAN_STATUSES, { default = "COMPLETE" })
    local plan_message = check:string(checker.field(path, "planMessage"), spec.planMessage)
    local minio_objects = check:int(checker.field(path, "minioObjects"), spec.minioObjects, { min = 0 })
    local failed_at = check:string(checker.field(path, "planFailedAt"), spec.planFailedAt)
    local at
    if failed_at then
      local phase, step = failed_at:match("^([^.]+)%.([^.]+)$")
      if not phase then
        check:error(checker.field(path, "planFailedAt"), "want <phase>.<step> (e.g. storage.mysql), got %q", failed_at)
      elseif plan_status == "COMPLETE" or plan_status == "NEVER_RUN" then
        check:error(checker.field(path, "planFailedAt"), "only a plan that stopped has a stop point (planStatus is %s)",
                    plan_status)
      else
        at = { phase = phase, step = step }
        local why = package and kudo.check_stop(package, at)
        if why then check:error(checker.field(path, "planFailedAt"), "%s", why) end
      end
    end
    local from = check:string(checker.field(path, "upgradedFrom"), spec.upgradedFrom)
    local from_package = from and operator.package(from)
    if from and not from_package then
      check:error(checker.field(path, "upgradedFrom"), "Kaptain %s is not modelled (known: %s)", from,
                  table.concat(operator.versions(), ", "))
    end
    local versions = config_versions(spec.configVersions, checker.field(path, "configVersions"))

    local w = W.cluster(c.name)
    namespaces[NAMESPACE] = true
    addons(w, spec.addons, checker.field(path, "addons"), platform, namespaces, versions)
    kudo.install(c.name, NAMESPACE, instance, package, { status = plan_status, message = plan_message, at = at,
                                                         from = from_package and kudo.ov_name(from_package) })

    local ingress = platform == "aws" and { hostname = endpoint } or { ip = endpoint }
    create(w, {
      apiVersion = "v1", kind = "Service",
      metadata = { name = "kubeflow-ingressgateway", namespace = NAMESPACE, labels = { app = "kubeflow-ingressgateway" } },
      spec = { type = "LoadBalancer", selector = { app = "kubeflow-ingressgateway", istio = "ingressgateway" },
               ports = W.json.array { { name = "https", port = 443, targetPort = 8443, protocol = "TCP" },
                                      { name = "http2", port = 80, targetPort = 8080, protocol = "TCP" } } },
      status = { loadBalancer = { ingress = W.json.array { ingress } } },
    })
    storage(w)

    local runs, pipelines, seen = {}, {}, {}
    for i, item in ipairs(list_of(checker.field(path, "pipelines"), spec.pipelines)) do
      local p = checker.index(checker.field(path, "pipelines"), i)
      check:map(p, item, { required = true })
      check:known_fields(p, item, { "pipeline", "run", "name", "namespace", "phase", "finishesAfter", "annotations" })
      local r = workflow(w, p, item, namespaces)
      runs[#runs + 1] = r.run
      if not seen[r.pipeline] then seen[r.pipeline] = true; pipelines[#pipelines + 1] = r.pipeline end
    end
    workloads(w, spec, path, namespaces)

    local s = operator.state(c.name)
    s.platform = platform
    s.mysql = { engine = "MySQL databases mysql, metadata-db, katib-mysql", runs = W.json.array(runs),
                pipelines = W.json.array(pipelines) }
    s.minio = { mode = "single-instance MinIO (Deployment minio)", objects = minio_objects or 40 * #runs }
  end

  return F
end
