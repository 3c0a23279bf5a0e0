#include "lua/embedded_files.hpp"

#include <algorithm>

namespace refit::embedded {

std::optional<std::string_view> find(std::string_view path) {
  // The generator emits files sorted by path, so a binary search is enough.
  auto files = all();
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const File& f, std::string_view p) { return f.path < p; });
  if (it != files.end() && it->path == path) return it->content;
  return std::nullopt;
}

}  // namespace refit::embedded
