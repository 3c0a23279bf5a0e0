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

local UPGRADE = "kubectl kudo upgrade --instance kaptain --namespace kubeflow ./kubeflow-1.2.0_1.1.0.tgz"
local STATUS = "kubectl kudo plan status --instance kaptain --namespace kubeflow"
local BACKUP = "velero backup create kaptain-before-1-2-0-1-1-0 --include-namespaces kubeflow --default-volumes-to-restic --wait"
local LOSS = "Kaptain 1.2.0-1.1.0 replaces the MySQL databases of Kubeflow Pipelines with one new highly-available " ..
  "MySQL and the single-instance MinIO with a new highly-available MinIO, and migrates neither (seed 002, \"Breaking " ..
  "changes\"): the pipeline execution history and metadata (MySQL) and the pipeline artifacts and transient data " ..
  "(MinIO) are not carried over"

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
  t.eq(r:step_results(), { "halt-pipelines=succeeded", "backup=skipped:when", "kudo-upgrade=succeeded",
                          "plan=succeeded", "endpoint=succeeded" })
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
  for _, e in ipairs(r:all("mutation", { step = "halt-pipelines" })) do
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
  t.eq(#r:all("mutation", { step = "halt-pipelines" }), 2)
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
    t.eq(e.kind, "Workflow", "only pipeline runs are changed by the playbook itself")
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
  for _, m in ipairs(logs(r)) do t.ok(not m:lower():find("password", 1, true), m) end
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

---------------------------------------------------------------------------------------------------
-- Backup path
---------------------------------------------------------------------------------------------------

t.case("backup=true: the Velero backup of kubeflow (volumes included) completes before kubectl kudo upgrade", function()
  local r = plan { set = { backup = true } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:step_results(), { "halt-pipelines=succeeded", "backup=succeeded", "kudo-upgrade=succeeded",
                          "plan=succeeded", "endpoint=succeeded" })
  t.eq(commands(r, true), { BACKUP, UPGRADE })
  local backup = r:objects("konvoy", "Backup")[1]
  t.eq(backup.status.phase, "Completed")
  t.eq(backup.spec.includedNamespaces, { "kubeflow" })
  t.eq(backup.spec.defaultVolumesToRestic, true)
  t.eq(r.world.cloud.velero.konvoy["kaptain-before-1-2-0-1-1-0"].resticVolumes, 4)
  -- the backup saw the old MySQL and MinIO: it ran before the upgrade replaced them
  t.ok(r:find("command", { step = "backup", argv = { "velero", "backup", "create", "kaptain-before-1-2-0-1-1-0",
    "--include-namespaces", "kubeflow", "--default-volumes-to-restic", "--wait" } }).duration > 2 * 60 * 1000)
end)

t.case("a PartiallyFailed backup stops the run before the upgrade", function()
  local r = plan { set = { backup = true }, scenario = BACKUP_FAILS }
  t.eq(r.status, "failed", r.output)
  t.eq(commands(r, true), { BACKUP })
  t.contains(r:find("step_finished", { step = "backup" }).error,
             "Velero backup kaptain-before-1-2-0-1-1-0 ended PartiallyFailed with 1 errors: the pipeline data is " ..
             "not safely backed up, so the upgrade does not start")
  t.eq(instance(r).spec.operatorVersion.name, "kubeflow-1.2.0-1.0.0")
  -- the backup changed the world (it exists) and has no undo: rollback stops there, the halted runs are named
  t.eq(r:find("step_rolled_back", { step = "backup" }).status, "none")
  t.contains(table.concat(logs(r, "warn"), "\n"), "these pipelines were halted for the upgrade")
end)

---------------------------------------------------------------------------------------------------
-- Failures of the plan
---------------------------------------------------------------------------------------------------

t.case("plan FATAL_ERROR: the step fails naming phase, step and message; nothing after it; recovery text", function()
  local r = plan { set = { accept_pipeline_data_loss = true }, scenario = PLAN_FAILS }
  t.eq(r.status, "failed", r.output)
  t.eq(r.exit_code, 4)
  t.eq(r:step_results(), { "halt-pipelines=succeeded", "backup=skipped:when", "kudo-upgrade=succeeded",
                          "plan=failed" })
  t.contains(r:find("step_finished", { step = "plan" }).error,
             "the KUDO plan deploy of Instance kubeflow/kaptain ended FATAL_ERROR at phase storage, step mysql: " ..
             "kaptain-mysql-pxc-0 is not ready: readiness probe failed: ERROR 2003 (HY000): Can't connect to MySQL server")
  t.eq(r:find("step_started", { step = "endpoint" }), nil)
  local irr = r:find("irreversible_reached")
  t.eq(irr.step, "kudo-upgrade")
  t.contains(irr.recovery, "KUDO cannot downgrade an operator instance")
  t.contains(irr.recovery, "kubectl kudo plan status --instance kaptain --namespace kubeflow")
  t.eq(instance(r).status.aggregatedStatus.status, "FATAL_ERROR")
  -- the pipelines to resubmit are still named
  t.ok(has(logs(r, "warn"), "these pipelines were halted for the upgrade; resubmit them with the Kubeflow Pipelines " ..
       "SDK once Kaptain runs: pipeline mnist-e2e (run mnist-e2e-tuning, namespace data-science), pipeline " ..
       "xgboost-training (run xgboost-nightly-0412, namespace data-science)"))
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

local function run_commands(list, sim)
  local r = t.plan { playbook = COMMANDS, sim = sim or ONPREM, set = { commands = table.concat(list, ",") } }
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
