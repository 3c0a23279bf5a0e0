-- refit.sim.konvoy: the product model of Konvoy 1.8 clusters on AWS and of their adoption into
-- DKP 2.1 (seed 000, "Major Version Upgrade to DKP 2.1"; docs/dkp-major-upgrade.md).
--
-- A fixture cluster with a `konvoy` section (docs/fixtures.md, "Konvoy 1.8") is a Konvoy 1.8
-- cluster as `konvoy up` left it: refit.sim.konvoy_fixture creates its objects. The tools the
-- adoption runs are refit.sim.konvoy_dkp (`dkp create bootstrap controllers`, `dkp prepare-to-adopt
-- cluster aws`, `dkp adopt cluster aws`) and refit.sim.konvoy_helm (`helm list`, `helm uninstall`);
-- refit.sim.konvoy_controllers is what the cluster does over time. The Kubernetes upgrade after
-- adoption is rolled by the shared CAPI controllers (refit.sim.dkp_capi), which this model feeds
-- with CAPI objects in their contract's shapes.
--
-- World state: W.cloud.konvoy.clusters[name] = the validated section (data only).

local fixture = require "refit.sim.konvoy_fixture"

return {
  section = "konvoy",
  -- (`match = {}`: their fields are data, not conditions on the subject)
  faults = {
    -- `dkp prepare-to-adopt cluster aws` stops after creating `after` objects (default 7) with
    -- `message` (default: the Go panic of COPS-7183, an existing VPC in cluster.yaml)
    ["konvoy-prepare-fails"] = { message = "string", after = "int", match = {} },
    -- `dkp adopt cluster aws` exits 1 half-way through the ownerReferences, Cluster still paused
    ["konvoy-adopt-fails"] = { message = "string", match = {} },
    -- the pods of the patched calico-node template never become ready
    ["konvoy-calico-rollout-stalls"] = { match = {} },
  },
  version = function(spec, path, check) return fixture.version(spec, path, check) end,
  new = function(W, env)
    local K = { records = {}, state_dirs = {}, kubeconfigs = {} }
    local controllers = require("refit.sim.konvoy_controllers")(W, env)
    K.adopted = controllers.adopted
    local dkp = require("refit.sim.konvoy_dkp")(W, env, K)
    require("refit.sim.konvoy_helm")(W, env, dkp)
    local adopt = require("refit.sim.konvoy_adopted")(W, env, dkp, controllers)
    local cli                   -- the dkp CLI release on the operator's PATH, and the cluster stating it

    return {
      load = function(c, spec, path, namespaces)
        local rec = fixture.read(c.name, spec, path, env.check)
        local dir = dkp.norm_path(rec.stateDir)
        if K.state_dirs[dir] then
          env.check:error(path .. ".stateDir", "clusters %q and %q both use state directory %q: each Konvoy cluster has its own",
                          K.state_dirs[dir], c.name, rec.stateDir)
        end
        K.records[c.name], K.state_dirs[dir] = rec, c.name
        K.kubeconfigs[dir == "." and "admin.conf" or (dir .. "/admin.conf")] = c.name
        W.cloud.konvoy = W.cloud.konvoy or { clusters = {} }
        W.cloud.konvoy.clusters[c.name] = rec
        fixture.objects(W, env.kube, rec, namespaces)
        if rec.adopted then adopt(rec) end
        controllers.calico_fault(c.name)
        -- one operator machine runs the upgrade of every cluster: one dkp CLI
        local stated = spec.dkpCLI ~= nil
        if cli and stated and cli.stated and cli.release ~= rec.dkpCLI then
          env.check:error(path .. ".dkpCLI", "is %s, but cluster %q says %s: the dkp CLI on the operator's PATH is one",
                          rec.dkpCLI, cli.cluster, cli.release)
        elseif not cli or (stated and not cli.stated) then
          cli = { release = rec.dkpCLI, cluster = c.name, stated = stated }
        end
      end,
      start = function()
        -- The Kubernetes upgrade after adoption is rolled by the CAPI controllers, which the DKP
        -- model (loaded with this one: init.lua's `with`) starts on every world cluster.
        local names = {}
        for name in pairs(K.records) do names[#names + 1] = name end
        table.sort(names)
        for _, name in ipairs(names) do controllers.statefulsets(name) end
        if cli then dkp.register_version(cli.release) end
      end,
    }
  end,
}
