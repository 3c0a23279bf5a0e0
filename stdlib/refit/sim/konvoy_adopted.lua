-- refit.sim.konvoy_adopted: a Konvoy 1.8 cluster that an earlier run of dkp/major-upgrade already
-- adopted (the fixture's konvoy.adopted, docs/fixtures.md): the world a re-run starts from after a
-- failure past the point of no return.
--
-- konvoy_fixture.objects already made the cluster's own objects as the steps before the adoption
-- left them (EBS CSI controllers on control-plane nodes, podSubnet, no namespace konvoy, Calico in
-- calico-system, Dex's env). This adds what the dkp commands did, with the commands' own code
-- (refit.sim.konvoy_dkp): the bootstrap controllers, the prepare-to-adopt objects, `dkp adopt`, and
-- the status the CAPI controllers wrote. Then the Kubernetes upgrade as far as it got:
--   adopted.controlPlane { version, imageID }: AWSMachineTemplate <kcp>-<version> with that image,
--     the KubeadmControlPlane at that version, its machines replaced the way the CAPI controllers
--     (refit.sim.dkp_capi) replace them: new Machines <kcp>-<5 chars>, no adopted KubeadmConfig;
--   adopted.nodePools [{ name, version, imageID }]: AWSMachineTemplate <md>-<version> with that
--     image and the MachineDeployment patched to both; its machines not replaced yet.
-- Everything is written at load, before the CAPI controllers start: nothing rolls until the
-- playbook changes a KubeadmControlPlane or MachineDeployment.

local util = require "refit.sim.util"
local capi = require "refit.sim.konvoy_capi"
local fixture = require "refit.sim.konvoy_fixture"

local CAPI = "cluster.x-k8s.io/v1beta1"
local CAPA = "infrastructure.cluster.x-k8s.io/v1beta1"
local KCP = "controlplane.cluster.x-k8s.io/v1beta1"
local CABPK = "bootstrap.cluster.x-k8s.io/v1beta1"

return function(W, env, dkp, controllers)
  local O = require("refit.sim.dkp_capi_objects")(W)
  local ns = capi.NAMESPACE

  -- A copy of template `from` named `name` with machine image `ami`.
  local function template(c, from, name, ami)
    local old = c:get { apiVersion = CAPA, kind = "AWSMachineTemplate", namespace = ns, name = from }
    local t = { apiVersion = CAPA, kind = "AWSMachineTemplate",
                metadata = { name = name, namespace = ns, labels = old.metadata.labels }, spec = util.copy(old.spec) }
    t.spec.template.spec.ami = { id = ami }
    c:create(t, { quiet = true })
  end

  local function control_plane(c, rec, moved)
    local kcp = rec.name .. "-control-plane"
    local tname = kcp .. "-" .. moved.version
    template(c, kcp, tname, moved.imageID)
    c:patch({ apiVersion = KCP, kind = "KubeadmControlPlane", namespace = ns, name = kcp },
            { spec = { version = moved.version, machineTemplate = { infrastructureRef = { name = tname } } } },
            { type = "merge", quiet = true })
    -- the adopted machines are gone (drained, deleted), with their bootstrap objects
    for _, m in ipairs(c:list { apiVersion = CAPI, kind = "Machine", namespace = ns,
                                labels = capi.CLUSTER_LABEL .. "=" .. rec.name .. "," .. capi.CONTROL_PLANE_LABEL }) do
      local name = m.metadata.name
      for _, ref in ipairs { { apiVersion = CAPI, kind = "Machine" }, { apiVersion = CABPK, kind = "KubeadmConfig" },
                             { apiVersion = "v1", kind = "Secret" }, { apiVersion = CAPA, kind = "AWSMachine" } } do
        ref.namespace, ref.name = ns, name
        c:delete(ref)
      end
    end
    for i, n in ipairs(fixture.replaced_control_plane(rec)) do
      c:create(O.machine { name = kcp .. "-" .. util.hash_name(kcp .. moved.version .. i, 5), namespace = ns,
                           cluster = rec.name, version = moved.version, control_plane = true, owner = kcp, provider = "aws",
                           zone = n.zone, instance = n.instance, node = n.name }, { quiet = true })
    end
  end

  local function node_pool(c, rec, moved)
    local md = rec.name .. "-" .. moved.name
    local tname = md .. "-" .. moved.version
    template(c, md, tname, moved.imageID)
    c:patch({ apiVersion = CAPI, kind = "MachineDeployment", namespace = ns, name = md },
            { spec = { template = { spec = { version = moved.version, infrastructureRef = { name = tname } } } } },
            { type = "merge", quiet = true })
  end

  return function(rec)
    local c = W.cluster(rec.name)
    dkp.install_controllers(c, false)
    dkp.create_capi(c, capi.build(W, rec), math.huge)
    dkp.adopt(c, rec.name)
    if rec.adopted.controlPlane then control_plane(c, rec, rec.adopted.controlPlane) end
    for _, moved in ipairs(rec.adopted.nodePools) do node_pool(c, rec, moved) end
    controllers.reconcile(rec.name)
  end
end
