-- tests/scripts/playbooks/durable_steps.lua: a playbook for the in-process durable-run tests
-- (tests/scripts/durable_test.lua). A resumed t.plan starts from the fixture again, so no step here
-- needs another's change in the world: what the steps share, they share through ctx.state, which a
-- resume restores from the journal. Every hook logs what it did.
local refit = require "refit"

local NS = "default"

local function cm(name) return { kind = "ConfigMap", namespace = NS, name = name } end
local function make(ctx, name)
  ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = NS } }
end

local function item_step(item)
  local key = "made-" .. item.name
  return {
    -- ctx.state, not the world, says whether it is done: a resume restores ctx.state
    done = function(ctx) return ctx.state[key] == true end,
    run = function(ctx)
      make(ctx, "item-" .. item.name)
      ctx.state[key] = true
    end,
    verify = function(ctx)
      ctx:wait("item " .. item.name, function() return true end)
    end,
    rollback = function(ctx)
      ctx.cluster:delete(cm("item-" .. item.name))
      ctx.log("rolled back item %s (state says made: %s)", item.name, tostring(ctx.state[key]))
    end,
  }
end

return refit.playbook "tests/durable-steps" {
  summary = "Steps of every kind a resume or a rollback treats differently",
  params = {
    items = refit.param.list { of = refit.param.string {}, default = { "a", "b", "c" }, help = "the each's items" },
    token = refit.param.string { secret = true, help = "a secret the run keeps in ctx.state" },
    function_items = refit.param.bool { default = false, help = "items that hold a function, which is not data" },
  },
  preflight = {
    refit.check "has-nodes" (function(ctx)
      ctx:require(#ctx.cluster:list { kind = "Node" } > 0, "the cluster has no nodes")
    end),
  },
  refit.step "first" {
    run = function(ctx)
      if refit.given(ctx.params.token) then ctx.state.token = ctx.params.token end
      ctx.state.first = "made in session 1"
      make(ctx, "first")
    end,
    rollback = function(ctx) ctx.log("rolled back first (%s)", ctx.state.first) end,
    cleanup = function(ctx) ctx.log("cleaned up first (%s)", ctx.state.first) end,
  },
  -- No `done`: a resume cannot tell whether its change was made.
  refit.step "count" {
    run = function(ctx)
      make(ctx, "count")
      ctx.state.count = 1
    end,
    rollback = function(ctx) ctx.log("rolled back count (count %s)", tostring(ctx.state.count)) end,
  },
  refit.step "seal" {
    run = function(ctx) make(ctx, "seal") end,
    irreversible = "sealed: start over by hand",
  },
  refit.each "item" {
    items = function(ctx)
      ctx.log("listing the items")
      local out = {}
      for _, name in ipairs(ctx.params.items) do
        out[#out + 1] = { name = name, describe = ctx.params.function_items and function() return name end or nil }
      end
      return out
    end,
    step = item_step,
  },
  refit.step "last" {
    run = function(ctx) make(ctx, "last") end,
  },
}
