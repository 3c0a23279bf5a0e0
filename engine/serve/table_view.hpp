// Server-side printing: the meta.k8s.io Tables that `kubectl get` asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io) and prints as they come, with the columns the API
// server gives the common kinds (Pods: Ready, Status, Restarts, Age; Nodes: Status, Roles, Age,
// Version; Deployments: Ready, Up-to-date, Available, Age; any other kind: Name and Age).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace refit::serve {

// The Table apiVersion ("meta.k8s.io/v1" or "meta.k8s.io/v1beta1") when the Accept header's first
// media type that the served world can answer is a Table; nullopt for plain JSON.
std::optional<std::string> table_requested(std::string_view accept);

// Where a page of a list ends, for the Table's metadata.
struct TablePage {
  std::string resource_version;
  std::string continue_token;        // empty on the last page
  std::optional<std::size_t> remaining;
};

// A Table of `objects` (all of `kind`, in order) at the world's time `now_ms` (for the Age column).
// `include_object` is the request's includeObject: "None" (rows without objects), "Object" (the whole
// object) or anything else, the default: PartialObjectMetadata (kubectl reads namespaces and labels
// from it).
nlohmann::json table_of(std::string_view table_api_version, std::string_view kind,
                        const std::vector<const nlohmann::json*>& objects, std::int64_t now_ms,
                        std::string_view include_object, const TablePage& page);

// How kubectl prints an age: "45s", "3m12s", "5h2m", "12d" (k8s.io/apimachinery's HumanDuration).
std::string human_duration(std::int64_t ms);

}  // namespace refit::serve
