-- refit.paths: the upgrades a product supports, and the route from one of its versions to another.
--
--   local paths = require "refit.paths"
--   local dkp = paths.load(resource("data/paths.yaml"), "scripts/dkp/data/paths.yaml")
--   dkp:route("1.8.4", "2.2.0")   --> { "1.8.4", "2.1.1", "2.2.0" }
--   dkp:check("1.8.4", "2.2.0")   --> false, "DKP supports only ...: 1.8.4 -> 2.2.0 skips 2.1.1. Run the
--                                     hops one at a time: 1.8.4 -> 2.1.1, then 2.1.1 -> 2.2.0"
--
-- The data (scripts/<product>/data/paths.yaml; docs/paths.md has the format) names one kind of rule:
--   matrix        an explicit table of supported upgrades (DKP, Kaptain)
--   next-minor    one minor version at a time, over a list of minors (EKS)
--   latest-patch  any patch upgrade within a minor; the next minor only from the latest patch of the
--                 current one (KKP)
-- and one version scheme: semver (2.1.1), minor (1.21; "1.21.2" means 1.21) or kaptain
-- (<kubeflow>-<kaptain>, 1.2.0-1.1.0). Pure Lua without io or os: playbooks use it in the sandbox.

local semver = require "refit.semver"
local yaml = require "refit.yaml"

local M = {}

---------------------------------------------------------------------------------------------------
-- Version schemes: normalize(text) -> the canonical string or nil; compare(a, b) -> -1, 0, 1 on
-- canonical strings. Every version the module hands out is canonical (no "v", EKS as a minor).
---------------------------------------------------------------------------------------------------

local function split_kaptain(v)
  return v:match("^(.-)%-(.*)$")
end

local SCHEMES = {
  semver = {
    expected = "MAJOR.MINOR.PATCH, such as 2.1.1",
    normalize = function(text)
      local v = semver.parse(text)
      -- a missing patch would be a guess (2.1 is 2.1.0? 2.1.1?): the caller says which
      if not v or v.partial or v.build then return nil end
      return semver.tostring(v)
    end,
    compare = semver.compare,
  },
  minor = {
    expected = "a Kubernetes minor such as 1.21 (1.21.2 and v1.21.2-eks-0389ca3 mean 1.21)",
    normalize = function(text)
      local v = semver.parse(text)
      return v and semver.minor_of(v) or nil
    end,
    compare = semver.compare,
  },
  kaptain = {
    -- semver would read 1.2.0-1.1.0 as a pre-release of 1.2.0; Kaptain means Kubeflow 1.2.0 with
    -- Kaptain 1.1.0, so the two parts compare as versions of their own, Kubeflow first
    expected = "<kubeflow>-<kaptain> such as 1.2.0-1.1.0",
    normalize = function(text)
      if type(text) ~= "string" then return nil end
      local kubeflow, kaptain = text:match("^%s*[vV]?(%d+%.%d+%.%d+)%-(%d+%.%d+%.%d+)%s*$")
      if not kubeflow then return nil end
      return semver.tostring(kubeflow) .. "-" .. semver.tostring(kaptain)
    end,
    compare = function(a, b)
      local a_kubeflow, a_kaptain = split_kaptain(a)
      local b_kubeflow, b_kaptain = split_kaptain(b)
      local c = semver.compare(a_kubeflow, b_kubeflow)
      if c ~= 0 then return c end
      return semver.compare(a_kaptain, b_kaptain)
    end,
  },
}

---------------------------------------------------------------------------------------------------
-- Reading the data: every problem names the file and the field
---------------------------------------------------------------------------------------------------

local function bad_data(source, field, fmt, ...)
  error(string.format("%s: %s: " .. fmt, source, field, ...), 0)
end

-- YAML's null arrives as a light userdata (refit.json.null): name it as the file writes it
local function type_name(v)
  if v == nil then return "nothing" end
  if type(v) == "userdata" then return "null" end
  return type(v)
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local function need_string(doc, source, field, optional)
  local v = doc[field]
  if v == nil and optional then return nil end
  if type(v) ~= "string" or v == "" then
    bad_data(source, field, "must be a non-empty string, got %s", type_name(v))
  end
  return v
end

-- A version written in the data: a quoted string of the product's scheme.
local function data_version(g, field, text)
  if type(text) == "number" then
    bad_data(g.source, field, "%s must be a quoted string: YAML reads an unquoted version as a number " ..
             "(2.20 becomes 2.2)", tostring(text))
  end
  local v = g.scheme.normalize(text)
  if not v then
    bad_data(g.source, field, "%s is not a %s version: expected %s", type(text) == "string" and
             string.format("%q", text) or type(text), g.scheme_name, g.scheme.expected)
  end
  return v
