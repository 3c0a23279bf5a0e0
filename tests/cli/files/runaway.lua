local refit = require "refit"
return refit.playbook "test/runaway" {
  summary = "A step whose check never ends",
  refit.step "spin" {
    verify = function(ctx)
      local n = 0
      while n >= 0 do n = n + 1 end
    end,
  },
}
