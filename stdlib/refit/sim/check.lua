-- refit.sim.check: validation of fixture and scenario fields, with errors that name the field path
-- (`clusters.demo.eks.nodegroups[2].desiredSize`) and say what was expected and what was found.
--
--   local check = require("refit.sim.check").new(W.fixture_error)
--   local v = check:string("clusters.demo.eks.version", t.version)
--
-- List indices in paths count from 1, like Lua (the first node group is nodegroups[1]).

local C = {}
C.__index = C

local M = {}

-- `fail(path, fmt, ...)` must raise (W.fixture_error does).
function M.new(fail)
  return setmetatable({ fail = fail }, C)
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = #v
  if n == 0 then return next(v) == nil end
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  return count == n
end
M.is_list = is_list

-- "number 1.2", "a list", "a map", "string \"x\"": what was found, for messages
local function describe(v)
  local t = type(v)
  if t == "table" then return is_list(v) and "a list" or "a map" end
  if t == "string" then return string.format("string %q", v) end
  if t == "nil" then return "nothing" end
  return t .. " " .. tostring(v)
end
M.describe = describe

function M.field(path, key) return path == "" and key or (path .. "." .. key) end
function M.index(path, i) return string.format("%s[%d]", path, i) end

function C:error(path, fmt, ...) self.fail(path, fmt, ...) end

-- A required value is present (nil is not).
function C:required(path, v, what)
  if v == nil then self.fail(path, "is required%s", what and (": " .. what) or "") end
  return v
end

function C:string(path, v, opts)
  opts = opts or {}
  if v == nil then
    if opts.required then self.fail(path, "is required (a string)") end
    return opts.default
  end
  if type(v) ~= "string" then
    if opts.version and type(v) == "number" then
      -- YAML reads an unquoted 1.20 as the number 1.2: say how to write it
      local s = string.format("%g", v)
      if s:match("^%d+%.%d$") then s = s .. "0" end
      self.fail(path, "must be a string (quote it: \"%s\"), got number %s", s, tostring(v))
    end
    self.fail(path, "must be a string, got %s", describe(v))
  end
  if opts.pattern and not v:match(opts.pattern) then
    self.fail(path, "must look like %s, got %q", opts.example or opts.pattern, v)
  end
  return v
end

function C:int(path, v, opts)
  opts = opts or {}
  if v == nil then
    if opts.required then self.fail(path, "is required (an integer)") end
    return opts.default
  end
  if math.type(v) ~= "integer" then
    if type(v) == "number" and v == math.floor(v) then
      v = math.tointeger(v)
    else
      self.fail(path, "must be an integer, got %s", describe(v))
    end
  end
  if opts.min and v < opts.min then self.fail(path, "must be at least %d, got %d", opts.min, v) end
  if opts.max and v > opts.max then self.fail(path, "must be at most %d, got %d", opts.max, v) end
  return v
end

function C:bool(path, v, opts)
  opts = opts or {}
  if v == nil then return opts.default end
  if type(v) ~= "boolean" then self.fail(path, "must be true or false, got %s", describe(v)) end
  return v
end

-- A map (a table that is not a non-empty list); an empty YAML {} or [] both pass.
function C:map(path, v, opts)
  opts = opts or {}
  if v == nil then
    if opts.required then self.fail(path, "is required (a map)") end
    return opts.default
  end
  if type(v) ~= "table" or (is_list(v) and #v > 0) then
    self.fail(path, "must be a map, got %s", describe(v))
  end
  return v
end

function C:list(path, v, opts)
  opts = opts or {}
  if v == nil then
    if opts.required then self.fail(path, "is required (a list)") end
    return opts.default
  end
  if not is_list(v) then self.fail(path, "must be a list, got %s", describe(v)) end
  return v
end

-- A map of string -> string (labels, annotations).
function C:string_map(path, v)
  if v == nil then return nil end
  self:map(path, v)
  for k, x in pairs(v) do
    if type(x) ~= "string" then
      self.fail(M.field(path, tostring(k)), "must be a string (quote it), got %s", describe(x))
    end
  end
  return v
end

function C:oneof(path, v, values, opts)
  opts = opts or {}
  if v == nil then
    if opts.required then self.fail(path, "is required: one of %s", table.concat(values, ", ")) end
    return opts.default
  end
  for _, x in ipairs(values) do
    if x == v then return v end
  end
  self.fail(path, "must be one of %s, got %s", table.concat(values, ", "), describe(v))
end

-- Rejects fields not in `known` (a list of names): catches typos such as `desiredsize`.
function C:known_fields(path, t, known)
  local set = {}
  for _, k in ipairs(known) do set[k] = true end
  local bad = {}
  for k in pairs(t) do
    if not set[k] then bad[#bad + 1] = tostring(k) end
  end
  if #bad > 0 then
    table.sort(bad)
    local sorted = {}
    for _, k in ipairs(known) do sorted[#sorted + 1] = k end
    table.sort(sorted)
    self.fail(M.field(path, bad[1]), "unknown field (known fields: %s)", table.concat(sorted, ", "))
  end
end

-- A duration ("90s", "15m", "1h30m", or milliseconds); returns milliseconds.
function C:duration(path, v, opts)
  opts = opts or {}
  if v == nil then return opts.default end
  local ms = require("refit.sim.util").parse_duration(v)
  if not ms then self.fail(path, "must be a duration such as \"90s\", \"15m\" or \"1h30m\", got %s", describe(v)) end
  return ms
end

return M
