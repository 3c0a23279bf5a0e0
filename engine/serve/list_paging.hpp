// Paged lists (limit / continue): the continue token says where the next page starts and at which
// resourceVersion the first page was read, as the API server's does. Later pages show the objects as
// they are when asked for; the list keeps the first page's resourceVersion, so that a watch started
// from it replays every change made meanwhile (at worst an event for a change a page already showed).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace refit::serve {

struct ContinueToken {
  std::uint64_t resource_version = 0;
  std::string ns;    // the last object of the previous page
  std::string name;
  // How many items followed that page when it was read. The next page's remainingItemCount counts
  // down from it, instead of every page walking the rest of the kind to count it again (which made a
  // list of n objects in pages cost n²/limit visits). Like the API server's, the count may be off by
  // what changed between pages; it is never 0 while a continue token is given.
  std::uint64_t remaining = 0;
};

// Opaque to clients: base64url (no padding) of a small JSON document.
std::string encode_continue(const ContinueToken& token);

// nullopt when the text is not a token this server wrote.
std::optional<ContinueToken> decode_continue(std::string_view text);

// Whether (ns, name) comes after the token's object in list order (namespace, then name).
bool after_token(const ContinueToken& token, std::string_view ns, std::string_view name);

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace refit::serve
