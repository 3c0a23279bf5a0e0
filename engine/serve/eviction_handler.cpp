// POST pods/<name>/eviction (policy/v1 or v1beta1 Eviction): the kube model decides, with the
// budgets' live numbers, as the API server's eviction REST does; 429 when a PodDisruptionBudget
// forbids it. A dry run cannot ask the model (its eviction is also its bookkeeping), so it checks
// the budgets' published status instead, which is what the API server reads.
#include <fmt/format.h>

#include "cluster/selectors.hpp"
#include "serve/api_request.hpp"

namespace refit::serve {
namespace {

bool pod_ready(const Json& pod) {
  auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return false;
  auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return false;
  for (const Json& condition : *conditions) {
    if (condition.value("type", "") == "Ready") return condition.value("status", "") == "True";
  }
  return false;
}

std::int64_t number_at(const Json& status, const char* key) {
  auto it = status.find(key);
  return it != status.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// The budget that would refuse evicting `pod` now, or "".
std::string blocking_budget(sim::SimCluster& cluster, const Json& pod, const std::string& ns) {
  Json labels = pod["metadata"].value("labels", Json::object());
  bool ready = pod_ready(pod);
  std::string blocker;
  cluster.list(sim::ListQuery{"policy/v1", "PodDisruptionBudget", ns, "", ""}, [&](const Json& pdb) {
    if (!blocker.empty()) return;
    Json spec = pdb.value("spec", Json::object());
    Json selector = spec.value("selector", Json());
    // policy/v1beta1: an empty selector selects nothing; policy/v1: every pod of the namespace.
    if (pdb.value("apiVersion", "") == "policy/v1beta1" && (selector.is_null() || selector.empty())) return;
    if (!LabelSelector::from_json(selector).matches(labels)) return;
    Json status = pdb.value("status", Json::object());
    bool forbids = ready ? number_at(status, "disruptionsAllowed") <= 0
                         : number_at(status, "currentHealthy") < number_at(status, "desiredHealthy");
    if (forbids) blocker = pdb["metadata"].value("name", "");
  });
  return blocker;
}

}  // namespace

void handle_eviction(const ApiRequest& request) {
  bool dry_run = request.dry_run();
  Json eviction = request.http.body.empty() ? Json::object() : request.body();
  if (!eviction.is_object()) throw bad_request("the request body must be an Eviction object");
  if (auto metadata = eviction.find("metadata"); metadata != eviction.end() && metadata->is_object()) {
    std::string name = metadata->value("name", std::string());
    if (!name.empty() && name != request.path.name) {
      throw bad_request(fmt::format("name in URL does not match name in Eviction object ({} and {})", request.path.name,
                                    name));
    }
  }
  if (auto options = eviction.find("deleteOptions"); options != eviction.end() && options->is_object()) {
    if (auto values = options->find("dryRun"); values != options->end() && values->is_array() && !values->empty()) {
      dry_run = true;
    }
  }
  sim::ObjectRef pod = request.ref();
  if (dry_run) {
    Json current;
    if (!request.cluster.get(pod, [&](const Json& object) { current = object; })) throw not_found(request.subject());
    std::string budget = blocking_budget(request.cluster, current, pod.ns);
    if (!budget.empty()) {
      throw status_of(cluster::ApiError(429, "TooManyRequests",
                                        fmt::format("Cannot evict pod {}/{} as it would violate the pod's disruption "
                                                    "budget {}/{}", pod.ns, pod.name, pod.ns, budget)),
                      request.subject());
    }
  } else {
    try {
      request.cluster.evict(pod);
    } catch (const cluster::ApiError& e) {
      throw status_of(e, request.subject());
    }
    request.world.settle();
  }
  respond_json(request.response, 201, success_status(201).dump());
}

}  // namespace refit::serve
