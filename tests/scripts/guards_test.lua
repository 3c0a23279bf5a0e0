-- The runner's guards: deciding phases cannot change the world, a failed irreversible step that
-- changed nothing does not stop the rollback, and commands respect their timeouts.
local t = require "refit.test"

local function guards(case)
  return t.plan { playbook = "tests/scripts/playbooks/guards.lua", sim = "examples/clusters/eks-1.20.yaml",
                  set = { case = case } }
end

t.case("a preflight check that writes is refused, and nothing changes", function()
  local r = guards "check-writes"
  t.eq(r.status, "precondition_failed")
  t.eq(r.world, r.world_before)
  t.match(r:find("check_failed").error,
          "^tests/scripts/playbooks/guards%.lua:23: a preflight check must not change the world %(delete Node [%w.-]+%): "
          .. "a failed check or precondition promises that nothing changed; move the change to the step's run$")
end)

t.case("a precondition that runs a mutating command is refused before the command runs", function()
  local r = guards "pre-runs-command"
  t.eq(r.status, "precondition_failed")
  t.eq(r.exit_code, 2)
  t.eq(r.world, r.world_before)
  t.eq(r:find("command"), nil)
  t.contains(r:find("step_finished").error, "a step's pre must not change the world (runs aws eks update-cluster-version")
end)

t.case("an irreversible step that fails before changing anything does not stop the rollback", function()
  local r = guards "irreversible-unchanged"
  t.eq(r.status, "rolled_back")
  t.eq(r.exit_code, 3)
  t.eq(r:find("irreversible_reached"), nil)
  t.eq(r:find("step_rolled_back", { step = "label-a-node" }).status, "succeeded")
  for _, node in ipairs(r:objects("demo", "Node")) do
    t.eq(node.metadata.labels["refit.test/touched"], nil, node.metadata.name)
  end
end)

t.case("a command that outlives its own timeout fails at the timeout", function()
  local r = guards "command-timeout"
  local cmd = r:find("command")
  t.eq({ cmd.duration, cmd.timed_out, cmd.changed }, { 60000, true, true })
  t.eq(r:find("step_finished").error, "tests/scripts/playbooks/guards.lua:52: timed out after 1m00s running "
                                      .. "eksctl upgrade cluster --name demo --version 1.21 --approve")
  t.eq(r:find("step_finished").duration, 60000)
end)

t.case("a command that outlives the step's timeout fails the step at its deadline", function()
  local r = guards "step-timeout"
  t.eq(r:find("command").duration, 300000)
  t.eq(r:find("step_finished").error, "tests/scripts/playbooks/guards.lua:61: step \"slow-step\" timed out: its timeout "
                                      .. "of 5m00s ran out running eksctl upgrade cluster --name demo --version 1.21 --approve")
end)
