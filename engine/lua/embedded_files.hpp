// Files compiled into the binary by cmake/embed.cmake: the stdlib and the bundled playbooks.
#pragma once
#include <optional>
#include <span>
#include <string_view>

namespace refit::embedded {

struct File {
  std::string_view path;     // relative to the repository root, e.g. "stdlib/refit/semver.lua"
  std::string_view content;
};

std::span<const File> all();

// The embedded file at `path`, if any.
std::optional<std::string_view> find(std::string_view path);

}  // namespace refit::embedded
