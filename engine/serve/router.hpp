// Routes one HTTP request of `refit sim serve` to its handler: discovery, the resource verbs, and
// refit's own endpoints; every failure becomes a Status body.
#pragma once
#include <httplib.h>

#include <cstdint>
#include <optional>
#include <string>

#include "serve/served_world.hpp"

namespace refit::serve {

// `server_address` is host:port, for /api's serverAddressByClientCIDRs. A watch ends
// `watch_lifetime_ms` after it starts when given (a scenario's api.watches), else at its timeout.
void route(ServedWorld& world, const std::string& server_address, const httplib::Request& request,
           httplib::Response& response, std::optional<std::int64_t> watch_lifetime_ms = std::nullopt);

}  // namespace refit::serve
