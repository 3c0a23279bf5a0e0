#include "run/local_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <stdexcept>
#include <vector>

namespace refit::run::local_file {

namespace {

[[noreturn]] void fail(const std::string& path, const char* doing, int err) {
  throw std::runtime_error(fmt::format("cannot write {}: {} failed: {}", path, doing, std::strerror(err)));
}

// Creates the missing directories above `path`, each 0700 (create_directories alone honours only
// the umask): a backup directory is the user's alone.
void make_parents(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto dir = parent; !dir.empty() && !std::filesystem::is_directory(dir, ec); dir = dir.parent_path()) {
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (!std::filesystem::create_directory(*it, ec) && ec) {
      throw std::runtime_error(fmt::format("cannot write {}: creating {} failed: {}", path, it->string(), ec.message()));
    }
    std::filesystem::permissions(*it, std::filesystem::perms::owner_all, ec);
  }
}

// Closes and removes the temporary file, then reports the call that failed.
[[noreturn]] void abandon(int fd, const std::string& tmp, const std::string& path, const char* doing, int err) {
  ::close(fd);
  ::unlink(tmp.c_str());
  fail(path, doing, err);
}

}  // namespace

void write_private(const std::string& path, const std::string& content) {
  make_parents(path);
  std::string tmp = path + ".refit-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail(path, "open", errno);
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon(fd, tmp, path, "write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0) abandon(fd, tmp, path, "chmod", errno);
  if (::fsync(fd) != 0) abandon(fd, tmp, path, "fsync", errno);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "rename", err);
  }
}

}  // namespace refit::run::local_file
