-- refit test tests/scripts/resumable_steps_test.lua: every step of the playbooks of the crash matrix
-- (tests/cli/crash/matrix.conf, whose lines this reads) can be resumed once its run began: stopped
-- right after its run began, the run's resume is not refused for want of a `done` (which a resume
-- needs to tell whether the step's change was made). The crash matrix finds that too, but only where
-- its sample of points falls; this asks every step, in process, in a few seconds. The resumes here
-- stop right after they begin: the world a resume of t.plan gets is the fixture again, not the
-- stopped run's (tests/cli/crash/ resumes in the stopped run's world).
local t = require "refit.test"

-- The playbooks, fixtures and parameters of matrix.conf's lines, each playbook once (the first line
-- that names it: its steps are the same on every kind of world).
local function matrix()
  local out, seen = {}, {}
  for line in t.read_file("tests/cli/crash/matrix.conf"):gmatch("[^\n]+") do
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    if line:match("^%w") and not seen[f[3]] then
      seen[f[3]] = true
      local set = {}
      for i = 6, #f - 1 do
        if f[i] == "--set" then
          local k, v = f[i + 1]:match("^([^=]+)=(.*)$")
          set[k] = v
        end
      end
      out[#out + 1] = { name = f[1], playbook = f[3], fixture = f[4], set = set }
    end
  end
  return out
end

local lines = matrix()

-- The temporary state directory of journaled t.plan runs (removed when refit test ends): the files a
-- playbook writes go there rather than into the working directory.
local scratch = t.plan { playbook = "tests/scripts/playbooks/commands.lua", sim = "examples/clusters/eks-1.20.yaml",
                         set = { commands = "sleep 1s" }, mode = "apply", journal = true }.journal_dir
-- The parameter that says where a playbook writes its files.
local WRITES_TO = { ["kkp/upgrade"] = "backup_dir" }
t.case("matrix.conf names the five bundled playbooks", function()
  local names = {}
  for _, m in ipairs(lines) do names[#names + 1] = m.playbook end
  table.sort(names)
  t.eq(names, { "dkp/major-upgrade", "dkp/upgrade", "eks/upgrade", "kaptain/upgrade", "kkp/upgrade" })
end)

for _, m in ipairs(lines) do
  t.case(m.playbook .. ": every step whose run began can be resumed", function()
    local set = {}
    for k, v in pairs(m.set) do set[k] = v end
    if WRITES_TO[m.playbook] then set[WRITES_TO[m.playbook]] = scratch .. "/" .. m.name end
    local function run(opts)
      opts.playbook, opts.sim, opts.set, opts.mode = m.playbook, m.fixture, set, "apply"
      return t.plan(opts)
    end
    local reference = run { journal = true }
    t.eq(reference.status, "succeeded", reference.output)
    local probed = 0
    for k, e in ipairs(reference.events) do
      if e.event == "phase_started" and e.phase == "run" then
        probed = probed + 1
        local stopped = run { journal = true, interrupt_after = k }
        t.eq(stopped.status, "interrupted", e.step)
        local resumed = run { journal = stopped.journal_dir, resume = stopped.run_id, interrupt_after = 2 }
        t.ok(resumed.status == "interrupted" or resumed.status == "succeeded",
             string.format("step %s, stopped after its run began (line %d), cannot be resumed: %s", e.step, k,
                           tostring(resumed.message)))
      end
    end
    t.ok(probed > 0, "no step of " .. m.playbook .. " has a run")
  end)
end
