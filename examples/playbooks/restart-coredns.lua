-- examples/playbooks/restart-coredns.lua: restart a Deployment (CoreDNS unless told otherwise) and
-- wait until every replica runs the restarted template, as `kubectl rollout restart` does.
--
--   refit plan examples/playbooks/restart-coredns.lua --sim examples/clusters/eks-1.20.yaml
--   refit apply examples/playbooks/restart-coredns.lua --set deployment=web --set namespace=shop
--
-- Useful after a ConfigMap change the pods only read at start (the CoreDNS Corefile, say).

local refit = require "refit"
local json = require "refit.json"
local k8s = require "refit.k8s"

-- Changing any annotation of the pod template makes the Deployment roll its pods. kubectl writes
-- the time; a playbook has no clock of its own, so we count restarts instead, which also tells
-- from the object how often it was restarted this way.
local RESTART_ANNOTATION = "refit.dev/restart"

local function ref(ctx)
  return { kind = "Deployment", namespace = ctx.params.namespace, name = ctx.params.deployment }
end

local function template_annotations(obj)
  local md = obj.spec and obj.spec.template and obj.spec.template.metadata
  return (md and md.annotations) or {}
end

local function set_restart(ctx, value)
  ctx.cluster:patch(ref(ctx), {
    spec = { template = { metadata = { annotations = { [RESTART_ANNOTATION] = value } } } },
  })
end

local function wait_rolled_out(ctx)
  ctx:wait(string.format("Deployment %s/%s rolled out", ctx.params.namespace, ctx.params.deployment), function()
    local obj = ctx.cluster:get(ref(ctx))
    if not obj then return false, "the Deployment is gone" end
    return k8s.rollout_complete(obj)
  end, { timeout = ctx.params.timeout, interval = "5s" })
end

return refit.playbook "examples/restart-coredns" {
  summary = "Restart a Deployment (default kube-system/coredns) and wait for the rollout",
  params = {
    namespace = refit.param.string { default = "kube-system", help = "namespace of the Deployment" },
    deployment = refit.param.string { default = "coredns", help = "name of the Deployment to restart" },
    timeout = refit.param.duration { default = "10m", help = "how long the rollout may take" },
  },
  preflight = {
    refit.check "deployment-exists" (function(ctx)
      ctx:require(ctx.cluster:get(ref(ctx)), "no Deployment %s in namespace %s",
                  ctx.params.deployment, ctx.params.namespace)
    end),
    -- Restarting on top of a rollout that is stuck would only hide why it is stuck.
    refit.check "deployment-healthy" (function(ctx)
      local obj = ctx.cluster:get(ref(ctx))
      if not obj then return end   -- reported by deployment-exists
      local ok, why = k8s.rollout_complete(obj)
      ctx:require(ok, "%s is not rolled out (%s): fix that first", k8s.describe(obj), tostring(why))
    end),
  },
  refit.step "restart" {
    summary = "bump the pod template's restart annotation and wait for the new pods",
    run = function(ctx)
      local before = template_annotations(ctx.cluster:get(ref(ctx)))[RESTART_ANNOTATION]
      -- json.null: the annotation was absent, and a merge patch with null removes it again
      ctx.state.previous = before or json.null
      set_restart(ctx, tostring((tonumber(before) or 0) + 1))
    end,
    verify = wait_rolled_out,
    -- Putting the previous template back rolls the pods once more, to the template they had.
    rollback = function(ctx)
      local previous = ctx.state.previous
      set_restart(ctx, previous == nil and json.null or previous)
      wait_rolled_out(ctx)
    end,
  },
}
