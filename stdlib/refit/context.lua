-- ctx: what every hook of a playbook receives (docs/playbooks.md, "ctx").
--
-- The engine hands over `host`, its primitives (waits, commands, logs, state), already bound to
-- the run; this module gives them the shape playbook authors use: durations as text, formatted
-- messages, errors raised at the caller's line, and decoded JSON output.
local duration = require "refit.duration"
local json = require "refit.json"
local yaml = require "refit.yaml"

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
-- Every host primitive returns at most one value: no table per call (a wait's polls make many).
local function call_host(host, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return err end
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

-- ctx:write_file(path, content): a file on the operator's machine (a backup to restore from).
-- `refit plan` records what would be written; `refit apply` writes it, 0600, atomically.
function Ctx:write_file(path, content)
  if type(path) ~= "string" then error("ctx:write_file: the path must be a string, got " .. type(path), 2) end
  if type(content) ~= "string" then error("ctx:write_file: the content must be a string, got " .. type(content), 2) end
  call_host(hosts[self], hosts[self].write_file, path, content)
end

-- ctx.log(fmt, ...) and ctx.log.warn/info/debug(fmt, ...)
local function make_log(host)
  local log = {}
  for _, level in ipairs { "info", "warn", "debug" } do
    log[level] = function(fmt, ...) host.log(level, message(fmt, ...)) end
  end
  return setmetatable(log, { __call = function(_, fmt, ...) host.log("info", message(fmt, ...)) end })
end

-- ctx.state: a table whose every assignment is recorded (a resumed run starts from the journaled values).
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

-- The cluster a kubeconfig's current context points at: { name =, server = } or nil, why.
local function kubeconfig_target(text)
  if type(text) ~= "string" then return nil, "the kubeconfig must be a string, got " .. type(text) end
  local ok, doc = pcall(yaml.decode, text)
  if not ok or type(doc) ~= "table" then return nil, "it is not a kubeconfig (YAML with clusters, contexts and current-context)" end
  local current = doc["current-context"]
  local context_name
  for _, c in ipairs(doc.contexts or {}) do
    if c.name == current or (current == nil and #doc.contexts == 1) then context_name = c.context and c.context.cluster end
  end
  if not context_name then
    return nil, string.format("its current-context %q names no context", tostring(current))
  end
  for _, c in ipairs(doc.clusters or {}) do
    if c.name == context_name then return { name = c.name, server = c.cluster and c.cluster.server } end
  end
  return nil, string.format("its context %q names cluster %q, which it does not define", tostring(current), context_name)
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

-- Builds ctx. `clusters` maps names to handles; `default` is the default cluster's name; `state`
-- is ctx.state as a journaled run left it (refit resume, refit rollback), or nil.
function context.new(host, params, clusters, default, state)
  local by_name = {}
  for name, handle in pairs(clusters) do by_name[name] = handle end
  clusters = guard_clusters(clusters)
  local ctx = setmetatable({
    params = params,
    clusters = clusters,
    cluster = clusters[default],
    log = make_log(host),
    step = nil,
  }, Ctx)
  ctx.state = make_state(host, state)
  hosts[ctx] = host
  -- ctx:connect(kubeconfig [, what]): a handle on the cluster a kubeconfig (its text, e.g. from a
  -- CAPI `<cluster>-kubeconfig` Secret) reaches. A simulated world reaches the world's cluster of
  -- the same name as the kubeconfig's cluster entry. `what` names the kubeconfig's source in errors.
  function ctx.connect(_, text, what)
    what = what or "the kubeconfig"
    local target, why = kubeconfig_target(text)
    if not target then error(host.where() .. string.format("cannot use %s: %s", what, why), 0) end
    if host.connect then return host.connect(text, target.name) end
    local handle = by_name[target.name]
    if not handle then
      local names = {}
      for name in pairs(by_name) do names[#names + 1] = name end
      table.sort(names)
      error(host.where() .. string.format("%s reaches cluster %q (%s), which is not in this world (clusters: %s); " ..
        "add it to the fixture", what, target.name, tostring(target.server), table.concat(names, ", ")), 0)
    end
    return handle
  end
  return ctx
end

return context
