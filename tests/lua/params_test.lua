-- refit.params: parameter specs, resolution of --set / YAML values, and the
-- messages that tell the operator how to fix a bad invocation.
local t = require "refit.test"
local params = require "refit.params"

-- resolve's error, for comparing the whole message
local function resolve_error(specs, raw)
  local ok, err = pcall(params.resolve, specs, raw)
  t.eq(ok, false, "resolve should have failed")
  return err
end

---------------------------------------------------------------------------
-- constructors
---------------------------------------------------------------------------

t.case("constructors return tagged specs with their options", function()
  local s = params.int { default = 2, min = 1, max = 8, help = "workers" }
  t.ok(params.is_spec(s))
  t.eq(s.type, "int")
  t.eq({ s.default, s.min, s.max, s.help, s.required }, { 2, 1, 8, "workers", false })
  t.eq(params.is_spec({ type = "int" }), false)
  t.eq(params.enum { values = { "a", "b" }, required = true }.required, true)
end)

t.case("a list is of strings unless said otherwise", function()
  t.eq(params.list {}.of.type, "string")
  t.eq(params.list { of = params.int {} }.of.type, "int")
end)

t.case("constructor mistakes name the option and point at the caller's line", function()
  local msg = t.raises(function() params.enum {} end,
                       'refit.param.enum: values is required (e.g. values = { "a", "b" })')
  t.match(msg, "^[^:]*params_test%.lua:%d+: refit%.param%.enum:")
end)

t.case("constructor option errors", function()
  local cases = {
    { function() params.enum { values = {} } end, 'refit.param.enum: values is required (e.g. values = { "a", "b" })' },
    { function() params.enum { values = { "a", 2 } } end, "refit.param.enum: values[2] must be a string, got 2" },
    { function() params.int { mni = 1 } end, 'refit.param.int: unknown option "mni" (did you mean "min"?)' },
    { function() params.bool { zzz = 1 } end,
      'refit.param.bool: unknown option "zzz" (known: default, example, help, required)' },
    { function() params.string { min = 1 } end, 'refit.param.string: unknown option "min" (known: default, example, help, required, secret)' },
    { function() params.int { min = 5, max = 1 } end, "refit.param.int: min (5) is greater than max (1)" },
    { function() params.int { min = 1.5 } end, "refit.param.int: min must be an integer, got 1.5" },
    { function() params.int { required = "yes" } end, 'refit.param.int: required must be a boolean, got "yes"' },
    { function() params.string { help = 3 } end, "refit.param.string: help must be a string, got 3" },
    { function() params.list { of = "int" } end, 'refit.param.list: of must be a refit.param.TYPE { ... }, got "int"' },
    { function() params.list { of = params.list {} } end, "refit.param.list: of cannot be a list (lists do not nest)" },
    { function() params.string "x" end, "refit.param.string: expected options { ... }, got string" },
    { function() params.version { required = true, default = "1.21" } end,
      "refit.param.version: required and default exclude each other (a param with a default is never missing)" },
  }
  for _, c in ipairs(cases) do t.raises(c[1], c[2]) end
end)

t.case("a default must fit the type", function()
  local cases = {
    { function() params.int { default = "x" } end, 'refit.param.int: default must be an integer, got "x"' },
    { function() params.int { default = 0, min = 1 } end, "refit.param.int: default must be at least 1, got 0" },
    { function() params.enum { values = { "a" }, default = "b" } end, 'refit.param.enum: default must be one of a, got "b"' },
    { function() params.duration { default = "soon" } end,
      'refit.param.duration: default must be a duration such as 90s, 10m or 1h30m, got "soon"' },
    { function() params.version { default = "latest" } end,
      'refit.param.version: default must be a version such as 1.21 or v1.21.2, got "latest"' },
    { function() params.version { default = 1.21 } end,
      "refit.param.version: default must be a string, got the number 1.21 (write it in quotes)" },
    { function() params.bool { default = "maybe" } end, 'refit.param.bool: default must be true or false, got "maybe"' },
    { function() params.list { of = params.int {}, default = { 1, "x" } } end,
      'refit.param.list: default item 2 must be an integer, got "x"' },
  }
  for _, c in ipairs(cases) do t.raises(c[1], c[2]) end
end)

