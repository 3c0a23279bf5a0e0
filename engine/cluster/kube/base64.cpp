// Strict standard base64 (RFC 4648 section 4) decoding with the position of the first problem.
#include "cluster/kube/base64.hpp"

#include <openssl/evp.h>

#include <array>

namespace refit::kube {

namespace {

constexpr std::array<signed char, 256> make_decode_table() {
  std::array<signed char, 256> table{};
  for (auto& v : table) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  return table;
}

constexpr auto kDecode = make_decode_table();

bool is_space(char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; }

}  // namespace

std::optional<std::string> decode_base64(const std::string& text, Base64Problem& problem) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t group = 0;
  int in_group = 0;  // characters of the current group of four
  int padding = 0;   // '=' seen in the current group
  std::size_t group_start = 0;
  bool finished = false;  // a padded group ended the data
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (is_space(c)) continue;
    if (finished) {
      problem = {i, "data after the final padding"};
      return std::nullopt;
    }
    if (in_group == 0) group_start = i;
    if (c == '=') {
      if (in_group < 2) {
        problem = {i, "padding ('=') too early in a group"};
        return std::nullopt;
      }
      ++padding;
      group <<= 6;
    } else {
      int v = kDecode[static_cast<unsigned char>(c)];
      if (v < 0 || padding > 0) {
        problem = {i, v < 0 ? "a character outside the base64 alphabet" : "data after padding ('=')"};
        return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(v);
    }
    if (++in_group == 4) {
      out.push_back(static_cast<char>((group >> 16) & 0xff));
      if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
      if (padding < 1) out.push_back(static_cast<char>(group & 0xff));
      finished = padding > 0;
      group = 0;
      in_group = 0;
      padding = 0;
    }
  }
  if (in_group != 0) {
    problem = {group_start, "a truncated last group (the length is not a multiple of 4)"};
    return std::nullopt;
  }
  return out;
}

std::string encode_base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace refit::kube
