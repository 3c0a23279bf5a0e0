-- refit.sim.konvoy_helm: the Helm 3 commands the Konvoy 1.8 adoption runs (seed 000: remove the
-- Konvoy 1.8 auto-provisioner), over the release Secrets Helm keeps in the cluster
-- (sh.helm.release.v1.<release>.v<revision>, labels owner=helm, name, status, version):
--
--   helm list -n NAMESPACE [-A] [-o table|json|yaml]
--   helm uninstall RELEASE -n NAMESPACE [--keep-history] [--dry-run] [--no-hooks] [--timeout D] [--wait]
--
-- uninstall deletes what the release installed (the objects annotated meta.helm.sh/release-name)
-- and its release Secrets, and prints `release "NAME" uninstalled`. --kubeconfig picks the cluster
-- as for dkp (refit.sim.konvoy_dkp).

local util = require "refit.sim.util"
local base64 = require "refit.base64"

-- What a release may have installed, looked for when it is uninstalled.
local KINDS = { "Deployment", "DaemonSet", "StatefulSet", "Service", "ConfigMap", "ServiceAccount", "Job" }

return function(W, env, D)
  local tools = env.tools

  local function fail(ms, fmt, ...) return tools.error("helm", ms, fmt, ...) end

  local function releases(c, ns)
    local out = {}
    local secrets = c:list { kind = "Secret", namespace = ns, labels = "owner=helm" }
    for _, s in ipairs(secrets) do
      local raw = s.data and s.data.release
      local body = raw and base64.decode(raw)
      body = body and base64.decode(body)
      local ok, rel = pcall(W.json.decode, body or "")
      if ok and type(rel) == "table" then
        local chart = util.get(rel, "chart", "metadata") or {}
        out[#out + 1] = {
          name = rel.name, namespace = s.metadata.namespace, revision = tostring(rel.version),
          updated = util.get(rel, "info", "last_deployed") or "", status = util.get(rel, "info", "status") or "unknown",
          chart = tostring(chart.name) .. "-" .. tostring(chart.version), app_version = chart.appVersion or "",
          secret = s.metadata.name,
        }
      end
    end
    table.sort(out, function(a, b) return a.name < b.name end)
    return out
  end

  local FLAGS = { namespace = "string", output = "string", ["all-namespaces"] = "bool" }
  tools.command("helm", "list", function(args, call)
    local name, err = D.cluster_of(args.flags, call)
    if not name then return fail(200, "Kubernetes cluster unreachable: %s", err) end
    local c = W.cluster(name)
    local ns = not args.flags["all-namespaces"] and (args.flags.namespace or "default") or nil
    local rels = releases(c, ns)
    local format = args.flags.output or "table"
    if format == "json" or format == "yaml" then
      local items = {}
      for i, r in ipairs(rels) do
        items[i] = { name = r.name, namespace = r.namespace, revision = r.revision, updated = r.updated,
                     status = r.status, chart = r.chart, app_version = r.app_version }
      end
      local text = format == "json" and (W.json.encode(W.json.array(items)) .. "\n") or W.yaml.encode(W.json.array(items))
      return tools.ok(text, 400)
    elseif format ~= "table" then
      return fail(100, "invalid argument %q for \"-o, --output\" flag: invalid format type", format)
    end
    local lines = { string.format("%-20s\t%-10s\t%-8s\t%-40s\t%-8s\t%-30s\t%s", "NAME", "NAMESPACE", "REVISION", "UPDATED",
                                  "STATUS", "CHART", "APP VERSION") }
    for _, r in ipairs(rels) do
      lines[#lines + 1] = string.format("%-20s\t%-10s\t%-8s\t%-40s\t%-8s\t%-30s\t%s", r.name, r.namespace, r.revision,
                                        r.updated, r.status, r.chart, r.app_version)
    end
    return tools.ok(table.concat(lines, "\n") .. "\n", 400)
  end, { flags = FLAGS, short = { n = "namespace", o = "output", A = "all-namespaces" } })

  tools.command("helm", "uninstall", function(args, call)
    local release = args.pos[1]
    if not release then return fail(100, "\"helm uninstall\" requires at least 1 argument") end
    local name, err = D.cluster_of(args.flags, call)
    if not name then return fail(200, "Kubernetes cluster unreachable: %s", err) end
    local c = W.cluster(name)
    local ns = args.flags.namespace or "default"
    local found
    for _, r in ipairs(releases(c, ns)) do
      if r.name == release then found = true end
    end
    if not found then return fail(300, "uninstall: Release not loaded: %s: release: not found", release) end
    if args.flags["dry-run"] then return tools.ok("release \"" .. release .. "\" uninstalled\n", 300) end
    local deleted = 0
    for _, kind in ipairs(KINDS) do
      for _, obj in ipairs(c:list { kind = kind, namespace = ns }) do
        local ann = obj.metadata.annotations or {}
        if ann["meta.helm.sh/release-name"] == release and (ann["meta.helm.sh/release-namespace"] or ns) == ns then
          c:delete { kind = kind, namespace = ns, name = obj.metadata.name }
          deleted = deleted + 1
        end
      end
    end
    if not args.flags["keep-history"] then
      for _, s in ipairs(c:list { kind = "Secret", namespace = ns, labels = "owner=helm,name=" .. release }) do
        c:delete { kind = "Secret", namespace = ns, name = s.metadata.name }
      end
    end
    local r = tools.ok("release \"" .. release .. "\" uninstalled\n", W.random(1500, 3500) + 200 * deleted)
    r.changed = true
    return r
  end, { flags = { namespace = "string", ["keep-history"] = "bool", ["dry-run"] = "bool", ["no-hooks"] = "bool",
                   timeout = "string", wait = "bool", description = "string" }, short = { n = "namespace" } })
end
