-- refit.sim.kkp_crds: the CustomResourceDefinitions KKP installs on the master and on every seed
-- (the operator chart's crd/k8c.io directory of KKP 2.21). Their names all contain "kubermatic",
-- so `kubectl get crd | grep kubermatic` finds every one: the KKP upgrade guidelines' backup loop.

local M = {}

-- { plural, kind, scope } of the kubermatic.k8c.io/v1 kinds.
M.KUBERMATIC = {
  { "addonconfigs", "AddonConfig", "Cluster" },
  { "addons", "Addon", "Namespaced" },
  { "admissionplugins", "AdmissionPlugin", "Cluster" },
  { "alertmanagers", "Alertmanager", "Namespaced" },
  { "allowedregistries", "AllowedRegistry", "Cluster" },
  { "clusters", "Cluster", "Cluster" },
  { "clustertemplateinstances", "ClusterTemplateInstance", "Cluster" },
  { "clustertemplates", "ClusterTemplate", "Cluster" },
  { "constraints", "Constraint", "Namespaced" },
  { "constrainttemplates", "ConstraintTemplate", "Cluster" },
  { "etcdbackupconfigs", "EtcdBackupConfig", "Namespaced" },
  { "etcdrestores", "EtcdRestore", "Namespaced" },
  { "externalclusters", "ExternalCluster", "Cluster" },
  { "ipamallocations", "IPAMAllocation", "Namespaced" },
  { "ipampools", "IPAMPool", "Cluster" },
  { "kubermaticconfigurations", "KubermaticConfiguration", "Namespaced" },
  { "kubermaticsettings", "KubermaticSetting", "Cluster" },
  { "mlaadminsettings", "MLAAdminSetting", "Namespaced" },
  { "presets", "Preset", "Cluster" },
  { "projects", "Project", "Cluster" },
  { "resourcequotas", "ResourceQuota", "Cluster" },
  { "rulegroups", "RuleGroup", "Namespaced" },
  { "seeds", "Seed", "Namespaced" },
  { "userprojectbindings", "UserProjectBinding", "Cluster" },
  { "users", "User", "Cluster" },
  { "usersshkeys", "UserSSHKey", "Cluster" },
}

-- { plural, kind, scope } of the apps.kubermatic.k8c.io/v1 kinds (KKP applications).
M.APPS = {
  { "applicationdefinitions", "ApplicationDefinition", "Cluster" },
  { "applicationinstallations", "ApplicationInstallation", "Namespaced" },
}

local function crd(group, entry, version)
  local plural, kind, scope = entry[1], entry[2], entry[3]
  return {
    apiVersion = "apiextensions.k8s.io/v1",
    kind = "CustomResourceDefinition",
    metadata = {
      name = plural .. "." .. group,
      annotations = { ["app.kubernetes.io/version"] = version, ["kubermatic.k8c.io/location"] = "master,seed" },
    },
    spec = {
      group = group,
      names = { kind = kind, listKind = kind .. "List", plural = plural, singular = kind:lower() },
      scope = scope,
      versions = { { name = "v1", served = true, storage = true } },
    },
    status = {
      acceptedNames = { kind = kind, listKind = kind .. "List", plural = plural, singular = kind:lower() },
      conditions = {
        { type = "Established", status = "True", reason = "InitialNamesAccepted", message = "the initial names have been accepted" },
      },
      storedVersions = { "v1" },
    },
  }
end

-- Every CRD object, for a cluster running KKP `version` (the annotation the installer stamps).
function M.objects(version)
  local out = {}
  for _, e in ipairs(M.KUBERMATIC) do out[#out + 1] = crd("kubermatic.k8c.io", e, version) end
  for _, e in ipairs(M.APPS) do out[#out + 1] = crd("apps.kubermatic.k8c.io", e, version) end
  return out
end

-- The CRD names, sorted: what `kubectl get crd | grep kubermatic | cut -f1 -d' '` prints.
function M.names()
  local names = {}
  for _, o in ipairs(M.objects("")) do names[#names + 1] = o.metadata.name end
  table.sort(names)
  return names
end

return M
