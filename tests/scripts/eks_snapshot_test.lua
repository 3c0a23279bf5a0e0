-- refit test tests/scripts/eks_snapshot_test.lua: eks/upgrade on fixtures shaped as refit snapshot
-- eks/upgrade saves them (tests/scripts/fixtures/eks-1.20-snapshot*.yaml): the EKS cluster is the one
-- the saved kubeconfig context names, the node group adopts the nodes the snapshot holds, a subnet
-- only node groups use is not the control plane's, and the health issues EKS reported are the
-- ones the checks name. tests/cli/eks_snapshot_test.sh takes such a snapshot of a served world.
local t = require "refit.test"

local SNAPSHOT = "tests/scripts/fixtures/eks-1.20-snapshot.yaml"
local DEGRADED = "tests/scripts/fixtures/eks-1.20-snapshot-degraded.yaml"

local function node_names(nodes)
  local names = {}
  for _, n in ipairs(nodes) do names[#names + 1] = n.metadata.name end
  return names
end

local function nodes_of(world, cluster)
  return world.clusters[cluster].objects["core/Node"] or {}
end

t.case("a snapshot's plan acts on the EKS cluster its kubeconfig names, and rolls the nodes it holds", function()
  local r = t.plan { playbook = "eks/upgrade", sim = SNAPSHOT, set = { to = "1.21" } }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r:mutating_commands(), {
    "aws eks update-cluster-version --name prod-eks --kubernetes-version 1.21 --region eu-west-1 --output json",
    "aws eks update-nodegroup-version --cluster-name prod-eks --nodegroup-name workers --kubernetes-version 1.21 " ..
      "--region eu-west-1 --output json",
  })
  -- the node group adopted the two nodes the snapshot lists: it launched none of its own
  local listed = { "ip-10-1-32-50.eu-west-1.compute.internal", "ip-10-1-32-77.eu-west-1.compute.internal" }
  t.eq(node_names(nodes_of(r.world_before, "prod")), listed)
  local instances = r.world_before.cloud.eks.clusters["prod-eks"].nodegroups.workers.sim.instances
  t.eq({ instances[1].node, instances[1].instanceId, instances[1].subnet, instances[2].instanceId },
       { listed[1], "i-0a50", "subnet-0bbb", "i-0a77" })
  -- the update replaced them, one at a time, with nodes at addresses after theirs
  t.eq(node_names(nodes_of(r.world, "prod")),
       { "ip-10-1-32-78.eu-west-1.compute.internal", "ip-10-1-32-79.eu-west-1.compute.internal" })
  for _, n in ipairs(nodes_of(r.world, "prod")) do
    t.match(n.status.nodeInfo.kubeletVersion, "^v1%.21%.")
  end
  -- the control plane's subnets are the cluster's own: the node group's is not counted for its update
  t.eq(r.world_before.cloud.eks.clusters["prod-eks"].resourcesVpcConfig.subnetIds, { "subnet-0aaa" })
  t.ok(r:find("command", { argv = { "aws", "ec2", "describe-subnets", "--subnet-ids", "subnet-0aaa",
                                    "--region", "eu-west-1", "--output", "json" } }), "the cluster's subnets checked")
end)

t.case("the health issues a snapshot read are the ones the preflight names", function()
  local r = t.plan { playbook = "eks/upgrade", sim = DEGRADED, set = { to = "1.21" } }
  t.eq(r.status, "precondition_failed", r.output)
  local checks, n = r:failed_checks { positions = false }
  t.eq(n, 2)
  t.eq(checks["cluster-active"], "cluster prod-eks: node group workers is DEGRADED (AsgInstanceLaunchFailures: " ..
       "Could not launch On-Demand Instances (resourceIds: eks-workers-4ac2))")
  t.eq(checks["addons-healthy"], "add-ons must be healthy before the upgrade: add-on aws-ebs-csi-driver is DEGRADED " ..
       "(InsufficientNumberOfReplicas: The add-on is unhealthy because it doesn't have the desired number of replicas.)")
end)
