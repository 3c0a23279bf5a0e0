local refit = require "refit"
local json = require "refit.json"
return refit.playbook "test/remove-label" {
  summary = "remove a label",
  refit.step "unlabel" {
    run = function(ctx)
      ctx.cluster:patch({ kind = "Namespace", name = "default" }, { metadata = { labels = { ["kubernetes.io/metadata.name"] = json.null } } })
    end,
  },
}
