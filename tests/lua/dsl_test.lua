-- refit (init.lua): the playbook DSL and its contract errors. The messages
-- are asserted whole: they are the user interface of a mistake.
local t = require "refit.test"
local refit = require "refit"

local FILE = "scripts/x.lua"
local function noop() end

-- the contract error that validate raises for value
local function contract(value)
  local ok, err = pcall(refit.validate, value, FILE)
  t.eq(ok, false, "validate should have failed")
  return err
end

-- a valid playbook with extra playbook fields / steps
local function playbook(fields)
  local body = { summary = "Demo" }
  for k, v in pairs(fields or {}) do body[k] = v end
  if #body == 0 and fields and fields.preflight == nil then body[1] = refit.step "only" { run = noop } end
  return refit.playbook "demo/x" (body)
end

-- a one-step playbook: the contract error of that step's fields
local function step_error(fields)
  return contract(refit.playbook "demo/x" { summary = "Demo", refit.step "drain" (fields) })
end

---------------------------------------------------------------------------
-- the normalized playbook
---------------------------------------------------------------------------

t.case("validate normalizes a complete playbook", function()
  local function run() end
  local function verify() end
  local function check() end
  local function items() return {} end
  local function make(item) return { run = run } end
  local function read_cloud(ctx) return {} end
  local function read_more(ctx) return nil end
  local to = refit.param.version { required = true }
  local pb = refit.validate(refit.playbook "kkp/upgrade" {
    summary = "Upgrade KKP",
    description = "Longer text",
    params = { to = to },
    preflight = { refit.check "reachable" (check) },
    snapshot = { kkp = read_more, eks = read_cloud },
    refit.step "deploy" {
      summary = "deploy", run = run, verify = verify, irreversible = "restore the CRD backup",
      retries = 2, backoff = "30s", timeout = "1h",
    },
    refit.each "nodes" { summary = "per node", items = items, step = make },
  }, FILE)
  t.eq(pb, {
    name = "kkp/upgrade", summary = "Upgrade KKP", description = "Longer text",
    params = { to = to },
    preflight = { { name = "reachable", fn = check } },
    snapshot = { { section = "eks", fn = read_cloud }, { section = "kkp", fn = read_more } },
    steps = {
      { kind = "step", name = "deploy", summary = "deploy", run = run, verify = verify,
        irreversible = "restore the CRD backup", retries = 2, backoff = 30000, timeout = 3600000 },
      { kind = "each", name = "nodes", summary = "per node", items = items, step = make },
    },
  })
end)

t.case("step defaults: no retries, 10s backoff, no timeout", function()
  local pb = refit.validate(refit.playbook "p" { summary = "s", refit.step "a" { pre = noop } }, FILE)
  t.eq(pb.steps[1], { kind = "step", name = "a", pre = noop, retries = 0, backoff = 10000 })
  t.eq(pb.params, {})
  t.eq(pb.preflight, {})
end)

t.case("durations may be milliseconds", function()
  local pb = refit.validate(playbook { refit.step "a" { run = noop, timeout = 5000, backoff = 0 } }, FILE)
  t.eq({ pb.steps[1].timeout, pb.steps[1].backoff }, { 5000, 0 })
end)

t.case("every hook is carried over", function()
  local hooks = {}
  for _, h in ipairs { "when", "done", "pre", "run", "verify", "rollback", "cleanup" } do
    hooks[h] = function() end
  end
  local step = refit.validate(playbook { refit.step "a" (hooks) }, FILE).steps[1]
  for h, fn in pairs(hooks) do t.ok(rawequal(step[h], fn), h) end
end)

