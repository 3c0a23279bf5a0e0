-- refit.sim.konvoy_dkp: the `dkp` subcommands of the Konvoy 1.8 -> DKP 2.1 adoption (seed 000), as
-- the DKP 2.1 CLI reference and the "Upgrade your AWS Cluster" guide show them:
--
--   dkp create bootstrap controllers [--with-aws-bootstrap-credentials=false] [--timeout D] [--wait] ...
--       installs cert-manager and the CAPI / CAPA / CAPZ / CAPV / preprovisioned controllers with their
--       clusterctl Provider objects and the ClusterResourceSets of the DKP addons; waits for them.
--   dkp prepare-to-adopt cluster aws [--konvoy-1-state-dir DIR] [--dry-run] [-o json|yaml]
--       creates the paused Cluster API objects of the Konvoy 1.8 cluster (refit.sim.konvoy_capi).
--   dkp adopt cluster aws [--konvoy-1-state-dir DIR]
--       sets the ownerReferences of the machines' KubeadmConfigs and bootstrap Secrets, unpauses the Cluster.
--
-- `--kubeconfig` names the cluster: Konvoy 1.8 writes admin.conf into its state directory, so
-- `<stateDir>/admin.conf` is the cluster whose fixture section has that stateDir; without the flag,
-- the default cluster. Another model registers the DKP 2.2 subcommands of the same program.

local util = require "refit.sim.util"
local capi = require "refit.sim.konvoy_capi"

local PROVIDERS = {
  -- namespace, deployment, Provider name, type, version (CAPI v0.4 / CAPA v0.7: what DKP 2.1 ships)
  { ns = "capi-system", deploy = "capi-controller-manager", name = "cluster-api", type = "CoreProvider", version = "v0.4.4" },
  { ns = "capi-kubeadm-bootstrap-system", deploy = "capi-kubeadm-bootstrap-controller-manager", name = "kubeadm",
    type = "BootstrapProvider", version = "v0.4.4" },
  { ns = "capi-kubeadm-control-plane-system", deploy = "capi-kubeadm-control-plane-controller-manager", name = "kubeadm",
    type = "ControlPlaneProvider", version = "v0.4.4" },
  { ns = "capa-system", deploy = "capa-controller-manager", name = "aws", type = "InfrastructureProvider", version = "v0.7.1" },
  { ns = "capz-system", deploy = "capz-controller-manager", name = "azure", type = "InfrastructureProvider", version = "v0.5.3" },
  { ns = "capv-system", deploy = "capv-controller-manager", name = "vsphere", type = "InfrastructureProvider", version = "v0.8.1" },
  { ns = "cappp-system", deploy = "cappp-controller-manager", name = "preprovisioned", type = "InfrastructureProvider",
    version = "v0.5.0" },
}
local CERT_MANAGER = { "cert-manager", "cert-manager-cainjector", "cert-manager-webhook" }

-- The DKP addons the bootstrap controllers install as ClusterResourceSets, with their log lines.
local ADDON_SETS = {
  { init = "Initializing Tigera operator", done = "Created/Updated Tigera operator", src = "bootstrap/clusterresourceset.go:37",
    name = "tigera-operator", label = "konvoy.d2iq.io/cni" },
  { init = "Initializing AWS EBS CSI CustomResourceSet", done = "Created/Updated AWS EBS CSI CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:95", name = "aws-ebs-csi", label = "konvoy.d2iq.io/csi" },
  { init = "Initializing Azure Disk CSI CustomResourceSet", done = "Created Azure Disk CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:102", name = "azure-disk-csi", label = "konvoy.d2iq.io/csi" },
  { init = "Initializing Local Volume Provisioner CustomResourceSet", done = "Created/Updated Local Volume Provisioner CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:109", name = "local-volume-provisioner", label = "konvoy.d2iq.io/csi" },
  { init = "Initializing Cluster Autoscaler CustomResourceSet", done = "Created/Updated Cluster Autoscaler CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:181", name = "cluster-autoscaler", label = "konvoy.d2iq.io/cluster-autoscaler" },
  { init = "Initializing Node Feature Discovery CustomResourceSet", done = "Created/Updated Node Feature Discovery CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:239", name = "node-feature-discovery", label = "konvoy.d2iq.io/node-feature-discovery" },
  { init = "Initializing NVIDIA GPU Feature Discovery CustomResourceSet", done = "Created/Updated NVIDIA GPU Feature Discovery CustomResourceSet",
    src = "bootstrap/clusterresourceset.go:297", name = "nvidia-feature-discovery", label = "konvoy.d2iq.io/gpu" },
}

