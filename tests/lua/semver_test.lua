-- refit.semver: parsing, precedence and the minor-version reasoning that
-- upgrade policies need (one minor at a time, skew limits).
local t = require "refit.test"
local semver = require "refit.semver"

local function fields(v)
  return { major = v.major, minor = v.minor, patch = v.patch, pre = v.pre, build = v.build }
end

t.case("parse reads the versions of Kubernetes and the vendors", function()
  t.eq(fields(semver.parse("1.21")), { major = 1, minor = 21, patch = 0 })
  t.eq(fields(semver.parse("v1.21.2")), { major = 1, minor = 21, patch = 2 })
  t.eq(fields(semver.parse("v1.21.2-eks-0389ca3")), { major = 1, minor = 21, patch = 2, pre = "eks-0389ca3" })
  t.eq(fields(semver.parse("2.22.4")), { major = 2, minor = 22, patch = 4 })
  t.eq(fields(semver.parse("1.2.0-1.1.0")), { major = 1, minor = 2, patch = 0, pre = "1.1.0" })
  t.eq(fields(semver.parse("v1.8.4-eksbuild.1")), { major = 1, minor = 8, patch = 4, pre = "eksbuild.1" })
  t.eq(fields(semver.parse("1.2.3-rc.1+build.5")), { major = 1, minor = 2, patch = 3, pre = "rc.1", build = "build.5" })
end)

t.case("parse keeps the text and says whether the patch was given", function()
  local v = semver.parse("v1.21")
  t.eq(v.raw, "v1.21")
  t.eq(v.partial, true)
  t.eq(semver.parse("1.21.0").partial, nil)
  t.eq(math.type(v.major), "integer")
end)

t.case("parse ignores surrounding spaces, as in command output, and a V", function()
  t.eq(semver.tostring(semver.parse("  v1.22.3\n")), "1.22.3")
  t.eq(semver.tostring(semver.parse("V1.22.3")), "1.22.3")
end)

t.case("parse refuses what is not a version, with the expected form", function()
  for _, s in ipairs { "", "1", "abc", "1.2.3.4", "1.2-", "1.2.3+", "1.2.3-a..b", "v", "1.x" } do
    local v, err = semver.parse(s)
    t.eq(v, nil, s)
    t.eq(err, string.format("invalid version %q: expected e.g. 1.21, v1.21.2, 2.22.4", s))
  end
  local _, err = semver.parse(1.21)
  t.eq(err, "invalid version: expected e.g. 1.21, v1.21.2, 2.22.4, got number")
end)

t.case("parse returns a parsed version unchanged", function()
  local v = semver.parse("1.22")
  t.ok(rawequal(semver.parse(v), v))
end)

t.case("compare follows semver precedence", function()
  t.eq(semver.compare("1.9", "1.10"), -1)              -- numeric, not textual
  t.eq(semver.compare("1.21", "1.21.0"), 0)            -- a missing patch is 0
  t.eq(semver.compare("v1.21.2", "1.21.2"), 0)         -- the v is not part of the version
  t.eq(semver.compare("2.0.0", "1.99.99"), 1)
  t.eq(semver.compare("1.21.3", "1.21.10"), -1)
  t.eq(semver.compare("1.21.2+a", "1.21.2+b"), 0)      -- build metadata is ignored
end)

t.case("pre-releases sort before their release and among themselves", function()
  t.eq(semver.compare("v1.21.2-eks-0389ca3", "v1.21.2"), -1)
  t.eq(semver.compare("1.21.2", "1.21.2-rc.1"), 1)
  t.eq(semver.compare("1.0.0-rc.9", "1.0.0-rc.10"), -1)           -- 9 < 10, not "9" > "10"
  t.eq(semver.compare("1.0.0-rc.010", "1.0.0-rc.10"), 0)
  t.eq(semver.compare("v1.21.2-eks-0389ca3", "v1.21.1"), 1)
  t.eq(semver.compare("1.2.0-1.0.0", "1.2.0-1.1.0"), -1)          -- Kaptain
  t.eq(semver.compare("1.2.0-1.1.0", "1.2.0-1.10.0"), -1)         -- numeric identifiers
  t.eq(semver.compare("v1.8.4-eksbuild.1", "v1.8.4-eksbuild.2"), -1)
  t.eq(semver.compare("1.0.0-alpha", "1.0.0-alpha.1"), -1)        -- fewer identifiers first
  t.eq(semver.compare("1.0.0-alpha.1", "1.0.0-alpha.beta"), -1)   -- numbers below words
  t.eq(semver.compare("1.0.0-beta.11", "1.0.0-rc.1"), -1)
  t.eq(semver.compare("1.0.0-rc.1", "1.0.0-rc.1"), 0)
end)

t.case("the comparison shortcuts agree with compare", function()
  t.eq({ semver.lt("1.21", "1.22"), semver.le("1.22", "1.22.0"), semver.eq("v1.22", "1.22.0"),
         semver.gt("1.22.1", "1.22"), semver.ge("1.22", "1.22.1") },
       { true, true, true, true, false })
end)

t.case("parsed versions work with the comparison operators", function()
  local a, b = semver.parse("1.21.9"), semver.parse("v1.22.0")
  t.ok(a < b)
  t.ok(b >= a)
  t.ok(semver.parse("1.22") == b)
  t.eq(tostring(b), "1.22.0")
end)

t.case("functions take parsed tables as well as strings", function()
  local v = semver.parse("v1.21.4")
  t.eq(semver.minor_of(v), "1.21")
  t.eq(semver.compare(v, "1.21.4"), 0)
  t.eq(semver.route_minors(v, semver.parse("1.22")), { "1.21", "1.22" })
end)