t.case("a playbook of preflight checks alone is valid", function()
  local pb = refit.validate(refit.playbook "p" { summary = "s", preflight = { refit.check "c" (noop) } }, FILE)
  t.eq(#pb.steps, 0)
end)

t.case("refit.param has the constructors of refit.params", function()
  local params = require "refit.params"
  for _, kind in ipairs { "string", "int", "bool", "version", "duration", "enum", "list" } do
    t.ok(rawequal(refit.param[kind], params[kind]), kind)
  end
  t.eq(refit.param.resolve, nil)
end)

---------------------------------------------------------------------------
-- the file's value
---------------------------------------------------------------------------

t.case("the file must return a playbook", function()
  t.eq(contract(nil), 'scripts/x.lua: the file must return refit.playbook "name" { ... }, got nil')
  t.eq(contract({ summary = "s" }), 'scripts/x.lua: the file must return refit.playbook "name" { ... }, got table')
  t.eq(contract(refit.step "a" { run = noop }),
       'scripts/x.lua: the file must return refit.playbook "name" { ... }, got refit.step')
  t.eq(contract(refit.playbook "p"),
       'scripts/x.lua: the file must return refit.playbook "name" { ... }, got refit.playbook "p" without its { ... }')
end)

t.case("the playbook needs a name and a body", function()
  t.eq(contract(refit.playbook { summary = "s" }),
       'scripts/x.lua: playbook: a playbook needs a name: refit.playbook "name" { ... }')
  t.eq(contract(refit.playbook "" { summary = "s" }),
       "scripts/x.lua: playbook: the name must be a non-empty string, got an empty string")
  t.eq(contract(refit.playbook "p" "q"), 'scripts/x.lua: playbook: expected refit.playbook "p" { ... }, got string')
end)

t.case("summary is required and one line", function()
  t.eq(contract(refit.playbook "p" { refit.step "a" { run = noop } }),
       "scripts/x.lua: playbook: summary is required (one line for refit list)")
  t.eq(contract(playbook { summary = "" }), "scripts/x.lua: playbook: summary is required (one line for refit list)")
  t.eq(contract(playbook { summary = 3 }), "scripts/x.lua: playbook: summary must be a string, got number")
  t.eq(contract(playbook { summary = "a\nb" }),
       "scripts/x.lua: playbook: summary must be one line (put the rest in description)")
  t.eq(contract(playbook { description = {} }), "scripts/x.lua: playbook: description must be a string, got table")
end)

t.case("unknown playbook fields", function()
  t.eq(contract(playbook { sumary = "x" }), 'scripts/x.lua: playbook: unknown field "sumary" (did you mean "summary"?)')
  t.eq(contract(playbook { steps = {} }),
       'scripts/x.lua: playbook: unknown field "steps" (known: description, params, preflight, snapshot, summary)')
  t.eq(contract(playbook { drain = refit.step "drain" { run = noop } }),
       'scripts/x.lua: playbook: unknown field "drain" (steps go in the list part, without a key: refit.step "drain" { ... })')
  t.eq(contract(playbook { [true] = 1 }), "scripts/x.lua: playbook: unexpected key true (fields have string names)")
end)

t.case("a playbook with nothing to do", function()
  t.eq(contract(refit.playbook "p" { summary = "s" }),
       'scripts/x.lua: playbook: nothing to do: add steps (refit.step "name" { ... }) or preflight checks')
end)

---------------------------------------------------------------------------
-- steps
---------------------------------------------------------------------------

t.case("the list part holds steps only", function()
  t.eq(contract(playbook { { run = noop } }),
       'scripts/x.lua: step 1: expected refit.step "name" { ... } or refit.each "name" { ... }, got table')
  t.eq(contract(playbook { refit.step "a" { run = noop }, refit.step "b" }),
       'scripts/x.lua: step 2: expected refit.step "name" { ... } or refit.each "name" { ... },'
       .. ' got refit.step "b" without its { ... }')
  t.eq(contract(playbook { refit.check "c" (noop) }),
       "scripts/x.lua: step 1: refit.check belongs in preflight = { ... }, not among the steps")
  t.eq(contract(playbook { refit.step "a" { run = noop }, [3] = refit.step "c" { run = noop } }),
       "scripts/x.lua: step 2: missing (a nil in the list)")
end)

t.case("a step needs a name", function()
  t.eq(contract(playbook { refit.step "a" { run = noop }, refit.step "b" { run = noop }, refit.step { run = noop } }),
       'scripts/x.lua: step 3: a step needs a name: refit.step "name" { ... }')
  t.eq(contract(playbook { refit.each { items = noop, step = noop } }),
       'scripts/x.lua: step 1: a step needs a name: refit.each "name" { ... }')
  t.eq(contract(playbook { refit.step "" { run = noop } }),
       "scripts/x.lua: step 1: the step name must be a non-empty string, got an empty string")
  t.eq(contract(playbook { refit.step(42) { run = noop } }),
       "scripts/x.lua: step 1: the step name must be a non-empty string, got number")
end)

t.case("step names are unique", function()
  t.eq(contract(playbook { refit.step "a" { run = noop }, refit.step "b" { run = noop }, refit.step "a" { run = noop } }),
       'scripts/x.lua: step "a": duplicate step name (steps 1 and 3)')
  t.eq(contract(playbook { refit.step "a" { run = noop }, refit.each "a" { items = noop, step = noop } }),
       'scripts/x.lua: step "a": duplicate step name (steps 1 and 2)')
end)

t.case("retries must be a non-negative integer", function()
  t.eq(step_error { run = noop, retries = "3" }, 'scripts/x.lua: step "drain": retries must be an integer, got string')
  t.eq(step_error { run = noop, retries = 1.5 }, 'scripts/x.lua: step "drain": retries must be an integer, got 1.5')
  t.eq(step_error { run = noop, retries = -1 }, 'scripts/x.lua: step "drain": retries must be >= 0, got -1')
  local pb = refit.validate(playbook { refit.step "a" { run = noop, retries = 2.0 } }, FILE)
  t.eq(math.type(pb.steps[1].retries), "integer")
end)

t.case("unknown step fields, with a hint when it is a typo", function()
  t.eq(step_error { run = noop, retires = 3 }, 'scripts/x.lua: step "drain": unknown field "retires" (did you mean "retries"?)')
  t.eq(step_error { run = noop, rollbak = noop }, 'scripts/x.lua: step "drain": unknown field "rollbak" (did you mean "rollback"?)')
  t.eq(step_error { run = noop, action = noop },
       'scripts/x.lua: step "drain": unknown field "action" (known: backoff, cleanup, done, irreversible,'
       .. ' pre, retries, rollback, run, summary, timeout, verify, when)')
  t.eq(step_error { noop }, 'scripts/x.lua: step "drain": unexpected key 1 (fields have string names)')
end)

t.case("hooks must be functions", function()
  t.eq(step_error { run = "kubectl drain" }, 'scripts/x.lua: step "drain": run must be a function(ctx), got string')
  t.eq(step_error { run = noop, verify = true }, 'scripts/x.lua: step "drain": verify must be a function(ctx), got boolean')
  t.eq(step_error { run = noop, when = false }, 'scripts/x.lua: step "drain": when must be a function(ctx), got boolean')
  t.eq(step_error { run = noop, summary = 1 }, 'scripts/x.lua: step "drain": summary must be a string, got number')
end)

t.case("a step with nothing to do", function()
  local msg = 'scripts/x.lua: step "drain": nothing to do: give it run, verify or pre'
  t.eq(step_error {}, msg)
  t.eq(step_error { rollback = noop, cleanup = noop, when = noop, done = noop }, msg)
end)

t.case("irreversible is the recovery text, or a function that writes it", function()
  local why = 'scripts/x.lua: step "drain": irreversible must be a non-empty string (the manual recovery text) or a ' ..
              'function(ctx) returning it, got '
  t.eq(step_error { run = noop, irreversible = true }, why .. "boolean")
  t.eq(step_error { run = noop, irreversible = "  " }, why .. "an empty string")
end)

t.case("backoff and timeout are durations", function()
  t.eq(step_error { run = noop, timeout = "soon" },
       'scripts/x.lua: step "drain": timeout: invalid duration "soon": expected e.g. 90s, 10m, 1h30m')
  t.eq(step_error { run = noop, backoff = {} },
       'scripts/x.lua: step "drain": backoff: invalid duration: expected e.g. 90s, 10m, 1h30m, got table')
  t.eq(step_error { run = noop, timeout = "0s" }, 'scripts/x.lua: step "drain": timeout must be longer than 0')
end)

t.case("a step body must be a plain table", function()
  t.eq(step_error "x", 'scripts/x.lua: step "drain": expected a table of step fields { run = ..., ... }, got string')
end)

t.case("each needs items and step functions", function()
  local function each_error(fields) return contract(playbook { refit.each "nodes" (fields) }) end
  t.eq(each_error { step = noop },
       'scripts/x.lua: each "nodes": items must be a function(ctx) returning the list of items, got nil')
  t.eq(each_error { items = noop, step = {} },
       "scripts/x.lua: each \"nodes\": step must be a function(item) returning the step's fields, got table")
  t.eq(each_error { items = noop, step = noop, iterms = 1 },
       'scripts/x.lua: each "nodes": unknown field "iterms" (did you mean "items"?)')
  t.eq(each_error(noop),
       'scripts/x.lua: each "nodes": expected refit.each "nodes" { items = function(ctx) ... end,'
       .. ' step = function(item) ... end }, got function')
end)

---------------------------------------------------------------------------
-- params and preflight
---------------------------------------------------------------------------

t.case("params must be refit.param specs", function()
  t.eq(contract(playbook { params = { to = "1.21" } }),
       'scripts/x.lua: param "to": expected refit.param.TYPE { ... }, got string')
  t.eq(contract(playbook { params = { to = refit.param.version } }),
       'scripts/x.lua: param "to": refit.param.version needs its options: refit.param.version { ... }')
  t.eq(contract(playbook { params = { ["to-version"] = refit.param.version {} } }),
       'scripts/x.lua: param "to-version": a param name is letters, digits and _, not starting with a digit')
  t.eq(contract(playbook { params = { refit.param.version {} } }),
       "scripts/x.lua: params: unexpected key 1: write params = { name = refit.param.TYPE { ... } }")
  t.eq(contract(playbook { params = "to" }),
       "scripts/x.lua: playbook: params must be a table of name = refit.param.TYPE { ... }, got string")
end)

t.case("snapshot maps fixture sections to the functions that read them", function()
  t.eq(refit.validate(playbook {}, FILE).snapshot, {})
  t.eq(contract(playbook { snapshot = noop }),
       "scripts/x.lua: playbook: snapshot must be a table of fixture section = function(ctx) returning it, " ..
       "e.g. snapshot = { eks = eks.snapshot }, got function")
  t.eq(contract(playbook { snapshot = { noop } }),
       "scripts/x.lua: snapshot: snapshot must be a table of fixture section = function(ctx) returning it, " ..
       "e.g. snapshot = { eks = eks.snapshot }; the key \"1\" is not a section name")
  t.eq(contract(playbook { snapshot = { ["eks cloud"] = noop } }),
       "scripts/x.lua: snapshot: snapshot must be a table of fixture section = function(ctx) returning it, " ..
       "e.g. snapshot = { eks = eks.snapshot }; the key \"eks cloud\" is not a section name")
  t.eq(contract(playbook { snapshot = { eks = "aws eks describe-cluster" } }),
       'scripts/x.lua: snapshot "eks": expected a function(ctx) returning the section, got string')
end)

t.case("preflight holds named checks", function()
  t.eq(contract(playbook { preflight = noop }),
       'scripts/x.lua: playbook: preflight must be a list of refit.check "name" (function(ctx) ... end), got function')
  t.eq(contract(playbook { preflight = { c = refit.check "c" (noop) } }),
       'scripts/x.lua: playbook: preflight must be a list of refit.check "name" (function(ctx) ... end), found the key "c"')
  t.eq(contract(playbook { preflight = { refit.check "a" (noop), noop } }),
       'scripts/x.lua: preflight 2: expected refit.check "name" (function(ctx) ... end), got function')
  t.eq(contract(playbook { preflight = { refit.check(noop) } }),
       'scripts/x.lua: preflight 1: a check needs a name: refit.check "name" (function(ctx) ... end)')
  t.eq(contract(playbook { preflight = { refit.check "c" { run = noop } } }),
       'scripts/x.lua: check "c": expected a function, got table: refit.check "c" (function(ctx) ... end)')
  t.eq(contract(playbook { preflight = { refit.check "c" (noop), refit.check "c" (noop) } }),
       'scripts/x.lua: check "c": duplicate check name (preflight 1 and 2)')
  t.eq(contract(playbook { preflight = { refit.check "c" } }),
       'scripts/x.lua: preflight 1: expected refit.check "name" (function(ctx) ... end),'
       .. ' got refit.check "c" without its (function(ctx) ... end)')
end)

---------------------------------------------------------------------------
-- validate_step: the steps of an each expansion
---------------------------------------------------------------------------

t.case("validate_step normalizes a table of fields under the given name", function()
  local s = refit.validate_step({ run = noop, retries = 1, timeout = "5m" }, FILE, "drain[node-1]")
  t.eq(s, { kind = "step", name = "drain[node-1]", run = noop, retries = 1, backoff = 10000, timeout = 300000 })
end)

t.case("validate_step accepts a refit.step and uses the given name", function()
  local s = refit.validate_step(refit.step "ignored" { verify = noop }, FILE, "nodes[2]")
  t.eq(s.name, "nodes[2]")
  t.ok(rawequal(s.verify, noop))
end)

t.case("validate_step raises the same contract errors", function()
  t.raises(function() refit.validate_step({ run = noop, retries = "x" }, FILE, "drain[n1]") end,
           'scripts/x.lua: step "drain[n1]": retries must be an integer, got string')
  local ok, err = pcall(refit.validate_step, nil, FILE, "drain[n1]")
  t.eq(ok, false)
  t.eq(err, "scripts/x.lua: step \"drain[n1]\": the each's step function must return a table of step fields, got nil")
end)

t.case("contract errors carry no position of their own", function()
  local err = contract(nil)
  t.eq(err:sub(1, #FILE + 2), FILE .. ": ")
end)

t.case("refit.given: an optional string parameter left unset is nil", function()
  t.eq(refit.given(nil), nil)
  t.eq(refit.given(""), nil)
  t.eq(refit.given("eu-1"), "eu-1")
  t.eq(refit.given(false), false)
end)
