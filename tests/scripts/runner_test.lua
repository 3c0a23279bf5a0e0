-- The runner's semantics (docs/playbooks.md, "Semantics"), observed through events and the world.
local t = require "refit.test"

local FIXTURE = "tests/scripts/fixtures/minimal.yaml"

local function semantics(set)
  return t.plan { playbook = "tests/scripts/playbooks/semantics.lua", sim = FIXTURE, set = set or {} }
end

-- The hooks that ran, in order, as the playbook logged them into ConfigMap default/log.
local function hook_log(r)
  for _, cm in ipairs(r:objects("test", "ConfigMap")) do
    if cm.metadata.name == "log" then return cm.data.entries end
  end
end

local function configmap_names(r)
  local names = {}
  for _, cm in ipairs(r:objects("test", "ConfigMap")) do names[#names + 1] = cm.metadata.name end
  return table.concat(names, ",")
end

local function event_names(r, wanted)
  local out = {}
  for _, e in ipairs(r.events) do
    if wanted[e.event] then out[#out + 1] = e.event .. ":" .. (e.step or e.failed_step or "") end
  end
  return table.concat(out, " ")
end

t.case("a run that succeeds runs every applicable step, skips the rest, then the cleanups newest first", function()
  local r = semantics()
  t.eq(r.status, "succeeded")
  t.eq(r.exit_code, 0)
  t.eq(hook_log(r), "run-first,run-second,run-last,cleanup-last,cleanup-second,cleanup-first")
  t.eq(configmap_names(r), "first,last,log,second")
  t.eq(r:find("step_skipped", { step = "point-of-no-return" }).reason, "when")
  t.eq(r:find("step_skipped", { step = "already-there" }).reason, "done")
  local last = r.events[#r.events]
  t.eq(last.event, "run_finished")
  t.eq(last.message, "3 steps run, 2 skipped")
  t.eq(last.changed, true)
end)

t.case("every event has a name and a time, and the first is run_started", function()
  local r = semantics()
  t.eq(r.events[1].event, "run_started")
  t.eq(r.events[1].params, { cleanup_fails = "", fail_at = "", pre_ok = true, preflight_ok = true,
                             rollback_fails = "", with_irreversible = false })
  for i, e in ipairs(r.events) do
    t.ok(type(e.event) == "string" and math.type(e.time) == "integer", "event " .. i .. " lacks event or time")
  end
end)

t.case("a failed preflight check changes nothing and exits 2", function()
  local r = semantics { preflight_ok = "false" }
  t.eq(r.status, "precondition_failed")
  t.eq(r.exit_code, 2)
  t.eq(r.world, r.world_before)
  t.eq(r:find("check_failed").error, "tests/scripts/playbooks/semantics.lua:49: preflight refused on purpose")
  t.eq(r:find("step_started"), nil)
  t.eq(r.events[#r.events].message,
       "preflight check \"params-allow-it\" failed: tests/scripts/playbooks/semantics.lua:49: preflight refused on purpose; nothing was changed")
end)

t.case("a precondition that fails before any change exits 2 with the world unchanged", function()
  local r = semantics { pre_ok = "false" }
  t.eq(r.status, "precondition_failed")
  t.eq(r.exit_code, 2)
  t.eq(r.world, r.world_before)
  t.eq(r:find("rollback_started"), nil)
end)

t.case("a failure rolls back the failed step and the completed ones newest first, then cleans up", function()
  local r = semantics { fail_at = "last" }
  t.eq(r.status, "rolled_back")
  t.eq(r.exit_code, 3)
  -- "last" failed before creating anything; its rollback still runs because its run started.
  t.eq(hook_log(r), "run-first,run-second,rollback-last,rollback-second,rollback-first,"
                    .. "cleanup-last,cleanup-second,cleanup-first")
  t.eq(configmap_names(r), "log")
  t.eq(event_names(r, { rollback_started = true, step_rolled_back = true, cleanup_finished = true }),
       "rollback_started:last step_rolled_back:last step_rolled_back:second step_rolled_back:first "
       .. "cleanup_finished:last cleanup_finished:second cleanup_finished:first")
end)

t.case("rollback stops at a completed irreversible step and prints its recovery text", function()
  local r = semantics { fail_at = "last", with_irreversible = "true" }
  t.eq(r.status, "failed")
  t.eq(r.exit_code, 4)
  t.eq(r:find("irreversible_reached").step, "point-of-no-return")
  t.eq(r:find("irreversible_reached").recovery, "restore the ConfigMap by hand")
  -- Steps before the point of no return keep their changes: rolling them back would be wrong.
  t.eq(configmap_names(r), "first,log,point-of-no-return,second")
  t.eq(r:find("step_rolled_back", { step = "second" }), nil)
  t.contains(r.output, "point-of-no-return is irreversible; rollback stops here. Recovery:")
  t.contains(r.output, "restore the ConfigMap by hand")
end)

t.case("retries back off exponentially on the virtual clock", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE }
  local retries = r:all("retry", { step = "flaky" })
  t.eq(#retries, 2)
  t.eq({ retries[1].attempt, retries[1].delay }, { 2, 10000 })
  t.eq({ retries[2].attempt, retries[2].delay }, { 3, 20000 })
  local done = r:find("step_finished", { step = "flaky" })
  t.eq(done.status, "succeeded")
  t.eq(done.duration, 30000)
  t.eq(r:find("state_set", { key = "attempts", value = 3 }).step, "flaky")
end)

t.case("a wait advances virtual time to when the world satisfies it", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE }
  local waited = r:find("wait_finished", { step = "deploy" })
  t.eq(waited.ok, true)
  t.ok(waited.waited > 0, "the Deployment became available at once")
  t.eq(waited.waited % 5000, 0, "waits poll at their interval")
end)

t.case("each expands into one step per item, named after it", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE }
  t.eq(r:find("step_expanded", { step = "label" }).steps, { "label[node-1]" })
  t.eq(r:objects("test", "Node")[1].metadata.labels["refit.test/labelled"], "yes")
end)

t.case("a step timeout names the step, the limit and what it was waiting for", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE }
  local failed = r:find("step_finished", { step = "never-ready" })
  t.eq(failed.status, "failed")
  t.eq(failed.duration, 60000)
  t.eq(failed.error, "tests/scripts/playbooks/timing.lua:66: step \"never-ready\" timed out: its timeout of 1m00s ran "
                     .. "out waiting for a ConfigMap that nobody creates: ConfigMap default/nobody does not exist")
  -- label[node-1] changed the world and has no rollback: the run says manual action is needed.
  t.eq(r.status, "failed")
  t.eq(r:find("step_rolled_back", { step = "label[node-1]" }).status, "none")
end)

t.case("the same seed gives the same run; the events are deterministic", function()
  local a = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE, seed = 7 }
  local b = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE, seed = 7 }
  t.eq(a.events, b.events)
  t.eq(a.world, b.world)
