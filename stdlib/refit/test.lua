-- refit.test: the assertions of `refit test` (docs/testing.md).
--
--   local t = require "refit.test"
--   t.case("name", function() t.eq(actual, expected) end)
--
-- A case runs at once, when t.case is called. A failed assertion raises an
-- error that starts with the file:line of the assertion; t.case catches it,
-- records the case as failed and returns, so the file goes on with the next
-- case. After the file has run, the engine calls _report() for the tally.
--
-- Failure messages say what differs: "msg: .status.phase: expected "Running", got "Pending"".

local M = {}

local cases = {}         -- { name =, ok =, message = } in the order they ran
local running = nil      -- the name of the case being run

---------------------------------------------------------------------------
-- Showing values
---------------------------------------------------------------------------

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end          -- numbers before strings
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local LIMIT = 80  -- characters of a value shown in a message

-- a one-line rendering of v, tables in Lua syntax, cut at LIMIT characters
local function show(v, depth)
  if type(v) == "string" then return quote(v) end
  if type(v) ~= "table" then return tostring(v) end
  depth = depth or 0
  if depth > 2 then return "{...}" end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  for _, k in ipairs(sorted_keys(v)) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. show(k, depth + 1) .. "]"
      parts[#parts + 1] = key .. " = " .. show(v[k], depth + 1)
    end
  end
  local s = #parts == 0 and "{}" or "{ " .. table.concat(parts, ", ") .. " }"
  if #s > LIMIT then s = s:sub(1, LIMIT - 4) .. " ...}" end
  return s
end

-- how a key extends a path: .name, ["a-b"], [2]
local function path_of(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  return path .. "[" .. show(k) .. "]"
end

-- First difference between a and e: returns path, actual, expected, or nil
-- when equal. Tables are compared by content (metatables ignored); `seen`
-- guards against cycles.
local function diff(a, e, path, seen)
  if rawequal(a, e) then return nil end      -- also 1 and 1.0
  if type(a) ~= "table" or type(e) ~= "table" then return path, a, e end
  seen = seen or {}
  if seen[a] == e then return nil end
  seen[a] = e
  local keys, listed = {}, {}
  for _, t in ipairs { e, a } do
    for _, k in ipairs(sorted_keys(t)) do
      if not listed[k] then listed[k] = true; keys[#keys + 1] = k end
    end
  end
  for _, k in ipairs(keys) do
    local p, x, y = diff(rawget(a, k), rawget(e, k), path_of(path, k), seen)
    if p then return p, x, y end
  end
  return nil
end

---------------------------------------------------------------------------
-- Failing
---------------------------------------------------------------------------

-- Raises msg prefixed with the position of the test code that called the
-- assertion. Must be called (not tail-called) by the assertion itself:
-- level 1 is pcall, 2 fail, 3 the assertion, 4 the test code.
local function fail(msg)
  local _, pos = pcall(error, "", 4)
  error(pos .. msg, 0)
end

local function prefix(msg) return msg and msg .. ": " or "" end

---------------------------------------------------------------------------
-- Assertions
---------------------------------------------------------------------------

-- eq(actual, expected [, msg]): deep equality
function M.eq(actual, expected, msg)
  local path, a, e = diff(actual, expected, "")
  if path then
    local where = path ~= "" and path .. ": " or ""
    fail(prefix(msg) .. where .. "expected " .. show(e) .. ", got " .. show(a))
  end
end

-- ok(v [, msg]): v is neither nil nor false
function M.ok(v, msg)
  if not v then fail(prefix(msg) .. "expected a true value, got " .. show(v)) end
  return v
end

-- match(s, pattern [, msg]): a Lua pattern; returns the captures
function M.match(s, pattern, msg)
  if type(s) ~= "string" then
    fail(prefix(msg) .. "expected a string matching " .. quote(pattern) .. ", got " .. show(s))
  end
  local found = table.pack(s:match(pattern))
  if found[1] == nil then
    fail(prefix(msg) .. "expected a string matching " .. quote(pattern) .. ", got " .. show(s))
  end
  return table.unpack(found, 1, found.n)
end

-- contains(s, plain [, msg]): s contains the substring plain; when s is a
-- list, one of its elements equals plain (deeply)
function M.contains(s, plain, msg)
  if type(s) == "table" then
    for _, item in ipairs(s) do
      if not diff(item, plain, "") then return end
    end
    fail(prefix(msg) .. "expected a list containing " .. show(plain) .. ", got " .. show(s))
  end
  if type(s) ~= "string" then
    fail(prefix(msg) .. "expected a string containing " .. show(plain) .. ", got " .. show(s))
  end
  if not s:find(plain, 1, true) then
    fail(prefix(msg) .. "expected " .. show(s) .. " to contain " .. show(plain))
  end
end

-- raises(fn, plain [, msg]) -> the error message: fn must raise an error
-- whose text contains plain (any error when plain is nil)
function M.raises(fn, plain, msg)
  local ok, err = pcall(fn)
  if ok then
    fail(prefix(msg) .. "expected an error" .. (plain and " containing " .. show(plain) or "") ..
         ", but none was raised")
  end
  local text = tostring(err)
  if plain and not text:find(plain, 1, true) then
    fail(prefix(msg) .. "expected an error containing " .. show(plain) .. ", got " .. show(text))
  end
  return text
end

---------------------------------------------------------------------------
-- Whole-playbook runs
---------------------------------------------------------------------------

local Result = {}
Result.__index = Result

local function obj_key(o)
  local md = o.metadata or {}
  return (md.namespace or "") .. "/" .. (md.name or "")
end

-- r:objects(cluster, kind) -> the objects of that kind in the final world,
-- sorted by namespace/name. kind is "Node" (any group) or "core/Node".
function Result:objects(cluster, kind)
  local clusters = self.world and self.world.clusters or {}
  local c = clusters[cluster]
  if not c then
    local names = sorted_keys(clusters)
    error(string.format("no cluster %s in the final world (clusters: %s)", quote(tostring(cluster)),
                        table.concat(names, ", ")), 2)
  end
  local out = {}
  for key, list in pairs(c.objects or {}) do
    if key == kind or key:match("[^/]*$") == kind then
      for _, o in ipairs(list) do out[#out + 1] = o end
    end
  end
  table.sort(out, function(a, b) return obj_key(a) < obj_key(b) end)
  return out
end

local function event_matches(ev, name, fields)
  if ev.event ~= name then return false end
  for k, v in pairs(fields or {}) do
    if diff(ev[k], v, "") then return false end
  end
  return true
end

-- r:find(event [, fields]) -> the first event of that name whose fields equal fields, or nil
function Result:find(name, fields)
  for _, ev in ipairs(self.events or {}) do
    if event_matches(ev, name, fields) then return ev end
  end
  return nil
end

-- r:all(event [, fields]) -> every such event, in order
function Result:all(name, fields)
  local out = {}
  for _, ev in ipairs(self.events or {}) do
    if event_matches(ev, name, fields) then out[#out + 1] = ev end
  end
  return out
end

-- What playbook tests assert over and over, in the forms they compare exactly.

-- r:step_results() -> { "name=status", "name=skipped:reason", ... } for every step, in order
function Result:step_results()
  local out = {}
  for _, e in ipairs(self.events or {}) do
    if e.event == "step_finished" then out[#out + 1] = e.step .. "=" .. e.status
    elseif e.event == "step_skipped" then out[#out + 1] = e.step .. "=skipped:" .. e.reason end
  end
  return out
end

-- r:mutating_commands() -> the argv of every command run with mutates = true, joined by spaces
function Result:mutating_commands()
  local out = {}
  for _, e in ipairs(self:all("command")) do
    if e.mutates then out[#out + 1] = table.concat(e.argv, " ") end
  end
  return out
end

-- r:rollback_events() -> "rollback_started STEP", "step_rolled_back STEP STATUS",
-- "irreversible_reached STEP", "cleanup_finished STEP", in order
function Result:rollback_events()
  local out = {}
  for _, e in ipairs(self.events or {}) do
    if e.event == "rollback_started" then out[#out + 1] = "rollback_started " .. e.failed_step
    elseif e.event == "step_rolled_back" then out[#out + 1] = "step_rolled_back " .. e.step .. " " .. e.status
    elseif e.event == "irreversible_reached" then out[#out + 1] = "irreversible_reached " .. e.step
    elseif e.event == "cleanup_finished" then out[#out + 1] = "cleanup_finished " .. e.step end
  end
  return out
end

-- r:failed_checks([{ positions = false }]) -> { [check] = error, ... }, how many failed.
-- positions = false drops the "file:line: " an error starts with, leaving what the operator reads.
function Result:failed_checks(opts)
  local keep = not (opts and opts.positions == false)
  local out, n = {}, 0
  for _, e in ipairs(self:all("check_failed")) do
    out[e.check] = keep and e.error or (e.error:gsub("^[^:%s]+:%d+: ", ""))
    n = n + 1
  end
  return out, n
end

-- r:warnings() -> the messages of every warning logged, in order
function Result:warnings()
  local out = {}
  for _, e in ipairs(self:all("log", { level = "warn" })) do out[#out + 1] = e.message end
  return out
end

-- plan(opts) -> result: runs a playbook in a fresh VM and world through the
-- host, which the engine provides only under `refit test`
function M.plan(opts)
  local ok, host = pcall(require, "refit.testhost")
  if not ok then
    error("t.plan runs playbooks only under `refit test` (refit.testhost is not available)", 2)
  end
  return setmetatable(host.plan(opts), Result)
end

-- read_file(path) -> text: a file relative to the working directory (the repository root under
-- make test): shipped data, or what an apply wrote. Raises when it cannot be read.
function M.read_file(path)
  local ok, host = pcall(require, "refit.testhost")
  if not ok then error("t.read_file works only under `refit test`", 2) end
  local text, why = host.read_file(path)
  if text == nil then error(why, 2) end
  return text
end

---------------------------------------------------------------------------
-- Cases and the report
---------------------------------------------------------------------------

-- case(name, fn): runs fn now; a failure is recorded and does not stop the file
function M.case(name, fn)
  if running then
    error(string.format("t.case %s inside t.case %s: cases do not nest", quote(tostring(name)), quote(running)), 2)
  end
  if type(fn) ~= "function" then
    error(string.format("t.case %s: expected a function, got %s", quote(tostring(name)), type(fn)), 2)
  end
  -- where the case is written ("file:line"), for the report and JUnit
  local _, pos = pcall(error, "", 3)
  running = tostring(name)
  local ok, err = pcall(fn)
  running = nil
  cases[#cases + 1] = { name = tostring(name), ok = ok, message = not ok and tostring(err) or nil,
                        where = pos:match("^(.*): $") }
end

-- _report() -> passed, failed, lines, cases; the engine calls it after the
-- test file ran and prints the lines.
--   lines: "<file>: N passed, M failed", then per case in the order run
--          "  PASS  name" or "  FAIL  name", a failure followed by its message
--          (which starts with file:line) indented by 8 spaces, one line per
--          line of the message. Without cases: the single line "no test cases".
--   cases: { { name =, ok =, message = (failed only), where = "file:line" }, ... }
-- Resets the recorded cases, so that the next file starts from zero.
function M._report()
  local passed, failed, lines = 0, 0, { "" }
  for _, c in ipairs(cases) do
    if c.ok then
      passed = passed + 1
      lines[#lines + 1] = "  PASS  " .. c.name
    else
      failed = failed + 1
      lines[#lines + 1] = "  FAIL  " .. c.name
      for line in (c.message .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = "        " .. line end
    end
  end
  local file = cases[1] and cases[1].where and cases[1].where:match("^(.*):%d+$")
  if #cases == 0 then
    lines[1] = "no test cases"
  else
    lines[1] = string.format("%s%d passed, %d failed", file and file .. ": " or "", passed, failed)
  end
  local done = cases
  cases = {}
  return passed, failed, lines, done
end

return M
