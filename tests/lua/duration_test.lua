-- refit.duration: the text of timeouts and waits, to and from milliseconds.
local t = require "refit.test"
local duration = require "refit.duration"

t.case("parse reads one or more <number><unit> terms", function()
  local cases = {
    ["90s"] = 90000, ["10m"] = 600000, ["1h30m"] = 5400000, ["500ms"] = 500, ["2h"] = 7200000,
    ["1d"] = 86400000, ["1m30s"] = 90000, ["1h0m5s"] = 3605000, ["1.5s"] = 1500, ["0.5h"] = 1800000,
    ["2m500ms"] = 120500, ["0s"] = 0, ["0"] = 0,
  }
  for text, ms in pairs(cases) do t.eq(duration.parse(text), ms, text) end
end)

t.case("parse passes integer milliseconds through", function()
  t.eq(duration.parse(1500), 1500)
  t.eq(duration.parse(0), 0)
  t.eq(math.type(duration.parse(2000.0)), "integer")   -- as a JSON decoder may give it
end)

t.case("parse refuses other text with the expected form", function()
  for _, text in ipairs { "", "5", "90", "1x", "m", "1h 30m", "-5s", "1.5", "10 m", "s10", "1e3s" } do
    local ms, err = duration.parse(text)
    t.eq(ms, nil, text)
    t.eq(err, string.format('invalid duration %q: expected e.g. 90s, 10m, 1h30m', text))
  end
end)

t.case("parse refuses numbers that are not milliseconds, and other types", function()
  t.eq({ duration.parse(-1) }, { nil, 'invalid duration "-1": expected e.g. 90s, 10m, 1h30m' })
  t.eq({ duration.parse(1.5) }, { nil, 'invalid duration "1.5": expected e.g. 90s, 10m, 1h30m' })
  t.eq({ duration.parse(true) }, { nil, "invalid duration: expected e.g. 90s, 10m, 1h30m, got boolean" })
  t.eq({ duration.parse(nil) }, { nil, "invalid duration: expected e.g. 90s, 10m, 1h30m, got nil" })
end)

t.case("format: short forms below a minute", function()
  t.eq(duration.format(0), "0s")
  t.eq(duration.format(850), "850ms")
  t.eq(duration.format(1000), "1s")
  t.eq(duration.format(42000), "42s")
  t.eq(duration.format(1500), "1.5s")
  t.eq(duration.format(42250), "42.25s")
  t.eq(duration.format(1001), "1.001s")
end)

t.case("format: h, m, s from a minute on, padded after the first unit", function()
  t.eq(duration.format(60000), "1m")
  t.eq(duration.format(185000), "3m05s")
  t.eq(duration.format(185999), "3m05s")     -- milliseconds dropped
  t.eq(duration.format(600000), "10m")
  t.eq(duration.format(3600000), "1h")
  t.eq(duration.format(4320000), "1h12m")
  t.eq(duration.format(7203000), "2h00m03s")
  t.eq(duration.format(7205 * 1000 + 60000 * 10), "2h10m05s")
  t.eq(duration.format(26 * 3600000), "26h")
end)

t.case("format's output parses back", function()
  for _, ms in ipairs { 0, 1, 850, 1000, 1500, 42250, 60000, 185000, 4320000, 7203000, 93600000 } do
    t.eq(duration.parse(duration.format(ms)), ms, duration.format(ms))
  end
end)
