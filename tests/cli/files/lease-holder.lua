-- Holds its lease as long as the test wants (tests/cli/lease_test.sh): its one step waits until the
-- test creates ConfigMap default/release-me, then records that it went on by creating ConfigMap
-- default/done. With fail=true the step fails at once instead.
local refit = require "refit"

return refit.playbook "test/lease-holder" {
  summary = "Waits for ConfigMap default/release-me while it holds its lease",
  params = {
    fail = refit.param.bool { default = false, help = "fail at once (the run rolls back)" },
  },
  refit.step "hold" {
    run = function(ctx)
      if ctx.params.fail then ctx:fail("the step failed on purpose") end
      ctx:wait("ConfigMap default/release-me", function()
        return ctx.cluster:get { kind = "ConfigMap", namespace = "default", name = "release-me" } ~= nil
      end, { timeout = "1h", interval = "1s" })
      ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "done", namespace = "default" } }
    end,
    rollback = function(ctx) ctx.cluster:delete { kind = "ConfigMap", namespace = "default", name = "done" } end,
  },
}
