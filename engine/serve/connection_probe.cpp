#include "serve/connection_probe.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <cerrno>
#include <cstdlib>

namespace refit::serve {
namespace {

int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return -1;
}

// remote_port 0: any connected peer.
bool has_ports(int fd, int local_port, int remote_port) {
  sockaddr_storage local{}, peer{};
  socklen_t local_size = sizeof local, peer_size = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0) return false;  // not a socket
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) return false;    // not connected
  return port_of(local) == local_port && (remote_port == 0 || port_of(peer) == remote_port);
}

// Calls `visit` with each of the process's connected sockets on these ports, until it returns false.
template <typename Visit>
void for_each_connection(int local_port, int remote_port, Visit&& visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (has_ports(static_cast<int>(fd), local_port, remote_port) && !visit(static_cast<int>(fd))) break;
  }
  closedir(dir);
}

}  // namespace

ConnectionProbe::ConnectionProbe(int local_port, int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return;
  for_each_connection(local_port, remote_port, [this](int fd) {
    fd_ = fd;
    return false;
  });
}

void shut_down_connections(int local_port) {
  if (local_port <= 0) return;
  for_each_connection(local_port, 0, [](int fd) {
    shutdown(fd, SHUT_RDWR);
    return true;
  });
}

bool ConnectionProbe::open() const {
  if (fd_ < 0) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return true;  // nothing to read: the client is waiting
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) return false;
  char byte;
  ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

}  // namespace refit::serve
