#include "serve/list_paging.hpp"

#include <array>
#include <nlohmann/json.hpp>

namespace refit::serve {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) {
  auto at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3F]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = sextet(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string encode_continue(const ContinueToken& token) {
  nlohmann::json doc = {
      {"rv", token.resource_version}, {"ns", token.ns}, {"name", token.name}, {"left", token.remaining}};
  return base64url_encode(doc.dump());
}

std::optional<ContinueToken> decode_continue(std::string_view text) {
  auto bytes = base64url_decode(text);
  if (!bytes) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(*bytes, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  auto rv = doc.find("rv"), ns = doc.find("ns"), name = doc.find("name"), left = doc.find("left");
  if (rv == doc.end() || !rv->is_number_unsigned() || ns == doc.end() || !ns->is_string() || name == doc.end() ||
      !name->is_string() || name->get_ref<const std::string&>().empty() || left == doc.end() ||
      !left->is_number_unsigned()) {
    return std::nullopt;
  }
  return ContinueToken{rv->get<std::uint64_t>(), ns->get<std::string>(), name->get<std::string>(),
                       left->get<std::uint64_t>()};
}

bool after_token(const ContinueToken& token, std::string_view ns, std::string_view name) {
  if (ns != token.ns) return ns > token.ns;
  return name > token.name;
}

}  // namespace refit::serve
