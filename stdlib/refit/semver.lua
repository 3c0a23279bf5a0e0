-- refit.semver: versions as Kubernetes and the vendors write them.
--
--   "1.21"  "v1.21.2"  "v1.21.2-eks-0389ca3"  "2.22.4"  "1.2.0-1.1.0"  "v1.8.4-eksbuild.1"
--
-- A version is MAJOR.MINOR[.PATCH][-PRE][+BUILD] with an optional leading "v"
-- and surrounding spaces ignored (so command output can be parsed as is).
-- Every function takes strings or tables returned by parse. A string that is
-- not a version is a programming error there, so it raises; only parse
-- returns nil, message (it is the one to call on untrusted text).
--
-- Order is semver precedence: numeric MAJOR, MINOR, PATCH (a missing patch
-- is 0), then a version with a pre-release sorts before the same version
-- without one, and pre-releases compare identifier by identifier (numbers
-- numerically, below words). BUILD is ignored. Kubernetes' own version
-- package reads vendor suffixes the same way, so
--   v1.21.2-eks-0389ca3 < v1.21.2       (compare core(v) to ignore a suffix)
--   1.2.0-1.0.0 < 1.2.0-1.1.0           (Kaptain's <kubeflow>-<kaptain>)
--   v1.8.4-eksbuild.1 < v1.8.4-eksbuild.2

local M = {}

-- Parsed versions share this metatable: they print as tostring(v) and
-- compare with the ordinary operators (v1 < v2, v1 == v2).
local Version = {}

local function bad_version(s)
  if type(s) == "string" then
    return string.format("invalid version %q: expected e.g. 1.21, v1.21.2, 2.22.4", s)
  end
  return "invalid version: expected e.g. 1.21, v1.21.2, 2.22.4, got " .. type(s)
end

-- dot-separated identifiers of [0-9A-Za-z-], none empty (semver 2.0 rules)
local function valid_identifiers(s)
  for id in (s .. "."):gmatch("(.-)%.") do
    if not id:match("^[%w%-]+$") then return false end
  end
  return true
end

local function parse_string(s)
  local body = s:match("^%s*[vV]?(.-)%s*$")
  local major, minor, rest = body:match("^(%d+)%.(%d+)(.*)$")
  if not major then return nil end

  local patch, after_patch = rest:match("^%.(%d+)(.*)$")
  if patch then rest = after_patch end

  local build
  local plus = rest:find("+", 1, true)
  if plus then
    build, rest = rest:sub(plus + 1), rest:sub(1, plus - 1)
    if not valid_identifiers(build) then return nil end
  end

  local pre
  if rest ~= "" then
    pre = rest:match("^%-(.+)$")
    if not pre or not valid_identifiers(pre) then return nil end
  end

  return setmetatable({
    major = math.tointeger(tonumber(major)),
    minor = math.tointeger(tonumber(minor)),
    patch = patch and math.tointeger(tonumber(patch)) or 0,
    pre = pre,
    build = build,
    raw = s,
    -- the text gave no patch: tostring keeps it short and a range
    -- comparator such as "<1.23" compares only major and minor
    partial = patch == nil or nil,
  }, Version)
end

-- parse(s) -> version table, or nil, message
function M.parse(s)
  if getmetatable(s) == Version then return s end
  if type(s) ~= "string" then return nil, bad_version(s) end
  local v = parse_string(s)
  if not v then return nil, bad_version(s) end
  return v
end

-- Coerces an argument of a public function; raises at that function's caller.
local function need(s)
  if getmetatable(s) == Version then return s end
  local v = type(s) == "string" and parse_string(s)
  if not v then error(bad_version(s), 3) end
  return v
end

-- numeric identifiers compare as numbers (by length first, so that any
-- size works), and sort below alphanumeric ones
local function compare_identifier(a, b)
  local an, bn = a:match("^%d+$"), b:match("^%d+$")
  if an and bn then
    a, b = a:gsub("^0+(%d)", "%1"), b:gsub("^0+(%d)", "%1")
    if #a ~= #b then return #a < #b and -1 or 1 end
  elseif an then return -1
  elseif bn then return 1
  end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function compare_pre(a, b)
  if a == b then return 0 end
  if not a then return 1 end          -- a release is above its pre-releases
  if not b then return -1 end
  local ia, ib = a:gmatch("[^.]+"), b:gmatch("[^.]+")
  while true do
    local x, y = ia(), ib()
    if not x and not y then return 0 end
    if not x then return -1 end       -- fewer identifiers sort first
    if not y then return 1 end
    local c = compare_identifier(x, y)
    if c ~= 0 then return c end
  end
end

local function cmp_num(a, b)
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function cmp(a, b)
  local c = cmp_num(a.major, b.major)
  if c == 0 then c = cmp_num(a.minor, b.minor) end
  if c == 0 then c = cmp_num(a.patch, b.patch) end
  if c == 0 then c = compare_pre(a.pre, b.pre) end
  return c
end

-- compare(a, b) -> -1, 0 or 1
function M.compare(a, b) return cmp(need(a), need(b)) end
function M.lt(a, b) return cmp(need(a), need(b)) < 0 end
function M.le(a, b) return cmp(need(a), need(b)) <= 0 end
function M.eq(a, b) return cmp(need(a), need(b)) == 0 end
function M.gt(a, b) return cmp(need(a), need(b)) > 0 end
function M.ge(a, b) return cmp(need(a), need(b)) >= 0 end

Version.__eq = function(a, b) return cmp(a, b) == 0 end
Version.__lt = function(a, b) return cmp(need(a), need(b)) < 0 end
Version.__le = function(a, b) return cmp(need(a), need(b)) <= 0 end

local function to_string(v)
  local s = v.major .. "." .. v.minor
  if not v.partial then s = s .. "." .. v.patch end
  if v.pre then s = s .. "-" .. v.pre end
  if v.build then s = s .. "+" .. v.build end
  return s
end
Version.__tostring = to_string

-- tostring(v) -> "1.21.2-eks-0389ca3": normalized, without the leading "v"
-- (v.raw keeps the text as given); the patch is written only if it was given
function M.tostring(v) return to_string(need(v)) end

-- core(v) -> "1.21.2": major.minor.patch alone, to compare without a suffix
function M.core(v)
  local p = need(v)
  return p.major .. "." .. p.minor .. "." .. p.patch
end

-- minor_of("v1.21.2-eks-1") -> "1.21"
function M.minor_of(v)
  local p = need(v)
  return p.major .. "." .. p.minor
end

function M.same_minor(a, b)
  local x, y = need(a), need(b)
  return x.major == y.major and x.minor == y.minor
end

-- is_next_minor("1.21.5", "v1.22.0") -> true: exactly one minor up, same major
function M.is_next_minor(from, to)
  local x, y = need(from), need(to)
  return x.major == y.major and y.minor == x.minor + 1
end

-- minor_distance(a, b) -> b's minor minus a's (negative when b is older);
-- raises when the majors differ, where minor distance has no meaning
function M.minor_distance(a, b)
  local x, y = need(a), need(b)
  if x.major ~= y.major then
    error(string.format("semver.minor_distance: %s and %s have different major versions",
                        to_string(x), to_string(y)), 2)
  end
  return y.minor - x.minor
end

-- next_minor("1.21.3") -> "1.22"
function M.next_minor(v)
  local p = need(v)
  return p.major .. "." .. (p.minor + 1)
end

-- route_minors("1.21.4", "1.23") -> {"1.21", "1.22", "1.23"}: every minor
-- from one to the other, so that consecutive entries are one-minor hops.
-- Raises for a downgrade or a change of major version (no such route).
function M.route_minors(from, to)
  local x, y = need(from), need(to)
  if x.major ~= y.major or y.minor < x.minor then
    error(string.format("semver.route_minors: no upgrade route from %s to %s",
                        to_string(x), to_string(y)), 2)
  end
  local route = {}
  for minor = x.minor, y.minor do route[#route + 1] = x.major .. "." .. minor end
  return route
end

-- max(list) -> the greatest element, as given (string or table); nil if empty.
-- Of equal versions the first wins.
function M.max(list)
  local best, best_v
  for _, s in ipairs(list) do
    local v = need(s)
    if not best_v or cmp(v, best_v) > 0 then best, best_v = s, v end
  end
  return best
end

-- Range comparators. A partial bound (no patch, e.g. "1.23") compares only
-- major and minor, so "<=1.22" admits 1.22.9 and "<1.23" refuses 1.23.0-rc.1.
local OPS = {
  [">="] = function(c) return c >= 0 end,
  [">"]  = function(c) return c > 0 end,
  ["<="] = function(c) return c <= 0 end,
  ["<"]  = function(c) return c < 0 end,
  ["="]  = function(c) return c == 0 end,
  ["=="] = function(c) return c == 0 end,
  ["!="] = function(c) return c ~= 0 end,
}

local function compare_to_bound(v, bound)
  if bound.partial and not bound.pre and not bound.build then
    local c = cmp_num(v.major, bound.major)
    if c == 0 then c = cmp_num(v.minor, bound.minor) end
    return c
  end
  return cmp(v, bound)
end

local function bad_range(range)
  return string.format("invalid version range %q: expected e.g. \">=1.21 <1.23\" or \"1.21 || >=1.23\"",
                       tostring(range))
end

-- satisfies(v, ">=1.21 <1.23") -> bool. Comparators separated by spaces (or
-- commas) must all hold; alternatives are separated by "||". Operators:
-- >= > <= < = == != ; no operator means "=" ("1.21" is any 1.21.x).
function M.satisfies(v, range)
  local p = need(v)
  if type(range) ~= "string" then error(bad_range(range), 2) end
  local any = false
  -- ">= 1.21" is written ">=1.21" for the term splitter below
  for alt in (range:gsub("([<>=!]+)%s+", "%1") .. "||"):gmatch("(.-)||") do
    local all, count = true, 0
    for term in alt:gmatch("[^%s,]+") do
      local op, text = term:match("^([<>=!]*)(.+)$")
      local bound = op and OPS[op ~= "" and op or "="] and parse_string(text)
      if not bound then error(bad_range(range), 2) end
      count = count + 1
      if not OPS[op ~= "" and op or "="](compare_to_bound(p, bound)) then all = false end
    end
    if count == 0 then error(bad_range(range), 2) end
    if all then any = true end
  end
  return any
end

return M
