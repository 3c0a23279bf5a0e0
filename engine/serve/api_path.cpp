#include "serve/api_path.hpp"

#include <vector>

namespace refit::serve {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

// The segments after /api/v1 or /apis/<group>/<version>, as the API server routes them. A namespace
// has two subresources of its own (status, finalize); every other three-segment path under
// /namespaces/<ns>/ is a namespaced collection.
bool parse_resource_segments(const std::vector<std::string_view>& s, ApiPath& out) {
  if (s.empty()) {
    out.endpoint = Endpoint::ResourceList;
    return true;
  }
  std::size_t i = 0;
  if (s[0] == "namespaces" && s.size() >= 3 && !(s.size() == 3 && (s[2] == "status" || s[2] == "finalize"))) {
    out.ns = s[1];
    i = 2;
  }
  std::size_t left = s.size() - i;
  if (left == 0 || left > 3) return false;
  out.resource = s[i];
  if (left >= 2) out.name = s[i + 1];
  if (left == 3) out.subresource = s[i + 2];
  out.endpoint = Endpoint::Resource;
  return true;
}

ApiPath unknown(const std::string& cluster) {
  ApiPath out;
  out.cluster = cluster;
  return out;
}

}  // namespace

std::string group_version(std::string_view group, std::string_view version) {
  if (group.empty()) return std::string(version);
  std::string out;
  out.reserve(group.size() + version.size() + 1);
  out.append(group).append(1, '/').append(version);
  return out;
}

ApiPath parse_api_path(std::string_view path) {
  ApiPath out;
  std::vector<std::string_view> s = split_path(path);
  if (s.size() == 3 && s[0] == "refit" && s[1] == "v1" && s[2] == "dump") {
    out.endpoint = Endpoint::RefitDump;
    return out;
  }
  if (s.size() < 2 || s[0] != "clusters") return out;
  out.cluster = s[1];
  s.erase(s.begin(), s.begin() + 2);
  if (s.empty()) return out;

  if (s[0] == "version" && s.size() == 1) {
    out.endpoint = Endpoint::Version;
  } else if ((s[0] == "healthz" || s[0] == "livez" || s[0] == "readyz") && s.size() == 1) {
    out.endpoint = Endpoint::Health;
  } else if (s[0] == "openapi") {
    out.endpoint = Endpoint::OpenApi;
    if (s.size() == 2) out.version = s[1];
  } else if (s[0] == "api") {
    if (s.size() == 1) {
      out.endpoint = Endpoint::CoreVersions;
    } else if (s[1] == "v1") {
      out.version = s[1];
      if (!parse_resource_segments({s.begin() + 2, s.end()}, out)) out = unknown(out.cluster);
    }
  } else if (s[0] == "apis") {
    if (s.size() == 1) {
      out.endpoint = Endpoint::GroupList;
    } else if (s.size() == 2) {
      out.endpoint = Endpoint::Group;
      out.group = s[1];
    } else {
      out.group = s[1];
      out.version = s[2];
      if (!parse_resource_segments({s.begin() + 3, s.end()}, out)) out = unknown(out.cluster);
    }
  }
  return out;
}

}  // namespace refit::serve
