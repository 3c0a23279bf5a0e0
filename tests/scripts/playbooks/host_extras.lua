-- ctx:connect and ctx:write_file (tests/scripts/host_extras_test.lua).
local refit = require "refit"
local base64 = require "refit.base64"

local function kubeconfig(ctx, name)
  local secret = assert(ctx.cluster:get { kind = "Secret", namespace = "default", name = name .. "-kubeconfig" })
  return assert(base64.decode(secret.data.value))
end

return refit.playbook "test/host-extras" {
  summary = "connect through a kubeconfig Secret; write a file",
  params = {
    target = refit.param.string { default = "edge" },
    kubeconfig_text = refit.param.string { default = "" },
    write_in_check = refit.param.bool { default = false },
    path = refit.param.string { default = "out/settings.yaml" },
  },
  preflight = {
    refit.check "reads-only" (function(ctx)
      if ctx.params.write_in_check then ctx:write_file(ctx.params.path, "x") end
    end),
  },
  refit.step "connect" {
    run = function(ctx)
      local text = ctx.params.kubeconfig_text ~= "" and ctx.params.kubeconfig_text or kubeconfig(ctx, ctx.params.target)
      local edge = ctx:connect(text, "Secret default/" .. ctx.params.target .. "-kubeconfig")
      edge:patch({ kind = "ConfigMap", namespace = "default", name = "settings" }, { data = { mode = "new" } })
      ctx.state.reached = edge:name()
    end,
  },
  refit.step "backup" {
    run = function(ctx)
      ctx:write_file(ctx.params.path, "mode: new\n")
    end,
  },
}
