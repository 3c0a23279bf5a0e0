local refit = require "refit"
return refit.playbook "test/syntax" {
  summary = "unfinished"
