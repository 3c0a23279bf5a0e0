#include "run/sim_state/recording_executor.hpp"

#include "run/sim_state/records.hpp"

namespace refit::run::simstate {

exec::Result RecordingExecutor::run(const exec::Request& request) {
  recorder_.check_usable();
  nlohmann::json record = {{"exec", request.argv}, {"mutates", request.mutates}};
  if (request.timeout_ms) record["timeout"] = *request.timeout_ms;
  // A read-only command inside a wait is one of its polls: the wait's end syncs it.
  const bool sync = request.mutates || !recorder_.polling();
  exec::Result result;
  try {
    result = inner_.run(request);
  } catch (const std::exception& e) {
    record["error"] = records::error_json(e);
    recorder_.keep(std::move(record), sync);
    throw;
  }
  record["code"] = result.code;
  recorder_.keep(std::move(record), sync);
  return result;
}

}  // namespace refit::run::simstate
