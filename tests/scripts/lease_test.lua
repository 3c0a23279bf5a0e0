-- Leases in a simulated world (docs/leases.md): refit apply holds kube-system/refit-<playbook> in
-- every cluster from run_started to run_finished, renews it as virtual time passes, fails fast while
-- another live run holds it, takes over one that expired, and stops before its next call once
-- another run has taken it.
local t = require "refit.test"

local PLAYBOOK = "tests/scripts/playbooks/lease.lua"
local MINIMAL = "tests/scripts/fixtures/minimal.yaml"
local HELD = "tests/scripts/fixtures/lease-held.yaml"
local EXPIRED = "tests/scripts/fixtures/lease-expired.yaml"

local function apply(sim, set, extra)
  local opts = { playbook = PLAYBOOK, sim = sim, set = set or {}, mode = "apply" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return t.plan(opts)
end

local function leases(world)
  return world.clusters.test.objects["coordination.k8s.io/Lease"]
end

local function state(r, key)
  return r:find("state_set", { key = key }).value
end

-- The lease_* events and run_finished, in order, without their times.
local function lease_events(r)
  local out = {}
  for _, e in ipairs(r.events) do
    if e.event:match("^lease_") or e.event == "run_finished" then out[#out + 1] = e.event end
  end
  return table.concat(out, " ")
end

t.case("apply holds the lease from run_started to run_finished, renewing it every quarter of its duration", function()
  local r = apply(MINIMAL)
  t.eq(r.status, "succeeded")
  local taken = r:find("lease_acquired")
  t.eq(taken.cluster, "test")
  t.eq(taken.lease, "kube-system/refit-test-lease")
  t.eq(taken.duration, 120)
  t.eq(taken.again, false)
  t.match(taken.holder, "^%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-%x%x%x%x%x%x$")
  t.eq(r.events[1].event, "run_started")
  t.eq(r.events[2].event, "lease_acquired")
  t.eq(lease_events(r), "lease_acquired lease_released run_finished")
  t.eq(r:find("lease_released").holder, taken.holder)
  -- Taken at virtual time 0; the wait of 100 s renews it at 30, 60 and 90 s.
  t.eq(state(r, "at_start"), taken.holder .. " 2026-01-01T00:00:00.000000Z 0")
  t.eq(state(r, "after_wait"), taken.holder .. " 2026-01-01T00:01:30.000000Z 0")
  -- No trace is left: the world holds what the playbook made, and no Lease.
  t.eq(leases(r.world), nil)
  t.eq(#r:objects("test", "ConfigMap"), 2)
  -- The lease's writes are not the playbook's changes: its one ConfigMap is all there is.
  local kinds = {}
  for _, e in ipairs(r:all("mutation")) do kinds[#kinds + 1] = e.kind end
  t.eq(kinds, { "ConfigMap" })
end)

t.case("--lease-duration sets the lease's duration and the pace of its renewals", function()
  local r = apply(MINIMAL, {}, { lease_duration = 60 })
  t.eq(r.status, "succeeded")
  t.eq(r:find("lease_acquired").duration, 60)
  -- Every 15 s: the last renewal within the wait of 100 s is at 90 s.
  t.eq(state(r, "after_wait"), r:find("lease_acquired").holder .. " 2026-01-01T00:01:30.000000Z 0")
  local r2 = apply(MINIMAL, { wait = "110s" }, { lease_duration = 60 })
  t.eq(state(r2, "after_wait"), r2:find("lease_acquired").holder .. " 2026-01-01T00:01:45.000000Z 0")
end)

t.case("a plan takes no lease", function()
  local r = t.plan { playbook = PLAYBOOK, sim = MINIMAL }
  t.eq(r.status, "succeeded")
  t.eq(lease_events(r), "run_finished")
  t.eq(state(r, "at_start"), "none")
end)

t.case("a run that fails releases its lease after rolling back", function()
  local r = apply(MINIMAL, { fail = "true" })
  t.eq(r.status, "rolled_back")
  t.eq(lease_events(r), "lease_acquired lease_released run_finished")
  t.eq(leases(r.world), nil)
  t.eq(r.world, r.world_before)
end)

t.case("another live run's lease stops the run before anything changes, naming the holder and refit unlock", function()
  local r = apply(HELD)
  t.eq(r.status, "precondition_failed")
  t.eq(r.exit_code, 2)
  t.eq(r.events[#r.events].message,
       "cluster test is locked by another run of test/lease: run 20251231-230000-abcdef on host ops-1 holds the "
       .. "Lease kube-system/refit-test-lease (since 2025-12-31T23:00:00Z, last renewed 2025-12-31T23:59:30Z, "
       .. "expires 2026-01-01T00:01:30Z). Let that run finish; if it died, refit takes the lease over once it "
       .. "expires, or remove it now: refit unlock test/lease --sim tests/scripts/fixtures/lease-held.yaml --force")
  t.eq(lease_events(r), "run_finished")
  t.eq(r:find("check_started"), nil)
  t.eq(r:find("step_started"), nil)
  t.eq(r.world, r.world_before)
  t.eq(r.events[#r.events].changed, false)
  t.contains(r.output, "Apply precondition_failed (exit 2): cluster test is locked by another run of test/lease")
end)

t.case("an expired lease is taken over, with a warning naming the run that left it", function()
  local r = apply(EXPIRED)
  t.eq(r.status, "succeeded")
  local e = r:find("lease_taken_over")
  t.eq(e.cluster, "test")
  t.eq(e.previous_holder, "20251231-230000-dead00")
  t.eq(e.previous_host, "ops-2")
  t.eq(e.last_renewed, "2025-12-31T23:50:00Z")
  t.eq(e.message, "cluster test: took over the Lease kube-system/refit-test-lease from run 20251231-230000-dead00 "
                  .. "on host ops-2, which stopped renewing it (since 2025-12-31T23:00:00Z, last renewed "
                  .. "2025-12-31T23:50:00Z, expired 2025-12-31T23:52:00Z): if that run was interrupted, what it "
                  .. "changed is as it left it")
  t.contains(r.output, "warning: " .. e.message)
  t.eq(r:find("lease_acquired"), nil)
  t.eq(lease_events(r), "lease_taken_over lease_released run_finished")
  -- Held by this run now, one transition more than the fixture's 3.
  t.eq(state(r, "at_start"), e.holder .. " 2026-01-01T00:00:00.000000Z 4")
  t.eq(leases(r.world), nil)
end)

t.case("a run whose lease another run took stops before its next call, as an interrupt, and leaves that lease alone", function()
  local r = apply(MINIMAL, { give_away = "true" })
  t.eq(r.status, "interrupted")
  t.eq(r.exit_code, 130)
  local lost = r:find("lease_lost")
  t.eq(lost.taken_by, "20260101-000200-0ther1")
  t.eq(lost.taken_by_host, "elsewhere")
  local reason = "cluster test: the Lease kube-system/refit-test-lease is now held by run 20260101-000200-0ther1 on "
                 .. "host elsewhere (since 2026-01-01T00:00:00Z, last renewed 2026-01-01T00:01:30Z, expires "
                 .. "2026-01-01T00:03:30Z), so this run no longer holds the cluster"
  t.eq(lost.message, reason)
  t.eq(#r:all("lease_lost"), 1)
  -- The renewal during the sleep found it; the run stops there, before its next call (the create).
  t.eq(r:find("step_finished", { step = "give-away" }), nil)
  t.eq(r:find("run_interrupted").message,
       "stopped in step \"give-away\" (run): " .. reason .. "; it made no further call, nothing rolled back")
  -- No rollback and no cleanup: they would change a world another run holds now.
  t.eq(r:find("rollback_started"), nil)
  t.eq(lease_events(r), "lease_acquired lease_lost run_finished")
  t.eq(r:find("lease_released"), nil)
  local kept = leases(r.world)
  t.eq(#kept, 1)
  t.eq(kept[1].spec.holderIdentity, "20260101-000200-0ther1")
  -- ConfigMap "changed" stays, and "after-loss" was never made.
  t.eq(#r:objects("test", "ConfigMap"), 2)
end)
