-- kaptain/upgrade: D2iQ Kaptain 1.2.0-1.0.0 -> 1.2.0-1.1.0 with KUDO (seed 002, "Upgrade Kaptain").
--
-- The seed's procedure, in its order: the prerequisites (Kaptain 1.2.0-1.0.0 installed on a Konvoy
-- cluster; the base addons istio, dex, cert-manager, prometheus and the Kaptain addon knative
-- enabled); `kubectl kudo upgrade --instance kaptain --namespace kubeflow ./kubeflow-1.2.0_1.1.0.tgz`;
-- `kubectl kudo plan status` until the plan completes; then the endpoint (Service
-- kubeflow-ingressgateway: its ip on premises, its hostname on AWS) and the login (`konvoy get
-- ops-portal`). "Workloads behavior": running pipelines are halted before and resubmitted after;
-- notebooks, training jobs, Katib experiments and Spark applications keep running (not touched).
-- "Breaking changes": the new HA MySQL and MinIO do not migrate pipeline history, metadata or
-- artifacts, so the operator acknowledges that loss or backs namespace kubeflow up with Velero
-- first. The backup runs before the pipelines are halted: a failed backup leaves them running.
-- Re-runs: the halted pipelines are recorded durably (ConfigMap refit-kaptain-upgrade and an
-- annotation on each Workflow), and a plan that ended FATAL_ERROR is triggered again (KUDO never
-- retries it). docs/kaptain.md explains each step, the order, and what to do when one fails.
--
-- Operator-facing texts cite the document as "the Kaptain upgrade guide" (the seed numbers mean
-- nothing outside this repository).

local refit = require "refit"
local json = require "refit.json"
local paths = require "refit.paths"
local semver = require "refit.semver"
local resource = require "refit.resource"

local KUDO_API = "kudo.dev/v1beta1"
local ADDON_API = "kubeaddons.mesosphere.io/v1beta1"
local ARGO_API = "argoproj.io/v1alpha1"
local VELERO_API = "velero.io/v1"
local OPERATOR = "kubeflow"
local GUIDE = "the Kaptain upgrade guide"

-- What this playbook leaves in the cluster so that a re-run (or the operator) knows which pipeline
-- runs it halted, even after the upgrade deleted their Workflows: an annotation on each halted
-- Workflow, and ConfigMap refit-kaptain-upgrade (names only) written before the first one is halted.
local HALTED_ANNOTATION = "refit.dev/halted-for-upgrade"
local UPGRADE_LABEL = "refit.dev/upgrade"
local RECORD = "refit-kaptain-upgrade"
local RECORD_KEY = "halted-pipelines.json"
-- The addons Kaptain needs, with the cluster.yaml entry that enables each (seed 002, "Upgrading Kaptain"):
-- configRepository and configVersion are the document's.
local ADDONS = {
  { name = "istio", kind = "ClusterAddon", repo = "https://github.com/mesosphere/kubernetes-base-addons", version = "stable-1.19-3.2.0" },
  { name = "dex", kind = "Addon", namespace = "kubeaddons", repo = "https://github.com/mesosphere/kubernetes-base-addons", version = "stable-1.19-3.2.0" },
  { name = "cert-manager", kind = "ClusterAddon", repo = "https://github.com/mesosphere/kubernetes-base-addons", version = "stable-1.19-3.2.0" },
  { name = "prometheus", kind = "Addon", namespace = "kubeaddons", repo = "https://github.com/mesosphere/kubernetes-base-addons", version = "stable-1.19-3.2.0" },
  { name = "knative", kind = "ClusterAddon", repo = "https://github.com/mesosphere/kubeaddons-kaptain", version = "stable-1.20-1.1.0" },
}

-- The workloads the seed says keep running through the upgrade: counted, never touched.
local KEEP_RUNNING = {
  { api = "kubeflow.org/v1", kind = "Notebook", what = "Jupyter notebooks" },
  { api = "kubeflow.org/v1", kind = "TFJob", what = "TFJobs" },
  { api = "kubeflow.org/v1", kind = "PyTorchJob", what = "PyTorchJobs" },
  { api = "kubeflow.org/v1", kind = "MXNetJob", what = "MXNetJobs" },
  { api = "kubeflow.org/v1beta1", kind = "Experiment", what = "Katib experiments" },
  { api = "sparkoperator.k8s.io/v1beta2", kind = "SparkApplication", what = "Spark applications" },
}

-- seed 002, "Breaking changes"
local DATA_LOSS = "Kaptain 1.2.0-1.1.0 replaces the MySQL databases of Kubeflow Pipelines with one new highly-available " ..
  "MySQL and the single-instance MinIO with a new highly-available MinIO, and migrates neither (" .. GUIDE .. ", " ..
  "\"Breaking changes\"): the pipeline execution history and metadata (MySQL) and the pipeline artifacts and transient " ..
  "data (MinIO) are not carried over"

---------------------------------------------------------------------------------------------------
-- Where we are
---------------------------------------------------------------------------------------------------

local given = refit.given

local function instance_ref(ctx)
  return { apiVersion = KUDO_API, kind = "Instance", namespace = ctx.params.namespace, name = ctx.params.instance }
end

local function instance(ctx) return ctx.cluster:get(instance_ref(ctx)) end

