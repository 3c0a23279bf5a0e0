-- refit.sim.kaptain_argo: the Argo Workflows controller, as far as Kubeflow Pipelines runs need it.
--
--   local argo = require("refit.sim.kaptain_argo")(W)
--   argo.workflow { ... }   -- a Workflow object as Kubeflow Pipelines creates one
--   argo.watch(cluster)     -- the controller of one cluster
--
-- A running Workflow whose spec.shutdown is set to "Terminate" (or "Stop") ends 5-15 s later
-- (Stop: 20-40 s, its exit handlers run) with status.phase Failed and status.message
-- "Stopped with strategy 'Terminate'", as `argo terminate` / `argo stop` do. A running Workflow with
-- a `finishesAfter` (fixture) succeeds at that time unless stopped first.

local util = require "refit.sim.util"

local API = "argoproj.io/v1alpha1"

return function(W)
  local A = { API = API }
  local pending = {}   -- "<cluster>/<ns>/<name>" -> timer id of its end

  local function ref(ns, name) return { apiVersion = API, kind = "Workflow", namespace = ns, name = name } end

  local function finish(cluster, ns, name, phase, message)
    local c = W.cluster(cluster)
    local wf = c:get(ref(ns, name))
    if not wf or (wf.status and wf.status.phase ~= "Running") then return end
    c:patch(ref(ns, name), { metadata = { labels = { ["workflows.argoproj.io/completed"] = "true",
                                                     ["workflows.argoproj.io/phase"] = phase } } }, { quiet = true })
    c:patch_status(ref(ns, name), { phase = phase, message = message or W.json.null,
                                    finishedAt = util.k8s_time(W.now()),
                                    progress = phase == "Succeeded" and wf.status.progress or nil },
                   { quiet = true })
  end

  -- Schedules a running Workflow's natural end (fixture's finishesAfter, milliseconds).
  function A.finish_after(cluster, ns, name, ms)
    local key = cluster .. "/" .. ns .. "/" .. name
    pending[key] = W.after(ms, function()
      pending[key] = nil
      finish(cluster, ns, name, "Succeeded")
    end, "argo workflow " .. name .. " succeeds")
  end

  function A.watch(cluster)
    W.on_change(cluster, "Workflow", function(change)
      local wf = change.object
      if change.type == "DELETED" or wf.apiVersion ~= API then return end
      local strategy = wf.spec and wf.spec.shutdown
      if (strategy ~= "Terminate" and strategy ~= "Stop") or not wf.status or wf.status.phase ~= "Running" then return end
      local ns, name = wf.metadata.namespace, wf.metadata.name
      local key = cluster .. "/" .. ns .. "/" .. name .. "#shutdown"
      if pending[key] then return end
      local natural = pending[cluster .. "/" .. ns .. "/" .. name]
      if natural then W.cancel(natural) end
      local delay = strategy == "Stop" and W.random(20, 40) or W.random(5, 15)
      pending[key] = W.after(delay * 1000, function()
        pending[key] = nil
        finish(cluster, ns, name, "Failed", "Stopped with strategy '" .. strategy .. "'")
      end, "argo workflow " .. name .. " stops")
    end)
  end

  return A
end
