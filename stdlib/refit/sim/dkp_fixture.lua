-- refit.sim.dkp_fixture: validates a cluster's `dkp` fixture section (docs/fixtures.md, "DKP") and
-- returns it normalised, every default filled in. Mistakes name the field:
--   clusters.prod-1.dkp.nodePools[2].replicas: must be an integer, got string "3"

local checker = require "refit.sim.check"
local R = require "refit.sim.dkp_releases"

local F = {}

local ROLES = { "management", "managed", "attached" }
local PROVIDERS = { "aws", "azure", "preprovisioned" }
local FIELDS = { "role", "version", "kubernetes", "provider", "region", "management", "workspace", "namespace",
                 "controlPlane", "nodePools", "workspaces", "catalogApps", "customApps", "metallb", "velero", "dkpCLI",
                 "addons" }
-- fields only a management cluster takes (Kommander's own objects live there; the operator's CLI)
local MANAGEMENT_ONLY = { "workspaces", "catalogApps", "customApps", "metallb", "velero", "dkpCLI" }
-- the core addon sets (dkp_releases.lua): what `dkp upgrade addons` of each minor release writes
local ADDON_SETS = { "2.1", "2.2" }

local KUBE_VERSION = "^v?%d+%.%d+%.%d+$"
local DNS_NAME = "^[a-z0-9][-a-z0-9]*$"

local f, idx = checker.field, checker.index

