-- refit.sim.fixture: reads a fixture (docs/fixtures.md) into the world's clusters: the cluster list
-- (with the cluster generator), each cluster's objects (inline, from YAML files beside the fixture,
-- from generators), and the namespaces they use. Every mistake is a fixture error naming the field.
--
--   local fixture = require("refit.sim.fixture")(W, check)
--   for _, c in ipairs(fixture.clusters(doc)) do ... fixture.populate(c) ... end

local util = require "refit.sim.util"
local checker = require "refit.sim.check"

local CLUSTER_SCOPED = {
  Node = true, Namespace = true, CustomResourceDefinition = true, ClusterRole = true, ClusterRoleBinding = true,
  PersistentVolume = true, StorageClass = true, PriorityClass = true, APIService = true, IngressClass = true,
  MutatingWebhookConfiguration = true, ValidatingWebhookConfiguration = true, PodSecurityPolicy = true,
  CSIDriver = true, CSINode = true, RuntimeClass = true, VolumeAttachment = true, CertificateSigningRequest = true,
}
local SYSTEM_NAMESPACES = { "default", "kube-node-lease", "kube-public", "kube-system" }

local TOP_FIELDS = { "description", "clusters", "clusters_generate", "seed" }
local CLUSTER_FIELDS = { "default", "version", "description", "eks", "objects", "files", "generate", "kubeconfig" }

