-- refit test tests/lua/base64_test.lua: refit.base64 against RFC 4648 examples and bad input.
local t = require "refit.test"
local b = require "refit.base64"
t.case("roundtrip", function()
  for _, s in ipairs { "", "h", "hi", "hij", "hello world", "\0\255\1" } do t.eq(b.decode(b.encode(s)), s) end
  t.eq(b.encode("hi"), "aGk=")
  t.eq(b.encode("Man"), "TWFu")
  t.eq(b.decode("TWE="), "Ma")
  local v, why = b.decode("a$==")
  t.eq(v, nil); t.contains(why, "unexpected")
end)
