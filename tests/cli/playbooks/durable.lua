-- tests/cli/playbooks/durable.lua: the playbook of the durable-run tests (tests/cli/durable_*_test.sh
-- against a served world, tests/scripts/durable_test.lua in-process). Every change it makes is a
-- ConfigMap in one namespace, so that the world shows it, and each kind of step a resume or a
-- rollback treats differently is here: steps with and without `done`, an irreversible step, a
-- refit.each, a wait, a command, a cleanup, and ctx.state.
local refit = require "refit"

local LEDGER = "durable-ledger"

local function ref(ctx, name) return { kind = "ConfigMap", namespace = ctx.params.namespace, name = name } end
local function ledger(ctx) return ctx.cluster:get(ref(ctx, LEDGER)) end
local function ledger_data(ctx)
  local l = ledger(ctx)
  return (l and l.data) or {}
end

-- Appends a word to the ledger's log: made twice, it shows twice (a change that is not idempotent).
local function append(ctx, word)
  local log = ledger_data(ctx).log or ""
  ctx.cluster:patch(ref(ctx, LEDGER), { data = { log = log == "" and word or (log .. " " .. word) } })
end

local function logged(ctx, word)
  for w in (ledger_data(ctx).log or ""):gmatch("%S+") do
    if w == word then return true end
  end
  return false
end

local function item_step(item)
  local name = "durable-" .. item.name
  return {
    summary = "create ConfigMap " .. name .. " and log it in the ledger",
    -- Done when its last change is there: a step stopped between its two changes is not done.
    done = function(ctx) return logged(ctx, item.name) end,
    run = function(ctx)
      if not ctx.cluster:get(ref(ctx, name)) then
        ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap",
                             metadata = { name = name, namespace = ctx.params.namespace }, data = { item = item.name } }
      end
      append(ctx, item.name)
    end,
    verify = function(ctx)
      ctx:wait("ConfigMap " .. name, function() return ctx.cluster:get(ref(ctx, name)) ~= nil end,
               { timeout = "1m", interval = "2s" })
    end,
    rollback = function(ctx) ctx.cluster:delete(ref(ctx, name)) end,
  }
end

return refit.playbook "tests/durable" {
  summary = "ConfigMap changes of every kind a durable run resumes or rolls back",
  params = {
    namespace = refit.param.string { default = "default", help = "where the ConfigMaps go" },
    items = refit.param.list { of = refit.param.string {}, default = { "a", "b", "c" }, help = "the each's items" },
    command = refit.param.string { default = "", help = "a shell command for the command step (none: skipped)" },
    fail = refit.param.bool { default = false, help = "make the last step fail" },
    wait_for = refit.param.string { default = "", help = "a ConfigMap the last step waits for, 10m at most" },
    token = refit.param.string { secret = true, help = "a secret the run keeps in ctx.state" },
  },
  preflight = {
    refit.check "has-nodes" (function(ctx)
      ctx:require(#ctx.cluster:list { kind = "Node" } > 0, "the cluster has no nodes")
    end),
  },
  refit.step "ledger" {
    done = function(ctx) return ledger(ctx) ~= nil end,
    run = function(ctx)
      if refit.given(ctx.params.token) then ctx.state.token = ctx.params.token end
      ctx.state.created = LEDGER
      ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap",
                           metadata = { name = LEDGER, namespace = ctx.params.namespace }, data = { log = "", count = "0" } }
    end,
    rollback = function(ctx) ctx.cluster:delete(ref(ctx, ctx.state.created)) end,
    -- Counts its own runs in a ConfigMap of its own: a cleanup run twice shows.
    cleanup = function(ctx)
      local c = ctx.cluster:get(ref(ctx, "durable-cleanups"))
      if c then
        ctx.cluster:patch(c, { data = { runs = tostring(tonumber(c.data.runs) + 1) } })
      else
        ctx.cluster:create { apiVersion = "v1", kind = "ConfigMap",
                             metadata = { name = "durable-cleanups", namespace = ctx.params.namespace },
                             data = { runs = "1" } }
      end
    end,
  },
  -- No `done`: run twice, it counts twice.
  refit.step "count" {
    run = function(ctx)
      local n = tonumber(ledger_data(ctx).count) + 1
      ctx.state.count = n
      ctx.cluster:patch(ref(ctx, LEDGER), { data = { count = tostring(n) } })
    end,
    rollback = function(ctx)
      ctx.cluster:patch(ref(ctx, LEDGER), { data = { count = tostring(ctx.state.count - 1) } })
    end,
  },
  refit.step "seal" {
    done = function(ctx)
      local l = ledger(ctx)
      return l ~= nil and l.metadata.annotations ~= nil and l.metadata.annotations["refit.dev/sealed"] == "true"
    end,
    run = function(ctx)
      ctx.cluster:patch(ref(ctx, LEDGER), { metadata = { annotations = { ["refit.dev/sealed"] = "true" } } })
    end,
    irreversible = "the ledger is sealed: delete ConfigMap durable-ledger by hand to start over",
  },
  refit.each "item" {
    items = function(ctx)
      ctx.log("listing the items")
      local out = {}
      for _, name in ipairs(ctx.params.items) do out[#out + 1] = { name = name } end
      return out
    end,
    step = item_step,
  },
  refit.step "command" {
    when = function(ctx) return ctx.params.command ~= "" end,
    run = function(ctx) ctx:exec { "sh", "-c", ctx.params.command, mutates = true } end,
  },
  refit.step "finish" {
    done = function(ctx) return ledger_data(ctx).finished == "true" end,
    run = function(ctx)
      ctx:require(not ctx.params.fail, "failing on purpose (fail=true)")
      ctx.cluster:patch(ref(ctx, LEDGER), { data = { finished = "true" } })
    end,
  },
  -- A long wait (its polls a minute apart): an interrupt ends it at once, not at its next poll's time.
  refit.step "settle" {
    when = function(ctx) return ctx.params.wait_for ~= "" end,
    verify = function(ctx)
      ctx:wait("ConfigMap " .. ctx.params.wait_for, function()
        return ctx.cluster:get(ref(ctx, ctx.params.wait_for)) ~= nil
      end, { timeout = "10m", interval = "1m" })
    end,
  },
}