---------------------------------------------------------------------------
-- resolve
---------------------------------------------------------------------------

local specs = {
  to = params.version { required = true, help = "target version" },
  parallel = params.int { default = 2, min = 1, max = 10 },
  mode = params.enum { values = { "a", "b" }, default = "a" },
  wait = params.duration { default = "10m" },
  zones = params.list {},
  ports = params.list { of = params.int {} },
  dry = params.bool {},
  name = params.string {},
}

t.case("resolve converts --set strings", function()
  local r = params.resolve(specs, {
    to = "v1.21.2", parallel = "4", mode = "b", wait = "90s", zones = "a, b,c", ports = "80,443",
    dry = "yes", name = "prod",
  })
  t.eq(r, { to = "v1.21.2", parallel = 4, mode = "b", wait = 90000, zones = { "a", "b", "c" },
            ports = { 80, 443 }, dry = true, name = "prod" })
end)

t.case("resolve takes YAML-decoded values", function()
  local r = params.resolve(specs, {
    to = "1.22", parallel = 3, wait = 5000, zones = { "x" }, ports = { 1, "2" }, dry = false, name = 42,
  })
  t.eq(r, { to = "1.22", parallel = 3, mode = "a", wait = 5000, zones = { "x" }, ports = { 1, 2 },
            dry = false, name = "42" })
end)

t.case("defaults are resolved like given values; absent optionals stay nil", function()
  local r = params.resolve(specs, { to = "1.21" })
  t.eq(r, { to = "1.21", parallel = 2, mode = "a", wait = 600000 })
end)

t.case("booleans accept the usual words", function()
  local s = { b = params.bool {} }
  for word, want in pairs { ["true"] = true, ["False"] = false, yes = true, no = false, on = true,
                            off = false, ["1"] = true, ["0"] = false } do
    t.eq(params.resolve(s, { b = word }).b, want, word)
  end
end)

t.case("an empty --set list is the empty list", function()
  t.eq(params.resolve({ l = params.list {} }, { l = "" }).l, {})
end)

t.case("int bounds", function()
  local s = { n = params.int { min = 1, max = 3 } }
  t.eq(resolve_error(s, { n = "0" }), 'param "n": must be at least 1, got 0')
  t.eq(resolve_error(s, { n = 4 }), 'param "n": must be at most 3, got 4')
  t.eq(resolve_error(s, { n = 2.5 }), 'param "n": must be an integer, got 2.5')
  t.eq(params.resolve(s, { n = 3.0 }).n, 3)
  t.eq(math.type(params.resolve(s, { n = "+2" }).n), "integer")
end)

t.case("resolve lists every problem, one per line, each with its fix", function()
  local err = resolve_error(specs, {
    tto = "1.21", parallel = "abc", mode = "c", wait = "5", ports = "80,x", dry = "maybe", name = 1.5,
  })
  t.eq(err, table.concat({
    'param "to": required (e.g. --set to=1.21)',
    'param "dry": must be true or false, got "maybe"',
    'param "mode": must be one of a, b, got "c"',
    'param "name": must be a string, got the number 1.5 (quote it, so that YAML keeps it as written)',
    'param "parallel": must be an integer, got "abc"',
    'param "ports": item 2 must be an integer, got "x"',
    'param "wait": must be a duration such as 90s, 10m or 1h30m, got "5"',
    'unknown param "tto" (known: to, dry, mode, name, parallel, ports, wait, zones; did you mean "to"?)',
  }, "\n"))
end)

t.case("the resolve error has no position prepended", function()
  local err = resolve_error({ to = params.version { required = true } }, {})
  t.eq(err, 'param "to": required (e.g. --set to=1.21)')
end)

