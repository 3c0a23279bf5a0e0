-- Benchmark: a playbook of N generated steps (default 10,000), each reading an object, checking a
-- precondition and patching it, planned in a simulated world. Measures the runner's cost per step.
local refit = require "refit"

local N = 10000

local steps = {
  summary = "A generated playbook of many small steps (benchmark)",
  params = {},
}
for i = 1, N do
  local name = "configmap-" .. i
  steps[#steps + 1] = refit.step(name) {
    pre = function(ctx)
      local log = ctx.cluster:get { kind = "ConfigMap", namespace = "default", name = "log" }
      ctx:require(log, "ConfigMap default/log is missing")
    end,
    run = function(ctx)
      ctx.cluster:patch({ kind = "ConfigMap", namespace = "default", name = "log" }, { data = { last = name } })
    end,
    rollback = function(ctx) end,
  }
end

return refit.playbook "bench/many-steps" (steps)
