-- refit.sim.tools: the simulated command-line tools that several models share a program of.
--
-- `dkp` has subcommands from two models (upgrades of DKP 2.x, the Konvoy 1.8 adoption), `kubectl`
-- has `kudo`, and more may come. Each model registers the subcommands it implements; the registry
-- owns the program (one W.tool per program) and dispatches on the longest registered run of leading
-- words, the way cobra-based CLIs (dkp, kubectl, velero, helm) do.
--
--   local tools = require("refit.sim.tools")(W)     -- one registry per world (init.lua makes it)
--   tools.command("dkp", "upgrade kommander", function(args, call) ... end, { flags = {...} })
--
-- `words` "" registers the program's root: it answers argv that names no subcommand, such as
-- `kubermatic-installer --version`.
--
-- A handler gets `args` = { pos = {...}, flags = { name = value } } (the words after the
-- subcommand, flags parsed by the command's flag spec) and `call` (W.tool's: the default cluster),
-- and returns W.tool's result { code, stdout, stderr, duration }.
--
-- Flag specs: { ["name"] = "string" | "bool" | "list", ... } and `short = { c = "cluster-name" }`.
-- A flag not in the spec is refused as cobra does: `Error: unknown flag: --x` (exit 1). "list"
-- flags may repeat and collect their values in order.

local util = require "refit.sim.util"

-- The flags every cobra program accepts.
local GLOBAL_FLAGS = { help = "bool", kubeconfig = "string", context = "string", verbose = "string" }

local function fail(program, fmt, ...)
  local msg = string.format(fmt, ...)
  return { code = 1, stdout = "", stderr = "Error: " .. msg .. "\nRun '" .. program .. " --help' for usage.\n", duration = 100 }
end

-- Parses argv by a flag spec. Returns { pos =, flags = } or nil, error text.
local function parse(argv, spec, short)
  local pos, flags = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^%-%-([^=]+)=(.*)$")
    if not name then name = a:match("^%-%-(.+)$") end
    if not name and a:match("^%-%a$") then
      name = short[a:sub(2)]
      if not name then return nil, "unknown shorthand flag: '" .. a:sub(2) .. "' in " .. a end
    end
    if name then
      local kind = spec[name] or GLOBAL_FLAGS[name]
      if not kind then return nil, "unknown flag: --" .. name end
      if kind == "bool" then
        if value ~= nil and value ~= "true" and value ~= "false" then
          return nil, string.format("invalid argument %q for \"--%s\" flag: strconv.ParseBool: parsing %q: invalid syntax",
                                    value, name, value)
        end
        flags[name] = value ~= "false"
      else
        if value == nil then
          value = argv[i + 1]
          if value == nil then return nil, "flag needs an argument: --" .. name end
          i = i + 1
        end
        if kind == "list" then
          flags[name] = flags[name] or {}
          table.insert(flags[name], value)
        else
          flags[name] = value
        end
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return { pos = pos, flags = flags }
end

return function(W)
  local T = {}
  local programs = {}   -- program -> { [words] = { fn =, spec =, short = } }

  local function dispatch(program)
    return function(argv, call)
      local commands = programs[program]
      -- the longest run of leading words that names a command
      local best, best_n = nil, -1
      local words = {}
      for i = 1, #argv do
        if argv[i]:sub(1, 1) == "-" then break end
        words[#words + 1] = argv[i]
        local cmd = commands[table.concat(words, " ")]
        if cmd and i > best_n then best, best_n = cmd, i end
      end
      if not best and commands[""] then best, best_n = commands[""], 0 end
      if not best then
        local first = argv[1]
        if first == nil or first:sub(1, 1) == "-" then
          local names = {}
          for _, name in ipairs(util.sorted_keys(commands)) do
            if name ~= "" then names[#names + 1] = name end
          end
          return fail(program, "a command is required (known: %s)", table.concat(names, ", "))
        end
        -- name the deepest word that is not a known command, as cobra does
        return fail(program, "unknown command %q for %q", first, program)
      end
      local rest = {}
      for i = best_n + 1, #argv do rest[#rest + 1] = argv[i] end
      local args, err = parse(rest, best.spec, best.short)
      if not args then return fail(program, "%s", err) end
      return best.fn(args, call)
    end
  end

  -- Registers `program words...`. opts: { flags = spec, short = { c = "name" } }.
  function T.command(program, words, fn, opts)
    opts = opts or {}
    if not programs[program] then
      programs[program] = {}
      W.tool(program, dispatch(program))
    end
    if programs[program][words] then error("tool command registered twice: " .. program .. " " .. words, 2) end
    programs[program][words] = { fn = fn, spec = opts.flags or {}, short = opts.short or {} }
  end

  -- Results in the shapes the models return.
  function T.ok(stdout, duration)
    return { code = 0, stdout = stdout or "", stderr = "", duration = duration or 100 }
  end

  -- A command's own refusal, "Error: ..." on stderr (no usage hint: the command line was right).
  -- `program` names the tool for the reader of the call site.
  function T.error(program, duration, fmt, ...)
    local _ = program
    return { code = 1, stdout = "", stderr = "Error: " .. string.format(fmt, ...) .. "\n", duration = duration or 100 }
  end

  return T
end
