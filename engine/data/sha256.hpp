// SHA-256 digests as lowercase hex: what refit records to recognise a file or a world again later (the
// fixture a kept simulated world was built from).
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace refit::data {

// 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

// The same over bytes that come in pieces (a world too big to hold as one text).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  // The digest of everything given; the object is spent.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace refit::data
