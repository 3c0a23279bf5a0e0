-- refit test tests/lua/paths_test.lua: refit.paths, the supported upgrade paths of a product and the
-- route between two versions, with the exact messages playbooks put in their refusals.
--
-- The data is the shipped scripts/<product>/data/paths.yaml. tests/cli/paths_test.sh runs routes
-- through `refit paths`, and tests/scripts/eks_upgrade_test.lua the EKS ones through eks/upgrade.
local t = require "refit.test"
local paths = require "refit.paths"

-- The data refit ships (read from the repository: these tests run at its root).
local function shipped(product)
  local file = "scripts/" .. product .. "/data/paths.yaml"
  return paths.load(t.read_file(file), file)
end

local dkp = shipped("dkp")
local kkp = shipped("kkp")
local eks = shipped("eks")
local kaptain = shipped("kaptain")

-- route's second value, for asserting the message of a refused route
local function why_not(graph, from, to)
  local route, why = graph:route(from, to)
  t.eq(route, nil, from .. " -> " .. to .. " has no route")
  return why
end

local function check(graph, from, to)
  local ok, message = graph:check(from, to)
  return { ok = ok, message = message }
end

---------------------------------------------------------------------------------------------------
-- DKP: an explicit matrix
---------------------------------------------------------------------------------------------------

t.case("DKP: a row of the matrix is one supported hop", function()
  t.eq(dkp:route("1.8.4", "2.1.1"), { "1.8.4", "2.1.1" })
  t.eq(check(dkp, "1.8.4", "2.1.1"), { ok = true })
  t.eq(check(dkp, "v1.8.5", "v2.1.0"), { ok = true })   -- a leading v is accepted
end)

t.case("DKP: a jump over rows gives the shortest route, through the higher version on a tie", function()
  -- 2.1.0 and 2.1.1 both lead to 2.2.0: the route goes through 2.1.1
  t.eq(dkp:route("1.8.4", "2.2.0"), { "1.8.4", "2.1.1", "2.2.0" })
  t.eq(dkp:route("v1.8.5", "2.2.0"), { "1.8.5", "2.1.1", "2.2.0" })
  t.eq(check(dkp, "1.8.4", "2.2.0"), { ok = false, message =
    "DKP supports only the upgrades in the supported upgrade paths table of its upgrade guide: " ..
    "1.8.4 -> 2.2.0 skips 2.1.1. Run the hops one at a time: 1.8.4 -> 2.1.1, then 2.1.1 -> 2.2.0" })
  t.eq(dkp:hops("1.8.4", "2.2.0"), { { from = "1.8.4", to = "2.1.1" }, { from = "2.1.1", to = "2.2.0" } })
end)

t.case("DKP: two known versions with no path between them say where each one leads", function()
  t.eq(why_not(dkp, "2.1.0", "2.1.1"),
    "no supported DKP upgrade path leads from 2.1.0 to 2.1.1 (scripts/dkp/data/paths.yaml): " ..
    "from 2.1.0, DKP upgrades to 2.2.0; 2.1.1 is reached from 1.8.4, 1.8.5")
  t.eq(check(dkp, "2.1.0", "2.1.1").ok, false)
end)

t.case("DKP: Konvoy 1.8.3 is not in the matrix, and the data's note names the major-upgrade procedure", function()
  t.eq(why_not(dkp, "1.8.3", "2.2.0"),
    "DKP 1.8.3 is not in the supported upgrade paths (scripts/dkp/data/paths.yaml): DKP reaches 2.2.0 only " ..
    "from 1.8.4, 1.8.5, 2.1.0, 2.1.1. Konvoy 1.8.3 and older 1.8 releases are not in the matrix: they move to " ..
    "DKP 2.1 by the separate major-upgrade procedure (playbook dkp/major-upgrade)")
  t.eq(check(dkp, "1.8.3", "2.1.1").message,
    "DKP 1.8.3 is not in the supported upgrade paths (scripts/dkp/data/paths.yaml): DKP reaches 2.1.1 only " ..
    "from 1.8.4, 1.8.5. Konvoy 1.8.3 and older 1.8 releases are not in the matrix: they move to " ..
    "DKP 2.1 by the separate major-upgrade procedure (playbook dkp/major-upgrade)")
end)

