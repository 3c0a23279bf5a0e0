-- A fleet playbook of the CLI tests (tests/cli/real_fleet_plan_test.sh): from a DKP management
-- cluster, reach every managed cluster through its Cluster API kubeconfig Secret (ctx:connect), as
-- dkp/upgrade does, count its nodes, and restart each of its Deployments, waiting for the rollouts.
-- It runs no vendor CLI, so a plan from a snapshot of the management cluster has all it needs once
-- it follows ctx:connect to the managed clusters.
local refit = require "refit"
local base64 = require "refit.base64"
local k8s = require "refit.k8s"

local CAPI = "cluster.x-k8s.io/v1beta1"

-- { { name =, c = handle }, ... }: the management cluster's CAPI Clusters other than its own.
local function managed(ctx)
  local out = {}
  for _, cl in ipairs(ctx.cluster:list { apiVersion = CAPI, kind = "Cluster" }) do
    local name, ns = cl.metadata.name, cl.metadata.namespace
    if name ~= ctx.cluster:name() then
      local secret = ctx.cluster:get { kind = "Secret", namespace = ns, name = name .. "-kubeconfig" }
      ctx:require(secret, "no kubeconfig Secret %s/%s-kubeconfig", ns, name)
      out[#out + 1] = { name = name, c = ctx:connect(base64.decode(secret.data.value),
                                                      string.format("Secret %s/%s-kubeconfig", ns, name)) }
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

return refit.playbook "test/fleet-restart" {
  summary = "restart the Deployments of every managed cluster of a DKP management cluster",
  preflight = {
    refit.check "managed-clusters" (function(ctx)
      for _, m in ipairs(managed(ctx)) do
        ctx.log("%s (%s): %d nodes", m.name, m.c:version().gitVersion, #m.c:list { kind = "Node" })
      end
    end),
  },
  refit.step "restart" {
    run = function(ctx)
      for _, m in ipairs(managed(ctx)) do
        for _, d in ipairs(m.c:list { kind = "Deployment" }) do
          m.c:patch(d, { spec = { template = { metadata = { annotations = { ["refit.dev/restart"] = "1" } } } } })
        end
      end
    end,
    verify = function(ctx)
      for _, m in ipairs(managed(ctx)) do
        for _, d in ipairs(m.c:list { kind = "Deployment" }) do
          ctx:wait(string.format("%s: %s rolled out", m.name, k8s.describe(d)), function()
            return k8s.rollout_complete(m.c:get(d))
          end, { timeout = "10m", interval = "5s" })
        end
      end
    end,
  },
}
