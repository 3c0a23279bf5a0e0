-- refit.sim.velero: the `velero` CLI and the Velero server's backups (velero.io/v1 Backup objects in
-- namespace velero of the cluster the CLI talks to), shared by the product playbooks that back a
-- namespace up before a step that loses data (Kaptain, DKP).
--
-- Commands (the CLI talks to the default cluster; --kubeconfig/--kubecontext are accepted and,
-- when they name a cluster of the world (`--kubecontext NAME`, or a kubeconfig file named
-- NAME, NAME.conf, NAME.yaml or NAME-kubeconfig), talk to that one):
--   velero backup create NAME [--include-namespaces a,b] [--default-volumes-to-restic] [--wait]
--            [--labels k=v,...] [--storage-location NAME]
--   velero backup get [NAME] [-o json|yaml]
--   velero backup describe NAME
-- Errors are the CLI's: "An error occurred: ..." on stderr, exit 1.
--
-- Velero is installed when the cluster has namespace velero and Deployment velero in it; otherwise
-- `backup create` fails as it does without Velero's CRDs. Backups go to a BackupStorageLocation
-- (velero.io/v1, namespace velero; `default` unless --storage-location names another): a cluster
-- with Velero and no BackupStorageLocation at all gets `default`, phase Available (what the velero
-- addon configures); a fixture may give its own (e.g. phase Unavailable). A backup whose location
-- is missing or not Available ends FailedValidation at once, with Velero's validation error
-- (status.validationErrors). Otherwise a backup is InProgress, then Completed after
-- 20 s plus 40 ms per object backed up, plus 30-60 s per volume with --default-volumes-to-restic
-- (restic copies the PersistentVolumeClaims' data). The objects counted are those of the kinds below
-- in the included namespaces (all namespaces when none is given).
--
-- Scenario fault (docs/scenarios.md, "Velero"): velero-backup-fails { backup, phase, message }: the
-- backup (every backup when `backup` is left out) ends PartiallyFailed (default; errors > 0) or Failed
-- (status.failureReason = message).

local util = require "refit.sim.util"

local API = "velero.io/v1"
local NS = "velero"

-- What a backup counts: the kinds a Konvoy/Kaptain namespace holds (the world cannot list every kind).
local KINDS = {
  { "v1", "ConfigMap" }, { "v1", "Secret" }, { "v1", "Service" }, { "v1", "ServiceAccount" }, { "v1", "Pod" },
  { "v1", "PersistentVolumeClaim" }, { "apps/v1", "Deployment" }, { "apps/v1", "ReplicaSet" },
  { "apps/v1", "StatefulSet" }, { "apps/v1", "DaemonSet" }, { "batch/v1", "Job" },
  { "argoproj.io/v1alpha1", "Workflow" }, { "kudo.dev/v1beta1", "Instance" }, { "kudo.dev/v1beta1", "Operator" },
  { "kudo.dev/v1beta1", "OperatorVersion" }, { "kubeflow.org/v1", "Notebook" }, { "kubeflow.org/v1", "TFJob" },
  { "kubeflow.org/v1", "PyTorchJob" }, { "kubeflow.org/v1", "MXNetJob" }, { "kubeflow.org/v1beta1", "Experiment" },
  { "sparkoperator.k8s.io/v1beta2", "SparkApplication" },
}

local function take(env, cluster, name, what)
  return env.faults.take("velero-backup-fails", cluster, { backup = name }, what)
end

return {
  faults = {
    ["velero-backup-fails"] = { backup = "string", phase = "string", message = "string", match = { "backup" } },
  },
  new = function(W, env)
    local tools = env.tools
    local clusters = {}   -- the world's cluster names (filled by start)

    local function fail(ms, fmt, ...)
      return { code = 1, stdout = "", stderr = "An error occurred: " .. string.format(fmt, ...) .. "\n", duration = ms }
    end

    local function target(flags, call)
      local want = flags.kubecontext
      if not want and flags.kubeconfig then
        local base = flags.kubeconfig:match("([^/]+)$")
        want = base:gsub("%-kubeconfig$", ""):gsub("%.conf$", ""):gsub("%.yaml$", "")
        if not clusters[want] then want = nil end
      end
      if want and not clusters[want] then return nil, string.format("context %q does not exist", want) end
      return want or call.cluster
    end

    local function installed(c)
      return c:get { kind = "Namespace", name = NS } ~= nil and c:get { kind = "Deployment", namespace = NS, name = "velero" } ~= nil
    end

    local function ref(name) return { apiVersion = API, kind = "Backup", namespace = NS, name = name } end
    local function bsl_ref(name) return { apiVersion = API, kind = "BackupStorageLocation", namespace = NS, name = name } end

    -- Velero's validation of a new backup against its storage location: nil, or the error.
    local function location_error(c, location)
      local bsl = c:get(bsl_ref(location))
      if not bsl then
        return string.format("a BackupStorageLocation CRD with the name specified in the backup spec needs to be " ..
                             "created before this backup can be executed. Error: backupstoragelocations.velero.io " ..
                             "%q not found", location)
      end
      local phase = bsl.status and bsl.status.phase
      if phase ~= "Available" then
        return string.format("backup can't be created because BackupStorageLocation %s is in %s status.", location,
                             tostring(phase or "Unavailable"))
      end
      return nil
    end

    local function count(c, namespaces)
      local items, volumes = 0, 0
      local function one(ns)
        for _, k in ipairs(KINDS) do
          local n = #c:list { apiVersion = k[1], kind = k[2], namespace = ns }
          items = items + n
          if k[2] == "PersistentVolumeClaim" then volumes = volumes + n end
        end
      end
      if #namespaces == 0 then one(nil) else for _, ns in ipairs(namespaces) do one(ns) end end
      return items, volumes
    end

    local function split(v)
      local out = {}
      for _, s in ipairs(v or {}) do
        for part in s:gmatch("[^,]+") do out[#out + 1] = part end
      end
      return out
    end

    local function create(args, call)
      local flags = args.flags
      local name = args.pos[1]
      if not name then return fail(100, "accepts 1 arg(s), received 0") end
      local cluster, why = target(flags, call)
      if not cluster then return fail(300, "%s", why) end
      local c = W.cluster(cluster)
      if not installed(c) then
        return fail(900, "the server could not find the requested resource (post backups.velero.io)")
      end
      if c:get(ref(name)) then return fail(600, "backups.velero.io %q already exists", name) end
      local namespaces = split(flags["include-namespaces"])
      local restic = flags["default-volumes-to-restic"] == true
      local location = flags["storage-location"] or "default"
      local labels = { ["velero.io/storage-location"] = location }
      for _, kv in ipairs(split(flags.labels)) do
        local k, v = kv:match("^([^=]+)=(.*)$")
        if not k then return fail(100, "invalid argument %q for \"--labels\" flag: %s must be formatted as key=value", kv, kv) end
        labels[k] = v
      end
      local items, volumes = count(c, namespaces)
      local now = util.k8s_time(W.now())
      local invalid = location_error(c, location)
      c:create({
        apiVersion = API, kind = "Backup",
        metadata = { name = name, namespace = NS, labels = labels,
                     annotations = { ["velero.io/source-cluster-k8s-gitversion"] = c:version().gitVersion } },
        spec = { includedNamespaces = W.json.array(#namespaces > 0 and namespaces or { "*" }),
                 excludedNamespaces = W.json.array(split(flags["exclude-namespaces"])),
                 defaultVolumesToRestic = restic, storageLocation = location,
                 ttl = flags.ttl or "720h0m0s", hooks = {} },
        status = { phase = "InProgress", startTimestamp = now, version = 1, formatVersion = "1.1.0",
                   expiration = util.k8s_time(W.now() + 30 * 24 * 3600 * 1000),
                   progress = { totalItems = items, itemsBackedUp = 0 } },
      }, { quiet = true })
      if invalid then
        -- the backup controller validates it within a second: FailedValidation, nothing backed up
        W.after(800, function()
          c:patch_status(ref(name), { phase = "FailedValidation", validationErrors = W.json.array { invalid } },
                         { quiet = true })
        end, "velero backup " .. name .. " fails validation")
      end
      local ms = 20000 + 40 * items
      local restic_done = 0
      if restic then
        for _ = 1, volumes do ms = ms + W.random(30, 60) * 1000 end
        restic_done = volumes
      end
      local fault = not invalid and take(env, cluster, name, "backup " .. name .. " fails")
      W.after(ms, function()
        if invalid then return end
        local patch = { phase = "Completed", completionTimestamp = util.k8s_time(W.now()),
                        progress = { totalItems = items, itemsBackedUp = items }, errors = 0, warnings = 0 }
        if fault then
          patch.phase = fault.phase or "PartiallyFailed"
          if patch.phase == "Failed" then
            patch.failureReason = fault.message or "rpc error: code = Unknown desc = backup storage location default is unavailable"
            patch.progress = { totalItems = items, itemsBackedUp = 0 }
            restic_done = 0
          else
            patch.errors = 1
            patch.progress = { totalItems = items, itemsBackedUp = items - 1 }
          end
        end
        c:patch_status(ref(name), patch, { quiet = true })
        W.cloud.velero = W.cloud.velero or {}
        W.cloud.velero[cluster] = W.cloud.velero[cluster] or {}
        W.cloud.velero[cluster][name] = { phase = patch.phase, items = patch.progress.itemsBackedUp,
                                          resticVolumes = restic_done, message = fault and fault.message or nil }
      end, "velero backup " .. name)

      local out = { string.format("Backup request %q submitted successfully.", name) }
      if not flags.wait then
        out[#out + 1] = string.format("Run `velero backup describe %s` or `velero backup logs %s` for more details.", name, name)
        return tools.ok(table.concat(out, "\n") .. "\n", 1200)
      end
      out[#out + 1] = "Waiting for backup to complete. You may safely press ctrl-c to stop waiting - your backup " ..
                      "will continue in the background."
      local start = W.now()
      local phase
      W.run_until(function()
        local b = c:get(ref(name))
        phase = b and b.status and b.status.phase
        return phase ~= "InProgress" and phase ~= "New"
      end, 24 * 3600 * 1000, 1000)
      out[#out + 1] = string.rep(".", math.max(1, math.min(60, (W.now() - start) // 10000)))
      out[#out + 1] = string.format("Backup completed with status: %s. You may check for more information using the " ..
                                    "commands `velero backup describe %s` and `velero backup logs %s`.", phase, name, name)
      local r = tools.ok(table.concat(out, "\n") .. "\n", 0)
      r.duration = W.now() - start + 1200
      return r
    end

    local function age(ts)
      local t = util.parse_time(ts)
      if not t then return "<unknown>" end
      local d = (t - util.parse_time(util.EPOCH) - W.now()) // 1000
      if d <= 0 then return "0s" end
      if d >= 86400 then return (d // 86400) .. "d" end
      if d >= 3600 then return (d // 3600) .. "h" end
      return (d // 60) .. "m"
    end

    local function created(b)
      local t = util.parse_time(b.status and b.status.startTimestamp or "") or util.parse_time(util.EPOCH)
      return util.log_time(t - util.parse_time(util.EPOCH)) .. " +0000 UTC"
    end

    local function get(args, call)
      local flags = args.flags
      local cluster, why = target(flags, call)
      if not cluster then return fail(300, "%s", why) end
      local c = W.cluster(cluster)
      local list
      if args.pos[1] then
        local b = c:get(ref(args.pos[1]))
        if not b then return fail(500, "backups.velero.io %q not found", args.pos[1]) end
        list = { b }
      else
        list = installed(c) and c:list { apiVersion = API, kind = "Backup", namespace = NS } or {}
      end
      local out = flags.output
      if out == "json" or out == "yaml" then
        local doc = #list == 1 and args.pos[1] and list[1] or
                    { apiVersion = API, kind = "BackupList", metadata = {}, items = W.json.array(list) }
        if out == "json" then return tools.ok(W.json.encode(doc, { pretty = true }) .. "\n", 500) end
        return tools.ok(W.yaml.encode(doc), 500)
      elseif out and out ~= "table" then
        return fail(100, "invalid argument %q for \"-o, --output\" flag: output format must be one of table, json, yaml", out)
      end
      local rows = { { "NAME", "STATUS", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "STORAGE LOCATION", "SELECTOR" } }
      for _, b in ipairs(list) do
        local s = b.status or {}
        rows[#rows + 1] = { b.metadata.name, s.phase or "New", tostring(s.errors or 0), tostring(s.warnings or 0),
                            created(b), age(s.expiration), b.spec.storageLocation or "default", "<none>" }
      end
      local widths = {}
      for _, row in ipairs(rows) do
        for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
      end
      local lines = {}
      for _, row in ipairs(rows) do
        local cells = {}
        for i, cell in ipairs(row) do
          cells[i] = i < #row and (cell .. string.rep(" ", widths[i] - #cell)) or cell
        end
        lines[#lines + 1] = table.concat(cells, "   ")
      end
      return tools.ok(table.concat(lines, "\n") .. "\n", 500)
    end

    local function label_lines(labels)
      local out = {}
      for _, k in ipairs(util.sorted_keys(labels or {})) do out[#out + 1] = k .. "=" .. labels[k] end
      if #out == 0 then return "<none>" end
      return table.concat(out, "\n              ")
    end

    local function describe(args, call)
      local name = args.pos[1]
      if not name then return fail(100, "accepts 1 arg(s), received 0") end
      local cluster, why = target(args.flags, call)
      if not cluster then return fail(300, "%s", why) end
      local b = W.cluster(cluster):get(ref(name))
      if not b then return fail(500, "backups.velero.io %q not found", name) end
      local s, spec = b.status or {}, b.spec
      local record = W.cloud.velero and W.cloud.velero[cluster] and W.cloud.velero[cluster][name] or {}
      local excluded = #(spec.excludedNamespaces or {}) > 0 and table.concat(spec.excludedNamespaces, ", ") or "<none>"
      local lines = {
        "Name:         " .. name,
        "Namespace:    " .. NS,
        "Labels:       " .. label_lines(b.metadata.labels),
        "Annotations:  velero.io/source-cluster-k8s-gitversion=" .. tostring(b.metadata.annotations["velero.io/source-cluster-k8s-gitversion"]),
        "",
        "Phase:  " .. tostring(s.phase),
        "",
      }
      if s.failureReason then lines[#lines + 1] = "Failure reason:  " .. s.failureReason; lines[#lines + 1] = "" end
      if s.validationErrors and #s.validationErrors > 0 then
        lines[#lines + 1] = "Validation errors:  " .. table.concat(s.validationErrors, "\n                    ")
        lines[#lines + 1] = ""
      end
      for _, l in ipairs {
        "Errors:    " .. tostring(s.errors or 0),
        "Warnings:  " .. tostring(s.warnings or 0),
        "",
        "Namespaces:",
        "  Included:  " .. table.concat(spec.includedNamespaces, ", "),
        "  Excluded:  " .. excluded,
        "",
        "Resources:",
        "  Included:        *",
        "  Excluded:        <none>",
        "  Cluster-scoped:  auto",
        "",
        "Label selector:  <none>",
        "",
        "Storage Location:  " .. (spec.storageLocation or "default"),
        "",
        "Velero-Native Snapshot PVs:  auto",
        "",
        "TTL:  " .. spec.ttl,
        "",
        "Hooks:  <none>",
        "",
        "Backup Format Version:  " .. tostring(s.formatVersion),
        "",
        "Started:    " .. created(b),
        "Completed:  " .. (s.completionTimestamp and (util.log_time(util.parse_time(s.completionTimestamp) -
                                                     util.parse_time(util.EPOCH)) .. " +0000 UTC") or "<n/a>"),
        "",
        "Expiration:  " .. (s.expiration and (util.log_time(util.parse_time(s.expiration) - util.parse_time(util.EPOCH)) ..
                                              " +0000 UTC") or "<n/a>"),
        "",
        "Total items to be backed up:  " .. tostring(s.progress and s.progress.totalItems or 0),
        "Items backed up:              " .. tostring(s.progress and s.progress.itemsBackedUp or 0),
        "",
        "Velero-Native Snapshots: <none included>",
      } do lines[#lines + 1] = l end
      if spec.defaultVolumesToRestic then
        lines[#lines + 1] = ""
        lines[#lines + 1] = "Restic Backups (specify --details for more information):"
        lines[#lines + 1] = "  Completed:  " .. tostring(record.resticVolumes or 0)
      end
      return tools.ok(table.concat(lines, "\n") .. "\n", 700)
    end

    return {
      start = function(list)
        for _, c in ipairs(list) do
          clusters[c.name] = true
          -- the velero addon configures its storage location: a cluster with Velero and none gets `default`
          local w = W.cluster(c.name)
          if installed(w) and #w:list { apiVersion = API, kind = "BackupStorageLocation", namespace = NS } == 0 then
            w:create({ apiVersion = API, kind = "BackupStorageLocation",
                       metadata = { name = "default", namespace = NS, labels = { component = "velero" } },
                       spec = { provider = "aws", default = true, accessMode = "ReadWrite",
                                objectStorage = { bucket = "velero-" .. c.name },
                                config = { region = "us-west-2" } },
                       status = { phase = "Available", lastValidationTime = util.k8s_time(-60000) } },
                     { quiet = true })
          end
        end
        tools.command("velero", "backup create", create, {
          flags = { ["include-namespaces"] = "list", ["exclude-namespaces"] = "list",
                    ["default-volumes-to-restic"] = "bool", wait = "bool", ttl = "string",
                    ["storage-location"] = "string", kubecontext = "string", labels = "list" },
        })
        tools.command("velero", "backup get", get, {
          flags = { output = "string", kubecontext = "string" }, short = { o = "output" },
        })
        tools.command("velero", "backup describe", describe, {
          flags = { details = "bool", kubecontext = "string" },
        })
      end,
    }
  end,
}
