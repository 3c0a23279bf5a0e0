// Which real clusters a run targets, by the names the playbook uses (ctx.clusters[name]): one
// `--context`, or an inventory file that maps each name to a kubeconfig context.
//
//   # inventory.yaml
//   clusters:
//     management:                 # the playbook's name for it
//       context: admin@mgmt       # the kubeconfig context
//       kubeconfig: ~/.kube/mgmt  # optional: this file instead of --kubeconfig / KUBECONFIG
//       default: true             # ctx.cluster (else the first one listed)
//     seed-eu:
//       context: seed-eu
#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace refit::run {

struct Target {
  std::string name;                     // the playbook's name for the cluster
  std::string context;                  // kubeconfig context; empty: the kubeconfig's current-context
  std::optional<std::string> kubeconfig;  // a kubeconfig file of its own
};

struct Targets {
  std::vector<Target> clusters;  // in the order given; never empty
  std::string default_name;      // ctx.cluster
};

struct InventoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads an inventory file. Errors name the file and the field ("inv.yaml: clusters.seed-eu.context:
// required"). `~/` in kubeconfig paths is the home directory; relative paths are relative to the file.
Targets read_inventory(const std::string& path);

// One cluster: named after its context (or "default" when only the current-context is used).
Targets single_target(const std::string& context);

}  // namespace refit::run
