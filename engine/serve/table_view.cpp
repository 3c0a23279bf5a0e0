// The columns are a table per kind; each cell is a small function of the object, as the API server's
// printers (k8s.io/kubernetes pkg/printers/internalversion) compute them. Another kind's columns are
// another entry in kKinds.
#include "serve/table_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "cluster/kube/exec_credential.hpp"
#include "cluster/sim/virtual_clock.hpp"

namespace refit::serve {
namespace {

using Json = nlohmann::json;
using Cell = Json (*)(const Json& object, std::int64_t now_ms);

struct Column {
  const char* name;
  const char* type;  // string, integer
  const char* format;
  const char* description;
  Cell cell;
};

const Json& at(const Json& object, std::initializer_list<const char*> path) {
  static const Json kNull;
  const Json* here = &object;
  for (const char* key : path) {
    if (!here->is_object()) return kNull;
    auto it = here->find(key);
    if (it == here->end()) return kNull;
    here = &*it;
  }
  return *here;
}

std::string text_at(const Json& object, std::initializer_list<const char*> path) {
  const Json& value = at(object, path);
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::int64_t number_at(const Json& object, std::initializer_list<const char*> path, std::int64_t otherwise = 0) {
  const Json& value = at(object, path);
  return value.is_number_integer() ? value.get<std::int64_t>() : otherwise;
}

Json name_cell(const Json& object, std::int64_t) { return text_at(object, {"metadata", "name"}); }

Json age_cell(const Json& object, std::int64_t now_ms) {
  auto created = kube::parse_rfc3339(text_at(object, {"metadata", "creationTimestamp"}));
  if (!created) return "<unknown>";
  std::int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(created->time_since_epoch()).count();
  return human_duration(now_ms - (seconds * 1000 - sim::virtual_epoch_unix_ms()));
}

// Pods, as kubectl's printPod: the phase (or the pod's reason), overridden by a container's waiting
// or terminated reason; Terminating once deleted.
Json pod_status(const Json& pod, std::int64_t) {
  std::string reason = text_at(pod, {"status", "reason"});
  if (reason.empty()) reason = text_at(pod, {"status", "phase"});
  const Json& statuses = at(pod, {"status", "containerStatuses"});
  if (statuses.is_array()) {
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      std::string waiting = text_at(*it, {"state", "waiting", "reason"});
      std::string terminated = text_at(*it, {"state", "terminated", "reason"});
      if (!waiting.empty()) reason = waiting;
      else if (!terminated.empty()) reason = terminated;
      else if (at(*it, {"state", "terminated"}).is_object()) {
        reason = fmt::format("ExitCode:{}", number_at(*it, {"state", "terminated", "exitCode"}));
      }
    }
  }
  if (at(pod, {"metadata", "deletionTimestamp"}).is_string()) reason = "Terminating";
  return reason;
}

Json pod_ready(const Json& pod, std::int64_t) {
  const Json& containers = at(pod, {"spec", "containers"});
  const Json& statuses = at(pod, {"status", "containerStatuses"});
  std::size_t ready = 0;
  if (statuses.is_array()) {
    ready = static_cast<std::size_t>(
        std::count_if(statuses.begin(), statuses.end(), [](const Json& s) { return s.value("ready", false); }));
  }
  return fmt::format("{}/{}", ready, containers.is_array() ? containers.size() : 0);
}

Json pod_restarts(const Json& pod, std::int64_t) {
  std::int64_t restarts = 0;
  const Json& statuses = at(pod, {"status", "containerStatuses"});
  if (statuses.is_array()) {
    for (const Json& s : statuses) restarts += number_at(s, {"restartCount"});
  }
  return restarts;
}

// Nodes: Ready, NotReady or Unknown from the Ready condition, and SchedulingDisabled when cordoned.
Json node_status(const Json& node, std::int64_t) {
  std::string status = "Unknown";
  const Json& conditions = at(node, {"status", "conditions"});
  if (conditions.is_array()) {
    for (const Json& c : conditions) {
      if (c.value("type", "") == "Ready") status = c.value("status", "") == "True" ? "Ready" : "NotReady";
    }
  }
  if (at(node, {"spec", "unschedulable"}) == true) status += ",SchedulingDisabled";
  return status;
}

// The node-role.kubernetes.io/<role> labels and kubernetes.io/role, sorted; <none> without any.
Json node_roles(const Json& node, std::int64_t) {
  static const std::string kPrefix = "node-role.kubernetes.io/";
  std::set<std::string> roles;
  const Json& labels = at(node, {"metadata", "labels"});
  if (labels.is_object()) {
    for (const auto& [key, value] : labels.items()) {
      if (key.rfind(kPrefix, 0) == 0 && key.size() > kPrefix.size()) roles.insert(key.substr(kPrefix.size()));
      else if (key == "kubernetes.io/role" && value.is_string() && !value.get<std::string>().empty()) {
        roles.insert(value.get<std::string>());
      }
    }
  }
  return roles.empty() ? "<none>" : fmt::format("{}", fmt::join(roles, ","));
}

Json node_version(const Json& node, std::int64_t) { return text_at(node, {"status", "nodeInfo", "kubeletVersion"}); }

Json deployment_ready(const Json& d, std::int64_t) {
  return fmt::format("{}/{}", number_at(d, {"status", "readyReplicas"}), number_at(d, {"spec", "replicas"}, 1));
}
Json deployment_updated(const Json& d, std::int64_t) { return number_at(d, {"status", "updatedReplicas"}); }
Json deployment_available(const Json& d, std::int64_t) { return number_at(d, {"status", "availableReplicas"}); }

const Column kName{"Name", "string", "name",
                   "Name must be unique within a namespace. Cannot be updated.", name_cell};
const Column kAge{"Age", "string", "",
                  "CreationTimestamp is a timestamp representing the server time when this object was created.",
                  age_cell};

const std::map<std::string_view, std::vector<Column>> kKinds = {
    {"Pod",
     {kName,
      {"Ready", "string", "", "The number of containers that are ready, of all the pod's containers.", pod_ready},
      {"Status", "string", "", "The aggregate state of the containers in this pod.", pod_status},
      {"Restarts", "integer", "", "The number of times the containers in this pod have been restarted.",
       pod_restarts},
      kAge}},
    {"Node",
     {kName,
      {"Status", "string", "", "The status of the node: its Ready condition, and whether it is cordoned.",
       node_status},
      {"Roles", "string", "", "The roles of the node (its node-role.kubernetes.io labels).", node_roles},
      kAge,
      {"Version", "string", "", "Kubelet Version reported by the node.", node_version}}},
    {"Deployment",
     {kName,
      {"Ready", "string", "", "Number of the pod with ready state, of the replicas wanted.", deployment_ready},
      {"Up-to-date", "integer", "", "Total number of non-terminated pods targeted by this deployment that have the "
                                     "desired template spec.", deployment_updated},
      {"Available", "integer", "", "Total number of available pods (ready for at least minReadySeconds).",
       deployment_available},
      kAge}},
};
const std::vector<Column> kDefault = {kName, kAge};

// One media range of an Accept header, split into its type and parameters.
struct MediaRange {
  std::string type;
  std::map<std::string, std::string> params;
};

std::string trimmed(std::string_view s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  return std::string(s.substr(first, s.find_last_not_of(" \t") - first + 1));
}

MediaRange parse_range(std::string_view text) {
  MediaRange range;
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    std::size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    std::string part = trimmed(text.substr(start, end - start));
    if (first) {
      range.type = part;
      first = false;
    } else if (auto eq = part.find('='); eq != std::string::npos) {
      range.params[trimmed(std::string_view(part).substr(0, eq))] = trimmed(std::string_view(part).substr(eq + 1));
    }
    start = end + 1;
  }
  return range;
}

}  // namespace

