#include "run/sim_state/state_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "run/sim_state/state_error.hpp"

namespace refit::run::simstate {

namespace {

[[noreturn]] void fail(const std::string& path, const char* doing, int err) {
  throw StateError(fmt::format("--sim-state {}: {} failed: {}", path, doing, std::strerror(err)));
}

std::string read_all(int fd, const std::string& path) {
  std::string bytes;
  char buffer[1 << 16];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "read", errno);
    }
    if (n == 0) return bytes;
    bytes.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "write", errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// A file that was just created is only durable once its directory entry is.
void sync_directory_of(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  int dir = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;  // the file is written; only its durability across a crash of the machine is at stake
  ::fsync(dir);
  ::close(dir);
}

}  // namespace

StateContents split_lines(std::string_view bytes) {
  StateContents contents;
  std::size_t start = 0;
  std::size_t number = 1;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) {
      contents.torn = number;
      break;
    }
    contents.lines.push_back({number++, std::string(bytes.substr(start, end - start))});
    start = end + 1;
    contents.complete_size = start;
  }
  return contents;
}

std::optional<StateContents> read_state_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail(path, "open", errno);
  }
  std::string bytes;
  try {
    bytes = read_all(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return split_lines(bytes);
}

StateWriter::StateWriter(std::string path) : path_(std::move(path)) {
  bool created = !std::filesystem::exists(path_);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) fail(path_, "open", errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw StateError(fmt::format("--sim-state {}: another refit run is recording into this world now: wait for it "
                                   "to end (the lock goes with its process), or keep this run's world in another file",
                                   path_));
    }
    fail(path_, "lock", err);
  }
  // The world may hold Secrets and the playbook's inputs: the file is the user's alone.
  if (::fchmod(fd_, 0600) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail(path_, "chmod", err);
  }
  if (created) sync_directory_of(path_);
}

StateWriter::~StateWriter() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

StateContents StateWriter::read() { return split_lines(read_all(fd_, path_)); }

void StateWriter::start(const std::string& header) {
  cut_to(0);
  append(header);
}

void StateWriter::cut_to(std::size_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail(path_, "truncate", errno);
  sync("truncate");
}

void StateWriter::append(std::string_view line, bool sync_now) {
  // One write: the line and its newline land together, or the line stays torn and is dropped on load.
  std::string bytes;
  bytes.reserve(line.size() + 1);
  bytes.append(line);
  bytes += '\n';
  write_all(fd_, bytes, path_);
  if (sync_now) sync("write");
  else unsynced_ = true;
}

void StateWriter::sync_appended() {
  if (unsynced_) sync("write");
}

void StateWriter::sync(const char* after) {
  if (::fdatasync(fd_) != 0) fail(path_, fmt::format("sync after {}", after).c_str(), errno);
  unsynced_ = false;
}

}  // namespace refit::run::simstate
