-- refit test tests/scripts/kaptain_upgrade_test.lua: the bundled kaptain/upgrade playbook (seed 002,
-- docs/kaptain.md) against the simulated Konvoy + Kaptain world: both platforms, every refusal, the
-- backup path and the failures.
local t = require "refit.test"

local PLAYBOOK = "scripts/kaptain/upgrade.lua"
local ONPREM = "examples/clusters/kaptain-on-konvoy.yaml"
local AWS = "tests/scripts/fixtures/kaptain-aws.yaml"
local KNATIVE_OFF = "tests/scripts/fixtures/kaptain-knative-disabled.yaml"
local ALREADY = "tests/scripts/fixtures/kaptain-1.1.yaml"
local UNHEALTHY = "tests/scripts/fixtures/kaptain-unhealthy.yaml"
local NO_VELERO = "tests/scripts/fixtures/kaptain-no-velero.yaml"
local PLAN_FAILS = "examples/scenarios/kaptain-plan-fails.yaml"
local BACKUP_FAILS = "examples/scenarios/kaptain-backup-fails.yaml"
local STEP_RETRIES = "examples/scenarios/kaptain-step-retries.yaml"
local FATAL_RERUN = "tests/scripts/fixtures/kaptain-plan-fatal-rerun.yaml"
local HALTED_RERUN = "tests/scripts/fixtures/kaptain-halted-rerun.yaml"
local OLD_KAPTAIN_ADDONS = "tests/scripts/fixtures/kaptain-old-kaptain-addons.yaml"
local NEWER_BASE_ADDONS = "tests/scripts/fixtures/kaptain-newer-base-addons.yaml"
local BSL_UNAVAILABLE = "tests/scripts/fixtures/kaptain-velero-unavailable.yaml"
local OLD_BACKUP = "tests/scripts/fixtures/kaptain-old-backup.yaml"
local BACKUP_DONE = "tests/scripts/fixtures/kaptain-backup-done.yaml"

local UPGRADE = "kubectl kudo upgrade --instance kaptain --namespace kubeflow ./kubeflow-1.2.0_1.1.0.tgz"
local STATUS = "kubectl kudo plan status --instance kaptain --namespace kubeflow"
local TRIGGER = "kubectl kudo plan trigger --name deploy --instance kaptain --namespace kubeflow"
local BACKUP = "velero backup create kaptain-before-1-2-0-1-1-0 --include-namespaces kubeflow --default-volumes-to-restic " ..
  "--labels refit.dev/upgrade=1.2.0-1.0.0-to-1.2.0-1.1.0 --wait"
local LOSS = "Kaptain 1.2.0-1.1.0 replaces the MySQL databases of Kubeflow Pipelines with one new highly-available " ..
  "MySQL and the single-instance MinIO with a new highly-available MinIO, and migrates neither (the Kaptain upgrade " ..
  "guide, \"Breaking changes\"): the pipeline execution history and metadata (MySQL) and the pipeline artifacts and " ..
  "transient data (MinIO) are not carried over"

local function plan(opts)
  opts.playbook = PLAYBOOK
  opts.sim = opts.sim or ONPREM
  return t.plan(opts)
end

