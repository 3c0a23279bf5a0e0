// refit unlock (docs/leases.md): removes a playbook's Lease from clusters where a run that died left
// it. Without force only a lease that expired (or that nobody holds) goes; a live one is named, with
// its holder, and left alone. With force any goes, saying whose it was.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "run/lease_keeper.hpp"

namespace refit::run {

struct UnlockRequest {
  std::string playbook;                // the playbook's name: its Lease is refit-<name>
  bool force = false;
  std::optional<std::string> run_id;   // refit unlock RUN: only a lease this run holds
  std::string force_command;           // the command that forces it, for the message that refuses
  bool clock_stands_still = false;     // a kept simulated world: a dead run's lease never expires there
};

struct UnlockReport {
  int exit_code = 0;                   // 0: done (or nothing to do); 2: refused, nothing was removed
  std::vector<std::string> lines;      // one per cluster, then what to do
};

// The arguments of `refit unlock` that name real clusters as a run named them: the inventory, else
// the context, and the kubeconfig when one was given.
std::vector<std::string> real_unlock_arguments(const std::optional<std::string>& inventory, const std::string& context,
                                               const std::string& kubeconfig);

// `refit unlock PLAYBOOK WORLD... --force`, as an operator types it: what removes the playbook's lease
// from the clusters WORLD names at once, for the messages of runs and of unlock itself.
std::string force_unlock_command(const std::string& playbook, const std::vector<std::string>& world);

// Reads the lease in every target first; removes nothing unless every one may go. Throws
// std::runtime_error naming the cluster when one cannot be read or removed.
UnlockReport unlock_leases(const NamedClusters& targets, const UnlockRequest& request, std::int64_t now_ms);

}  // namespace refit::run
