-- The eksctl model, driven the way an operator would: upgrade the control plane, then a node group.
local refit = require "refit"
local json = require "refit.json"

return refit.playbook "test/eksctl" {
  summary = "Upgrades a cluster with eksctl",
  refit.step "control-plane" {
    run = function(ctx)
      ctx:exec { "eksctl", "upgrade", "cluster", "--name", "demo", "--version", "1.21", "--approve", mutates = true }
    end,
  },
  refit.step "nodegroup" {
    run = function(ctx)
      ctx:exec { "eksctl", "upgrade", "nodegroup", "--name", "general", "--cluster", "demo",
                 "--kubernetes-version", "1.21", mutates = true }
    end,
    verify = function(ctx)
      local out = ctx:exec { "aws", "eks", "describe-nodegroup", "--cluster-name", "demo", "--nodegroup-name", "general" }
      ctx:require(out.json.nodegroup.version == "1.21", "node group general is at %s", out.json.nodegroup.version)
    end,
  },
  refit.step "unknown-cluster" {
    run = function(ctx)
      local r = ctx:exec { "eksctl", "get", "cluster", "--name", "nope", check = false }
      ctx.state.unknown_cluster_exit = r.code
    end,
  },
}
