-- A playbook that exercises the runner: every hook appends to the ConfigMap default/log, so the
-- tests can read from the world which hooks ran, in which order.
local refit = require "refit"

local function append(ctx, entry)
  local log = ctx.cluster:get { kind = "ConfigMap", namespace = "default", name = "log" }
  local entries = log.data.entries == "" and entry or (log.data.entries .. "," .. entry)
  ctx.cluster:patch(log, { data = { entries = entries } })
end

local function configmap(name)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = "default" }, data = {} }
end

local function creates(name, extra)
  local step = {
    run = function(ctx)
      if ctx.params.fail_at == name then ctx:fail("%s failed on purpose", name) end
      ctx.cluster:create(configmap(name))
      append(ctx, "run-" .. name)
    end,
    rollback = function(ctx)
      if ctx.params.rollback_fails == name then ctx:fail("the rollback of %s failed on purpose", name) end
      ctx.cluster:delete { kind = "ConfigMap", namespace = "default", name = name }
      append(ctx, "rollback-" .. name)
    end,
    cleanup = function(ctx)
      if ctx.params.cleanup_fails == name then ctx:fail("the cleanup of %s failed on purpose", name) end
      append(ctx, "cleanup-" .. name)
    end,
  }
  for k, v in pairs(extra or {}) do step[k] = v end
  if step.no_rollback then step.rollback, step.no_rollback = nil, nil end
  return step
end

return refit.playbook "test/semantics" {
  summary = "Exercises preflight, rollback, irreversible steps and cleanups",
  params = {
    fail_at = refit.param.string { default = "", help = "the step whose run fails" },
    rollback_fails = refit.param.string { default = "", help = "the step whose rollback fails" },
    cleanup_fails = refit.param.string { default = "", help = "the step whose cleanup fails" },
    preflight_ok = refit.param.bool { default = true, help = "whether the preflight check passes" },
    pre_ok = refit.param.bool { default = true, help = "whether the first step's precondition holds" },
    with_irreversible = refit.param.bool { default = false, help = "include the irreversible step" },
  },
  preflight = {
    refit.check "params-allow-it" (function(ctx)
      ctx:require(ctx.params.preflight_ok, "preflight refused on purpose")
    end),
  },
  refit.step "first" (creates("first", {
    pre = function(ctx) ctx:require(ctx.params.pre_ok, "precondition refused on purpose") end,
  })),
  refit.step "second" (creates("second")),
  refit.step "point-of-no-return" (creates("point-of-no-return", {
    when = function(ctx) return ctx.params.with_irreversible end,
    no_rollback = true,
    irreversible = "restore the ConfigMap by hand",
  })),
  refit.step "already-there" (creates("already-there", {
    done = function() return true end,
  })),
  refit.step "last" (creates("last")),
}
