-- dkp/upgrade: upgrade a DKP 2.1.x fleet to 2.2.0 with the dkp CLI (seed 001, "How to upgrade DKP via CLI").
--
-- The seed's order: "Start with your Management Cluster in Kommander, and then ... proceed workspace by
-- workspace ... You can then move to upgrading Konvoy, cluster by cluster." On the management cluster:
-- Kommander (dkp upgrade kommander), every other workspace, the DKP catalog applications deployed to
-- workspaces, then to projects, the custom catalog applications checked against the new Kubernetes
-- version; then Konvoy: the CAPI components, the core addons, the Kubernetes version (control plane,
-- then each node pool). Then each managed cluster, one at a time: core addons, control plane, node
-- pools. Before anything: the supported-path matrix, Kubernetes 1.21 (attached clusters 1.19-1.21),
-- healthy HelmReleases, compatible custom apps, an on-demand Velero backup, and MetalLB detached
-- (DKP 2.2 no longer ships it). docs/dkp.md explains every step and how to recover from each failure.

local refit = require "refit"
local yaml = require "refit.yaml"
local base64 = require "refit.base64"
local paths = require "refit.paths"
local semver = require "refit.semver"
local k8s = require "refit.k8s"
local resource = require "refit.resource"

local CAPI = "cluster.x-k8s.io/v1beta1"
local KCP_API = "controlplane.cluster.x-k8s.io/v1beta1"
local HR_API = "helm.toolkit.fluxcd.io/v2beta1"
local APP_API = "apps.kommander.d2iq.io/v1alpha2"
local WS_API = "workspaces.kommander.mesosphere.io/v1alpha1"
local PROVIDER_API = "clusterctl.cluster.x-k8s.io/v1alpha3"
local CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
local MD_LABEL = "cluster.x-k8s.io/deployment-name"
local KUBE_VERSION_ANNOTATION = "apps.kommander.d2iq.io/kubernetes-version"
local PROVIDERS = { AWSCluster = "aws", AzureCluster = "azure", PreprovisionedCluster = "preprovisioned" }

---------------------------------------------------------------------------------------------------
-- Data
---------------------------------------------------------------------------------------------------

local data_cache = {}
local function data(file)
  if not data_cache[file] then data_cache[file] = resource("data/" .. file) end
  return data_cache[file]
end

-- releases.yaml decoded once: the steps read it hundreds of times on a large fleet (every poll
-- of a workspace's releases, every managed cluster's items); nothing changes the table
-- A data file beside this playbook, decoded; a broken one is named, not read as empty.
local function data_doc(name)
  local doc, err = yaml.decode(data(name))
  if not doc then error("scripts/dkp/data/" .. name .. ": " .. err, 0) end
  return doc
end

