#include "run/lease.hpp"

#include <cctype>

#include <fmt/format.h>

#include "run/utc_time.hpp"

namespace refit::run {

namespace {

using cluster::Json;

constexpr const char* kApiVersion = "coordination.k8s.io/v1";
// Another writer between a read and an update makes the update conflict; a few reads settle it.
constexpr int kAttempts = 5;

std::string text_at(const Json& object, const Json::json_pointer& pointer) {
  if (!object.contains(pointer)) return "";
  const Json& value = object.at(pointer);
  return value.is_string() ? value.get<std::string>() : "";
}

std::optional<std::int64_t> time_at(const Json& object, const Json::json_pointer& pointer) {
  std::string text = text_at(object, pointer);
  if (text.empty()) return std::nullopt;
  return parse_utc_time(text);
}

std::int64_t integer_at(const Json& object, const Json::json_pointer& pointer) {
  if (!object.contains(pointer)) return 0;
  const Json& value = object.at(pointer);
  return value.is_number_integer() ? value.get<std::int64_t>() : 0;
}

LeaseState state_of(const Json& object) {
  LeaseState s;
  s.holder = text_at(object, "/spec/holderIdentity"_json_pointer);
  s.host = text_at(object, "/metadata/annotations/refit.dev~1host"_json_pointer);
  s.playbook = text_at(object, "/metadata/annotations/refit.dev~1playbook"_json_pointer);
  s.acquired_ms = time_at(object, "/spec/acquireTime"_json_pointer);
  s.renewed_ms = time_at(object, "/spec/renewTime"_json_pointer);
  s.duration_s = integer_at(object, "/spec/leaseDurationSeconds"_json_pointer);
  s.transitions = integer_at(object, "/spec/leaseTransitions"_json_pointer);
  s.object = object;
  return s;
}

bool is_conflict(const cluster::ApiError& e) { return e.status == 409; }

// The Lease as this run holds it, from `base` (the stored one, or an empty object).
Json held_lease(Json base, const LeaseOptions& options, std::int64_t now_ms, bool again, std::int64_t transitions) {
  Json& metadata = base["metadata"];
  metadata["name"] = lease_name(options.playbook);
  metadata["namespace"] = kLeaseNamespace;
  metadata["labels"]["app.kubernetes.io/managed-by"] = "refit";
  Json& annotations = metadata["annotations"];
  annotations["refit.dev/host"] = options.host;
  annotations["refit.dev/playbook"] = options.playbook;
  if (!again || !annotations.contains("refit.dev/started")) annotations["refit.dev/started"] = utc_seconds_text(now_ms);
  base["apiVersion"] = kApiVersion;
  base["kind"] = "Lease";
  Json& spec = base["spec"];
  spec["holderIdentity"] = options.run_id;
  spec["leaseDurationSeconds"] = options.duration_s;
  if (!again || !spec.contains("acquireTime")) spec["acquireTime"] = utc_micro_text(now_ms);
  spec["renewTime"] = utc_micro_text(now_ms);
  spec["leaseTransitions"] = transitions;
  return base;
}

}  // namespace

std::string lease_name(const std::string& playbook) {
  std::string name = "refit-";
  for (char c : playbook) {
    auto u = static_cast<unsigned char>(c);
    name += std::isalnum(u) != 0 ? static_cast<char>(std::tolower(u)) : '-';
  }
  // A Lease name is a DNS subdomain: at most 253 characters, ending in a letter or digit.
  if (name.size() > 253) name.resize(253);
  while (name.back() == '-') name.pop_back();
  return name;
}

std::string lease_path(const std::string& playbook) {
  return fmt::format("{}/{}", kLeaseNamespace, lease_name(playbook));
}

std::string resume_holder_text(const std::string& holder) {
  return fmt::format("resume it with refit resume {}, which takes its lease again (a kept simulated world's clock "
                     "stands still between runs, so the lease of a run that died there never expires)", holder);
}

cluster::ObjectRef lease_ref(const std::string& playbook) {
  return {kApiVersion, "Lease", kLeaseNamespace, lease_name(playbook)};
}

std::int64_t LeaseState::expires_ms() const {
  std::optional<std::int64_t> last = renewed_ms ? renewed_ms : acquired_ms;
  return last ? *last + duration_s * 1000 : 0;
}

std::string LeaseState::holder_text() const {
  if (holder.empty()) return "nobody";
  return host.empty() ? fmt::format("run {}", holder) : fmt::format("run {} on host {}", holder, host);
}

std::string LeaseState::times_text(std::int64_t now_ms) const {
  auto when = [](const std::optional<std::int64_t>& ms) { return ms ? utc_seconds_text(*ms) : std::string("(not recorded)"); };
  const bool expired = now_ms >= expires_ms();
  std::string expiry = expires_ms() == 0 ? "expired" : fmt::format("{} {}", expired ? "expired" : "expires",
                                                                   utc_seconds_text(expires_ms()));
  return fmt::format("since {}, last renewed {}, {}", when(acquired_ms), when(renewed_ms), expiry);
}

std::optional<LeaseState> read_lease(cluster::Cluster& cluster, const std::string& playbook) {
  std::optional<LeaseState> found;
  cluster.get(lease_ref(playbook), [&found](const Json& object) { found = state_of(object); });
  return found;
}

TakeResult try_take(cluster::Cluster& cluster, const LeaseOptions& options, std::int64_t now_ms) {
  for (int attempt = 1;; ++attempt) {
    std::optional<LeaseState> existing = read_lease(cluster, options.playbook);
    TakeResult result;
    try {
      if (!existing) {
        result.kind = TakeResult::Kind::Created;
        cluster.create(held_lease(Json::object(), options, now_ms, false, 0), [](const Json&) {});
        return result;
      }
      const bool again = existing->holder == options.run_id;
      if (again) result.kind = TakeResult::Kind::TakenAgain;
      else if (existing->holder.empty()) result.kind = TakeResult::Kind::Free;
      else if (existing->expired_at(now_ms)) result.kind = TakeResult::Kind::TakenOver;
      else result.kind = TakeResult::Kind::Held;
      result.previous = existing;
      if (result.kind == TakeResult::Kind::Held) return result;
      // The update names the resourceVersion read: a writer in between makes it conflict.
      Json lease = held_lease(existing->object, options, now_ms, again,
                              again ? existing->transitions : existing->transitions + 1);
      cluster.replace(std::move(lease), [](const Json&) {});
      return result;
    } catch (const cluster::ApiError& e) {
      // Created meanwhile (409), changed meanwhile (409) or deleted meanwhile (404): read again.
      if ((!is_conflict(e) && e.status != 404) || attempt == kAttempts) throw;
    }
  }
}

RenewResult renew(cluster::Cluster& cluster, const LeaseOptions& options, std::int64_t now_ms) {
  for (int attempt = 1;; ++attempt) {
    std::optional<LeaseState> existing = read_lease(cluster, options.playbook);
    if (!existing) return {RenewResult::Kind::Removed, std::nullopt};
    if (existing->holder != options.run_id) return {RenewResult::Kind::TakenByOther, existing};
    Json lease = existing->object;
    lease["spec"]["renewTime"] = utc_micro_text(now_ms);
    lease["spec"]["leaseDurationSeconds"] = options.duration_s;
    try {
      cluster.replace(std::move(lease), [](const Json&) {});
      return {RenewResult::Kind::Renewed, std::nullopt};
    } catch (const cluster::ApiError& e) {
      if ((!is_conflict(e) && e.status != 404) || attempt == kAttempts) throw;
    }
  }
}

std::optional<LeaseState> release(cluster::Cluster& cluster, const LeaseOptions& options) {
  std::optional<LeaseState> existing = read_lease(cluster, options.playbook);
  if (!existing) return std::nullopt;
  if (existing->holder != options.run_id) return existing;
  // Between this read and the delete, only a run that found the Lease expired (or refit unlock
  // --force) could take it; a renewal every quarter of its duration keeps it from expiring here.
  cluster.remove(lease_ref(options.playbook), {});
  return std::nullopt;
}

bool remove_lease(cluster::Cluster& cluster, const std::string& playbook) {
  return cluster.remove(lease_ref(playbook), {});
}

}  // namespace refit::run