std::optional<std::string> table_requested(std::string_view accept) {
  std::size_t start = 0;
  while (start <= accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    MediaRange range = parse_range(accept.substr(start, end - start));
    start = end + 1;
    bool json = range.type == "application/json" || range.type == "*/*" || range.type == "application/*";
    if (!json) continue;  // protobuf, yaml: the served world answers JSON, so the next one decides
    auto as = range.params.find("as");
    if (as == range.params.end()) return std::nullopt;
    std::string version = range.params.count("v") ? range.params.at("v") : "";
    std::string group = range.params.count("g") ? range.params.at("g") : "";
    if (as->second == "Table" && group == "meta.k8s.io" && (version == "v1" || version == "v1beta1")) {
      return "meta.k8s.io/" + version;
    }
  }
  return std::nullopt;
}

Json table_of(std::string_view table_api_version, std::string_view kind, const std::vector<const Json*>& objects,
              std::int64_t now_ms, std::string_view include_object, const TablePage& page) {
  auto found = kKinds.find(kind);
  const std::vector<Column>& columns = found != kKinds.end() ? found->second : kDefault;
  Json definitions = Json::array();
  for (const Column& c : columns) {
    definitions.push_back({{"name", c.name}, {"type", c.type}, {"format", c.format}, {"description", c.description},
                           {"priority", 0}});
  }
  Json rows = Json::array();
  for (const Json* object : objects) {
    Json cells = Json::array();
    for (const Column& c : columns) cells.push_back(c.cell(*object, now_ms));
    Json row = {{"cells", std::move(cells)}};
    if (include_object == "Object") {
      row["object"] = *object;
    } else if (include_object != "None") {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", at(*object, {"metadata"}).is_object() ? at(*object, {"metadata"}) : Json::object()}};
    }
    rows.push_back(std::move(row));
  }
  Json metadata = {{"resourceVersion", page.resource_version}};
  if (!page.continue_token.empty()) metadata["continue"] = page.continue_token;
  if (page.remaining) metadata["remainingItemCount"] = *page.remaining;
  return {{"kind", "Table"},
          {"apiVersion", table_api_version},
          {"metadata", std::move(metadata)},
          {"columnDefinitions", std::move(definitions)},
          {"rows", std::move(rows)}};
}

std::string human_duration(std::int64_t ms) {
  std::int64_t seconds = ms / 1000;
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return fmt::format("{}s", seconds);
  std::int64_t minutes = seconds / 60;
  if (minutes < 10) return seconds % 60 == 0 ? fmt::format("{}m", minutes) : fmt::format("{}m{}s", minutes, seconds % 60);
  if (minutes < 180) return fmt::format("{}m", minutes);
  std::int64_t hours = minutes / 60;
  if (hours < 8) return minutes % 60 == 0 ? fmt::format("{}h", hours) : fmt::format("{}h{}m", hours, minutes % 60);
  if (hours < 48) return fmt::format("{}h", hours);
  if (hours < 24 * 8) return hours % 24 == 0 ? fmt::format("{}d", hours / 24) : fmt::format("{}d{}h", hours / 24, hours % 24);
  if (hours < 24 * 365 * 2) return fmt::format("{}d", hours / 24);
  if (hours < 24 * 365 * 8) {
    std::int64_t days = (hours / 24) % 365;
    return days == 0 ? fmt::format("{}y", hours / 24 / 365) : fmt::format("{}y{}d", hours / 24 / 365, days);
  }
  return fmt::format("{}y", hours / 24 / 365);
}

}  // namespace refit::serve
