// Tells a watch stream whether its client is still there, and ends a stopping server's connections. A watch may sit idle for many minutes, and
// a client that went away (kubectl get -w ended with Ctrl-C) would hold a server thread until the
// next event or the watch's timeout. cpp-httplib does not hand the connection's socket to the
// handler, so the probe finds it among the process's sockets by its two ports, and peeks at it:
// a socket whose peer closed reads end-of-file.
#pragma once

namespace refit::serve {

class ConnectionProbe {
 public:
  // Finds the accepted TCP socket whose local and peer ports are these (cpp-httplib's Request has
  // them). Without a match the probe always answers "open".
  ConnectionProbe(int local_port, int remote_port);

  // False once the client has closed its end (or the socket failed).
  bool open() const;

 private:
  int fd_ = -1;
};

// Shuts down every accepted connection of the server listening on `local_port` in this process:
// cpp-httplib's stop() closes only the listening socket, and a worker waits up to its keep-alive
// timeout on an idle client before it notices.
void shut_down_connections(int local_port);

}  // namespace refit::serve