local function name(check, path, v, opts)
  opts = opts or {}
  local s = check:string(path, v, { required = opts.required, default = opts.default, pattern = DNS_NAME,
                                    example = "a lowercase DNS name such as \"prod-1\"" })
  if s and (s:sub(-1) == "-" or #s > 63) then
    check:error(path, "must look like a lowercase DNS name such as \"prod-1\" (at most 63 characters, no trailing -), got %q", s)
  end
  return s
end

local function kube_version(check, path, v, default)
  local s = check:string(path, v, { version = true, default = default, pattern = KUBE_VERSION,
                                    example = "a Kubernetes version such as \"1.21.6\"" })
  if s and s:sub(1, 1) ~= "v" then s = "v" .. s end
  return s
end

-- The DKP release of the section (required on a management cluster), plain "2.1.1".
local function dkp_version(check, path, v, required)
  local s = check:string(path, v, { version = true, required = required })
  if s == nil then return nil end
  s = R.plain(s)
  if not R.releases[s] then
    local known = {}
    for k in pairs(R.releases) do known[#known + 1] = k end
    table.sort(known)
    check:error(path, "DKP %s is not modelled (modelled releases: %s)", s, table.concat(known, ", "))
  end
  return s
end

-- The API server version a section implies (fixture.lua asks before the cluster exists).
function F.version(spec, path, check)
  if type(spec) ~= "table" then return nil end
  local v = dkp_version(check, f(path, "version"), spec.version, false)
  local default = v and R.releases[v].kubernetes or "v1.21.6"
  return kube_version(check, f(path, "kubernetes"), spec.kubernetes, default)
end

local function control_plane(check, path, v)
  check:map(path, v)
  v = v or {}
  check:known_fields(path, v, { "replicas", "instanceType", "kubeletVersion" })
  local replicas = check:int(f(path, "replicas"), v.replicas, { default = 3, min = 1, max = 7 })
  if replicas % 2 == 0 then
    check:error(f(path, "replicas"), "must be odd (1, 3 or 5: etcd needs a majority), got %d", replicas)
  end
  return {
    replicas = replicas,
    instanceType = check:string(f(path, "instanceType"), v.instanceType, { default = "m5.xlarge" }),
    kubeletVersion = kube_version(check, f(path, "kubeletVersion"), v.kubeletVersion),
  }
end

local function node_pools(check, path, v, cluster)
  check:list(path, v)
  if v == nil then return { { name = cluster .. "-md-0", replicas = 4, instanceType = "m5.2xlarge" } } end
  local out, seen = {}, {}
  for i, p in ipairs(v) do
    local ppath = idx(path, i)
    check:map(ppath, p, { required = true })
    check:known_fields(ppath, p, { "name", "replicas", "instanceType", "kubeletVersion", "version" })
    local n = name(check, f(ppath, "name"), p.name, { required = true })
    if seen[n] then check:error(f(ppath, "name"), "node pool %q is listed twice", n) end
    seen[n] = true
    out[#out + 1] = {
      name = n,
      replicas = check:int(f(ppath, "replicas"), p.replicas, { default = 4, min = 0 }),
      instanceType = check:string(f(ppath, "instanceType"), p.instanceType, { default = "m5.2xlarge" }),
      kubeletVersion = kube_version(check, f(ppath, "kubeletVersion"), p.kubeletVersion),
      -- the MachineDeployment's version when newer than its machines': a rollout an earlier
      -- `dkp update nodepool` started and that stalled (its failed machine deleted since)
      version = kube_version(check, f(ppath, "version"), p.version),
    }
  end
  return out
end

local function workspaces(check, path, v)
  check:list(path, v)
  local out, seen = {}, { ["kommander-workspace"] = true, ["default-workspace"] = true }
  for i, w in ipairs(v or {}) do
    local wpath = idx(path, i)
    check:map(wpath, w, { required = true })
    check:known_fields(wpath, w, { "name", "namespace", "projects" })
    local n = name(check, f(wpath, "name"), w.name, { required = true })
    if seen[n] then check:error(f(wpath, "name"), "workspace %q is defined twice (kommander-workspace and default-workspace always exist)", n) end
    seen[n] = true
    local projects = {}
    check:list(f(wpath, "projects"), w.projects)
    for j, p in ipairs(w.projects or {}) do
      local ppath = idx(f(wpath, "projects"), j)
      check:map(ppath, p, { required = true })
      check:known_fields(ppath, p, { "name", "namespace" })
      local pn = name(check, f(ppath, "name"), p.name, { required = true })
      projects[#projects + 1] = { name = pn, namespace = name(check, f(ppath, "namespace"), p.namespace, { default = pn }) }
    end
    out[#out + 1] = { name = n, namespace = name(check, f(wpath, "namespace"), w.namespace, { default = n }), projects = projects }
  end
  return out
end

-- Where an app is deployed: a workspace (by name) and optionally one of its projects.
local function placement(check, path, a, spaces)
  local ws = name(check, f(path, "workspace"), a.workspace, { required = true })
  local found
  for _, w in ipairs(spaces) do if w.name == ws then found = w end end
  if not found then
    local names = {}
    for _, w in ipairs(spaces) do names[#names + 1] = w.name end
    check:error(f(path, "workspace"), "no workspace %q in this management cluster's workspaces (%s)", ws,
                #names > 0 and table.concat(names, ", ") or "none defined")
  end
  local project
  if a.project ~= nil then
    local pn = name(check, f(path, "project"), a.project)
    for _, p in ipairs(found.projects) do if p.name == pn then project = p end end
    if not project then check:error(f(path, "project"), "workspace %q has no project %q", ws, pn) end
  end
  return found, project
end

local function catalog_apps(check, path, v, spaces)
  check:list(path, v)
  local out = {}
  for i, a in ipairs(v or {}) do
    local apath = idx(path, i)
    check:map(apath, a, { required = true })
    check:known_fields(apath, a, { "name", "app", "version", "workspace", "project" })
    local app = name(check, f(apath, "app"), a.app or a.name, { required = true })
    local versions = R.catalog[app]
    if not versions then
      local known = {}
      for k in pairs(R.catalog) do known[#known + 1] = k end
      table.sort(known)
      check:error(f(apath, a.app and "app" or "name"), "%q is not a DKP catalog application (known: %s); " ..
                  "list your own applications under customApps", app, table.concat(known, ", "))
    end
    local version = check:string(f(apath, "version"), a.version, { version = true, default = versions[1] })
    local ok = false
    for _, x in ipairs(versions) do if x == version then ok = true end end
    if not ok then
      check:error(f(apath, "version"), "%s %s is not in the catalog (versions: %s)", app, version, table.concat(versions, ", "))
    end
    local ws, project = placement(check, apath, a, spaces)
    out[#out + 1] = { name = name(check, f(apath, "name"), a.name or app), app = app, version = version,
                      workspace = ws, project = project }
  end
  return out
end

local function custom_apps(check, path, v, spaces)
  check:list(path, v)
  local out = {}
  for i, a in ipairs(v or {}) do
    local apath = idx(path, i)
    check:map(apath, a, { required = true })
    check:known_fields(apath, a, { "name", "version", "workspace", "project", "kubeVersion", "objects" })
    local n = name(check, f(apath, "name"), a.name, { required = true })
    if R.catalog[n] then
      check:error(f(apath, "name"), "%q is a DKP catalog application: list it under catalogApps", n)
    end
    local objects = {}
    check:list(f(apath, "objects"), a.objects)
    for j, o in ipairs(a.objects or {}) do
      local opath = idx(f(apath, "objects"), j)
      check:map(opath, o, { required = true })
      check:known_fields(opath, o, { "apiVersion", "kind", "name" })
      objects[#objects + 1] = {
        apiVersion = check:string(f(opath, "apiVersion"), o.apiVersion, { required = true }),
        kind = check:string(f(opath, "kind"), o.kind, { required = true }),
        name = name(check, f(opath, "name"), o.name, { required = true }),
      }
    end
    local ws, project = placement(check, apath, a, spaces)
    out[#out + 1] = {
      name = n, app = n,
      version = check:string(f(apath, "version"), a.version, { version = true, default = "1.0.0" }),
      kubeVersion = check:string(f(apath, "kubeVersion"), a.kubeVersion),
      objects = objects, workspace = ws, project = project,
    }
  end
  return out
end

-- Validates and normalises the section of cluster `cluster` (its fixture name); `version` is the
-- cluster's API server version (fixture.lua's, implied by `kubernetes` unless `version` is given).
function F.normalize(check, cluster, spec, path, server_version)
  check:map(path, spec, { required = true })
  check:known_fields(path, spec, FIELDS)
  local role = check:oneof(f(path, "role"), spec.role, ROLES, { required = true })
  local out = { cluster = cluster, role = role, path = path }
  out.version = dkp_version(check, f(path, "version"), spec.version, role == "management")
  out.kubernetes = server_version:match("^(v%d+%.%d+%.%d+)")
  if spec.kubernetes ~= nil then
    local k = kube_version(check, f(path, "kubernetes"), spec.kubernetes)
    if k ~= out.kubernetes then
      check:error(f(path, "kubernetes"), "%s does not match the cluster's version %s", k, server_version)
    end
  end
  out.provider = check:oneof(f(path, "provider"), spec.provider, PROVIDERS, { default = "aws" })
  -- the core addons' set (default: the DKP release's); "2.1" on a 2.2 fleet: `dkp upgrade addons` not run yet
  out.addons = check:oneof(f(path, "addons"), spec.addons, ADDON_SETS)
  out.region = check:string(f(path, "region"), spec.region, { default = "us-west-2" })
  if role == "management" then
    for _, k in ipairs { "management", "workspace" } do
      if spec[k] ~= nil then check:error(f(path, k), "only a managed or attached cluster names its %s", k) end
    end
    out.workspace = "kommander-workspace"
    out.namespace = name(check, f(path, "namespace"), spec.namespace, { default = "default" })
    out.workspaces = workspaces(check, f(path, "workspaces"), spec.workspaces)
    out.catalogApps = catalog_apps(check, f(path, "catalogApps"), spec.catalogApps, out.workspaces)
    out.customApps = custom_apps(check, f(path, "customApps"), spec.customApps, out.workspaces)
    out.metallb = check:bool(f(path, "metallb"), spec.metallb, { default = false })
    out.velero = check:bool(f(path, "velero"), spec.velero, { default = true })
    out.dkpCLI = check:string(f(path, "dkpCLI"), spec.dkpCLI, { version = true, pattern = "^v?%d+%.%d+%.%d+$",
                                                              example = "a dkp CLI release such as \"v2.2.0\"" })
    if out.dkpCLI and out.dkpCLI:sub(1, 1) ~= "v" then out.dkpCLI = "v" .. out.dkpCLI end
  else
    for _, k in ipairs(MANAGEMENT_ONLY) do
      if spec[k] ~= nil then check:error(f(path, k), "only a management cluster has %s", k) end
    end
    out.management = name(check, f(path, "management"), spec.management, { required = true })
    out.workspace = name(check, f(path, "workspace"), spec.workspace, { required = true })
    out.namespace = name(check, f(path, "namespace"), spec.namespace)   -- default: the workspace's namespace
  end
  if role == "attached" then
    for _, k in ipairs { "controlPlane", "nodePools", "addons" } do
      if spec[k] ~= nil then check:error(f(path, k), "an attached cluster is not managed by DKP: it has no %s", k) end
    end
  else
    out.controlPlane = control_plane(check, f(path, "controlPlane"), spec.controlPlane)
    out.nodePools = node_pools(check, f(path, "nodePools"), spec.nodePools, cluster)
  end
  return out
end

-- Cross-cluster checks, once every section is read: a managed cluster's management cluster exists,
-- is a management cluster of the same DKP release, and has its workspace.
function F.link(check, sections)
  for _, s in ipairs(sections) do
    if s.role ~= "management" then
      local m = sections[s.management]
      if not m then
        check:error(f(s.path, "management"), "no cluster %q with a dkp section in this fixture", s.management)
      elseif m.role ~= "management" then
        check:error(f(s.path, "management"), "cluster %q is a %s cluster, not a management cluster", s.management, m.role)
      end
      if s.version and s.version ~= m.version then
        check:error(f(s.path, "version"), "is %s, but its management cluster %s runs DKP %s", s.version, m.cluster, m.version)
      end
      s.version = m.version
      local ws
      for _, w in ipairs(m.workspaces) do if w.name == s.workspace then ws = w end end
      if s.workspace == "default-workspace" then ws = { name = "default-workspace", namespace = "kommander-default-workspace", projects = {} } end
      if not ws then
        local names = { "default-workspace" }
        for _, w in ipairs(m.workspaces) do names[#names + 1] = w.name end
        check:error(f(s.path, "workspace"), "management cluster %s has no workspace %q (workspaces: %s)", m.cluster,
                    s.workspace, table.concat(names, ", "))
      end
      s.workspace_ns = ws.namespace
      s.namespace = s.namespace or ws.namespace
    else
      s.workspace_ns = "kommander"
    end
  end
end

return F
