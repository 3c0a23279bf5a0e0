-- refit.sim.dkp_kommander: Kommander in the simulated world: its objects (Workspaces, Projects,
-- ClusterApps / Apps, AppDeployments, KommanderClusters, HelmReleases) and two controllers:
--
--  * AppDeployments (apps.kommander.d2iq.io/v1alpha2, on the management cluster): a new appRef is
--    rendered, 5-15 s later, as the HelmRelease of the same name and namespace on every cluster the
--    namespace reaches (namespace kommander: the management cluster; a workspace namespace: the
--    workspace's clusters; a project namespace: the clusters of its workspace). A deleted
--    AppDeployment deletes those HelmReleases.
--  * HelmReleases (helm.toolkit.fluxcd.io/v2beta1, every DKP cluster), as Flux's helm-controller:
--    a new spec.chart.spec.version is reconciled (Ready Unknown, then Ready / Released True after a
--    chart-specific delay, dkp_releases.lua); a suspended release is left alone; resuming a failed
--    one retries it (the documented recovery). Deleting a release that is not suspended and still
--    has its Helm storage Secrets (labels name=<release>, owner=helm) uninstalls it: the objects it
--    installed go (MetalLB's, in this model). Fault `dkp-helmrelease-fails` ends a reconciliation
--    Ready False (UpgradeFailed / InstallFailed, "upgrade retries exhausted").

local util = require "refit.sim.util"
local base64 = require "refit.base64"
local R = require "refit.sim.dkp_releases"

local KOMMANDER_API = "apps.kommander.d2iq.io/v1alpha2"
local WORKSPACE_API = "workspaces.kommander.mesosphere.io/v1alpha1"
local HR_API = "helm.toolkit.fluxcd.io/v2beta1"
local FEDERATE_MIN, FEDERATE_MAX = 5000, 15000

return function(W, env)
  local faults = env.faults
  local arr = W.json.array
  local K = { HR_API = HR_API, APP_API = KOMMANDER_API, WORKSPACE_API = WORKSPACE_API }
  local targets = {}     -- management cluster -> namespace -> list of world cluster names
  local uninstall = {}   -- "cluster/ns/name" -> refs of the objects the release installed
  local dkp_clusters = {}
  local project_ws = {}  -- project namespace -> its workspace namespace (where its Apps are)

  local function cond(ctype, status, reason, message)
    return { type = ctype, status = status, reason = reason, message = message, lastTransitionTime = util.k8s_time(W.now()) }
  end

  local ensure_ns = env.fixture.ensure_namespace   -- fixture.lua's: one way to make a namespace
  K.ensure_ns = ensure_ns

  -- Objects -------------------------------------------------------------------------------------------

  local function healthy_status(version, revision)
    return {
      observedGeneration = 1, lastAppliedRevision = version, lastAttemptedRevision = version,
      lastReleaseRevision = revision or 1,
      conditions = arr { cond("Ready", "True", "ReconciliationSucceeded", "Release reconciliation succeeded"),
                         cond("Released", "True", revision and revision > 1 and "UpgradeSucceeded" or "InstallSucceeded",
                              revision and revision > 1 and "Helm upgrade succeeded" or "Helm install succeeded") },
    }
  end

  function K.helm_release(ns, name, chart, version, repo)
    return {
      apiVersion = HR_API, kind = "HelmRelease",
      metadata = { name = name, namespace = ns, labels = { ["kommander.d2iq.io/appdeployment"] = name } },
      spec = {
        chart = { spec = { chart = chart, version = version, sourceRef = { kind = "HelmRepository", name = repo or "kommander-charts",
                                                                          namespace = "kommander-flux" } } },
        interval = "15s", releaseName = name, install = { remediation = { retries = 30 } },
        upgrade = { remediation = { retries = 30 } },
      },
      status = healthy_status(version),
    }
  end

  function K.app(kind, ns, app, version, annotations)
    return { apiVersion = KOMMANDER_API, kind = kind,
             metadata = { name = app .. "-" .. version, namespace = ns, annotations = annotations,
                          labels = { ["apps.kommander.d2iq.io/app-id"] = app } },
             spec = { appId = app, version = version, displayName = app } }
  end

  function K.app_deployment(ns, name, app_ref, ref_kind)
    return { apiVersion = KOMMANDER_API, kind = "AppDeployment", metadata = { name = name, namespace = ns },
             spec = { appRef = { name = app_ref, kind = ref_kind } } }
  end

  local function workspace(name, ns)
    return { apiVersion = WORKSPACE_API, kind = "Workspace",
             metadata = { name = name, annotations = { ["kommander.mesosphere.io/display-name"] = name } },
             spec = { namespaceName = ns }, status = { namespaceRef = { name = ns } } }
  end

  -- Management cluster: namespaces, workspaces, projects, platform apps (ClusterApps, AppDeployments,
  -- HelmReleases in kommander), the apps of every workspace (AppDeployments), catalog and custom apps.
  function K.load_management(s, namespaces)
    local c = W.cluster(s.cluster)
    local apps = R.platform[s.version]
    for _, ns in ipairs { "kommander", "kommander-flux", "kommander-default-workspace", "capi-system",
                          "capi-kubeadm-bootstrap-system", "capi-kubeadm-control-plane-system", "capa-system" } do
      namespaces[ns] = true
    end
    c:create(workspace("kommander-workspace", "kommander"), { quiet = true })
    c:create(workspace("default-workspace", "kommander-default-workspace"), { quiet = true })
    for _, ws in ipairs(s.workspaces) do
      namespaces[ws.namespace] = true
      c:create(workspace(ws.name, ws.namespace), { quiet = true })
      for _, p in ipairs(ws.projects) do
        namespaces[p.namespace] = true
        c:create({ apiVersion = WORKSPACE_API, kind = "Project", metadata = { name = p.name, namespace = ws.namespace },
                   spec = { namespaceName = p.namespace, workspaceRef = { name = ws.name } },
                   status = { namespaceRef = { name = p.namespace } } }, { quiet = true })
      end
    end
    for _, app in ipairs(util.sorted_keys(apps)) do
      if app ~= "metallb" or s.metallb then
        c:create(K.app("ClusterApp", nil, app, apps[app]), { quiet = true })
        c:create(K.app_deployment("kommander", app, app .. "-" .. apps[app], "ClusterApp"), { quiet = true })
        c:create(K.helm_release("kommander", app, app, apps[app]), { quiet = true })
      end
    end
    -- the platform apps of every other workspace
    local spaces = { { namespace = "kommander-default-workspace" } }
    for _, ws in ipairs(s.workspaces) do spaces[#spaces + 1] = ws end
    for _, ws in ipairs(spaces) do
      for _, app in ipairs(R.WORKSPACE_APPS) do
        c:create(K.app_deployment(ws.namespace, app, app .. "-" .. apps[app], "ClusterApp"), { quiet = true })
      end
    end
    -- the catalog: every version of every DKP catalog app, in each workspace that deploys one
    local offered = {}
    for _, a in ipairs(s.catalogApps) do
      local ns = a.workspace.namespace
      offered[ns] = offered[ns] or {}
      if not offered[ns][a.app] then
        offered[ns][a.app] = true
        for _, v in ipairs(R.catalog[a.app]) do c:create(K.app("App", ns, a.app, v), { quiet = true }) end
      end
      local where = a.project and a.project.namespace or ns
      c:create(K.app_deployment(where, a.name, a.app .. "-" .. a.version, "App"), { quiet = true })
    end
    for _, a in ipairs(s.customApps) do
      local ns = a.workspace.namespace
      c:create(K.app("App", ns, a.app, a.version, a.kubeVersion and { ["apps.kommander.d2iq.io/kubernetes-version"] = a.kubeVersion } or nil),
               { quiet = true })
      local where = a.project and a.project.namespace or ns
      c:create(K.app_deployment(where, a.name, a.app .. "-" .. a.version, "App"), { quiet = true })
    end
    if s.metallb then K.load_metallb(s, namespaces) end
  end

  -- MetalLB as DKP 2.1 installs it: a platform app (AppDeployment and HelmRelease metallb in
  -- kommander), its Helm storage Secrets (Flux stores them in the HelmRelease's namespace), and what
  -- it runs in metallb-system.
  -- On a release without MetalLB among its platform apps (2.2), MetalLB runs on its own: only its
  -- workloads (what detaching it before the upgrade leaves).
  function K.load_metallb(s, namespaces)
    local c = W.cluster(s.cluster)
    namespaces["metallb-system"] = true
    local attached = R.platform[s.version].metallb ~= nil
    for rev = 1, attached and 2 or 0 do
      c:create({ apiVersion = "v1", kind = "Secret", type = "helm.sh/release.v1",
                 metadata = { name = "sh.helm.release.v1.metallb.v" .. rev, namespace = "kommander",
                              labels = { name = "metallb", owner = "helm", status = rev == 2 and "deployed" or "superseded",
                                         version = tostring(rev) } },
                 data = { release = base64.encode("simulated helm release record of metallb, revision " .. rev) } }, { quiet = true })
    end
    local objs = {
      { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "metallb-controller", namespace = "metallb-system",
          labels = { app = "metallb", component = "controller" } },
        spec = { replicas = 1, selector = { matchLabels = { app = "metallb", component = "controller" } },
                 template = { metadata = { labels = { app = "metallb", component = "controller" } },
                              spec = { containers = arr { { name = "controller", image = "quay.io/metallb/controller:v0.12.1" } } } } } },
      { apiVersion = "apps/v1", kind = "DaemonSet", metadata = { name = "metallb-speaker", namespace = "metallb-system",
          labels = { app = "metallb", component = "speaker" } },
        spec = { selector = { matchLabels = { app = "metallb", component = "speaker" } },
                 template = { metadata = { labels = { app = "metallb", component = "speaker" } },
                              spec = { containers = arr { { name = "speaker", image = "quay.io/metallb/speaker:v0.12.1" } } } } } },
      { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "config", namespace = "metallb-system" },
        data = { config = "address-pools:\n- name: default\n  protocol: layer2\n  addresses:\n  - 10.0.250.10-10.0.250.60\n" } },
    }
    local refs = {}
    for _, o in ipairs(objs) do
      c:create(o, { quiet = true })
      refs[#refs + 1] = { apiVersion = o.apiVersion, kind = o.kind, namespace = o.metadata.namespace, name = o.metadata.name }
    end
    if attached then uninstall[s.cluster .. "/kommander/metallb"] = refs end
  end

  -- Workload side of a managed or attached cluster: the platform apps of its workspace.
  function K.load_workspace_releases(s, namespaces)
    local c = W.cluster(s.cluster)
    local apps = R.platform[s.version]
    namespaces[s.workspace_ns] = true
    for _, app in ipairs(R.WORKSPACE_APPS) do
      c:create(K.helm_release(s.workspace_ns, app, app, apps[app]), { quiet = true })
    end
  end

  -- Cross-cluster: KommanderClusters, which clusters each namespace reaches, the catalog and custom
  -- apps' HelmReleases (and a custom app's objects) on the clusters of their workspace.
  function K.link(m, members)
    local c = W.cluster(m.cluster)
    local reach = { kommander = { m.cluster } }
    for _, s in ipairs(members) do
      reach[s.workspace_ns] = reach[s.workspace_ns] or {}
      table.insert(reach[s.workspace_ns], s.cluster)
      ensure_ns(c, s.workspace_ns)
      c:create({ apiVersion = "kommander.mesosphere.io/v1beta1", kind = "KommanderCluster",
                 metadata = { name = s.cluster, namespace = s.workspace_ns },
                 spec = { kubeconfigRef = { name = s.cluster .. "-kubeconfig" },
                          clusterRef = s.role == "managed" and { capiCluster = { name = s.cluster } } or nil },
                 status = { phase = "Joined" } }, { quiet = true })
    end
    for _, ws in ipairs(m.workspaces) do
      for _, p in ipairs(ws.projects) do
        reach[p.namespace] = reach[ws.namespace] or {}
        project_ws[p.namespace] = ws.namespace
      end
    end
    targets[m.cluster] = reach
    local function deploy(a, custom)
      local ns = a.project and a.project.namespace or a.workspace.namespace
      for _, name in ipairs(reach[ns] or {}) do
        local wc = W.cluster(name)
        ensure_ns(wc, ns)
        wc:create(K.helm_release(ns, a.name, a.app, a.version, custom and "custom-catalog" or "dkp-catalog-applications"), { quiet = true })
        for _, o in ipairs(custom and a.objects or {}) do
          wc:create({ apiVersion = o.apiVersion, kind = o.kind,
                      metadata = { name = o.name, namespace = ns,
                                   labels = { ["helm.toolkit.fluxcd.io/name"] = a.name, ["helm.toolkit.fluxcd.io/namespace"] = ns,
                                              ["app.kubernetes.io/managed-by"] = "Helm" } },
                      spec = {} }, { quiet = true })
        end
      end
    end
    for _, a in ipairs(m.catalogApps) do deploy(a, false) end
    for _, a in ipairs(m.customApps) do deploy(a, true) end
  end

  -- The clusters the AppDeployments of a namespace reach.
  function K.reach(mgmt, ns) return (targets[mgmt] or {})[ns] or {} end

  -- HelmRelease controller -----------------------------------------------------------------------------

  local function hr_ref(ns, name) return { apiVersion = HR_API, kind = "HelmRelease", namespace = ns, name = name } end

  local function ready_condition(hr)
    for _, cnd in ipairs(hr.status and hr.status.conditions or {}) do
      if cnd.type == "Ready" then return cnd end
    end
  end
  K.ready_condition = ready_condition

  local reconciling = {}   -- "cluster/ns/name" -> version being reconciled

  local function reconcile(cluster, hr)
    local ns, name = hr.metadata.namespace, hr.metadata.name
    local version = hr.spec.chart.spec.version
    local key = cluster .. "/" .. ns .. "/" .. name
    if reconciling[key] == version then return end
    reconciling[key] = version
    local c = W.cluster(cluster)
    local upgrade = hr.status and hr.status.lastAppliedRevision ~= nil
    local revision = (hr.status and hr.status.lastReleaseRevision or 0) + 1
    c:patch_status(hr_ref(ns, name), {
      lastAttemptedRevision = version,
      conditions = arr { cond("Ready", "Unknown", "Progressing", "Reconciliation in progress"),
                         cond("Released", "Unknown", "Progressing", "Reconciliation in progress") },
    }, { quiet = true })
    local chart = hr.spec.chart.spec.chart
    local span = R.RECONCILE[chart] or R.DEFAULT_RECONCILE
    W.after(W.random(span[1], span[2]) * 1000, function()
      reconciling[key] = nil
      local now = c:get(hr_ref(ns, name))
      if not now or now.spec.chart.spec.version ~= version or now.spec.suspend == true then return end
      local f = faults and faults.take("dkp-helmrelease-fails", cluster, { release = name, namespace = ns, version = version },
                                       string.format("HelmRelease %s/%s fails to reconcile %s %s", ns, name, chart, version))
      if f then
        local action = upgrade and "upgrade" or "install"
        local message = f.message or (action .. " retries exhausted")
        c:patch_status(hr_ref(ns, name), {
          failures = 31, [upgrade and "upgradeFailures" or "installFailures"] = 31,
          conditions = arr { cond("Ready", "False", upgrade and "UpgradeFailed" or "InstallFailed", message),
                             cond("Released", "False", upgrade and "UpgradeFailed" or "InstallFailed",
                                  "Helm " .. action .. " failed: timed out waiting for the condition") },
        }, { quiet = true })
        return
      end
      local st = healthy_status(version, revision)
      c:patch_status(hr_ref(ns, name), st, { quiet = true })
    end, cluster .. ": reconcile helmrelease " .. ns .. "/" .. name)
  end

  -- What the watchers need of an object's previous state, kept from the changes they saw (and from
  -- the store when they start), instead of W.on_change's `old`: a watcher asking for `old` makes the
  -- cluster's store keep and convert the previous object of EVERY change of every kind (each Node
  -- status write of a 10,000-node fleet), where these need one boolean and one small spec.
  local suspended = {}   -- "cluster/ns/name" -> true: the HelmRelease as last seen was suspended
  local ad_specs = {}    -- "cluster/ns/name" -> the AppDeployment's spec as last seen

  local function on_helm_release(cluster, ch)
    local hr = ch.object
    local key = cluster .. "/" .. hr.metadata.namespace .. "/" .. hr.metadata.name
    local was_suspended = ch.type == "MODIFIED" and suspended[key] == true
    suspended[key] = ch.type ~= "DELETED" and hr.spec.suspend == true or nil
    if ch.type == "DELETED" then
      local refs = uninstall[key]
      if refs and hr.spec.suspend ~= true then
        local c = W.cluster(cluster)
        local secrets = c:list { kind = "Secret", namespace = hr.metadata.namespace,
                                 labels = { name = hr.metadata.name, owner = "helm" } }
        if #secrets > 0 then
          -- helm uninstall: the release's objects and its storage go
          for _, ref in ipairs(refs) do c:delete(ref) end
          for _, sec in ipairs(secrets) do c:delete { kind = "Secret", namespace = sec.metadata.namespace, name = sec.metadata.name } end
          W.log("%s: helm-controller uninstalled release %s/%s", cluster, hr.metadata.namespace, hr.metadata.name)
        end
      end
      return
    end
    if hr.spec.suspend == true then return end
    local version = hr.spec.chart and hr.spec.chart.spec and hr.spec.chart.spec.version
    if not version then return end
    local st = hr.status or {}
    local ready = ready_condition(hr)
    if st.lastAttemptedRevision ~= version then
      reconcile(cluster, hr)
    elseif ready and ready.status == "False" and was_suspended then
      -- resumed after a failure: Flux resets the failure count and tries again
      reconcile(cluster, hr)
    end
  end

  -- AppDeployment controller ---------------------------------------------------------------------------

  local function on_app_deployment(mgmt, ch)
    local ad = ch.object
    local ns, name = ad.metadata.namespace, ad.metadata.name
    local reach = K.reach(mgmt, ns)
    local key = mgmt .. "/" .. ns .. "/" .. name
    local old_spec = ch.type == "MODIFIED" and ad_specs[key] or nil
    ad_specs[key] = ch.type ~= "DELETED" and ad.spec or nil   -- the change table is read-only: kept as is
    if ch.type == "DELETED" then
      for _, cluster in ipairs(reach) do W.cluster(cluster):delete(hr_ref(ns, name)) end
      return
    end
    if old_spec and util.deep_equal(old_spec, ad.spec) then return end
    local c = W.cluster(mgmt)
    local ref = ad.spec.appRef or {}
    local app_ns = ref.kind ~= "ClusterApp" and (project_ws[ns] or ns) or nil
    local app = c:get { apiVersion = KOMMANDER_API, kind = ref.kind or "App", namespace = app_ns, name = ref.name }
    if not app then
      W.log("%s: AppDeployment %s/%s references %s %s, which does not exist", mgmt, ns, name, tostring(ref.kind), tostring(ref.name))
      return
    end
    W.after(W.random(FEDERATE_MIN, FEDERATE_MAX), function()
      for _, cluster in ipairs(reach) do
        local wc = W.cluster(cluster)
        local hr = wc:get(hr_ref(ns, name))
        if hr then
          if hr.spec.chart.spec.version ~= app.spec.version then
            wc:patch(hr_ref(ns, name), { spec = { chart = { spec = { version = app.spec.version } } } }, { quiet = true })
          end
        else
          ensure_ns(wc, ns)
          local new = K.helm_release(ns, name, app.spec.appId, app.spec.version)
          new.status = nil
          wc:create(new, { quiet = true })
        end
      end
    end, mgmt .. ": federate appdeployment " .. ns .. "/" .. name)
  end

  function K.start_cluster(name, management)
    if dkp_clusters[name] then return end
    dkp_clusters[name] = true
    local c = W.cluster(name)
    for _, hr in ipairs(c:list { apiVersion = HR_API, kind = "HelmRelease" }) do
      if hr.spec.suspend == true then suspended[name .. "/" .. hr.metadata.namespace .. "/" .. hr.metadata.name] = true end
    end
    W.on_change(name, "HelmRelease", function(ch) on_helm_release(name, ch) end)
    if management then
      for _, ad in ipairs(c:list { apiVersion = KOMMANDER_API, kind = "AppDeployment" }) do
        ad_specs[name .. "/" .. ad.metadata.namespace .. "/" .. ad.metadata.name] = ad.spec
      end
      W.on_change(name, "AppDeployment", function(ch) on_app_deployment(name, ch) end)
    end
  end

  return K
end
