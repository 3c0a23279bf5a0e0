-- ctx: what every hook of a playbook receives (docs/playbooks.md, "ctx").
--
-- The engine hands over `host`, its primitives (waits, commands, logs, state), already bound to
-- the run; this module gives them the shape playbook authors use: durations as text, formatted
-- messages, errors raised at the caller's line, and decoded JSON output.
local duration = require "refit.duration"
local json = require "refit.json"

local context = {}

-- Each ctx's host primitives, out of the playbook's reach: a playbook that called them directly
-- could, for one, run a command without it being counted as a change.
local hosts = setmetatable({}, { __mode = "k" })

local DEFAULT_WAIT_TIMEOUT = 10 * 60 * 1000
local DEFAULT_WAIT_INTERVAL = 10 * 1000

-- string.format only when there are arguments, so a message with a literal % needs no escaping.
local function message(fmt, ...)
  if fmt == nil then return "requirement failed" end
  if select("#", ...) == 0 then return tostring(fmt) end
  return string.format(fmt, ...)
end

local function to_ms(value, what)
  if value == nil then return nil end
  local ms, err = duration.parse(value)
  if not ms then error(what .. ": " .. err, 3) end
  return ms
end

-- Calls a host primitive. Errors without a position (a timeout, a failed command, a failure a
-- stdlib helper reported) are raised at the nearest playbook line, not inside the stdlib; errors
-- that carry a position keep it.
local function call_host(host, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if results[1] then return table.unpack(results, 2, results.n) end
  local err = results[2]
  if type(err) == "string" and not err:match("^[^%s:]+:%d+: ") then error(host.where() .. err, 0) end
  error(err, 0)
end

local Ctx = {}
Ctx.__index = Ctx

-- Fails the current phase with the message unless cond holds; returns cond.
function Ctx:require(cond, fmt, ...)
  if not cond then error(hosts[self].where() .. message(fmt, ...), 0) end
  return cond
end

function Ctx:fail(fmt, ...)
  error(hosts[self].where() .. message(fmt, ...), 0)
end

-- Calls predicate() until it returns true. It may return false, "why" to say what is missing.
function Ctx:wait(what, predicate, opts)
  if type(what) ~= "string" then error("ctx:wait: the first argument says what is awaited (a string)", 2) end
  if type(predicate) ~= "function" then error("ctx:wait: the second argument must be a function", 2) end
  opts = opts or {}
  local timeout = to_ms(opts.timeout, "ctx:wait timeout") or DEFAULT_WAIT_TIMEOUT
  local interval = to_ms(opts.interval, "ctx:wait interval") or DEFAULT_WAIT_INTERVAL
  local ok = call_host(hosts[self], hosts[self].wait, what, predicate, timeout, interval)  -- not a tail call: keep the frame
  return ok
end

-- Milliseconds since the run started (virtual time in a simulated world).
function Ctx:now()
  return hosts[self].now()
end

function Ctx:sleep(d)
  call_host(hosts[self], hosts[self].sleep, to_ms(d, "ctx:sleep") or 0)
end

-- ctx:exec { "prog", "arg", ..., mutates = bool, check = bool, timeout = d }
function Ctx:exec(cmd)
  if type(cmd) ~= "table" then error("ctx:exec expects a table: ctx:exec { \"prog\", \"arg\", mutates = true }", 2) end
  local argv = {}
  for i = 1, #cmd do argv[i] = tostring(cmd[i]) end
  local result = call_host(hosts[self], hosts[self].exec, argv, cmd.mutates == true, to_ms(cmd.timeout, "ctx:exec timeout"))
  local first = result.stdout:match("^%s*(.)")
  if first == "{" or first == "[" then
    result.json = json.decode(result.stdout)
  end
  if result.code ~= 0 and cmd.check ~= false then
    local detail = result.stderr:gsub("%s+$", "")
    if detail == "" then detail = result.stdout:gsub("%s+$", "") end
    error(hosts[self].where() .. string.format("%s exited %d%s", table.concat(argv, " "), result.code,
                                              detail ~= "" and (": " .. detail) or ""), 0)
  end
  return result
end

-- ctx.log(fmt, ...) and ctx.log.warn/info/debug(fmt, ...)
local function make_log(host)
  local log = {}
  for _, level in ipairs { "info", "warn", "debug" } do
    log[level] = function(fmt, ...) host.log(level, message(fmt, ...)) end
  end
  return setmetatable(log, { __call = function(_, fmt, ...) host.log("info", message(fmt, ...)) end })
end

-- ctx.state: a table whose every assignment is recorded (the journal will replay them).
local function make_state(host, initial)
  local values = {}
  for k, v in pairs(initial or {}) do values[k] = v end
  return setmetatable({}, {
    __index = values,
    __newindex = function(_, key, value)
      if type(key) ~= "string" then error("ctx.state keys must be strings", 2) end
      host.state_set(key, value)
      values[key] = value
    end,
    __pairs = function() return next, values, nil end,
  })
end

-- ctx.clusters: a missing name is a mistake worth naming, not a nil to trip over later.
local function guard_clusters(clusters)
  local names = {}
  for name in pairs(clusters) do names[#names + 1] = name end
  table.sort(names)
  return setmetatable(clusters, {
    __index = function(_, name)
      error(string.format("no cluster %q in this world (clusters: %s)", tostring(name), table.concat(names, ", ")), 2)
    end,
  })
end

-- Builds ctx. `clusters` maps names to handles; `default` is the default cluster's name.
function context.new(host, params, clusters, default)
  clusters = guard_clusters(clusters)
  local ctx = setmetatable({
    params = params,
    clusters = clusters,
    cluster = clusters[default],
    log = make_log(host),
    step = nil,
  }, Ctx)
  ctx.state = make_state(host)
  hosts[ctx] = host
  return ctx
end

return context
