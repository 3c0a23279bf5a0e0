// Routes one HTTP request of `refit sim serve` to its handler: discovery, the resource verbs, and
// refit's own endpoints; every failure becomes a Status body.
#pragma once
#include <httplib.h>

#include <string>

#include "serve/served_world.hpp"

namespace refit::serve {

// `server_address` is host:port, for /api's serverAddressByClientCIDRs.
void route(ServedWorld& world, const std::string& server_address, const httplib::Request& request,
           httplib::Response& response);

}  // namespace refit::serve