t.case("the example in 'required' follows the type, or the spec's example", function()
  local s = {
    a = params.int { required = true, min = 3 }, b = params.enum { required = true, values = { "x", "y" } },
    c = params.version { required = true, example = "v2.22.4" }, d = params.list { required = true, of = params.int {} },
    e = params.duration { required = true }, f = params.string { required = true },
    g = params.list { required = true },
  }
  t.eq(resolve_error(s, {}), table.concat({
    'param "a": required (e.g. --set a=3)',
    'param "b": required (e.g. --set b=x)',
    'param "c": required (e.g. --set c=v2.22.4)',
    'param "d": required (e.g. --set d=1,1)',
    'param "e": required (e.g. --set e=10m)',
    'param "f": required (e.g. --set f=value)',
    'param "g": required (e.g. --set g=a,b)',
  }, "\n"))
end)

t.case("versions are validated and kept as written", function()
  local s = { v = params.version {} }
  t.eq(params.resolve(s, { v = "v1.21.2-eks-0389ca3" }).v, "v1.21.2-eks-0389ca3")
  t.eq(resolve_error(s, { v = "latest" }), 'param "v": must be a version such as 1.21 or v1.21.2, got "latest"')
  -- YAML's `v: 1.20` arrives as 1.2: refused, since 1.20 is lost
  t.eq(resolve_error(s, { v = 1.2 }),
       'param "v": must be a version string, got the number 1.2 (quote it, so that YAML keeps it as written)')
end)

t.case("a list from YAML must be a list", function()
  t.eq(resolve_error({ l = params.list {} }, { l = { a = 1 } }), 'param "l": must be a list (a,b or a YAML list), got a map')
  t.eq(resolve_error({ l = params.list {} }, { l = true }), 'param "l": must be a list (a,b or a YAML list), got true')
end)

t.case("unknown params: suggestion only when close", function()
  local s = { parallel = params.int {}, to = params.version {} }
  t.eq(resolve_error(s, { zzz = "1" }), 'unknown param "zzz" (known: parallel, to)')
  t.eq(resolve_error(s, { paralel = "1" }), 'unknown param "paralel" (known: parallel, to; did you mean "parallel"?)')
  t.eq(resolve_error({}, { x = "1" }), 'unknown param "x" (this playbook has no params)')
end)

t.case("closest finds likely typos only", function()
  t.eq(params.closest("retires", { "retries", "run" }), "retries")
  t.eq(params.closest("tto", { "to", "parallel" }), "to")
  t.eq(params.closest("xyz", { "run", "pre" }), nil)
  t.eq(params.closest("a", { "b" }), nil)          -- a one-letter word is no evidence
  t.eq(params.closest("abcdef", { "abcxyz" }), nil) -- three edits is another word
  t.eq(params.closest("abcdef", { "abcdez", "abcdyz" }), "abcdez")   -- the nearest wins
end)

t.case("resolve does not modify its inputs", function()
  local raw = { to = "1.21", zones = { "a" } }
  params.resolve(specs, raw)
  t.eq(raw, { to = "1.21", zones = { "a" } })
end)

---------------------------------------------------------------------------
-- describe
---------------------------------------------------------------------------

t.case("describe lists required params first, then by name", function()
  local d = params.describe {
    zeta = params.string { required = true, help = "z" },
    alpha = params.enum { values = { "x", "y" }, default = "x" },
    to = params.version { required = true, help = "target" },
    parallel = params.int { default = 2, min = 1 },
    wait = params.duration { default = "10m" },
    ports = params.list { of = params.int {} },
  }
  t.eq(d, {
    { name = "to", type = "version", required = true, help = "target" },
    { name = "zeta", type = "string", required = true, help = "z" },
    { name = "alpha", type = "enum", required = false, default = "x", values = { "x", "y" } },
    { name = "parallel", type = "int", required = false, default = 2, min = 1 },
    { name = "ports", type = "list", required = false, of = "int" },
    { name = "wait", type = "duration", required = false, default = "10m" },
  })
end)
