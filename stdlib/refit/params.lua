-- refit.params: the parameter types of playbooks (refit.param.* in the DSL),
-- the resolution of the values given on the command line, and the
-- description shown by `refit show`.
--
-- A spec is a table { type =, required =, default =, help =, example =, ... }
-- made by one of the constructors below; the constructors check their own
-- options, so a mistake in a playbook's params is reported where it is written.
-- Values arrive as strings (`--set k=v`) or as YAML-decoded values (numbers,
-- booleans, strings, lists); resolve turns both into the typed value that the
-- playbook sees in ctx.params.

local semver = require "refit.semver"
local duration = require "refit.duration"

local M = {}

-- Specs carry this metatable, so that refit.validate can tell them from other tables.
local Spec = {}

function M.is_spec(v) return getmetatable(v) == Spec end

-- Edit distance counting a swap of neighbours as one edit ("retires" is one
-- edit from "retries"), for the "did you mean" hints. Names are short.
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        d[i][j] = math.min(d[i][j], d[i - 2][j - 2] + 1)
      end
    end
  end
  return d[#a][#b]
end

-- closest(word, candidates) -> the candidate nearest to word when it is close
-- enough to be a likely typo (at most 2 edits, fewer than the word's length), else nil.
-- Also used by refit.validate for unknown fields.
function M.closest(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if d <= 2 and d < #word and (not best_d or d < best_d) then best, best_d = c, d end
  end
  return best
end

-- how a value is named in messages: strings quoted, other values as Lua prints them
local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return "a table" end
  return tostring(v)
end

---------------------------------------------------------------------------
-- Conversions: each takes the spec and a raw value and returns the typed
-- value, or nil and the end of a sentence that starts with 'param "x": '.
---------------------------------------------------------------------------

-- YAML reads `to: 1.20` as the number 1.2: a float is never taken as text,
-- since the text as written is already lost
local function quote_hint(what, v)
  return string.format("must be %s, got the number %s (quote it, so that YAML keeps it as written)",
                       what, tostring(v))
end

local convert = {}

function convert.string(_, v)
  if type(v) == "string" then return v end
  if math.type(v) == "integer" then return tostring(v) end
  if math.type(v) == "float" then return nil, quote_hint("a string", v) end
  return nil, "must be a string, got " .. show(v)
end

function convert.int(spec, v)
  local n
  if type(v) == "string" then
    n = v:match("^%s*[+-]?%d+%s*$") and math.tointeger(tonumber(v))
  elseif type(v) == "number" then
    n = math.tointeger(v)
  end
  if not n then return nil, "must be an integer, got " .. show(v) end
  if spec.min and n < spec.min then return nil, string.format("must be at least %d, got %d", spec.min, n) end
  if spec.max and n > spec.max then return nil, string.format("must be at most %d, got %d", spec.max, n) end
  return n
end

local BOOL_WORDS = { ["true"] = true, yes = true, on = true, ["1"] = true,
                     ["false"] = false, no = false, off = false, ["0"] = false }

function convert.bool(_, v)
  if type(v) == "boolean" then return v end
  local b = type(v) == "string" and BOOL_WORDS[v:lower()]
  if b == nil then return nil, "must be true or false, got " .. show(v) end
  return b
end

function convert.version(_, v)
  if math.type(v) == "float" then return nil, quote_hint("a version string", v) end
  if type(v) ~= "string" then return nil, "must be a version such as 1.21 or v1.21.2, got " .. show(v) end
  if not semver.parse(v) then
    return nil, "must be a version such as 1.21 or v1.21.2, got " .. show(v)
  end
  return v          -- kept as written: playbooks compare it with refit.semver
end

function convert.duration(_, v)
  local ms = duration.parse(v)
  if not ms then return nil, "must be a duration such as 90s, 10m or 1h30m, got " .. show(v) end
  return ms
end

function convert.enum(spec, v)
  if math.type(v) == "integer" then v = tostring(v) end
  for _, allowed in ipairs(spec.values) do
    if v == allowed then return v end
  end
  return nil, string.format("must be one of %s, got %s", table.concat(spec.values, ", "), show(v))
end

function convert.list(spec, v)
  local items = {}
  if type(v) == "string" then
    -- "a, b,c" -> {"a", "b", "c"}; "" is the empty list
    for item in v:gmatch("[^,]+") do
      item = item:match("^%s*(.-)%s*$")
      if item ~= "" then items[#items + 1] = item end
    end
  elseif type(v) == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if n ~= #v then return nil, "must be a list (a,b or a YAML list), got a map" end
    items = v
  else
    return nil, "must be a list (a,b or a YAML list), got " .. show(v)
  end
  local out = {}
  for i, item in ipairs(items) do
    local value, err = convert[spec.of.type](spec.of, item)
    if value == nil then return nil, string.format("item %d %s", i, err) end
    out[i] = value
  end
  return out
end

---------------------------------------------------------------------------
-- Constructors
---------------------------------------------------------------------------

local COMMON = { required = "boolean", default = "any", help = "string", example = "string" }
local EXTRA = {
  -- secret: the value (a token, a password) is shown as *** in every report and event
  string = { secret = "boolean" }, bool = {}, version = {}, duration = {},
  int = { min = "integer", max = "integer" },
  enum = { values = "table" },
  list = { of = "spec" },
}
local EXAMPLES = { string = "value", bool = "true", version = "1.21", duration = "10m" }

local function option_type_ok(want, v)
  if want == "any" then return true end
  if want == "integer" then return math.type(v) == "integer" end
  if want == "spec" then return M.is_spec(v) end
  return type(v) == want
end

local WANT_TEXT = { spec = "a refit.param.TYPE { ... }", integer = "an integer",
                    boolean = "a boolean", string = "a string", table = "a table" }

-- Checks the options of a param of type kind; returns the spec or nil, message.
local function make(kind, opts)
  local where = "refit.param." .. kind
  if type(opts) ~= "table" or M.is_spec(opts) then
    return nil, string.format("%s: expected options { ... }, got %s", where, type(opts))
  end
  local known = {}
  for k in pairs(COMMON) do known[#known + 1] = k end
  for k in pairs(EXTRA[kind]) do known[#known + 1] = k end
  table.sort(known)

  -- options in a fixed order, so that of two mistakes the same one is reported
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)

  local spec = { type = kind }
  for _, k in ipairs(keys) do
    local v = opts[k]
    local want = COMMON[k] or EXTRA[kind][k]
    if not want then
      local hint = type(k) == "string" and M.closest(k, known)
      return nil, string.format("%s: unknown option %s (%s)", where, show(k),
        hint and string.format("did you mean %q?", hint) or "known: " .. table.concat(known, ", "))
    end
    if not option_type_ok(want, v) then
      return nil, string.format("%s: %s must be %s, got %s", where, k, WANT_TEXT[want], show(v))
    end
    spec[k] = v
  end
  spec.required = spec.required or false
  if spec.secret and spec.default ~= nil then
    return nil, where .. ": a secret has no default (it would be written in the playbook); pass it with -f values.yaml"
  end

  if kind == "enum" then
    if not spec.values or #spec.values == 0 then
      return nil, where .. ": values is required (e.g. values = { \"a\", \"b\" })"
    end
    for i, value in ipairs(spec.values) do
      if type(value) ~= "string" then
        return nil, string.format("%s: values[%d] must be a string, got %s", where, i, show(value))
      end
    end
  elseif kind == "int" then
    if spec.min and spec.max and spec.min > spec.max then
      return nil, string.format("%s: min (%d) is greater than max (%d)", where, spec.min, spec.max)
    end
  elseif kind == "list" then
    spec.of = spec.of or setmetatable({ type = "string", required = false }, Spec)
    if spec.of.type == "list" then return nil, where .. ": of cannot be a list (lists do not nest)" end
  end

  if spec.required and spec.default ~= nil then
    return nil, where .. ": required and default exclude each other (a param with a default is never missing)"
  end
  if spec.default ~= nil then
    if math.type(spec.default) == "float" and (kind == "string" or kind == "version") then
      return nil, string.format("%s: default must be a string, got the number %s (write it in quotes)",
                                where, tostring(spec.default))
    end
    local _, err = convert[kind](spec, spec.default)
    if err then return nil, string.format("%s: default %s", where, err) end
  end
  return setmetatable(spec, Spec)
end

-- the constructors: refit.param.int { min = 1, default = 2, help = "..." }
for kind in pairs(EXTRA) do
  M[kind] = function(opts)
    local spec, err = make(kind, opts)
    if not spec then error(err, 2) end   -- at the playbook line that wrote it
    return spec
  end
end

---------------------------------------------------------------------------
-- Resolution and description
---------------------------------------------------------------------------

-- names in the order of `refit show`: required first, then by name
local function ordered_names(specs)
  local names = {}
  for name in pairs(specs) do names[#names + 1] = name end
  table.sort(names, function(a, b)
    local ra, rb = specs[a].required, specs[b].required
    if ra ~= rb then return ra end
    return a < b
  end)
  return names
end

local function example(spec)
  if spec.example then return spec.example end
  if spec.type == "int" then return tostring(spec.min or 1) end
  if spec.type == "enum" then return spec.values[1] end
  if spec.type == "list" then
    if spec.of.type == "string" and not spec.of.example then return "a,b" end
    local e = example(spec.of)
    return e .. "," .. e
  end
  return EXAMPLES[spec.type]
end

-- resolve(specs, raw) -> values. Raises one error (no position) with every
-- problem on its own line, each naming the parameter and the fix.
function M.resolve(specs, raw)
  raw = raw or {}
  local names = ordered_names(specs)
  local values, problems = {}, {}

  for _, name in ipairs(names) do
    local spec, v = specs[name], raw[name]
    if v == nil then v = spec.default end
    if v == nil then
      if spec.required then
        problems[#problems + 1] = string.format("param %q: required (e.g. --set %s=%s)", name, name, example(spec))
      end
    else
      local value, err = convert[spec.type](spec, v)
      if value == nil then
        problems[#problems + 1] = string.format("param %q: %s", name, err)
      else
        values[name] = value
      end
    end
  end

  local unknown = {}
  for name in pairs(raw) do
    if specs[name] == nil then unknown[#unknown + 1] = tostring(name) end
  end
  table.sort(unknown)
  for _, name in ipairs(unknown) do
    if #names == 0 then
      problems[#problems + 1] = string.format("unknown param %q (this playbook has no params)", name)
    else
      local hint = M.closest(name, names)
      problems[#problems + 1] = string.format("unknown param %q (known: %s%s)", name, table.concat(names, ", "),
        hint and string.format("; did you mean %q?", hint) or "")
    end
  end

  if #problems > 0 then error(table.concat(problems, "\n"), 0) end
  return values
end

-- describe(specs) -> { {name, type, required, default, help, values, min, max, of}, ... }
-- in display order; `of` is the element type of a list, `default` as written.
function M.describe(specs)
  local out = {}
  for _, name in ipairs(ordered_names(specs)) do
    local s = specs[name]
    out[#out + 1] = {
      name = name, type = s.type, required = s.required, default = s.default, help = s.help,
      values = s.values, min = s.min, max = s.max, of = s.of and s.of.type,
    }
  end
  return out
end

local REDACTED = "***"

-- redacted(specs, values) -> a copy of values with every secret replaced by ***, for events.
function M.redacted(specs, values)
  local out = {}
  for name, v in pairs(values) do out[name] = (specs[name] and specs[name].secret) and REDACTED or v end
  return out
end

-- named_secrets(specs, values) -> { name = value } of the secret values given: a kept simulated world
-- (--sim-state) writes each as a marker naming its parameter, never the value.
function M.named_secrets(specs, values)
  local out = {}
  for name, spec in pairs(specs) do
    local v = values[name]
    if spec.secret and type(v) == "string" and v ~= "" then out[name] = v end
  end
  return out
end

-- secrets(specs, values) -> the list of secret values given, sorted, which reports must never show.
function M.secrets(specs, values)
  local out = {}
  for _, v in pairs(M.named_secrets(specs, values)) do out[#out + 1] = v end
  table.sort(out)
  return out
end

-- display(specs, values) -> { name = text }: resolved values as a person would write them
-- (durations as 20m rather than 1200000, lists joined by commas, secrets as ***), for reports.
function M.display(specs, values)
  local out = {}
  for name, spec in pairs(specs) do
    local v = values[name]
    if v == nil then
      -- unset and without a default: nothing to show
    elseif spec.secret then
      out[name] = REDACTED
    elseif spec.type == "duration" then
      out[name] = duration.format(v)
    elseif spec.type == "list" then
      local parts = {}
      for i, item in ipairs(v) do parts[i] = tostring(item) end
      out[name] = table.concat(parts, ",")
    else
      out[name] = tostring(v)
    end
  end
  return out
end

return M
