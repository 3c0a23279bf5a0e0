local refit = require "refit"
local which = ...
return refit.playbook "test/needs-modules" {
  summary = "Requires a module from --lib and, when asked, one from --stdlib",
  params = { extra = refit.param.bool { default = false, help = "also require refit.extra" } },
  refit.step "use" {
    run = function(ctx)
      ctx.log(require("shared_helper").answer())
      if ctx.params.extra then ctx.log(require("refit.extra").answer()) end
    end,
  },
}