-- "1.2.0-1.0.0": the OperatorVersion's appVersion (Kubeflow) and version (Kaptain).
local function installed_version(ctx, inst)
  inst = inst or instance(ctx)
  if not inst then return nil end
  local ov = ctx.cluster:get { apiVersion = KUDO_API, kind = "OperatorVersion", namespace = ctx.params.namespace,
                               name = inst.spec.operatorVersion.name }
  if ov then return ov.spec.appVersion .. "-" .. ov.spec.version, ov end
  -- no OperatorVersion object: its name is <operator>-<appVersion>-<version>
  return inst.spec.operatorVersion.name:match("^" .. OPERATOR .. "%-(%d+%.%d+%.%d+%-%d+%.%d+%.%d+)$")
end

local function target_ov(ctx) return OPERATOR .. "-" .. ctx.params.to end

-- ./kubeflow-1.2.0_1.1.0.tgz: the bundle of the target, as the seed names it.
local function package(ctx)
  if given(ctx.params.package) then return ctx.params.package end
  local kubeflow, kaptain = ctx.params.to:match("^(.-)%-(.*)$")
  return string.format("./%s-%s_%s.tgz", OPERATOR, kubeflow, kaptain)
end

local function plan_status(inst)
  local agg = inst and inst.status and inst.status.aggregatedStatus
  local name = agg and agg.activePlanName or "deploy"
  return inst and inst.status and inst.status.planStatus and inst.status.planStatus[name], name
end

-- "phase storage, step mysql: <message>" for the first step in ERROR or FATAL_ERROR
local function failing_step(plan, status)
  for _, ph in ipairs(plan and plan.phases or {}) do
    for _, st in ipairs(ph.steps or {}) do
      if st.status == status then
        return string.format("phase %s, step %s%s", ph.name, st.name,
                             given(st.message) and (": " .. st.message) or "")
      end
    end
    if ph.status == status then
      return string.format("phase %s%s", ph.name, given(ph.message) and (": " .. ph.message) or "")
    end
  end
  return given(plan and plan.message) or "no phase or step reports it"
end

local function try_list(ctx, api, kind, namespace)
  local ok, items = pcall(ctx.cluster.list, ctx.cluster, { apiVersion = api, kind = kind, namespace = namespace })
  return ok and items or {}
end

-- A Kubeflow Pipelines run: its Argo Workflow, run name and pipeline name (names only).
local function pipeline_run(wf)
  local a = wf.metadata.annotations or {}
  local ok, spec = pcall(json.decode, a["pipelines.kubeflow.org/pipeline_spec"] or "")
  return { namespace = wf.metadata.namespace, workflow = wf.metadata.name,
           run = a["pipelines.kubeflow.org/run_name"] or wf.metadata.name,
           pipeline = ok and type(spec) == "table" and spec.name or wf.metadata.generateName or wf.metadata.name }
end

local function pipeline_workflows(ctx)
  return ctx.cluster:list { apiVersion = ARGO_API, kind = "Workflow", labels = "pipeline/runid" }
end

