#include "run/sim_state/world_digest.hpp"

#include <array>
#include <ostream>
#include <streambuf>

#include "data/sha256.hpp"

namespace refit::run::simstate {

namespace {

// An output stream's bytes go into the digest, through a buffer: nlohmann::json writes to it
// character by character as well as in runs, without building a text.
class DigestBuffer final : public std::streambuf {
 public:
  explicit DigestBuffer(data::Sha256& digest) : digest_(digest) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }

 protected:
  int_type overflow(int_type c) override {
    sync();
    if (c != traits_type::eof()) {
      *pptr() = static_cast<char>(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override {
    digest_.update(std::string_view(pbase(), static_cast<std::size_t>(pptr() - pbase())));
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return 0;
  }

 private:
  data::Sha256& digest_;
  std::array<char, 1 << 16> buffer_{};
};

}  // namespace

std::string world_sha256(sim::SimRuntime& runtime) {
  data::Sha256 digest;
  DigestBuffer buffer(digest);
  std::ostream out(&buffer);
  // One record per line, each naming what it is: no two different worlds stream the same bytes.
  for (const auto& c : runtime.world().clusters()) {
    out << "cluster " << nlohmann::json(c->name()) << ' ' << nlohmann::json(c->version().git_version) << '\n';
    c->store().for_each([&out](const std::string& kind, const nlohmann::json& object) {
      out << "object " << nlohmann::json(kind) << ' ' << object << '\n';
    });
  }
  out << "cloud " << runtime.dump_cloud() << '\n';
  out.flush();
  return digest.hex();
}

}  // namespace refit::run::simstate
