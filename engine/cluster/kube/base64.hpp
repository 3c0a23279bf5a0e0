// Base64 as kubeconfigs and ExecCredentials use it (the standard alphabet, padded). Decoding is
// strict, as kubectl's is, so a truncated or pasted-wrong certificate is reported where it is read
// instead of failing later in a TLS handshake. Errors never quote the input: it may be a key.
#pragma once
#include <optional>
#include <string>

namespace refit::kube {

struct Base64Problem {
  std::size_t offset;  // where in the input the problem is
  std::string what;    // "an invalid character", "a truncated last group", ...
};

// Decodes `text`, ignoring line breaks and spaces (YAML block scalars fold long values). On failure
// returns nullopt and says why in `problem`.
std::optional<std::string> decode_base64(const std::string& text, Base64Problem& problem);

std::string encode_base64(const std::string& bytes);

}  // namespace refit::kube
