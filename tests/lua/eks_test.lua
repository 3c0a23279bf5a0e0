-- refit test tests/lua/eks_test.lua: the parts of refit.eks that need no world (the calls
-- themselves are exercised by tests/scripts/eks_upgrade_test.lua against the aws model).
local t = require "refit.test"
local eks = require "refit.eks"

t.case("parse_error reads the aws CLI's error line", function()
  local code, message, op = eks.parse_error(
    "\nAn error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: No cluster found for name: prod.\n")
  t.eq(code, "ResourceNotFoundException")
  t.eq(message, "No cluster found for name: prod.")
  t.eq(op, "DescribeCluster")
  t.eq(eks.parse_error("Unable to locate credentials"), nil)
  t.eq(eks.parse_error(nil), nil)
end)

t.case("describe_issues joins update errors and add-on health issues", function()
  t.eq(eks.describe_issues {
    { errorCode = "PodEvictionFailure", errorMessage = "Reached max retries", resourceIds = { "ip-1", "ip-2" } },
    { code = "InsufficientNumberOfReplicas", message = "unhealthy", resourceIds = {} },
  }, "PodEvictionFailure: Reached max retries (resourceIds: ip-1, ip-2); InsufficientNumberOfReplicas: unhealthy")
  t.eq(eks.describe_issues(nil), "")
end)

t.case("blocking_pdbs names the budgets that forbid evicting the pods of a node", function()
  local objects = {
    Pod = {
      { metadata = { namespace = "shop", name = "ledger-1", labels = { app = "ledger" } }, spec = { nodeName = "n1" } },
      { metadata = { namespace = "shop", name = "web-1", labels = { app = "web" } }, spec = { nodeName = "n1" } },
      { metadata = { namespace = "shop", name = "ledger-2", labels = { app = "ledger" } }, spec = { nodeName = "n2" } },
    },
    PodDisruptionBudget = {
      { metadata = { namespace = "shop", name = "ledger" }, spec = { selector = { matchLabels = { app = "ledger" } } },
        status = { disruptionsAllowed = 0 } },
      { metadata = { namespace = "shop", name = "web" }, spec = { selector = { matchLabels = { app = "web" } } },
        status = { disruptionsAllowed = 1 } },
    },
  }
  -- a stand-in for a cluster handle: list by kind, namespace and spec.nodeName
  local cluster = {}
  function cluster:list(q)
    local out, node = {}, q.fields and q.fields:match("^spec%.nodeName=(.*)$")
    for _, o in ipairs(objects[q.kind] or {}) do
      if (not q.namespace or o.metadata.namespace == q.namespace) and (not node or o.spec.nodeName == node) then
        out[#out + 1] = o
      end
    end
    return out
  end
  t.eq(eks.blocking_pdbs(cluster, { "n1" }), { { pdb = "shop/ledger", pod = "shop/ledger-1", node = "n1" } })
  t.eq(eks.blocking_pdbs(cluster, {}), {})
end)
