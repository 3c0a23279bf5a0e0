-- tests/cli/files/api-mutations.lua: every kind of Kubernetes API write, round after round, for
-- tests/cli/sim_serve_faults_test.sh. Applied to a served world that injects API errors, it must end
-- in the world the in-process run ends in: a write made twice shows there, as a JSON patch that
-- appends to a list appends again (and a create made twice fails: the object exists). Its world is
-- tests/cli/files/api-mutations.yaml.

local refit = require "refit"
local drain = require "refit.drain"

local NS = "shop"

local function ledger() return { kind = "ConfigMap", namespace = NS, name = "ledger" } end

return refit.playbook "tests/api-mutations" {
  summary = "Creates, patches of each type, applies, replaces, evictions and deletes",
  params = {
    rounds = refit.param.int { default = 8, help = "how many times to write each way" },
  },
  refit.step "writes" {
    run = function(ctx)
      local c = ctx.cluster
      c:create { apiVersion = "v1", kind = "ConfigMap",
                 metadata = { name = "ledger", namespace = NS, finalizers = { "refit.dev/round-0" } },
                 data = { rounds = "0" } }
      local previous
      for i = 1, ctx.params.rounds do
        local entry = c:create { apiVersion = "v1", kind = "ConfigMap",
                                 metadata = { name = "entry-" .. i, namespace = NS, labels = { refit = "entry" } },
                                 data = { round = tostring(i) } }
        -- Appends to a list: made twice, the round would be there twice.
        c:patch(ledger(), { { op = "add", path = "/metadata/finalizers/-", value = "refit.dev/round-" .. i } },
                { type = "json" })
        c:patch(ledger(), { data = { rounds = tostring(i), ["round-" .. i] = entry.metadata.name } })
        c:patch({ kind = "Deployment", namespace = NS, name = "web" },
                { metadata = { annotations = { ["refit.dev/round"] = tostring(i) } } }, { type = "strategic" })
        c:apply { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "applied", namespace = NS },
                  data = { ["round-" .. i] = tostring(i) } }
        local current = c:get(ledger())
        current.metadata.labels = { round = tostring(i) }
        c:replace(current)
        c:patch_status({ kind = "CronTab", apiVersion = "stable.example.com/v1", namespace = NS, name = "nightly" },
                       { lastRound = i })
        if previous then c:delete { kind = "ConfigMap", namespace = NS, name = previous } end
        previous = entry.metadata.name
      end
    end,
  },
  refit.step "drain" {
    run = function(ctx)
      local s = drain.drain(ctx, ctx.cluster, "free-1", { timeout = "10m" })
      ctx.log("evicted %d pods from free-1", #s.evicted)
    end,
    -- The run ends when the world has settled, so that the in-process world (whose clock stops with
    -- the run) and the served one (whose clock goes on) can be compared.
    verify = function(ctx)
      ctx:wait("web runs two pods again", function()
        local running = 0
        for _, pod in ipairs(ctx.cluster:list { kind = "Pod", namespace = NS, labels = { app = "web" } }) do
          if pod.status and pod.status.phase == "Running" then running = running + 1 end
        end
        return running == 2, running .. " running"
      end)
    end,
  },
}
