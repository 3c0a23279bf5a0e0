-- refit.sim.util: small pure helpers shared by the simulation models.
--
-- Nothing here touches the world: no W, no clock, no randomness. Everything is deterministic, so
-- iteration over maps always goes through sorted keys (Lua's `pairs` order differs between runs).

local M = {}

-- Tables -----------------------------------------------------------------------------------------

-- Deep copy. Metatables are kept, so lists decoded from JSON keep their array marker and an empty
-- one still encodes as [].
function M.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy(x) end
  return setmetatable(out, getmetatable(v))
end

local function mixed_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  return a < b
end

-- The keys of a table, sorted (numbers before strings).
function M.sorted_keys(t)
  local keys, n, strings = {}, 0, true
  for k in pairs(t or {}) do
    n = n + 1
    keys[n] = k
    if strings and type(k) ~= "string" then strings = false end
  end
  if strings then table.sort(keys) else table.sort(keys, mixed_less) end
  return keys
end

-- for k, v in util.spairs(t): pairs in sorted key order.
function M.spairs(t)
  local keys, i = M.sorted_keys(t), 0
  return function()
    i = i + 1
    local k = keys[i]
    if k ~= nil then return k, t[k] end
  end
end

-- A deterministic text for any data value: keys sorted, so equal values give equal text.
-- Used as a fingerprint of pod templates and as the input of name hashes.
function M.canonical(v)
  local parts = {}
  local function walk(x)
    local t = type(x)
    if t == "table" then
      parts[#parts + 1] = "{"
      for _, k in ipairs(M.sorted_keys(x)) do
        parts[#parts + 1] = tostring(k)
        parts[#parts + 1] = "="
        walk(x[k])
        parts[#parts + 1] = ","
      end
      parts[#parts + 1] = "}"
    elseif t == "string" then
      parts[#parts + 1] = string.format("%q", x)
    else
      parts[#parts + 1] = tostring(x)
    end
  end
  walk(v)
  return table.concat(parts)
end

-- Structural equality of two data values (no ordering, no allocation).
function M.deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not M.deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Whether two flat maps (labels, say) hold the same keys with equal (==) values. Cheaper than
-- deep_equal; a table value only equals itself.
function M.same_map(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local n = 0
  for k, v in pairs(a) do
    if b[k] ~= v then return false end
    n = n + 1
  end
  for _ in pairs(b) do n = n - 1 end
  return n == 0
end

-- t[k1][k2]... or nil
M.get = require("refit.k8s").path

-- Hashes and names -------------------------------------------------------------------------------

-- 32-bit FNV-1a of a string (bytes read 64 at a time: one string.byte call per chunk, not per byte).
local byte = string.byte
function M.fnv1a(s)
  local h = 2166136261
  local n = #s
  for i = 1, n, 64 do
    local last = i + 63
    if last > n then last = n end
    local bytes = { byte(s, i, last) }
    for j = 1, last - i + 1 do
      h = ((h ~ bytes[j]) * 16777619) & 0xffffffff
    end
  end
  return h
end

-- The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alike characters).
M.NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

-- `n` characters of that alphabet derived from `s` (a pod-template-hash like "5d78c9869d").
function M.hash_name(s, n)
  local out, h, salt = {}, M.fnv1a(s), 0
  local a = M.NAME_ALPHABET
  for _ = 1, n do
    if h < #a then
      salt = salt + 1
      h = M.fnv1a(s .. "#" .. salt)
    end
    local i = h % #a
    out[#out + 1] = a:sub(i + 1, i + 1)
    h = h // #a
  end
  return table.concat(out)
end

-- `n` lowercase hex digits derived from `s` (one hash of s, stretched by a xorshift generator).
local format = string.format
function M.hash_hex(s, n)
  local x = M.fnv1a(s) | 1
  local out = {}
  for i = 1, (n + 7) // 8 do
    x = x ~ (x << 13) & 0xffffffff
    x = x ~ (x >> 17)
    x = x ~ (x << 5) & 0xffffffff
    out[i] = x
  end
  local k = #out
  return format(string.rep("%08x", k), table.unpack(out, 1, k)):sub(1, n)
end

-- Time -------------------------------------------------------------------------------------------

-- Virtual time 0 is this instant (the engine's store uses the same epoch for creationTimestamp).
M.EPOCH = "2026-01-01T00:00:00Z"

-- days since 1970-01-01 of a civil date (Howard Hinnant's algorithm)
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp + (mp < 10 and 3 or -9)
  return m <= 2 and y + 1 or y, m, d
end

-- "2026-01-01T00:00:00Z" -> milliseconds since the Unix epoch, or nil
function M.parse_time(s)
  local y, mo, d, h, mi, sec = tostring(s):match("^(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(sec) * 1000
end

local EPOCH_MS = M.parse_time(M.EPOCH)

local function split_time(ms)
  local total_s = ms // 1000
  local days, rest = total_s // 86400, total_s % 86400
  local y, m, d = civil_from_days(days)
  return y, m, d, rest // 3600, rest % 3600 // 60, rest % 60, ms % 1000
end

-- Kubernetes timestamps for virtual time `now_ms`: "2026-01-01T00:12:30Z" (the last one is kept:
-- controllers ask for the same instant many times in a row)
local last_ms, last_text
function M.k8s_time(now_ms)
  if now_ms == last_ms then return last_text end
  local y, m, d, h, mi, s = split_time(EPOCH_MS + now_ms)
  last_ms, last_text = now_ms, string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, h, mi, s)
  return last_text
end

-- The AWS CLI's timestamps: "2026-01-01T00:12:30.250000+00:00"
function M.aws_time(now_ms)
  local y, m, d, h, mi, s, ms = split_time(EPOCH_MS + now_ms)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", y, m, d, h, mi, s, ms)
end

-- eksctl's log prefix: "2026-01-01 00:12:30"
function M.log_time(now_ms)
  local y, m, d, h, mi, s = split_time(EPOCH_MS + now_ms)
  return string.format("%04d-%02d-%02d %02d:%02d:%02d", y, m, d, h, mi, s)
end

-- Kubernetes values ------------------------------------------------------------------------------

-- An IntOrString such as 1 or "25%" resolved against `total` (percentages round up when
-- `round_up`, as maxSurge does, else down, as maxUnavailable does). nil when v is nil.
function M.int_or_percent(v, total, round_up)
  if v == nil then return nil end
  if math.type(v) == "integer" then return v end
  if type(v) == "number" then return math.floor(v) end
  local p = tostring(v):match("^(%d+)%%$")
  if p then
    local exact = tonumber(p) * total / 100
    return round_up and math.ceil(exact) or math.floor(exact)
  end
  return tonumber(v) and math.floor(tonumber(v)) or nil
end

-- Whether `labels` satisfy a LabelSelector ({matchLabels=, matchExpressions=}). An empty selector
-- matches everything, as in policy/v1 PodDisruptionBudgets.
function M.selector_matches(selector, labels)
  labels = labels or {}
  if type(selector) ~= "table" then return true end
  for k, v in pairs(selector.matchLabels or {}) do
    if labels[k] ~= v then return false end
  end
  for _, e in ipairs(selector.matchExpressions or {}) do
    local have = labels[e.key]
    local in_values = false
    for _, x in ipairs(e.values or {}) do
      if x == have then in_values = true end
    end
    if e.operator == "In" and not in_values then return false end
    if e.operator == "NotIn" and have ~= nil and in_values then return false end
    if e.operator == "Exists" and have == nil then return false end
    if e.operator == "DoesNotExist" and have ~= nil then return false end
  end
  return true
end

-- Whether a plain map selector (nodeSelector) is satisfied by labels.
function M.map_matches(selector, labels)
  labels = labels or {}
  for k, v in pairs(selector or {}) do
    if labels[k] ~= v then return false end
  end
  return true
end

-- Whether a pod with these tolerations may be scheduled onto a node with these taints
-- (NoSchedule and NoExecute taints must be tolerated; PreferNoSchedule never blocks).
function M.tolerates(tolerations, taints)
  for _, taint in ipairs(taints or {}) do
    if taint.effect == "NoSchedule" or taint.effect == "NoExecute" then
      local ok = false
      for _, t in ipairs(tolerations or {}) do
        local effect_ok = t.effect == nil or t.effect == "" or t.effect == taint.effect
        local key_ok = t.key == nil or t.key == "" or t.key == taint.key
        local value_ok = t.operator == "Exists" or (t.value or "") == (taint.value or "")
        if effect_ok and key_ok and value_ok and (t.key ~= nil and t.key ~= "" or t.operator == "Exists") then
          ok = true
          break
        end
      end
      if not ok then return false end
    end
  end
  return true
end

-- Whether a node's labels satisfy requiredDuringSchedulingIgnoredDuringExecution node affinity
-- (any term may match; every expression of a term must).
function M.node_affinity_matches(affinity, labels)
  local terms = M.get(affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
  if type(terms) ~= "table" or #terms == 0 then return true end
  for _, term in ipairs(terms) do
    if M.selector_matches({ matchExpressions = term.matchExpressions }, labels) then return true end
  end
  return false
end

-- "a/b" keys for namespaced objects, "b" for cluster-scoped ones.
function M.key(ns, name) return (ns and ns ~= "") and (ns .. "/" .. name) or name end

-- Strings ----------------------------------------------------------------------------------------

-- Replaces "{i}" in every string of a data value (the cluster generator's template).
function M.substitute(v, vars)
  if type(v) == "string" then
    return (v:gsub("{(%w+)}", function(k) return vars[k] ~= nil and tostring(vars[k]) or nil end))
  elseif type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[M.substitute(k, vars)] = M.substitute(x, vars) end
    return setmetatable(out, getmetatable(v))
  end
  return v
end

-- Durations in fixture and scenario files: "90s", "15m", "1h30m", or milliseconds as a number.
function M.parse_duration(v)
  if math.type(v) == "integer" then return v end
  if type(v) ~= "string" or v == "" then return nil end
  local total, rest = 0, v
  local units = { ms = 1, s = 1000, m = 60000, h = 3600000 }
  while rest ~= "" do
    local n, unit, tail = rest:match("^(%d+)(ms)(.*)$")
    if not n then n, unit, tail = rest:match("^(%d+)([smh])(.*)$") end
    if not n then return nil end
    total = total + tonumber(n) * units[unit]
    rest = tail
  end
  return total
end

return M
