-- A playbook for the tests of leases (docs/leases.md): it changes the world, lets virtual time pass,
-- and records in ctx.state what its own Lease says (state_set events), so that a test sees the lease
-- taken, renewed and released. It can fail, or give its Lease to another run halfway.
local refit = require "refit"

local LEASE = { apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = "kube-system",
                name = "refit-test-lease" }

-- "holder renewTime transitions", or "none".
local function seen(ctx)
  local lease = ctx.cluster:get(LEASE)
  if not lease then return "none" end
  return string.format("%s %s %d", lease.spec.holderIdentity, lease.spec.renewTime, lease.spec.leaseTransitions)
end

local function configmap(name)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = "default" }, data = {} }
end

return refit.playbook "test/lease" {
  summary = "Holds its lease while it changes the world, waits, and fails or loses the lease on demand",
  params = {
    wait = refit.param.duration { default = "100s", help = "how long the wait step lets virtual time pass" },
    fail = refit.param.bool { default = false, help = "the last step fails (the run rolls back)" },
    give_away = refit.param.bool { default = false, help = "hand the lease to another run halfway" },
  },
  refit.step "change" {
    run = function(ctx)
      ctx.state.at_start = seen(ctx)
      ctx.cluster:create(configmap("changed"))
    end,
    rollback = function(ctx) ctx.cluster:delete { kind = "ConfigMap", namespace = "default", name = "changed" } end,
  },
  refit.step "wait" {
    run = function(ctx)
      ctx:sleep(ctx.params.wait)
      ctx.state.after_wait = seen(ctx)
    end,
  },
  refit.step "give-away" {
    when = function(ctx) return ctx.params.give_away end,
    run = function(ctx)
      ctx.cluster:patch(LEASE, {
        metadata = { annotations = { ["refit.dev/host"] = "elsewhere" } },
        spec = { holderIdentity = "20260101-000200-0ther1" },
      })
      ctx:sleep("1m")
      ctx.cluster:create(configmap("after-loss"))
    end,
    -- What it changed stays: the lease is the other run's now.
    rollback = function() end,
  },
  refit.step "last" {
    run = function(ctx)
      if ctx.params.fail then ctx:fail("the last step failed on purpose") end
    end,
  },
}
