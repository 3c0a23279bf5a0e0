// POST /refit/v1/exec: a tool model run inside the served world, for `refit sim exec` (and so for the
// shims named aws, eksctl, dkp, ... that `refit sim serve --shims DIR` writes). The tool runs as it
// would in-process (stdlib/refit/sim tool models), and the answer comes once the world's clock has
// passed the command's duration, so a command that takes 5 simulated minutes takes 5 / speed wall
// minutes, as it would against a real cloud.
//
//   request:  {"argv": ["aws", "eks", "describe-cluster", "--name", "demo"]}
//   response: {"code": 0, "stdout": "...", "stderr": "...", "duration": 1200}
#pragma once
#include <functional>
#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace refit::serve {

class ServedWorld;

// `speed`: the served clock's pace (0: stopped, so the handler moves the clock itself). Throws
// StatusError (400 for a bad request, 500 once the world has failed).
void handle_exec(ServedWorld& world, double speed, const httplib::Request& request, httplib::Response& response);

}  // namespace refit::serve
