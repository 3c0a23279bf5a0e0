#include "run/sim_state/replay.hpp"

#include <fmt/format.h>

#include "run/sim_state/records.hpp"
#include "run/sim_state/state_error.hpp"

namespace refit::run::simstate {

namespace {

using Json = nlohmann::json;

// A line that is not an input of this format.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

cluster::Cluster& cluster_of(sim::SimRuntime& runtime, const Json& record) {
  std::string name = record.value("cluster", std::string());
  sim::SimCluster* c = runtime.world().find(name);
  if (c == nullptr) throw BadInput(fmt::format("it names cluster \"{}\", which the fixture does not define", name));
  return *c;
}

const Json& field(const Json& record, const char* key) {
  auto it = record.find(key);
  if (it == record.end()) throw BadInput(fmt::format("it has no \"{}\"", key));
  return *it;
}

// Performs a write as the recording cluster saw it; returns its outcome.
Json replay_write(sim::SimRuntime& runtime, const Json& record) {
  const std::string verb = field(record, "write").get<std::string>();
  cluster::Cluster& c = cluster_of(runtime, record);
  Json outcome = Json::object();
  bool written = false;
  auto keep_rv = [&](const Json& object) {
    written = true;
    if (auto md = object.find("metadata"); md != object.end() && md->is_object()) {
      if (auto rv = md->find("resourceVersion"); rv != md->end() && rv->is_string()) outcome["rv"] = *rv;
    }
  };
  // Arguments are read before the call: a malformed line is not an outcome.
  cluster::ObjectRef ref;
  Json argument;
  if (verb == "create" || verb == "apply" || verb == "replace") {
    argument = field(record, "object");
  } else if (verb == "merge_patch" || verb == "json_patch" || verb == "strategic_patch" || verb == "patch_status") {
    ref = records::ref_from(field(record, "ref"));
    argument = field(record, "patch");
  } else if (verb == "remove" || verb == "evict") {
    ref = records::ref_from(field(record, "ref"));
  } else {
    throw BadInput(fmt::format("\"{}\" is not a write refit records", verb));
  }
  try {
    if (verb == "create") {
      c.create(std::move(argument), keep_rv);
    } else if (verb == "apply") {
      cluster::ApplyOptions options;
      options.force = record.value("force", false);
      c.apply(std::move(argument), options, keep_rv);
    } else if (verb == "replace") {
      c.replace(std::move(argument), keep_rv);
    } else if (verb == "merge_patch") {
      c.merge_patch(ref, argument, keep_rv);
    } else if (verb == "json_patch") {
      c.json_patch(ref, argument, keep_rv);
    } else if (verb == "strategic_patch") {
      c.strategic_patch(ref, argument, keep_rv);
    } else if (verb == "patch_status") {
      c.patch_status(ref, argument, keep_rv);
    } else if (verb == "remove") {
      cluster::DeleteOptions options;
      options.propagation = record.value("propagation", std::string());
      if (!c.remove(ref, options)) outcome["found"] = false;
    } else {
      c.evict(ref);
    }
  } catch (const std::exception& e) {
    if (!written) outcome["error"] = records::error_json(e);
  }
  return outcome;
}

Json replay_exec(sim::SimRuntime& runtime, const Json& record) {
  exec::Request request;
  request.argv = field(record, "exec").get<std::vector<std::string>>();
  if (request.argv.empty()) throw BadInput("its command is empty");
  request.mutates = record.value("mutates", false);
  if (auto t = record.find("timeout"); t != record.end()) request.timeout_ms = t->get<std::int64_t>();
  Json outcome = Json::object();
  try {
    outcome["code"] = runtime.run(request).code;
  } catch (const std::exception& e) {
    outcome["error"] = records::error_json(e);
  }
  return outcome;
}

Json replay_advance(sim::SimRuntime& runtime, const Json& record) {
  std::int64_t to = field(record, "advance").get<std::int64_t>();
  Json outcome = Json::object();
  try {
    runtime.advance_to(to);
  } catch (const std::exception& e) {
    outcome["error"] = records::error_json(e);
  }
  return outcome;
}

Json replay_one(sim::SimRuntime& runtime, const Json& record) {
  if (record.contains("write")) return replay_write(runtime, record);
  if (record.contains("exec")) return replay_exec(runtime, record);
  if (record.contains("advance")) return replay_advance(runtime, record);
  throw BadInput("it is neither a write, a command nor a clock advance");
}

}  // namespace

void replay_inputs(const std::string& file, const std::vector<StateLine>& inputs, sim::SimRuntime& runtime,
                   const SecretMarkers& markers, const std::string& recorded_by, bool takes_secrets) {
  for (const StateLine& line : inputs) {
    auto damaged = [&](const std::string& why) {
      return StateError(fmt::format("{}:{}: not an input refit recorded ({}): the file was damaged or changed by "
                                    "hand; keep only the lines before this one to restore the world as it was then, or "
                                    "delete {} to start over from the fixture", file, line.number, why, file));
    };
    const Json recorded_input = Json::parse(line.text, nullptr, false);  // as written: secrets hidden
    if (recorded_input.is_discarded()) throw damaged("it is not JSON");
    if (!recorded_input.is_object()) throw damaged("it is not a JSON object");
    Json record = recorded_input;
    if (SecretMarkers::may_hold_marker(line.text)) {
      if (auto missing = markers.reveal(record)) {
        if (!takes_secrets) {
          throw StateError(fmt::format("{}:{}: this input holds the value of secret parameter {}, and refit sim dump "
                                       "is never given secret parameters (it would print them): this kept world "
                                       "cannot be dumped; its runs (refit resume, rollback) take --set {}=...",
                                       file, line.number, *missing, *missing));
        }
        throw StateError(fmt::format("{}:{}: this input holds the value of secret parameter {}, which this run was not "
                                     "given: pass --set {}=... with the value the world was recorded with",
                                     file, line.number, *missing, *missing));
      }
    }
    Json now;
    try {
      now = replay_one(runtime, record);
    } catch (const BadInput& e) {
      throw damaged(e.what());
    } catch (const nlohmann::json::exception& e) {
      throw damaged(e.what());
    } catch (const std::invalid_argument& e) {
      throw damaged(e.what());
    }
    Json recorded = records::outcome_of(recorded_input);
    if (!records::same_outcome(recorded, now)) {
      markers.hide(now);  // what failed now may quote a secret the run was given
      throw StateError(fmt::format("{}:{}: replaying {}: it {} when recorded, and {} now. The fixture, the scenario or "
                                   "refit changed since the file was written (by refit {}): run with those it was "
                                   "written with, or delete {} to start over",
                                   file, line.number, records::describe(recorded_input),
                                   records::describe_outcome(recorded), records::describe_outcome(now), recorded_by,
                                   file));
    }
  }
}

}  // namespace refit::run::simstate
