-- refit: the playbook language.
--
--   return refit.playbook "name" { summary = ..., params = {...}, preflight = {...},
--                                  refit.step "a" { ... }, refit.each "b" { ... } }
--
-- The constructors only record what the file wrote, tagged with a private
-- metatable; all checking is done once, by validate, when the engine has the
-- file's value. That way every mistake is reported the same way, as a
-- contract error "<file>: <where>: <what>" that names the field and the fix.

local params = require "refit.params"
local duration = require "refit.duration"

local M = {}

-- Tags. Each tagged table is { name =, body = } (checks: { name =, fn = }).
local Playbook = { __name = "refit.playbook" }
local Step = { __name = "refit.step" }
local Each = { __name = "refit.each" }
local Check = { __name = "refit.check" }

-- The function returned by `refit.step "x"` before it receives its { ... }:
-- remembered (weakly) so that a forgotten body can be named in the error.
local pending = setmetatable({}, { __mode = "k" })

-- refit.playbook "name" { ... }; refit.playbook { ... } (no name) is kept so
-- that validate can say what is missing.
local function constructor(tag)
  return function(name)
    if type(name) == "table" and getmetatable(name) == nil then
      return setmetatable({ body = name }, tag)
    end
    local function with_body(body) return setmetatable({ name = name, body = body }, tag) end
    pending[with_body] = { what = tag.__name, name = name, missing = "{ ... }" }
    return with_body
  end
end

M.playbook = constructor(Playbook)
M.step = constructor(Step)
M.each = constructor(Each)

-- refit.check "name" (function(ctx) ... end)
function M.check(name)
  if type(name) == "function" then return setmetatable({ fn = name }, Check) end
  local function with_fn(fn) return setmetatable({ name = name, fn = fn }, Check) end
  pending[with_fn] = { what = "refit.check", name = name, missing = "(function(ctx) ... end)" }
  return with_fn
end

-- refit.given(v): v, unless it is nil or "" (an optional string parameter left unset, which
-- `--set name=` also gives): `refit.given(ctx.params.cluster) or default`.
function M.given(v)
  if v == nil or v == "" then return nil end
  return v
end

-- refit.param.TYPE { ... }: the constructors of refit.params, and only those
M.param = {}
for _, kind in ipairs { "string", "int", "bool", "version", "duration", "enum", "list" } do
  M.param[kind] = params[kind]
end

---------------------------------------------------------------------------
-- Validation
---------------------------------------------------------------------------

local function fail(file, where, fmt, ...)
  local what = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  error(string.format("%s: %s%s", file, where and where .. ": " or "", what), 0)
end

-- what a value is, for "got ..." : the DSL's own tables by their constructor
local function kind_of(v)
  local mt = getmetatable(v)
  if mt == Playbook or mt == Step or mt == Each or mt == Check then return mt.__name end
  if params.is_spec(v) then return "refit.param." .. v.type end
  local p = pending[v]
  if p then return string.format("%s %q without its %s", p.what, tostring(p.name), p.missing) end
  return type(v)
end

local function describe_name(name) return string.format("%q", name) end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "string" or type(a) == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- Whether every key of t is a known field (or, with list_ok, a list index): the common case, checked
-- without sorting, so that validating a 10,000-step playbook stays linear and cheap.
local function all_fields_known(t, fields, list_ok)
  for k in pairs(t) do
    if type(k) == "string" then
      if not fields[k] then return false end
    elseif not (list_ok and math.type(k) == "integer" and k >= 1) then
      return false
    end
  end
  return true
end

-- Reports the first string key of t that is not in fields (a set), with a hint. Keys are sorted so
-- the report is the same on every run.
local function check_fields(t, fields, file, where, list_ok)
  if all_fields_known(t, fields, list_ok) then return end
  local names = sorted_keys(fields)
  for _, k in ipairs(sorted_keys(t)) do
    if type(k) == "string" then
      if not fields[k] then
        local hint = params.closest(k, names)
        local mt = getmetatable(t[k])
        if list_ok and (mt == Step or mt == Each) then
          fail(file, where, "unknown field %q (steps go in the list part, without a key: %s { ... })",
               k, mt.__name .. " " .. describe_name(tostring(t[k].name)))
        elseif hint then
          fail(file, where, "unknown field %q (did you mean %q?)", k, hint)
        end
        fail(file, where, "unknown field %q (known: %s)", k, table.concat(names, ", "))
      end
    elseif not (list_ok and math.type(k) == "integer" and k >= 1) then
      fail(file, where, "unexpected key %s (fields have string names)", tostring(k))
    end
  end
