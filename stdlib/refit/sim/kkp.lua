-- refit.sim.kkp: Kubermatic Kubernetes Platform (KKP) in the simulated world (seed 003;
-- docs/fixtures.md "KKP", docs/scenarios.md "KKP faults", docs/sim-models.md "Product models").
--
-- The fixture section `kkp` makes a cluster a KKP master or a KKP seed (refit.sim.kkp_fixture); the
-- tool `kubermatic-installer` (one program per installer release on the operator's machine,
-- refit.sim.kkp_installer) upgrades the master; KKP's own controllers then upgrade the seeds and
-- reconcile the user clusters under the parallel-reconcile limit (refit.sim.kkp_controllers).
-- `kubectl config get-contexts` answers from the operator's kubeconfig (the master's
-- kubeconfigContexts, default one context per fixture cluster, named like it), and `helm list` from
-- the Helm releases the installer deployed (refit.sim.kkp_helm).

local util = require "refit.sim.util"
local checker = require "refit.sim.check"

return {
  section = "kkp",
  faults = {
    -- a Helm chart of `kubermatic-installer deploy` times out (chart: e.g. kubermatic-operator;
    -- version: only the deploy of this KKP version, e.g. v2.22.9)
    ["kkp-deploy-fails"] = { chart = "string", version = "string" },
    -- the operator never gets this Seed Healthy after an upgrade (seed: the Seed's name)
    ["kkp-seed-unhealthy"] = { seed = "string" },
    -- this user cluster (userCluster: the Cluster's name, its ID) never becomes SeedResourcesUpToDate
    ["kkp-cluster-reconcile-stuck"] = { userCluster = "string" },
  },
  new = function(W, env)
    local S = { master = nil, seeds = {}, seed_names = {} }
    local fx = require("refit.sim.kkp_fixture")(W, S)
    local controllers = require("refit.sim.kkp_controllers")(W, S, fx, env.faults)
    local register = require("refit.sim.kkp_installer")(W, S, controllers, env.tools, env.faults)
    local register_helm = require("refit.sim.kkp_helm")(W, S, env.tools)
    local releases = require "refit.sim.kkp_releases"

    -- `kubectl config get-contexts [NAME] [-o name]`: the operator's kubeconfig (S.contexts)
    local function get_contexts(args)
      local names = util.sorted_keys(S.contexts or {})
      local want = args.pos[1]
      if want then
        if not (S.contexts or {})[want] then
          return { code = 1, stdout = "", stderr = string.format("error: context %s not found\n", want), duration = 40 }
        end
        names = { want }
      end
      if args.flags.output == "name" then
        return env.tools.ok(table.concat(names, "\n") .. "\n", 40)
      elseif args.flags.output and args.flags.output ~= "" then
        return { code = 1, stdout = "", duration = 40,
                 stderr = string.format("error: output must be one of '' or 'name': %s\n", args.flags.output) }
      end
      local rows = {}
      if not args.flags["no-headers"] then rows[1] = string.format("%-10s%-24s%-24s%-24s%s", "CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE") end
      for _, n in ipairs(names) do
        local cluster = S.contexts[n]
        rows[#rows + 1] = string.format("%-10s%-24s%-24s%-24s%s", cluster == S.master.name and "*" or "", n, cluster,
                                        cluster .. "-admin", "")
      end
      return env.tools.ok(table.concat(rows, "\n") .. "\n", 40)
    end
    return {
      load = function(c, spec, path, namespaces)
        fx.load(c, spec, path, env.check, namespaces)
      end,
      start = function()
        if not S.master and next(S.seeds) == nil then return end
        fx.link(env.check)
        -- the Helm releases as the last install left them
        W.cloud.kkp = { releases = {} }
        local rel = {}
        for _, chart in ipairs(releases.MASTER_CHARTS) do
          rel[chart.name] = { version = (S.master.version:gsub("^v", "")), status = "deployed", namespace = chart.namespace,
                              revision = 1 }
        end
        W.cloud.kkp.releases[S.master.name] = rel
        for _, name in ipairs(util.sorted_keys(S.seeds)) do
          local seed = S.seeds[name]
          if seed.minio or seed.mla then
            local r = {}
            for _, chart in ipairs(releases.SEED_CHARTS) do
              r[chart.name] = { version = (seed.version:gsub("^v", "")), status = "deployed", namespace = chart.namespace,
                                revision = 1 }
            end
            W.cloud.kkp.releases[name] = r
          end
        end
        for _, program in ipairs(util.sorted_keys(S.master.installers)) do
          local ok, err = pcall(register, program, S.master.installers[program])
          if not ok then
            env.check:error(checker.field(checker.field(S.master.path, "installers"), program), "%s", tostring(err))
          end
        end
        env.tools.command("kubectl", "config get-contexts", function(args) return get_contexts(args) end,
                          { flags = { output = "string", ["no-headers"] = "bool" }, short = { o = "output" } })
        register_helm()
        controllers.start()
      end,
    }
  end,
}
