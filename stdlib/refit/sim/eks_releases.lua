-- refit.sim.eks_releases: what Amazon EKS runs for each Kubernetes minor, as the simulated EKS
-- reports it: the API server's gitVersion, the latest platform version, the EKS-optimized
-- Amazon Linux 2 AMI's kubelet and release version (what managed node groups launch), and the
-- kubelet Fargate nodes report. Values follow the shapes AWS publishes; the patch levels are those
-- of a typical point in each minor's support window.

return {
  ["1.19"] = { server = "v1.19.16-eks-25803e", platform = "eks.11", kubelet = "v1.19.15-eks-9c63c4",
               release = "1.19.15-20220406", fargate = "v1.19.16-eks-bfd0f5" },
  ["1.20"] = { server = "v1.20.15-eks-14c7a48", platform = "eks.14", kubelet = "v1.20.11-eks-f17b81",
               release = "1.20.11-20220406", fargate = "v1.20.15-eks-f6a4d5d" },
  ["1.21"] = { server = "v1.21.14-eks-fb459a0", platform = "eks.18", kubelet = "v1.21.5-eks-9017834",
               release = "1.21.5-20220406", fargate = "v1.21.14-eks-6d3986b" },
  ["1.22"] = { server = "v1.22.17-eks-0a21954", platform = "eks.16", kubelet = "v1.22.9-eks-810597c",
               release = "1.22.9-20220629", fargate = "v1.22.17-eks-48e63af" },
  ["1.23"] = { server = "v1.23.17-eks-0a21954", platform = "eks.14", kubelet = "v1.23.9-eks-ba74326",
               release = "1.23.9-20220926", fargate = "v1.23.17-eks-f4dc2c0" },
  ["1.24"] = { server = "v1.24.17-eks-5e0fdde", platform = "eks.12", kubelet = "v1.24.7-eks-fb459a0",
               release = "1.24.7-20221222", fargate = "v1.24.17-eks-4f4795d" },
  ["1.25"] = { server = "v1.25.16-eks-5e0fdde", platform = "eks.13", kubelet = "v1.25.9-eks-0a21954",
               release = "1.25.9-20230526", fargate = "v1.25.16-eks-4f4795d" },
  ["1.26"] = { server = "v1.26.15-eks-adc7111", platform = "eks.14", kubelet = "v1.26.4-eks-0a21954",
               release = "1.26.4-20230526", fargate = "v1.26.15-eks-4f4795d" },
  ["1.27"] = { server = "v1.27.16-eks-a18cd3a", platform = "eks.15", kubelet = "v1.27.1-eks-2f008fe",
               release = "1.27.1-20230703", fargate = "v1.27.16-eks-2d98532" },
  ["1.28"] = { server = "v1.28.15-eks-7f9249a", platform = "eks.16", kubelet = "v1.28.3-eks-e71965b",
               release = "1.28.3-20231201", fargate = "v1.28.15-eks-2d98532" },
  ["1.29"] = { server = "v1.29.10-eks-7f9249a", platform = "eks.13", kubelet = "v1.29.0-eks-5e0fdde",
               release = "1.29.0-20240202", fargate = "v1.29.10-eks-2d98532" },
  ["1.30"] = { server = "v1.30.6-eks-7f9249a", platform = "eks.12", kubelet = "v1.30.0-eks-036c24b",
               release = "1.30.0-20240503", fargate = "v1.30.6-eks-2d98532" },
}
