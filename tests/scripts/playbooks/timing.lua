-- A playbook that exercises retries with backoff, step timeouts, waits on the world and refit.each.
local refit = require "refit"

return refit.playbook "test/timing" {
  summary = "Exercises retries, timeouts, waits and each",
  params = {
    scale_to = refit.param.int { default = 3, help = "replicas of the Deployment web" },
    hopeless = refit.param.bool { default = false, help = "run the step whose every attempt fails" },
    twins = refit.param.bool { default = false, help = "expand an each into two steps of one name" },
  },
  refit.each "twin" {
    items = function(ctx) return ctx.params.twins and { "same", "same" } or {} end,
    step = function() return { run = function() end } end,
  },
  refit.step "hopeless" {
    when = function(ctx) return ctx.params.hopeless end,
    retries = 1,
    backoff = "5s",
    run = function(ctx) ctx:fail("attempt failed on purpose") end,
  },
  refit.step "flaky" {
    retries = 2,
    backoff = "10s",
    run = function(ctx)
      local attempts = (ctx.state.attempts or 0) + 1
      ctx.state.attempts = attempts
      ctx:require(attempts >= 3, "attempt %d failed on purpose", attempts)
    end,
  },
  refit.step "deploy" {
    run = function(ctx)
      ctx.cluster:create {
        apiVersion = "apps/v1", kind = "Deployment",
        metadata = { name = "web", namespace = "default" },
        spec = {
          replicas = ctx.params.scale_to,
          selector = { matchLabels = { app = "web" } },
          template = { metadata = { labels = { app = "web" } },
                       spec = { containers = { { name = "web", image = "nginx:1.25" } } } },
        },
      }
    end,
    verify = function(ctx)
      ctx:wait("Deployment web available", function()
        local d = ctx.cluster:get { kind = "Deployment", namespace = "default", name = "web" }
        return require("refit.k8s").rollout_complete(d)
      end, { timeout = "5m", interval = "5s" })
    end,
  },
  refit.each "label" {
    items = function(ctx)
      return ctx.cluster:list { kind = "Node" }
    end,
    step = function(node)
      return {
        run = function(ctx)
          ctx.cluster:patch({ kind = "Node", name = node.metadata.name },
                            { metadata = { labels = { ["refit.test/labelled"] = "yes" } } })
        end,
      }
    end,
  },
  refit.step "never-ready" {
    timeout = "1m",
    verify = function(ctx)
      ctx:wait("a ConfigMap that nobody creates", function()
        return ctx.cluster:get { kind = "ConfigMap", namespace = "default", name = "nobody" } ~= nil,
               "ConfigMap default/nobody does not exist"
      end, { timeout = "10m" })
    end,
  },
}
