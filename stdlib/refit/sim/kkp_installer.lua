-- refit.sim.kkp_installer: the simulated `kubermatic-installer`, one program per release archive the
-- fixture says is extracted on the operator's machine (kkp.installers on the master: program path ->
-- KKP version, default ./kubermatic-installer and kubermatic-installer at the next minor's latest
-- patch). The installer's version is the version it installs: which release a playbook moves to is
-- which installer it runs.
--
--   <installer> deploy [kubermatic-master | kubermatic-seed] [--config FILE] [--helm-values FILE]
--       [--kubeconfig FILE] [--kube-context NAME] [--helm-timeout 5m] [--force] [--skip-charts a,b]
--       [--skip-seed-validation]
--   <installer> version [--short]
--   <installer> --version
--
-- Output: the installer's logrus lines on stderr (INFO[0000] 🚀 Initializing installer… ...), as the
-- KKP upgrade guides show them. `deploy` validates the existing installation first and refuses, with
-- the installer's "⛔ Cannot proceed with the installation:" and exit 1, a skipped minor, a downgrade,
-- a seed on a version too old, an unhealthy seed, and (to 2.22 and later) a user cluster that runs
-- the Docker container runtime. It has no dry-run. Then it deploys the stack's Helm charts one after
-- another (each takes its time); the kubermatic-operator chart applies the new CRDs and operator, and
-- refit.sim.kkp_controllers take over from there. --kube-context names a context of the operator's
-- kubeconfig (the master's kubeconfigContexts: context -> cluster; default one per cluster, named
-- like it), the cluster deployed to (default: the default cluster); the files given to --config, --helm-values and --kubeconfig are
-- not read (the KubermaticConfiguration is read from the cluster, as the installer does on upgrades).
--
-- Scenario fault kkp-deploy-fails { chart, version }: that chart's Helm release times out after
-- --helm-timeout: "❌ Operation failed: failed to deploy <chart>: failed to deploy Helm release:
-- Error: UPGRADE FAILED: timed out waiting for the condition." (exit 1; the charts before it stay
-- upgraded, so the command reports a change).
--
-- Part of refit.sim.kkp: `S` is the model's state; returns register(program, version).

local util = require "refit.sim.util"
local semver = require "refit.semver"
local releases = require "refit.sim.kkp_releases"

local NS = "kubermatic"
local API = "kubermatic.k8c.io/v1"
local DEFAULT_HELM_TIMEOUT = 5 * 60000

local DEPLOY_FLAGS = {
  config = "string", ["helm-values"] = "string", kubeconfig = "string", ["kube-context"] = "string",
  ["helm-timeout"] = "string", ["helm-binary"] = "string", force = "bool", ["skip-charts"] = "list",
  ["skip-seed-validation"] = "bool", ["skip-dependencies"] = "bool", storageclass = "string",
  ["disable-telemetry"] = "bool", verbose = "bool", ["charts-directory"] = "string",
}

