-- Durable runs in-process (docs/durable-runs.md): a journaled run stopped after its k-th journal
-- line (as a first SIGINT stops it), then resumed or rolled back from its journal. The world of a
-- resumed t.plan is the fixture again, not the stopped run's: these cases observe the runner (what
-- it skips, rebuilds, restores and refuses); tests/cli/durable_*_test.sh observe the worlds.
local t = require "refit.test"

local PLAYBOOK = "tests/scripts/playbooks/durable_steps.lua"
local FIXTURE = "tests/scripts/fixtures/minimal.yaml"

local function apply(opts)
  opts = opts or {}
  return t.plan { playbook = PLAYBOOK, sim = FIXTURE, mode = "apply", journal = true,
                  interrupt_after = opts.interrupt_after, set = opts.set or {} }
end

local function continue(mode, first, opts)
  opts = opts or {}
  return t.plan { playbook = PLAYBOOK, sim = FIXTURE, mode = "apply", journal = first.journal_dir,
                  [mode] = first.run_id, rerun_interrupted = opts.rerun_interrupted,
                  interrupt_after = opts.interrupt_after, set = opts.set or {} }
end

-- The position (1-based, as the journal's line) of the first event with that name whose fields equal `fields`.
local function line_of(r, event, fields)
  for i, e in ipairs(r.events) do
    if e.event == event then
      local all = true
      for k, v in pairs(fields or {}) do all = all and e[k] == v end
      if all then return i end
    end
  end
  error("no event " .. event)
end

local function step_results(r)
  local out = {}
  for _, e in ipairs(r.events) do
    if e.event == "step_finished" then out[#out + 1] = e.step .. "=" .. e.status end
    if e.event == "step_skipped" then out[#out + 1] = e.step .. "=" .. e.reason end
  end
  return table.concat(out, " ")
end

local function logs(r)
  local out = {}
  for _, e in ipairs(r.events) do
    if e.event == "log" then out[#out + 1] = e.message end
  end
  return out
end

local reference = apply()

t.case("a journaled run writes every event to its journal, and says its id in run_started", function()
  t.eq(reference.status, "succeeded")
  t.match(reference.run_id, "^%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-%x%x%x%x%x%x$")
  t.eq(reference.events[1].run_id, reference.run_id)
  local lines = 0
  for _ in t.read_file(reference.journal):gmatch("[^\n]+") do lines = lines + 1 end
  t.eq(lines, #reference.events)
  local expanded = reference:find("step_expanded", { step = "item" })
  t.eq(expanded.steps, { "item[a]", "item[b]", "item[c]" })
  t.eq(expanded.items, { { name = "a" }, { name = "b" }, { name = "c" } })
  t.ok(reference:find("phase_started", { step = "count", phase = "run" }), "phase_started of count's run")
  t.ok(reference:find("phase_started", { step = "item[a]", phase = "verify" }), "phase_started of item[a]'s verify")
end)

t.case("an interrupt stops the run before its next call: run_interrupted, status interrupted, exit 130", function()
  local r = apply { interrupt_after = line_of(reference, "phase_started", { step = "count", phase = "run" }) }
  t.eq(r.status, "interrupted")
  t.eq(r.exit_code, 130)
  local stop = r:find("run_interrupted")
  t.eq(stop.message, "interrupted by SIGINT in step \"count\" (run): stopped before its next call, nothing rolled back")
  t.eq(r.events[#r.events].message, stop.message .. "; continue with refit resume " .. r.run_id ..
       ", or undo it with refit rollback " .. r.run_id)
  t.eq(r:find("mutation", { step = "count" }), nil)
  t.eq(r:find("step_finished", { step = "count" }), nil)
  t.eq(r:find("cleanup_finished"), nil)
  t.eq(r:find("rollback_started"), nil)
end)

t.case("an interrupt during a wait stops it at its next poll", function()
  local r = apply { interrupt_after = line_of(reference, "wait_started", { step = "item[a]" }) }
  t.eq(r.status, "interrupted")
  local wait = r:find("wait_finished", { step = "item[a]" })
  t.eq(wait.ok, false)
  t.eq(wait.reason, "the run is stopping")
end)

t.case("resume refuses an interrupted step without done, naming it and the two ways on", function()
  local first = apply { interrupt_after = line_of(reference, "phase_started", { step = "count", phase = "run" }) }
  local r = continue("resume", first)
  t.eq(r.status, "setup_failed")
  t.eq(r.exit_code, 1)
  t.eq(r.message, string.format("step \"count\" of run %s was interrupted after its run began, and the step has no " ..
    "`done` to tell whether its change was made: running it again could make that change a second time. Check what " ..
    "it did (its events are in %s) and the state of the clusters, then either run it again with refit resume %s " ..
    "--rerun-interrupted, or undo the run with refit rollback %s", first.run_id, first.journal, first.run_id, first.run_id))
  t.eq(r.events, {})
  local again = continue("resume", first, { rerun_interrupted = true })
  t.eq(again.status, "succeeded")
  t.eq(step_results(again), "first=completed count=succeeded seal=succeeded item[a]=succeeded item[b]=succeeded " ..
       "item[c]=succeeded last=succeeded")
end)

t.case("an interrupted step whose run never began runs again, refused or not", function()
  local first = apply { interrupt_after = line_of(reference, "step_started", { step = "count" }) }
  local r = continue("resume", first)
  t.eq(r.status, "succeeded")
  t.eq(r:find("run_resumed").from_step, "count")
  t.eq(r:find("step_finished", { step = "count" }).status, "succeeded")
end)

t.case("resume skips finished steps, restores ctx.state and does not run the preflight again", function()
  local first = apply { interrupt_after = line_of(reference, "step_finished", { step = "seal" }) }
  local r = continue("resume", first)
  t.eq(r.status, "succeeded")
  t.eq(r.events[1].mode, "resume")
  t.eq(r.events[1].run_id, first.run_id)
  t.eq(r:find("run_resumed").from_step, "item")
  t.eq(r:find("run_resumed").preflight, false)
  t.eq(r:find("check_started"), nil)
  t.eq(r:find("step_skipped", { step = "count" }).index, 2)
  t.eq(step_results(r), "first=completed count=completed seal=completed item[a]=succeeded item[b]=succeeded " ..
       "item[c]=succeeded last=succeeded")
  t.eq(r.message, "4 steps run, 0 skipped, 3 finished before the interruption")
  -- the first session's ctx.state, restored: the cleanup of a step the first session ran
  t.eq(logs(r), { "listing the items", "cleaned up first (made in session 1)" })
end)

t.case("a resume before the preflight passed runs it", function()
  local first = apply { interrupt_after = line_of(reference, "check_started") }
  local r = continue("resume", first)
  t.eq(r.status, "succeeded")
  t.eq(r:find("run_resumed").preflight, true)
  t.eq(r:find("check_passed").check, "has-nodes")
end)

t.case("resume rebuilds a refit.each from its journaled items, without listing them again", function()
  local first = apply { interrupt_after = line_of(reference, "step_finished", { step = "item[a]" }) }
  t.eq(first:find("log", { message = "listing the items" }).step, "item")
  -- other items now: the journal's decide
  local r = continue("resume", first, { set = { items = "x,y" } })
  t.eq(r.status, "succeeded")
  t.eq(r:find("log", { message = "listing the items" }), nil)
  t.eq(r:find("step_expanded", { step = "item" }).items, { { name = "a" }, { name = "b" }, { name = "c" } })
  t.eq(step_results(r), "first=completed count=completed seal=completed item[a]=completed item[b]=succeeded " ..
       "item[c]=succeeded last=succeeded")
end)

t.case("items that are not data are listed again on resume, and must still yield the journaled steps", function()
  local json = require "refit.json"
  local first = t.plan { playbook = PLAYBOOK, sim = FIXTURE, mode = "apply", journal = true,
                         set = { function_items = "true" },
                         interrupt_after = line_of(reference, "phase_started", { step = "item[b]", phase = "verify" }) }
  t.eq(first:find("step_expanded", { step = "item" }).items, json.null)
  local r = continue("resume", first, { set = { function_items = "true" } })
  t.eq(r.status, "succeeded")
  t.eq(r:find("log", { message = "listing the items" }), nil)  -- listed before the session, unreported
  t.eq(step_results(r), "first=completed count=completed seal=completed item[a]=completed item[b]=done " ..
       "item[c]=succeeded last=succeeded")
  -- listed again, the items no longer make item[a] and item[b]: refused, naming the first
  local refused = continue("resume", first, { set = { function_items = "true", items = "x,y" } })
  t.eq(refused.status, "setup_failed")
  t.eq(refused.message, string.format("%s: each \"item\": step \"item[a]\" ran in run %s, but the each's items, " ..
    "listed again (they were not data), no longer yield it: refit cannot continue a step it cannot rebuild; undo or " ..
    "finish it by hand", PLAYBOOK, first.run_id))
end)

t.case("resume asks done about a step interrupted after its run began: done means completed and changed", function()
  -- item[b]'s state_set comes after its change: stopped there, done (which reads ctx.state) says yes
  local first = apply { interrupt_after = line_of(reference, "state_set", { key = "made-b" }) }
  t.eq(first:find("step_finished", { step = "item[b]" }), nil)
  -- run_started, run_resumed, 3 finished steps, step_expanded, item[a], then item[b]'s start and skip
  local r = continue("resume", first, { interrupt_after = 9 })
  t.eq(r.status, "interrupted")
  local skipped = r:find("step_skipped", { step = "item[b]" })
  t.eq(skipped.reason, "done")
  t.eq(skipped.completed, true)
  t.eq(r:find("mutation", { step = "item[b]" }), nil)
  -- the rollback counts it as completed: no step is left incomplete, and item[b] is undone
  local back = continue("rollback", first)
  t.eq(back:rollback_events(), { "rollback_started ", "step_rolled_back item[b] succeeded",
                                 "step_rolled_back item[a] succeeded", "irreversible_reached seal",
                                 "cleanup_finished first" })
end)

t.case("rollback of an interrupted run: hooks newest first, stopping at the irreversible step", function()
  local first = apply { interrupt_after = line_of(reference, "phase_started", { step = "item[b]", phase = "verify" }) }
  local r = continue("rollback", first)
  t.eq(r.status, "failed")
  t.eq(r.exit_code, 4)
  t.eq(r.events[1].mode, "rollback")
  t.eq(r:rollback_events(), { "rollback_started item[b]", "step_rolled_back item[b] succeeded",
                              "step_rolled_back item[a] succeeded", "irreversible_reached seal",
                              "cleanup_finished first" })
  t.eq(r:find("irreversible_reached").recovery, "sealed: start over by hand")
  t.eq(r.message, string.format("run %s stopped in step \"item[b]\"; rolled back to step \"seal\", which is " ..
                                "irreversible (its recovery text says what to do)", first.run_id))
  t.eq(logs(r), { "rolled back item b (state says made: true)", "rolled back item a (state says made: true)",
                  "cleaned up first (made in session 1)" })
end)

t.case("rollback before the irreversible step undoes everything, with ctx.state from the journal", function()
  local first = apply { interrupt_after = line_of(reference, "step_finished", { step = "count" }) }
  local r = continue("rollback", first)
  t.eq(r.status, "rolled_back")
  t.eq(r.exit_code, 0)
  t.eq(r:rollback_events(), { "rollback_started ", "step_rolled_back count succeeded",
                              "step_rolled_back first succeeded", "cleanup_finished first" })
  t.eq(logs(r), { "rolled back count (count 1)", "rolled back first (made in session 1)",
                  "cleaned up first (made in session 1)" })
  t.eq(r.message, string.format("run %s stopped between steps; rolled back", first.run_id))
end)

t.case("an interrupt during a rollback stops it; the next rollback goes on where it stopped", function()
  local first = apply { interrupt_after = line_of(reference, "phase_started", { step = "item[b]", phase = "verify" }) }
  -- run_started, rollback_started, then item[b]'s rollback: its log and step_rolled_back
  local stopped = continue("rollback", first, { interrupt_after = 4 })
  t.eq(stopped.status, "interrupted")
  t.eq(stopped:rollback_events(), { "rollback_started item[b]", "step_rolled_back item[b] succeeded" })
  local r = continue("rollback", first)
  t.eq(r:rollback_events(), { "rollback_started item[b]", "step_rolled_back item[a] succeeded",
                              "irreversible_reached seal", "cleanup_finished first" })
end)

t.case("no secret in the journal: a secret parameter kept in ctx.state is journaled as ***", function()
  local r = apply { set = { token = "TOKEN-7c41e9d2" } }
  t.eq(r.status, "succeeded")
  local text = t.read_file(r.journal)
  t.eq(text:find("TOKEN-7c41e9d2", 1, true), nil)
  t.eq(r:find("state_set", { key = "token" }).value, "***")
  t.contains(text, '"secret_params":["token"]')
  t.contains(text, '"values":{}')
end)
