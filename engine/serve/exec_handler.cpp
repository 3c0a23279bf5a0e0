#include "serve/exec_handler.hpp"

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/json_errors.hpp"
#include "serve/api_request.hpp"
#include "serve/served_world.hpp"
#include "serve/status.hpp"

namespace refit::serve {

void handle_exec(ServedWorld& world, double speed, const httplib::Request& http, httplib::Response& response) {
  if (http.method != "POST") throw StatusError(405, "MethodNotAllowed", "POST /refit/v1/exec runs a tool model");
  exec::Request request;
  try {
    auto body = nlohmann::json::parse(http.body);
    request.argv = body.at("argv").get<std::vector<std::string>>();
    request.mutates = body.value("mutates", false);
  } catch (const std::exception& e) {
    std::string why = dynamic_cast<const nlohmann::json::exception*>(&e) != nullptr
                          ? data::json_error_reason(static_cast<const nlohmann::json::exception&>(e))
                          : e.what();
    throw StatusError(400, "BadRequest", "an exec request is {\"argv\": [\"tool\", \"arg\", ...]}: " + why);
  }
  if (request.argv.empty()) throw StatusError(400, "BadRequest", "argv is empty: give the tool and its arguments");

  exec::Result result;
  std::int64_t finish = 0;
  {
    auto lock = world.lock();
    if (auto failed = world.failure()) throw StatusError(500, "InternalError", *failed);
    const std::int64_t start = world.runtime().now();
    result = world.runtime().run(request);
    finish = std::max(world.runtime().now(), start + result.duration_ms);
    // What the tool changed, the models see now, as after any write.
    world.settle();
    if (speed <= 0 && finish > world.runtime().now()) world.advance_to(finish);
  }
  // The command ends when its duration has passed in the world: the clock thread moves it at the
  // wall clock's pace, so wait for it without holding the world.
  while (speed > 0) {
    std::int64_t now = 0;
    {
      auto lock = world.lock();
      now = world.runtime().now();
      if (auto failed = world.failure()) throw StatusError(500, "InternalError", *failed);
    }
    if (now >= finish) break;
    auto wall_ms = static_cast<std::int64_t>(std::ceil(static_cast<double>(finish - now) / speed));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp<std::int64_t>(wall_ms, 1, 50)));
  }
  nlohmann::json answer = {{"code", result.code}, {"stdout", result.out}, {"stderr", result.err},
                           {"duration", result.duration_ms}};
  respond_json(response, 200, answer.dump());
}

}  // namespace refit::serve
