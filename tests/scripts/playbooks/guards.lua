-- A playbook that breaks the rules on purpose, one way per value of the param `case`, to test the
-- runner's guards: deciding phases must not change the world, and commands respect timeouts.
local refit = require "refit"
local json = require "refit.json"

local function is(case) return function(ctx) return ctx.params.case == case end end

local function first_node(ctx) return ctx.cluster:list { kind = "Node" }[1] end

local UPGRADE = { "eksctl", "upgrade", "cluster", "--name", "demo", "--version", "1.21", "--approve" }

return refit.playbook "test/guards" {
  summary = "Breaks the runner's rules on purpose",
  params = {
    case = refit.param.enum {
      required = true,
      values = { "check-writes", "pre-runs-command", "irreversible-unchanged", "command-timeout", "step-timeout" },
      help = "which rule to break",
    },
  },
  preflight = {
    refit.check "deletes-a-node" (function(ctx)
      if ctx.params.case == "check-writes" then ctx.cluster:delete(first_node(ctx)) end
    end),
  },
  refit.step "label-a-node" {
    when = function(ctx) return ctx.params.case == "irreversible-unchanged" end,
    run = function(ctx)
      ctx.cluster:patch(first_node(ctx), { metadata = { labels = { ["refit.test/touched"] = "yes" } } })
    end,
    rollback = function(ctx)
      ctx.cluster:patch(first_node(ctx), { metadata = { labels = { ["refit.test/touched"] = json.null } } })
    end,
  },
  refit.step "point-of-no-return" {
    when = is("irreversible-unchanged"),
    irreversible = "nothing to recover: this step fails before it changes anything",
    run = function(ctx) ctx:fail("refused before any change") end,
  },
  refit.step "pre-runs-a-command" {
    when = is("pre-runs-command"),
    pre = function(ctx)
      ctx:exec { "aws", "eks", "update-cluster-version", "--name", "demo", "--kubernetes-version", "1.21", mutates = true }
    end,
    run = function() end,
  },
  refit.step "slow-command" {
    when = is("command-timeout"),
    run = function(ctx)
      local cmd = { table.unpack(UPGRADE) }
      cmd.mutates, cmd.timeout = true, "1m"
      ctx:exec(cmd)
    end,
  },
  refit.step "slow-step" {
    when = is("step-timeout"),
    timeout = "5m",
    run = function(ctx)
      local cmd = { table.unpack(UPGRADE) }
      cmd.mutates = true
      ctx:exec(cmd)
    end,
  },
}