end

-- the list part of t as a dense array; a hole means a nil in the constructor
local function list_part(t, file, label)
  local n = 0
  for k in pairs(t) do
    if math.type(k) == "integer" and k > n then n = k end
  end
  local list = {}
  for i = 1, n do
    if t[i] == nil then fail(file, label .. " " .. i, "missing (a nil in the list)") end
    list[i] = t[i]
  end
  return list
end

local STEP_FIELDS = {
  summary = true, when = true, done = true, pre = true, run = true, verify = true,
  rollback = true, cleanup = true, irreversible = true, retries = true, backoff = true, timeout = true,
}
local HOOKS = { "when", "done", "pre", "run", "verify", "rollback", "cleanup" }

local function duration_field(body, field, file, where, default)
  local v = body[field]
  if v == nil then return default end
  local ms, err = duration.parse(v)
  if not ms then fail(file, where, "%s: %s", field, err) end
  return ms
end

-- Normalizes the fields of one step (where = 'step "name"').
local function normalize_step(body, name, file, where)
  if type(body) ~= "table" or getmetatable(body) ~= nil then
    fail(file, where, "expected a table of step fields { run = ..., ... }, got %s", kind_of(body))
  end
  check_fields(body, STEP_FIELDS, file, where)

  local step = { kind = "step", name = name }
  if body.summary ~= nil and type(body.summary) ~= "string" then
    fail(file, where, "summary must be a string, got %s", kind_of(body.summary))
  end
  step.summary = body.summary

  for _, hook in ipairs(HOOKS) do
    local fn = body[hook]
    if fn ~= nil and type(fn) ~= "function" then
      fail(file, where, "%s must be a function(ctx), got %s", hook, kind_of(fn))
    end
    step[hook] = fn
  end
  if not (step.run or step.verify or step.pre) then
    fail(file, where, "nothing to do: give it run, verify or pre")
  end

  local irr = body.irreversible
  if irr ~= nil and type(irr) ~= "function" and (type(irr) ~= "string" or not irr:find("%S")) then
    fail(file, where, "irreversible must be a non-empty string (the manual recovery text) or a function(ctx) " ..
         "returning it, got %s", type(irr) == "string" and "an empty string" or kind_of(irr))
  end
  step.irreversible = irr

  local retries = body.retries
  if retries == nil then
    retries = 0
  elseif type(retries) ~= "number" then
    fail(file, where, "retries must be an integer, got %s", kind_of(retries))
  elseif not math.tointeger(retries) then
    fail(file, where, "retries must be an integer, got %s", tostring(retries))
  elseif retries < 0 then
    fail(file, where, "retries must be >= 0, got %d", retries)
  end
  step.retries = math.tointeger(retries)

  step.backoff = duration_field(body, "backoff", file, where, 10000)
  step.timeout = duration_field(body, "timeout", file, where, nil)
  if step.timeout == 0 then fail(file, where, "timeout must be longer than 0") end
  return step
end

local EACH_FIELDS = { summary = true, items = true, step = true }

local function normalize_each(body, name, file, where)
  if type(body) ~= "table" or getmetatable(body) ~= nil then
    fail(file, where, "expected refit.each %s { items = function(ctx) ... end, step = function(item) ... end }, got %s",
         describe_name(name), kind_of(body))
  end
  check_fields(body, EACH_FIELDS, file, where)
  if body.summary ~= nil and type(body.summary) ~= "string" then
    fail(file, where, "summary must be a string, got %s", kind_of(body.summary))
  end
  if type(body.items) ~= "function" then
    fail(file, where, "items must be a function(ctx) returning the list of items, got %s", kind_of(body.items))
  end
  if type(body.step) ~= "function" then
    fail(file, where, "step must be a function(item) returning the step's fields, got %s", kind_of(body.step))
  end
  return { kind = "each", name = name, summary = body.summary, items = body.items, step = body.step }
