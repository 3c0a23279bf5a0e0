// Authentication of `refit sim serve --tls` requests, as an API server authenticates them: a client
// certificate issued by the served world's CA (verified in the TLS handshake), or a bearer token equal
// to the one the server was given. A request with neither is answered 401 with the API server's
// Status body, before anything else is looked at.
//
// The token is a secret: it is compared in constant time and never appears in a message.
#pragma once
#include <string>

#include "serve/status.hpp"

namespace httplib {
struct Request;
}

namespace refit::serve {

struct Authentication {
  bool required = false;              // false: every request is let in (plain HTTP on loopback)
  bool client_certificates = false;   // a verified client certificate authenticates
  std::string token;                  // non-empty: "Authorization: Bearer <token>" authenticates
};

// Whether `request` is authenticated under `auth`.
bool authenticated(const Authentication& auth, const httplib::Request& request);

// 401 Unauthorized, with the body a Kubernetes API server sends ("message": "Unauthorized").
StatusError unauthorized();

// A new random bearer token: 32 bytes from OpenSSL's generator, as 64 hexadecimal digits. Throws
// std::runtime_error when the generator fails.
std::string random_token();

// The first line of `path`, without surrounding whitespace, as kubectl reads a tokenFile. Throws
// std::runtime_error naming the file (never its content) when it cannot be read or holds no token.
std::string read_token_file(const std::string& path);

}  // namespace refit::serve
