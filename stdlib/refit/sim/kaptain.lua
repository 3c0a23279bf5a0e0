-- refit.sim.kaptain: D2iQ Kaptain (Kubeflow on Konvoy 1.x, installed as the KUDO operator `kubeflow`)
-- in the simulated world: the fixture section `kaptain` (docs/fixtures.md, "Kaptain"), the KUDO
-- controller and `kubectl kudo` (refit.sim.kudo), the Kaptain packages and what their upgrade does
-- (refit.sim.kaptain_operator), and the Argo Workflows controller of pipeline runs
-- (refit.sim.kaptain_argo). Seed 002 and /work/shared/domain/kaptain.md are the sources.
--
-- Scenario faults (docs/scenarios.md, "Kaptain"):
--   kudo-plan-fails  { phase, step, message }         the plan ends FATAL_ERROR at that step
--   kudo-step-error  { phase, step, message, count }  the step ends ERROR count times, KUDO retries

return {
  section = "kaptain",
  faults = {
    ["kudo-plan-fails"] = { phase = "string", step = "string", message = "string", match = { "phase", "step" } },
    ["kudo-step-error"] = { phase = "string", step = "string", message = "string", count = "int",
                            match = { "phase", "step" } },
  },
  new = function(W, env)
    local kudo = require("refit.sim.kudo")(W, env)
    local operator = require("refit.sim.kaptain_operator")(W, kudo)
    local argo = require("refit.sim.kaptain_argo")(W)
    local fixture = require("refit.sim.kaptain_fixture")(W, env, kudo, operator, argo)
    kudo.commands()
    return {
      load = function(c, spec, path, namespaces)
        fixture.load(c, spec, path, namespaces)
        kudo.watch(c.name)
        argo.watch(c.name)
      end,
    }
  end,
}