t.case("DKP: unknown versions, downgrades, no-ops and bad text are refused with what to do", function()
  t.eq(why_not(dkp, "1.8.4", "2.0.0"),
    "DKP 2.0.0 is not in the supported upgrade paths (scripts/dkp/data/paths.yaml): " ..
    "from 1.8.4, DKP upgrades to 1.8.5, 2.1.0, 2.1.1, 2.2.0")
  t.eq(why_not(dkp, "1.7.0", "1.7.5"),
    "DKP 1.7.0 is not in the supported upgrade paths (scripts/dkp/data/paths.yaml), " ..
    "whose versions are 1.8.4, 1.8.5, 2.1.0, 2.1.1, 2.2.0")
  t.eq(why_not(dkp, "2.2.0", "2.3.0"),
    "DKP 2.3.0 is newer than the versions refit knows (up to 2.2.0): if DKP has released it, " ..
    "add its upgrade paths to scripts/dkp/data/paths.yaml")
  t.eq(why_not(dkp, "2.2.0", "2.1.1"),
    "2.2.0 -> 2.1.1 is a downgrade: DKP supports upgrades only; choose a target newer than 2.2.0")
  t.eq(why_not(dkp, "2.1.1", "v2.1.1"), "DKP is already at 2.1.1: 2.1.1 -> 2.1.1 is no upgrade")
  t.eq(why_not(dkp, "2.1", "2.2.0"), 'invalid DKP version "2.1": expected MAJOR.MINOR.PATCH, such as 2.1.1')
  t.eq(why_not(dkp, "1.8.4", "latest"), 'invalid DKP version "latest": expected MAJOR.MINOR.PATCH, such as 2.1.1')
end)

---------------------------------------------------------------------------------------------------
-- KKP: one minor at a time, from the latest patch
---------------------------------------------------------------------------------------------------

t.case("KKP: patch upgrades within a minor are one hop, and so is the latest patch to the next minor", function()
  t.eq(check(kkp, "2.20.3", "2.20.9"), { ok = true })
  t.eq(check(kkp, "2.20.11", "2.21.0"), { ok = true })
  t.eq(check(kkp, "2.20.11", "2.21.12"), { ok = true })
end)

t.case("KKP: the next minor only from the latest patch of the current one", function()
  t.eq(kkp:route("2.20.3", "2.21.0"), { "2.20.3", "2.20.11", "2.21.0" })
  t.eq(check(kkp, "2.20.3", "2.21.0").message,
    "KKP upgrades one minor version at a time, from the latest patch release of the current minor: " ..
    "2.20.3 -> 2.21.0 skips 2.20.11. Run the hops one at a time: 2.20.3 -> 2.20.11, then 2.20.11 -> 2.21.0")
end)

t.case("KKP: a jump over minors passes each one's latest patch", function()
  t.eq(kkp:route("2.20.3", "2.22.0"), { "2.20.3", "2.20.11", "2.21.12", "2.22.0" })
  t.eq(kkp:route("2.19.11", "2.21.0"), { "2.19.11", "2.20.11", "2.21.0" })
  t.eq(check(kkp, "2.20.3", "2.22.0").message,
    "KKP upgrades one minor version at a time, from the latest patch release of the current minor: " ..
    "2.20.3 -> 2.22.0 skips 2.20.11, 2.21.12. Run the hops one at a time: 2.20.3 -> 2.20.11, " ..
    "then 2.20.11 -> 2.21.12, then 2.21.12 -> 2.22.0")
end)

t.case("KKP: releases beyond the data, and minors before it, are refused naming the data", function()
  t.eq(why_not(kkp, "2.20.12", "2.21.0"),
    "KKP 2.20.12 is newer than the latest 2.20 release refit knows (2.20.11): if KKP has released it, " ..
    "put it in place of 2.20.11 in scripts/kkp/data/paths.yaml")
  t.eq(why_not(kkp, "2.22.0", "2.24.0"),
    "KKP 2.24.0 is newer than the versions refit knows (up to 2.23.5): if KKP has released it, " ..
    "add its upgrade paths to scripts/kkp/data/paths.yaml")
  t.eq(why_not(kkp, "2.18.4", "2.19.0"),
    "KKP 2.18.4 is older than the versions refit knows (from 2.19.0, scripts/kkp/data/paths.yaml): " ..
    "refit knows no supported upgrade from it")
  t.eq(why_not(kkp, "2.22.1", "2.21.12"),
    "2.22.1 -> 2.21.12 is a downgrade: KKP supports upgrades only; choose a target newer than 2.22.1")
end)

---------------------------------------------------------------------------------------------------
-- EKS: one Kubernetes minor at a time
---------------------------------------------------------------------------------------------------

t.case("EKS: versions are minors; a full or vendor version means its minor", function()
  t.eq(eks:route("v1.20.7-eks-1a2b3c", "1.21.2"), { "1.20", "1.21" })
  t.eq(check(eks, "1.29", "1.30"), { ok = true })
  t.eq(eks:version("v1.21.2-eks-0389ca3"), "1.21")
end)

