-- refit.sim.kudo: the KUDO operator framework (kudo.dev/v1beta1) and its `kubectl kudo` plugin, as
-- far as upgrading an operator instance goes (seed 002, /work/shared/domain/kaptain.md).
--
--   local kudo = require("refit.sim.kudo")(W, env)
--   kudo.package { operator = "kubeflow", appVersion = "1.2.0", version = "1.1.0", plans = {...}, on_step = fn }
--   kudo.install(cluster, namespace, instance_name, package, { status = "COMPLETE" })   -- fixture objects
--   kudo.commands()                                                                       -- kubectl kudo ...
--
-- Objects: Operator `<operator>`, OperatorVersion `<operator>-<appVersion>-<version>` (spec.plans with
-- their strategies), Instance (spec.operatorVersion.name; status.planStatus[<plan>] = { name, status,
-- message, lastUpdatedTimestamp, phases = [{ name, status, message, steps = [{ name, status, message }] }] },
-- status.aggregatedStatus = { status, activePlanName }). Status values: NEVER_RUN, PENDING,
-- IN_PROGRESS, COMPLETE, ERROR (KUDO retries), FATAL_ERROR; COMPLETE and FATAL_ERROR are terminal.
--
-- The controller: when an Instance's spec.operatorVersion changes (kubectl kudo upgrade), KUDO runs
-- the new OperatorVersion's `upgrade` plan, or `deploy` when it has none. Phases run one after the
-- other (serial plan); a phase's steps run one after the other (serial) or together (parallel).
-- Each step takes its package's duration (a range, in seconds). Scenario faults:
--   kudo-plan-fails  { phase, step, message }: the step turns ERROR, KUDO retries once, then the step,
--                    its phase and the plan end FATAL_ERROR with the message
--   kudo-step-error  { phase, step, message, count }: the step ends ERROR `count` times (KUDO retries
--                    each after 60-90 s), then goes on
--
-- Commands (program kubectl, subcommands of the kudo plugin; errors exit 255 as kubectl-kudo does):
--   kubectl kudo upgrade <package> --instance NAME [--namespace NS] [-p key=value]... [-P file]
--            [--operator-version V] [--app-version V]
--     <package>: a package file `<operator>-<appVersion>_<version>.tgz` (the versions come from the
--     file name), or the operator's name with --operator-version (and --app-version) from the repository.
--   kubectl kudo plan status --instance NAME [--namespace NS] [-o json|yaml]
--   kubectl kudo plan wait --instance NAME [--namespace NS] [--wait-time 300s]   (kudo 0.17's flag)
--   kubectl kudo plan trigger --name PLAN --instance NAME [--namespace NS] [--wait] [--wait-time 300]
--     sets the Instance's spec.planExecution (planName, a new uid); the controller runs that plan again
--     from its first phase (every phase and step starts over; what KUDO does after FATAL_ERROR, which
--     it never retries by itself). A scenario fault that already fired (times: 1) does not fire again.
--     Refused while a plan runs (IN_PROGRESS, PENDING, ERROR: KUDO is still retrying).

local util = require "refit.sim.util"

local API = "kudo.dev/v1beta1"
local TERMINAL = { COMPLETE = true, FATAL_ERROR = true }
local EXIT = 255   -- kubectl-kudo exits -1 on any error

return function(W, env)
  local K = {}
  local tools = env.tools
  local packages = {}      -- "<operator>-<appVersion>-<version>" -> package
  local running = {}       -- "<cluster>/<ns>/<name>" -> { token = n } of the plan in progress
  local known_ov = {}      -- same key -> the operatorVersion name the controller last acted on
  local known_exec = {}    -- same key -> the spec.planExecution.uid the controller last acted on
  local upgraded_from = {} -- same key -> the operatorVersion the instance was upgraded from (on_step's from_ov)

  local function ov_name(p) return p.operator .. "-" .. p.appVersion .. "-" .. p.version end

  K.ov_name = ov_name

  -- Registers a package the upgrade command can install. plans = { [name] = { strategy =,
  -- phases = { { name =, strategy =, steps = { { name =, duration = { min_s, max_s } } } } } } };
  -- on_step(cluster, instance_ref, phase, step, from_ov_name) runs when a step completes.
  function K.package(p)
    packages[ov_name(p)] = p
    return p
  end

  local function ov_object(p, namespace)
    local plans = {}
    for name, plan in pairs(p.plans) do
      local phases = {}
      for _, ph in ipairs(plan.phases) do
        local steps = {}
        for _, st in ipairs(ph.steps) do steps[#steps + 1] = { name = st.name, tasks = W.json.array { st.name } } end
        phases[#phases + 1] = { name = ph.name, strategy = ph.strategy or "serial", steps = W.json.array(steps) }
      end
      plans[name] = { strategy = plan.strategy or "serial", phases = W.json.array(phases) }
    end
    return {
      apiVersion = API, kind = "OperatorVersion",
      metadata = { name = ov_name(p), namespace = namespace },
      spec = { operator = { name = p.operator, kind = "Operator" }, appVersion = p.appVersion, version = p.version,
               plans = plans, kudoVersion = p.kudoVersion or "0.17.2" },
    }
  end

  -- The plan status as KUDO writes it: every phase and step at `status` (NEVER_RUN before a first run).
  local function fresh_plan_status(plan_name, plan, status)
    local phases = {}
    for _, ph in ipairs(plan.phases) do
      local steps = {}
      for _, st in ipairs(ph.steps) do steps[#steps + 1] = { name = st.name, status = status } end
      phases[#phases + 1] = { name = ph.name, status = status, steps = W.json.array(steps) }
    end
    return { name = plan_name, status = status, phases = W.json.array(phases),
             lastUpdatedTimestamp = util.k8s_time(W.now()) }
  end

  -- Creates Operator, OperatorVersion and Instance at time 0 (fixture). opts.status: the deploy
  -- plan's status (COMPLETE by default; a failed earlier deploy is FATAL_ERROR, etc.); opts.at =
  -- { phase =, step = }: where a plan that did not complete stopped (default: its last step), with
  -- opts.message; opts.from: the OperatorVersion name the instance was upgraded from (a re-triggered
  -- plan does what the upgrade from it does).
  function K.install(cluster, namespace, instance, p, opts)
    opts = opts or {}
    local c = W.cluster(cluster)
    if not c:get { apiVersion = API, kind = "Operator", namespace = namespace, name = p.operator } then
      c:create({ apiVersion = API, kind = "Operator", metadata = { name = p.operator, namespace = namespace },
                 spec = { description = p.description, kudoVersion = p.kudoVersion or "0.17.2",
                          maintainers = W.json.array { { name = "D2iQ", email = "support@d2iq.com" } } } },
               { quiet = true })
    end
    c:create(ov_object(p, namespace), { quiet = true })
    local status = opts.status or "COMPLETE"
    local plan_status = fresh_plan_status("deploy", p.plans.deploy, status)
    if status ~= "NEVER_RUN" and status ~= "COMPLETE" then
      -- a plan that stopped: what ran before the stop point COMPLETE, the stop point shows the
      -- status and message, what comes after it PENDING
      local at_phase, at_step = #plan_status.phases, nil
      for i, ph in ipairs(plan_status.phases) do
        if opts.at and ph.name == opts.at.phase then at_phase = i end
      end
      local steps = plan_status.phases[at_phase].steps
      at_step = #steps
      for j, st in ipairs(steps) do
        if opts.at and st.name == opts.at.step then at_step = j end
      end
      for i, ph in ipairs(plan_status.phases) do
        if i < at_phase then ph.status = "COMPLETE" elseif i > at_phase then ph.status = "PENDING" end
        for j, st in ipairs(ph.steps) do
          if i < at_phase or (i == at_phase and j < at_step) then
            st.status = "COMPLETE"
          elseif i > at_phase or j > at_step then
            st.status = "PENDING"
          end
        end
      end
      steps[at_step].message = opts.message
      plan_status.phases[at_phase].message = status == "FATAL_ERROR" and opts.message or nil
      plan_status.message = opts.message
    end
    c:create({
      apiVersion = API, kind = "Instance",
      metadata = { name = instance, namespace = namespace,
                   labels = { ["kudo.dev/operator"] = p.operator } },
      spec = { operatorVersion = { name = ov_name(p) }, parameters = opts.parameters or {} },
      status = { planStatus = { deploy = plan_status },
                 aggregatedStatus = { status = status, activePlanName = "deploy" } },
    }, { quiet = true })
    local key = cluster .. "/" .. namespace .. "/" .. instance
    known_ov[key] = ov_name(p)
    upgraded_from[key] = opts.from
  end

  -- Which plan the fixture's stop point names exist in the package: nil, or an error text.
  function K.check_stop(p, at)
    for _, ph in ipairs(p.plans.deploy.phases) do
      if ph.name == at.phase then
        for _, st in ipairs(ph.steps) do
          if st.name == at.step then return nil end
        end
        return string.format("plan deploy has no step %s in phase %s", at.step, at.phase)
      end
    end
    return string.format("plan deploy has no phase %s", at.phase)
  end

  ---------------------------------------------------------------------------------------------------
  -- The instance controller
  ---------------------------------------------------------------------------------------------------

  local function ref(namespace, name) return { apiVersion = API, kind = "Instance", namespace = namespace, name = name } end

  -- Runs `plan_name` of package p for the instance, over virtual time.
  local function run_plan(cluster, namespace, name, p, plan_name, from_ov)
    local key = cluster .. "/" .. namespace .. "/" .. name
    local token = {}
    running[key] = token
    local c = W.cluster(cluster)
    local plan = p.plans[plan_name]
    local st = fresh_plan_status(plan_name, plan, "PENDING")
    st.status = "IN_PROGRESS"
    local function write()
      st.lastUpdatedTimestamp = util.k8s_time(W.now())
      local agg = { status = st.status, activePlanName = plan_name }
      -- a merge patch: a plan run again must clear the message of its previous run
      local message = st.message
      st.message = message or W.json.null
      c:patch_status(ref(namespace, name), { planStatus = { [plan_name] = st }, aggregatedStatus = agg },
                     { quiet = true })
      st.message = message
    end
    write()

    local function finish(status, message)
      st.status, st.message = status, message
      write()
      if running[key] == token then running[key] = nil end
      W.log("kudo: plan %s of instance %s/%s on %s ends %s", plan_name, namespace, name, cluster, status)
    end

    local function fatal(phase_st, step_st, message)
      step_st.status, step_st.message = "FATAL_ERROR", message
      phase_st.status, phase_st.message = "FATAL_ERROR", message
      finish("FATAL_ERROR", message)
    end

    -- One step: IN_PROGRESS for its duration, with the scenario's errors; then done(ok).
    local function run_step(pi, si, done)
      local phase, step = plan.phases[pi], plan.phases[pi].steps[si]
      local phase_st, step_st = st.phases[pi], st.phases[pi].steps[si]
      local subject = { phase = phase.name, step = step.name }
      local what = string.format("instance %s/%s plan %s phase %s step %s", namespace, name, plan_name, phase.name, step.name)
      local fails = env.faults.take("kudo-plan-fails", cluster, subject, what .. " ends FATAL_ERROR")
      local errors = env.faults.take("kudo-step-error", cluster, subject, what .. " ends ERROR")
      local error_count = errors and (errors.count or 1) or 0
      step_st.status, step_st.message = "IN_PROGRESS", nil
      write()
      local d = step.duration or { 30, 60 }
      local function attempt()
        if running[key] ~= token then return end
        if fails then
          -- a transient-looking error first (KUDO retries), then the fatal one
          local msg = fails.message or string.format("A fatal error occurred while executing task %s: " ..
                                                    "resources were not healthy", step.name)
          step_st.status = "ERROR"
          step_st.message = "A transient error when executing task " .. plan_name .. "." .. phase.name .. "." ..
                            step.name .. ". Will retry. " .. msg
          phase_st.status, st.status = "ERROR", "ERROR"
          write()
          W.after(W.random(60, 90) * 1000, function()
            if running[key] ~= token then return end
            fatal(phase_st, step_st, msg)
            done(false)
          end, "kudo fatal " .. step.name)
          return
        end
        if error_count > 0 then
          error_count = error_count - 1
          step_st.status = "ERROR"
          step_st.message = "A transient error when executing task " .. plan_name .. "." .. phase.name .. "." ..
                            step.name .. ". Will retry. " .. (errors.message or "resources not healthy yet")
          phase_st.status, st.status = "ERROR", "ERROR"
          write()
          W.after(W.random(60, 90) * 1000, function()
            if running[key] ~= token then return end
            -- KUDO retries: the step, its phase and the plan are in progress again
            step_st.status, step_st.message = "IN_PROGRESS", nil
            phase_st.status, st.status = "IN_PROGRESS", "IN_PROGRESS"
            write()
            W.after(W.random(20, 40) * 1000, attempt, "kudo retry " .. step.name)
          end, "kudo retry " .. step.name)
          return
        end
        step_st.status, step_st.message = "COMPLETE", nil
        if p.on_step then p.on_step(cluster, { namespace = namespace, name = name }, phase.name, step.name, from_ov) end
        write()
        done(true)
      end
      W.after(W.random(d[1], d[2]) * 1000, attempt, "kudo step " .. step.name)
    end

    local function run_phase(pi)
      if running[key] ~= token then return end
      if pi > #plan.phases then return finish("COMPLETE") end
      local phase, phase_st = plan.phases[pi], st.phases[pi]
      phase_st.status = "IN_PROGRESS"
      local function phase_done()
        phase_st.status = "COMPLETE"
        write()
        run_phase(pi + 1)
      end
      if (phase.strategy or "serial") == "parallel" then
        local left, failed = #phase.steps, false
        for si = 1, #phase.steps do
          run_step(pi, si, function(ok)
            if not ok then failed = true end
            left = left - 1
            if left == 0 and not failed then phase_done() end
          end)
        end
      else
        local function serial(si)
          if si > #phase.steps then return phase_done() end
          run_step(pi, si, function(ok) if ok then serial(si + 1) end end)
        end
        serial(1)
      end
    end
    run_phase(1)
  end

  -- Watches Instances of a cluster: a new operatorVersion starts its upgrade (or deploy) plan; a new
  -- spec.planExecution (kubectl kudo plan trigger) runs the plan it names from the beginning.
  function K.watch(cluster)
    W.on_change(cluster, "Instance", function(change)
      local obj = change.object
      if change.type == "DELETED" or obj.apiVersion ~= API then return end
      local ns, name = obj.metadata.namespace, obj.metadata.name
      local key = cluster .. "/" .. ns .. "/" .. name
      local ov = obj.spec and obj.spec.operatorVersion and obj.spec.operatorVersion.name
      local exec = obj.spec and obj.spec.planExecution
      if exec and exec.uid and exec.uid ~= known_exec[key] then
        known_exec[key] = exec.uid
        local p = packages[ov]
        if not p or not p.plans[exec.planName] then return end
        W.after(500, function() run_plan(cluster, ns, name, p, exec.planName, upgraded_from[key]) end,
                "kudo plan " .. exec.planName .. " triggered")
        return
      end
      if ov == nil or ov == known_ov[key] then return end
      local from = known_ov[key]
      known_ov[key] = ov
      upgraded_from[key] = from
      local p = packages[ov]
      if not p then return end
      local plan_name = p.plans.upgrade and "upgrade" or "deploy"
      -- the manager reacts within a second; the status must not change inside this callback's write
      W.after(500, function() run_plan(cluster, ns, name, p, plan_name, from) end, "kudo plan " .. plan_name)
    end)
  end

  ---------------------------------------------------------------------------------------------------
  -- kubectl kudo
  ---------------------------------------------------------------------------------------------------

  local function fail(ms, fmt, ...)
    local r = tools.error("kubectl-kudo", ms, fmt, ...)
    r.code = EXIT
    return r
  end

  local function instance_of(cluster, namespace, name)
    return W.cluster(cluster):get(ref(namespace, name))
  end

  local function semver_less(a, b)
    local function parts(v)
      local x, y, z = tostring(v):match("^v?(%d+)%.(%d+)%.(%d+)")
      return { tonumber(x), tonumber(y), tonumber(z) }
    end
    local pa, pb = parts(a), parts(b)
    if not pa[1] or not pb[1] then return nil end
    for i = 1, 3 do
      if pa[i] ~= pb[i] then return pa[i] < pb[i] end
    end
    return false
  end

  -- The package a `kubectl kudo upgrade` argument names, or nil, error text.
  local function resolve(arg, flags, operator)
    local file = arg:match("([^/]+)$")
    local op, app, version = file:match("^(.-)%-(%d+%.%d+%.%d+)_(%d+%.%d+%.%d+)%.tgz$")
    if file:match("%.tgz$") then
      if not op then
        return nil, string.format("failed to resolve operator package for: %s: package file name must be " ..
                                  "<operator>-<appVersion>_<operatorVersion>.tgz", arg)
      end
      local p = packages[op .. "-" .. app .. "-" .. version]
      if not p then
        return nil, string.format("failed to resolve operator package for: %s: open %s: no such file or directory", arg, arg)
      end
      return p
    end
    -- a repository name: the operator's name with --operator-version (and --app-version)
    if not flags["operator-version"] then
      return nil, string.format("failed to resolve operator package for: %s: no --operator-version given and " ..
                                "%s is not a package file", arg, arg)
    end
    for _, p in pairs(packages) do
      if p.operator == arg and p.version == flags["operator-version"] and
         (flags["app-version"] == nil or flags["app-version"] == p.appVersion) then
        return p
      end
    end
    return nil, string.format("failed to resolve operator package for: %s: operator %s version %s not found in " ..
                              "repository community", arg, operator or arg, flags["operator-version"])
  end

  local function upgrade(args, call)
    local flags = args.flags
    local ns = flags.namespace or "default"
    local name = flags.instance
    if not name then return fail(200, "--instance flag has to be specified") end
    if #args.pos ~= 1 then
      return fail(200, "expecting exactly one argument - name of the package or path to upgrade")
    end
    if flags["params-file"] then
      return fail(300, "failed to read params file %s: open %s: no such file or directory",
                  flags["params-file"][1], flags["params-file"][1])
    end
    local params = {}
    for _, kv in ipairs(flags.parameter or {}) do
      local k, v = kv:match("^([^=]+)=(.*)$")
      if not k then return fail(200, "parameter %q is not in key=value format", kv) end
      params[k] = v
    end
    local cluster = call.cluster
    local inst = instance_of(cluster, ns, name)
    if not inst then return fail(800, "instance %s/%s does not exist in the cluster", ns, name) end
    local current_name = inst.spec.operatorVersion.name
    local c = W.cluster(cluster)
    local current = c:get { apiVersion = API, kind = "OperatorVersion", namespace = ns, name = current_name }
    local p, why = resolve(args.pos[1], flags, current and current.spec.operator.name)
    if not p then return fail(1200, "%s", why) end
    if not current then
      return fail(900, "no operatorversion for this operator installed yet for %s in namespace %s. Please use " ..
                  "install command if you want to install new operator into cluster", p.operator, ns)
    end
    if not semver_less(current.spec.version, p.version) then
      return fail(1500, "upgraded version %s is the same or smaller as current version %s -> not upgrading",
                  p.version, current.spec.version)
    end
    -- KUDO's admission webhook refuses to change an Instance while one of its plans runs
    local agg = inst.status and inst.status.aggregatedStatus
    if agg and agg.status == "IN_PROGRESS" then
      return fail(1500, "failed to update instance for new operatorversion %s/%s: admission webhook " ..
                  "\"instance-admission.kudo.dev\" denied the request: failed to update Instance %s/%s: plan %s " ..
                  "is still running, plan parameters can't be updated", ns, ov_name(p), ns, name,
                  tostring(agg.activePlanName))
    end
    local out = {}
    if not c:get { apiVersion = API, kind = "OperatorVersion", namespace = ns, name = ov_name(p) } then
      c:create(ov_object(p, ns), { quiet = true })
      out[#out + 1] = string.format("operatorversion %s/%s created", ns, ov_name(p))
    end
    local patch = { spec = { operatorVersion = { name = ov_name(p) } } }
    if next(params) then patch.spec.parameters = params end
    c:patch(ref(ns, name), patch, { quiet = true })
    out[#out + 1] = string.format("instance %s/%s updated", ns, name)
    return tools.ok(table.concat(out, "\n") .. "\n", 3500)
  end

  -- "Plan deploy (serial strategy) [COMPLETE], last updated 2026-01-01 00:32:10" and so on, drawn
  -- as github.com/xlab/treeprint draws KUDO's tree.
  local function status_tree(inst, ov)
    local lines = { "." }
    local plan_statuses = inst.status and inst.status.planStatus or {}
    local active = inst.status and inst.status.aggregatedStatus and inst.status.aggregatedStatus.activePlanName
    local last = active and plan_statuses[active]
    if not last then return nil end
    lines[#lines + 1] = string.format("└── %s (Operator-Version: \"%s\" Active-Plan: \"%s\")", inst.metadata.name,
                                      inst.spec.operatorVersion.name, last.name)
    local function msg(s) return (s and s ~= "") and (" (" .. s .. ")") or "" end
    local phase_strategy = {}
    for _, plan in pairs(ov.spec.plans or {}) do
      for _, ph in ipairs(plan.phases or {}) do phase_strategy[ph.name] = ph.strategy end
    end
    local plans = util.sorted_keys(ov.spec.plans or {})
    for pi, plan in ipairs(plans) do
      local last_plan = pi == #plans
      local branch = last_plan and "    └── " or "    ├── "
      local indent = last_plan and "        " or "    │   "
      local def = ov.spec.plans[plan]
      if plan == last.name then
        local text = string.format("Plan %s (%s strategy) [%s]%s", plan, def.strategy, last.status, msg(last.message))
        local t = util.parse_time(last.lastUpdatedTimestamp)
        if t then text = text .. ", last updated " .. util.log_time(t - util.parse_time(util.EPOCH)) end
        lines[#lines + 1] = branch .. text
        for i, ph in ipairs(last.phases or {}) do
          local lp = i == #last.phases
          lines[#lines + 1] = indent .. (lp and "└── " or "├── ") ..
            string.format("Phase %s (%s strategy) [%s]%s", ph.name, phase_strategy[ph.name] or "", ph.status, msg(ph.message))
          for j, s in ipairs(ph.steps or {}) do
            lines[#lines + 1] = indent .. (lp and "    " or "│   ") .. (j == #ph.steps and "└── " or "├── ") ..
              string.format("Step %s [%s]%s", s.name, s.status, msg(s.message))
          end
        end
      else
        lines[#lines + 1] = branch .. string.format("Plan %s (%s strategy) [NOT ACTIVE]", plan, def.strategy)
        for i, ph in ipairs(def.phases or {}) do
          local lp = i == #def.phases
          lines[#lines + 1] = indent .. (lp and "└── " or "├── ") ..
            string.format("Phase %s (%s strategy) [NOT ACTIVE]", ph.name, ph.strategy)
          for j, s in ipairs(ph.steps or {}) do
            lines[#lines + 1] = indent .. (lp and "    " or "│   ") .. (j == #ph.steps and "└── " or "├── ") ..
              string.format("Step %s [NOT ACTIVE]", s.name)
          end
        end
      end
    end
    return table.concat(lines, "\n")
  end

  local function plan_status(args, call)
    local flags = args.flags
    local ns = flags.namespace or "default"
    if not flags.instance then return fail(200, "--instance flag has to be provided") end
    local inst = instance_of(call.cluster, ns, flags.instance)
    if not inst then return fail(600, "instance %s/%s does not exist", ns, flags.instance) end
    if flags.output == "json" then return tools.ok(W.json.encode(inst.status or {}, { pretty = true }) .. "\n", 600) end
    if flags.output == "yaml" then return tools.ok(W.yaml.encode(inst.status or {}), 600) end
    if flags.output then return fail(200, "invalid output format, only 'yaml' and 'json' are supported") end
    local ov = W.cluster(call.cluster):get { apiVersion = API, kind = "OperatorVersion", namespace = ns,
                                             name = inst.spec.operatorVersion.name }
    if not ov then
      return fail(600, "OperatorVersion %s from instance %s/%s does not exist", inst.spec.operatorVersion.name, ns,
                  flags.instance)
    end
    local tree = status_tree(inst, ov)
    if not tree then
      return tools.ok(string.format("No plan ever run for instance - nothing to show for instance %s\n", inst.metadata.name), 600)
    end
    return tools.ok(string.format("Plan(s) for \"%s\" in namespace \"%s\":\n%s\n", inst.metadata.name, ns, tree), 600)
  end

  local function plan_wait(args, call)
    local flags = args.flags
    local ns = flags.namespace or "default"
    if not flags.instance then return fail(200, "--instance flag has to be provided") end
    local c = W.cluster(call.cluster)
    if not instance_of(call.cluster, ns, flags.instance) then
      return fail(600, "instance %s/%s does not exist", ns, flags.instance)
    end
    local limit = util.parse_duration(flags["wait-time"] or "300s") or 300000
    local start = W.now()
    local final
    W.run_until(function()
      local inst = c:get(ref(ns, flags.instance))
      local agg = inst and inst.status and inst.status.aggregatedStatus
      final = agg and agg.status
      return TERMINAL[final] == true
    end, limit, 5000)
    local r
    if final == "COMPLETE" then
      r = tools.ok("", 0)
    elseif final == "FATAL_ERROR" then
      r = fail(0, "instance %s/%s plan failed with FATAL_ERROR", ns, flags.instance)
    else
      r = fail(0, "timed out waiting for instance %s/%s to finish its plan (last status %s)", ns, flags.instance,
               tostring(final))
    end
    r.duration = W.now() - start + 500
    return r
  end

  -- kubectl kudo plan trigger: KUDO's client updates the Instance's spec.planExecution; the
  -- instance admission webhook refuses it while a plan runs or for a plan the operator lacks.
  local exec_counter = 0
  local function plan_trigger(args, call)
    local flags = args.flags
    local ns = flags.namespace or "default"
    if not flags.instance or flags.instance == "" then
      return fail(200, "please choose the instance with '--instance=<instanceName>'")
    end
    if not flags.name or flags.name == "" then return fail(200, "please choose the plan name with '--name=<planName>'") end
    local c = W.cluster(call.cluster)
    local inst = instance_of(call.cluster, ns, flags.instance)
    if not inst then return fail(600, "instance %s/%s does not exist in the cluster", ns, flags.instance) end
    local ov = c:get { apiVersion = API, kind = "OperatorVersion", namespace = ns, name = inst.spec.operatorVersion.name }
    local denied = "admission webhook \"instance-admission.kudo.dev\" denied the request: "
    if not (ov and ov.spec.plans and ov.spec.plans[flags.name]) then
      return fail(900, "failed to update instance %s/%s: %strigger plan %s does not exist in operatorVersion %s",
                  ns, flags.instance, denied, flags.name, inst.spec.operatorVersion.name)
    end
    local agg = inst.status and inst.status.aggregatedStatus
    if agg and agg.status and not TERMINAL[agg.status] and agg.status ~= "NEVER_RUN" then
      return fail(900, "failed to update instance %s/%s: %sfailed to update Instance %s/%s: plan %s is still " ..
                  "running (%s), a new plan can't be triggered", ns, flags.instance, denied, ns, flags.instance,
                  tostring(agg.activePlanName), agg.status)
    end
    exec_counter = exec_counter + 1
    local uid = util.hash_hex(call.cluster .. "/" .. ns .. "/" .. flags.instance .. "#" .. exec_counter, 8) .. "-" ..
                util.hash_hex(flags.name .. exec_counter, 4) .. "-4" .. util.hash_hex(tostring(exec_counter), 3) .. "-a" ..
                util.hash_hex(ns .. exec_counter, 3) .. "-" .. util.hash_hex(flags.instance .. exec_counter, 12)
    c:patch(ref(ns, flags.instance), { spec = { planExecution = { planName = flags.name, uid = uid } } }, { quiet = true })
    local out = string.format("Triggered %s plan for %s/%s instance\n", flags.name, ns, flags.instance)
    if not flags.wait then return tools.ok(out, 1800) end
    -- --wait waits for the plan this trigger started, not the terminal status of the one before
    local start = W.now()
    W.run_until(function()
      local i = instance_of(call.cluster, ns, flags.instance)
      local a = i and i.status and i.status.aggregatedStatus
      return a ~= nil and not TERMINAL[a.status]
    end, 30000, 500)
    -- KUDO's --wait-time is seconds; a duration ("600s") is taken as it is
    local wait_time = flags["wait-time"] or "300"
    if wait_time:match("^%d+$") then wait_time = wait_time .. "s" end
    local r = plan_wait({ flags = { namespace = ns, instance = flags.instance, ["wait-time"] = wait_time } }, call)
    if r.code == 0 then r.stdout = out end
    r.duration = r.duration + (W.now() - start)
    return r
  end

  local registered = false
  function K.commands()
    if registered then return end
    registered = true
    tools.command("kubectl", "kudo upgrade", upgrade, {
      flags = { instance = "string", namespace = "string", parameter = "list", ["params-file"] = "list",
                ["operator-version"] = "string", ["app-version"] = "string", ["kudo-version"] = "string",
                repo = "string", ["skip-instance"] = "bool" },
      short = { n = "namespace", p = "parameter", P = "params-file" },
    })
    tools.command("kubectl", "kudo plan status", plan_status, {
      flags = { instance = "string", namespace = "string", output = "string", wait = "bool" },
      short = { n = "namespace", o = "output" },
    })
    tools.command("kubectl", "kudo plan trigger", plan_trigger, {
      flags = { name = "string", instance = "string", namespace = "string", wait = "bool", ["wait-time"] = "string" },
      short = { n = "namespace" },
    })
    tools.command("kubectl", "kudo plan wait", plan_wait, {
      flags = { instance = "string", namespace = "string", ["wait-time"] = "string" },
      short = { n = "namespace" },
    })
  end

  K.API = API
  K.TERMINAL = TERMINAL
  return K
end