return function(W, S, controllers, tools, faults)
  -- A logrus text logger with the TTY layout: "INFO[0012] message<pad> key=value".
  local function logger(start)
    local lines = {}
    local L = {}
    function L.log(level, msg, fields)
      local secs = (W.now() - start) // 1000
      local text = string.format("%s[%04d] %s", level, secs, msg)
      if fields and #fields > 0 then
        local pad = 44 - (utf8.len(msg) or #msg)
        local parts = {}
        for _, kv in ipairs(fields) do
          local v = kv[2]
          if v:find("[%s\"=]") then v = string.format("%q", v) end
          parts[#parts + 1] = kv[1] .. "=" .. v
        end
        text = text .. string.rep(" ", math.max(pad, 0)) .. " " .. table.concat(parts, " ")
      end
      lines[#lines + 1] = text
    end
    function L.info(msg, fields) L.log("INFO", msg, fields) end
    function L.warn(msg, fields) L.log("WARN", msg, fields) end
    function L.err(msg, fields) L.log("ERRO", msg, fields) end
    function L.text() return table.concat(lines, "\n") .. "\n" end
    return L
  end

  local function sleep(ms)
    if ms <= 0 then return end
    local due = W.now() + ms
    W.run_until(function() return W.now() >= due end, ms, ms)
  end

  local function rand(min, max) return W.random(min, max) end

  local function result(code, log, changed)
    return { code = code, stdout = "", stderr = log.text(), duration = 200, changed = changed or nil }
  end

  local function failed(log, fmt, ...)
    log.err("❌ Operation failed: " .. string.format(fmt, ...) .. ".")
    return log
  end

  local function bare(v) return (v:gsub("^v", "")) end
  local function minor(v) return tonumber(bare(v):match("^%d+%.(%d+)")) end

  local function release_state(cluster)
    W.cloud.kkp = W.cloud.kkp or { releases = {} }
    W.cloud.kkp.releases[cluster] = W.cloud.kkp.releases[cluster] or {}
    return W.cloud.kkp.releases[cluster]
  end

  -- The existing installation's problems for an upgrade to `version` (the installer's ValidateState).
  local function validate_master(log, cluster, version, skip_seeds)
    local errs = {}
    local master = W.cluster(cluster)
    local cfg = master:get { apiVersion = API, kind = "KubermaticConfiguration", namespace = NS, name = "kubermatic" }
    local current = cfg and cfg.status and cfg.status.kubermaticVersion
    local min_required = minor(version) - 1
    if current and current ~= "" then
      if semver.lt(current, version) and minor(current) < min_required then
        return { string.format("existing installation is on version %s and must be updated to KKP 2.%d first " ..
                               "(sequentially to all minor releases in-between)", current, min_required) }
      end
      if semver.gt(current, version) then
        return { string.format("existing installation is on version %s, which is newer than this installer (%s): " ..
                               "KKP does not support downgrades", current, version) }
      end
    end
    if skip_seeds then
      log.warn("   Skipping validation of the Seed clusters (--skip-seed-validation).")
      return errs
    end
    for _, seed in ipairs(master:list { apiVersion = API, kind = "Seed", namespace = NS }) do
      local name = seed.metadata.name
      sleep(rand(300, 1500))
      log.info("   Checking seed cluster…", { { "seed", name } })
      local st = seed.status or {}
      local sv = st.versions and st.versions.kubermatic
      local conds = st.conditions or {}
      if sv and sv ~= "" and minor(sv) < min_required then
        errs[#errs + 1] = string.format("Seed cluster %q is on version %s and must be updated first", name, sv)
      elseif conds.KubeconfigValid and conds.KubeconfigValid.status == "True"
          and not (conds.ResourcesReconciled and conds.ResourcesReconciled.status == "True") then
        errs[#errs + 1] = string.format("Seed cluster %q is not healthy, please verify the operator logs or events " ..
                                        "on the Seed object", name)
      else
        local world = S.seed_names[name]
        if not world then
          errs[#errs + 1] = string.format("failed to create client for Seed cluster %q: the kubeconfig in Secret " ..
                                          "%s/%s reaches no cluster", name, NS, "kubeconfig-" .. name)
        elseif minor(version) >= 22 then
          -- KKP 2.22 removed Docker as a user cluster container runtime (upgrade guide to 2.22)
          for _, c in ipairs(W.cluster(world):list { apiVersion = API, kind = "Cluster" }) do
            if c.spec.containerRuntime == "docker" then
              errs[#errs + 1] = string.format("cluster %s on Seed %s uses the Docker container runtime, which is not " ..
                                              "supported by KKP %s anymore: migrate it to containerd first", c.metadata.name,
                                              name, version)
            end
          end
        end
      end
    end
    return errs
  end

  -- One Helm chart of a stack. Returns nil, or the error text when its release failed.
  local function deploy_chart(log, cluster, chart, version, opts)
    local rel = release_state(cluster)
    local from = rel[chart.name] and rel[chart.name].version
    log.info(string.format("   📦 Deploying %s…", chart.display))
    if opts.skip[chart.name] then
      log.info("      Skipping as requested (--skip-charts).")
      return nil
    end
    if chart.crds then
      sleep(rand(1000, 4000))
      log.info("      Deploying Custom Resource Definitions…")
      if chart.name == "kubermatic-operator" then controllers.update_crds(cluster, version) end
    end
    sleep(rand(500, 1500))
    log.info("      Deploying Helm chart…")
    if from == bare(version) and not opts.force and (rel[chart.name].status == "deployed") then
      log.info("      Release is up-to-date, nothing to do. Set --force to re-install anyway.")
      log.info("   ✅ Success.")
      return nil
    end
    if from and from ~= bare(version) then
      sleep(rand(500, 1500))
      log.info(string.format("      Updating release from %s to %s…", from, bare(version)))
    end
    local fault = faults.take("kkp-deploy-fails", cluster, { chart = chart.name, version = version },
                              "Helm release " .. chart.name .. " times out")
    if fault then
      sleep(opts.helm_timeout)
      rel[chart.name] = { version = bare(version), status = "failed", namespace = chart.namespace,
                          revision = (from and rel[chart.name].revision or 0) + 1 }
      opts.changed = true
      return string.format("failed to deploy %s: failed to deploy Helm release: Error: UPGRADE FAILED: timed out " ..
                           "waiting for the condition", chart.display)
    end
    sleep(rand(chart.min, chart.max))
    rel[chart.name] = { version = bare(version), status = "deployed", namespace = chart.namespace,
                        revision = (from and rel[chart.name].revision or 0) + 1 }
    opts.changed = true
    if chart.name == "kubermatic-operator" then
      controllers.set_image(cluster, "kubermatic-operator", NS, releases.image(opts.edition, version))
      controllers.operator_deployed(version, opts.edition)
    end
    log.info("   ✅ Success.")
    return nil
  end

  local function storage_class(log)
    log.info("   💾 Deploying kubermatic-fast StorageClass…")
    log.info("   ✅ StorageClass exists, nothing to do.")
  end

  local function deploy(version, args, call)
    local start = W.now()
    local log = logger(start)
    local stack = args.pos[1] or "kubermatic-master"
    if stack ~= "kubermatic-master" and stack ~= "kubermatic-seed" then
      return result(1, failed(log, "unknown stack %q specified", stack))
    end
    local cluster = call.cluster
    local context = args.flags["kube-context"]
    if context then
      cluster = (S.contexts or {})[context]
      if not cluster then
        return result(1, failed(log, "failed to get config: context %q does not exist", context))
      end
    end
    local timeout = DEFAULT_HELM_TIMEOUT
    if args.flags["helm-timeout"] then
      timeout = util.parse_duration(args.flags["helm-timeout"])
      if not timeout then
        return { code = 1, stdout = "", duration = 100, stderr = string.format(
          "Error: invalid argument %q for \"--helm-timeout\" flag: time: invalid duration %q\n",
          args.flags["helm-timeout"], args.flags["helm-timeout"]) }
      end
    end
    local skip = {}
    for _, v in ipairs(args.flags["skip-charts"] or {}) do
      for name in v:gmatch("[^,%s]+") do skip[name] = true end
    end
    local edition = (S.master and S.master.edition) or "ee"
    local seed = S.seeds[cluster]
    if stack == "kubermatic-seed" then edition = seed and seed.edition or edition end
    log.info("🚀 Initializing installer…", { { "edition", releases.EDITIONS[edition] }, { "version", version } })
    sleep(rand(200, 800))
    log.info("🚦 Validating the provided configuration…")
    if stack == "kubermatic-master" and not (S.master and S.master.name == cluster) then
      log.err("⛔ The provided configuration files are invalid:")
      log.err(string.format("   failed to detect current KubermaticConfiguration: no KubermaticConfiguration " ..
                            "found in namespace %q of cluster %s", NS, cluster))
      return result(1, failed(log, "please review your configuration and try again"))
    end
    if stack == "kubermatic-seed" and not seed then
      log.err("⛔ The provided configuration files are invalid:")
      log.err(string.format("   cluster %s is not a KKP seed: no seed-controller-manager in namespace %q", cluster, NS))
      return result(1, failed(log, "please review your configuration and try again"))
    end
    log.warn("   Helm values: kubermaticOperator.imagePullSecret is empty, setting to spec.imagePullSecret from " ..
             "KubermaticConfiguration")
    log.info("✅ Provided configuration is valid.")
    log.info("🚦 Validating existing installation…")
    sleep(rand(300, 1000))
    local errs
    if stack == "kubermatic-master" then
      errs = validate_master(log, cluster, version, args.flags["skip-seed-validation"])
    else
      errs = {}
      if semver.gt(seed.version, version) then
        errs[1] = string.format("existing installation is on version %s, which is newer than this installer (%s): " ..
                                "KKP does not support downgrades", seed.version, version)
      end
    end
    if #errs > 0 then
      log.err("⛔ Cannot proceed with the installation:")
      for _, e in ipairs(errs) do log.err("   " .. e) end
      return result(1, failed(log, "preflight checks have failed"))
    end
    log.info("✅ Existing installation is valid.")
    log.info(stack == "kubermatic-master" and "🛫 Deploying KKP master stack…" or "🛫 Deploying KKP seed stack…")
    storage_class(log)
    local opts = { skip = skip, force = args.flags.force, helm_timeout = timeout, edition = edition, changed = false }
    local charts = stack == "kubermatic-master" and releases.MASTER_CHARTS or releases.SEED_CHARTS
    for _, chart in ipairs(charts) do
      if stack == "kubermatic-master" or seed.minio or seed.mla then
        local err = deploy_chart(log, cluster, chart, version, opts)
        if err then return result(1, failed(log, "%s", err), opts.changed) end
      end
    end
    if stack == "kubermatic-master" then
      local domain = S.master.domain
      local lb = "a1b2c3d4e5f6.eu-central-1.elb.amazonaws.com"
      log.info("   📡 Determining DNS settings…")
      log.info("      The main LoadBalancer is ready.")
      log.info("")
      log.info("        Service             : nginx-ingress-controller / nginx-ingress-controller")
      log.info("        Ingress via hostname: " .. lb)
      log.info("")
      log.info(string.format("      Please ensure your DNS settings for %q include the following records:", domain))
      log.info("")
      log.info(string.format("         %s.    IN  CNAME  %s.", domain, lb))
      log.info(string.format("         *.%s.  IN  CNAME  %s.", domain, lb))
      log.info("")
    else
      seed.stack_version = version
    end
    log.info("🛬 Installation completed successfully. ✌")
    return result(0, log, opts.changed)
  end

  local function version_cmd(version, args)
    local edition = (S.master and S.master.edition) or "ee"
    local name = string.format("Kubermatic %s Installer", releases.EDITIONS[edition])
    if args.flags.short then
      return tools.ok(string.format("%s %s\n", name, version), 100)
    end
    local commit = util.hash_hex("commit:" .. version, 40)
    local rows = { { name, commit, version } }
    local all = {}
    for _, c in ipairs(releases.MASTER_CHARTS) do all[#all + 1] = c.name end
    for _, c in ipairs(releases.SEED_CHARTS) do all[#all + 1] = c.name end
    table.sort(all)
    for _, c in ipairs(all) do rows[#rows + 1] = { c, bare(version), version } end
    local w = { #"Component", #"Version", #"App Version" }
    for _, r in ipairs(rows) do
      for i = 1, 3 do w[i] = math.max(w[i], #r[i]) end
    end
    local fmt = string.format("%%-%ds | %%-%ds | %%-%ds\n", w[1], w[2], w[3])
    local out = { string.format(fmt, "Component", "Version", "App Version"),
                  string.format("%s-+-%s-+-%s-\n", string.rep("-", w[1]), string.rep("-", w[2]), string.rep("-", w[3])) }
    for _, r in ipairs(rows) do out[#out + 1] = string.format(fmt, r[1], r[2], r[3]) end
    return tools.ok(table.concat(out), 100)
  end

  -- Registers one installer program: its subcommands, and the root's --version (cobra prints
  -- "<program> version <v>").
  return function(program, version)
    tools.command(program, "deploy", function(args, call) return deploy(version, args, call) end, { flags = DEPLOY_FLAGS })
    tools.command(program, "version", function(args) return version_cmd(version, args) end,
                  { flags = { short = "bool" }, short = { s = "short" } })
    tools.command(program, "", function(args)
      if args.flags.version then return tools.ok("kubermatic-installer version " .. version .. "\n", 100) end
      if args.pos[1] then return tools.error(program, 100, "unknown command %q for %q", args.pos[1], program) end
      return tools.error(program, 100, "a command is required (known: deploy, version)")
    end, { flags = { version = "bool" } })
  end
end