-- The Kubeflow Pipelines runs that are running: Argo Workflows with KFP's run id label.
local function running_pipelines(ctx)
  local out = {}
  for _, wf in ipairs(pipeline_workflows(ctx)) do
    if wf.status and wf.status.phase == "Running" then out[#out + 1] = pipeline_run(wf) end
  end
  return out
end

local function describe_run(p)
  return string.format("pipeline %s (run %s, namespace %s)", p.pipeline, p.run, p.namespace)
end

-- The default name carries the target version; what proves a backup belongs to this upgrade is the
-- label the backup step sets (upgrade_label), not the name.
local function backup_name(ctx)
  return given(ctx.params.backup_name) or ("kaptain-before-" .. ctx.params.to:gsub("%.", "-"))
end

-- "1.2.0-1.0.0-to-1.2.0-1.1.0": the label value of what this upgrade creates (a Velero backup, the
-- record of halted pipelines). Once the instance is at the target the from-version is gone from
-- the cluster, so a value is ours when it ends with "-to-<to>" (only one version upgrades to <to>).
local function upgrade_label(ctx)
  local from = installed_version(ctx)
  if from and from ~= ctx.params.to then return from .. "-to-" .. ctx.params.to end
  return nil
end

local function made_by_this_upgrade(ctx, labels)
  local v = labels and labels[UPGRADE_LABEL]
  if not v then return false end
  local want = upgrade_label(ctx)
  if want then return v == want end
  local suffix = "-to-" .. ctx.params.to
  return #v > #suffix and v:sub(-#suffix) == suffix
end

local function record_ref(ctx)
  return { apiVersion = "v1", kind = "ConfigMap", namespace = ctx.params.namespace, name = RECORD }
end

-- The halted runs ConfigMap refit-kaptain-upgrade records for this upgrade.
local function recorded_halted(ctx)
  local cm = ctx.cluster:get(record_ref(ctx))
  if not cm or not made_by_this_upgrade(ctx, cm.metadata.labels) then return {} end
  local ok, list = pcall(json.decode, cm.data and cm.data[RECORD_KEY] or "")
  return ok and type(list) == "table" and list or {}
end

-- Every run halted for this upgrade, by this run or an earlier one: the durable record first (it
-- survives the upgrade, which deletes the runs' Workflows), then Workflows carrying the annotation,
-- then this run's state.
local function halted_runs(ctx)
  local out, seen = {}, {}
  local function add(p)
    local key = tostring(p.namespace) .. "/" .. tostring(p.workflow)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = { namespace = p.namespace, workflow = p.workflow, run = p.run, pipeline = p.pipeline }
    end
  end
  for _, p in ipairs(recorded_halted(ctx)) do add(p) end
  for _, wf in ipairs(pipeline_workflows(ctx)) do
    if (wf.metadata.annotations or {})[HALTED_ANNOTATION] == ctx.params.to then add(pipeline_run(wf)) end
  end
  for _, p in ipairs(ctx.state.halted or {}) do add(p) end
  return out
end

local WHERE_HALTED = "ConfigMap " .. RECORD .. " in namespace kubeflow (kubectl get configmap " .. RECORD ..
  " --namespace kubeflow -o yaml; the halted Workflows also carry the annotation " .. HALTED_ANNOTATION .. ")"

-- The point of no return's recovery text (seed 002 has no downgrade; KUDO refuses one). KUDO never
-- retries a plan that ended FATAL_ERROR: the re-run triggers it again (the plan-trigger step).
local UPGRADE_RECOVERY = "KUDO cannot downgrade an operator instance (kubectl kudo upgrade refuses a smaller " ..
  "version), so Kaptain stays at the target version. See where its plan stands with kubectl kudo plan status " ..
  "--instance kaptain --namespace kubeflow. If the plan ended FATAL_ERROR, KUDO does not retry it: fix what the " ..
  "failing phase and step report (kubectl describe and logs of their resources in namespace kubeflow), then run " ..
  "refit apply kaptain/upgrade again with the same parameters: the upgrade is skipped, the plan is triggered again " ..
  "from the beginning (kubectl kudo plan trigger --name deploy --instance kaptain --namespace kubeflow) and " ..
  "monitored until it completes. If the plan was still running when this run stopped (a timeout), the re-run only " ..
  "monitors it. If the plan does not recover, contact D2iQ support. The pipelines halted for the upgrade are " ..
  "listed in " .. WHERE_HALTED .. " and in this run's log: resubmit them with the Kubeflow Pipelines SDK once " ..
  "Kaptain runs. With backup=true, the old pipeline data is in the Velero backup (velero backup get)."

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

local function check_instance(ctx)
  local inst = instance(ctx)
  ctx:require(inst, "Kaptain is not installed here: no KUDO Instance %s in namespace %s of cluster %s " ..
              "(kubectl kudo install installs it; this playbook only upgrades)", ctx.params.instance,
              ctx.params.namespace, ctx.cluster:name())
end

-- Only 1.2.0-1.0.0 -> 1.2.0-1.1.0 (scripts/kaptain/data/paths.yaml). A run that stopped after the
-- upgrade command (the instance is at the target, its plan not yet complete) resumes monitoring.
local function check_version(ctx)
  local inst = instance(ctx)
  if not inst then return end
  local from = installed_version(ctx, inst)
  ctx:require(from, "cannot tell the Kaptain version of Instance %s/%s: OperatorVersion %s is missing",
              ctx.params.namespace, ctx.params.instance, inst.spec.operatorVersion.name)
  local graph = paths.load(resource("data/paths.yaml"), "scripts/kaptain/data/paths.yaml")
  local plan = plan_status(inst)
  if from == ctx.params.to and plan and plan.status ~= "COMPLETE" then
    if plan.status == "FATAL_ERROR" then
      ctx.log("Kaptain is already being upgraded to %s and its plan %s ended FATAL_ERROR (%s): the upgrade is " ..
              "skipped and the plan triggered again, as KUDO never retries it", from, tostring(plan.name),
              failing_step(plan, "FATAL_ERROR"))
    else
      ctx.log("Kaptain is already being upgraded to %s (plan %s): the upgrade is skipped and its plan monitored",
              from, tostring(plan.status))
    end
    return
  end
  local ok, why = graph:check(from, ctx.params.to)
  ctx:require(ok, "%s", why)
  ctx.log("Kaptain %s -> %s (KUDO Instance %s/%s)", from, ctx.params.to, ctx.params.namespace, ctx.params.instance)
end

local function addon_object(ctx, a)
  return ctx.cluster:get { apiVersion = ADDON_API, kind = a.kind, namespace = a.namespace, name = a.name }
end

-- "stable-1.19-3.2.0" -> { "1.19", "3.2.0" } (stable-<kubernetes>-<release of the repository>)
local function config_version(v)
  local kubernetes, release = tostring(v or ""):match("^stable%-(%d+%.%d+)%-(%d+%.%d+%.%d+)$")
  return kubernetes and { kubernetes, release }
end

-- Orders two config versions: by Kubernetes minor, then by the repository's release.
local function version_order(found, want)
  local c = semver.compare(found[1], want[1])
  if c ~= 0 then return c end
  return semver.compare(found[2], want[2])
end

-- The cluster.yaml entries that enable `names` of each repository at the document's configVersion.
local function cluster_yaml(by_repo, order)
  local yaml = {}
  for _, repo in ipairs(order) do
    yaml[#yaml + 1] = "  - configRepository: " .. repo
    yaml[#yaml + 1] = "    configVersion: " .. by_repo[repo].version
    yaml[#yaml + 1] = "    addonsList:"
    for _, name in ipairs(by_repo[repo].names) do
      yaml[#yaml + 1] = "      - name: " .. name
      yaml[#yaml + 1] = "        enabled: true"
    end
  end
  return table.concat(yaml, "\n")
end

local function group(list, pick)
  local by_repo, order = {}, {}
  for _, a in ipairs(list) do
    if pick(a) then
      if not by_repo[a.repo] then
        by_repo[a.repo] = { version = a.version, names = {} }
        order[#order + 1] = a.repo
      end
      table.insert(by_repo[a.repo].names, a.name)
    end
  end
  return by_repo, order
end

-- seed 002, "Upgrading Kaptain": the addons enabled, from the configRepository and configVersion the
-- document gives. A deployed addon carries where cluster.yaml took it from (annotations
-- kubeaddons.mesosphere.io/config-repository and config-version). Another repository, an older
-- configVersion or one refit cannot read is refused: the addons Kaptain 1.2.0-1.1.0 needs (knative
-- of kubeaddons-kaptain stable-1.20-1.1.0 above all) are not known to be there. A newer configVersion
-- of the same repository is accepted with a warning: the document's list says which addons Kaptain
-- needs at least, a later release of the same repository still ships them, and asking for the exact
-- version would mean downgrading cluster addons, a change the document does not ask for.
local function check_addons(ctx)
  local missing, unready, mismatched, newer, unknown = {}, {}, {}, {}, {}
  for _, a in ipairs(ADDONS) do
    local obj = addon_object(ctx, a)
    if not obj then
      missing[a.name] = true
      missing[#missing + 1] = a.name
    else
      local ann = obj.metadata.annotations or {}
      local repo, version = ann["kubeaddons.mesosphere.io/config-repository"], ann["kubeaddons.mesosphere.io/config-version"]
      if not repo or not version then
        unknown[#unknown + 1] = a.name
      else
        local found, want = config_version(version), config_version(a.version)
        local where = string.format("%s (%s %s)", a.name, repo, version)
        if repo ~= a.repo or not found then
          mismatched[a.repo] = true
          mismatched[#mismatched + 1] = where
        else
          local order = version_order(found, want)
          if order < 0 then
            mismatched[a.repo] = true
            mismatched[#mismatched + 1] = where
          elseif order > 0 then
            newer[#newer + 1] = where
          end
        end
      end
      if not (obj.status and obj.status.ready) then
        unready[#unready + 1] = string.format("%s (%s is %s)", a.name, a.kind, tostring(obj.status and obj.status.stage or "not ready"))
      end
    end
  end
  if #missing > 0 then
    local by_repo, order = group(ADDONS, function(a) return missing[a.name] end)
    ctx:fail("Kaptain needs these addons, which are not enabled on cluster %s: %s. Enable them in the addons of " ..
             "your Konvoy cluster.yaml and run konvoy deploy addons, then run again:\n%s",
             ctx.cluster:name(), table.concat(missing, ", "), cluster_yaml(by_repo, order))
  end
  if #mismatched > 0 then
    -- every addon of a repository moves with its configVersion: the snippet lists all Kaptain needs from it
    local by_repo, order = group(ADDONS, function(a) return mismatched[a.repo] end)
    local wanted = {}
    for _, repo in ipairs(order) do wanted[#wanted + 1] = repo .. " " .. by_repo[repo].version end
    ctx:fail("these addons Kaptain needs on cluster %s are deployed from another configRepository or an older " ..
             "configVersion than %s requires (%s): %s. Set the configRepository and configVersion below in the " ..
             "addons of your Konvoy cluster.yaml and run konvoy deploy addons, then run again:\n%s",
             ctx.cluster:name(), GUIDE, table.concat(wanted, ", "), table.concat(mismatched, ", "),
             cluster_yaml(by_repo, order))
  end
  if #newer > 0 then
    ctx.log.warn("these addons come from a newer configVersion than %s names: %s; accepted (a later release of the " ..
                 "same addon repository still ships the addons Kaptain needs)", GUIDE, table.concat(newer, ", "))
  end
  if #unknown > 0 then
    ctx.log.warn("cannot tell which configVersion deployed these addons (no kubeaddons.mesosphere.io/config-version " ..
                 "annotation): %s; make sure your Konvoy cluster.yaml takes them from the configVersions %s names",
                 table.concat(unknown, ", "), GUIDE)
  end
  ctx:require(#unready == 0, "these addons Kaptain needs are enabled but not ready: %s; wait until konvoy deploy " ..
              "addons has finished (kubectl get clusteraddons,addons -A), then run again", table.concat(unready, ", "))
end

local function check_healthy(ctx)
  local inst = instance(ctx)
  if not inst then return end
  local plan, name = plan_status(inst)
  local status = plan and plan.status or "NEVER_RUN"
  if installed_version(ctx, inst) == ctx.params.to then return end   -- resumed: the monitor step judges it
  ctx:require(status == "COMPLETE",
    "the KUDO Instance %s/%s is not healthy: its plan %s is %s (%s). Upgrade only a Kaptain whose last plan " ..
    "completed: see kubectl kudo plan status --instance %s --namespace %s", ctx.params.namespace, ctx.params.instance,
    name, status, failing_step(plan, status == "IN_PROGRESS" and "IN_PROGRESS" or status), ctx.params.instance,
    ctx.params.namespace)
end

-- The seed's breaking changes: without an acknowledgement or a backup, nothing happens.
local function check_data_loss(ctx)
  if ctx.params.backup then
    ctx.log("%s; Velero backs namespace %s up first (backup %s, volumes included)", DATA_LOSS, ctx.params.namespace,
            backup_name(ctx))
    return
  end
  if ctx.params.accept_pipeline_data_loss then
    ctx.log.warn("%s; accepted with accept_pipeline_data_loss=true", DATA_LOSS)
    return
  end
  ctx:fail("%s. Choose one of two ways to proceed: --set accept_pipeline_data_loss=true to accept that loss, or " ..
           "--set backup=true to back namespace %s up with Velero (volumes included) before the upgrade",
           DATA_LOSS, ctx.params.namespace)
end

local BACKUP_FAILED = { PartiallyFailed = true, Failed = true, FailedValidation = true, Deleting = true }

-- backup=true: Velero installed, its storage location `default` Available (else a backup ends
-- FailedValidation: better refused before anything), and no backup of that name that this upgrade
-- did not make (the backup step would take it for done).
local function check_velero(ctx)
  if not ctx.params.backup then return end
  local ns = ctx.cluster:get { kind = "Namespace", name = "velero" }
  local deploy = ns and ctx.cluster:get { kind = "Deployment", namespace = "velero", name = "velero" }
  ctx:require(deploy, "backup=true needs Velero on cluster %s, and it has no %s: enable the velero addon of " ..
              "kubernetes-base-addons in your Konvoy cluster.yaml (konvoy deploy addons), or back the data up your " ..
              "own way and use accept_pipeline_data_loss=true", ctx.cluster:name(),
              ns and "Deployment velero in namespace velero" or "namespace velero")
  local bsl = ctx.cluster:get { apiVersion = VELERO_API, kind = "BackupStorageLocation", namespace = "velero", name = "default" }
  ctx:require(bsl, "backup=true needs the Velero BackupStorageLocation default (velero.io/v1, namespace velero) on " ..
              "cluster %s, and there is none: Velero has nowhere to write the backup. Configure the velero addon's " ..
              "backup storage (velero backup-location get lists the locations), then run again", ctx.cluster:name())
  local phase = bsl.status and bsl.status.phase
  ctx:require(phase == "Available", "the Velero BackupStorageLocation default on cluster %s is %s, not Available: " ..
              "Velero cannot write to its bucket, so a backup would end FailedValidation. See velero backup-location " ..
              "get and the logs of Deployment velero in namespace velero (credentials, bucket, endpoint), fix the " ..
              "location until its phase is Available, then run again", ctx.cluster:name(), tostring(phase or "unvalidated"))

  local name = backup_name(ctx)
  local b = ctx.cluster:get { apiVersion = VELERO_API, kind = "Backup", namespace = "velero", name = name }
  if not b then return end
  local bphase = tostring(b.status and b.status.phase or "New")
  local started = tostring(b.status and b.status.startTimestamp or b.metadata.creationTimestamp or "at an unknown time")
  if not made_by_this_upgrade(ctx, b.metadata.labels) then
    ctx:fail("a Velero backup named %s already exists on cluster %s (started %s, %s), and this upgrade did not make " ..
             "it (it has no label %s=%s): it does not hold the pipeline data as it is now. Delete it (velero backup " ..
             "delete %s) if you no longer need it, or choose another name with --set backup_name=<name>, then run again",
             name, ctx.cluster:name(), started, bphase, UPGRADE_LABEL, upgrade_label(ctx) or ("<from>-to-" .. ctx.params.to),
             name)
  end
  if BACKUP_FAILED[bphase] then
    ctx:fail("the Velero backup %s an earlier run of this upgrade made ended %s: it does not hold the pipeline data. " ..
             "See velero backup describe %s --details, fix the cause, delete it (velero backup delete %s) and run again",
             name, bphase, name, name)
  end
  if bphase ~= "Completed" then
    ctx:fail("the Velero backup %s an earlier run of this upgrade started is still %s: wait until velero backup get %s " ..
             "says Completed, then run again", name, bphase, name)
  end
  ctx.log("the Velero backup %s (Completed, started %s) was made by an earlier run of this upgrade: it is kept and " ..
          "not taken again", name, started)
end

-- What the seed says keeps running: reported, never touched.
local function report_workloads(ctx)
  local counts = {}
  for _, w in ipairs(KEEP_RUNNING) do
    local n = #try_list(ctx, w.api, w.kind)
    if n > 0 then counts[#counts + 1] = string.format("%d %s", n, w.what) end
  end
  if #counts > 0 then
    ctx.log("these keep running through the upgrade and are not touched: %s", table.concat(counts, ", "))
  end
end

---------------------------------------------------------------------------------------------------
-- Steps
---------------------------------------------------------------------------------------------------

local function halted_names(runs)
  local out = {}
  for _, p in ipairs(runs) do out[#out + 1] = describe_run(p) end
  return out
end

-- seed 002, "Breaking changes": with backup=true, namespace kubeflow is backed up before anything else
-- changes. It runs before the pipelines are halted: a backup that fails leaves them running (halting
-- cannot be undone, and halting them for an upgrade that does not happen would cost the operator their
-- runs for nothing). Only a backup this upgrade made (label refit.dev/upgrade) counts as done.
local backup_step = refit.step "backup" {
  summary = "back namespace kubeflow up with Velero, volumes included (backup=true), before anything changes",
  when = function(ctx) return ctx.params.backup end,
  done = function(ctx)
    -- once the instance is at the target the old data is being replaced: a backup now would not hold it
    if installed_version(ctx) == ctx.params.to then return true end
    local r = ctx:exec { "velero", "backup", "get", backup_name(ctx), "-o", "json", check = false }
    return r.code == 0 and r.json ~= nil and r.json.status ~= nil and r.json.status.phase == "Completed" and
           made_by_this_upgrade(ctx, r.json.metadata and r.json.metadata.labels)
  end,
  run = function(ctx)
    ctx:exec { "velero", "backup", "create", backup_name(ctx), "--include-namespaces", ctx.params.namespace,
               "--default-volumes-to-restic", "--labels", UPGRADE_LABEL .. "=" .. upgrade_label(ctx), "--wait",
               mutates = true, timeout = ctx.params.backup_timeout }
  end,
  verify = function(ctx)
    local name = backup_name(ctx)
    local r = ctx:exec { "velero", "backup", "get", name, "-o", "json" }
    local status = r.json and r.json.status or {}
    local why = ""
    if given(status.failureReason) then
      why = " (" .. status.failureReason .. ")"
    elseif status.validationErrors and #status.validationErrors > 0 then
      why = " (" .. table.concat(status.validationErrors, "; ") .. ")"
    elseif status.errors and status.errors > 0 then
      why = string.format(" with %d errors", status.errors)
    end
    ctx:require(status.phase == "Completed",
      "Velero backup %s ended %s%s: the pipeline data is not safely backed up, so the upgrade does not start and " ..
      "no pipeline was halted. See velero backup describe %s --details and velero backup logs %s; fix the cause, " ..
      "delete the backup (velero backup delete %s) and run again", name, tostring(status.phase), why, name, name, name)
    ctx.log("Velero backup %s of namespace %s: Completed, %s items", name, ctx.params.namespace,
            tostring(status.progress and status.progress.itemsBackedUp))
  end,
}

-- seed 002, "Workloads behavior": running pipelines are halted before the upgrade. Their names are
-- written to ConfigMap refit-kaptain-upgrade first, then each Workflow is annotated and terminated in
-- one patch, so that an interrupted run, a re-run and the operator still know what to resubmit.
local halt_step = refit.step "halt-pipelines" {
  summary = "record the running Kubeflow Pipelines runs (ConfigMap refit-kaptain-upgrade), then halt them " ..
            "(Argo Workflows: annotation refit.dev/halted-for-upgrade, shutdown Terminate)",
  done = function(ctx)
    return #running_pipelines(ctx) == 0 or installed_version(ctx) == ctx.params.to
  end,
  run = function(ctx)
    local runs = running_pipelines(ctx)
    -- recorded before anything changes, so that a failure still lists what to resubmit
    ctx.state.halted = runs
    local all = halted_runs(ctx)
    ctx.cluster:apply {
      apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = RECORD, namespace = ctx.params.namespace,
                   labels = { ["app.kubernetes.io/managed-by"] = "refit", [UPGRADE_LABEL] = upgrade_label(ctx) } },
      data = { [RECORD_KEY] = json.encode(all) },
    }
    for _, p in ipairs(runs) do
      ctx.cluster:patch({ apiVersion = ARGO_API, kind = "Workflow", namespace = p.namespace, name = p.workflow },
                        { metadata = { annotations = { [HALTED_ANNOTATION] = ctx.params.to } },
                          spec = { shutdown = "Terminate" } })
    end
    ctx.log("halting %d running pipelines before the upgrade (%s, \"Workloads behavior during the upgrades\"), " ..
            "recorded in ConfigMap %s/%s: %s", #runs, GUIDE, ctx.params.namespace, RECORD,
            table.concat(halted_names(runs), ", "))
  end,
  verify = function(ctx)
    for _, p in ipairs(ctx.state.halted or {}) do
      ctx:wait(string.format("Workflow %s/%s stopped", p.namespace, p.workflow), function()
        local wf = ctx.cluster:get { apiVersion = ARGO_API, kind = "Workflow", namespace = p.namespace, name = p.workflow }
        if not wf then return true end
        local phase = wf.status and wf.status.phase
        if phase == "Running" or phase == "Pending" then return false, "phase " .. tostring(phase) end
        return true
      end, { timeout = "5m", interval = "5s" })
    end
  end,
  -- a run that fails later still says what to resubmit (the endpoint step says it on success)
  cleanup = function(ctx)
    local halted = halted_names(halted_runs(ctx))
    if #halted > 0 and not ctx.state.resubmit_reported then
      ctx.log.warn("these pipelines were halted for the upgrade; resubmit them with the Kubeflow Pipelines SDK once " ..
                   "Kaptain runs: %s (recorded in ConfigMap %s/%s)", table.concat(halted, ", "), ctx.params.namespace,
                   RECORD)
    end
  end,
  irreversible = "Argo cannot resume a terminated Workflow: the halted pipeline runs have to be resubmitted with " ..
                 "the Kubeflow Pipelines SDK (their names are in " .. WHERE_HALTED .. "). Nothing else changed.",
}

local upgrade_step = refit.step "kudo-upgrade" {
  summary = "kubectl kudo upgrade --instance kaptain --namespace kubeflow ./kubeflow-1.2.0_1.1.0.tgz",
  done = function(ctx) return installed_version(ctx) == ctx.params.to end,
  run = function(ctx)
    ctx:exec { "kubectl", "kudo", "upgrade", "--instance", ctx.params.instance, "--namespace", ctx.params.namespace,
               package(ctx), mutates = true }
    ctx.log("point of no return: Instance %s/%s now points at OperatorVersion %s", ctx.params.namespace,
            ctx.params.instance, target_ov(ctx))
  end,
  verify = function(ctx)
    local inst = instance(ctx)
    ctx:require(inst and inst.spec.operatorVersion.name == target_ov(ctx),
                "Instance %s/%s does not point at %s after kubectl kudo upgrade", ctx.params.namespace,
                ctx.params.instance, target_ov(ctx))
  end,
  irreversible = UPGRADE_RECOVERY,
}

-- A re-run that finds the instance at the target with its plan ended FATAL_ERROR: KUDO never retries
-- a FATAL_ERROR plan (COMPLETE and FATAL_ERROR are terminal), so monitoring alone would fail at once.
-- The operator fixed the cause (the recovery text asks that before a re-run): the plan starts again
-- from its first phase.
local function fatal_plan(ctx)
  local inst = instance(ctx)
  if not inst or installed_version(ctx, inst) ~= ctx.params.to then return nil end
  local plan, name = plan_status(inst)
  if plan and plan.status == "FATAL_ERROR" then return plan, name end
  return nil
end

local trigger_step = refit.step "plan-trigger" {
  summary = "on a re-run after the plan ended FATAL_ERROR: kubectl kudo plan trigger --name deploy --instance " ..
            "kaptain --namespace kubeflow (the plan starts over)",
  when = function(ctx) return fatal_plan(ctx) ~= nil end,
  run = function(ctx)
    local plan, name = fatal_plan(ctx)
    ctx.log.warn("the KUDO plan %s of Instance %s/%s ended FATAL_ERROR in an earlier run (%s) and KUDO never retries " ..
                 "it: triggering it again from the beginning, on the understanding that its cause was fixed",
                 name, ctx.params.namespace, ctx.params.instance, failing_step(plan, "FATAL_ERROR"))
    ctx:exec { "kubectl", "kudo", "plan", "trigger", "--name", name, "--instance", ctx.params.instance,
               "--namespace", ctx.params.namespace, mutates = true }
  end,
  verify = function(ctx)
    ctx:wait(string.format("KUDO plan of Instance %s/%s running again", ctx.params.namespace, ctx.params.instance),
      function()
        local plan = plan_status(instance(ctx))
        local s = plan and plan.status or "NEVER_RUN"
        return s ~= "FATAL_ERROR", "plan still " .. s
      end, { timeout = "2m", interval = "5s" })
  end,
}

local monitor_step = refit.step "plan" {
  summary = "kubectl kudo plan status until the plan is COMPLETE (FATAL_ERROR fails; ERROR: KUDO retries)",
  verify = function(ctx)
    local retried = {}
    -- Until KUDO's manager picks the upgrade up, the Instance still shows the plan run before it (COMPLETE,
    -- or FATAL_ERROR): a status last updated before the target OperatorVersion was created is that one. A
    -- resume right after kubectl kudo upgrade looks before the manager does.
    local ov = ctx.cluster:get { apiVersion = KUDO_API, kind = "OperatorVersion", namespace = ctx.params.namespace,
                                 name = target_ov(ctx) }
    local upgraded_at = ov and ov.metadata.creationTimestamp
    ctx:wait(string.format("KUDO plan of Instance %s/%s COMPLETE", ctx.params.namespace, ctx.params.instance), function()
      local r = ctx:exec { "kubectl", "kudo", "plan", "status", "--instance", ctx.params.instance, "--namespace",
                           ctx.params.namespace, "-o", "json" }
      local status = r.json or {}
      local agg = status.aggregatedStatus or {}
      local plan = status.planStatus and status.planStatus[agg.activePlanName or "deploy"]
      local s = plan and plan.status or "NEVER_RUN"
      if upgraded_at and plan and tostring(plan.lastUpdatedTimestamp or "") < upgraded_at then
        return false, "plan " .. tostring(plan.name) .. " is " .. s .. " from before the upgrade: KUDO has not started " ..
                      "the new one yet"
      end
      if s == "COMPLETE" then return true end
      if s == "FATAL_ERROR" then
        local out = ctx:exec { "kubectl", "kudo", "plan", "status", "--instance", ctx.params.instance, "--namespace",
                               ctx.params.namespace, check = false }
        ctx.log("%s", (out.stdout:gsub("%s+$", "")))
        error(string.format("the KUDO plan %s of Instance %s/%s ended FATAL_ERROR at %s. KUDO does not retry it: " ..
                            "fix what it reports, then run again with the same parameters (the plan is triggered " ..
                            "again with kubectl kudo plan trigger)", tostring(plan.name), ctx.params.namespace,
                            ctx.params.instance, failing_step(plan, "FATAL_ERROR")), 0)
      end
      if s == "ERROR" then
        local at = failing_step(plan, "ERROR")
        if not retried[at] then
          retried[at] = true
          ctx.log.warn("KUDO plan %s: %s; KUDO retries, waiting", tostring(plan.name), at)
        end
        return false, "ERROR at " .. at
      end
      return false, "plan " .. tostring(plan and plan.name or "deploy") .. " is " .. s
    end, { timeout = ctx.params.plan_timeout, interval = "30s" })
    local out = ctx:exec { "kubectl", "kudo", "plan", "status", "--instance", ctx.params.instance, "--namespace",
                           ctx.params.namespace }
    ctx.log("%s", (out.stdout:gsub("%s+$", "")))
  end,
}

-- The seed's endpoint: status.loadBalancer.ingress[*].ip on premises, .hostname on AWS.
local function endpoint(ctx)
  local svc = ctx.cluster:get { kind = "Service", namespace = ctx.params.namespace, name = "kubeflow-ingressgateway" }
  if not svc then return nil, "no Service kubeflow-ingressgateway in namespace " .. ctx.params.namespace end
  local ingress = svc.status and svc.status.loadBalancer and svc.status.loadBalancer.ingress or {}
  local field = ({ ["on-premises"] = "ip", aws = "hostname" })[ctx.params.platform]
  local values = {}
  for _, i in ipairs(ingress) do
    local v
    if field then v = i[field] else v = i.ip or i.hostname end
    if v then values[#values + 1] = v end
  end
  if #values == 0 then
    return nil, string.format("Service %s/kubeflow-ingressgateway has no load-balancer %s yet", ctx.params.namespace,
                              field or "address")
  end
  return table.concat(values, " ")
end

local endpoint_step = refit.step "endpoint" {
  summary = "print the Kaptain endpoint, the login hint and the pipelines to resubmit",
  verify = function(ctx)
    local where
    ctx:wait("a load-balancer address of Service kubeflow-ingressgateway", function()
      local v, why = endpoint(ctx)
      where = v
      return v ~= nil, why
    end, { timeout = "10m", interval = "15s" })
    ctx.log("Kaptain %s is up: https://%s", ctx.params.to, where)
    ctx.log("log in with the credentials that `konvoy get ops-portal` prints")
    -- from the durable record: a re-run's own state knows nothing of what an earlier run halted
    local halted = halted_names(halted_runs(ctx))
    if #halted > 0 then
      ctx.log("resubmit these pipelines with the Kubeflow Pipelines SDK (their history was not migrated): %s",
              table.concat(halted, ", "))
      ctx.log("the list stays in ConfigMap %s/%s; delete it once they are resubmitted (kubectl delete configmap %s " ..
              "--namespace %s)", ctx.params.namespace, RECORD, RECORD, ctx.params.namespace)
      ctx.state.resubmit_reported = true
    else
      ctx.log("no pipeline was halted for this upgrade: nothing to resubmit")
    end
  end,
}

local playbook = {
  summary = "Upgrade D2iQ Kaptain 1.2.0-1.0.0 -> 1.2.0-1.1.0 with KUDO (halts pipelines; MySQL/MinIO data not migrated)",
  description = [[
Upgrades Kaptain (Kubeflow on Konvoy, the KUDO Instance kaptain in namespace kubeflow) as D2iQ documents
it: checks the installed version (only 1.2.0-1.0.0 -> 1.2.0-1.1.0), the addons Kaptain needs (istio,
dex, cert-manager, prometheus, knative) and the KUDO instance's health; makes the operator accept that
pipeline history, metadata and MinIO data are not migrated (accept_pipeline_data_loss=true) or back
namespace kubeflow up with Velero first (backup=true, before anything else changes); records and halts
the running pipelines; runs kubectl kudo upgrade (a point of no return: KUDO cannot downgrade); follows
kubectl kudo plan status until the plan completes (a re-run after FATAL_ERROR triggers the plan again);
prints the endpoint, the login hint and the pipelines to resubmit. See docs/kaptain.md.]],
  params = {
    to = refit.param.string { default = "1.2.0-1.1.0", help = "target Kaptain version <kubeflow>-<kaptain>" },
    instance = refit.param.string { default = "kaptain", help = "the KUDO Instance of Kaptain" },
    namespace = refit.param.string { default = "kubeflow", help = "its namespace" },
    package = refit.param.string { help = "the package to upgrade to (default ./kubeflow-<kubeflow>_<kaptain>.tgz of `to`)" },
    accept_pipeline_data_loss = refit.param.bool {
      default = false,
      help = "accept that pipeline history and metadata (MySQL) and MinIO data are not migrated",
    },
    backup = refit.param.bool { default = false, help = "back namespace kubeflow up with Velero (volumes included) first" },
    backup_name = refit.param.string { help = "the Velero backup's name (default kaptain-before-<to>)" },
    platform = refit.param.enum { values = { "auto", "on-premises", "aws" }, default = "auto",
                                  help = "where Kaptain runs: the endpoint is the load balancer's ip on premises, its hostname on AWS" },
    plan_timeout = refit.param.duration { default = "90m", help = "limit for the KUDO plan" },
    backup_timeout = refit.param.duration { default = "2h", help = "limit for the Velero backup" },
  },
  preflight = {
    refit.check "kudo-instance" (check_instance),
    refit.check "version-route" (check_version),
    refit.check "addons" (check_addons),
    refit.check "instance-healthy" (check_healthy),
    refit.check "pipeline-data" (check_data_loss),
    refit.check "velero" (check_velero),
    refit.check "workloads" (report_workloads),
  },
  backup_step,
  halt_step,
  upgrade_step,
  trigger_step,
  monitor_step,
  endpoint_step,
}

return refit.playbook "kaptain/upgrade" (playbook)