end

local function sort_versions(g, list)
  table.sort(list, function(a, b) return g.scheme.compare(a, b) < 0 end)
  return list
end

-- Notes' ranges: comparators separated by spaces, all of which must hold (">=1.8.0 <1.8.4").
local OPS = {
  [">="] = function(c) return c >= 0 end, [">"] = function(c) return c > 0 end,
  ["<="] = function(c) return c <= 0 end, ["<"] = function(c) return c < 0 end,
  ["="] = function(c) return c == 0 end, ["!="] = function(c) return c ~= 0 end,
}

local function parse_range(g, field, text)
  if type(text) ~= "string" then bad_data(g.source, field, "must be a range such as \">=1.8.0 <1.8.4\"") end
  local terms = {}
  for term in text:gmatch("%S+") do
    local op, version = term:match("^(%p*)(.*)$")   -- "v" is no operator: v1.8.4 is a version
    op = op ~= "" and op or "="
    if not OPS[op] then
      bad_data(g.source, field, "%q: unknown comparator %q (use >=, >, <=, <, =, !=)", text, op)
    end
    terms[#terms + 1] = { test = OPS[op], version = data_version(g, field, version) }
  end
  if #terms == 0 then bad_data(g.source, field, "must be a range such as \">=1.8.0 <1.8.4\", got \"\"") end
  return terms
end

local function in_range(g, terms, v)
  if not terms then return true end
  for _, term in ipairs(terms) do
    if not term.test(g.scheme.compare(v, term.version)) then return false end
  end
  return true
end

---------------------------------------------------------------------------------------------------
-- Messages shared by the rules
---------------------------------------------------------------------------------------------------

local function newer_than_data(g, v)
  return string.format("%s %s is newer than the versions refit knows (up to %s): if %s has released it, " ..
                       "add its upgrade paths to %s", g.name, v, g.known[#g.known], g.name, g.source)
end

-- `oldest` is how the first known version reads ("2.19.0" where any 2.19 patch is known)
local function older_than_data(g, v, oldest)
  return string.format("%s %s is older than the versions refit knows (from %s, %s): refit knows no " ..
                       "supported upgrade from it", g.name, v, oldest or g.known[1], g.source)
end

---------------------------------------------------------------------------------------------------
-- Rules. Each has: fields (its own data fields), load(g, doc), nodes(g, from, to) (the versions a
-- route may pass), hop(g, a, b) (is a -> b one supported upgrade; a < b), place(g, v, other, role)
-- (nil when v is a version the data knows, else why not), and listed_hops(g) for describe.
---------------------------------------------------------------------------------------------------

local RULES = {}

RULES["matrix"] = {
  fields = { hops = true },
  load = function(g, doc)
    if type(doc.hops) ~= "table" or is_list(doc.hops) or next(doc.hops) == nil then
      bad_data(g.source, "hops", "must map each version to the list of versions it upgrades to, " ..
               "e.g. \"2.1.1\": [\"2.2.0\"]")
    end
    g.edges, g.is_known = {}, {}
    local function know(v)
      if not g.is_known[v] then g.is_known[v] = true; g.known[#g.known + 1] = v end
    end
    for key, targets in pairs(doc.hops) do
      local field = string.format("hops[%q]", tostring(key))
      local from = data_version(g, field, key)
      if g.edges[from] then bad_data(g.source, field, "%s is listed twice", from) end
      if not is_list(targets) or #targets == 0 then
        bad_data(g.source, field, "must be a list of the versions %s upgrades to, e.g. [\"2.2.0\"]", from)
      end
      g.edges[from] = {}
      know(from)
      for i, text in ipairs(targets) do
        local to = data_version(g, string.format("%s[%d]", field, i), text)
        if g.scheme.compare(to, from) <= 0 then
          bad_data(g.source, string.format("%s[%d]", field, i), "%s is not newer than %s: a hop is an upgrade",
                   to, from)
        end
        g.edges[from][to] = true
        know(to)
      end
    end
    sort_versions(g, g.known)
  end,
  nodes = function(g) return g.known end,
  hop = function(g, a, b) return g.edges[a] ~= nil and g.edges[a][b] == true end,
  place = function(g, v, other, role)
    if g.is_known[v] then return nil end
    if g.scheme.compare(v, g.known[#g.known]) > 0 then return newer_than_data(g, v) end
    local why = string.format("%s %s is not in the supported upgrade paths (%s)", g.name, v, g.source)
    -- say what the known end of the request connects to: that is what the user can do instead
    if g.is_known[other] and role == "from" then
      local from_any = g:reachable(other, "backward")
      if #from_any > 0 then
        return string.format("%s: %s reaches %s only from %s", why, g.name, other, table.concat(from_any, ", "))
      end
    elseif g.is_known[other] and role == "to" then
      local to_any = g:reachable(other, "forward")
      if #to_any > 0 then
        return string.format("%s: from %s, %s upgrades to %s", why, other, g.name, table.concat(to_any, ", "))
      end
    end
    return string.format("%s, whose versions are %s", why, table.concat(g.known, ", "))
  end,
  listed_hops = function(g)
    local hops = {}
    for _, from in ipairs(g.known) do
      for _, to in ipairs(g.known) do
        if g.edges[from] and g.edges[from][to] then hops[#hops + 1] = { from = from, to = to } end
      end
    end
    return hops
  end,
}

RULES["next-minor"] = {
  fields = { versions = true },
  load = function(g, doc)
    if g.scheme_name ~= "minor" then
      bad_data(g.source, "scheme", "kind next-minor counts minor versions: it needs scheme: minor, got %s",
               g.scheme_name)
    end
    if not is_list(doc.versions) or #doc.versions == 0 then
      bad_data(g.source, "versions", "must list every minor, oldest first, e.g. [\"1.20\", \"1.21\"]")
    end
    g.index = {}
    for i, text in ipairs(doc.versions) do
      local field = string.format("versions[%d]", i)
      local v = data_version(g, field, text)
      local previous = g.known[i - 1]
      if previous and not semver.is_next_minor(previous, v) then
        bad_data(g.source, field, "%s does not follow %s: list every minor, oldest first", v, previous)
      end
      g.known[i], g.index[v] = v, i
    end
  end,
  nodes = function(g) return g.known end,
  hop = function(g, a, b) return g.index[a] ~= nil and g.index[b] == g.index[a] + 1 end,
  place = function(g, v)
    if g.index[v] then return nil end
    if g.scheme.compare(v, g.known[#g.known]) > 0 then return newer_than_data(g, v) end
    return older_than_data(g, v)   -- the list is contiguous: what is not newer is older
  end,
  listed_hops = function(g)
    local hops = {}
    for i = 2, #g.known do hops[#hops + 1] = { from = g.known[i - 1], to = g.known[i] } end
    return hops
  end,
}

local function minor_key(v) return semver.minor_of(v) end

RULES["latest-patch"] = {
  fields = { releases = true, supported_minors = true },
  load = function(g, doc)
    if g.scheme_name ~= "semver" then
      bad_data(g.source, "scheme", "kind latest-patch reads patch releases: it needs scheme: semver, got %s",
               g.scheme_name)
    end
    if not is_list(doc.releases) or #doc.releases == 0 then
      bad_data(g.source, "releases", "must list the latest patch release of each minor, oldest first, " ..
               "e.g. [\"2.21.12\", \"2.22.9\"]")
    end
    g.minor_index = {}
    for i, text in ipairs(doc.releases) do
      local field = string.format("releases[%d]", i)
      local v = data_version(g, field, text)
      local previous = g.known[i - 1]
      if previous and semver.same_minor(previous, v) then
        bad_data(g.source, field, "%s and %s are the same minor: list only the latest patch of each minor",
                 previous, v)
      elseif previous and semver.compare(v, previous) < 0 then
        bad_data(g.source, field, "%s comes after %s: list the releases oldest first", v, previous)
      end
      g.known[i], g.minor_index[minor_key(v)] = v, i
    end
    local n = doc.supported_minors
    if n ~= nil and (math.type(n) ~= "integer" or n < 1) then
      bad_data(g.source, "supported_minors", "must be a positive integer (how many of the latest minors " ..
               "the vendor supports), got %s", tostring(n))
    end
    g.supported_minors = n
  end,
  nodes = function(g, from, to)
    local nodes, seen = {}, {}
    for _, v in ipairs(g.known) do nodes[#nodes + 1], seen[v] = v, true end
    for _, v in ipairs { from, to } do
      if not seen[v] then nodes[#nodes + 1], seen[v] = v, true end
    end
    return nodes
  end,
  hop = function(g, a, b)
    if semver.same_minor(a, b) then return true end   -- patch upgrades within a minor (a < b)
    local i = g.minor_index[minor_key(a)]
    return i ~= nil and g.known[i] == a and g.minor_index[minor_key(b)] == i + 1
  end,
  place = function(g, v)
    local i = g.minor_index[minor_key(v)]
    if i and semver.compare(v, g.known[i]) <= 0 then return nil end
    if i then
      return string.format("%s %s is newer than the latest %s release refit knows (%s): if %s has released " ..
                           "it, put it in place of %s in %s", g.name, v, minor_key(v), g.known[i], g.name,
                           g.known[i], g.source)
    end
    if semver.compare(v, g.known[#g.known]) > 0 then return newer_than_data(g, v) end
    if semver.compare(v, g.known[1]) < 0 then return older_than_data(g, v, minor_key(g.known[1]) .. ".0") end
    return string.format("%s %s: refit knows no %s release (%s lists %s)", g.name, v, minor_key(v), g.source,
                         table.concat(g.known, ", "))
  end,
  listed_hops = function(g)
    local hops = {}
    for i = 2, #g.known do hops[#hops + 1] = { from = g.known[i - 1], to = g.known[i] } end
    return hops
  end,
}

---------------------------------------------------------------------------------------------------
-- The graph
---------------------------------------------------------------------------------------------------

local Graph = {}
Graph.__index = Graph

local COMMON_FIELDS = { product = true, name = true, rule = true, document = true, kind = true, scheme = true,
                        playbook = true, set = true, notes = true }

local function sorted_names(set)
  local names = {}
  for k in pairs(set) do names[#names + 1] = k end
  table.sort(names)
  return names
end

-- paths.new(doc, source) -> graph: doc is the decoded YAML; source names it in errors.
function M.new(doc, source)
  source = source or "upgrade paths data"
  if type(doc) ~= "table" or is_list(doc) then
    error(string.format("%s: expected a mapping with product, name, rule, document, kind and the kind's " ..
                        "fields (docs/paths.md), got %s", source, type_name(doc)), 0)
  end
  local kind = doc.kind
  local rule = RULES[kind]
  if not rule then
    bad_data(source, "kind", "must be one of %s, got %s", table.concat(sorted_names(RULES), ", "),
             type(kind) == "string" and string.format("%q", kind) or type_name(kind))
  end
  for key in pairs(doc) do
    if not COMMON_FIELDS[key] and not rule.fields[key] then
      bad_data(source, tostring(key), "unknown field (kind %s takes %s; every kind takes %s)", kind,
               table.concat(sorted_names(rule.fields), ", "), table.concat(sorted_names(COMMON_FIELDS), ", "))
    end
  end
  local g = setmetatable({ source = source, kind = kind, rule_impl = rule, known = {} }, Graph)
  g.product = need_string(doc, source, "product")
  if not g.product:match("^[%w_-]+$") then
    bad_data(source, "product", "%q must be a plain word (it is what `refit paths` takes)", g.product)
  end
  g.name = need_string(doc, source, "name")
  g.rule = need_string(doc, source, "rule")
  g.document = need_string(doc, source, "document")
  g.scheme_name = need_string(doc, source, "scheme", true) or "semver"
  g.scheme = SCHEMES[g.scheme_name]
  if not g.scheme then
    bad_data(source, "scheme", "unknown scheme %q (known: %s)", g.scheme_name,
             table.concat(sorted_names(SCHEMES), ", "))
  end
  g.playbook = need_string(doc, source, "playbook", true)
  g.set = need_string(doc, source, "set", true)
  if g.set and not g.playbook then bad_data(source, "set", "names parameters of a playbook: add playbook") end
  rule.load(g, doc)

  g.notes = {}
  if doc.notes ~= nil and not is_list(doc.notes) then
    bad_data(source, "notes", "must be a list of entries with text and, optionally, from and to ranges")
  end
  for i, note in ipairs(doc.notes or {}) do
    local field = string.format("notes[%d]", i)
    if type(note) ~= "table" or type(note.text) ~= "string" or note.text == "" then
      bad_data(source, field .. ".text", "must be a non-empty string")
    end
    g.notes[i] = {
      from = note.from ~= nil and parse_range(g, field .. ".from", note.from) or nil,
      to = note.to ~= nil and parse_range(g, field .. ".to", note.to) or nil,
      from_text = note.from, to_text = note.to, text = note.text,
    }
  end
  return g
end

-- paths.load(text, source) -> graph, from the YAML text of a paths.yaml.
function M.load(text, source)
  source = source or "upgrade paths data"
  if type(text) ~= "string" then error(string.format("%s: expected YAML text, got %s", source, type(text)), 0) end
  local doc, err = yaml.decode(text)
  if err then error(string.format("%s: %s", source, err), 0) end
  return M.new(doc, source)
end

-- graph:version(text) -> the canonical version ("v1.21.2" -> "1.21" for EKS), or nil, why.
function Graph:version(text)
  local v = self.scheme.normalize(text)
  if v then return v end
  return nil, string.format("invalid %s version %s: expected %s", self.name,
                            type(text) == "string" and string.format("%q", text) or tostring(text),
                            self.scheme.expected)
end

-- graph:versions() -> the versions the data knows, oldest first.
function Graph:versions()
  return table.move(self.known, 1, #self.known, 1, {})
end

-- Is a -> b one supported upgrade?
function Graph:_hop(a, b)
  return self.scheme.compare(a, b) < 0 and self.rule_impl.hop(self, a, b)
end

-- The known versions reachable from v ("forward") or that reach v ("backward"), oldest first.
function Graph:reachable(v, direction)
  local nodes = self.rule_impl.nodes(self, v, v)
  local seen, out, queue, head = { [v] = true }, {}, { v }, 1
  while head <= #queue do
    local at = queue[head]
    head = head + 1
    for _, n in ipairs(nodes) do
      local linked = direction == "forward" and self:_hop(at, n) or direction == "backward" and self:_hop(n, at)
      if not seen[n] and linked then
        seen[n], queue[#queue + 1], out[#out + 1] = true, n, n
      end
    end
  end
  return sort_versions(self, out)
end

-- The notes of the data that apply to from -> to, joined; "" when none.
function Graph:_notes(from, to)
  local texts = {}
  for _, note in ipairs(self.notes) do
    if in_range(self, note.from, from) and in_range(self, note.to, to) then texts[#texts + 1] = note.text end
  end
  if #texts == 0 then return "" end
  return ". " .. table.concat(texts, ". ")
end

-- Fewest hops; of equal routes, the one whose versions are highest from the start (so that
-- 1.8.4 -> 2.2.0 goes through 2.1.1, not 2.1.0): distances to `to` first, then a greedy walk.
local function shortest_route(g, from, to)
  local nodes = g.rule_impl.nodes(g, from, to)
  local distance, queue, head = { [to] = 0 }, { to }, 1
  while head <= #queue and distance[from] == nil do
    local at = queue[head]
    head = head + 1
    for _, n in ipairs(nodes) do
      if distance[n] == nil and g:_hop(n, at) then
        distance[n], queue[#queue + 1] = distance[at] + 1, n
      end
    end
  end
  if distance[from] == nil then return nil end
  local route, at = { from }, from
  while at ~= to do
    local best
    for _, n in ipairs(nodes) do
      if distance[n] == distance[at] - 1 and g:_hop(at, n) and (not best or g.scheme.compare(n, best) > 0) then
        best = n
      end
    end
    route[#route + 1], at = best, best
  end
  return route
end

-- graph:route(from, to) -> { from, ..., to } (canonical versions), the shortest supported route;
-- or nil, why: a message that says why there is none and what to do.
function Graph:route(from_text, to_text)
  local from, why = self:version(from_text)
  if not from then return nil, why end
  local to
  to, why = self:version(to_text)
  if not to then return nil, why end

  local order = self.scheme.compare(from, to)
  if order == 0 then
    return nil, string.format("%s is already at %s: %s -> %s is no upgrade", self.name, to, from, to)
  elseif order > 0 then
    return nil, string.format("%s -> %s is a downgrade: %s supports upgrades only; choose a target newer than %s",
                              from, to, self.name, from)
  end
  why = self.rule_impl.place(self, from, to, "from") or self.rule_impl.place(self, to, from, "to")
  if why then return nil, why .. self:_notes(from, to) end

  local route = shortest_route(self, from, to)
  if route then return route end
  local after, before = self:reachable(from, "forward"), self:reachable(to, "backward")
  return nil, string.format("no supported %s upgrade path leads from %s to %s (%s): from %s, %s upgrades to %s; " ..
                            "%s is reached from %s%s", self.name, from, to, self.source, from, self.name,
                            #after > 0 and table.concat(after, ", ") or "nothing", to,
                            #before > 0 and table.concat(before, ", ") or "nothing", self:_notes(from, to))
end

-- The command that runs one hop, when the data names the playbook: "refit apply eks/upgrade --set to=1.21".
function Graph:_set_for(from, to)
  if not self.set then return nil end
  return (self.set:gsub("{from}", from):gsub("{to}", to))
end

function Graph:_command(from, to)
  if not self.playbook then return nil end
  local set = self:_set_for(from, to)
  return "refit apply " .. self.playbook .. (set and (" --set " .. set) or "")
end

-- graph:hops(from, to) -> { { from =, to =, command = (when the data names a playbook) }, ... },
-- the route as hops; or nil, why (as route).
function Graph:hops(from, to)
  local route, why = self:route(from, to)
  if not route then return nil, why end
  local hops = {}
  for i = 2, #route do
    hops[#hops + 1] = { from = route[i - 1], to = route[i], command = self:_command(route[i - 1], route[i]) }
  end
  return hops
end

-- graph:check(from, to) -> true when from -> to is one supported upgrade; else false, message:
--   "<rule>: <from> -> <to> skips <v>, <w>. Run the hops one at a time: <from> -> <v>, then ..."
--   "<rule>: <from> -> <to> skips <v>. Run refit apply <playbook> once per hop: --set to=<v>, then ..."
-- or route's why when no route exists.
function Graph:check(from, to)
  local route, why = self:route(from, to)
  if not route then return false, why end
  if #route == 2 then return true end
  local skipped, steps = {}, {}
  for i = 2, #route - 1 do skipped[#skipped + 1] = route[i] end
  local how
  if self.playbook and self.set then
    for i = 2, #route do steps[#steps + 1] = "--set " .. self:_set_for(route[i - 1], route[i]) end
    how = string.format("Run refit apply %s once per hop: %s", self.playbook, table.concat(steps, ", then "))
  else
    for i = 2, #route do steps[#steps + 1] = route[i - 1] .. " -> " .. route[i] end
    how = string.format("Run the hops one at a time%s: %s",
                        self.playbook and (" with refit apply " .. self.playbook) or "", table.concat(steps, ", then "))
  end
  return false, string.format("%s: %s -> %s skips %s. %s", self.rule, route[1], route[#route],
                              table.concat(skipped, ", "), how)
end

-- graph:describe() -> the data as a plain table, for `refit paths PRODUCT`:
--   { product, name, rule, document, source, kind, scheme, playbook?, versions = {...},
--     hops = { { from, to, command? }, ... }, notes = { "text", ... }? }
function Graph:describe()
  local hops = self.rule_impl.listed_hops(self)
  for _, hop in ipairs(hops) do hop.command = self:_command(hop.from, hop.to) end
  local notes = {}
  if self.kind == "latest-patch" then
    notes[#notes + 1] = string.format("versions are the latest patch release of each minor as refit knows it; " ..
                                      "patch upgrades within a minor (%s -> %s) are supported too",
                                      minor_key(self.known[#self.known]) .. ".0", self.known[#self.known])
    if self.supported_minors then
      local first = math.max(1, #self.known - self.supported_minors + 1)
      local minors = {}
      for i = first, #self.known do minors[#minors + 1] = minor_key(self.known[i]) end
      notes[#notes + 1] = string.format("%s supports only the latest %d minor versions: %s", self.name,
                                        self.supported_minors, table.concat(minors, ", "))
    end
  end
  for _, note in ipairs(self.notes) do
    local when = {}
    if note.from_text then when[#when + 1] = "from " .. note.from_text end
    if note.to_text then when[#when + 1] = "to " .. note.to_text end
    notes[#notes + 1] = (#when > 0 and (table.concat(when, ", ") .. ": ") or "") .. note.text
  end
  return {
    product = self.product, name = self.name, rule = self.rule, document = self.document, source = self.source,
    kind = self.kind, scheme = self.scheme_name, playbook = self.playbook,
    versions = self:versions(), hops = hops, notes = #notes > 0 and notes or nil,
  }
end

-- paths.report(text, source [, from, to]) -> for `refit paths`: describe() without versions, else
-- { product, name, from, to, route = {...}, hops = {...} } or nil, why.
function M.report(text, source, from, to)
  local g = M.load(text, source)
  if from == nil then return g:describe() end
  local hops, why = g:hops(from, to)
  if not hops then return nil, why end
  local route = { hops[1].from }
  for _, hop in ipairs(hops) do route[#route + 1] = hop.to end
  return { product = g.product, name = g.name, from = route[1], to = route[#route], route = route, hops = hops }
end

return M
