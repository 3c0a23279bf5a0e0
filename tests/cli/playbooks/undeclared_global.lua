local refit = require "refit"
retries = 3
return refit.playbook "test/global" { summary = "sets a global", refit.step "s" { run = function() end } }