end)

t.case("a bad parameter stops the run before anything happens", function()
  local r = semantics { pre_ok = "maybe" }
  t.eq(r.status, "setup_failed")
  t.eq(r.exit_code, 1)
  t.contains(r.message, "tests/scripts/playbooks/semantics.lua:")
  t.contains(r.message, "param \"pre_ok\"")
end)

t.case("when retries run out, the step fails with the last attempt's error", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE, set = { hopeless = "true" } }
  t.eq(#r:all("phase_failed", { step = "hopeless" }), 2)
  t.eq(#r:all("retry", { step = "hopeless" }), 1)
  local failed = r:find("step_finished", { step = "hopeless" })
  t.eq({ failed.status, failed.duration }, { "failed", 5000 })
  t.eq(failed.error, "tests/scripts/playbooks/timing.lua:19: attempt failed on purpose")
  t.eq(r.status, "rolled_back")
  t.eq(r.events[#r.events].message, "step \"hopeless\" failed: tests/scripts/playbooks/timing.lua:19: attempt failed "
                                    .. "on purpose; nothing had been changed")
end)

t.case("a rollback that fails stops the chain and leaves the run failed", function()
  local r = semantics { fail_at = "last", rollback_fails = "second" }
  t.eq(r.status, "failed")
  t.eq(r.exit_code, 4)
  t.eq(r:find("step_rolled_back", { step = "second" }).status, "failed")
  t.eq(r:find("step_rolled_back", { step = "first" }), nil)  -- not rolled back past the failure
  t.eq(hook_log(r), "run-first,run-second,rollback-last,cleanup-last,cleanup-second,cleanup-first")
  t.contains(r.events[#r.events].message, "the rollback of step \"second\" failed")
end)

t.case("a cleanup that fails makes a successful run fail, and the other cleanups still run", function()
  local r = semantics { cleanup_fails = "second" }
  t.eq(r.status, "failed")
  t.eq(r.exit_code, 4)
  t.eq(r:find("cleanup_finished", { step = "second" }).status, "failed")
  t.eq(hook_log(r), "run-first,run-second,run-last,cleanup-last,cleanup-first")
  t.contains(r.events[#r.events].message, "a cleanup failed (see above): manual action needed")
end)

t.case("an each whose items would give two steps one name fails before running either", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/timing.lua", sim = FIXTURE, set = { twins = "true" } }
  local failed = r:find("step_finished", { step = "twin" })
  t.eq(failed.error, "tests/scripts/playbooks/timing.lua: each \"twin\": two steps would be named twin[same]: give the "
                     .. "items distinct names (item.name, or the item itself when it is a string)")
  t.eq(r:find("step_started", { step = "twin" }).index, 1)
  t.eq(r.status, "rolled_back")
end)

t.case("an irreversible function writes the recovery text from the world as the failure left it", function()
  local function recovery(text)
    local r = t.plan { playbook = "tests/scripts/playbooks/irreversible_fn.lua", sim = "tests/scripts/fixtures/minimal.yaml",
                       set = { text = text } }
    t.eq(r.exit_code, 4)
    t.eq(r:find("step_started", { step = "point-of-no-return" }).irreversible, true)
    return r:find("irreversible_reached", { step = "point-of-no-return" }).recovery, r
  end
  t.eq(recovery("world"), "ConfigMap default/moved is at version 2 since 0 ms: move it back by hand")
  t.eq(recovery("error"), "the step is irreversible, but its recovery text could not be built: no such field")
  t.eq(recovery("empty"), "the step is irreversible (its recovery text function returned no text)")
  local text, r = recovery("writes")
  t.match(text, "^the step is irreversible, but its recovery text could not be built: .*recovery text function must only read the world")
  local names = {}
  for _, cm in ipairs(r:objects("test", "ConfigMap")) do names[#names + 1] = cm.metadata.name end
  t.ok(table.concat(names, ","):find("moved", 1, true), "the delete was refused: " .. table.concat(names, ","))
end)
