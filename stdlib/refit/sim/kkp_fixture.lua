-- refit.sim.kkp_fixture: reads the `kkp:` section of a fixture's cluster (docs/fixtures.md, "KKP")
-- and creates what a KKP installation has in that cluster.
--
-- A master gets the KubermaticConfiguration (kubermatic/kubermatic), the operator, API, dashboard and
-- master-controller-manager Deployments, the kubermatic CRDs, Users, Projects and their bindings, and,
-- once every cluster is loaded (link()), a Seed object per seed with the Secret holding the seed's
-- kubeconfig. A seed gets the kubermatic CRDs, the seed-controller-manager, and its user clusters:
-- Cluster objects (cluster-scoped) and their control-plane namespaces cluster-<id>.
--
-- Part of refit.sim.kkp: `S` is the model's state; returns { load =, link = }.

local util = require "refit.sim.util"
local checker = require "refit.sim.check"
local base64 = require "refit.base64"
local releases = require "refit.sim.kkp_releases"
local crds = require "refit.sim.kkp_crds"

local MASTER_FIELDS = { "role", "version", "edition", "domain", "maximumParallelReconciles", "installers", "seeds",
                        "users", "projects", "annotations", "kubeconfigContexts" }
local SEED_FIELDS = { "role", "version", "edition", "minio", "mla", "userClusters" }
local SEED_ENTRY_FIELDS = { "name", "cluster", "phase", "country", "location" }
local USER_CLUSTERS_FIELDS = { "count", "prefix", "version", "containerRuntime", "provider", "special" }
local SPECIAL_FIELDS = { "name", "humanReadableName", "version", "containerRuntime", "provider", "upToDate", "paused" }

local KKP_VERSION = "^v%d+%.%d+%.%d+$"
local K8S_VERSION = "^%d+%.%d+%.%d+$"

local NS = "kubermatic"
local API = "kubermatic.k8c.io/v1"