end

local function valid_name(name) return type(name) == "string" and name:find("%S") ~= nil end

local function validate_steps(list, file)
  local steps, seen = {}, {}
  for i, v in ipairs(list) do
    local mt = getmetatable(v)
    local where = "step " .. i
    if mt == Check then
      fail(file, where, "refit.check belongs in preflight = { ... }, not among the steps")
    elseif mt ~= Step and mt ~= Each then
      fail(file, where, "expected refit.step \"name\" { ... } or refit.each \"name\" { ... }, got %s", kind_of(v))
    end
    local ctor = mt == Step and "refit.step" or "refit.each"
    if v.name == nil then
      fail(file, where, "a step needs a name: %s \"name\" { ... }", ctor)
    elseif not valid_name(v.name) then
      fail(file, where, "the step name must be a non-empty string, got %s",
           type(v.name) == "string" and "an empty string" or kind_of(v.name))
    end
    where = "step " .. describe_name(v.name)
    if seen[v.name] then
      fail(file, where, "duplicate step name (steps %d and %d)", seen[v.name], i)
    end
    seen[v.name] = i
    if mt == Step then
      steps[i] = normalize_step(v.body, v.name, file, where)
    else
      steps[i] = normalize_each(v.body, v.name, file, "each " .. describe_name(v.name))
    end
  end
  return steps
end

local function validate_preflight(preflight, file)
  if preflight == nil then return {} end
  if type(preflight) ~= "table" or getmetatable(preflight) ~= nil then
    fail(file, "playbook", "preflight must be a list of refit.check \"name\" (function(ctx) ... end), got %s",
         kind_of(preflight))
  end
  for k in pairs(preflight) do
    if math.type(k) ~= "integer" then
      fail(file, "playbook", "preflight must be a list of refit.check \"name\" (function(ctx) ... end), found the key %s",
           describe_name(tostring(k)))
    end
  end
  local checks, seen = {}, {}
  for i, c in ipairs(list_part(preflight, file, "preflight")) do
    local where = "preflight " .. i
    if getmetatable(c) ~= Check then
      fail(file, where, "expected refit.check \"name\" (function(ctx) ... end), got %s", kind_of(c))
    end
    if c.name == nil then fail(file, where, "a check needs a name: refit.check \"name\" (function(ctx) ... end)") end
    if not valid_name(c.name) then
      fail(file, where, "the check name must be a non-empty string, got %s",
           type(c.name) == "string" and "an empty string" or kind_of(c.name))
    end
    where = "check " .. describe_name(c.name)
    if type(c.fn) ~= "function" then
      fail(file, where, "expected a function, got %s: refit.check %q (function(ctx) ... end)", kind_of(c.fn), c.name)
    end
    if seen[c.name] then fail(file, where, "duplicate check name (preflight %d and %d)", seen[c.name], i) end
    seen[c.name] = i
    checks[i] = { name = c.name, fn = c.fn }
  end
  return checks
end

local function validate_params(specs, file)
  if specs == nil then return {} end
  if type(specs) ~= "table" or getmetatable(specs) ~= nil then
    fail(file, "playbook", "params must be a table of name = refit.param.TYPE { ... }, got %s", kind_of(specs))
  end
  local out = {}
  for _, name in ipairs(sorted_keys(specs)) do
    local spec = specs[name]
    if type(name) ~= "string" then
      fail(file, "params", "unexpected key %s: write params = { name = refit.param.TYPE { ... } }", tostring(name))
    end
    local where = "param " .. describe_name(name)
    if not name:match("^[%a_][%w_]*$") then
      fail(file, where, "a param name is letters, digits and _, not starting with a digit")
    end
    if not params.is_spec(spec) then
      -- refit.param.int without its { ... } is the constructor itself
      for kind, ctor in pairs(M.param) do
        if spec == ctor then fail(file, where, "refit.param.%s needs its options: refit.param.%s { ... }", kind, kind) end
      end
      fail(file, where, "expected refit.param.TYPE { ... }, got %s", kind_of(spec))
    end
    out[name] = spec
  end
  return out
end

