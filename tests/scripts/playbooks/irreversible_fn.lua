-- An irreversible step whose recovery text is built from the world when a later step fails
-- (tests/scripts/runner_test.lua).
local refit = require "refit"

return refit.playbook "test/irreversible-fn" {
  summary = "A recovery text written when it is needed",
  params = {
    text = refit.param.enum { values = { "world", "error", "writes", "empty" }, default = "world" },
  },
  refit.step "point-of-no-return" {
    run = function(ctx)
      ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "moved", namespace = "default" },
                           data = { version = "2" } }
      ctx.state.moved_at = ctx:now()
    end,
    irreversible = function(ctx)
      local how = ctx.params.text
      if how == "error" then error("no such field", 0) end
      if how == "writes" then ctx.cluster:delete { kind = "ConfigMap", namespace = "default", name = "moved" } end
      if how == "empty" then return "" end
      local cm = ctx.cluster:get { kind = "ConfigMap", namespace = "default", name = "moved" }
      return string.format("ConfigMap default/moved is at version %s since %d ms: move it back by hand",
                           cm.data.version, ctx.state.moved_at)
    end,
  },
  refit.step "fails" {
    run = function(ctx) ctx:fail("fails on purpose") end,
  },
}
