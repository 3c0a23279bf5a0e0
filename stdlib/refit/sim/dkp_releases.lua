-- refit.sim.dkp_releases: what each modelled DKP release ships, as the simulated world knows it:
-- its Kubernetes version, the Cluster API providers `dkp upgrade capi-components` installs, the core
-- addons `dkp upgrade addons` writes, the Kommander platform applications and their chart versions
-- (namespace kommander, and per workspace), and the DKP catalog applications and their versions.
--
-- Sources: the DKP 2.1 and 2.2 release notes and component lists (versions of the d2iq builds).
-- A playbook never reads this module: scripts/dkp/data/ holds the playbook's own copy of what it
-- expects, so that a mismatch between the two shows up in the tests.

local R = {}

-- DKP release -> Kubernetes version and component versions.
R.releases = {
  ["2.1.0"] = {
    kubernetes = "v1.21.6",
    providers = "2.1", addons = "2.1", platform = "2.1.0",
  },
  ["2.1.1"] = {
    kubernetes = "v1.21.6",
    providers = "2.1", addons = "2.1", platform = "2.1.1",
  },
  ["2.2.0"] = {
    kubernetes = "v1.22.8",
    providers = "2.2", addons = "2.2", platform = "2.2.0",
  },
}

-- The release an upgrade from each 2.1.x goes to (seed 001's matrix); the sim's tools upgrade to it.
R.NEXT = { ["2.1.0"] = "2.2.0", ["2.1.1"] = "2.2.0" }

-- clusterctl Provider objects (clusterctl.cluster.x-k8s.io/v1alpha3) on the management cluster:
-- { name, namespace, type, providerName }, versions per provider set.
R.providers = {
  { name = "cluster-api", namespace = "capi-system", type = "CoreProvider", providerName = "cluster-api" },
  { name = "bootstrap-kubeadm", namespace = "capi-kubeadm-bootstrap-system", type = "BootstrapProvider", providerName = "kubeadm" },
  { name = "control-plane-kubeadm", namespace = "capi-kubeadm-control-plane-system", type = "ControlPlaneProvider", providerName = "kubeadm" },
  { name = "infrastructure-aws", namespace = "capa-system", type = "InfrastructureProvider", providerName = "aws" },
  { name = "infrastructure-azure", namespace = "capz-system", type = "InfrastructureProvider", providerName = "azure" },
  { name = "infrastructure-preprovisioned", namespace = "cappp-system", type = "InfrastructureProvider", providerName = "preprovisioned" },
}
R.provider_versions = {
  ["2.1"] = {
    ["cluster-api"] = "v1.0.4-d2iq.2", ["bootstrap-kubeadm"] = "v1.0.4-d2iq.2", ["control-plane-kubeadm"] = "v1.0.4-d2iq.2",
    ["infrastructure-aws"] = "v1.2.0-d2iq.4", ["infrastructure-azure"] = "v1.0.1-d2iq.2",
    ["infrastructure-preprovisioned"] = "v0.7.4",
  },
  ["2.2"] = {
    ["cluster-api"] = "v1.1.3-d2iq.3", ["bootstrap-kubeadm"] = "v1.1.3-d2iq.3", ["control-plane-kubeadm"] = "v1.1.3-d2iq.3",
    ["infrastructure-aws"] = "v1.4.1-d2iq.1", ["infrastructure-azure"] = "v1.2.1-d2iq.1",
    ["infrastructure-preprovisioned"] = "v0.8.3",
  },
}

-- Core addons: one ClusterResourceSet + ConfigMap each, named <addon>-<cluster> (seed 001: CSI, CNI,
-- cluster autoscaler, node feature discovery). `images` are written into the ConfigMap's manifest.
R.addons = {
  { name = "calico-cni-installation", what = "CNI (Calico)", key = "custom-resources.yaml",
    images = { ["2.1"] = "docker.io/calico/cni:v3.21.3", ["2.2"] = "docker.io/calico/cni:v3.22.1" } },
  { name = "tigera-operator", what = "CNI (Tigera operator)", key = "tigera-operator.yaml",
    images = { ["2.1"] = "quay.io/tigera/operator:v1.23.5", ["2.2"] = "quay.io/tigera/operator:v1.25.3" } },
  { name = "aws-ebs-csi", what = "CSI (AWS EBS)", key = "aws-ebs-csi.yaml", provider = "aws",
    images = { ["2.1"] = "k8s.gcr.io/provider-aws/aws-ebs-csi-driver:v1.4.0", ["2.2"] = "k8s.gcr.io/provider-aws/aws-ebs-csi-driver:v1.5.1" } },
  { name = "azure-disk-csi", what = "CSI (Azure Disk)", key = "azure-disk-csi.yaml", provider = "azure",
    images = { ["2.1"] = "mcr.microsoft.com/k8s/csi/azuredisk-csi:v1.9.0", ["2.2"] = "mcr.microsoft.com/k8s/csi/azuredisk-csi:v1.13.0" } },
  { name = "local-volume-provisioner", what = "CSI (local volumes)", key = "local-volume-provisioner.yaml", provider = "preprovisioned",
    images = { ["2.1"] = "k8s.gcr.io/sig-storage/local-volume-provisioner:v2.4.0", ["2.2"] = "k8s.gcr.io/sig-storage/local-volume-provisioner:v2.4.0" } },
  { name = "cluster-autoscaler", what = "cluster autoscaler", key = "cluster-autoscaler.yaml",
    images = { ["2.1"] = "k8s.gcr.io/autoscaling/cluster-autoscaler:v1.21.0", ["2.2"] = "k8s.gcr.io/autoscaling/cluster-autoscaler:v1.22.2" } },
  { name = "node-feature-discovery", what = "node feature discovery", key = "node-feature-discovery.yaml",
    images = { ["2.1"] = "k8s.gcr.io/nfd/node-feature-discovery:v0.9.2", ["2.2"] = "k8s.gcr.io/nfd/node-feature-discovery:v0.10.1" } },
}

-- Kommander platform applications on the management cluster (namespace kommander), by release:
-- name -> chart version. `core` apps are upgraded first by `dkp upgrade kommander` (the others
-- depend on them). MetalLB is a platform app in 2.1 and no longer one in 2.2.
R.CORE_APPS = { "kommander-flux", "cert-manager", "kommander-appmanagement", "kommander" }
R.platform = {
  ["2.1.0"] = {
    ["kommander-flux"] = "0.27.3", ["cert-manager"] = "1.5.3", ["kommander-appmanagement"] = "v2.1.0", kommander = "v2.1.0",
    traefik = "10.3.0", gatekeeper = "3.6.0", ["kube-prometheus-stack"] = "19.2.3", ["grafana-logging"] = "6.16.14",
    velero = "3.1.5", dex = "2.9.13", reloader = "v0.0.99", kubefed = "0.8.1", metallb = "0.12.2",
  },
  ["2.1.1"] = {
    ["kommander-flux"] = "0.27.3", ["cert-manager"] = "1.5.3", ["kommander-appmanagement"] = "v2.1.1", kommander = "v2.1.1",
    traefik = "10.3.0", gatekeeper = "3.6.0", ["kube-prometheus-stack"] = "19.2.3", ["grafana-logging"] = "6.16.14",
    velero = "3.1.5", dex = "2.9.13", reloader = "v0.0.99", kubefed = "0.8.1", metallb = "0.12.2",
  },
  ["2.2.0"] = {
    ["kommander-flux"] = "0.31.4", ["cert-manager"] = "1.7.1", ["kommander-appmanagement"] = "v2.2.0", kommander = "v2.2.0",
    traefik = "10.9.1", gatekeeper = "3.7.0", ["kube-prometheus-stack"] = "33.1.5", ["grafana-logging"] = "6.22.0",
    velero = "3.2.0", dex = "2.9.16", reloader = "v0.0.110", kubefed = "0.9.1",
  },
}

-- The platform applications Kommander deploys to the clusters of every workspace (AppDeployments in
-- the workspace namespace, HelmReleases in that namespace on each of its clusters).
R.WORKSPACE_APPS = { "cert-manager", "traefik", "gatekeeper", "kube-prometheus-stack", "reloader" }

-- DKP catalog applications: name -> versions offered, oldest first. 2.2's catalog adds the versions
-- the 2.2 release notes list as the upgrade targets.
R.catalog = {
  ["kafka-operator"] = { "0.20.0", "0.20.2" },
  ["zookeeper-operator"] = { "0.2.13", "0.2.14" },
  ["spark-operator"] = { "1.1.6", "1.1.17" },
  ["cassandra-operator"] = { "0.1.0", "0.1.1" },
}

-- Seconds a HelmRelease takes to reconcile a new chart version (install or upgrade), by chart.
-- The rest take DEFAULT_RECONCILE.
R.RECONCILE = {
  ["kube-prometheus-stack"] = { 240, 420 },
  ["grafana-logging"] = { 120, 240 },
  kommander = { 120, 240 },
  ["kommander-appmanagement"] = { 90, 180 },
  ["cert-manager"] = { 60, 120 },
  gatekeeper = { 60, 150 },
  ["kommander-flux"] = { 60, 90 },
}
R.DEFAULT_RECONCILE = { 40, 100 }

-- AMI ids per Kubernetes version (the machine image `dkp update` points the new template at).
R.AMI = { ["v1.20.13"] = "ami-0a7c1b1d6e0f2a311", ["v1.21.6"] = "ami-0c3b3d8d7e6c5b211", ["v1.22.8"] = "ami-07e2d6b5f9f8a8c22" }

-- The components `dkp version` lists per DKP minor release (nil version: the CLI's release itself,
-- as for kommander and konvoy); the Konvoy adoption model prints the same lines for its CLI.
local CLI_COMPONENTS = {
  ["2.1"] = { { "diagnose", "v0.5.1" }, { "imagebuilder", "v1.5.0" }, { "kommander" }, { "konvoy" }, { "mindthegap", "v0.13.1" } },
  ["2.2"] = { { "diagnose", "v0.5.2" }, { "imagebuilder", "v1.11.0" }, { "kommander" }, { "konvoy" }, { "mindthegap", "v0.16.0" } },
}

-- { { component, version }, ... } of dkp CLI release `release` ("v2.2.0").
function R.cli_components(release)
  local bundled = CLI_COMPONENTS[release:match("^v?(%d+%.%d+)")] or CLI_COMPONENTS["2.2"]
  local out = {}
  for _, c in ipairs(bundled) do out[#out + 1] = { c[1], c[2] or release } end
  return out
end

-- "2.1.1", "v2.1.1" -> "2.1.1"
function R.plain(v) return (tostring(v):gsub("^v", "")) end

-- The minor of a Kubernetes version: "v1.21.6" -> "1.21"
function R.minor(v) return tostring(v):match("^v?(%d+%.%d+)") end

return R
