// Files a run writes on the operator's machine (ctx:write_file: backups a person restores from).
#pragma once
#include <string>

namespace refit::run::local_file {

// Writes `content` to `path` so that a reader sees the old file or the whole new one, never a
// part: a temporary file beside it, fsync, rename. The file is private to the user (0600: backups
// of cluster objects may hold credentials); missing parent directories are created 0700. Throws
// std::runtime_error naming the path and the system's reason.
void write_private(const std::string& path, const std::string& content);

}  // namespace refit::run::local_file
