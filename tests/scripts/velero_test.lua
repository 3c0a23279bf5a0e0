-- refit test tests/scripts/velero_test.lua: the shared `velero` tool model (stdlib/refit/sim/velero.lua)
-- through the command-running test playbook: backup create / get / describe, timing, refusals, faults,
-- backup storage locations (default created with Velero; FailedValidation when not Available), labels.
-- (The commands parameter is a comma-separated list: a flag given twice stands for "a,b".)
local t = require "refit.test"

local COMMANDS = "tests/scripts/playbooks/commands.lua"
local WITH_VELERO = "examples/clusters/kaptain-on-konvoy.yaml"
local NO_VELERO = "tests/scripts/fixtures/kaptain-no-velero.yaml"

local function run(list, opts)
  opts = opts or {}
  local r = t.plan { playbook = COMMANDS, sim = opts.sim or WITH_VELERO, scenario = opts.scenario,
                     set = { commands = table.concat(list, ",") } }
  local results = {}
  for _, e in ipairs(r:all("state_set")) do results[tonumber(e.key:match("%d+"))] = e.value end
  return r, results
end

local function by_name_backup(r, name)
  for _, b in ipairs(r:objects("konvoy", "Backup")) do
    if b.metadata.name == name then return b end
  end
  return nil
end

t.case("backup create without --wait: submitted, InProgress, then Completed", function()
  local r, res = run { "velero backup create b1 --include-namespaces kubeflow", "velero backup get b1 -o json",
                       "sleep 10m", "velero backup get" }
  t.eq(res[1].stdout, "Backup request \"b1\" submitted successfully.\nRun `velero backup describe b1` or " ..
                      "`velero backup logs b1` for more details.\n")
  t.eq(res[2].code, 0)
  t.match(res[2].stdout, '"phase": "InProgress"')
  t.match(res[4].stdout, "^NAME +STATUS +ERRORS +WARNINGS +CREATED +EXPIRES +STORAGE LOCATION +SELECTOR\nb1 +Completed +0 +0 +2026%-01%-01 00:00:00 %+0000 UTC +29d +default +<none>\n$")
  local b = r:objects("konvoy", "Backup")[1]
  t.eq(b.metadata.namespace, "velero")
  t.eq(b.apiVersion, "velero.io/v1")
  t.eq(b.spec.includedNamespaces, { "kubeflow" })
  t.eq(b.status.progress.itemsBackedUp, b.status.progress.totalItems)
  t.ok(b.status.progress.totalItems > 10)
end)

t.case("--wait waits; the duration grows with the objects and, with restic, the volumes", function()
  local r, res = run { "velero backup create small --include-namespaces analytics --wait",
                       "velero backup create all --wait",
                       "velero backup create vols --include-namespaces kubeflow --default-volumes-to-restic --wait" }
  t.contains(res[1].stdout, "Backup completed with status: Completed. You may check for more information using the " ..
             "commands `velero backup describe small` and `velero backup logs small`.")
  local took, items = {}, {}
  for _, b in ipairs(r:objects("konvoy", "Backup")) do
    local function secs(ts) local h, m, s = ts:match("T(%d+):(%d+):(%d+)Z$"); return h * 3600 + m * 60 + s end
    took[b.metadata.name] = secs(b.status.completionTimestamp) - secs(b.status.startTimestamp)
    items[b.metadata.name] = b.status.progress.totalItems
  end
  t.ok(items.small < items.all, items.small .. " < " .. items.all)
  t.ok(took.small < took.all, took.small .. " < " .. took.all)
  t.ok(took.vols >= 20 + 4 * 30, "four volumes copied by restic: " .. took.vols)
  -- --wait: the command lasts as long as the backup
  t.ok(r:find("command", { step = "cmd[3]" }).duration >= took.vols * 1000)
end)

t.case("backup describe and the errors of the CLI", function()
  local _, res = run { "velero backup create b1 --include-namespaces kubeflow --default-volumes-to-restic --wait",
                       "velero backup describe b1", "velero backup create b1", "velero backup get nope",
                       "velero backup describe nope" }
  t.contains(res[2].stdout, "Name:         b1\nNamespace:    velero\n")
  t.contains(res[2].stdout, "Phase:  Completed\n")
  t.contains(res[2].stdout, "Namespaces:\n  Included:  kubeflow\n  Excluded:  <none>\n")
  t.contains(res[2].stdout, "Restic Backups (specify --details for more information):\n  Completed:  4\n")
  t.eq({ res[3].code, res[3].stderr }, { 1, "An error occurred: backups.velero.io \"b1\" already exists\n" })
  t.eq(res[4].stderr, "An error occurred: backups.velero.io \"nope\" not found\n")
  t.eq(res[5].stderr, "An error occurred: backups.velero.io \"nope\" not found\n")
end)