t.case("EKS: a skipped minor gives the route as one playbook run per hop", function()
  t.eq(eks:route("1.20", "1.23"), { "1.20", "1.21", "1.22", "1.23" })
  t.eq(check(eks, "1.20", "1.23").message,
    "EKS upgrades the control plane one minor version at a time: 1.20 -> 1.23 skips 1.21, 1.22. " ..
    "Run refit apply eks/upgrade once per hop: --set to=1.21, then --set to=1.22, then --set to=1.23")
  t.eq(eks:hops("1.20", "1.22"), {
    { from = "1.20", to = "1.21", command = "refit apply eks/upgrade --set to=1.21" },
    { from = "1.21", to = "1.22", command = "refit apply eks/upgrade --set to=1.22" },
  })
end)

t.case("EKS: minors outside the data and downgrades are refused", function()
  t.eq(why_not(eks, "1.30", "1.31"),
    "EKS 1.31 is newer than the versions refit knows (up to 1.30): if EKS has released it, " ..
    "add its upgrade paths to scripts/eks/data/paths.yaml")
  t.eq(why_not(eks, "1.17", "1.18"),
    "EKS 1.17 is older than the versions refit knows (from 1.18, scripts/eks/data/paths.yaml): " ..
    "refit knows no supported upgrade from it")
  t.eq(why_not(eks, "1.22", "1.21"),
    "1.22 -> 1.21 is a downgrade: EKS supports upgrades only; choose a target newer than 1.22")
  t.eq(why_not(eks, "1.21.1", "1.21.5"), "EKS is already at 1.21: 1.21 -> 1.21 is no upgrade")
end)

---------------------------------------------------------------------------------------------------
-- Kaptain: <kubeflow>-<kaptain> versions, from the versions the prerequisites name
---------------------------------------------------------------------------------------------------

t.case("Kaptain: 1.2.0-1.1.0 is reached from 1.2.0-1.0.0", function()
  t.eq(kaptain:route("1.2.0-1.0.0", "1.2.0-1.1.0"), { "1.2.0-1.0.0", "1.2.0-1.1.0" })
  t.eq(check(kaptain, "v1.2.0-1.0.0", "1.2.0-1.1.0"), { ok = true })
end)

t.case("Kaptain: an unsupported from-version names the supported one", function()
  t.eq(check(kaptain, "1.1.0-0.6.0", "1.2.0-1.1.0"), { ok = false, message =
    "Kaptain 1.1.0-0.6.0 is not in the supported upgrade paths (scripts/kaptain/data/paths.yaml): " ..
    "Kaptain reaches 1.2.0-1.1.0 only from 1.2.0-1.0.0" })
end)

t.case("Kaptain: versions compare by Kubeflow, then Kaptain, and must have both parts", function()
  -- Kubeflow 1.3.0 is newer than Kubeflow 1.2.0, whatever the Kaptain part
  t.eq(why_not(kaptain, "1.3.0-0.1.0", "1.2.0-1.1.0"),
    "1.3.0-0.1.0 -> 1.2.0-1.1.0 is a downgrade: Kaptain supports upgrades only; choose a target newer than 1.3.0-0.1.0")
  t.eq(why_not(kaptain, "1.2.0", "1.2.0-1.1.0"),
    'invalid Kaptain version "1.2.0": expected <kubeflow>-<kaptain> such as 1.2.0-1.1.0')
end)

---------------------------------------------------------------------------------------------------
-- Listing, for `refit paths PRODUCT`
---------------------------------------------------------------------------------------------------

