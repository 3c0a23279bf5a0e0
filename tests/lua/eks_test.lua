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

t.case("failure names the aws call and, for the identity's own errors, what to do", function()
  t.eq(eks.failure("describe-cluster", "AccessDeniedException",
                   "User: arn:aws:iam::111122223333:user/ci is not authorized to perform: eks:DescribeCluster"),
       "aws eks describe-cluster failed: AccessDeniedException: User: arn:aws:iam::111122223333:user/ci is not "
       .. "authorized to perform: eks:DescribeCluster\nthe AWS identity in use (aws sts get-caller-identity) may not "
       .. "do this: grant it the permission, or use a profile that has it (AWS_PROFILE, or the env of the "
       .. "kubeconfig's exec plugin)")
  t.eq(eks.failure("update-nodegroup-version", "ResourceInUseException", "an update is in progress"),
       "aws eks update-nodegroup-version failed: ResourceInUseException: an update is in progress")
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

-- A stand-in for a cluster handle reached through a kubeconfig context (c:kubeconfig(), as the real
-- backend and a snapshot's fixture give it), or through none (a fixture's cluster).
local function handle(name, kubeconfig)
  local c = {}
  function c:name() return name end
  function c:kubeconfig() return kubeconfig end
  return c
end

local function aws_plugin(args, env)
  return { command = "aws", args = args, env = env or {} }
end

t.case("identify reads the EKS cluster from the kubeconfig's aws eks get-token plugin", function()
  local c = handle("prod", { context = "prod", cluster = "prod", server = "https://10.0.0.1",
    exec = aws_plugin({ "--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod-eks", "--output", "json" },
                      { AWS_PROFILE = "ops" }) })
  local id = eks.identify(c, {})
  t.eq({ id.name, id.region, id.profile, id.guessed }, { "prod-eks", "eu-west-1", "ops", nil })
  t.eq(id.name_from, "the exec plugin of context prod")
  -- the parameters win over what the kubeconfig says
  id = eks.identify(c, { cluster = "other", region = "us-east-1" })
  t.eq({ id.name, id.region, id.name_from }, { "other", "us-east-1", "--set cluster" })
  -- "--name=value" and the region from the plugin's environment
  c = handle("x", { context = "x", exec = { command = "/usr/local/bin/aws",
    args = { "eks", "get-token", "--cluster-name=blue" }, env = { AWS_REGION = "ap-south-1" } } })
  id = eks.identify(c, { cluster = "" })
  t.eq({ id.name, id.region, id.profile }, { "blue", "ap-south-1", nil })
end)

t.case("identify reads aws-iam-authenticator, ARN and eksctl names, and the server's region", function()
  local id = eks.identify(handle("c", { context = "c", exec = { command = "aws-iam-authenticator",
    args = { "token", "-i", "green", "--region", "us-east-2" }, env = {} } }))
  t.eq({ id.name, id.region }, { "green", "us-east-2" })
  id = eks.identify(handle("arn:aws:eks:eu-central-1:111122223333:cluster/shop",
    { context = "arn:aws:eks:eu-central-1:111122223333:cluster/shop", cluster = "arn:aws:eks:eu-central-1:111122223333:cluster/shop" }))
  t.eq({ id.name, id.region, id.name_from }, { "shop", "eu-central-1",
    "the name of context arn:aws:eks:eu-central-1:111122223333:cluster/shop" })
  id = eks.identify(handle("me@edge.us-gov-west-1.eksctl.io",
    { context = "me@edge.us-gov-west-1.eksctl.io", cluster = "edge.us-gov-west-1.eksctl.io" }))
  t.eq({ id.name, id.region }, { "edge", "us-gov-west-1" })
  id = eks.identify(handle("ops", { context = "ops", cluster = "ops",
    server = "https://0123ABCD.gr7.ca-central-1.eks.amazonaws.com" }))
  t.eq({ id.name, id.region, id.guessed }, { "ops", "ca-central-1", true })
end)

t.case("identify falls back on the cluster's own name when nothing names the EKS cluster", function()
  local id = eks.identify(handle("demo", nil), { cluster = "", region = "" })
  t.eq({ id.name, id.region, id.profile, id.guessed, id.name_from }, { "demo", nil, nil, true, "the name of cluster demo" })
  -- a plugin of another cloud names no EKS cluster
  id = eks.identify(handle("gke", { context = "gke", exec = { command = "gke-gcloud-auth-plugin", args = {}, env = {} } }))
  t.eq({ id.name, id.region, id.guessed }, { "gke", nil, true })
end)

t.case("the client adds --region and --profile to every aws call", function()
  local seen
  local ctx = { exec = function(_, argv) seen = argv; return { code = 0, stdout = "{}", stderr = "", json = { nodegroups = {} } } end }
  eks.client(ctx, "prod-eks", { region = "eu-west-1", profile = "ops" }):list_nodegroups()
  t.eq({ table.unpack(seen) }, { "aws", "eks", "list-nodegroups", "--cluster-name", "prod-eks", "--region", "eu-west-1",
                                 "--profile", "ops", "--output", "json" })
  t.eq(seen.mutates, false)
end)
