#include "run/local_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <stdexcept>

namespace refit::run::local_file {

namespace {

[[noreturn]] void fail(const std::string& path, const char* doing, int err) {
  throw std::runtime_error(fmt::format("cannot write {}: {} failed: {}", path, doing, std::strerror(err)));
}

void make_parents(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(parent, ec)) return;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot write {}: creating {} failed: {}", path, parent.string(), ec.message()));
  // create_directories honours the umask only; a backup directory is the user's alone
  std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
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
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(path, "write", err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, "fsync", err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "rename", err);
  }
}

}  // namespace refit::run::local_file