t.case("an invalid version is an error naming it", function()
  t.raises(function() semver.lt("1.21", "latest") end,
           'invalid version "latest": expected e.g. 1.21, v1.21.2, 2.22.4')
  t.raises(function() semver.minor_of(nil) end, "invalid version: expected e.g. 1.21, v1.21.2, 2.22.4, got nil")
end)

t.case("tostring normalizes, core drops the suffix", function()
  t.eq(semver.tostring("v1.21.2-eks-0389ca3"), "1.21.2-eks-0389ca3")
  t.eq(semver.tostring("v1.21"), "1.21")
  t.eq(semver.tostring("1.2.3-rc.1+b.7"), "1.2.3-rc.1+b.7")
  t.eq(semver.core("v1.21.2-eks-0389ca3"), "1.21.2")
  t.eq(semver.core("1.21"), "1.21.0")
end)

t.case("minor_of and same_minor", function()
  t.eq(semver.minor_of("v1.21.2-eks-0389ca3"), "1.21")
  t.eq(semver.minor_of("2.22.4"), "2.22")
  t.ok(semver.same_minor("v1.21.2-eks-0389ca3", "1.21"))
  t.eq(semver.same_minor("1.21.2", "1.22.2"), false)
  t.eq(semver.same_minor("1.21.2", "2.21.2"), false)
end)

t.case("is_next_minor allows exactly one minor step", function()
  t.eq(semver.is_next_minor("2.21.3", "v2.22.4"), true)
  t.eq(semver.is_next_minor("v1.21.2-eks-0389ca3", "1.22"), true)
  t.eq(semver.is_next_minor("2.19", "2.21"), false)     -- KKP: must pass 2.20
  t.eq(semver.is_next_minor("1.22", "1.22.5"), false)   -- a patch upgrade
  t.eq(semver.is_next_minor("1.22", "1.21"), false)
  t.eq(semver.is_next_minor("1.99", "2.0"), false)      -- majors differ
end)

t.case("minor_distance is signed and refuses different majors", function()
  t.eq(semver.minor_distance("1.21", "1.24.1"), 3)
  t.eq(semver.minor_distance("v1.24.0", "1.21"), -3)
  t.eq(semver.minor_distance("1.21.0", "1.21.9"), 0)
  t.raises(function() semver.minor_distance("1.21", "2.0") end,
           "semver.minor_distance: 1.21 and 2.0 have different major versions")
end)

t.case("next_minor", function()
  t.eq(semver.next_minor("1.21.3"), "1.22")
  t.eq(semver.next_minor("v1.9"), "1.10")
end)

t.case("route_minors lists every minor on the way", function()
  t.eq(semver.route_minors("1.21.4", "v1.23.1"), { "1.21", "1.22", "1.23" })
  t.eq(semver.route_minors("1.21", "1.21.5"), { "1.21" })
  t.raises(function() semver.route_minors("1.23", "1.21") end,
           "semver.route_minors: no upgrade route from 1.23 to 1.21")
  t.raises(function() semver.route_minors("1.23", "2.1") end,
           "semver.route_minors: no upgrade route from 1.23 to 2.1")
end)

t.case("max returns the greatest element as given", function()
  t.eq(semver.max { "1.21", "v1.23.1", "1.22", "1.23.1" }, "v1.23.1")   -- the first of equals
  t.eq(semver.max { "1.23.0-rc.1", "1.22.9" }, "1.23.0-rc.1")
  t.eq(semver.max {}, nil)
  local v = semver.parse("1.30")
  t.ok(rawequal(semver.max { "1.29", v }, v))
end)

t.case("satisfies: comparators are and-ed, alternatives or-ed", function()
  t.eq(semver.satisfies("1.22.9", ">=1.21 <1.23"), true)
  t.eq(semver.satisfies("1.23.0", ">=1.21 <1.23"), false)
  t.eq(semver.satisfies("1.20.15", ">=1.21 <1.23"), false)
  t.eq(semver.satisfies("1.21.3", "1.20 || 1.21"), true)
  t.eq(semver.satisfies("1.22.0", "1.20 || 1.21"), false)
  t.eq(semver.satisfies("v1.21.3", ">= 1.21.3, != 1.21.4"), true)
  t.eq(semver.satisfies("1.21.4", ">=1.21.3 !=1.21.4"), false)
  t.eq(semver.satisfies("1.21.2", "=1.21.2"), true)
  t.eq(semver.satisfies("1.21.2", "==1.21.3"), false)
end)

t.case("satisfies: a bound without patch compares major and minor only", function()
  t.eq(semver.satisfies("1.22.9", "<=1.22"), true)
  t.eq(semver.satisfies("1.23.0-rc.1", "<1.23"), false)
  t.eq(semver.satisfies("1.22.0", ">1.21"), true)
  t.eq(semver.satisfies("1.21.9", ">1.21"), false)
  t.eq(semver.satisfies("1.21.9", "1.21"), true)
  -- with a patch the comparison is exact again
  t.eq(semver.satisfies("1.23.0-rc.1", "<1.23.0"), true)
end)

t.case("satisfies refuses a malformed range", function()
  for _, range in ipairs { "", ">=x", "~1.2", "1.21 ||", "=>1.21" } do
    t.raises(function() semver.satisfies("1.21", range) end,
             string.format('invalid version range %q: expected e.g. ">=1.21 <1.23" or "1.21 || >=1.23"', range))
  end
end)
