local refit = require "refit"

return refit.playbook "test/bad-retries" {
  summary = "A playbook with a contract error: retries is a string",
  refit.step "drain" {
    retries = "three",
    run = function(ctx) end,
  },
}
