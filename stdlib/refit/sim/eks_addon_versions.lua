-- refit.sim.eks_addon_versions: the Amazon EKS add-on versions per Kubernetes minor, as
-- `aws eks describe-addon-versions` lists them: for kube-proxy, coredns and vpc-cni, the default
-- version (what EKS installs on a new cluster of that minor and what AWS's upgrade tables
-- recommend) and the other versions compatible with that minor, newest first.
--
-- The same tags are the image tags of the self-managed add-ons (the kube-proxy and aws-node
-- DaemonSets and the coredns Deployment in kube-system), which eksctl's `utils update-*` commands
-- set to the default version.
--
-- (This is a Lua module rather than sim/data/eks-addon-versions.yaml because models have no
-- primitive to read a data file from the stdlib; W.read_yaml reads beside the fixture.)

return {
  ["1.20"] = {
    ["kube-proxy"] = { default = "v1.20.4-eksbuild.2", others = { "v1.20.15-eksbuild.2", "v1.20.7-eksbuild.1" } },
    coredns = { default = "v1.8.3-eksbuild.1", others = {} },
    ["vpc-cni"] = { default = "v1.10.1-eksbuild.1",
                    others = { "v1.11.4-eksbuild.1", "v1.10.4-eksbuild.1", "v1.9.3-eksbuild.1", "v1.7.5-eksbuild.2" } },
  },
  ["1.21"] = {
    ["kube-proxy"] = { default = "v1.21.2-eksbuild.2", others = { "v1.21.14-eksbuild.2", "v1.21.14-eksbuild.3" } },
    coredns = { default = "v1.8.4-eksbuild.1", others = { "v1.8.4-eksbuild.2", "v1.8.3-eksbuild.1" } },
    ["vpc-cni"] = { default = "v1.10.1-eksbuild.1",
                    others = { "v1.12.6-eksbuild.2", "v1.11.4-eksbuild.1", "v1.10.4-eksbuild.1", "v1.9.3-eksbuild.1" } },
  },
  ["1.22"] = {
    ["kube-proxy"] = { default = "v1.22.6-eksbuild.1", others = { "v1.22.17-eksbuild.2", "v1.22.11-eksbuild.2" } },
    coredns = { default = "v1.8.7-eksbuild.1", others = { "v1.8.7-eksbuild.3", "v1.8.7-eksbuild.2", "v1.8.4-eksbuild.2" } },
    ["vpc-cni"] = { default = "v1.10.4-eksbuild.1",
                    others = { "v1.13.4-eksbuild.1", "v1.12.6-eksbuild.2", "v1.11.4-eksbuild.1", "v1.10.1-eksbuild.1" } },
  },
  ["1.23"] = {
    ["kube-proxy"] = { default = "v1.23.7-eksbuild.1", others = { "v1.23.17-eksbuild.2", "v1.23.8-eksbuild.2" } },
    coredns = { default = "v1.8.7-eksbuild.2", others = { "v1.8.7-eksbuild.3", "v1.8.7-eksbuild.1" } },
    ["vpc-cni"] = { default = "v1.11.4-eksbuild.1",
                    others = { "v1.14.1-eksbuild.1", "v1.13.4-eksbuild.1", "v1.12.6-eksbuild.2", "v1.10.4-eksbuild.1" } },
  },
  ["1.24"] = {
    ["kube-proxy"] = { default = "v1.24.7-eksbuild.2", others = { "v1.24.17-eksbuild.3", "v1.24.9-eksbuild.1" } },
    coredns = { default = "v1.8.7-eksbuild.3", others = { "v1.9.3-eksbuild.2", "v1.8.7-eksbuild.2" } },
    ["vpc-cni"] = { default = "v1.11.4-eksbuild.1",
                    others = { "v1.15.1-eksbuild.1", "v1.14.1-eksbuild.1", "v1.13.4-eksbuild.1", "v1.12.6-eksbuild.2" } },
  },
  ["1.25"] = {
    ["kube-proxy"] = { default = "v1.25.6-eksbuild.1", others = { "v1.25.16-eksbuild.2", "v1.25.11-eksbuild.2" } },
    coredns = { default = "v1.9.3-eksbuild.2", others = { "v1.9.3-eksbuild.3" } },
    ["vpc-cni"] = { default = "v1.12.6-eksbuild.2",
                    others = { "v1.15.1-eksbuild.1", "v1.14.1-eksbuild.1", "v1.13.4-eksbuild.1" } },
  },
  ["1.26"] = {
    ["kube-proxy"] = { default = "v1.26.2-eksbuild.1", others = { "v1.26.15-eksbuild.2", "v1.26.9-eksbuild.2" } },
    coredns = { default = "v1.9.3-eksbuild.3", others = { "v1.9.3-eksbuild.2" } },
    ["vpc-cni"] = { default = "v1.12.6-eksbuild.2",
                    others = { "v1.16.0-eksbuild.1", "v1.15.1-eksbuild.1", "v1.14.1-eksbuild.1", "v1.13.4-eksbuild.1" } },
  },
  ["1.27"] = {
    ["kube-proxy"] = { default = "v1.27.1-eksbuild.1", others = { "v1.27.16-eksbuild.3", "v1.27.6-eksbuild.2" } },
    coredns = { default = "v1.10.1-eksbuild.1", others = { "v1.10.1-eksbuild.2" } },
    ["vpc-cni"] = { default = "v1.12.6-eksbuild.2",
                    others = { "v1.18.1-eksbuild.3", "v1.16.0-eksbuild.1", "v1.15.1-eksbuild.1", "v1.14.1-eksbuild.1" } },
  },
  ["1.28"] = {
    ["kube-proxy"] = { default = "v1.28.1-eksbuild.1", others = { "v1.28.15-eksbuild.4", "v1.28.2-eksbuild.2" } },
    coredns = { default = "v1.10.1-eksbuild.2", others = { "v1.10.1-eksbuild.1" } },
    ["vpc-cni"] = { default = "v1.14.1-eksbuild.1",
                    others = { "v1.18.1-eksbuild.3", "v1.16.0-eksbuild.1", "v1.15.1-eksbuild.1" } },
  },
  ["1.29"] = {
    ["kube-proxy"] = { default = "v1.29.0-eksbuild.1", others = { "v1.29.10-eksbuild.3", "v1.29.3-eksbuild.2" } },
    coredns = { default = "v1.11.1-eksbuild.4", others = { "v1.11.1-eksbuild.8" } },
    ["vpc-cni"] = { default = "v1.16.0-eksbuild.1", others = { "v1.19.0-eksbuild.1", "v1.18.1-eksbuild.3" } },
  },
  ["1.30"] = {
    ["kube-proxy"] = { default = "v1.30.0-eksbuild.3", others = { "v1.30.6-eksbuild.3", "v1.30.3-eksbuild.5" } },
    coredns = { default = "v1.11.1-eksbuild.8", others = { "v1.11.1-eksbuild.4" } },
    ["vpc-cni"] = { default = "v1.18.1-eksbuild.3", others = { "v1.19.0-eksbuild.1", "v1.16.0-eksbuild.1" } },
  },
}
