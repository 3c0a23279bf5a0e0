-- refit test examples/playbooks/restart-coredns_test.lua
local t = require "refit.test"

local PLAYBOOK = "examples/playbooks/restart-coredns.lua"
local FIXTURE = "examples/clusters/eks-1.20.yaml"

local function deployment(r, world, namespace, name)
  for _, d in ipairs(r:objects(world, "Deployment")) do
    if d.metadata.namespace == namespace and d.metadata.name == name then return d end
  end
end

local function template_annotation(d)
  local md = d.spec.template.metadata
  return md and md.annotations and md.annotations["refit.dev/restart"]
end

t.case("restarting CoreDNS bumps the pod template and waits for the rollout", function()
  local r = t.plan { playbook = PLAYBOOK, sim = FIXTURE }
  t.eq(r.status, "succeeded", r.output)
  t.eq(r.exit_code, 0)

  -- one mutation: the template annotation, nothing else
  local mutations = r:all("mutation")
  t.eq(#mutations, 1)
  t.eq(mutations[1].verb, "patch")
  t.eq(mutations[1].kind, "Deployment")
  t.eq(mutations[1].namespace, "kube-system")
  t.eq(mutations[1].name, "coredns")

  local wait = r:find("wait_finished", { step = "restart" })
  t.ok(wait, "the step waits for the rollout")
  t.eq(wait.ok, true)
  t.eq(wait.what, "Deployment kube-system/coredns rolled out")

  local cluster = r.world.clusters and next(r.world.clusters)
  local d = deployment(r, cluster, "kube-system", "coredns")
  t.eq(template_annotation(d), "1")
  t.eq(d.status.updatedReplicas, d.spec.replicas)
end)

t.case("an absent Deployment is a failed precondition and changes nothing", function()
  local r = t.plan { playbook = PLAYBOOK, sim = FIXTURE, set = { deployment = "no-such-dns" } }
  t.eq(r.status, "precondition_failed")
  t.eq(r.exit_code, 2)
  local failed = r:find("check_failed", { check = "deployment-exists" })
  t.ok(failed, "deployment-exists fails")
  t.contains(failed.error, "no Deployment no-such-dns in namespace kube-system")
  t.eq(r:find("mutation"), nil)
  t.eq(r.world, r.world_before)
end)

t.case("the namespace and name are parameters", function()
  local r = t.plan { playbook = PLAYBOOK, sim = FIXTURE, set = { namespace = "default", deployment = "coredns" } }
  t.eq(r.status, "precondition_failed")
  t.contains(r:find("check_failed").error, "no Deployment coredns in namespace default")
end)
