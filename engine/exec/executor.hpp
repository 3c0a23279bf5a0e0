// Running commands: argv in, exit code and output out. The simulated world answers with Lua models
// of the tools; a later release adds real processes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace refit::exec {

struct Request {
  std::vector<std::string> argv;
  bool mutates = false;                 // changes the world (plan output, and `plan` on real clusters)
  std::optional<std::int64_t> timeout_ms;
};

struct Result {
  int code = 0;
  std::string out;
  std::string err;
  std::int64_t duration_ms = 0;   // how long it took, including any time that passed while it ran
  bool changed = false;           // the executor knows it changed the world (a simulated tool says so)
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual Result run(const Request& request) = 0;
};

// "aws eks describe-cluster --name demo": argv joined for reports, quoting what needs it.
std::string display_command(const std::vector<std::string>& argv);

}  // namespace refit::exec
