-- refit test tests/scripts/host_extras_test.lua: ctx:connect (a cluster reached through a kubeconfig)
-- and ctx:write_file (plan records, apply writes; never from a check).
local t = require "refit.test"

local function plan(opts)
  opts.playbook = "tests/scripts/playbooks/host_extras.lua"
  opts.sim = "tests/scripts/fixtures/two-clusters.yaml"
  return t.plan(opts)
end

t.case("ctx:connect reaches the world's cluster named by the kubeconfig", function()
  local r = plan {}
  t.eq(r.status, "succeeded", r.output)
  local m = r:find("mutation", { verb = "patch" })
  t.eq(m.cluster, "edge")
  t.eq(m.name, "settings")
  t.eq(r:find("state_set", { key = "reached" }).value, "edge")
  t.eq(r:objects("edge", "ConfigMap")[1].data.mode, "new")
  -- the kubeconfig's token is nowhere in the report
  t.eq(r.output:find("s3cr3t", 1, true), nil)
end)

t.case("ctx:connect to a cluster the world does not have names it and the world's clusters", function()
  local r = plan { set = { target = "far" } }
  t.eq(r.status, "rolled_back")
  local e = r:find("phase_failed", { step = "connect" })
  t.match(e.error, "host_extras%.lua:%d+: Secret default/far%-kubeconfig reaches cluster \"far\" %(https://far%.example:6443%), "
    .. "which is not in this world %(clusters: edge, mgmt%); add it to the fixture$")
end)

t.case("ctx:connect with text that is not a kubeconfig says so", function()
  local r = plan { set = { kubeconfig_text = "current-context: nowhere" } }
  local e = r:find("phase_failed", { step = "connect" })
  t.match(e.error, ": cannot use Secret default/edge%-kubeconfig: its current%-context \"nowhere\" names no context$")
end)

t.case("ctx:write_file in a plan records the file without writing it", function()
  local r = plan {}
  local e = r:find("file_written")
  t.eq(e.path, "out/settings.yaml")
  t.eq(e.bytes, 10)
  t.eq(e.written, false)
  t.eq(e.step, "backup")
  t.contains(r.output, "> would write out/settings.yaml (10 bytes)")
end)

t.case("ctx:write_file is refused in a preflight check", function()
  local r = plan { set = { write_in_check = true } }
  t.eq(r.status, "precondition_failed")
  t.contains(r:find("check_failed").error, "a preflight check must not change the world (writes out/settings.yaml)")
  t.eq(r:find("file_written"), nil)
end)

t.case("a merge patch that removes a field shows the removal in its event (json.null)", function()
  local json = require "refit.json"
  local r = t.plan { playbook = "tests/scripts/playbooks/remove_label.lua", sim = "tests/scripts/fixtures/minimal.yaml" }
  t.eq(r:find("mutation").patch, { metadata = { labels = { ["kubernetes.io/metadata.name"] = json.null } } })
end)
