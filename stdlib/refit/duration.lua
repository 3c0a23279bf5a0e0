-- refit.duration: durations as playbooks write them ("90s", "10m", "1h30m")
-- and as the engine uses them (integer milliseconds).
--
-- parse(v)   -> ms, or nil, message
--   * an integer number (or an integral float such as 1000.0 from a JSON
--     decoder) is already milliseconds;
--   * a string is one or more <number><unit> terms, unit one of
--     ms, s, m, h, d ("1h30m", "500ms", "1.5s"); "0" alone is zero.
--     A bare number other than "0" is refused: "--set wait=30" could mean
--     seconds or milliseconds, so the unit must be said.
--
-- format(ms) -> short text for reports. The scheme:
--   0                 "0s"
--   under 1 second    "850ms"
--   under 1 minute    "42s", or "1.5s" / "42.25s" when there are milliseconds
--   from 1 minute on  hours, minutes and seconds: the first unit unpadded,
--                     the others on two digits, zero units at the end left
--                     out, milliseconds dropped:
--                     "3m", "3m05s", "1h", "1h12m", "2h00m03s", "26h"
-- Every text that format produces is accepted by parse, and gives the
-- value back for whole seconds (and below a minute, exactly).

local M = {}

local UNIT_MS = { ms = 1, s = 1000, m = 60 * 1000, h = 3600 * 1000, d = 24 * 3600 * 1000 }

local function invalid(v)
  if type(v) ~= "string" and type(v) ~= "number" then
    return nil, "invalid duration: expected e.g. 90s, 10m, 1h30m, got " .. type(v)
  end
  return nil, string.format("invalid duration %q: expected e.g. 90s, 10m, 1h30m", tostring(v))
end

function M.parse(v)
  if type(v) == "number" then
    local ms = math.tointeger(v)
    if not ms or ms < 0 then return invalid(v) end
    return ms
  end
  if type(v) ~= "string" then return invalid(v) end
  if v == "0" then return 0 end

  local total, pos = 0, 1
  while pos <= #v do
    -- a term: digits with an optional fraction, then a unit ("ms" before "m")
    local num, unit, next_pos = v:match("^(%d+%.?%d*)(%a+)()", pos)
    if not num or not UNIT_MS[unit] then return invalid(v) end
    total = total + tonumber(num) * UNIT_MS[unit]
    pos = next_pos
  end
  if pos == 1 then return invalid(v) end           -- the empty string
  -- fractions ("1.5s") may leave a sub-millisecond remainder: round it;
  -- a value too large for an integer is refused rather than kept as a float
  local ms = math.tointeger(math.floor(total + 0.5))
  if not ms then return invalid(v) end
  return ms
end

function M.format(ms)
  ms = math.tointeger(ms) or math.floor(ms + 0.5)
  if ms < 0 then return "-" .. M.format(-ms) end
  if ms == 0 then return "0s" end
  if ms < 1000 then return ms .. "ms" end
  if ms < 60000 then
    local s, rest = ms // 1000, ms % 1000
    if rest == 0 then return s .. "s" end
    -- three decimals without their trailing zeros: 1.5s, 42.25s, 1.001s
    return (string.format("%d.%03d", s, rest):gsub("0+$", "")) .. "s"
  end

  local secs = ms // 1000
  local h, m, s = secs // 3600, secs % 3600 // 60, secs % 60
  local parts = {}
  if h > 0 then parts[#parts + 1] = h .. "h" end
  if m > 0 or (h > 0 and s > 0) then
    parts[#parts + 1] = string.format(h > 0 and "%02dm" or "%dm", m)
  end
  if s > 0 then parts[#parts + 1] = string.format("%02ds", s) end
  return table.concat(parts)
end

return M
