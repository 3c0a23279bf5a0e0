-- A playbook that handles a token: it must never show up in any report or event.
local refit = require "refit"

return refit.playbook "test/secrets" {
  summary = "Uses a secret parameter in every place a value can surface",
  params = {
    token = refit.param.string { required = true, secret = true, help = "an API token" },
  },
  preflight = {
    refit.check "token-looks-right" (function(ctx)
      ctx.log.warn("checking token %s", ctx.params.token)
    end),
  },
  refit.step "store-token" {
    run = function(ctx)
      ctx.state.token = ctx.params.token
      ctx.cluster:create {
        apiVersion = "v1", kind = "Secret",
        metadata = { name = "api", namespace = "default" },
        stringData = { token = ctx.params.token },
      }
      ctx.cluster:patch({ kind = "Secret", namespace = "default", name = "api" },
                        { stringData = { token = "rotated-" .. ctx.params.token } })
      ctx:exec { "aws", "sts", "get-caller-identity", "--token", ctx.params.token, check = false }
      ctx:fail("the API refused token %s", ctx.params.token)
    end,
  },
}
