#include "serve/api_auth.hpp"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "serve/tls_certs.hpp"

namespace refit::serve {
namespace {

// The token of "Authorization: Bearer <token>" (the scheme in any case, as Go's net/http reads it).
std::string_view bearer_token(const httplib::Request& request) {
  auto it = request.headers.find("Authorization");
  if (it == request.headers.end()) return {};
  std::string_view value = it->second;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return {};
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return value;
}

// Compares in time that depends on the lengths only, so that a client cannot find the token byte by
// byte from how long a refusal takes.
bool same_secret(std::string_view given, const std::string& expected) {
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

}  // namespace

bool authenticated(const Authentication& auth, const httplib::Request& request) {
  if (!auth.required) return true;
  if (auth.client_certificates && peer_identity(request.ssl)) return true;
  return !auth.token.empty() && same_secret(bearer_token(request), auth.token);
}

StatusError unauthorized() { return StatusError(401, "Unauthorized", "Unauthorized"); }

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("cannot draw a random token (RAND_bytes failed)");
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  OPENSSL_cleanse(bytes, sizeof bytes);
  return token;
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read the token file {}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  auto first = token.find_first_not_of(" \t\r\n");
  auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
  if (token.empty()) throw std::runtime_error(fmt::format("the token file {} is empty: write the token into it", path));
  for (char c : token) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
      throw std::runtime_error(fmt::format("the token file {} holds more than one token (or a control character): "
                                           "a bearer token is one word on one line", path));
    }
  }
  return token;
}

}  // namespace refit::serve
