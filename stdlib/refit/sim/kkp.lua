-- refit.sim.kkp: Kubermatic Kubernetes Platform (KKP) in the simulated world (seed 003;
-- docs/fixtures.md "KKP", docs/scenarios.md "KKP faults", docs/sim-models.md "Product models").
--
-- The fixture section `kkp` makes a cluster a KKP master or a KKP seed (refit.sim.kkp_fixture); the
-- tool `kubermatic-installer` (one program per installer release on the operator's machine,
-- refit.sim.kkp_installer) upgrades the master; KKP's own controllers then upgrade the seeds and
-- reconcile the user clusters under the parallel-reconcile limit (refit.sim.kkp_controllers).

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
    local releases = require "refit.sim.kkp_releases"
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
          rel[chart.name] = { version = (S.master.version:gsub("^v", "")), status = "deployed", namespace = chart.namespace }
        end
        W.cloud.kkp.releases[S.master.name] = rel
        for _, name in ipairs(util.sorted_keys(S.seeds)) do
          local seed = S.seeds[name]
          if seed.minio then
            local r = {}
            for _, chart in ipairs(releases.SEED_CHARTS) do
              r[chart.name] = { version = (seed.version:gsub("^v", "")), status = "deployed", namespace = chart.namespace }
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
        controllers.start()
      end,
    }
  end,
}
