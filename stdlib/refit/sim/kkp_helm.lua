-- refit.sim.kkp_helm: `helm list` in the simulated KKP world, over the Helm releases the
-- kubermatic-installer model deploys (W.cloud.kkp.releases: cluster -> release -> { version, status,
-- namespace, revision }), so that a playbook asks Helm what a stack runs, as on a real master or seed:
--
--   helm list [-n NAMESPACE | -A] [-a] [--kube-context NAME] [--kubeconfig FILE] [-o table|json|yaml]
--
-- Without -a only deployed and failed releases are listed, as Helm lists them. --kube-context names a
-- context of the operator's kubeconfig (the master's kubeconfigContexts, as for the installer; default:
-- the default cluster); --kubeconfig is not read. A KKP chart carries the KKP version: chart
-- "minio-v2.22.9", app version "v2.22.9". The time a release was deployed is not kept: `updated` is
-- empty.
--
-- Part of refit.sim.kkp: `S` is the model's state; returns register(), called once the world is loaded.

local util = require "refit.sim.util"

local LISTED = { deployed = true, failed = true }

return function(W, S, tools)
  local function fail(ms, fmt, ...) return tools.error("helm", ms, fmt, ...) end

  local function list(args, call)
    local cluster = call.cluster
    local context = args.flags["kube-context"]
    if context then
      cluster = (S.contexts or {})[context]
      if not cluster then return fail(100, "Kubernetes cluster unreachable: context %q does not exist", context) end
    end
    local ns = not args.flags["all-namespaces"] and (args.flags.namespace or "default") or nil
    local items = {}
    local releases = (W.cloud.kkp and W.cloud.kkp.releases or {})[cluster] or {}
    for _, name in ipairs(util.sorted_keys(releases)) do
      local r = releases[name]
      if (ns == nil or r.namespace == ns) and (args.flags.all or LISTED[r.status]) then
        items[#items + 1] = { name = name, namespace = r.namespace, revision = tostring(r.revision), updated = "",
                              status = r.status, chart = name .. "-v" .. r.version, app_version = "v" .. r.version }
      end
    end
    local format = args.flags.output or "table"
    if format == "json" then return tools.ok(W.json.encode(W.json.array(items)) .. "\n", 300) end
    if format == "yaml" then return tools.ok(W.yaml.encode(W.json.array(items)), 300) end
    if format ~= "table" then return fail(100, "invalid argument %q for \"-o, --output\" flag: invalid format type", format) end
    local row = "%-20s\t%-12s\t%-8s\t%-8s\t%-8s\t%-26s\t%s"
    local lines = { string.format(row, "NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION") }
    for _, r in ipairs(items) do
      lines[#lines + 1] = string.format(row, r.name, r.namespace, r.revision, r.updated, r.status, r.chart, r.app_version)
    end
    return tools.ok(table.concat(lines, "\n") .. "\n", 300)
  end

  return function()
    tools.command("helm", "list", list, {
      flags = { namespace = "string", ["all-namespaces"] = "bool", all = "bool", ["kube-context"] = "string",
                kubeconfig = "string", output = "string" },
      short = { n = "namespace", A = "all-namespaces", a = "all", o = "output" },
    })
  end
end
