#include "run/unlock.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "exec/executor.hpp"
#include "report/duration_text.hpp"
#include "run/utc_time.hpp"

namespace refit::run {

namespace {

struct Found {
  std::string cluster;
  cluster::Cluster* connection = nullptr;
  std::optional<LeaseState> lease;
  std::optional<std::string> refusal;  // why it may not go
};

}  // namespace

std::vector<std::string> real_unlock_arguments(const std::optional<std::string>& inventory, const std::string& context,
                                               const std::string& kubeconfig) {
  std::vector<std::string> args;
  if (inventory) args = {"--inventory", *inventory};
  else args = {"--context", context};
  if (!kubeconfig.empty()) args.insert(args.end(), {"--kubeconfig", kubeconfig});
  return args;
}

std::string force_unlock_command(const std::string& playbook, const std::vector<std::string>& world) {
  std::vector<std::string> argv = {"refit", "unlock", playbook};
  argv.insert(argv.end(), world.begin(), world.end());
  argv.push_back("--force");
  return exec::display_command(argv);
}

UnlockReport unlock_leases(const NamedClusters& targets, const UnlockRequest& request, std::int64_t now_ms) {
  const std::string lease = lease_path(request.playbook);
  std::vector<Found> found;
  bool refused = false;
  for (const auto& [name, connection] : targets) {
    Found f{name, connection, std::nullopt, std::nullopt};
    try {
      f.lease = read_lease(*connection, request.playbook);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("cluster {}: cannot read the Lease {}: {}", name, lease, e.what()));
    }
    if (f.lease && request.run_id && f.lease->holder != *request.run_id) {
      f.refusal = fmt::format("cluster {}: the Lease {} is held by {} ({}), not by run {}: left alone. If that run "
                              "is dead too: {}", name, lease, f.lease->holder_text(), f.lease->times_text(now_ms),
                              *request.run_id, request.force_command);
    } else if (f.lease && !request.force && !f.lease->expired_at(now_ms) && request.clock_stands_still) {
      f.refusal = fmt::format("cluster {}: the Lease {} is held by {} ({}): that run is alive, or it stopped in this "
                              "kept world. Let it finish; if it is dead, {}, or remove the lease now: {}", name, lease,
                              f.lease->holder_text(), f.lease->times_text(now_ms), resume_holder_text(f.lease->holder),
                              request.force_command);
    } else if (f.lease && !request.force && !f.lease->expired_at(now_ms)) {
      f.refusal = fmt::format("cluster {}: the Lease {} is held by {} ({}): that run is alive, or stopped less than {} "
                              "ago. Let it finish; if it is dead, wait until {} (a new run then takes the lease over "
                              "by itself) or remove it now: {}",
                              name, lease, f.lease->holder_text(), f.lease->times_text(now_ms),
                              report::duration_text(f.lease->duration_s * 1000), utc_seconds_text(f.lease->expires_ms()),
                              request.force_command);
    }
    refused = refused || f.refusal.has_value();
    found.push_back(std::move(f));
  }

  UnlockReport report;
  if (refused) {
    report.exit_code = 2;
    for (const Found& f : found) {
      if (f.refusal) report.lines.push_back(*f.refusal);
    }
    report.lines.push_back("Nothing was removed.");
    return report;
  }
  for (const Found& f : found) {
    if (!f.lease) {
      report.lines.push_back(fmt::format("cluster {}: no Lease {}: nothing to unlock", f.cluster, lease));
      continue;
    }
    try {
      remove_lease(*f.connection, request.playbook);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("cluster {}: cannot remove the Lease {}: {}", f.cluster, lease, e.what()));
    }
    const LeaseState& l = *f.lease;
    if (l.holder.empty()) {
      report.lines.push_back(fmt::format("cluster {}: removed the Lease {}, which nobody held", f.cluster, lease));
    } else if (l.expired_at(now_ms)) {
      report.lines.push_back(fmt::format("cluster {}: removed the expired Lease {} of {} ({})", f.cluster, lease,
                                         l.holder_text(), l.times_text(now_ms)));
    } else {
      report.lines.push_back(fmt::format("cluster {}: removed the live Lease {} of {} ({}): if that run is still "
                                         "going, it stops before its next call",
                                         f.cluster, lease, l.holder_text(), l.times_text(now_ms)));
    }
  }
  return report;
}

}  // namespace refit::run