local function commands(r, mutating_only)
  local out = {}
  for _, e in ipairs(r:all("command")) do
    if e.mutates or not mutating_only then out[#out + 1] = table.concat(e.argv, " ") end
  end
  return out
end

local function logs(r, level)
  local out = {}
  for _, e in ipairs(r:all("log", level and { level = level } or nil)) do out[#out + 1] = e.message end
  return out
end

local function has(list, text)
  for _, s in ipairs(list) do if s == text then return true end end
  return false
end

local function instance(r, cluster)
  return r:objects(cluster or "konvoy", "Instance")[1]
end

local function workflows(r, cluster)
  local out = {}
  for _, wf in ipairs(r:objects(cluster or "konvoy", "Workflow")) do
    out[wf.metadata.namespace .. "/" .. wf.metadata.annotations["pipelines.kubeflow.org/run_name"]] = wf.status.phase
  end
  return out
end

local function by_name(list)
  local out = {}
  for _, o in ipairs(list) do out[o.metadata.namespace .. "/" .. o.metadata.name] = o end
  return out
end

-- The halted runs ConfigMap refit-kaptain-upgrade records, as "namespace/workflow run pipeline".
local function recorded(r, cluster)
  local cm = by_name(r:objects(cluster or "konvoy", "ConfigMap"))["kubeflow/refit-kaptain-upgrade"]
  if not cm then return nil end
  local out = {}
  for _, p in ipairs(require("refit.json").decode(cm.data["halted-pipelines.json"])) do
    out[#out + 1] = p.namespace .. "/" .. p.workflow .. " " .. p.run .. " " .. p.pipeline
  end
  return out, cm
end

local function workflow_phases(r)
  local out = {}
  for _, wf in ipairs(r:objects("konvoy", "Workflow")) do out[wf.metadata.name] = wf.status.phase end
  return out
end

local function assert_untouched(r)
  t.eq(r.status, "precondition_failed", r.output)
  t.eq(r.exit_code, 2)
  t.eq(r:find("mutation"), nil)
  t.eq(#commands(r, true), 0)
  t.eq(r:find("step_started"), nil)
  t.eq(r.world, r.world_before)
end

local RESUBMIT_ONPREM = "resubmit these pipelines with the Kubeflow Pipelines SDK (their history was not migrated): " ..
  "pipeline mnist-e2e (run mnist-e2e-tuning, namespace data-science), pipeline xgboost-training (run " ..
  "xgboost-nightly-0412, namespace data-science)"

---------------------------------------------------------------------------------------------------
-- Happy paths
---------------------------------------------------------------------------------------------------

t.case("on premises: halt, upgrade, plan COMPLETE, endpoint https://<ip>, resubmit list", function()
  local r = plan { set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), { "backup=skipped:when", "halt-pipelines=succeeded", "kudo-upgrade=succeeded",
                          "plan-trigger=skipped:when", "plan=succeeded", "endpoint=succeeded" })
  t.eq(commands(r, true), { UPGRADE })
  t.eq(r:find("step_started", { step = "kudo-upgrade" }).irreversible, true)
  -- the plan is shown with the seed's exact command once it completes
  t.eq(r:find("command", { step = "plan", argv = { "kubectl", "kudo", "plan", "status", "--instance", "kaptain",
                                                   "--namespace", "kubeflow" } }).code, 0)
  t.ok(r:find("wait_finished", { step = "plan", ok = true }).waited >= 20 * 60 * 1000, "the plan takes tens of minutes")
  local info = logs(r, "info")
  t.ok(has(info, "Kaptain 1.2.0-1.1.0 is up: https://10.0.50.21"), table.concat(info, "\n"))
  t.ok(has(info, "log in with the credentials that `konvoy get ops-portal` prints"))
  t.ok(has(info, RESUBMIT_ONPREM), table.concat(info, "\n"))
  t.ok(has(logs(r, "warn"), LOSS .. "; accepted with accept_pipeline_data_loss=true"))

  -- the world after: the instance at the new OperatorVersion, its plan COMPLETE
  local inst = instance(r)
  t.eq(inst.spec.operatorVersion.name, "kubeflow-1.2.0-1.1.0")
  t.eq(inst.status.aggregatedStatus, { status = "COMPLETE", activePlanName = "deploy" })
  -- the halted pipelines were terminated before the upgrade (Argo: Failed, "Stopped with strategy 'Terminate'")
  t.eq(r:find("state_set", { key = "halted" }).value[1].run, "mnist-e2e-tuning")
  -- new HA MySQL and MinIO, history and data not migrated; Workflows gone with it
  local kaptain = r.world.cloud.kaptain.konvoy
  t.eq(kaptain.mysql.runs, {})
  t.eq(kaptain.minio.objects, 0)
  t.eq(r.world_before.cloud.kaptain.konvoy.mysql.runs, { "xgboost-nightly-0412", "mnist-e2e-tuning", "churn-weekly-14" })
  t.eq(#r:objects("konvoy", "Workflow"), 0)
  -- ... but the record of the halted runs survives the upgrade, and the endpoint step says where it is
  t.eq(#recorded(r), 2)
  t.ok(has(info, "the list stays in ConfigMap kubeflow/refit-kaptain-upgrade; delete it once they are resubmitted " ..
                 "(kubectl delete configmap refit-kaptain-upgrade --namespace kubeflow)"))
  local sts = by_name(r:objects("konvoy", "StatefulSet"))
  t.eq(sts["kubeflow/kaptain-mysql"].spec.replicas, 3)
  t.eq(sts["kubeflow/kaptain-minio"].spec.replicas, 4)
  local deploys = by_name(r:objects("konvoy", "Deployment"))
  t.eq(deploys["kubeflow/mysql"], nil)
  t.eq(deploys["kubeflow/minio"], nil)
end)

t.case("running pipelines are halted before the upgrade: Terminate, then Failed as Argo reports it", function()
  local r = plan { set = { accept_pipeline_data_loss = true } }
  local patches = {}
  for _, e in ipairs(r:all("mutation", { step = "halt-pipelines", kind = "Workflow" })) do
    patches[#patches + 1] = e.patch.spec.shutdown
  end
  t.eq(patches, { "Terminate", "Terminate" })
  -- halting finished before kubectl kudo upgrade started
  local halted_at = r:find("step_finished", { step = "halt-pipelines" })
  local upgrade_at = r:find("step_started", { step = "kudo-upgrade" })
  local order = {}
  for i, e in ipairs(r.events) do
    if e == halted_at then order[#order + 1] = "halted" .. i end
    if e == upgrade_at then order[#order + 1] = "upgrade" .. i end
  end
  t.match(table.concat(order, " "), "^halted%d+ upgrade%d+$")
  -- the finished run is not touched
  t.eq(#r:all("mutation", { step = "halt-pipelines", kind = "Workflow" }), 2)
end)

t.case("halted runs are recorded before they are terminated: ConfigMap refit-kaptain-upgrade, then annotation + Terminate", function()
  -- plan_timeout stops the run before the plan deletes the Workflows, to see them as halting left them
  local r = plan { set = { accept_pipeline_data_loss = true, plan_timeout = "5m" } }
  local order = {}
  for _, e in ipairs(r:all("mutation", { step = "halt-pipelines" })) do order[#order + 1] = e.kind .. " " .. e.name end
  t.eq(order, { "ConfigMap refit-kaptain-upgrade", "Workflow mnist-e2e-jvpx8", "Workflow xgboost-training-86675" })
  local _, cm = recorded(r)
  t.eq(cm.metadata.labels, { ["app.kubernetes.io/managed-by"] = "refit",
                             ["refit.dev/upgrade"] = "1.2.0-1.0.0-to-1.2.0-1.1.0" })
  -- names only
  t.eq(require("refit.json").decode(cm.data["halted-pipelines.json"]), {
    { namespace = "data-science", workflow = "mnist-e2e-jvpx8", run = "mnist-e2e-tuning", pipeline = "mnist-e2e" },
    { namespace = "data-science", workflow = "xgboost-training-86675", run = "xgboost-nightly-0412",
      pipeline = "xgboost-training" } })
  local annotated = {}
  for _, wf in ipairs(r:objects("konvoy", "Workflow")) do
    annotated[wf.metadata.annotations["pipelines.kubeflow.org/run_name"]] =
      wf.metadata.annotations["refit.dev/halted-for-upgrade"] or "none"
  end
  -- the run that had already finished is neither halted nor marked
  t.eq(annotated, { ["mnist-e2e-tuning"] = "1.2.0-1.1.0", ["xgboost-nightly-0412"] = "1.2.0-1.1.0",
                    ["churn-weekly-14"] = "none" })
end)

t.case("notebooks, training jobs, Katib experiments and Spark applications are not touched", function()
  local r = plan { set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  for _, kind in ipairs { "Notebook", "TFJob", "PyTorchJob", "MXNetJob", "Experiment", "SparkApplication" } do
    local before = {}
    for key, list in pairs(r.world_before.clusters.konvoy.objects) do
      if key:match("/" .. kind .. "$") then before = list end
    end
    t.ok(#before > 0, kind)
    t.eq(r:objects("konvoy", kind), before, kind)
  end
  for _, e in ipairs(r:all("mutation")) do
    t.ok(e.kind == "Workflow" or (e.kind == "ConfigMap" and e.name == "refit-kaptain-upgrade"),
         "only pipeline runs (and the record of them) are changed by the playbook itself: " .. tostring(e.kind))
  end
end)

t.case("on AWS: the endpoint is the load balancer's hostname", function()
  local r = plan { sim = AWS, set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(commands(r, true), { UPGRADE })
  local info = logs(r, "info")
  t.ok(has(info, "Kaptain 1.2.0-1.1.0 is up: https://a4f3c1b2d9e8f7a6b5c4d3e2f1a0b9c8-1234567890.us-west-2.elb.amazonaws.com"),
       table.concat(info, "\n"))
  t.ok(has(info, "resubmit these pipelines with the Kubeflow Pipelines SDK (their history was not migrated): " ..
                 "pipeline taxi-fare (run taxi-fare-daily-88, namespace ml-team)"))
  t.eq(instance(r, "konvoy-aws").spec.operatorVersion.name, "kubeflow-1.2.0-1.1.0")
  t.eq(r:objects("konvoy-aws", "Notebook"), r.world_before.clusters["konvoy-aws"].objects["kubeflow.org/Notebook"])
end)

t.case("platform=on-premises on AWS finds no ip and says so", function()
  local r = plan { sim = AWS, set = { accept_pipeline_data_loss = true, platform = "on-premises" } }
  t.eq(r.status, "failed")
  t.contains(r:find("step_finished", { step = "endpoint" }).error,
             "Service kubeflow/kubeflow-ingressgateway has no load-balancer ip yet")
end)

t.case("credentials are never printed: only the konvoy get ops-portal hint", function()
  local r = plan { set = { accept_pipeline_data_loss = true } }
  t.eq(r:find("command", { argv = { "konvoy", "get", "ops-portal" } }), nil)
  t.ok(has(logs(r), "log in with the credentials that `konvoy get ops-portal` prints"), "the hint is printed")
  local secret
  for _, s in ipairs(r:objects("konvoy", "Secret")) do
    if s.metadata.name == "ops-portal-credentials" then secret = s end
  end
  local password = assert(require("refit.base64").decode(assert(secret, "the fixture's credentials").data.password))
  local events = require("refit.json").encode(r.events)
  for what, text in pairs { output = r.output, events = events } do
    t.eq(text:find(password, 1, true), nil, "the password in the " .. what)
    t.eq(text:find(secret.data.password, 1, true), nil, "the encoded password in the " .. what)
  end
end)

---------------------------------------------------------------------------------------------------
-- Refusals
---------------------------------------------------------------------------------------------------

t.case("without acknowledgement or backup: refused, saying what is lost and the two ways on", function()
  local r = plan {}
  assert_untouched(r)
  t.eq(r:failed_checks { positions = false }["pipeline-data"], LOSS .. ". Choose one of two ways " ..
       "to proceed: --set accept_pipeline_data_loss=true to accept that loss, or --set backup=true to back namespace " ..
       "kubeflow up with Velero (volumes included) before the upgrade")
end)

t.case("knative and dex not enabled: refused, each named, with the cluster.yaml snippet", function()
  local r = plan { sim = KNATIVE_OFF, set = { accept_pipeline_data_loss = true } }
  assert_untouched(r)
  t.eq(r:failed_checks { positions = false }.addons, "Kaptain needs these addons, which are not " ..
    "enabled on cluster konvoy: dex, knative. Enable them in the addons of your Konvoy cluster.yaml and run konvoy " ..
    "deploy addons, then run again:\n" ..
    "  - configRepository: https://github.com/mesosphere/kubernetes-base-addons\n" ..
    "    configVersion: stable-1.19-3.2.0\n" ..
    "    addonsList:\n" ..
    "      - name: dex\n" ..
    "        enabled: true\n" ..
    "  - configRepository: https://github.com/mesosphere/kubeaddons-kaptain\n" ..
    "    configVersion: stable-1.20-1.1.0\n" ..
    "    addonsList:\n" ..
    "      - name: knative\n" ..
    "        enabled: true")
end)

t.case("knative from an older kubeaddons-kaptain configVersion: refused, naming it, with the cluster.yaml snippet", function()
  local r = plan { sim = OLD_KAPTAIN_ADDONS, set = { accept_pipeline_data_loss = true } }
  assert_untouched(r)
  t.eq(r:failed_checks { positions = false }.addons, "these addons Kaptain needs on cluster konvoy are deployed from " ..
    "another configRepository or an older configVersion than the Kaptain upgrade guide requires " ..
    "(https://github.com/mesosphere/kubeaddons-kaptain stable-1.20-1.1.0): knative " ..
    "(https://github.com/mesosphere/kubeaddons-kaptain stable-1.20-1.0.0). Set the configRepository and " ..
    "configVersion below in the addons of your Konvoy cluster.yaml and run konvoy deploy addons, then run again:\n" ..
    "  - configRepository: https://github.com/mesosphere/kubeaddons-kaptain\n" ..
    "    configVersion: stable-1.20-1.1.0\n" ..
    "    addonsList:\n" ..
    "      - name: knative\n" ..
    "        enabled: true")
end)

t.case("base addons from a newer configVersion than documented: accepted with a warning", function()
  local r = plan { sim = NEWER_BASE_ADDONS, set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:warnings()[1], "these addons come from a newer configVersion than the Kaptain upgrade guide names: " ..
    "istio (https://github.com/mesosphere/kubernetes-base-addons stable-1.19-3.4.1), dex " ..
    "(https://github.com/mesosphere/kubernetes-base-addons stable-1.19-3.4.1), cert-manager " ..
    "(https://github.com/mesosphere/kubernetes-base-addons stable-1.19-3.4.1), prometheus " ..
    "(https://github.com/mesosphere/kubernetes-base-addons stable-1.19-3.4.1); accepted (a later release of the same " ..
    "addon repository still ships the addons Kaptain needs)")
end)

t.case("Kaptain 1.2.0-1.1.0 already installed: refused, nothing to upgrade", function()
  local r = plan { sim = ALREADY, set = { accept_pipeline_data_loss = true } }
  assert_untouched(r)
  t.contains(r:failed_checks { positions = false }["version-route"], "Kaptain is already at 1.2.0-1.1.0: 1.2.0-1.1.0 -> 1.2.0-1.1.0 is no upgrade")
end)

t.case("a target the documentation does not name: refused by the upgrade paths", function()
  local r = plan { set = { accept_pipeline_data_loss = true, to = "1.2.0-1.2.0" } }
  assert_untouched(r)
  t.contains(r:failed_checks { positions = false }["version-route"], "Kaptain 1.2.0-1.2.0 is newer than the versions refit knows")
end)

t.case("an unhealthy KUDO instance (last plan FATAL_ERROR): refused", function()
  local r = plan { sim = UNHEALTHY, set = { accept_pipeline_data_loss = true } }
  assert_untouched(r)
  t.contains(r:failed_checks { positions = false }["instance-healthy"], "the KUDO Instance kubeflow/kaptain is not healthy: its plan " ..
             "deploy is FATAL_ERROR (phase auth, step oidc-authservice: failed to apply the oidc-authservice " ..
             "StatefulSet: admission webhook denied the request)")
end)

t.case("backup=true without Velero: refused before anything changes", function()
  local r = plan { sim = NO_VELERO, set = { backup = true } }
  assert_untouched(r)
  t.contains(r:failed_checks { positions = false }.velero, "backup=true needs Velero on cluster konvoy, and it has no namespace velero")
end)

t.case("backup=true with the Velero BackupStorageLocation default Unavailable: refused before anything changes", function()
  local r = plan { sim = BSL_UNAVAILABLE, set = { backup = true } }
  assert_untouched(r)
  t.eq(r:failed_checks { positions = false }.velero, "the Velero BackupStorageLocation default on cluster konvoy is " ..
    "Unavailable, not Available: Velero cannot write to its bucket, so a backup would end FailedValidation. See velero " ..
    "backup-location get and the logs of Deployment velero in namespace velero (credentials, bucket, endpoint), fix " ..
    "the location until its phase is Available, then run again")
end)

t.case("backup=true and an old backup of the default name that this upgrade did not make: refused, naming it", function()
  local r = plan { sim = OLD_BACKUP, set = { backup = true } }
  assert_untouched(r)
  t.eq(r:failed_checks { positions = false }.velero, "a Velero backup named kaptain-before-1-2-0-1-1-0 already exists " ..
    "on cluster konvoy (started 2025-12-04T02:00:00Z, Completed), and this upgrade did not make it (it has no label " ..
    "refit.dev/upgrade=1.2.0-1.0.0-to-1.2.0-1.1.0): it does not hold the pipeline data as it is now. Delete it " ..
    "(velero backup delete kaptain-before-1-2-0-1-1-0) if you no longer need it, or choose another name with --set " ..
    "backup_name=<name>, then run again")
  -- another name: the old backup is left alone and a new one taken
  local r2 = plan { sim = OLD_BACKUP, set = { backup = true, backup_name = "kaptain-upgrade-0101" } }
  t.eq(r2.status, "succeeded", r2.output)
  t.eq(r2:mutating_commands()[1], "velero backup create kaptain-upgrade-0101 --include-namespaces kubeflow " ..
       "--default-volumes-to-restic --labels refit.dev/upgrade=1.2.0-1.0.0-to-1.2.0-1.1.0 --wait")
end)

---------------------------------------------------------------------------------------------------
-- Backup path
---------------------------------------------------------------------------------------------------

t.case("backup=true: the Velero backup of kubeflow (volumes included) completes before kubectl kudo upgrade", function()
  local r = plan { set = { backup = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), { "backup=succeeded", "halt-pipelines=succeeded", "kudo-upgrade=succeeded",
                          "plan-trigger=skipped:when", "plan=succeeded", "endpoint=succeeded" })
  t.eq(commands(r, true), { BACKUP, UPGRADE })
  local backup = r:objects("konvoy", "Backup")[1]
  t.eq(backup.status.phase, "Completed")
  t.eq(backup.spec.includedNamespaces, { "kubeflow" })
  t.eq(backup.spec.defaultVolumesToRestic, true)
  t.eq(r.world.cloud.velero.konvoy["kaptain-before-1-2-0-1-1-0"].resticVolumes, 4)
  -- the backup saw the old MySQL and MinIO: it ran before the upgrade replaced them
  t.ok(r:find("command", { step = "backup", argv = { "velero", "backup", "create", "kaptain-before-1-2-0-1-1-0",
    "--include-namespaces", "kubeflow", "--default-volumes-to-restic", "--labels",
    "refit.dev/upgrade=1.2.0-1.0.0-to-1.2.0-1.1.0", "--wait" } }).duration > 2 * 60 * 1000)
  -- the backup is marked as this upgrade's: a re-run recognises it (and nothing older)
  t.eq(backup.metadata.labels["refit.dev/upgrade"], "1.2.0-1.0.0-to-1.2.0-1.1.0")
end)

t.case("a PartiallyFailed backup stops the run before the upgrade, and before any pipeline is halted", function()
  local r = plan { set = { backup = true }, scenario = BACKUP_FAILS }
  t.eq(r.status, "failed", r.output)
  t.eq(r:step_results(), { "backup=failed" })
  t.eq(commands(r, true), { BACKUP })
  t.contains(r:find("step_finished", { step = "backup" }).error,
             "Velero backup kaptain-before-1-2-0-1-1-0 ended PartiallyFailed with 1 errors: the pipeline data is " ..
             "not safely backed up, so the upgrade does not start and no pipeline was halted")
  t.eq(instance(r).spec.operatorVersion.name, "kubeflow-1.2.0-1.0.0")
  -- the backup changed the world (it exists) and has no undo: rollback stops there
  t.eq(r:find("step_rolled_back", { step = "backup" }).status, "none")
  -- the running pipelines still run: nothing was terminated for an upgrade that did not happen
  t.eq(workflows(r), { ["data-science/xgboost-nightly-0412"] = "Running", ["data-science/mnist-e2e-tuning"] = "Running",
                       ["analytics/churn-weekly-14"] = "Succeeded" })
  t.eq(#r:all("mutation", { kind = "Workflow" }), 0)
  t.eq(recorded(r), nil)
  t.eq(r:find("step_started", { step = "halt-pipelines" }), nil)
  t.ok(not table.concat(logs(r, "warn"), "\n"):find("halted", 1, true), table.concat(logs(r, "warn"), "\n"))
end)

t.case("a re-run after the backup completed: this upgrade's backup is reused, not taken again", function()
  local r = plan { sim = BACKUP_DONE, set = { backup = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), { "backup=skipped:done", "halt-pipelines=succeeded", "kudo-upgrade=succeeded",
                          "plan-trigger=skipped:when", "plan=succeeded", "endpoint=succeeded" })
  t.eq(commands(r, true), { UPGRADE })
  t.ok(has(logs(r, "info"), "the Velero backup kaptain-before-1-2-0-1-1-0 (Completed, started 2025-12-31T23:40:00Z) " ..
                           "was made by an earlier run of this upgrade: it is kept and not taken again"))
end)

---------------------------------------------------------------------------------------------------
-- Re-runs
---------------------------------------------------------------------------------------------------

t.case("re-run after plan FATAL_ERROR: the plan is triggered again from the beginning and completes", function()
  local r = plan { sim = FATAL_RERUN, set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), { "backup=skipped:when", "halt-pipelines=skipped:done", "kudo-upgrade=skipped:done",
                          "plan-trigger=succeeded", "plan=succeeded", "endpoint=succeeded" })
  t.eq(commands(r, true), { TRIGGER })
  t.ok(has(logs(r, "info"), "Kaptain is already being upgraded to 1.2.0-1.1.0 and its plan deploy ended FATAL_ERROR " ..
    "(phase storage, step mysql: kaptain-mysql-pxc-0 is not ready: readiness probe failed: ERROR 2003 (HY000): Can't " ..
    "connect to MySQL server): the upgrade is skipped and the plan triggered again, as KUDO never retries it"))
  t.eq(r:warnings()[2], "the KUDO plan deploy of Instance kubeflow/kaptain ended FATAL_ERROR in an earlier run (phase " ..
    "storage, step mysql: kaptain-mysql-pxc-0 is not ready: readiness probe failed: ERROR 2003 (HY000): Can't connect " ..
    "to MySQL server) and KUDO never retries it: triggering it again from the beginning, on the understanding that its " ..
    "cause was fixed")
  -- the trigger happened before the plan was monitored
  local trig = r:find("command", { step = "plan-trigger" })
  t.eq(table.concat(trig.argv, " "), TRIGGER)
  local inst = instance(r)
  t.eq(inst.status.aggregatedStatus, { status = "COMPLETE", activePlanName = "deploy" })
  t.eq(inst.status.planStatus.deploy.message, nil)
  t.eq(inst.spec.planExecution.planName, "deploy")
  -- the plan ran from its first phase and did what the upgrade from 1.2.0-1.0.0 does
  t.eq(by_name(r:objects("konvoy", "StatefulSet"))["kubeflow/kaptain-mysql"].spec.replicas, 3)
  t.eq(r.world.cloud.kaptain.konvoy.mysql.runs, {})
  t.ok(r:find("wait_finished", { step = "plan", ok = true }).waited >= 20 * 60 * 1000)
  -- the halted runs' Workflows are gone with the upgrade; the earlier run's record still names them
  t.eq(#r:objects("konvoy", "Workflow"), 0)
  t.ok(has(logs(r, "info"), RESUBMIT_ONPREM), table.concat(logs(r, "info"), "\n"))
end)

t.case("re-run after the pipelines were halted: the resubmit list comes from the record, plus what this run halts", function()
  local r = plan { sim = HALTED_RERUN, set = { accept_pipeline_data_loss = true } }
  t.eq(r.status, "succeeded", r.output)
  -- only the run started since is halted now
  t.eq(#r:all("mutation", { step = "halt-pipelines", kind = "Workflow" }), 1)
  t.eq(r:find("state_set", { key = "halted" }).value[1].run, "churn-weekly-15")
  t.ok(has(logs(r, "info"), "resubmit these pipelines with the Kubeflow Pipelines SDK (their history was not " ..
    "migrated): pipeline mnist-e2e (run mnist-e2e-tuning, namespace data-science), pipeline xgboost-training (run " ..
    "xgboost-nightly-0412, namespace data-science), pipeline churn-prediction (run churn-weekly-15, namespace analytics)"),
    table.concat(logs(r, "info"), "\n"))
  local list = recorded(r)
  t.eq(#list, 3)
  t.match(list[3], "^analytics/churn%-prediction%-%w+ churn%-weekly%-15 churn%-prediction$")
end)

t.case("operator messages cite the Kaptain upgrade guide, never the seed document's number", function()
  for _, opts in ipairs {
    { set = { accept_pipeline_data_loss = true } },
    { set = { accept_pipeline_data_loss = true }, scenario = PLAN_FAILS },
    { set = {} },
    { sim = FATAL_RERUN, set = { accept_pipeline_data_loss = true } },
  } do
    local r = plan(opts)
    local texts = logs(r)
    for _, msg in pairs(r:failed_checks { positions = false }) do
      if type(msg) == "string" then texts[#texts + 1] = msg end
    end
    for _, e in ipairs(r:all("step_finished")) do texts[#texts + 1] = e.error end
    for _, e in ipairs(r:all("irreversible_reached")) do texts[#texts + 1] = e.recovery end
    for _, text in ipairs(texts) do t.ok(not text:lower():find("seed", 1, true), text) end
  end
end)

---------------------------------------------------------------------------------------------------
-- Failures of the plan
---------------------------------------------------------------------------------------------------

t.case("plan FATAL_ERROR: the step fails naming phase, step and message; nothing after it; recovery text", function()
  local r = plan { set = { accept_pipeline_data_loss = true }, scenario = PLAN_FAILS }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), { "backup=skipped:when", "halt-pipelines=succeeded", "kudo-upgrade=succeeded",
                          "plan-trigger=skipped:when", "plan=failed" })
  t.contains(r:find("step_finished", { step = "plan" }).error,
             "the KUDO plan deploy of Instance kubeflow/kaptain ended FATAL_ERROR at phase storage, step mysql: " ..
             "kaptain-mysql-pxc-0 is not ready: readiness probe failed: ERROR 2003 (HY000): Can't connect to MySQL server")
  t.eq(r:find("step_started", { step = "endpoint" }), nil)
  local irr = r:find("irreversible_reached")
  t.eq(irr.step, "kudo-upgrade")
  t.contains(irr.recovery, "KUDO cannot downgrade an operator instance")
  t.contains(irr.recovery, "kubectl kudo plan status --instance kaptain --namespace kubeflow")
  -- a re-run can succeed: it triggers the plan again (KUDO never retries a FATAL_ERROR plan)
  t.contains(irr.recovery, "If the plan ended FATAL_ERROR, KUDO does not retry it: fix what the failing phase and " ..
             "step report")
  t.contains(irr.recovery, "the upgrade is skipped, the plan is triggered again from the beginning (" .. TRIGGER ..
             ") and monitored until it completes")
  t.contains(irr.recovery, "listed in ConfigMap refit-kaptain-upgrade in namespace kubeflow")
  t.ok(not irr.recovery:find("this run's state", 1, true), irr.recovery)
  t.eq(instance(r).status.aggregatedStatus.status, "FATAL_ERROR")
  -- the pipelines to resubmit are still named
  t.ok(has(logs(r, "warn"), "these pipelines were halted for the upgrade; resubmit them with the Kubeflow Pipelines " ..
       "SDK once Kaptain runs: pipeline mnist-e2e (run mnist-e2e-tuning, namespace data-science), pipeline " ..
       "xgboost-training (run xgboost-nightly-0412, namespace data-science) (recorded in ConfigMap " ..
       "kubeflow/refit-kaptain-upgrade)"), table.concat(logs(r, "warn"), "\n"))
end)

t.case("plan ERROR: KUDO retries and the playbook keeps waiting until COMPLETE", function()
  local r = plan { set = { accept_pipeline_data_loss = true }, scenario = STEP_RETRIES }
  t.eq(r.status, "succeeded", r.output)
  t.ok(has(logs(r, "warn"), "KUDO plan deploy: phase kubeflow, step katib: A transient error when executing task " ..
       "deploy.kubeflow.katib. Will retry. katib-controller webhook is not ready: x509: certificate signed by " ..
       "unknown authority; KUDO retries, waiting"))
  t.eq(instance(r).status.aggregatedStatus.status, "COMPLETE")
end)

t.case("plan_timeout: a plan still IN_PROGRESS at the limit fails the step, saying where it stands", function()
  local r = plan { set = { accept_pipeline_data_loss = true, plan_timeout = "5m" } }
  t.eq(r.status, "failed")
  t.contains(r:find("step_finished", { step = "plan" }).error, "plan deploy is IN_PROGRESS")
end)

---------------------------------------------------------------------------------------------------
-- The models the playbook relies on (KUDO, Argo), through tests/scripts/playbooks/commands.lua
---------------------------------------------------------------------------------------------------

local COMMANDS = "tests/scripts/playbooks/commands.lua"

local function run_commands(list, sim, scenario)
  local r = t.plan { playbook = COMMANDS, sim = sim or ONPREM, scenario = scenario,
                     set = { commands = table.concat(list, ",") } }
  local results = {}
  for _, e in ipairs(r:all("state_set")) do results[tonumber(e.key:match("%d+"))] = e.value end
  return r, results
end

t.case("Argo: a Workflow with spec.shutdown Terminate ends Failed with Argo's message", function()
  local r = run_commands { "patch-workflow data-science mnist-e2e-jvpx8 Terminate", "sleep 1m" }
  local wf = by_name(r:objects("konvoy", "Workflow"))["data-science/mnist-e2e-jvpx8"]
  t.eq(wf.status.phase, "Failed")
  t.eq(wf.status.message, "Stopped with strategy 'Terminate'")
  t.eq(wf.metadata.labels["workflows.argoproj.io/completed"], "true")
  t.eq(by_name(r:objects("konvoy", "Workflow"))["data-science/xgboost-training-86675"].status.phase, "Running")
end)

t.case("kubectl kudo: upgrade output, plan status tree, refusals with KUDO's texts", function()
  local _, res = run_commands {
    UPGRADE, "sleep 2m", STATUS, UPGRADE,
    "kubectl kudo upgrade --instance nope --namespace kubeflow ./kubeflow-1.2.0_1.1.0.tgz",
    "kubectl kudo upgrade --instance kaptain --namespace kubeflow ./kubeflow-1.2.0_1.0.0.tgz",
  }
  t.eq(res[1], { code = 0, stdout = "operatorversion kubeflow/kubeflow-1.2.0-1.1.0 created\ninstance kubeflow/kaptain updated\n",
                 stderr = "" })
  t.contains(res[3].stdout, 'Plan(s) for "kaptain" in namespace "kubeflow":\n.\n' ..
             '└── kaptain (Operator-Version: "kubeflow-1.2.0-1.1.0" Active-Plan: "deploy")\n' ..
             '    └── Plan deploy (serial strategy) [IN_PROGRESS], last updated 2026-01-01 00:')
  t.contains(res[3].stdout, "        ├── Phase prerequisites (serial strategy) [IN_PROGRESS]\n")
  t.contains(res[3].stdout, "        │   ├── Step crds [")
  t.contains(res[3].stdout, "        ├── Phase storage (serial strategy) [PENDING]\n        │   ├── Step mysql [PENDING]")
  -- the same version again: KUDO refuses (and kubectl-kudo exits -1)
  t.eq(res[4].code, 255)
  t.eq(res[4].stderr, "Error: upgraded version 1.1.0 is the same or smaller as current version 1.1.0 -> not upgrading\n")
  t.eq(res[5].stderr, "Error: instance kubeflow/nope does not exist in the cluster\n")
  t.eq(res[6].stderr, "Error: upgraded version 1.0.0 is the same or smaller as current version 1.1.0 -> not upgrading\n")
end)

t.case("kubectl kudo plan wait returns when the plan completes, after tens of minutes", function()
  local r, res = run_commands { UPGRADE, "kubectl kudo plan wait --instance kaptain --namespace kubeflow --wait-time 90m" }
  t.eq(res[2].code, 0)
  local d = r:find("command", { step = "cmd[2]" }).duration
  t.ok(d >= 20 * 60 * 1000 and d <= 60 * 60 * 1000, tostring(d))
  t.eq(instance(r).status.aggregatedStatus.status, "COMPLETE")
end)

t.case("kubectl kudo plan trigger: refused while the plan runs; after FATAL_ERROR it starts over and the fault does not fire again", function()
  local WAIT = "kubectl kudo plan wait --instance kaptain --namespace kubeflow --wait-time 90m"
  local r, res = run_commands({
    UPGRADE, "sleep 2m", TRIGGER, WAIT, STATUS, TRIGGER .. " --wait --wait-time 5400", STATUS,
    "kubectl kudo plan trigger --instance kaptain --namespace kubeflow",
    "kubectl kudo plan trigger --name nope --instance kaptain --namespace kubeflow",
  }, ONPREM, PLAN_FAILS)
  -- while the plan runs, KUDO's admission webhook refuses a trigger
  t.eq(res[3].code, 255)
  t.eq(res[3].stderr, "Error: failed to update instance kubeflow/kaptain: admission webhook " ..
       "\"instance-admission.kudo.dev\" denied the request: failed to update Instance kubeflow/kaptain: plan deploy is " ..
       "still running (IN_PROGRESS), a new plan can't be triggered\n")
  -- the plan ends FATAL_ERROR (the scenario's fault, times: 1) and stays there: KUDO does not retry it
  t.eq(res[4].stderr, "Error: instance kubeflow/kaptain plan failed with FATAL_ERROR\n")
  t.contains(res[5].stdout, "Plan deploy (serial strategy) [FATAL_ERROR] (kaptain-mysql-pxc-0 is not ready")
  -- the trigger starts the plan over from its first phase; the fault has fired and does not again
  t.eq(res[6], { code = 0, stdout = "Triggered deploy plan for kubeflow/kaptain instance\n", stderr = "" })
  t.contains(res[7].stdout, "Plan deploy (serial strategy) [COMPLETE], last updated")
  local inst = instance(r)
  t.eq(inst.status.aggregatedStatus, { status = "COMPLETE", activePlanName = "deploy" })
  t.eq(inst.status.planStatus.deploy.message, nil)
  for _, ph in ipairs(inst.status.planStatus.deploy.phases) do
    t.eq(ph.status, "COMPLETE", ph.name)
    for _, st in ipairs(ph.steps) do t.eq(st.status, "COMPLETE", ph.name .. "." .. st.name) end
  end
  -- it did what the upgrade from 1.2.0-1.0.0 does
  t.eq(by_name(r:objects("konvoy", "StatefulSet"))["kubeflow/kaptain-mysql"].spec.replicas, 3)
  -- with --wait, the trigger lasted the tens of minutes of a whole plan
  local d = r:find("command", { step = "cmd[6]" }).duration
  t.ok(d >= 20 * 60 * 1000, tostring(d))
  t.eq(res[8].stderr, "Error: please choose the plan name with '--name=<planName>'\n")
  t.eq(res[9].stderr, "Error: failed to update instance kubeflow/kaptain: admission webhook " ..
       "\"instance-admission.kudo.dev\" denied the request: trigger plan nope does not exist in operatorVersion " ..
       "kubeflow-1.2.0-1.1.0\n")
end)

t.case("fixture: planFailedAt and upgradedFrom describe where an earlier upgrade's plan stopped", function()
  local r = run_commands({ STATUS }, FATAL_RERUN)
  local inst = instance(r)
  local st = {}
  for _, ph in ipairs(inst.status.planStatus.deploy.phases) do
    local steps = {}
    for _, s in ipairs(ph.steps) do steps[#steps + 1] = s.name .. "=" .. s.status end
    st[#st + 1] = ph.name .. "=" .. ph.status .. " [" .. table.concat(steps, " ") .. "]"
  end
  t.eq(st, {
    "prerequisites=COMPLETE [crds=COMPLETE namespaces=COMPLETE istio-config=COMPLETE]",
    "storage=FATAL_ERROR [mysql=FATAL_ERROR minio=PENDING]",
    "kubeflow=PENDING [central-dashboard=PENDING profiles=PENDING notebooks=PENDING training-operators=PENDING " ..
      "katib=PENDING kfserving=PENDING]",
    "pipelines=PENDING [pipelines=PENDING metadata=PENDING]",
    "auth=PENDING [dex-client=PENDING oidc-authservice=PENDING]",
  })
  t.eq(inst.spec.operatorVersion.name, "kubeflow-1.2.0-1.1.0")
  t.eq(inst.status.aggregatedStatus.status, "FATAL_ERROR")
end)
