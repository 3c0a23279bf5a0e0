-- A secret parameter's value never appears in the report or in any event; Secret data is masked.
local t = require "refit.test"
local json = require "refit.json"

local TOKEN = "s3cr3t-t0ken-value"

t.case("a secret appears in no event and nowhere in the report", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/secrets.lua", sim = "tests/scripts/fixtures/minimal.yaml",
                     set = { token = TOKEN } }
  t.eq(r.status, "failed")  -- store-token created a Secret and has no rollback
  local everything = json.encode(r.events) .. r.output .. r.message
  t.eq(everything:find(TOKEN, 1, true), nil, "the token leaked")
  t.eq(r.events[1].params.token, "***")
  t.contains(r.output, "params:  token=***")
  t.eq(r:find("log").message, "checking token ***")
  t.eq(r:find("state_set").value, "***")
  t.eq(r:find("mutation", { verb = "patch" }).patch, { stringData = { token = "***" } })
  t.contains(r:find("step_finished").error, "the API refused token ***")
end)

t.case("a secret cannot have a default written in the playbook", function()
  local params = require "refit.params"
  t.raises(function() return params.string { secret = true, default = "hunter2" } end,
           "a secret has no default (it would be written in the playbook); pass it with -f values.yaml")
end)
