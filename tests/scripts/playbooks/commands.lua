-- A test playbook for the simulated tools (tests/scripts/velero_test.lua, sim_tools_test.lua,
-- tests/scripts/kaptain_upgrade_test.lua): runs the commands of the `commands` parameter one per
-- step, in order, and records each result in ctx.state["result:<n>"] = { code, stdout, stderr }.
-- "sleep 5m" lets virtual time pass instead; "patch-workflow NS NAME STRATEGY" sets a Workflow's
-- spec.shutdown (what `argo terminate` does).
local refit = require "refit"

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

return refit.playbook "test/commands" {
  summary = "Run commands against the simulated world and record their results",
  params = {
    commands = refit.param.list { of = refit.param.string {}, required = true, help = "commands, one per step" },
  },
  refit.each "cmd" {
    items = function(ctx)
      local items = {}
      for i, c in ipairs(ctx.params.commands) do items[i] = { name = tostring(i), line = c } end
      return items
    end,
    step = function(item)
      return {
        run = function(ctx)
          local argv = words(item.line)
          if argv[1] == "sleep" then return ctx:sleep(argv[2]) end
          if argv[1] == "patch-workflow" then
            ctx.cluster:patch({ apiVersion = "argoproj.io/v1alpha1", kind = "Workflow", namespace = argv[2], name = argv[3] },
                              { spec = { shutdown = argv[4] } })
            return
          end
          argv.check = false
          argv.mutates = true
          local r = ctx:exec(argv)
          ctx.state["result:" .. item.name] = { code = r.code, stdout = r.stdout, stderr = r.stderr }
        end,
      }
    end,
  },
}