-- `sections`: the cluster fields product models read (init.lua's PRODUCTS), name -> model; a model
-- with a `version` function implies the cluster's API server version from its section.
return function(W, check, sections)
  sections = sections or {}
  local F = {}

  -- Clusters ---------------------------------------------------------------------------------------

  -- "1.20" -> "v1.20.0"; "v1.21.2-eks-0389ca3" stays.
  local function git_version(path, v)
    v = check:string(path, v, { version = true })
    if v == nil then return nil end
    if v:match("^1%.%d+$") then return "v" .. v .. ".0" end
    if not v:match("^v?%d+%.%d+%.%d+") then
      check:error(path, "must be a Kubernetes version such as \"1.20\" or \"v1.20.15-eks-14c7a48\", got %q", v)
    end
    return v:sub(1, 1) == "v" and v or ("v" .. v)
  end

  -- `kubeconfig`: the context a snapshot read the cluster through (refit snapshot writes it; the
  -- cluster handle's kubeconfig() answers it, so product helpers find the cloud cluster behind it).
  local function kubeconfig_view(path, v)
    if v == nil then return nil end
    check:map(path, v)
    check:known_fields(path, v, { "context", "cluster", "server", "namespace", "exec" })
    for _, key in ipairs { "context", "cluster", "server", "namespace" } do check:string(checker.field(path, key), v[key]) end
    local exec = v.exec
    if exec ~= nil then
      local epath = checker.field(path, "exec")
      check:map(epath, exec)
      check:known_fields(epath, exec, { "command", "args", "env" })
      check:string(checker.field(epath, "command"), exec.command, { required = true })
      for i, a in ipairs(check:list(checker.field(epath, "args"), exec.args, { default = {} })) do
        check:string(checker.index(checker.field(epath, "args"), i), a)
      end
      check:string_map(checker.field(epath, "env"), exec.env)
    end
    return v
  end

  -- The fixture's clusters in creation order: { name =, path =, spec =, default =, version =, kubeconfig = }.
  function F.clusters(doc)
    check:map("", doc, { required = true })
    check:known_fields("", doc, TOP_FIELDS)
    check:string("description", doc.description)
    local list = {}
    local clusters = doc.clusters
    if clusters ~= nil then
      if type(clusters) == "table" and checker.is_list(clusters) and #clusters > 0 then
        for i, spec in ipairs(clusters) do
          local path = checker.index("clusters", i)
          check:map(path, spec, { required = true })
          local name = check:string(checker.field(path, "name"), spec.name, { required = true })
          local copy = util.copy(spec)
          copy.name = nil
          list[#list + 1] = { name = name, path = path, spec = copy }
        end
      else
        check:map("clusters", clusters)
        for _, name in ipairs(util.sorted_keys(clusters)) do
          list[#list + 1] = { name = name, path = checker.field("clusters", name), spec = clusters[name] }
        end
      end
    end
    local gens = doc.clusters_generate
    if gens ~= nil then
      if not checker.is_list(gens) then gens = { gens } end
      for gi, g in ipairs(gens) do
        local path = doc.clusters_generate == gens and checker.index("clusters_generate", gi) or "clusters_generate"
        check:map(path, g, { required = true })
        check:known_fields(path, g, { "count", "name", "template", "start" })
        local count = check:int(checker.field(path, "count"), g.count, { required = true, min = 1 })
        local pattern = check:string(checker.field(path, "name"), g.name, { required = true })
        if not pattern:find("{i}", 1, true) then
          check:error(checker.field(path, "name"), "must contain {i} (the cluster's number), e.g. \"edge-{i}\"")
        end
        local template = check:map(checker.field(path, "template"), g.template, { required = true })
        local start = check:int(checker.field(path, "start"), g.start, { default = 1 })
        for i = start, start + count - 1 do
          local spec = util.substitute(template, { i = i })
          list[#list + 1] = { name = (pattern:gsub("{i}", tostring(i))), path = checker.field(path, "template"), spec = spec }
        end
      end
    end
    if #list == 0 then check:error("clusters", "the fixture defines no cluster") end
    local seen, default = {}, nil
    for _, c in ipairs(list) do
      check:map(c.path, c.spec, { required = true })
      local known = { table.unpack(CLUSTER_FIELDS) }
    for _, name in ipairs(util.sorted_keys(sections)) do known[#known + 1] = name end
    check:known_fields(c.path, c.spec, known)
      if seen[c.name] then check:error(c.path, "cluster %q is defined twice", c.name) end
      seen[c.name] = true
      if check:bool(checker.field(c.path, "default"), c.spec.default) then
        if default then check:error(checker.field(c.path, "default"), "clusters %q and %q are both marked default", default, c.name) end
        default = c.name
      end
      c.version = git_version(checker.field(c.path, "version"), c.spec.version)
      c.kubeconfig = kubeconfig_view(checker.field(c.path, "kubeconfig"), c.spec.kubeconfig)
      local implied = c.spec.eks ~= nil
      for name, model in pairs(sections) do
        if c.spec[name] ~= nil and model.version then
          local v = model.version(c.spec[name], checker.field(c.path, name), check)
          if v and not c.version then c.version = git_version(checker.field(c.path, name), v) end
          implied = implied or v ~= nil
        end
      end
      if not c.version and not implied then
        local with = { "eks" }
        for name, model in pairs(sections) do if model.version then with[#with + 1] = name end end
        table.sort(with)
        check:error(checker.field(c.path, "version"), "is required (the API server version, e.g. \"v1.24.3\") unless the cluster has one of these sections: %s",
                    table.concat(with, ", "))
      end
    end
    default = default or list[1].name
    for _, c in ipairs(list) do c.default = c.name == default end
    return list, default
  end

  -- Objects ----------------------------------------------------------------------------------------

  -- Fills what a hand-written Node leaves out: a Ready status and the kubelet version.
  local function complete_node(obj, server_version, kube)
    obj.status = obj.status or {}
    if obj.status.conditions == nil then obj.status.conditions = kube.node_conditions(true) end
    obj.status.nodeInfo = obj.status.nodeInfo or {}
    obj.status.nodeInfo.kubeletVersion = obj.status.nodeInfo.kubeletVersion or server_version
    obj.status.nodeInfo.kubeProxyVersion = obj.status.nodeInfo.kubeProxyVersion or obj.status.nodeInfo.kubeletVersion
  end

  -- Whether an apiVersion belongs to Kubernetes itself (whose kinds we know the scope of).
  local function builtin_group(api)
    local group = api:match("^(.*)/[^/]*$") or ""
    return group == "" or group:match("k8s%.io$") ~= nil or group == "apps" or group == "batch"
        or group == "policy" or group == "autoscaling" or group == "extensions"
  end

  -- Validates one object (or a `kind: List` of them) and creates (or, `merge`, applies) it.
  local function add_object(ctx, obj, path)
    check:map(path, obj, { required = true })
    local kind = check:string(checker.field(path, "kind"), obj.kind, { required = true })
    if kind == "List" or (kind:match("List$") and obj.items ~= nil) then
      for i, item in ipairs(check:list(checker.field(path, "items"), obj.items, { default = {} })) do
        add_object(ctx, item, checker.index(checker.field(path, "items"), i))
      end
      return
    end
    check:string(checker.field(path, "apiVersion"), obj.apiVersion, { required = true })
    local mpath = checker.field(path, "metadata")
    check:map(mpath, obj.metadata, { required = true })
    check:string(checker.field(mpath, "name"), obj.metadata.name, { required = true })
    check:string(checker.field(mpath, "namespace"), obj.metadata.namespace)
    check:string_map(checker.field(mpath, "labels"), obj.metadata.labels)
    check:string_map(checker.field(mpath, "annotations"), obj.metadata.annotations)
    obj = util.copy(obj)
    if CLUSTER_SCOPED[kind] then
      obj.metadata.namespace = nil
    elseif obj.metadata.namespace == nil and builtin_group(obj.apiVersion) then
      obj.metadata.namespace = "default"   -- as kubectl apply does
    end
    if kind == "Node" then complete_node(obj, ctx.version, ctx.kube) end
    if obj.metadata.namespace then ctx.namespaces[obj.metadata.namespace] = true end
    local c = W.cluster(ctx.name)
    local ok, e = pcall(ctx.merge and c.apply or c.create, c, obj, { quiet = true })
    if not ok then check:error(path, "%s", (tostring(e):gsub("^[^:]*:%d+: ", ""))) end
    -- the controllers learn of the fixture's nodes as stored (kube.start does not list them)
    if kind == "Node" then ctx.kube.observe_node(ctx.name, c:get { kind = "Node", name = obj.metadata.name }) end
  end
  F.add_object = add_object

  -- Generators -------------------------------------------------------------------------------------

  local function each_spec(path, v)
    if v == nil then return {} end
    if type(v) == "table" and checker.is_list(v) and #v > 0 then
      local out = {}
      for i, x in ipairs(v) do out[i] = { spec = x, path = checker.index(path, i) } end
      return out
    end
    return { { spec = v, path = path } }
  end

  local function generate_nodes(ctx, g, path)
    check:map(path, g, { required = true })
    check:known_fields(path, g, { "count", "prefix", "labels", "kubeletVersion", "taints", "ready", "instanceType" })
    local count = check:int(checker.field(path, "count"), g.count, { required = true, min = 1 })
    local prefix = check:string(checker.field(path, "prefix"), g.prefix, { default = "node-" })
    local labels = check:string_map(checker.field(path, "labels"), g.labels) or {}
    local kubelet = check:string(checker.field(path, "kubeletVersion"), g.kubeletVersion, { version = true, default = ctx.version })
    local ready = check:bool(checker.field(path, "ready"), g.ready, { default = true })
    local taints = check:list(checker.field(path, "taints"), g.taints)
    local itype = check:string(checker.field(path, "instanceType"), g.instanceType)
    for i = 1, count do
      local l = util.copy(labels)
      if itype then l["node.kubernetes.io/instance-type"] = itype end
      local node = ctx.kube.node_object {
        name = prefix .. i, labels = l, taints = taints, kubeletVersion = kubelet, ready = ready,
        internalIP = string.format("10.%d.%d.%d", 16 + (i // 62500) % 16, (i // 250) % 250, i % 250 + 2),
      }
      local c = W.cluster(ctx.name)
      local ok, e = pcall(c.create, c, node, { quiet = true })
      if not ok then check:error(path, "%s", tostring(e)) end
      -- the controllers learn of the node from its object (taints from the fixture: as stored)
      ctx.kube.observe_node(ctx.name, taints and c:get { kind = "Node", name = node.metadata.name } or node)
    end
  end

  local function generate_deployments(ctx, g, path)
    check:map(path, g, { required = true })
    check:known_fields(path, g, { "count", "prefix", "namespace", "replicas", "image", "labels", "nodeSelector", "pdb" })
    local count = check:int(checker.field(path, "count"), g.count, { default = 1, min = 1 })
    local prefix = check:string(checker.field(path, "prefix"), g.prefix, { default = "app-" })
    local ns = check:string(checker.field(path, "namespace"), g.namespace, { default = "default" })
    local replicas = check:int(checker.field(path, "replicas"), g.replicas, { default = 2, min = 0 })
    local image = check:string(checker.field(path, "image"), g.image, { default = "public.ecr.aws/nginx/nginx:1.21" })
    local labels = check:string_map(checker.field(path, "labels"), g.labels) or {}
    local selector = check:string_map(checker.field(path, "nodeSelector"), g.nodeSelector)
    local pdb = g.pdb
    if pdb ~= nil then
      check:map(checker.field(path, "pdb"), pdb)
      check:known_fields(checker.field(path, "pdb"), pdb, { "minAvailable", "maxUnavailable" })
    end
    local c = W.cluster(ctx.name)
    ctx.namespaces[ns] = true
    for i = 1, count do
      local name = prefix .. i
      local l = util.copy(labels)
      l.app = name
      c:create({
        apiVersion = "apps/v1", kind = "Deployment",
        metadata = { name = name, namespace = ns, labels = util.copy(l) },
        spec = {
          replicas = replicas,
          selector = { matchLabels = { app = name } },
          template = { metadata = { labels = l },
                       spec = { nodeSelector = selector and util.copy(selector) or nil,
                                containers = W.json.array { { name = "app", image = image,
                                  ports = W.json.array { { containerPort = 8080 } } } } } },
        },
      }, { quiet = true })
      if pdb then
        c:create({
          apiVersion = "policy/v1", kind = "PodDisruptionBudget",
          metadata = { name = name, namespace = ns },
          spec = { minAvailable = pdb.minAvailable, maxUnavailable = pdb.maxUnavailable,
                   selector = { matchLabels = { app = name } } },
        }, { quiet = true })
      end
    end
  end

  -- Creates a cluster's objects: inline `objects`, `files`, `generate`. `kube` builds node objects.
  function F.populate(c, kube)
    local ctx = { name = c.name, version = c.version or W.cluster(c.name):version().gitVersion, kube = kube, namespaces = {} }
    local spec, path = c.spec, c.path
    for i, obj in ipairs(check:list(checker.field(path, "objects"), spec.objects, { default = {} })) do
      add_object(ctx, obj, checker.index(checker.field(path, "objects"), i))
    end
    for i, file in ipairs(check:list(checker.field(path, "files"), spec.files, { default = {} })) do
      local fpath = checker.index(checker.field(path, "files"), i)
      check:string(fpath, file)
      if file:find("..", 1, true) then check:error(fpath, "must be a path inside the fixture's directory (no ..): %q", file) end
      local ok, docs = pcall(W.read_yaml, file)
      if not ok then check:error(fpath, "cannot read %q: %s", file, tostring(docs)) end
      for d, doc in ipairs(docs) do
        if doc ~= nil and doc ~= W.json.null then
          add_object(ctx, doc, string.format("%s (%s document %d)", fpath, file, d))
        end
      end
    end
    local gen = spec.generate
    if gen ~= nil then
      local gpath = checker.field(path, "generate")
      check:map(gpath, gen)
      check:known_fields(gpath, gen, { "nodes", "deployments" })
      for _, g in ipairs(each_spec(checker.field(gpath, "nodes"), gen.nodes)) do generate_nodes(ctx, g.spec, g.path) end
      for _, g in ipairs(each_spec(checker.field(gpath, "deployments"), gen.deployments)) do
        generate_deployments(ctx, g.spec, g.path)
      end
    end
    return ctx
  end

  -- Objects a scenario adds or changes (created, or merged into an existing object).
  function F.apply_objects(c, kube, objects, path)
    local ctx = { name = c.name, version = W.cluster(c.name):version().gitVersion, kube = kube,
                  namespaces = {}, merge = true }
    for i, obj in ipairs(objects) do add_object(ctx, obj, checker.index(path, i)) end
    F.ensure_namespaces(c.name, ctx.namespaces)
  end

  -- Every namespace an object lives in exists (plus the system ones). `extra`: the namespaces of
  -- the objects the fixture created (add_object and the generators record them; the EKS models
  -- create theirs in kube-system), so nothing needs listing.
  function F.ensure_namespaces(name, extra)
    local c = W.cluster(name)
    local wanted = {}
    for _, ns in ipairs(SYSTEM_NAMESPACES) do wanted[ns] = true end
    for ns in pairs(extra or {}) do wanted[ns] = true end
    for _, ns in ipairs(util.sorted_keys(wanted)) do F.ensure_namespace(c, ns) end
  end

  -- Namespace `ns` exists in the cluster of handle `c` (created Active, as the API server makes one;
  -- for models that create objects in namespaces of their own).
  function F.ensure_namespace(c, ns)
    if not c:get { kind = "Namespace", name = ns } then
      c:create({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns, labels = { ["kubernetes.io/metadata.name"] = ns } },
                 spec = { finalizers = W.json.array { "kubernetes" } }, status = { phase = "Active" } }, { quiet = true })
    end
  end

  return F
end