return function(W, S)
  local F = {}
  local array = W.json.array

  -- "2.21.12" / "v2.21.12" -> "v2.21.12"
  local function kkp_version(check, path, v, required)
    v = check:string(path, v, { version = true, required = required })
    if v == nil then return nil end
    if v:sub(1, 1) ~= "v" then v = "v" .. v end
    if not v:match(KKP_VERSION) then
      check:error(path, "must be a KKP release such as \"v2.21.12\", got %q", v)
    end
    return v
  end

  local function condition(status, reason, message, now, extra)
    local c = { status = status, reason = reason, message = message,
                lastHeartbeatTime = util.k8s_time(now), lastTransitionTime = util.k8s_time(now) }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end
  F.condition = condition

  local function create(cluster, obj)
    W.cluster(cluster):create(obj, { quiet = true })
  end

  local function deployment(name, namespace, replicas, image, labels)
    labels = labels or { app = name }
    return {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = name, namespace = namespace, labels = util.copy(labels) },
      spec = {
        replicas = replicas,
        selector = { matchLabels = util.copy(labels) },
        template = { metadata = { labels = util.copy(labels) },
                     spec = { containers = array { { name = name, image = image } } } },
      },
    }
  end

  -- Master -----------------------------------------------------------------------------------------

  local function load_master(c, spec, path, check, namespaces)
    local f = function(k) return checker.field(path, k) end
    check:known_fields(path, spec, MASTER_FIELDS)
    local version = kkp_version(check, f("version"), spec.version, true)
    local edition = check:oneof(f("edition"), spec.edition, { "ce", "ee" }, { default = "ee" })
    local domain = check:string(f("domain"), spec.domain, { default = "kkp.example.com" })
    local limit = check:int(f("maximumParallelReconciles"), spec.maximumParallelReconciles, { min = 1 })
    local n_users = check:int(f("users"), spec.users, { min = 0, default = 2 })
    local n_projects = check:int(f("projects"), spec.projects, { min = 0, default = 2 })
    -- on the KubermaticConfiguration: e.g. the refit.dev/ record a half-finished upgrade left
    local annotations = check:string_map(f("annotations"), spec.annotations)
    -- the contexts of the operator's kubeconfig (what `--kube-context` and `kubectl config
    -- get-contexts` know): context name -> fixture cluster; default: one per cluster, named like it
    local contexts = check:string_map(f("kubeconfigContexts"), spec.kubeconfigContexts)
    if S.master then
      check:error(f("role"), "clusters %q and %q are both KKP masters: a KKP installation has one master", S.master.name, c.name)
    end

    -- the installer release archives extracted on the operator's machine: program path -> version
    local installers = {}
    local given = check:map(f("installers"), spec.installers)
    if given then
      for _, program in ipairs(util.sorted_keys(given)) do
        installers[program] = kkp_version(check, checker.field(f("installers"), program), given[program], true)
      end
    else
      -- the release a person would download next: the latest patch of the next minor (or of this
      -- one, on the last minor the world knows)
      local minor = tonumber(version:match("^v%d+%.(%d+)%."))
      local pick
      for _, v in ipairs(releases.LATEST_PATCHES) do
        local m = tonumber(v:match("^%d+%.(%d+)%."))
        if m == minor + 1 or (m == minor and not pick) then pick = "v" .. v end
      end
      pick = pick or version
      installers["./kubermatic-installer"] = pick
      installers["kubermatic-installer"] = pick
    end

    local seeds = {}
    for i, s in ipairs(check:list(f("seeds"), spec.seeds, { default = {} })) do
      local sp = checker.index(f("seeds"), i)
      check:map(sp, s, { required = true })
      check:known_fields(sp, s, SEED_ENTRY_FIELDS)
      local entry = {
        name = check:string(checker.field(sp, "name"), s.name, { required = true, pattern = "^[a-z0-9][a-z0-9-]*$",
                                                                example = "a DNS label such as \"europe-west\"" }),
        cluster = check:string(checker.field(sp, "cluster"), s.cluster, { required = true }),
        phase = check:oneof(checker.field(sp, "phase"), s.phase, { "Healthy", "Unhealthy" }, { default = "Healthy" }),
        country = check:string(checker.field(sp, "country"), s.country, { default = "DE" }),
        location = check:string(checker.field(sp, "location"), s.location, { default = "Frankfurt" }),
        path = sp,
      }
      for _, other in ipairs(seeds) do
        if other.name == entry.name then check:error(checker.field(sp, "name"), "seed %q is listed twice", entry.name) end
      end
      seeds[#seeds + 1] = entry
    end

    S.master = { name = c.name, version = version, edition = edition, domain = domain, installers = installers,
                 seeds = seeds, path = path, contexts = contexts and util.copy(contexts) or nil }
    namespaces[NS] = true
    local image = releases.image(edition, version)
    local seed_controller = limit and { maximumParallelReconciles = limit } or nil
    create(c.name, {
      apiVersion = API, kind = "KubermaticConfiguration",
      metadata = { name = "kubermatic", namespace = NS, annotations = annotations and util.copy(annotations) or nil },
      spec = {
        ingress = { domain = domain, certificateIssuer = { apiGroup = nil, kind = "ClusterIssuer", name = "letsencrypt-prod" } },
        auth = { clientID = "kubermatic", issuerRedirectURL = "https://" .. domain .. "/api/v1/kubeconfig" },
        seedController = seed_controller,
        featureGates = { OIDCKubeCfgEndpoint = true },
      },
      status = { kubermaticVersion = version, kubermaticEdition = releases.EDITIONS[edition] },
    })
    create(c.name, deployment("kubermatic-operator", NS, 1, image, { app = "kubermatic-operator" }))
    create(c.name, deployment("kubermatic-api", NS, 2, image, { role = "kubermatic-api" }))
    create(c.name, deployment("kubermatic-master-controller-manager", NS, 2, image, { role = "master-controller-manager" }))
    create(c.name, deployment("kubermatic-dashboard", NS, 2,
                              string.format("quay.io/kubermatic/dashboard%s:%s", edition == "ee" and "-ee" or "", version),
                              { role = "kubermatic-dashboard" }))
    for _, obj in ipairs(crds.objects(version)) do create(c.name, obj) end
    create(c.name, {
      apiVersion = API, kind = "KubermaticSetting", metadata = { name = "globalsettings" },
      spec = { displayAPIDocs = false, enableDashboard = true, defaultNodeCount = 2, restrictProjectCreation = false,
               mlaOptions = { loggingEnabled = false, monitoringEnabled = false } },
    })
    local users, projects = {}, {}
    for i = 1, n_users do
      local email = string.format("user%d@%s", i, domain)
      local name = util.hash_hex("user:" .. email, 64)
      users[i] = { name = name, email = email }
      create(c.name, { apiVersion = API, kind = "User", metadata = { name = name },
                       spec = { email = email, name = "User " .. i, isAdmin = i == 1 },
                       status = { lastSeen = util.k8s_time(-3600000) } })
    end
    for i = 1, n_projects do
      local id = util.hash_name("project:" .. c.name .. ":" .. i, 10)
      projects[i] = id
      create(c.name, { apiVersion = API, kind = "Project", metadata = { name = id },
                       spec = { name = "project-" .. i }, status = { phase = "Active" } })
      for _, u in ipairs(users) do
        create(c.name, { apiVersion = API, kind = "UserProjectBinding",
                         metadata = { name = util.hash_name("binding:" .. id .. u.name, 10) },
                         spec = { userEmail = u.email, projectID = id, group = "owners-" .. id } })
      end
    end
    S.master.projects = projects
    S.master.users = users
  end

  -- Seed -------------------------------------------------------------------------------------------

  local function cluster_object(id, spec, seed_version, now)
    local up = spec.upToDate ~= false
    return {
      apiVersion = API, kind = "Cluster",
      metadata = { name = id, labels = { ["project-id"] = spec.project, ["worker-name"] = "" } },
      spec = {
        humanReadableName = spec.humanReadableName,
        version = spec.version,
        containerRuntime = spec.containerRuntime,
        cloud = { dc = spec.datacenter, providerName = spec.provider },
        exposeStrategy = "NodePort",
        pause = spec.paused or false,
        enableUserSSHKeyAgent = true,
      },
      status = {
        namespaceName = "cluster-" .. id,
        phase = "Running",
        userEmail = spec.userEmail,
        versions = { controlPlane = spec.version, apiserver = spec.version, controllerManager = spec.version,
                     scheduler = spec.version },
        conditions = {
          ClusterInitialized = condition("True", "", "", now - 86400000, { kubermaticVersion = seed_version }),
          SeedResourcesUpToDate = up
            and condition("True", "ClusterUpdateSuccessful", "All control plane components are up to date", now,
                          { kubermaticVersion = seed_version })
            or condition("False", "ClusterUpdateInProgress", "Some control plane components did not finish updating", now,
                         { kubermaticVersion = seed_version }),
        },
      },
    }
  end

  local function load_seed(c, spec, path, check, namespaces)
    local f = function(k) return checker.field(path, k) end
    check:known_fields(path, spec, SEED_FIELDS)
    local version = kkp_version(check, f("version"), spec.version, true)
    local edition = check:oneof(f("edition"), spec.edition, { "ce", "ee" }, { default = "ee" })
    local minio = check:bool(f("minio"), spec.minio, { default = false })
    local mla = check:bool(f("mla"), spec.mla, { default = false })
    local uc = check:map(f("userClusters"), spec.userClusters, { default = {} })
    local up = f("userClusters")
    check:known_fields(up, uc, USER_CLUSTERS_FIELDS)
    local count = check:int(checker.field(up, "count"), uc.count, { min = 0, default = 0 })
    local prefix = check:string(checker.field(up, "prefix"), uc.prefix, { default = c.name .. "-cluster-" })
    local k8s = check:string(checker.field(up, "version"), uc.version, { version = true, default = "1.24.17",
                                                                        pattern = K8S_VERSION, example = "\"1.24.17\"" })
    local runtime = check:oneof(checker.field(up, "containerRuntime"), uc.containerRuntime, { "containerd", "docker" },
                                { default = "containerd" })
    local provider = check:string(checker.field(up, "provider"), uc.provider, { default = "aws" })

    local list = {}
    for i = 1, count do
      list[#list + 1] = { id = util.hash_name("cluster:" .. c.name .. ":" .. i, 10), humanReadableName = prefix .. i,
                          version = k8s, containerRuntime = runtime, provider = provider, index = i }
    end
    for i, s in ipairs(check:list(checker.field(up, "special"), uc.special, { default = {} })) do
      local sp = checker.index(checker.field(up, "special"), i)
      check:map(sp, s, { required = true })
      check:known_fields(sp, s, SPECIAL_FIELDS)
      list[#list + 1] = {
        id = check:string(checker.field(sp, "name"), s.name, { required = true, pattern = "^[a-z0-9]+$",
                                                               example = "a cluster ID such as \"x5b2kq9f7w\"" }),
        humanReadableName = check:string(checker.field(sp, "humanReadableName"), s.humanReadableName, { default = s.name }),
        version = check:string(checker.field(sp, "version"), s.version, { version = true, default = k8s,
                                                                         pattern = K8S_VERSION, example = "\"1.24.17\"" }),
        containerRuntime = check:oneof(checker.field(sp, "containerRuntime"), s.containerRuntime, { "containerd", "docker" },
                                       { default = runtime }),
        provider = check:string(checker.field(sp, "provider"), s.provider, { default = provider }),
        upToDate = check:bool(checker.field(sp, "upToDate"), s.upToDate, { default = true }),
        paused = check:bool(checker.field(sp, "paused"), s.paused, { default = false }),
        path = sp,
      }
    end
    local seen = {}
    for _, u in ipairs(list) do
      if seen[u.id] then check:error(u.path or up, "user cluster %q is defined twice", u.id) end
      seen[u.id] = true
    end

    S.seeds[c.name] = { cluster = c.name, version = version, edition = edition, minio = minio, mla = mla, clusters = list,
                        path = path, k8s = c.version }
    namespaces[NS] = true
    for _, obj in ipairs(crds.objects(version)) do create(c.name, obj) end
    create(c.name, deployment("seed-controller-manager", NS, 2, releases.image(edition, version),
                              { role = "seed-controller-manager" }))
    if minio then
      namespaces.minio = true
      create(c.name, deployment("minio", "minio", 1, "quay.io/minio/minio:RELEASE.2022-06-25T15-50-16Z", { app = "minio" }))
    end
    if mla then
      -- the User Cluster MLA stack of the seed (namespace mla), as its Helm charts install it
      namespaces.mla = true
      for _, d in ipairs(releases.MLA_DEPLOYMENTS) do
        create(c.name, deployment(d.name, "mla", d.replicas, d.image, { ["app.kubernetes.io/name"] = d.name }))
      end
    end
    -- the Cluster objects wait for link(): their project and owner live on the master
  end

  function F.load(c, spec, path, check, namespaces)
    check:map(path, spec, { required = true })
    local role = check:oneof(checker.field(path, "role"), spec.role, { "master", "seed" }, { required = true })
    if role == "master" then load_master(c, spec, path, check, namespaces) else load_seed(c, spec, path, check, namespaces) end
    if role == "seed" then
      for _, u in ipairs(S.seeds[c.name].clusters) do namespaces["cluster-" .. u.id] = true end
    end
  end

  -- The kubeconfig a Seed's Secret holds: its cluster entry is named like the world cluster, so a
  -- playbook's ctx:connect reaches it. The token is a placeholder, never a real credential.
  local function kubeconfig(cluster)
    return table.concat({
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: " .. cluster,
      "  cluster:",
      "    server: https://" .. cluster .. ".kkp.internal:6443",
      "contexts:",
      "- name: " .. cluster,
      "  context:",
      "    cluster: " .. cluster,
      "    user: kubermatic-seed-admin",
      "current-context: " .. cluster,
      "users:",
      "- name: kubermatic-seed-admin",
      "  user:",
      "    token: " .. util.hash_hex("token:" .. cluster, 40),
      "",
    }, "\n")
  end

  -- Once every cluster is loaded: the master's Seed objects and kubeconfig Secrets, the seeds' user
  -- clusters (with the master's projects), and the checks that need both sides.
  function F.link(check)
    local seeds_with_master = {}
    local m = S.master
    if m then
      -- the operator's kubeconfig: every fixture cluster by its name, unless the fixture says
      local contexts = m.contexts
      if contexts then
        local known = {}
        for _, name in ipairs(W.clusters()) do known[name] = true end
        for _, ctx in ipairs(util.sorted_keys(contexts)) do
          if not known[contexts[ctx]] then
            check:error(checker.field(checker.field(m.path, "kubeconfigContexts"), ctx), "%q is not a cluster of the " ..
                        "fixture (clusters: %s)", contexts[ctx], table.concat(W.clusters(), ", "))
          end
        end
      else
        contexts = {}
        for _, name in ipairs(W.clusters()) do contexts[name] = name end
      end
      S.contexts = contexts
    end
    if not m then
      for _, name in ipairs(util.sorted_keys(S.seeds)) do
        check:error(checker.field(S.seeds[name].path, "role"), "cluster %q is a KKP seed, but no cluster of the " ..
                    "fixture is the KKP master (add one with kkp.role: master and list this seed in its seeds)", name)
      end
      return
    end
    local now = W.now()
    for _, entry in ipairs(m.seeds) do
      local seed = S.seeds[entry.cluster]
      if not seed then
        check:error(checker.field(entry.path, "cluster"), "%q is not a cluster of the fixture with kkp.role: seed " ..
                    "(seeds: %s)", entry.cluster, table.concat(util.sorted_keys(S.seeds), ", "))
      end
      if seeds_with_master[entry.cluster] then
        check:error(checker.field(entry.path, "cluster"), "cluster %q is already the seed %q", entry.cluster,
                    seeds_with_master[entry.cluster])
      end
      seeds_with_master[entry.cluster] = entry.name
      seed.name = entry.name
      S.seed_names[entry.name] = entry.cluster
      local secret = "kubeconfig-" .. entry.name
      create(m.name, { apiVersion = "v1", kind = "Secret", type = "Opaque",
                       metadata = { name = secret, namespace = NS },
                       data = { kubeconfig = base64.encode(kubeconfig(entry.cluster)) } })
      local healthy = entry.phase == "Healthy"
      create(m.name, {
        apiVersion = API, kind = "Seed",
        metadata = { name = entry.name, namespace = NS },
        spec = {
          country = entry.country, location = entry.location,
          kubeconfig = { name = secret, namespace = NS },
          datacenters = { [entry.name .. "-1"] = { country = entry.country, location = entry.location,
                                                   spec = { aws = { region = "eu-central-1" } } } },
        },
        status = {
          phase = entry.phase,
          clusters = #seed.clusters,
          versions = { kubermatic = seed.version, cluster = seed.k8s },
          conditions = {
            KubeconfigValid = condition("True", "KubeconfigValid", "", now),
            ClusterInitialized = condition("True", "CRDsUpdated", "All KKP CRDs have been installed successfully.", now),
            ResourcesReconciled = healthy and condition("True", "ReconcilingSuccess", "", now)
              or condition("False", "ReconcilingError", "failed to reconcile seed-controller-manager: Deployment " ..
                           "kubermatic/seed-controller-manager has no ready replicas", now),
          },
        },
      })
      local projects = m.projects
      for _, u in ipairs(seed.clusters) do
        u.project = #projects > 0 and projects[(u.index or 1) % #projects + 1] or "none"
        u.userEmail = #m.users > 0 and m.users[1].email or ("admin@" .. m.domain)
        u.datacenter = entry.name .. "-1"
        create(entry.cluster, cluster_object(u.id, u, seed.version, now))
      end
    end
    for _, name in ipairs(util.sorted_keys(S.seeds)) do
      if not seeds_with_master[name] then
        check:error(checker.field(S.seeds[name].path, "role"), "cluster %q is a KKP seed that the master %q does " ..
                    "not list in kkp.seeds", name, m.name)
      end
    end
  end

  return F
end