local releases_doc
local function release(ctx)
  releases_doc = releases_doc or data_doc("releases.yaml")
  local doc = releases_doc
  local r = doc.releases[ctx.params.to]
  if not r then
    local known = {}
    for v in pairs(doc.releases) do known[#known + 1] = v end
    table.sort(known)
    error(string.format("scripts/dkp/data/releases.yaml knows nothing of DKP %s (it describes %s)", ctx.params.to,
                        table.concat(known, ", ")), 0)
  end
  return r
end

-- The supported upgrade paths, read once (preflight and several steps ask for them)
local paths_graph
local function graph()
  paths_graph = paths_graph or paths.load(data("paths.yaml"), "scripts/dkp/data/paths.yaml")
  return paths_graph
end

local function removed_apis()
  return data_doc("removed-apis-1.22.yaml").removed or {}
end

---------------------------------------------------------------------------------------------------
-- The fleet
---------------------------------------------------------------------------------------------------

-- the keys of a map, sorted
local function sorted(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function hr_ref(ns, name) return { apiVersion = HR_API, kind = "HelmRelease", namespace = ns, name = name } end

local function plain(v) return (tostring(v):gsub("^v", "")) end

-- The DKP release the management cluster runs: its Kommander HelmRelease's chart version.
local function installed(ctx)
  local hr = ctx.cluster:get(hr_ref("kommander", "kommander"))
  return hr and plain(hr.spec.chart.spec.version) or nil
end

-- The kubeconfig CAPI (or Kommander, for an attached cluster) keeps on the management cluster for
-- cluster `name` of namespace `ns`: its text, or nil and why.
local function kubeconfig_text(ctx, ns, name)
  local secret = ctx.cluster:get { kind = "Secret", namespace = ns, name = name .. "-kubeconfig" }
  if not (secret and secret.data and secret.data.value) then
    return nil, string.format("no kubeconfig for cluster %s: Secret %s/%s-kubeconfig is missing (CAPI writes it when " ..
                              "the control plane is up)", name, ns, name)
  end
  local text = base64.decode(secret.data.value)
  if not text then return nil, string.format("Secret %s/%s-kubeconfig does not hold a base64 kubeconfig in data.value", ns, name) end
  return text
end

-- The management cluster's own CAPI Cluster (self-managed: it holds its own Cluster object). Found by
-- name when refit names the cluster as Cluster API does (a fixture's cluster, a context named after
-- it); else it is the Cluster whose kubeconfig reaches the cluster this run targets (ctx:connect
-- answers the same cluster for the same server), whatever the context or inventory calls it.
local own_name
local function self_cluster(ctx)
  local clusters = ctx.cluster:list { apiVersion = CAPI, kind = "Cluster" }
  for _, cl in ipairs(clusters) do
    if cl.metadata.name == (own_name or ctx.cluster:name()) then
      own_name = cl.metadata.name
      return cl
    end
  end
  if own_name then return nil end
  for _, cl in ipairs(clusters) do
    local text = kubeconfig_text(ctx, cl.metadata.namespace, cl.metadata.name)
    if text then
      local ok, handle = pcall(ctx.connect, ctx, text, "Secret " .. cl.metadata.namespace .. "/" .. cl.metadata.name ..
                               "-kubeconfig")
      if ok and handle == ctx.cluster then
        own_name = cl.metadata.name
        return cl
      end
    end
  end
end

-- The name of the management cluster's own CAPI Cluster (refit's name for it when it holds none). Once
-- found it is known: no list for each question.
local function self_name(ctx)
  if own_name then return own_name end
  local cl = self_cluster(ctx)
  return cl and cl.metadata.name or ctx.cluster:name()
end

local function provider_of(cl)
  local kind = cl.spec.infrastructureRef and cl.spec.infrastructureRef.kind
  return PROVIDERS[kind] or kind
end

-- The managed clusters: the management cluster's CAPI Clusters other than itself, by name.
local function managed_clusters(ctx)
  local out = {}
  local own = self_name(ctx)
  for _, cl in ipairs(ctx.cluster:list { apiVersion = CAPI, kind = "Cluster" }) do
    if cl.metadata.name ~= own then out[#out + 1] = cl end
  end
  table.sort(out, function(a, b) return a.metadata.name < b.metadata.name end)
  return out
end

-- A handle on a cluster of the fleet, through the kubeconfig Secret CAPI (or Kommander, for an
-- attached cluster) keeps on the management cluster.
local handles = {}
local function workload(ctx, ns, name)
  if name == self_name(ctx) then return ctx.cluster end
  local key = ns .. "/" .. name
  if handles[key] then return handles[key] end
  local text, why = kubeconfig_text(ctx, ns, name)
  ctx:require(text, "%s", why)
  handles[key] = ctx:connect(text, string.format("Secret %s/%s-kubeconfig", ns, name))
  return handles[key]
end

-- Kommander's clusters: { name, ns, attached = bool } for each KommanderCluster (attached: not a CAPI cluster).
local function kommander_clusters(ctx)
  local out = {}
  for _, kc in ipairs(ctx.cluster:list { apiVersion = "kommander.mesosphere.io/v1beta1", kind = "KommanderCluster" }) do
    out[#out + 1] = { name = kc.metadata.name, ns = kc.metadata.namespace,
                      attached = not (kc.spec.clusterRef and kc.spec.clusterRef.capiCluster) }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- The workspace namespace of every project namespace.
local function project_namespaces(ctx)
  local out = {}
  for _, p in ipairs(ctx.cluster:list { apiVersion = WS_API, kind = "Project" }) do
    out[p.spec.namespaceName] = { project = p.metadata.name, ws_ns = p.metadata.namespace }
  end
  return out
end

-- The clusters (handles with names) that the AppDeployments of namespace `ns` reach.
local function reach(ctx, ns)
  if ns == "kommander" then return { { name = ctx.cluster:name(), c = ctx.cluster } } end
  local p = project_namespaces(ctx)[ns]
  local ws_ns = p and p.ws_ns or ns
  local out = {}
  for _, kc in ipairs(kommander_clusters(ctx)) do
    if kc.ns == ws_ns then out[#out + 1] = { name = kc.name, c = workload(ctx, kc.ns, kc.name) } end
  end
  return out
end

local function workspaces(ctx)
  local out = {}
  for _, ws in ipairs(ctx.cluster:list { apiVersion = WS_API, kind = "Workspace" }) do
    out[#out + 1] = { name = ws.metadata.name, ns = (ws.status and ws.status.namespaceRef and ws.status.namespaceRef.name)
                                                   or ws.spec.namespaceName }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

local function ws_name_of(ctx, ns)
  for _, ws in ipairs(workspaces(ctx)) do if ws.ns == ns then return ws.name end end
end

---------------------------------------------------------------------------------------------------
-- HelmReleases
---------------------------------------------------------------------------------------------------

-- "" when the release is Ready at `version` (any version when nil); else why not.
local function release_state(hr, version)
  if not hr then return "not found" end
  if hr.spec.suspend then return "suspended" end
  local ready = k8s.condition(hr, "Ready")
  if version and (hr.spec.chart.spec.version ~= version or (hr.status or {}).lastAppliedRevision ~= version) then
    if ready and ready.status == "False" and (hr.status or {}).lastAttemptedRevision == version then
      return string.format("Ready=False (%s: %s)", tostring(ready.reason), tostring(ready.message)), true
    end
    return string.format("at %s, not %s yet", tostring((hr.status or {}).lastAppliedRevision), version)
  end
  if not ready or ready.status ~= "True" then
    return string.format("Ready=%s (%s: %s)", ready and ready.status or "Unknown", ready and tostring(ready.reason) or "-",
                         ready and tostring(ready.message) or "no Ready condition"), ready and ready.status == "False"
  end
  return ""
end

local SUSPEND_RESUME = "a release stuck \"exhausted\" or \"another operation in progress\" recovers with " ..
  "kubectl -n NS patch helmrelease NAME --type merge -p '{\"spec\":{\"suspend\":true}}', then the same with false"

-- Waits until each { c, cluster, ns, name, version } is Ready at its version; fails at once on a
-- release that failed (Flux gave up), naming it and the recovery.
local function wait_releases(ctx, wanted, what, timeout)
  ctx:wait(what, function()
    for _, w in ipairs(wanted) do
      local why, failed = release_state(w.c:get(hr_ref(w.ns, w.name)), w.version)
      if failed then
        ctx:fail("HelmRelease %s/%s on cluster %s is %s; %s", w.ns, w.name, w.cluster, why, SUSPEND_RESUME)
      end
      if why ~= "" then return false, string.format("HelmRelease %s/%s on %s: %s", w.ns, w.name, w.cluster, why) end
    end
    return true
  end, { timeout = timeout, interval = "30s" })
end

---------------------------------------------------------------------------------------------------
-- Custom catalog applications
---------------------------------------------------------------------------------------------------

-- Whether Kubernetes `version` satisfies a Helm kubeVersion constraint such as ">=1.19.0-0 <1.22.0-0"
-- (false, too, for a constraint refit cannot read). Helm's ~X (same minor) and ^X (same major) become
-- the ranges refit.semver reads.
local function satisfies(version, constraint)
  local range = constraint:gsub("([~^])%s*v?(%d+)%.(%d+)([%w.+-]*)", function(op, major, minor, rest)
    local upper = op == "~" and (major .. "." .. (tonumber(minor) + 1) .. ".0-0") or ((tonumber(major) + 1) .. ".0.0-0")
    return ">=" .. major .. "." .. minor .. rest .. " <" .. upper
  end)
  local ok, fits = pcall(semver.satisfies, version, range)
  return ok and fits
end

-- Whether object `o` was written at `api_version`. A real API server converts every object to the
-- version a client asks for, and records the version each writer used in metadata.managedFields; a
-- simulated world keeps the version an object was written with (and has no managedFields).
local function written_at(o, api_version)
  local managed = o.metadata.managedFields
  if managed == nil then return o.apiVersion == api_version end
  for _, entry in ipairs(managed) do
    if entry.apiVersion == api_version then return true end
  end
  return false
end

-- The objects of `entry`'s kind (namespace `ns`, `labels`) written at its removed apiVersion. They are
-- listed at the replacement, which the cluster serves: listed at the removed version, a real API
-- server would answer every object at it.
local function written_at_removed_api(c, entry, ns, labels)
  local query = { apiVersion = entry.replacement or entry.apiVersion, kind = entry.kind, namespace = ns, labels = labels }
  local ok, objs = pcall(c.list, c, query)
  if not ok then
    query.apiVersion = entry.apiVersion
    ok, objs = pcall(c.list, c, query)
  end
  local found = {}
  for _, o in ipairs(ok and objs or {}) do
    if written_at(o, entry.apiVersion) then found[#found + 1] = o end
  end
  return found
end

-- The custom applications deployed (AppDeployments of Apps that are not DKP catalog or platform apps)
-- and what makes each incompatible with Kubernetes `to`: a kubeVersion constraint it declares, or
-- objects of APIs that Kubernetes 1.22 removes.
local function custom_app_problems(ctx, to)
  local catalog = release(ctx).catalog
  local problems, seen = {}, 0
  local removed = removed_apis()
  local projects = project_namespaces(ctx)
  for _, ad in ipairs(ctx.cluster:list { apiVersion = APP_API, kind = "AppDeployment" }) do
    local ref = ad.spec.appRef or {}
    local ns = ad.metadata.namespace
    if ref.kind == "App" then
      local ws_ns = projects[ns] and projects[ns].ws_ns or ns
      local app = ctx.cluster:get { apiVersion = APP_API, kind = "App", namespace = ws_ns, name = ref.name }
      if app and not catalog[app.spec.appId] then
        seen = seen + 1
        local what = string.format("custom application %s %s (AppDeployment %s/%s)", app.spec.appId, app.spec.version, ns,
                                   ad.metadata.name)
        local constraint = app.metadata.annotations and app.metadata.annotations[KUBE_VERSION_ANNOTATION]
        if constraint and not satisfies(to, constraint) then
          problems[#problems + 1] = string.format("%s supports Kubernetes %s, not %s: publish a version of the chart " ..
            "whose kubeVersion includes %s in your catalog repository and move the AppDeployment to it",
            what, constraint, to, to)
        end
        for _, target in ipairs(reach(ctx, ns)) do
          for _, entry in ipairs(removed) do
            if not entry.request_only then
              local labels = { ["helm.toolkit.fluxcd.io/name"] = ad.metadata.name }
              for _, o in ipairs(written_at_removed_api(target.c, entry, ns, labels)) do
                problems[#problems + 1] = string.format("%s deploys %s %s/%s on cluster %s, an API Kubernetes 1.22 removes: " ..
                  "change its chart to %s", what, entry.apiVersion .. " " .. entry.kind, ns, o.metadata.name, target.name,
                  entry.replacement or "a supported API")
              end
            end
          end
        end
      end
    end
  end
  return problems, seen
end

local function check_custom_apps(ctx)
  local to = release(ctx).kubernetes
  local problems, seen = custom_app_problems(ctx, to)
  ctx:require(#problems == 0, "custom catalog applications are not compatible with Kubernetes %s (\"How to upgrade DKP " ..
    "via CLI\": verify them before upgrading Konvoy):\n  - %s", to, table.concat(problems, "\n  - "))
  ctx.log("%d custom catalog application(s) compatible with Kubernetes %s", seen, to)
end

---------------------------------------------------------------------------------------------------
-- The upgrade record
---------------------------------------------------------------------------------------------------

-- ConfigMap kommander/refit-dkp-upgrade on the management cluster: this playbook's durable note of
-- the upgrade it runs, written before anything changes (step record-upgrade; docs/dkp.md, "Re-runs").
-- Once Kommander is upgraded its HelmRelease no longer says where the upgrade started: a re-run
-- reads the start, the target and the backup to restore from here.
local RECORD = { kind = "ConfigMap", namespace = "kommander", name = "refit-dkp-upgrade" }
local RECORD_NAME = "ConfigMap kommander/refit-dkp-upgrade"
local KEYS = { from = "refit.dev/from-version", to = "refit.dev/to-version", state = "refit.dev/state",
               backup = "refit.dev/backup" }
local IN_PROGRESS, DONE = "in-progress", "done"
local UPGRADE_LABEL = "refit.dev/upgrade"   -- on this upgrade's Velero backup: <from>-to-<to>

local function record(ctx)
  local cm = ctx.cluster:get(RECORD)
  if not cm then return nil end
  local a = cm.metadata.annotations or {}
  return { from = a[KEYS.from], to = a[KEYS.to], state = a[KEYS.state], backup = a[KEYS.backup] }
end

-- What this run is, decided once (preflight): "fresh" (no upgrade to `to` recorded), "resume" (one
-- recorded in progress: a re-run after a failure) or "done" (recorded done: nothing to do).
local function mode(ctx)
  if ctx.state.mode == nil then
    local rec = record(ctx)
    local ours = rec and rec.to == ctx.params.to and rec.from
    ctx.state.mode = ours and rec.state == DONE and "done" or ours and rec.state == IN_PROGRESS and "resume" or "fresh"
  end
  return ctx.state.mode
end

local function idle(ctx) return mode(ctx) == "done" end
local function active(ctx) return not idle(ctx) end

-- The release the upgrade starts from: the recorded one on a re-run, else the installed one.
local function from_version(ctx)
  if ctx.state.from == nil then
    ctx.state.from = mode(ctx) ~= "fresh" and record(ctx).from or installed(ctx) or false
  end
  return ctx.state.from or nil
end

-- "2.1.1-to-2.2.0": the value of label refit.dev/upgrade on this upgrade's backup.
local function upgrade_id(ctx) return tostring(from_version(ctx)) .. "-to-" .. ctx.params.to end

-- The on-demand backup's name: the parameter, else the recorded one, else dkp-upgrade-<from>-to-<to>.
local function backup_name(ctx)
  if ctx.params.backup_name ~= "" then return ctx.params.backup_name end
  local rec = record(ctx)
  if rec and rec.to == ctx.params.to and rec.from == from_version(ctx) and rec.backup then return rec.backup end
  return "dkp-upgrade-" .. tostring(from_version(ctx)):gsub("%.", "-") .. "-to-" .. ctx.params.to:gsub("%.", "-")
end

local function backup(ctx)
  return ctx.cluster:get { apiVersion = "velero.io/v1", kind = "Backup", namespace = "velero", name = backup_name(ctx) }
end

---------------------------------------------------------------------------------------------------
-- Preflight
---------------------------------------------------------------------------------------------------

local function check_management(ctx)
  ctx:require(installed(ctx), "cluster %s runs no Kommander (no HelmRelease kommander/kommander): run this playbook " ..
              "against the DKP management cluster", ctx.cluster:name())
  ctx:require(self_cluster(ctx), "cluster %s holds no Cluster API Cluster of its own: it is not a self-managed DKP " ..
              "management cluster (run dkp move / pivot first, or target the management cluster)", ctx.cluster:name())
end

-- Whether this run's upgrade is a supported one the data describes; when it is not, version-route
-- says so and the checks that need the target release stay quiet rather than repeat it.
local function route_ok(ctx)
  local from = from_version(ctx)
  if idle(ctx) or not from or not graph():check(from, ctx.params.to) then return false end
  return pcall(release, ctx)
end

local function check_route(ctx)
  local rec, to = record(ctx), ctx.params.to
  if idle(ctx) then
    ctx.log("DKP is already at %s: nothing to do (the upgrade from %s is recorded done in %s)", to, rec.from, RECORD_NAME)
    return
  end
  ctx:require(not (rec and rec.state == IN_PROGRESS and rec.to ~= to),
    "an upgrade of DKP %s -> %s is recorded in progress (%s, annotation %s): finish it first (run again with to=%s)",
    tostring(rec and rec.from), tostring(rec and rec.to), RECORD_NAME, KEYS.state, tostring(rec and rec.to))
  local from = from_version(ctx)
  if not from then return end
  local ok, message = graph():check(from, to)
  ctx:require(ok, "%s%s", message, from == to and string.format(" (no run of dkp/upgrade to %s is recorded in %s: " ..
    "it was upgraded by other means; this playbook cannot tell what remains)", to, RECORD_NAME) or "")
  local known, err = pcall(release, ctx)
  ctx:require(known, "%s", err)
  if mode(ctx) == "resume" then
    ctx.log("resuming the upgrade DKP %s -> %s recorded in %s (Kommander runs %s): the steps already done are skipped",
            from, to, RECORD_NAME, tostring(installed(ctx)))
  else
    ctx.log("DKP %s -> %s: a supported path (\"How to upgrade DKP via CLI\", table \"Supported upgrade paths\")", from, to)
  end
end

local function minor(v) return tostring(v):match("^v?(%d+%.%d+)") end

-- The dkp CLI on the PATH must be the target release's ("How to upgrade DKP via CLI": its commands
-- are the new release's `dkp upgrade ...`); `dkp version` names it (line konvoy: vX.Y.Z).
local function check_cli(ctx)
  if not route_ok(ctx) then return end
  local want = minor(ctx.params.to)
  local r = ctx:exec { "dkp", "version", check = false }
  ctx:require(r.code == 0, "dkp version failed (exit %d: %s): install the dkp CLI of DKP %s and put it on the PATH",
              r.code, (r.stderr or ""):gsub("%s+$", ""), ctx.params.to)
  local cli = r.stdout:match("konvoy: (v?[%d%.]+)") or r.stdout:match("kommander: (v?[%d%.]+)")
  ctx:require(cli and minor(cli) == want, "the dkp CLI on the PATH is %s (dkp version), not DKP %s.x: the upgrade to " ..
              "%s runs the %s CLI's dkp upgrade commands. Download dkp v%s for your OS from the D2iQ support portal, put " ..
              "it first on the PATH (dkp version then says konvoy: v%s) and run again",
              tostring(cli), want, ctx.params.to, want, ctx.params.to, ctx.params.to)
  ctx.log("dkp CLI %s: the DKP %s release", cli, want)
end

local function check_kubernetes(ctx)
  if not route_ok(ctx) then return end
  local r = release(ctx)
  local want = r.from_kubernetes
  local problems = {}
  local function nodes_at(c, name, allowed)
    local v = c:version().gitVersion
    if not allowed(v) then problems[#problems + 1] = string.format("cluster %s: API server %s", name, v) end
    local off = {}
    for _, n in ipairs(c:list { kind = "Node" }) do
      local kv = k8s.kubelet_version(n)
      if not allowed(kv) then off[#off + 1] = n.metadata.name .. " (" .. tostring(kv) .. ")" end
    end
    if #off > 0 then problems[#problems + 1] = string.format("cluster %s: nodes %s", name, table.concat(off, ", ")) end
  end
  -- a re-run finds the clusters the failed run upgraded (or half upgraded) at the target
  local resume = mode(ctx) == "resume"
  local function is_want(v) return minor(v) == want or (resume and v == r.kubernetes) end
  nodes_at(ctx.cluster, ctx.cluster:name(), is_want)
  for _, cl in ipairs(managed_clusters(ctx)) do
    nodes_at(workload(ctx, cl.metadata.namespace, cl.metadata.name), cl.metadata.name, is_want)
  end
  local lo, hi = r.attached.min, r.attached.max
  for _, kc in ipairs(kommander_clusters(ctx)) do
    if kc.attached then
      local c = workload(ctx, kc.ns, kc.name)
      nodes_at(c, kc.name .. " (attached)", function(v)
        local m = minor(v)
        return m and semver.compare(m .. ".0", lo .. ".0") >= 0 and semver.compare(m .. ".0", hi .. ".0") <= 0
      end)
      ctx.log.warn("attached cluster %s is not upgraded by DKP: upgrade its Kubernetes by its own means " ..
                   "(\"How to upgrade DKP via CLI\": \"We recommend you upgrade your Kubernetes version on any attached " ..
                   "clusters\")", kc.name)
    end
  end
  ctx:require(#problems == 0, "DKP 2.1 runs Kubernetes %s (attached clusters %s to %s)%s; move these clusters there " ..
              "with DKP 2.1 first: %s", want, lo, hi, resume and (", and this upgrade " .. r.kubernetes) or "",
              table.concat(problems, "; "))
end

local function check_releases(ctx)
  if idle(ctx) then return end
  local bad = {}
  local function scan(c, name)
    for _, hr in ipairs(c:list { apiVersion = HR_API, kind = "HelmRelease" }) do
      local detached = hr.metadata.name == "metallb" and hr.metadata.namespace == "kommander" and hr.spec.suspend
      if not detached then
        local why = release_state(hr, nil)
        if why ~= "" then bad[#bad + 1] = string.format("%s/%s on %s: %s", hr.metadata.namespace, hr.metadata.name, name, why) end
      end
    end
  end
  scan(ctx.cluster, ctx.cluster:name())
  for _, kc in ipairs(kommander_clusters(ctx)) do scan(workload(ctx, kc.ns, kc.name), kc.name) end
  ctx:require(#bad == 0, "every HelmRelease must be Ready before the upgrade; these are not: %s. Fix them first (%s)",
              table.concat(bad, "; "), SUSPEND_RESUME)
end

local function check_velero(ctx)
  if idle(ctx) then return end
  local d = ctx.cluster:get { kind = "Deployment", namespace = "velero", name = "velero" }
  ctx:require(d, "Velero is not installed on %s (no Deployment velero/velero): the on-demand backup the upgrade " ..
              "needs cannot be taken; enable the velero platform application first", ctx.cluster:name())
  local ok, why = k8s.rollout_complete(d)
  ctx:require(ok, "Velero is not ready: %s", tostring(why))
end

-- A re-run tolerates a node pool rolling to the target: the rollout this upgrade started (the one
-- that failed, once its failed machine is deleted), which its step waits for. What safety needs of
-- it: its Cluster is not paused and is Ready, and its API server answers (its step reads its nodes).
local function check_capi_steady(ctx)
  if idle(ctx) then return end
  local problems = {}
  local target = mode(ctx) == "resume" and release(ctx).kubernetes
  for _, cl in ipairs(ctx.cluster:list { apiVersion = CAPI, kind = "Cluster" }) do
    local name = cl.metadata.name
    if cl.spec.paused then problems[#problems + 1] = "Cluster " .. name .. " is paused" end
    if not k8s.condition_true(cl, "Ready") then problems[#problems + 1] = "Cluster " .. name .. " is not Ready" end
    for _, o in ipairs(ctx.cluster:list { apiVersion = CAPI, kind = "MachineDeployment", namespace = cl.metadata.namespace,
                                          labels = { [CLUSTER_LABEL] = name } }) do
      local st = o.status or {}
      if st.updatedReplicas ~= o.spec.replicas or st.readyReplicas ~= o.spec.replicas or st.replicas ~= o.spec.replicas then
        local state = string.format("%s/%s ready, %s updated", tostring(st.readyReplicas), tostring(o.spec.replicas),
                                    tostring(st.updatedReplicas))
        if target and o.spec.template.spec.version == target then
          local reachable, why = pcall(function() return workload(ctx, cl.metadata.namespace, name):version() end)
          if reachable then
            ctx.log("node pool %s of %s is rolling to %s (%s): the upgrade started it; its step waits for it",
                    o.metadata.name, name, target, state)
          else
            problems[#problems + 1] = string.format("node pool %s of %s is rolling to %s (%s) and cluster %s cannot be " ..
                                                    "reached: %s", o.metadata.name, name, target, state, name, tostring(why))
          end
        else
          problems[#problems + 1] = string.format("node pool %s of %s is not steady (%s)", o.metadata.name, name, state)
        end
      end
    end
  end
  ctx:require(#problems == 0, "the Cluster API clusters must be in a steady state before the upgrade: %s",
              table.concat(problems, "; "))
end

---------------------------------------------------------------------------------------------------
-- Steps: backup and MetalLB
---------------------------------------------------------------------------------------------------

local function backup_phase(ctx)
  local b = backup(ctx)
  return b and b.status and b.status.phase
end

local function ours(b, ctx) return b and (b.metadata.labels or {})[UPGRADE_LABEL] == upgrade_id(ctx) end

-- velero backup create refuses a name in use ("backups.velero.io NAME already exists"): a backup of
-- that name must be this upgrade's and Completed (the backup step is then done), else the run stops
-- here, before anything changes.
local function check_backup(ctx)
  if not route_ok(ctx) then return end
  local b, name = backup(ctx), backup_name(ctx)
  if not b then return end
  local phase = tostring(b.status and b.status.phase)
  if ours(b, ctx) and phase == "Completed" then
    ctx.log("Velero backup %s of this upgrade is Completed: it is kept, not taken again", name)
    return
  end
  ctx:fail("Velero backup %s exists already (phase %s%s): velero backup create cannot take this upgrade's backup " ..
           "under that name. Delete it first (velero backup delete %s --confirm) or pass backup_name=<another name>",
           name, phase, ours(b, ctx) and ", taken by an earlier run of this upgrade" or
           string.format(", not this upgrade's: label %s=%s", UPGRADE_LABEL, upgrade_id(ctx)), name)
end

local record_step = refit.step "record-upgrade" {
  summary = "record the upgrade (from, to, backup, state in-progress) on " .. RECORD_NAME ..
            " before anything changes: a re-run after a failure resumes it",
  when = active,
  done = function(ctx)
    local rec = record(ctx)
    return rec ~= nil and rec.state == IN_PROGRESS and rec.from == from_version(ctx) and rec.to == ctx.params.to
           and rec.backup == backup_name(ctx)
  end,
  run = function(ctx)
    ctx.state.record_created = ctx.cluster:get(RECORD) == nil
    ctx.cluster:apply { apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = RECORD.name, namespace = RECORD.namespace,
                   labels = { ["app.kubernetes.io/managed-by"] = "refit" },
                   annotations = { [KEYS.from] = from_version(ctx), [KEYS.to] = ctx.params.to, [KEYS.state] = IN_PROGRESS,
                                   [KEYS.backup] = backup_name(ctx) } },
      data = { note = "written by refit dkp/upgrade: the DKP upgrade in progress on this fleet (docs/dkp.md, Re-runs)" } }
  end,
  -- reached only while nothing irreversible happened: the fleet is as before, so is the record
  rollback = function(ctx)
    if ctx.state.record_created then ctx.cluster:delete(RECORD) end
  end,
}

local record_done_step = refit.step "record-done" {
  summary = "mark the upgrade done on " .. RECORD_NAME .. ": a later run has nothing to do",
  when = active,
  done = function(ctx) local rec = record(ctx) return rec ~= nil and rec.state == DONE end,
  run = function(ctx) ctx.cluster:patch(RECORD, { metadata = { annotations = { [KEYS.state] = DONE } } }) end,
}

local backup_step = refit.step "velero-backup" {
  summary = "take an on-demand Velero backup of the management cluster, labelled " .. UPGRADE_LABEL ..
            "=<from>-to-<to>, and wait until it is Completed",
  when = active,
  done = function(ctx) local b = backup(ctx) return ours(b, ctx) and b.status and b.status.phase == "Completed" end,
  run = function(ctx)
    ctx:exec { "velero", "backup", "create", backup_name(ctx), "--labels", UPGRADE_LABEL .. "=" .. upgrade_id(ctx), "--wait",
               mutates = true, timeout = "1h" }
  end,
  verify = function(ctx)
    local phase = backup_phase(ctx)
    ctx:require(phase == "Completed", "Velero backup %s is %s, not Completed: the upgrade needs a complete backup first " ..
                "(velero backup describe %s --details says why)", backup_name(ctx), tostring(phase), backup_name(ctx))
    ctx.log("backup %s Completed: restore with velero restore create --from-backup %s", backup_name(ctx), backup_name(ctx))
  end,
}

local function metallb_secrets(ctx)
  return ctx.cluster:list { kind = "Secret", namespace = "kommander", labels = { name = "metallb", owner = "helm" } }
end

local function metallb_attached(ctx)
  local ad = ctx.cluster:get { apiVersion = APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" }
  local hr = ctx.cluster:get(hr_ref("kommander", "metallb"))
  return ad ~= nil or (hr ~= nil and not hr.spec.suspend) or #metallb_secrets(ctx) > 0
end

local metallb_step = refit.step "detach-metallb" {
  summary = "detach MetalLB from Kommander (DKP 2.2 no longer ships it): suspend its HelmRelease, delete its Helm " ..
            "secrets and its AppDeployment, so that the upgrade leaves it running",
  when = function(ctx)
    if idle(ctx) then return false end
    return ctx.cluster:get { apiVersion = APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" } ~= nil
        or ctx.cluster:get(hr_ref("kommander", "metallb")) ~= nil or #metallb_secrets(ctx) > 0
  end,
  done = function(ctx) return not metallb_attached(ctx) end,
  run = function(ctx)
    if ctx.cluster:get(hr_ref("kommander", "metallb")) then
      ctx.cluster:patch(hr_ref("kommander", "metallb"), { spec = { suspend = true } })
    end
    for _, s in ipairs(metallb_secrets(ctx)) do
      ctx.cluster:delete { kind = "Secret", namespace = s.metadata.namespace, name = s.metadata.name }
    end
    if ctx.cluster:get { apiVersion = APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" } then
      ctx.cluster:delete { apiVersion = APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" }
    end
  end,
  verify = function(ctx)
    ctx:require(not metallb_attached(ctx), "MetalLB is still attached to Kommander")
    local d = ctx.cluster:get { kind = "Deployment", namespace = "metallb-system", name = "metallb-controller" }
    ctx:require(d, "MetalLB's controller (metallb-system/metallb-controller) is gone: it was uninstalled instead of " ..
                "detached; reinstall MetalLB (helm install metallb) with your address pools before going on")
    ctx.log("MetalLB detached: it keeps running in metallb-system, no longer managed by Kommander")
  end,
  -- No rollback (docs/dkp.md, "Why detach-metallb has no rollback"): re-attaching needs the Helm
  -- release records the step deleted, and a detached MetalLB is what DKP 2.2 expects anyway.
  irreversible = "MetalLB is detached from Kommander: it keeps running in metallb-system with its address pools, no " ..
                 "longer managed by Kommander (DKP 2.2 does not ship it; Kommander 2.1 runs on without it). It is not " ..
                 "re-attached: that would need the Helm release records this step deleted, and the upgrade needs it " ..
                 "detached. Fix what failed and run refit apply dkp/upgrade again: the upgrade is recorded in " ..
                 RECORD_NAME .. " and continues from there. From now on you manage MetalLB (helm in metallb-system).",
}

---------------------------------------------------------------------------------------------------
-- Steps: Kommander
---------------------------------------------------------------------------------------------------

-- The recovery text once Kommander's upgrade started: the releases that failed, the suspend/resume
-- fix for a release Flux gave up on ("upgrade retries exhausted", "another operation in progress"),
-- the re-run, and this run's backup for going back.
local function kommander_recovery(ctx)
  local failed = {}
  for _, hr in ipairs(ctx.cluster:list { apiVersion = HR_API, kind = "HelmRelease", namespace = "kommander" }) do
    local ready = k8s.condition(hr, "Ready")
    if ready and ready.status == "False" then
      failed[#failed + 1] = string.format("%s (%s: %s)", hr.metadata.name, tostring(ready.reason), tostring(ready.message))
    end
  end
  local fix = #failed > 0 and ("HelmReleases not Ready in namespace kommander: " .. table.concat(failed, "; ") .. ". ") or ""
  local name = #failed == 1 and failed[1]:match("^(%S+)") or "NAME"
  return string.format(
    "DKP cannot downgrade Kommander: the platform applications on %s stay at (or move on to) the versions of %s. %s" ..
    "A HelmRelease stuck \"upgrade retries exhausted\" or \"another operation in progress\" recovers when suspended " ..
    "and resumed: kubectl -n kommander patch helmrelease %s --type merge -p '{\"spec\":{\"suspend\":true}}', then " ..
    "the same with false. Then run refit apply dkp/upgrade again: the upgrade is recorded in %s and the steps " ..
    "already done are skipped. To go back to DKP %s instead, restore the management cluster from this upgrade's " ..
    "Velero backup: velero restore create --from-backup %s.", ctx.cluster:name(), ctx.params.to, fix, name, RECORD_NAME,
    tostring(from_version(ctx)), backup_name(ctx))
end

local kommander_step = refit.step "kommander" {
  summary = "dkp upgrade kommander: upgrade Kommander and every platform application on the management cluster",
  when = active,
  done = function(ctx)
    if installed(ctx) ~= ctx.params.to then return false end
    for app, v in pairs(release(ctx).platform) do
      if release_state(ctx.cluster:get(hr_ref("kommander", app)), v) ~= "" then return false end
    end
    return true
  end,
  run = function(ctx)
    ctx:exec { "dkp", "upgrade", "kommander", mutates = true, timeout = ctx.params.kommander_timeout }
  end,
  verify = function(ctx)
    local wanted = {}
    for _, app in ipairs(sorted(release(ctx).platform)) do
      if ctx.cluster:get(hr_ref("kommander", app)) then
        wanted[#wanted + 1] = { c = ctx.cluster, cluster = ctx.cluster:name(), ns = "kommander", name = app,
                                version = release(ctx).platform[app] }
      end
    end
    wait_releases(ctx, wanted, "the platform applications in namespace kommander Ready at " .. ctx.params.to, "10m")
  end,
  irreversible = kommander_recovery,
}

local function workspace_items(ctx)
  local items = {}
  for _, ws in ipairs(workspaces(ctx)) do
    if ws.name ~= "kommander-workspace" then items[#items + 1] = { name = ws.name, ns = ws.ns } end
  end
  return items
end

local function workspace_step(item)
  return {
    summary = "dkp upgrade workspace " .. item.name .. ": its platform applications on every cluster of the workspace",
    done = function(ctx)
      local r = ctx:exec { "dkp", "upgrade", "workspace", item.name, "--dry-run" }
      return r.stdout:find("is up to date", 1, true) ~= nil
    end,
    run = function(ctx)
      ctx:exec { "dkp", "upgrade", "workspace", item.name, mutates = true, timeout = ctx.params.workspace_timeout }
    end,
    verify = function(ctx)
      local wanted = {}
      for _, target in ipairs(reach(ctx, item.ns)) do
        for _, app in ipairs(sorted(release(ctx).workspace_apps)) do
          wanted[#wanted + 1] = { c = target.c, cluster = target.name, ns = item.ns, name = app,
                                  version = release(ctx).workspace_apps[app] }
        end
      end
      wait_releases(ctx, wanted, "the platform applications of workspace " .. item.name .. " Ready", "10m")
    end,
  }
end

-- The DKP catalog applications deployed to workspaces (projects = false) or to projects (true) that
-- are not at the release's version.
local function catalog_items(ctx, projects_only)
  local catalog = release(ctx).catalog
  local projects = project_namespaces(ctx)
  local items = {}
  for _, ad in ipairs(ctx.cluster:list { apiVersion = APP_API, kind = "AppDeployment" }) do
    local ns = ad.metadata.namespace
    local p = projects[ns]
    if (p ~= nil) == projects_only and ns ~= "kommander" and (ad.spec.appRef or {}).kind == "App" then
      local ws_ns = p and p.ws_ns or ns
      local app = ctx.cluster:get { apiVersion = APP_API, kind = "App", namespace = ws_ns, name = ad.spec.appRef.name }
      local to = app and catalog[app.spec.appId]
      if to then
        items[#items + 1] = { name = (p and p.project or ws_name_of(ctx, ns)) .. "/" .. ad.metadata.name,
                              appdeployment = ad.metadata.name, ns = ns, app = app.spec.appId, from = app.spec.version,
                              to = to, workspace = ws_name_of(ctx, ws_ns), project = p and p.project }
      end
    end
  end
  table.sort(items, function(a, b) return a.name < b.name end)
  return items
end

local function catalog_step(item)
  local argv = { "dkp", "upgrade", "catalogapp", item.appdeployment, "--to-version", item.to, "-w", item.workspace }
  if item.project then argv[#argv + 1] = "--project"; argv[#argv + 1] = item.project end
  return {
    summary = string.format("dkp upgrade catalogapp %s: %s %s -> %s (%s %s)", item.appdeployment, item.app, item.from, item.to,
                            item.project and "project" or "workspace", item.project or item.workspace),
    done = function(ctx)
      local ad = ctx.cluster:get { apiVersion = APP_API, kind = "AppDeployment", namespace = item.ns, name = item.appdeployment }
      if not ad or ad.spec.appRef.name ~= item.app .. "-" .. item.to then return false end
      for _, target in ipairs(reach(ctx, item.ns)) do
        if release_state(target.c:get(hr_ref(item.ns, item.appdeployment)), item.to) ~= "" then return false end
      end
      return true
    end,
    -- A run stopped after the command, before the releases were Ready (done says not done), asked
    -- already: the AppDeployment points at the target, and only the wait (verify) is left to do.
    run = function(ctx)
      local ad = ctx.cluster:get { apiVersion = APP_API, kind = "AppDeployment", namespace = item.ns, name = item.appdeployment }
      if ad and ad.spec.appRef.name == item.app .. "-" .. item.to then
        ctx.log("AppDeployment %s/%s points at %s-%s already (an earlier run upgraded it): waiting for its releases",
                item.ns, item.appdeployment, item.app, item.to)
        return
      end
      local cmd = { mutates = true }
      for i, a in ipairs(argv) do cmd[i] = a end
      ctx:exec(cmd)
    end,
    verify = function(ctx)
      local wanted = {}
      for _, target in ipairs(reach(ctx, item.ns)) do
        wanted[#wanted + 1] = { c = target.c, cluster = target.name, ns = item.ns, name = item.appdeployment, version = item.to }
      end
      wait_releases(ctx, wanted, string.format("%s %s Ready on the clusters of %s", item.app, item.to, item.ns), "15m")
    end,
  }
end

---------------------------------------------------------------------------------------------------
-- Steps: Konvoy
---------------------------------------------------------------------------------------------------

local capi_step = refit.step "capi-components" {
  summary = "dkp upgrade capi-components: the Cluster API controllers on the management cluster",
  when = active,
  done = function(ctx)
    local want = release(ctx).providers
    for _, p in ipairs(ctx.cluster:list { apiVersion = PROVIDER_API, kind = "Provider" }) do
      if want[p.metadata.name] and p.version ~= want[p.metadata.name] then return false end
    end
    return true
  end,
  run = function(ctx) ctx:exec { "dkp", "upgrade", "capi-components", mutates = true, timeout = "15m" } end,
  verify = function(ctx)
    local want, off = release(ctx).providers, {}
    for _, p in ipairs(ctx.cluster:list { apiVersion = PROVIDER_API, kind = "Provider" }) do
      if want[p.metadata.name] and p.version ~= want[p.metadata.name] then
        off[#off + 1] = string.format("%s/%s at %s, not %s", p.metadata.namespace, p.metadata.name, tostring(p.version),
                                      want[p.metadata.name])
      end
    end
    ctx:require(#off == 0, "CAPI components not upgraded: %s", table.concat(off, "; "))
  end,
}

local function ns_args(argv, ns)
  if ns ~= "default" then argv[#argv + 1] = "-n"; argv[#argv + 1] = ns end
  return argv
end

-- What `dkp upgrade addons` would write: ConfigMap name -> data, from its dry run. The same output
-- (done, run and verify each ask) is decoded once: YAML decoding is most of a cluster's addons step.
local decoded_addons = {}
local function addons_wanted(ctx, item)
  local r = ctx:exec(ns_args({ "dkp", "upgrade", "addons", item.provider, "-c", item.cluster, "--dry-run", "-o", "yaml" }, item.ns))
  local out = decoded_addons[r.stdout]
  if out then return out end
  out = {}
  for _, doc in ipairs(yaml.decode_all(r.stdout)) do
    if type(doc) == "table" and doc.kind == "ConfigMap" then out[doc.metadata.name] = doc.data end
  end
  decoded_addons[r.stdout] = out
  return out
end

local function addons_differ(ctx, item)
  local differ = {}
  for name, want in pairs(addons_wanted(ctx, item)) do
    local cm = ctx.cluster:get { kind = "ConfigMap", namespace = item.ns, name = name }
    local same = cm ~= nil
    for k, v in pairs(want or {}) do if not cm or (cm.data or {})[k] ~= v then same = false end end
    if not same then differ[#differ + 1] = name end
  end
  table.sort(differ)
  return differ
end

local function addons_step(item)
  return {
    summary = string.format("dkp upgrade addons %s -c %s: CSI, CNI (Calico), cluster autoscaler, node feature discovery",
                            item.provider, item.cluster),
    done = function(ctx) return #addons_differ(ctx, item) == 0 end,
    run = function(ctx)
      local differ = addons_differ(ctx, item)
      ctx.log.warn("dkp upgrade addons replaces the core addons' ClusterResourceSets and ConfigMaps of %s with DKP %s's " ..
                   "(%s): a change made to them by hand is not kept; apply it again afterwards", item.cluster,
                   ctx.params.to, table.concat(differ, ", "))
      local argv = ns_args({ "dkp", "upgrade", "addons", item.provider, "-c", item.cluster }, item.ns)
      argv.mutates = true
      ctx:exec(argv)
    end,
    verify = function(ctx)
      local differ = addons_differ(ctx, item)
      ctx:require(#differ == 0, "core addons of %s not upgraded: %s", item.cluster, table.concat(differ, ", "))
    end,
  }
end

-- The Nodes of a cluster not at `version`, by name, among `names` (all when nil). Named nodes are
-- read one by one (a node pool's or control plane's, not the whole cluster's), in the cluster's
-- order (by name) as a list would give them; a name without a Node is left out, as the list would.
local function nodes_behind(c, version, names)
  local off = {}
  local nodes
  if names then
    local sorted_names = {}
    for _, n in ipairs(names) do sorted_names[#sorted_names + 1] = n end
    table.sort(sorted_names)
    nodes = {}
    for i, name in ipairs(sorted_names) do
      if name ~= sorted_names[i - 1] then nodes[#nodes + 1] = c:get { kind = "Node", name = name } end
    end
  else
    nodes = c:list { kind = "Node" }
  end
  for _, n in ipairs(nodes) do
    if k8s.kubelet_version(n) ~= version or not k8s.node_ready(n) then
      off[#off + 1] = string.format("%s (%s%s)", n.metadata.name, tostring(k8s.kubelet_version(n)),
                                    k8s.node_ready(n) and "" or ", NotReady")
    end
  end
  return off
end

local function machines_of(ctx, ns, labels)
  return ctx.cluster:list { apiVersion = CAPI, kind = "Machine", namespace = ns, labels = labels }
end

local function machine_nodes(ctx, ns, labels)
  local names = {}
  for _, m in ipairs(machines_of(ctx, ns, labels)) do
    if m.status and m.status.nodeRef then names[#names + 1] = m.status.nodeRef.name end
  end
  return names
end

-- Why machines do not come up: "machine X: phase Provisioned, no node (...)".
local function stuck_machines(ctx, ns, labels, version)
  local out = {}
  for _, m in ipairs(machines_of(ctx, ns, labels)) do
    if m.spec.version == version and not k8s.condition_true(m, "Ready") then
      local st = m.status or {}
      out[#out + 1] = string.format("machine %s/%s is %s%s%s", ns, m.metadata.name, tostring(st.phase),
                                    st.nodeRef and (", node " .. st.nodeRef.name .. " not Ready") or ", no node joined",
                                    st.failureMessage and (": " .. st.failureMessage) or "")
    end
  end
  return out
end

-- Waits for a KCP / MD rollout; fails when no machine became up to date for `stall` ms.
local function wait_rollout(ctx, ref, what, version, labels, item)
  local last, since = -1, ctx:now()
  local stall = ctx.params.machine_timeout
  ctx:wait(what, function()
    local o = ctx.cluster:get(ref)
    local st = o.status or {}
    local ready = st.readyReplicas or 0
    local progress = (st.updatedReplicas or 0) * 1000 + ready
    if progress ~= last then last, since = progress, ctx:now() end
    if ctx:now() - since > stall then
      ctx:fail("%s: no progress for %s (%s of %s machines updated, %s ready): %s", what, string.format("%dm", stall // 60000),
               tostring(st.updatedReplicas), tostring(o.spec.replicas), tostring(st.readyReplicas),
               table.concat(stuck_machines(ctx, item.ns, labels, version), "; "))
    end
    if ref.kind == "KubeadmControlPlane" and st.version ~= version then return false, "status.version " .. tostring(st.version) end
    if st.replicas ~= o.spec.replicas or st.updatedReplicas ~= o.spec.replicas or st.readyReplicas ~= o.spec.replicas then
      return false, string.format("%s/%s updated, %s ready, %s machines", tostring(st.updatedReplicas), tostring(o.spec.replicas),
                                  tostring(st.readyReplicas), tostring(st.replicas))
    end
    local behind = nodes_behind(workload(ctx, item.ns, item.cluster), version, machine_nodes(ctx, item.ns, labels))
    if #behind > 0 then return false, "nodes not at " .. version .. ": " .. table.concat(behind, ", ") end
    return true
  end, { timeout = ctx.params.rollout_timeout, interval = "2m" })
end

-- Whether the control plane or node pool (`what`) was asked for item.version already (its spec says
-- `spec_version`): a run stopped after its dkp update (killed, interrupted) left the rollout going,
-- and what is left to do is to wait for it, not to ask again.
local function asked_for(ctx, spec_version, item, what)
  if spec_version ~= item.version then return false end
  ctx.log("%s was moved to Kubernetes %s already (its rollout goes on): waiting for it", what, item.version)
  return true
end

local function controlplane_step(item)
  local labels = CLUSTER_LABEL .. "=" .. item.cluster .. ",cluster.x-k8s.io/control-plane"
  local function ref(ctx)
    local cl = ctx.cluster:get { apiVersion = CAPI, kind = "Cluster", namespace = item.ns, name = item.cluster }
    return { apiVersion = KCP_API, kind = "KubeadmControlPlane", namespace = item.ns, name = cl.spec.controlPlaneRef.name }
  end
  return {
    summary = string.format("dkp update controlplane %s -c %s --kubernetes-version %s", item.provider, item.cluster, item.version),
    done = function(ctx)
      local kcp = ctx.cluster:get(ref(ctx))
      local st = kcp.status or {}
      return kcp.spec.version == item.version and st.version == item.version and st.updatedReplicas == kcp.spec.replicas
             and st.readyReplicas == kcp.spec.replicas
             and #nodes_behind(workload(ctx, item.ns, item.cluster), item.version, machine_nodes(ctx, item.ns, labels)) == 0
    end,
    run = function(ctx)
      if asked_for(ctx, ctx.cluster:get(ref(ctx)).spec.version, item, "the control plane of " .. item.cluster) then return end
      local argv = ns_args({ "dkp", "update", "controlplane", item.provider, "-c", item.cluster, "--kubernetes-version",
                             item.version }, item.ns)
      argv.mutates = true
      ctx.log("point of no return: the control plane of %s moves to Kubernetes %s", item.cluster, item.version)
      ctx:exec(argv)
    end,
    verify = function(ctx)
      wait_rollout(ctx, ref(ctx), "the control plane of " .. item.cluster .. " at " .. item.version, item.version, labels, item)
    end,
    irreversible = string.format(
      "Kubernetes cannot be downgraded: the control plane of %s runs (some machines at) %s. Nodes one minor behind " ..
      "keep working. Look at kubectl get machines -n %s -l %s=%s; delete a machine that failed so that the " ..
      "KubeadmControlPlane replaces it, or fix the cause (AMI, quota, subnet), then run refit apply dkp/upgrade again: " ..
      "the steps already done are skipped.", item.cluster, item.version, item.ns, CLUSTER_LABEL, item.cluster),
  }
end

local function nodepool_step(item)
  local labels = { [CLUSTER_LABEL] = item.cluster, [MD_LABEL] = item.pool }
  local ref = { apiVersion = CAPI, kind = "MachineDeployment", namespace = item.ns, name = item.pool }
  return {
    summary = string.format("dkp update nodepool %s %s -c %s --kubernetes-version %s", item.provider, item.pool, item.cluster,
                            item.version),
    done = function(ctx)
      local md = ctx.cluster:get(ref)
      local st = md.status or {}
      return md.spec.template.spec.version == item.version and st.updatedReplicas == md.spec.replicas
             and st.readyReplicas == md.spec.replicas and st.replicas == md.spec.replicas
             and #nodes_behind(workload(ctx, item.ns, item.cluster), item.version, machine_nodes(ctx, item.ns, labels)) == 0
    end,
    run = function(ctx)
      local what = string.format("node pool %s of %s", item.pool, item.cluster)
      if asked_for(ctx, ctx.cluster:get(ref).spec.template.spec.version, item, what) then return end
      local argv = ns_args({ "dkp", "update", "nodepool", item.provider, item.pool, "-c", item.cluster, "--kubernetes-version",
                             item.version }, item.ns)
      argv.mutates = true
      ctx:exec(argv)
    end,
    verify = function(ctx)
      wait_rollout(ctx, ref, string.format("node pool %s of %s at %s", item.pool, item.cluster, item.version), item.version,
                   labels, item)
    end,
    irreversible = string.format(
      "Kubernetes cannot be downgraded: node pool %s of %s runs (some of) its machines at %s. The run stopped here: " ..
      "the managed clusters after %s were not touched. Look at kubectl get machines -n %s -l %s=%s; delete a machine " ..
      "that failed (the MachineSet replaces it) or fix the cause (AMI, instance quota, subnet), then run refit apply " ..
      "dkp/upgrade again: the steps already done are skipped.", item.pool, item.cluster, item.version, item.cluster,
      item.ns, MD_LABEL, item.pool),
  }
end

-- The Konvoy items of one cluster, in the seed's order: core addons, control plane, node pools.
local function konvoy_items(ctx, cl, with_addons)
  local base = { cluster = cl.metadata.name, ns = cl.metadata.namespace, provider = provider_of(cl),
                 version = release(ctx).kubernetes }
  local items = {}
  local function add(kind, extra)
    local it = { kind = kind }
    for k, v in pairs(base) do it[k] = v end
    for k, v in pairs(extra or {}) do it[k] = v end
    it.name = base.cluster .. "/" .. kind .. (it.pool and ("/" .. it.pool) or "")
    items[#items + 1] = it
  end
  if with_addons then add("addons") end
  add("controlplane")
  local pools = ctx.cluster:list { apiVersion = CAPI, kind = "MachineDeployment", namespace = base.ns,
                                   labels = { [CLUSTER_LABEL] = base.cluster } }
  table.sort(pools, function(a, b) return a.metadata.name < b.metadata.name end)
  for _, md in ipairs(pools) do add("nodepool", { pool = md.metadata.name }) end
  return items
end

local function konvoy_step(item)
  if item.kind == "addons" then return addons_step(item) end
  if item.kind == "controlplane" then return controlplane_step(item) end
  return nodepool_step(item)
end

local function verify_fleet(ctx)
  local to = release(ctx).kubernetes
  local off = {}
  local function check(c, name)
    if c:version().gitVersion ~= to then off[#off + 1] = string.format("%s: API server %s", name, c:version().gitVersion) end
    local behind = nodes_behind(c, to)
    if #behind > 0 then off[#off + 1] = string.format("%s: nodes %s", name, table.concat(behind, ", ")) end
  end
  check(ctx.cluster, ctx.cluster:name())
  for _, cl in ipairs(managed_clusters(ctx)) do
    check(workload(ctx, cl.metadata.namespace, cl.metadata.name), cl.metadata.name)
  end
  ctx:require(#off == 0, "the fleet is not at Kubernetes %s: %s", to, table.concat(off, "; "))
  ctx.log("DKP %s: Kommander, the workspaces, the catalog applications and Kubernetes %s on %d cluster(s)", ctx.params.to,
          to, 1 + #managed_clusters(ctx))
end


---------------------------------------------------------------------------------------------------
-- The playbook
---------------------------------------------------------------------------------------------------

local steps = {
  summary = "Upgrade a DKP 2.1.x fleet to 2.2.0: Kommander, workspaces, catalog apps, then Konvoy cluster by cluster",
  description = [[
Upgrades DKP 2.1.x to 2.2.0 with the dkp CLI, in the order of D2iQ's "How to upgrade DKP via CLI":
on the management cluster, Kommander (dkp upgrade kommander), every other workspace, the DKP catalog
applications deployed to workspaces and then to projects, a compatibility check of the custom catalog
applications against Kubernetes 1.22; then Konvoy: the CAPI components, the core addons, the control
plane and each node pool. Then each managed cluster, one at a time: core addons, control plane, node pools.
Refuses unsupported paths (with the route to run instead), clusters not at Kubernetes 1.21, unhealthy
HelmReleases, incompatible custom applications and a dkp CLI of another release. Records the upgrade
on ConfigMap kommander/refit-dkp-upgrade, takes an on-demand Velero backup and detaches MetalLB first;
a re-run after a failure resumes the recorded upgrade, and once it is done has nothing to do.
See docs/dkp.md.]],
  params = {
    to = refit.param.string { default = "2.2.0", help = "the DKP release to upgrade to (\"How to upgrade DKP via CLI\", Supported upgrade paths: 2.1.x -> 2.2.0)" },
    backup_name = refit.param.string { default = "", help = "name of the on-demand Velero backup (default: the recorded one, else dkp-upgrade-<from>-to-<to>)" },
    kommander_timeout = refit.param.duration { default = "45m", help = "limit for dkp upgrade kommander" },
    workspace_timeout = refit.param.duration { default = "40m", help = "limit for each dkp upgrade workspace" },
    rollout_timeout = refit.param.duration { default = "24h", help = "limit for each control plane or node pool rollout" },
    machine_timeout = refit.param.duration { default = "20m",
      help = "a rollout that updates no machine for this long has failed (a machine that never gets a Ready node)" },
  },
  preflight = {
    refit.check "management-cluster" (check_management),
    refit.check "version-route" (check_route),
    refit.check "dkp-cli" (check_cli),
    refit.check "kubernetes-versions" (check_kubernetes),
    refit.check "helmreleases-healthy" (check_releases),
    refit.check "custom-apps-compatible" (function(ctx) if route_ok(ctx) then check_custom_apps(ctx) end end),
    refit.check "velero-installed" (check_velero),
    refit.check "backup-usable" (check_backup),
    refit.check "capi-clusters-steady" (check_capi_steady),
  },
  record_step,
  backup_step,
  metallb_step,
  kommander_step,
}
steps[#steps + 1] = refit.each "workspace" {
  summary = "dkp upgrade workspace, for every workspace other than the management cluster's",
  items = function(ctx) return active(ctx) and workspace_items(ctx) or {} end, step = workspace_step,
}
steps[#steps + 1] = refit.each "catalogapp-workspace" {
  summary = "dkp upgrade catalogapp, for every DKP catalog application deployed to a workspace",
  items = function(ctx) return active(ctx) and catalog_items(ctx, false) or {} end, step = catalog_step,
}
steps[#steps + 1] = refit.each "catalogapp-project" {
  summary = "dkp upgrade catalogapp, for every DKP catalog application deployed to a project",
  items = function(ctx) return active(ctx) and catalog_items(ctx, true) or {} end, step = catalog_step,
}
steps[#steps + 1] = refit.step "custom-apps" {
  summary = "verify that the custom catalog applications are compatible with the new Kubernetes version (a check)",
  when = active,
  verify = check_custom_apps,
}
steps[#steps + 1] = capi_step
steps[#steps + 1] = refit.each "management" {
  summary = "Konvoy on the management cluster: core addons, control plane, each node pool",
  items = function(ctx) return active(ctx) and konvoy_items(ctx, self_cluster(ctx), true) or {} end, step = konvoy_step,
}
steps[#steps + 1] = refit.each "managed" {
  summary = "each managed cluster, one at a time: core addons, control plane, each node pool",
  items = function(ctx)
    local items = {}
    if idle(ctx) then return items end
    for _, cl in ipairs(managed_clusters(ctx)) do
      for _, it in ipairs(konvoy_items(ctx, cl, true)) do items[#items + 1] = it end
    end
    return items
  end,
  step = konvoy_step,
}
steps[#steps + 1] = refit.step "verify-fleet" {
  summary = "every cluster's API server and nodes at the new Kubernetes version",
  when = active,
  verify = verify_fleet,
}
steps[#steps + 1] = record_done_step

return refit.playbook "dkp/upgrade" (steps)
