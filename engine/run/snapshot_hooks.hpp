// The cloud side of a snapshot. A plan from live clusters runs in a simulated world made from what
// the clusters' API servers list, but a platform's vendor CLI answers from the cloud (the EKS
// control plane, node groups and add-ons that `aws eks` reports), which no API server lists. A
// playbook names what it needs of that side:
//
//   snapshot = { eks = eks.snapshot },   -- fixture section = function(ctx) returning it
//
// Each function runs once, before the plan, over the live clusters: it reads (the cluster handles
// refuse writes, and commands marked mutates = true are refused) for real, and returns the fixture
// section of the default target in the shape the simulated models load (docs/fixtures.md), or nil
// when that cluster has none. `refit plan PLAYBOOK --context` and `refit snapshot PLAYBOOK` run
// them after reading the Kubernetes objects (docs/real-clusters.md, "Plans from live clusters").
//
// Why the playbook names them, rather than refit guessing the product from the cluster: the
// playbook knows which parameters say which cloud cluster it acts on (`--set cluster=`, `region=`),
// and reads the same one in the plan as it changes in the apply; a playbook that needs no cloud
// (dkp, kkp) makes no cloud call. The functions live in the product's stdlib module (refit.eks),
// where the playbook's steps find the same client, so a new product adds one function there.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lua/vm.hpp"
#include "run/real_world.hpp"

namespace refit::run {

struct SnapshotHookOptions {
  std::string playbook;                    // bundled name or path
  std::vector<std::string> sets;           // --set k=v
  std::optional<std::string> values_file;  // -f values.yaml
  lua::VmOptions vm;
  std::function<void(const std::string&)> warn;  // a hook's ctx.log.warn
  std::function<void(const std::string&)> note;  // what a hook ran and logged, for verbose output
};

// A hook failed, or returned what is not a fixture section: the message names the playbook, the
// section and the cluster, and says how to fix it when the hook does (refit.eks asks for
// --set cluster=NAME when it cannot find the EKS cluster).
struct SnapshotHookError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class SnapshotHooks {
 public:
  // Loads the playbook and resolves its parameters in a VM of its own (so that nothing a hook keeps
  // outlives it): mistakes are found before a cluster is read. Throws playbook::LoadError.
  explicit SnapshotHooks(SnapshotHookOptions options);
  ~SnapshotHooks();

  // The sections the playbook's hooks fill, sorted ("eks"); empty when it declares none.
  const std::vector<std::string>& sections() const;

  // Runs every hook over `world`'s targets and puts each section it returns into the default
  // target's entry of `fixture` (RealWorld::snapshot's document). Throws SnapshotHookError.
  void read(RealWorld& world, nlohmann::json& fixture);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace refit::run
