-- tests/cli/files/snapshot-hooks.lua: snapshot hooks that break the rules, for
-- tests/cli/eks_snapshot_test.sh. `--set hook=write` patches a node, `command` runs a command marked
-- mutates = true, `number` returns what is not a fixture section, `none` returns nil (the cluster
-- has no such side). A plan from live clusters must refuse the first three before anything changes.

local refit = require "refit"

local HOOKS = {
  write = function(ctx)
    local node = ctx.cluster:list { kind = "Node" }[1]
    ctx.cluster:patch({ kind = "Node", name = node.metadata.name }, { metadata = { labels = { touched = "yes" } } })
  end,
  command = function(ctx)
    ctx:exec { "aws", "eks", "update-cluster-version", "--name", "demo", "--kubernetes-version", "1.21", mutates = true }
  end,
  number = function() return 42 end,
  none = function() return nil end,
}

return refit.playbook "tests/snapshot-hooks" {
  summary = "Snapshot hooks that write, run a mutating command, or return no section",
  params = {
    hook = refit.param.enum { values = { "write", "command", "number", "none" }, required = true, help = "which hook" },
  },
  snapshot = {
    eks = function(ctx) return HOOKS[ctx.params.hook](ctx) end,
  },
  refit.step "nothing" {
    run = function(ctx) ctx.log("the plan ran") end,
  },
}
