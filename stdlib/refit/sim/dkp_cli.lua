-- refit.sim.dkp_cli: the `dkp` CLI of DKP 2.2 (the binary that upgrades a 2.1 installation), as the
-- simulated world runs it. Subcommands (flags as D2iQ documents them; every command also takes
-- --kubeconfig and --context, the tools registry's global flags):
--
--   dkp upgrade kommander [--charts-bundle F]... [--kommander-applications-repository R]
--                         [--core-app-timeout 20m] [--platform-apps-timeout 30m]
--   dkp upgrade workspace WORKSPACE [--dry-run] [--timeout 30m]
--   dkp upgrade catalogapp APPDEPLOYMENT --to-version V (-w WORKSPACE | --project PROJECT)
--   dkp upgrade capi-components [--timeout 10m] [--wait=true]
--   dkp upgrade addons aws|azure|preprovisioned -c CLUSTER [-n NAMESPACE] [--dry-run -o yaml]
--   dkp update controlplane aws|azure|preprovisioned -c CLUSTER --kubernetes-version V [-n NS]
--                         [--ami ID] [--instance-type T] [--wait] [--timeout 30m]
--   dkp update nodepool aws|azure|preprovisioned NAME -c CLUSTER --kubernetes-version V [-n NS]
--                         [--ami ID] [--instance-type T] [--wait] [--timeout 30m]
--   dkp get nodepool --cluster-name C [-n NS] [-o json|yaml]
--   dkp version                      (the CLI release: the management cluster's dkp.dkpCLI)
--
-- --kubeconfig selects the world cluster: the call's default cluster, unless the file is named after
-- another world cluster (NAME, NAME.conf, NAME.yaml, NAME-kubeconfig, NAME.kubeconfig). Errors are
-- cobra's: "Error: ..." on stderr, exit 1.
--
-- Durations: `upgrade kommander` waits for the core applications, one after another, then for the
-- platform applications (10-20 min in all); `upgrade workspace` for the workspace's HelmReleases on
-- its clusters (5-10 min); `upgrade capi-components` 2-4 min; `upgrade addons` 10-20 s; `update`
-- patches and returns in seconds unless --wait (then the rollout's time: several minutes a machine).

local util = require "refit.sim.util"
local R = require "refit.sim.dkp_releases"

local CLI_RELEASE = "2.2.0"   -- the dkp binary modelled: the one that upgrades to 2.2

return function(W, env, m)
  local tools, O, K = env.tools, m.O, m.kommander
  local worlds = {}
  for _, name in ipairs(W.clusters()) do worlds[name] = true end

  local function fail(ms, fmt, ...) return tools.error("dkp", ms, fmt, ...) end
  local function ok(lines, ms) return tools.ok(table.concat(lines, "\n") .. "\n", ms) end

  -- The world cluster a call talks to, or nil and an error result.
  local function target(flags, call)
    if not flags.kubeconfig then return call.cluster end
    local base = flags.kubeconfig:match("([^/]+)$")
    local want = base:gsub("%-kubeconfig$", ""):gsub("%.kubeconfig$", ""):gsub("%.conf$", ""):gsub("%.yaml$", "")
    if worlds[want] then return want end
    if worlds[base] then return base end
    return nil, fail(50, "stat %s: no such file or directory", flags.kubeconfig)
  end

  local function version_of(v)
    if not v then return nil end
    if not v:match("^v?%d+%.%d+%.%d+$") then return nil end
    return v:sub(1, 1) == "v" and v or ("v" .. v)
  end

  local function minor_parts(v)
    local a, b, c = v:match("^v(%d+)%.(%d+)%.(%d+)")
    return tonumber(a), tonumber(b), tonumber(c)
  end

  local function vless(a, b)
    local a1, a2, a3 = minor_parts(a)
    local b1, b2, b3 = minor_parts(b)
    if a1 ~= b1 then return a1 < b1 end
    if a2 ~= b2 then return a2 < b2 end
    return a3 < b3
  end

  local function hr_ref(ns, name) return { apiVersion = K.HR_API, kind = "HelmRelease", namespace = ns, name = name } end

  -- "" when the release is Ready at `version`; else why not; `failed` true when it will not get there.
  local function release_state(c, ns, name, version)
    local hr = c:get(hr_ref(ns, name))
    if not hr then return "not found" end
    if hr.spec.suspend then return "suspended", true end
    local ready = K.ready_condition(hr)
    local st = hr.status or {}
    if st.lastAttemptedRevision == version and ready and ready.status == "False" then
      return ready.message or ready.reason, true
    end
    if hr.spec.chart.spec.version ~= version or st.lastAppliedRevision ~= version or not ready or ready.status ~= "True" then
      return "reconciling " .. tostring(hr.spec.chart.spec.chart) .. " " .. version
    end
    return ""
  end

  -- Waits until every (cluster, ns, name, version) in `wanted` is Ready. Returns nil or an error text.
  local function wait_releases(wanted, timeout_ms, what)
    local problem
    local done = W.run_until(function()
      for _, w in ipairs(wanted) do
        local why, failed = release_state(W.cluster(w.cluster), w.ns, w.name, w.version)
        if failed then
          problem = string.format("HelmRelease %s/%s on cluster %s: %s", w.ns, w.name, w.cluster, why)
          return true
        end
        if why ~= "" then return false end
      end
      return true
    end, timeout_ms, 10000)
    if problem then return problem end
    if not done then
      for _, w in ipairs(wanted) do
        local why = release_state(W.cluster(w.cluster), w.ns, w.name, w.version)
        if why ~= "" then
          return string.format("timed out after %s waiting for %s: HelmRelease %s/%s on cluster %s is %s", what.timeout,
                               what.name, w.ns, w.name, w.cluster, why)
        end
      end
    end
    return nil
  end

  -- The installed Kommander release of a cluster ("2.1.1"), or nil.
  local function kommander_release(c)
    local hr = c:get(hr_ref("kommander", "kommander"))
    return hr and R.plain(hr.spec.chart.spec.version) or nil
  end

  local function new_cluster_app(c, app, version)
    local name = app .. "-" .. version
    if not c:get { apiVersion = K.APP_API, kind = "ClusterApp", name = name } then
      c:create(K.app("ClusterApp", nil, app, version), { quiet = true })
    end
    return name
  end

  local function set_app_ref(c, ns, name, ref, kind)
    c:patch({ apiVersion = K.APP_API, kind = "AppDeployment", namespace = ns, name = name },
            { spec = { appRef = { name = ref, kind = kind } } }, { quiet = true })
  end

  -- dkp upgrade kommander -------------------------------------------------------------------------------

  tools.command("dkp", "upgrade kommander", function(args, call)
    local cluster, err = target(args.flags, call)
    if not cluster then return err end
    local c = W.cluster(cluster)
    local from = kommander_release(c)
    if not from then
      return fail(2000, "Kommander is not installed on this cluster: helmreleases.helm.toolkit.fluxcd.io \"kommander\" not found in namespace \"kommander\"")
    end
    if from == CLI_RELEASE then return ok({ " ✓ Kommander is already at version v" .. CLI_RELEASE }, 3000) end
    if R.NEXT[from] ~= CLI_RELEASE then
      return fail(3000, "upgrading Kommander from v%s to v%s is not supported (supported: v2.1.0, v2.1.1)", from, CLI_RELEASE)
    end
    local fault = env.faults.take("dkp-kommander-upgrade-fails", cluster, {}, "dkp upgrade kommander fails on " .. cluster)
    if fault then
      return fail(45000, "%s", fault.message or
        "failed to ensure application definitions are updated: timed out waiting for GitRepository kommander-flux/management to be ready: " ..
        "failed to checkout and determine revision: unable to clone 'https://kommander-applications.git': context deadline exceeded")
    end
    local lines = { " ✓ Ensuring upgrading conditions are met", " ✓ Ensuring application definitions are updated" }
    local apps = R.platform[CLI_RELEASE]
    local start = W.now()
    local core_timeout = util.parse_duration(args.flags["core-app-timeout"] or "20m") or 1200000
    local platform_timeout = util.parse_duration(args.flags["platform-apps-timeout"] or "30m") or 1800000
    -- the core applications, in order: each depends on the one before
    for _, app in ipairs(R.CORE_APPS) do
      set_app_ref(c, "kommander", app, new_cluster_app(c, app, apps[app]), "ClusterApp")
      local problem = wait_releases({ { cluster = cluster, ns = "kommander", name = app, version = apps[app] } }, core_timeout,
                                    { timeout = args.flags["core-app-timeout"] or "20m0s", name = "core application " .. app })
      if problem then
        lines[#lines + 1] = " ✗ Ensuring core applications are upgraded"
        local r = fail(1000, "failed to upgrade core application %s: %s", app, problem)
        r.stdout = table.concat(lines, "\n") .. "\n"
        r.changed = true   -- what it upgraded before the failure stays upgraded
        return r
      end
    end
    lines[#lines + 1] = " ✓ Ensuring core applications are upgraded"
    -- MetalLB is no longer a platform application in 2.2: Kommander removes its AppDeployment
    -- (uninstalling MetalLB unless it was detached first)
    if c:get { apiVersion = K.APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" } then
      c:delete { apiVersion = K.APP_API, kind = "AppDeployment", namespace = "kommander", name = "metallb" }
      lines[#lines + 1] = " ✓ Ensuring MetalLB is removed from the platform applications"
    end
    local wanted = {}
    for _, app in ipairs(util.sorted_keys(apps)) do
      local core = false
      for _, x in ipairs(R.CORE_APPS) do if x == app then core = true end end
      if not core and c:get { apiVersion = K.APP_API, kind = "AppDeployment", namespace = "kommander", name = app } then
        set_app_ref(c, "kommander", app, new_cluster_app(c, app, apps[app]), "ClusterApp")
        wanted[#wanted + 1] = { cluster = cluster, ns = "kommander", name = app, version = apps[app] }
      end
    end
    -- the ClusterApps the workspaces' AppDeployments will move to
    for _, app in ipairs(R.WORKSPACE_APPS) do new_cluster_app(c, app, apps[app]) end
    local problem = wait_releases(wanted, platform_timeout,
                                  { timeout = args.flags["platform-apps-timeout"] or "30m0s", name = "the platform applications" })
    if problem then
      lines[#lines + 1] = " ✗ Ensuring platform applications are upgraded"
      local r = fail(1000, "failed to upgrade platform applications: %s", problem)
      r.stdout = table.concat(lines, "\n") .. "\n"
      r.changed = true
      return r
    end
    lines[#lines + 1] = " ✓ Ensuring platform applications are upgraded"
    lines[#lines + 1] = string.format(" ✓ Kommander upgraded from v%s to v%s in %dm%02ds", from, CLI_RELEASE,
                                      (W.now() - start) // 60000, (W.now() - start) % 60000 // 1000)
    return ok(lines, 5000)
  end, { flags = { ["charts-bundle"] = "list", ["kommander-applications-repository"] = "string",
                   ["core-app-timeout"] = "string", ["platform-apps-timeout"] = "string" } })

  -- dkp upgrade workspace -----------------------------------------------------------------------------

  local function workspace_ns(c, name)
    local ws = c:get { apiVersion = K.WORKSPACE_API, kind = "Workspace", name = name }
    return ws and ((ws.status and ws.status.namespaceRef and ws.status.namespaceRef.name) or ws.spec.namespaceName)
  end

  local function require_kommander(c)
    local at = kommander_release(c)
    if at ~= CLI_RELEASE then
      return fail(1500, "Kommander on this cluster is at v%s: upgrade it first with dkp upgrade kommander", tostring(at))
    end
  end

  tools.command("dkp", "upgrade workspace", function(args, call)
    local cluster, err = target(args.flags, call)
    if not cluster then return err end
    local name = args.pos[1]
    if not name or #args.pos > 1 then return fail(50, "accepts 1 arg(s), received %d", #args.pos) end
    local c = W.cluster(cluster)
    local ns = workspace_ns(c, name)
    if not ns then return fail(800, "workspaces.workspaces.kommander.mesosphere.io %q not found", name) end
    local e = require_kommander(c)
    if e then return e end
    local apps = R.platform[CLI_RELEASE]
    local todo = {}
    for _, ad in ipairs(c:list { apiVersion = K.APP_API, kind = "AppDeployment", namespace = ns }) do
      local ref = ad.spec.appRef or {}
      local app = ref.kind == "ClusterApp" and c:get { apiVersion = K.APP_API, kind = "ClusterApp", name = ref.name }
      local want = app and apps[app.spec.appId]
      if want and app.spec.version ~= want then
        todo[#todo + 1] = { name = ad.metadata.name, app = app.spec.appId, from = app.spec.version, to = want }
      end
    end
    if args.flags["dry-run"] then
      local lines = {}
      for _, t in ipairs(todo) do
        lines[#lines + 1] = string.format("AppDeployment %s/%s: %s %s -> %s", ns, t.name, t.app, t.from, t.to)
      end
      if #lines == 0 then lines[1] = "Workspace " .. name .. " is up to date" end
      return ok(lines, 1500)
    end
    local wanted = {}
    for _, t in ipairs(todo) do
      set_app_ref(c, ns, t.name, new_cluster_app(c, t.app, t.to), "ClusterApp")
      for _, wc in ipairs(K.reach(cluster, ns)) do
        wanted[#wanted + 1] = { cluster = wc, ns = ns, name = t.name, version = t.to }
      end
    end
    local timeout = util.parse_duration(args.flags.timeout or "30m") or 1800000
    local problem = wait_releases(wanted, timeout, { timeout = args.flags.timeout or "30m0s", name = "workspace " .. name })
    if problem then
      local r = fail(1000, "failed to upgrade workspace %s: %s", name, problem)
      r.changed = true
      r.stdout = " ✗ Ensuring HelmReleases are upgraded on clusters in namespace \"" .. ns .. "\"\n"
      return r
    end
    return ok({ " ✓ Ensuring HelmReleases are upgraded on clusters in namespace \"" .. ns .. "\"" }, 2000)
  end, { flags = { ["dry-run"] = "bool", timeout = "string" } })

  -- dkp upgrade catalogapp ------------------------------------------------------------------------------

  tools.command("dkp", "upgrade catalogapp", function(args, call)
    local cluster, err = target(args.flags, call)
    if not cluster then return err end
    local name = args.pos[1]
    if not name or #args.pos > 1 then return fail(50, "accepts 1 arg(s), received %d", #args.pos) end
    local to = args.flags["to-version"]
    if not to then return fail(50, "required flag(s) \"to-version\" not set") end
    local ws, project = args.flags.workspace, args.flags.project
    if not ws and not project then return fail(50, "one of --workspace or --project is required") end
    local c = W.cluster(cluster)
    local e = require_kommander(c)
    if e then return e end
    local ws_ns, ns
    if ws then
      ws_ns = workspace_ns(c, ws)
      if not ws_ns then return fail(800, "workspaces.workspaces.kommander.mesosphere.io %q not found", ws) end
    end
    if project then
      local found
      for _, p in ipairs(c:list { apiVersion = K.WORKSPACE_API, kind = "Project", namespace = ws_ns }) do
        if p.metadata.name == project then found = p end
      end
      if not found then
        return fail(800, "projects.workspaces.kommander.mesosphere.io %q not found%s", project, ws and (" in workspace " .. ws) or "")
      end
      ws_ns = found.metadata.namespace
      ns = found.spec.namespaceName
    else
      ns = ws_ns
    end
    local ad = c:get { apiVersion = K.APP_API, kind = "AppDeployment", namespace = ns, name = name }
    if not ad then return fail(800, "appdeployments.apps.kommander.d2iq.io %q not found in namespace %q", name, ns) end
    local ref = ad.spec.appRef or {}
    if ref.kind == "ClusterApp" then
      return fail(800, "%s is a platform application: upgrade it with dkp upgrade workspace", name)
    end
    local app = c:get { apiVersion = K.APP_API, kind = "App", namespace = ws_ns, name = ref.name }
    if not app then return fail(800, "apps.apps.kommander.d2iq.io %q not found in namespace %q", tostring(ref.name), ws_ns) end
    local v = R.plain(to)
    local target_app = c:get { apiVersion = K.APP_API, kind = "App", namespace = ws_ns, name = app.spec.appId .. "-" .. v }
    if not target_app then
      local versions = {}
      for _, a in ipairs(c:list { apiVersion = K.APP_API, kind = "App", namespace = ws_ns,
                                  labels = { ["apps.kommander.d2iq.io/app-id"] = app.spec.appId } }) do
        versions[#versions + 1] = a.spec.version
      end
      table.sort(versions)
      return fail(900, "version %s of %s is not available in the catalog of workspace namespace %q (available: %s)", v,
                  app.spec.appId, ws_ns, table.concat(versions, ", "))
    end
    if app.spec.version == v then
      return ok({ string.format(" ✓ AppDeployment %s/%s is already at %s %s", ns, name, app.spec.appId, v) }, 1000)
    end
    set_app_ref(c, ns, name, target_app.metadata.name, "App")
    return ok({ string.format(" ✓ Upgrading AppDeployment %s/%s from %s to %s", ns, name, app.spec.version, v) }, 2500)
  end, { flags = { ["to-version"] = "string", workspace = "string", project = "string" }, short = { w = "workspace" } })

  -- dkp upgrade capi-components ------------------------------------------------------------------------

  local PROVIDER_API = "clusterctl.cluster.x-k8s.io/v1alpha3"

  tools.command("dkp", "upgrade capi-components", function(args, call)
    local cluster, err = target(args.flags, call)
    if not cluster then return err end
    local c = W.cluster(cluster)
    local providers = c:list { apiVersion = PROVIDER_API, kind = "Provider" }
    if #providers == 0 then
      return fail(3000, "failed to get provider inventory: no CAPI components are installed on this cluster (dkp create bootstrap controllers installs them)")
    end
    local versions = R.provider_versions[R.releases[CLI_RELEASE].providers]
    local changed = {}
    for _, p in ipairs(providers) do
      local want = versions[p.metadata.name]
      if want and p.version ~= want then changed[#changed + 1] = p end
    end
    if #changed == 0 then return ok({ " ✓ CAPI components are up to date" }, 5000) end
    local duration = W.random(120000, 240000)
    local timeout = util.parse_duration(args.flags.timeout or "10m") or 600000
    if duration > timeout then
      return fail(timeout, "timed out waiting for CAPI components to be upgraded after %s", args.flags.timeout or "10m0s")
    end
    for _, p in ipairs(changed) do
      c:patch({ apiVersion = PROVIDER_API, kind = "Provider", namespace = p.metadata.namespace, name = p.metadata.name },
              { version = versions[p.metadata.name] }, { quiet = true })
    end
    return ok({ " ✓ Upgrading CAPI components", " ✓ Waiting for CAPI components to be upgraded",
                " ✓ Initializing new CAPI components" }, duration)
  end, { flags = { timeout = "string", wait = "bool" } })

  -- Cluster API clusters ------------------------------------------------------------------------------

  local function get_cluster(c, ns, name)
    return c:get { apiVersion = O.CAPI, kind = "Cluster", namespace = ns, name = name }
  end

  -- Resolves -c / -n and checks the provider word. Returns cluster object, ns, or nil, error result.
  local function capi_cluster(c, args, provider)
    local name = args.flags["cluster-name"]
    if not name then return nil, nil, fail(50, "required flag(s) \"cluster-name\" not set") end
    local ns = args.flags.namespace or "default"
    local cl = get_cluster(c, ns, name)
    if not cl then
      return nil, nil, fail(600, "failed to get Cluster %s/%s: clusters.cluster.x-k8s.io %q not found", ns, name, name)
    end
    local kind = cl.spec.infrastructureRef and cl.spec.infrastructureRef.kind
    if O.provider_of(kind) ~= provider then
      return nil, nil, fail(600, "cluster %s/%s is not a %s cluster (its infrastructure is %s)", ns, name, provider, tostring(kind))
    end
    return cl, ns
  end

  -- dkp upgrade addons ---------------------------------------------------------------------------------

  local addons_yaml = {}   -- "provider ns/cluster" -> the dry run's YAML

  for _, provider in ipairs { "aws", "azure", "preprovisioned" } do
    tools.command("dkp", "upgrade addons " .. provider, function(args, call)
      local cluster, err = target(args.flags, call)
      if not cluster then return err end
      local c = W.cluster(cluster)
      local cl, ns, e = capi_cluster(c, args, provider)
      if not cl then return e end
      local name = cl.metadata.name
      local set = R.releases[CLI_RELEASE].addons
      local objs = {}
      for _, addon in ipairs(O.addons_for(provider)) do
        local crs, cm = O.addon_objects(name, ns, addon, set)
        objs[#objs + 1] = crs
        objs[#objs + 1] = cm
      end
      if args.flags["dry-run"] then
        local out = args.flags.output
        if out == "json" then
          return tools.ok(W.json.encode({ apiVersion = "v1", kind = "List", items = W.json.array(objs) }, { pretty = true }) .. "\n", 2000)
        end
        -- the objects depend only on the cluster, namespace and provider (the CLI's addon set is
        -- fixed): their YAML, slow to encode, is made once per cluster (a playbook's done / run /
        -- verify each ask for it)
        local key = provider .. " " .. ns .. "/" .. name
        if not addons_yaml[key] then
          local docs = {}
          for _, o in ipairs(objs) do docs[#docs + 1] = W.yaml.encode(o) end
          addons_yaml[key] = table.concat(docs, "---\n")
        end
        return tools.ok(addons_yaml[key], 2000)
      end
      local lines = { "Generating addon resources" }
      for _, o in ipairs(objs) do
        local ref = { apiVersion = o.apiVersion, kind = o.kind, namespace = ns, name = o.metadata.name }
        local existing = c:get(ref)
        if existing then
          if o.kind == "ConfigMap" then
            c:patch(ref, { data = W.json.null }, { quiet = true })
            c:patch(ref, { data = o.data }, { quiet = true })
          else
            c:patch(ref, { spec = o.spec }, { quiet = true })
          end
        else
          c:create(o, { quiet = true })
        end
        local resource = o.kind == "ConfigMap" and "configmap" or "clusterresourceset.addons.cluster.x-k8s.io"
        lines[#lines + 1] = string.format("%s/%s %s", resource, o.metadata.name, existing and "upgraded" or "created")
      end
      return ok(lines, W.random(10000, 20000))
    end, { flags = { ["cluster-name"] = "string", namespace = "string", ["dry-run"] = "bool", output = "string" },
           short = { c = "cluster-name", n = "namespace", o = "output" } })
  end

  -- dkp update controlplane / nodepool ------------------------------------------------------------------

  local function new_template(c, ns, from_ref, owner, version, flags)
    local old = c:get { apiVersion = from_ref.apiVersion or O.INFRA_API, kind = from_ref.kind, namespace = ns, name = from_ref.name }
    local name = owner .. "-" .. O.template_hash(owner, version .. (flags.ami or "") .. (flags["instance-type"] or ""))
    if c:get { apiVersion = from_ref.apiVersion or O.INFRA_API, kind = from_ref.kind, namespace = ns, name = name } then return name end
    local t = old and util.copy(old) or { apiVersion = O.INFRA_API, kind = from_ref.kind, spec = { template = { spec = {} } } }
    t.metadata = { name = name, namespace = ns, labels = old and old.metadata.labels or nil }
    t.status = nil
    local spec = t.spec.template.spec
    if spec.ami or from_ref.kind == "AWSMachineTemplate" then spec.ami = { id = flags.ami or R.AMI[version] or ("ami-" .. util.hash_hex(version, 17)) } end
    if flags["instance-type"] then spec.instanceType = flags["instance-type"] end
    c:create(t, { quiet = true })
    return name
  end

  -- Waits for a KCP / MD rollout to finish (--wait). Returns an error text or nil.
  local function wait_rollout(c, ref, version, timeout_ms, what, timeout_text)
    local done = W.run_until(function()
      local o = c:get(ref)
      local st = o and o.status or {}
      return st.updatedReplicas == o.spec.replicas and st.replicas == o.spec.replicas and st.readyReplicas == o.spec.replicas
         and (ref.kind ~= "KubeadmControlPlane" or st.version == version)
    end, timeout_ms, 30000)
    if not done then return string.format("timed out after %s waiting for %s to be updated", timeout_text, what) end
  end

  -- `update ... --wait` that timed out: the spec was patched (the rollout goes on), the lines so far.
  local function failed_wait(problem, lines)
    local r = fail(1000, "%s", problem)
    r.stdout = table.concat(lines, "\n") .. "\n"
    r.changed = true
    return r
  end

  local FLAGS = { ["cluster-name"] = "string", namespace = "string", ["kubernetes-version"] = "string", ami = "string",
                  ["instance-type"] = "string", wait = "bool", timeout = "string" }
  local SHORT = { c = "cluster-name", n = "namespace" }

  for _, provider in ipairs { "aws", "azure", "preprovisioned" } do
    tools.command("dkp", "update controlplane " .. provider, function(args, call)
      local cluster, err = target(args.flags, call)
      if not cluster then return err end
      local c = W.cluster(cluster)
      local cl, ns, e = capi_cluster(c, args, provider)
      if not cl then return e end
      local raw = args.flags["kubernetes-version"]
      local version = version_of(raw)
      if raw and not version then return fail(50, "invalid Kubernetes version %q: expected a version such as v1.22.8", raw) end
      local kref = cl.spec.controlPlaneRef
      local ref = { apiVersion = O.KCP_API, kind = "KubeadmControlPlane", namespace = ns, name = kref.name }
      local kcp = c:get(ref)
      if not kcp then return fail(600, "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io %q not found", kref.name) end
      version = version or kcp.spec.version
      local from = kcp.spec.version
      local denied = "admission webhook \"validation.kubeadmcontrolplane.controlplane.cluster.x-k8s.io\" denied the request: " ..
                     "KubeadmControlPlane.controlplane.cluster.x-k8s.io %q is invalid: spec.version: Forbidden: %s"
      local f1, f2 = minor_parts(from)
      local t1, t2 = minor_parts(version)
      if vless(version, from) then
        return fail(1500, denied, kref.name, string.format("cannot update Kubernetes version from %s to %s", from, version))
      end
      if t1 ~= f1 or t2 > f2 + 1 then
        return fail(1500, denied, kref.name, string.format("cannot update Kubernetes version from %s to %s: skipping a minor version is not allowed", from, version))
      end
      local lines = { string.format("Updating control plane resource %s, Kind=KubeadmControlPlane %s/%s", O.KCP_API, ns, kref.name) }
      local template = new_template(c, ns, kcp.spec.machineTemplate.infrastructureRef, kref.name, version, args.flags)
      c:patch(ref, { spec = { version = version, machineTemplate = { infrastructureRef = { name = template } } } }, { quiet = true })
      if args.flags.wait then
        lines[#lines + 1] = "Waiting for control plane update to finish."
        local problem = wait_rollout(c, ref, version, util.parse_duration(args.flags.timeout or "30m") or 1800000,
                                     "the control plane of " .. cl.metadata.name, args.flags.timeout or "30m0s")
        if problem then return failed_wait(problem, lines) end
      end
      lines[#lines + 1] = " ✓ Updating control plane"
      return ok(lines, 3000)
    end, { flags = FLAGS, short = SHORT })

    tools.command("dkp", "update nodepool " .. provider, function(args, call)
      local cluster, err = target(args.flags, call)
      if not cluster then return err end
      local name = args.pos[1]
      if not name or #args.pos > 1 then return fail(50, "accepts 1 arg(s), received %d", #args.pos) end
      local c = W.cluster(cluster)
      local cl, ns, e = capi_cluster(c, args, provider)
      if not cl then return e end
      local ref = { apiVersion = O.CAPI, kind = "MachineDeployment", namespace = ns, name = name }
      local md = c:get(ref)
      if not md or md.spec.clusterName ~= cl.metadata.name then
        return fail(600, "failed to get node pool %s: machinedeployments.cluster.x-k8s.io %q not found", name, name)
      end
      local raw = args.flags["kubernetes-version"]
      local version = version_of(raw)
      if raw and not version then return fail(50, "invalid Kubernetes version %q: expected a version such as v1.22.8", raw) end
      version = version or md.spec.template.spec.version
      local kcp = c:get { apiVersion = O.KCP_API, kind = "KubeadmControlPlane", namespace = ns, name = cl.spec.controlPlaneRef.name }
      local cp = kcp and kcp.status and kcp.status.version or (kcp and kcp.spec.version)
      if cp and vless(cp, version) then
        return fail(1500, "node pool %s cannot run Kubernetes %s: the control plane of %s runs %s (nodes must not be newer " ..
                    "than the control plane); update the control plane first", name, version, cl.metadata.name, cp)
      end
      if vless(version, md.spec.template.spec.version) then
        return fail(1500, "node pool %s cannot be downgraded from %s to %s", name, md.spec.template.spec.version, version)
      end
      local lines = { string.format("Updating node pool resource %s, Kind=MachineDeployment %s/%s", O.CAPI, ns, name) }
      local template = new_template(c, ns, md.spec.template.spec.infrastructureRef, name, version, args.flags)
      c:patch(ref, { spec = { template = { spec = { version = version, infrastructureRef = { name = template } } } } }, { quiet = true })
      if args.flags.wait then
        lines[#lines + 1] = "Waiting for node pool update to finish."
        local problem = wait_rollout(c, ref, version, util.parse_duration(args.flags.timeout or "30m") or 1800000,
                                     "node pool " .. name, args.flags.timeout or "30m0s")
        if problem then return failed_wait(problem, lines) end
      end
      lines[#lines + 1] = string.format(" ✓ Updating the %s node pool", name)
      return ok(lines, 3000)
    end, { flags = FLAGS, short = SHORT })
  end

  -- dkp version ------------------------------------------------------------------------------------------

  -- The dkp CLI on the operator's PATH: the management cluster's `dkpCLI` (default the release this
  -- model's commands implement). One line per component of the bundle, as `dkp version` prints them.
  -- Registered only for a fleet with a DKP management cluster: otherwise the Konvoy adoption model
  -- (konvoy_dkp.lua) answers `dkp version` from its own fixture field (it registers after this model
  -- and keeps this command when there is one).
  local cli
  for _, s in ipairs(m.sections) do
    if s.role == "management" then cli = cli or s.dkpCLI or ("v" .. CLI_RELEASE) end
  end
  if cli then
    tools.command("dkp", "version", function()
      local lines = {}
      for _, comp in ipairs(R.cli_components(cli)) do lines[#lines + 1] = comp[1] .. ": " .. comp[2] end
      return ok(lines, 150)
    end)
  end

  -- dkp get nodepool -------------------------------------------------------------------------------------

  tools.command("dkp", "get nodepool", function(args, call)
    local cluster, err = target(args.flags, call)
    if not cluster then return err end
    local name = args.flags["cluster-name"]
    if not name then return fail(50, "required flag(s) \"cluster-name\" not set") end
    local c = W.cluster(cluster)
    local ns = args.flags.namespace or "default"
    local mds = c:list { apiVersion = O.CAPI, kind = "MachineDeployment", namespace = ns, labels = { [O.CLUSTER_LABEL] = name } }
    table.sort(mds, function(a, b) return a.metadata.name < b.metadata.name end)
    local out = args.flags.output
    if out == "json" then
      return tools.ok(W.json.encode({ apiVersion = "v1", kind = "List", items = W.json.array(mds) }, { pretty = true }) .. "\n", 800)
    elseif out == "yaml" then
      return tools.ok(W.yaml.encode({ apiVersion = "v1", kind = "List", items = W.json.array(mds) }), 800)
    elseif out ~= nil then
      return fail(50, "unable to match a printer suitable for the output format %q, allowed formats are: json,yaml", out)
    end
    local lines = { string.format("%-34s%-22s%-20s%s", "NODEPOOL", "DESIRED", "READY", "KUBERNETES VERSION") }
    for _, md in ipairs(mds) do
      lines[#lines + 1] = string.format("%-34s%-22s%-20s%s", md.metadata.name, tostring(md.spec.replicas),
                                        tostring(md.status and md.status.readyReplicas or 0), tostring(md.spec.template.spec.version))
    end
    return ok(lines, 800)
  end, { flags = { ["cluster-name"] = "string", namespace = "string", output = "string" },
         short = { c = "cluster-name", n = "namespace", o = "output" } })
end