t.case("without Velero installed, backup create is refused and nothing is created", function()
  local r, res = run({ "velero backup create b1 --include-namespaces kubeflow --wait" }, { sim = NO_VELERO })
  t.eq(res[1], { code = 1, stdout = "",
                 stderr = "An error occurred: the server could not find the requested resource (post backups.velero.io)\n" })
  t.eq(#r:objects("konvoy", "Backup"), 0)
end)

t.case("velero-backup-fails: PartiallyFailed with errors", function()
  local r, res = run({ "velero backup create b1 --include-namespaces kubeflow --default-volumes-to-restic --wait" },
                     { scenario = "examples/scenarios/kaptain-backup-fails.yaml" })
  t.contains(res[1].stdout, "Backup completed with status: PartiallyFailed.")
  local b = r:objects("konvoy", "Backup")[1]
  t.eq({ b.status.phase, b.status.errors }, { "PartiallyFailed", 1 })
end)

t.case("--kubecontext names the world's cluster; an unknown one is refused", function()
  local _, res = run { "velero backup create b1 --kubecontext konvoy", "velero backup get --kubecontext elsewhere" }
  t.eq(res[1].code, 0)
  t.eq(res[2].stderr, "An error occurred: context \"elsewhere\" does not exist\n")
end)

t.case("a cluster with Velero gets BackupStorageLocation default, Available; without Velero, none", function()
  local r = run({ "velero backup get" }, { sim = "tests/scripts/fixtures/kaptain-backup-done.yaml" })
  local bsl = r:objects("konvoy", "BackupStorageLocation")
  t.eq(#bsl, 1)
  t.eq({ bsl[1].metadata.namespace, bsl[1].metadata.name, bsl[1].status.phase, bsl[1].spec.default },
       { "velero", "default", "Available", true })
  t.eq(r.world_before.clusters.konvoy.objects["velero.io/BackupStorageLocation"], bsl)
  local r2 = run({ "velero backup get" }, { sim = NO_VELERO })
  t.eq(#r2:objects("konvoy", "BackupStorageLocation"), 0)
end)

t.case("a backup to an Unavailable or missing location ends FailedValidation at once, with Velero's error", function()
  local r, res = run({ "velero backup create b1 --include-namespaces kubeflow --wait", "velero backup describe b1",
                       "velero backup create b2 --storage-location secondary --wait", "velero backup get b2 -o json" },
                     { sim = "tests/scripts/fixtures/kaptain-velero-unavailable.yaml" })
  t.contains(res[1].stdout, "Backup completed with status: FailedValidation.")
  t.ok(r:find("command", { step = "cmd[1]" }).duration < 10000)
  t.contains(res[2].stdout, "Phase:  FailedValidation\n\nValidation errors:  backup can't be created because " ..
             "BackupStorageLocation default is in Unavailable status.\n")
  t.contains(res[4].stdout, "a BackupStorageLocation CRD with the name specified in the backup spec needs to be created " ..
             "before this backup can be executed. Error: backupstoragelocations.velero.io \\\"secondary\\\" not found")
  local b = by_name_backup(r, "b1")
  t.eq(b.status.phase, "FailedValidation")
  t.eq(r.world.cloud.velero, nil)
end)

t.case("backup create --labels: the Backup carries them (with velero.io/storage-location)", function()
  local r, res = run { "velero backup create b1 --labels refit.dev/upgrade=a-to-b --labels team=ml --wait",
                       "velero backup describe b1", "velero backup create b2 --labels nope" }
  t.eq(by_name_backup(r, "b1").metadata.labels, { ["refit.dev/upgrade"] = "a-to-b", team = "ml",
                                                  ["velero.io/storage-location"] = "default" })
  t.contains(res[2].stdout, "Labels:       refit.dev/upgrade=a-to-b\n              team=ml\n" ..
             "              velero.io/storage-location=default\n")
  t.eq(res[3].stderr, "An error occurred: invalid argument \"nope\" for \"--labels\" flag: nope must be formatted as key=value\n")
end)