t.case("versions and describe list what the data knows, oldest first", function()
  t.eq(dkp:versions(), { "1.8.4", "1.8.5", "2.1.0", "2.1.1", "2.2.0" })
  t.eq(kaptain:versions(), { "1.2.0-1.0.0", "1.2.0-1.1.0" })
  local d = dkp:describe()
  t.eq(d.hops[1], { from = "1.8.4", to = "1.8.5" })
  t.eq(#d.hops, 7)
  t.eq(d.notes, { "from >=1.8.0 <1.8.4: Konvoy 1.8.3 and older 1.8 releases are not in the matrix: they move " ..
                  "to DKP 2.1 by the separate major-upgrade procedure (playbook dkp/major-upgrade)" })
  t.eq(kkp:describe().hops, {
    { from = "2.19.11", to = "2.20.11" }, { from = "2.20.11", to = "2.21.12" },
    { from = "2.21.12", to = "2.22.9" }, { from = "2.22.9", to = "2.23.5" },
  })
  t.eq(kkp:describe().notes[2], "KKP supports only the latest 3 minor versions: 2.21, 2.22, 2.23")
  t.eq(eks:describe().hops[1], { from = "1.18", to = "1.19", command = "refit apply eks/upgrade --set to=1.19" })
end)

t.case("report answers `refit paths`: the route as data, or nil and why", function()
  local DKP = t.read_file("scripts/dkp/data/paths.yaml")
  t.eq(paths.report(DKP, "dkp.yaml", "1.8.4", "2.2.0"), {
    product = "dkp", name = "DKP", from = "1.8.4", to = "2.2.0", route = { "1.8.4", "2.1.1", "2.2.0" },
    hops = { { from = "1.8.4", to = "2.1.1" }, { from = "2.1.1", to = "2.2.0" } },
  })
  local none, why = paths.report(DKP, "dkp.yaml", "2.2.0", "1.8.4")
  t.eq(none, nil)
  t.eq(why, "2.2.0 -> 1.8.4 is a downgrade: DKP supports upgrades only; choose a target newer than 2.2.0")
  t.eq(paths.report(t.read_file("scripts/kaptain/data/paths.yaml"), "k.yaml").product, "kaptain")
end)

---------------------------------------------------------------------------------------------------
-- Malformed data: the error names the file and the field
---------------------------------------------------------------------------------------------------

local HEAD = "product: x\nname: X\nrule: r\ndocument: d\n"

t.case("malformed data is refused naming the file and the field", function()
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops:\n  \"1.0.0\": [2.20]\n", "x.yaml") end,
    "x.yaml: hops[\"1.0.0\"][1]: 2.2 must be a quoted string: YAML reads an unquoted version as a number (2.20 becomes 2.2)")
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops:\n  \"2.0.0\": [\"1.0.0\"]\n", "x.yaml") end,
    "x.yaml: hops[\"2.0.0\"][1]: 1.0.0 is not newer than 2.0.0: a hop is an upgrade")
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops:\n  \"1.0\": [\"1.0.1\"]\n", "x.yaml") end,
    "x.yaml: hops[\"1.0\"]: \"1.0\" is not a semver version: expected MAJOR.MINOR.PATCH, such as 2.1.1")
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops: []\n", "x.yaml") end,
    "x.yaml: hops: must map each version to the list of versions it upgrades to")
  t.raises(function() paths.load(HEAD .. "kind: graph\n", "x.yaml") end,
    "x.yaml: kind: must be one of latest-patch, matrix, next-minor, got \"graph\"")
  t.raises(function() paths.load("product: x\nname: X\ndocument: d\nkind: next-minor\nscheme: minor\nversions: [\"1.20\"]\n",
    "x.yaml") end, "x.yaml: rule: must be a non-empty string, got nothing")
  t.raises(function() paths.load(HEAD .. "kind: next-minor\nscheme: minor\nversions: [\"1.20\"]\nhops: {}\n", "x.yaml") end,
    "x.yaml: hops: unknown field (kind next-minor takes versions; every kind takes")
  t.raises(function() paths.load(HEAD .. "kind: next-minor\nscheme: minor\nversions: [\"1.20\", \"1.22\"]\n", "x.yaml") end,
    "x.yaml: versions[2]: 1.22 does not follow 1.20: list every minor, oldest first")
  t.raises(function() paths.load(HEAD .. "kind: next-minor\nversions: [\"1.20\"]\n", "x.yaml") end,
    "x.yaml: scheme: kind next-minor counts minor versions: it needs scheme: minor, got semver")
  t.raises(function() paths.load(HEAD .. "kind: latest-patch\nreleases: [\"2.1.3\", \"2.1.5\"]\n", "x.yaml") end,
    "x.yaml: releases[2]: 2.1.3 and 2.1.5 are the same minor: list only the latest patch of each minor")
  t.raises(function() paths.load(HEAD .. "kind: latest-patch\nreleases: [\"2.1.3\"]\nsupported_minors: 0\n", "x.yaml") end,
    "x.yaml: supported_minors: must be a positive integer")
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops:\n  \"1.0.0\": [\"1.0.1\"]\nnotes:\n  - from: \"~1.0\"\n    text: t\n",
    "x.yaml") end, "x.yaml: notes[1].from: \"~1.0\": unknown comparator \"~\" (use >=, >, <=, <, =, !=)")
  t.raises(function() paths.load(HEAD .. "kind: matrix\nhops:\n  \"1.0.0\": [\"1.0.1\"]\nset: \"to={to}\"\n", "x.yaml") end,
    "x.yaml: set: names parameters of a playbook: add playbook")
  t.raises(function() paths.load("product: [", "x.yaml") end, "x.yaml: invalid YAML")
  t.raises(function() paths.load("- a\n", "x.yaml") end, "x.yaml: expected a mapping with product, name, rule")
end)
