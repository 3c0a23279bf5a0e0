-- refit.sim.kkp_releases: what Kubermatic has published, as the simulated KKP world knows it.
--
-- The latest patch release of each minor (the same list scripts/kkp/data/paths.yaml ships: the
-- world and the playbook's data describe the same vendor) and the Helm charts each master and seed
-- stack of `kubermatic-installer deploy` installs, in the installer's order, with how long each
-- takes (milliseconds, drawn per run) as the KKP upgrade guides' example outputs show them.

local M = {}

M.LATEST_PATCHES = { "2.19.11", "2.20.11", "2.21.12", "2.22.9", "2.23.5" }

-- The editions, as the installer names them ("edition=..." in its first log line).
M.EDITIONS = { ce = "Community Edition", ee = "Enterprise Edition" }

-- The master stack (`deploy kubermatic-master`). `crds`: the chart ships CRDs the installer applies
-- first; `migrations`: the data migrations the operator chart runs before its Helm release.
M.MASTER_CHARTS = {
  { name = "nginx-ingress-controller", display = "nginx-ingress-controller", namespace = "nginx-ingress-controller",
    min = 3000, max = 20000 },
  { name = "cert-manager", display = "cert-manager", namespace = "cert-manager", crds = true, min = 19000, max = 30000 },
  { name = "dex", display = "Dex", namespace = "dex", min = 3000, max = 20000 },
  { name = "kubermatic-operator", display = "Kubermatic Operator", namespace = "kubermatic", crds = true,
    min = 29000, max = 90000 },
  { name = "telemetry", display = "Telemetry", namespace = "telemetry-system", min = 1000, max = 7000 },
}

-- The seed stack (`deploy kubermatic-seed`): only needed where a seed runs the bundled MinIO or
-- the MLA stack.
M.SEED_CHARTS = {
  { name = "minio", display = "MinIO", namespace = "minio", min = 10000, max = 40000 },
  { name = "s3-exporter", display = "S3 Exporter", namespace = "kube-system", min = 2000, max = 8000 },
}

-- The User Cluster MLA stack of a seed (namespace mla): its Deployments.
M.MLA_DEPLOYMENTS = {
  { name = "cortex-distributor", replicas = 2, image = "quay.io/cortexproject/cortex:v1.13.1" },
  { name = "cortex-query-frontend", replicas = 2, image = "quay.io/cortexproject/cortex:v1.13.1" },
  { name = "loki-distributed-distributor", replicas = 2, image = "docker.io/grafana/loki:2.6.1" },
  { name = "loki-distributed-gateway", replicas = 1, image = "docker.io/nginxinc/nginx-unprivileged:1.19-alpine" },
  { name = "grafana", replicas = 1, image = "docker.io/grafana/grafana:9.1.5" },
}

-- The image every KKP component runs (the operator, API, seed-controller-manager, ...).
function M.image(edition, version)
  return string.format("quay.io/kubermatic/kubermatic%s:%s", edition == "ee" and "-ee" or "", version)
end

return M
