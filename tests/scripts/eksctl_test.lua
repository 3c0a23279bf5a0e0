-- The eksctl model: upgrades wait as the real tool does, and their time is the command's duration.
local t = require "refit.test"

t.case("eksctl upgrade cluster and nodegroup change the world and take their real time", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/eksctl.lua", sim = "examples/clusters/eks-1.20.yaml" }
  local cluster_cmd = r:find("command", { step = "control-plane" })
  t.eq({ cluster_cmd.code, cluster_cmd.changed }, { 0, true })
  t.ok(cluster_cmd.duration >= 25 * 60 * 1000, "a control-plane upgrade takes 25 minutes or more")
  local ng_cmd = r:find("command", { step = "nodegroup" })
  t.eq(ng_cmd.code, 0)
  t.ok(ng_cmd.duration >= 5 * 60 * 1000, "eksctl waits for the node group's rolling update")
  t.eq(r:find("step_finished", { step = "nodegroup" }).status, "succeeded")
  for _, node in ipairs(r:objects("demo", "Node")) do
    if node.metadata.labels["eks.amazonaws.com/nodegroup"] == "general" then
      t.match(node.status.nodeInfo.kubeletVersion, "^v1%.21%.", node.metadata.name)
    end
  end
end)

t.case("eksctl get cluster fails for a cluster that does not exist", function()
  local r = t.plan { playbook = "tests/scripts/playbooks/eksctl.lua", sim = "examples/clusters/eks-1.20.yaml" }
  t.ok(r:find("state_set", { key = "unknown_cluster_exit" }).value ~= 0, "eksctl get cluster --name nope exited 0")
end)