-- The components `dkp version` lists per DKP release (the DKP model's release data).
local releases = require "refit.sim.dkp_releases"

return function(W, env, K)
  local tools = env.tools
  local D = {}


  -- logrus' text format, as dkp prints it: INFO[<time>] <message padded to 44> src="file.go:N"
  local function info(lines, msg, src)
    lines[#lines + 1] = string.format("INFO[%s] %-44s  src=%q", util.k8s_time(W.now()), msg, src)
  end

  local function fail(ms, fmt, ...) return tools.error("dkp", ms, fmt, ...) end

  -- "./state//" -> "state": the form state directories and kubeconfig paths are compared in
  local function norm(path)
    path = path:gsub("/+", "/"):gsub("/$", "")
    while path:sub(1, 2) == "./" do path = path:sub(3) end
    return path == "" and "." or path
  end
  D.norm_path = norm

  -- The world cluster a kubeconfig names, or nil and the error dkp prints.
  function D.cluster_of(flags, call)
    local path = flags.kubeconfig
    if not path then return call.cluster end
    local name = K.kubeconfigs[norm(path)]
    if not name then
      return nil, string.format("failed to create a client for the cluster: stat %s: no such file or directory", path)
    end
    return name
  end

  -- The Konvoy 1.8 record a state directory holds, checked against the kubeconfig's cluster.
  function D.state_of(flags, cluster)
    local dir = norm(flags["konvoy-1-state-dir"] or ".")
    local name = K.state_dirs[dir]
    if not name then return nil, string.format("open %s: no such file or directory", dir == "." and "cluster.yaml" or (dir .. "/cluster.yaml")) end
    if name ~= cluster then
      return nil, string.format("the cluster.yaml in %s describes cluster %q, but the kubeconfig points at cluster %q",
                                dir, name, cluster)
    end
    return K.records[name]
  end

  local function target(args, call)
    local name, err = D.cluster_of(args.flags, call)
    if not name then return nil, nil, err end
    local rec, serr = D.state_of(args.flags, name)
    if not rec then return nil, nil, serr end
    return name, rec
  end

  -- create bootstrap controllers -----------------------------------------------------------------

  local function controllers_installed(c)
    return c:get { apiVersion = "clusterctl.cluster.x-k8s.io/v1alpha3", kind = "Provider", namespace = "capi-system",
                   name = "cluster-api" } ~= nil
  end
  D.controllers_installed = controllers_installed

  local function deployment(ns, name, image)
    return {
      apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = name, namespace = ns, labels = { ["cluster.x-k8s.io/provider"] = ns:gsub("%-system$", "") } },
      spec = { replicas = 1, selector = { matchLabels = { ["control-plane"] = name } },
               template = { metadata = { labels = { ["control-plane"] = name } },
                            spec = { tolerations = W.json.array { { key = "node-role.kubernetes.io/master", effect = "NoSchedule" } },
                                     containers = W.json.array { { name = "manager", image = image } } } } },
    }
  end

  local ensure_ns = env.fixture.ensure_namespace

  -- Like clusterctl, the CLI installs cert-manager only where none runs: a Konvoy 1.8 cluster
  -- already has it (its cert-manager addon, namespace cert-manager), and that one is used as it is.
  local function install_controllers(c, with_credentials)
    if not c:get { kind = "Deployment", namespace = "cert-manager", name = "cert-manager" } then
      ensure_ns(c, "cert-manager")
      for _, name in ipairs(CERT_MANAGER) do
        c:create(deployment("cert-manager", name, "quay.io/jetstack/" .. name .. ":v1.5.3"), { quiet = true })
      end
    end
    for _, p in ipairs(PROVIDERS) do
      ensure_ns(c, p.ns)
      c:create(deployment(p.ns, p.deploy, "mesosphere/" .. p.deploy .. ":" .. p.version), { quiet = true })
      c:create({
        apiVersion = "clusterctl.cluster.x-k8s.io/v1alpha3", kind = "Provider",
        metadata = { name = p.name, namespace = p.ns, labels = { ["clusterctl.cluster.x-k8s.io"] = "",
                     ["cluster.x-k8s.io/provider"] = p.ns:gsub("%-system$", "") } },
        providerName = p.name, type = p.type, version = p.version,
      }, { quiet = true })
    end
    if with_credentials then
      c:create({ apiVersion = "v1", kind = "Secret", type = "Opaque",
                 metadata = { name = "capa-manager-bootstrap-credentials", namespace = "capa-system" },
                 data = { credentials = "KHNpbXVsYXRlZCk=" } }, { quiet = true })
    end
    for _, s in ipairs(ADDON_SETS) do
      c:create({
        apiVersion = "addons.cluster.x-k8s.io/v1beta1", kind = "ClusterResourceSet",
        metadata = { name = s.name, namespace = "default" },
        spec = { clusterSelector = { matchExpressions = W.json.array { { key = s.label, operator = "Exists" } } },
                 strategy = "ApplyOnce", resources = W.json.array { { kind = "ConfigMap", name = s.name } } },
      }, { quiet = true })
      c:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = s.name, namespace = "default" },
                 data = { ["manifests.yaml"] = "# " .. s.name .. " manifests (simulated)\n" } }, { quiet = true })
    end
  end

  D.install_controllers = install_controllers

  local function controllers_ready(c)
    local all = { }
    for _, name in ipairs(CERT_MANAGER) do all[#all + 1] = { "cert-manager", name } end
    for _, p in ipairs(PROVIDERS) do all[#all + 1] = { p.ns, p.deploy } end
    for _, x in ipairs(all) do
      local d = c:get { kind = "Deployment", namespace = x[1], name = x[2] }
      if not d or ((d.status or {}).availableReplicas or 0) < 1 then return false end
    end
    return true
  end

  tools.command("dkp", "create bootstrap controllers", function(args, call)
    local name, err = D.cluster_of(args.flags, call)
    if not name then return fail(300, "%s", err) end
    local c = W.cluster(name)
    local lines = {}
    if not controllers_installed(c) then
      install_controllers(c, args.flags["with-aws-bootstrap-credentials"] ~= false)
    end
    info(lines, "Created bootstrap controllers", "bootstrap/controllers.go:106")
    local timeout = util.parse_duration(args.flags.timeout or "") or 10 * 60000
    if args.flags.wait ~= false then
      -- the controllers' pods start, then cert-manager's webhook issues their serving certificates
      if not W.run_until(function() return controllers_ready(c) end, timeout, 5000) then
        return fail(1000, "timed out waiting for the bootstrap controllers to be ready after %s", args.flags.timeout or "10m0s")
      end
      W.run_until(function() return false end, W.random(40000, 70000), 5000)
      info(lines, "Bootstrap controllers are ready", "bootstrap/controllers.go:110")
    end
    for _, s in ipairs(ADDON_SETS) do
      info(lines, s.init, s.src)
      info(lines, s.done, s.src:gsub(":(%d+)$", function(n) return ":" .. (tonumber(n) + 5) end))
    end
    local r = tools.ok("", 3000)
    r.stderr = table.concat(lines, "\n") .. "\n"   -- logrus writes to stderr
    r.changed = true
    return r
  end, { flags = { ["aws-service-endpoints"] = "string", ["management-plane-http-proxy"] = "string",
                   ["management-plane-https-proxy"] = "string", ["management-plane-no-proxy"] = "list",
                   timeout = "string", wait = "bool", ["with-aws-bootstrap-credentials"] = "bool" } })

  -- prepare-to-adopt cluster aws --------------------------------------------------------------------

  local function encode_list(objects, format)
    local items = {}
    for i, e in ipairs(objects) do items[i] = e.obj end
    local list = { apiVersion = "v1", kind = "List", items = W.json.array(items), metadata = { resourceVersion = "" } }
    if format == "yaml" then return W.yaml.encode(list) end
    return W.json.encode(list, { pretty = true }) .. "\n"
  end

  tools.command("dkp", "prepare-to-adopt cluster aws", function(args, call)
    local name, rec, err = target(args, call)
    if not name then return fail(400, "%s", err) end
    local c = W.cluster(name)
    for _, p in ipairs { rec.controlPlane, table.unpack(rec.nodePools) } do
      if not p.postAdoptImageID then
        return fail(400, "node pool %q in cluster.yaml has no machine.postAdoptImageID: set it to the ID of a machine " ..
                         "image built with konvoy-image-builder for Kubernetes %s", p.name, rec.kubernetesVersion:gsub("^v", ""))
      end
    end
    local objects = capi.build(W, rec)
    local out = args.flags.output
    if out and out ~= "json" and out ~= "yaml" and out ~= "name" then
      return fail(200, "unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", out)
    end
    if args.flags["dry-run"] then
      if out == "json" or out == "yaml" then return tools.ok(encode_list(objects, out), 800) end
      local lines = {}
      for _, e in ipairs(objects) do lines[#lines + 1] = e.resource .. "/" .. e.obj.metadata.name .. " adopted (dry run)" end
      return tools.ok(table.concat(lines, "\n") .. "\n", 800)
    end
    if not controllers_installed(c) then
      return fail(600, "failed to create %s/%s: no matches for kind \"Cluster\" in version \"cluster.x-k8s.io/v1beta1\" " ..
                       "(run dkp create bootstrap controllers first)", "cluster.cluster.x-k8s.io", name)
    end
    local fault = env.faults.take("konvoy-prepare-fails", name, {}, "dkp prepare-to-adopt cluster aws fails on " .. name)
    local stop = fault and (fault.after or 7) or math.huge
    local lines, created = D.create_capi(c, objects, stop)
    local ms = 1200 + 60 * created
    if created < #objects then
      local r = tools.ok(table.concat(lines, "\n") .. "\n", ms)
      r.code = 2
      r.stderr = (fault.message or "panic: runtime error: index out of range [0] with length 0") ..
                 "\n\ngoroutine 1 [running]:\ngithub.com/mesosphere/konvoy2/pkg/adopt/aws.subnetsFromState(...)\n"
      r.changed = created > 0
      return r
    end
    lines[#lines + 1] = string.format("INFO[%s] Run 'export CLUSTER_NAME=%s' and follow the rest of the documentation  src=%q",
                                      util.k8s_time(W.now() + ms), name, "cluster/adopt.go:178")
    local r = tools.ok(table.concat(lines, "\n") .. "\n", ms)
    r.changed = true
    return r
  end, { flags = { ["konvoy-1-state-dir"] = "string", ["dry-run"] = "bool", output = "string",
                   ["allow-missing-template-keys"] = "bool", ["show-managed-fields"] = "bool", template = "string" },
         short = { o = "output" } })

  -- Creates the first `stop` objects of capi.build's list (owners linked, statuses written) in
  -- cluster handle c; returns the lines prepare-to-adopt prints and how many it got through.
  function D.create_capi(c, objects, stop)
    local lines, uids = {}, {}
    for i, e in ipairs(objects) do
      if i > stop then return lines, i - 1 end
      local obj = util.copy(e.obj)
      if e.owner then
        local owner = objects[e.owner].obj
        obj.metadata.ownerReferences = W.json.array { { apiVersion = owner.apiVersion, kind = owner.kind,
          name = owner.metadata.name, uid = uids[e.owner], controller = true, blockOwnerDeletion = true } }
      end
      local ref = { apiVersion = obj.apiVersion, kind = obj.kind, namespace = obj.metadata.namespace, name = obj.metadata.name }
      local existing = c:get(ref)
      if existing then
        uids[i] = existing.metadata.uid
        lines[#lines + 1] = e.resource .. "/" .. obj.metadata.name .. " unchanged"
      else
        local status = obj.status
        obj.status = nil
        local stored = c:create(obj)
        if status then c:patch_status(ref, status, { quiet = true }) end
        uids[i] = stored.metadata.uid
        lines[#lines + 1] = e.resource .. "/" .. obj.metadata.name .. " adopted"
      end
    end
    return lines, #objects
  end

  -- adopt cluster aws -----------------------------------------------------------------------------

  -- Machines whose Node is gone, and Nodes no Machine stands for: adoption would hand CAPI a
  -- cluster it does not know. nil when they match.
  function D.mismatch(c, name)
    local machines = c:list { apiVersion = "cluster.x-k8s.io/v1beta1", kind = "Machine", namespace = capi.NAMESPACE,
                              labels = capi.CLUSTER_LABEL .. "=" .. name }
    local seen = {}
    for _, m in ipairs(machines) do
      local node = util.get(m, "status", "nodeRef", "name")
      if node then seen[node] = true end
      if not node or not c:get { kind = "Node", name = node } then
        return string.format("Machine %s/%s refers to Node %q, which is not in the cluster (instance %s): the Konvoy 1 " ..
                             "state directory is out of date", capi.NAMESPACE, m.metadata.name, tostring(node),
                             tostring(util.get(m, "spec", "providerID")))
      end
    end
    for _, n in ipairs(c:list { kind = "Node" }) do
      if not seen[n.metadata.name] then
        return string.format("Node %q (%s) has no Machine: it was not created by Konvoy from the state directory",
                             n.metadata.name, tostring(util.get(n, "spec", "providerID")))
      end
    end
    return nil
  end

  -- What `dkp adopt cluster aws` does to cluster handle c: the ownerReferences of every machine's
  -- KubeadmConfig (its Machine) and bootstrap Secret (its KubeadmConfig), then the Cluster
  -- unpaused. `fails_at(i, n)` true stops it before machine i of n. Returns the log lines, then
  -- { index =, machine = } when it stopped, and the number of machines.
  function D.adopt(c, name, fails_at)
    local lines = {}
    local function patch_owner(kind, apiVersion, obj_name, owner, src)
      local obj = c:get { apiVersion = apiVersion, kind = kind, namespace = capi.NAMESPACE, name = obj_name }
      if not obj or not owner then return end
      c:patch({ apiVersion = apiVersion, kind = kind, namespace = capi.NAMESPACE, name = obj_name },
              { metadata = { ownerReferences = W.json.array { capi.owner_ref(owner, true) } } }, { quiet = true })
      info(lines, string.format("patched %s %s/%s with an ownerReference", kind, capi.NAMESPACE, obj_name), src)
    end
    local machines = c:list { apiVersion = "cluster.x-k8s.io/v1beta1", kind = "Machine", namespace = capi.NAMESPACE,
                              labels = capi.CLUSTER_LABEL .. "=" .. name }
    table.sort(machines, function(a, b) return a.metadata.name < b.metadata.name end)
    for i, m in ipairs(machines) do
      if fails_at and fails_at(i, #machines) then return lines, { index = i, machine = m }, #machines end
      patch_owner("KubeadmConfig", "bootstrap.cluster.x-k8s.io/v1beta1", m.metadata.name, m, "patch/ownerreferences.go:54")
    end
    for _, m in ipairs(machines) do
      local kc = c:get { apiVersion = "bootstrap.cluster.x-k8s.io/v1beta1", kind = "KubeadmConfig", namespace = capi.NAMESPACE,
                         name = m.metadata.name }
      patch_owner("Secret", "v1", m.metadata.name, kc, "patch/ownerreferences.go:99")
    end
    c:patch({ apiVersion = "cluster.x-k8s.io/v1beta1", kind = "Cluster", namespace = capi.NAMESPACE, name = name },
            { spec = { paused = false } }, { quiet = true })
    info(lines, string.format("unpaused reconciliation of the cluster (%s/%s)", name, capi.NAMESPACE), "cluster/adopt.go:106")
    return lines, nil, #machines
  end

  tools.command("dkp", "adopt cluster aws", function(args, call)
    local name, rec, err = target(args, call)
    if not name then return fail(400, "%s", err) end
    local c = W.cluster(name)
    local cluster = c:get { apiVersion = "cluster.x-k8s.io/v1beta1", kind = "Cluster", namespace = capi.NAMESPACE, name = name }
    if not cluster then
      return fail(500, "failed to get Cluster %s/%s: clusters.cluster.x-k8s.io %q not found (run dkp prepare-to-adopt " ..
                       "cluster aws first)", capi.NAMESPACE, name, name)
    end
    -- a Machine without its Node (or the reverse) is refused before anything changes
    local mismatch = D.mismatch(c, name)
    if mismatch then return fail(2500, "failed to adopt cluster: %s", mismatch) end
    local fault = env.faults.take("konvoy-adopt-fails", name, {}, "dkp adopt cluster aws fails on " .. name)
    local lines, failed, n = D.adopt(c, name, fault and function(i, total) return i > total // 2 end)
    if failed then
      local r = tools.ok("", 2500)
      r.code, r.changed = 1, failed.index > 1
      r.stderr = table.concat(lines, "\n") .. "\nError: failed to adopt cluster: " ..
                 (fault.message or string.format("Machine %s/%s: no EC2 instance with ID %s is running in VPC %s",
                   capi.NAMESPACE, failed.machine.metadata.name,
                   tostring(util.get(failed.machine, "spec", "providerID")):match("(i%-%w+)$") or "?", rec.vpcID)) .. "\n"
      return r
    end
    K.adopted(name)
    local r = tools.ok("", 2500 + 40 * n)
    r.stderr = table.concat(lines, "\n") .. "\n"
    r.changed = true
    return r
  end, { flags = { ["konvoy-1-state-dir"] = "string" } })

  -- version ----------------------------------------------------------------------------------------

  -- `dkp version` of the dkp CLI on the operator's PATH (`release`, e.g. "v2.1.1": the fixture's
  -- konvoy.dkpCLI): one line per component of the bundle, as the DKP 2.x CLI prints them. Registered
  -- at start, after the DKP 2.2 model's commands: when that model answers `dkp version` itself,
  -- its command stays and this one is not added (returns false).
  function D.register_version(release)
    local bundled = releases.cli_components(release)
    local ok, err = pcall(tools.command, "dkp", "version", function()
      local lines = {}
      for _, comp in ipairs(bundled) do lines[#lines + 1] = comp[1] .. ": " .. comp[2] end
      return tools.ok(table.concat(lines, "\n") .. "\n", 150)
    end)
    if not ok and not tostring(err):find("registered twice", 1, true) then error(err, 0) end
    return ok
  end

  return D
end
