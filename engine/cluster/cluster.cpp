#include "cluster/cluster.hpp"

#include <regex>
#include <stdexcept>

namespace refit::cluster {

ServerVersion parse_server_version(const std::string& git_version) {
  static const std::regex re(R"(^v?(\d+)\.(\d+)(\.\d+)?([-+].*)?$)");
  std::smatch m;
  if (!std::regex_match(git_version, m, re)) {
    throw std::invalid_argument("invalid Kubernetes version \"" + git_version +
                                "\": expected e.g. v1.21.14-eks-18ef993 or 1.21");
  }
  std::string full = git_version;
  if (full[0] != 'v') full = "v" + full;
  if (!m[3].matched) full = "v" + m[1].str() + "." + m[2].str() + ".0";
  return ServerVersion{m[1].str(), m[2].str(), full};
}

}  // namespace refit::cluster