-- snapshot = { section = function(ctx) ... end }: the cloud side a plan from live clusters reads
-- (engine/run/snapshot_hooks.hpp). A section is a fixture field of a cluster (eks, ...), so a name.
local function validate_snapshot(hooks, file)
  if hooks == nil then return {} end
  local shape = "snapshot must be a table of fixture section = function(ctx) returning it, e.g. " ..
                "snapshot = { eks = eks.snapshot }"
  if type(hooks) ~= "table" or getmetatable(hooks) ~= nil then
    fail(file, "playbook", "%s, got %s", shape, kind_of(hooks))
  end
  local out = {}
  for _, section in ipairs(sorted_keys(hooks)) do
    if type(section) ~= "string" or not section:match("^[%a_][%w_]*$") then
      fail(file, "snapshot", "%s; the key %s is not a section name", shape, describe_name(tostring(section)))
    end
    local fn = hooks[section]
    if type(fn) ~= "function" then
      fail(file, "snapshot " .. describe_name(section), "expected a function(ctx) returning the section, got %s",
           kind_of(fn))
    end
    out[#out + 1] = { section = section, fn = fn }
  end
  return out
end

local PLAYBOOK_FIELDS = { summary = true, description = true, params = true, preflight = true, snapshot = true }

-- validate(value, file) -> the normalized playbook, or raises a contract error:
--   { name =, summary =, description =, params = { name -> spec },
--     preflight = { { name =, fn = }, ... }, snapshot = { { section =, fn = }, ... } (sorted),
--     steps = { { kind = "step", name =, summary =, when =, done =, pre =, run =, verify =,
--                 rollback =, cleanup =, irreversible =, retries = 0, backoff = 10000, timeout = },
--               { kind = "each", name =, summary =, items =, step = }, ... } }
-- Durations are milliseconds; absent hooks, summary, irreversible and timeout are nil.
function M.validate(value, file)
  file = tostring(file or "playbook")
  if getmetatable(value) ~= Playbook then
    fail(file, nil, "the file must return refit.playbook \"name\" { ... }, got %s", kind_of(value))
  end
  if value.name == nil then
    fail(file, "playbook", "a playbook needs a name: refit.playbook \"name\" { ... }")
  elseif not valid_name(value.name) then
    fail(file, "playbook", "the name must be a non-empty string, got %s",
         type(value.name) == "string" and "an empty string" or kind_of(value.name))
  end
  local body = value.body
  if type(body) ~= "table" or getmetatable(body) ~= nil then
    fail(file, "playbook", "expected refit.playbook %q { ... }, got %s", value.name, kind_of(body))
  end
  check_fields(body, PLAYBOOK_FIELDS, file, "playbook", true)

  local summary = body.summary
  if summary == nil or summary == "" then
    fail(file, "playbook", "summary is required (one line for refit list)")
  elseif type(summary) ~= "string" then
    fail(file, "playbook", "summary must be a string, got %s", kind_of(summary))
  elseif summary:find("\n") then
    fail(file, "playbook", "summary must be one line (put the rest in description)")
  end
  if body.description ~= nil and type(body.description) ~= "string" then
    fail(file, "playbook", "description must be a string, got %s", kind_of(body.description))
  end

  local pb = {
    name = value.name, summary = summary, description = body.description,
    params = validate_params(body.params, file),
    preflight = validate_preflight(body.preflight, file),
    snapshot = validate_snapshot(body.snapshot, file),
    steps = validate_steps(list_part(body, file, "step"), file),
  }
  if #pb.steps == 0 and #pb.preflight == 0 then
    fail(file, "playbook", "nothing to do: add steps (refit.step \"name\" { ... }) or preflight checks")
  end
  return pb
end

-- validate_step(tbl, file, name) -> a normalized step, for one item of a
-- refit.each expansion: tbl is what the each's step function returned (a
-- table of fields, or a refit.step, whose own name is then ignored).
function M.validate_step(tbl, file, name)
  file = tostring(file or "playbook")
  local where = "step " .. describe_name(tostring(name))
  if getmetatable(tbl) == Step then tbl = tbl.body end
  if type(tbl) ~= "table" or getmetatable(tbl) ~= nil then
    fail(file, where, "the each's step function must return a table of step fields, got %s", kind_of(tbl))
  end
  return normalize_step(tbl, name, file, where)
end

return M
