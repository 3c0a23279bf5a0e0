// Kubernetes watch streams without threads: each watch is a libcurl transfer in one multi handle (the
// WatchHub, shared by the clusters of a run), which the run drives while it waits. A stream splits
// what arrives into events (one JSON object a line) and hands each to its owner.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/kube/http_client.hpp"

typedef void CURLM;

namespace refit::kube {

class WatchStream;

class WatchHub {
 public:
  WatchHub();
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Moves every open stream along, waiting up to `timeout_ms` for something to arrive. Streams deliver
  // their events from inside this call.
  void poll(std::int64_t timeout_ms);

  // Whether any stream is open.
  bool busy() const { return streams_ > 0; }

  // Counts what changed an object a wait reads (events, re-lists); a wait's advance returns as soon as
  // the count moves.
  std::uint64_t changes() const { return changes_; }
  void note_change() { ++changes_; }

 private:
  friend class WatchStream;
  CURLM* multi_ = nullptr;
  int streams_ = 0;
  std::uint64_t changes_ = 0;
};

// One watch request: GET <collection>?watch=1&... streaming events until the server ends it.
class WatchStream {
 public:
  // Called with each event ({"type": ..., "object": ...}); it may take the object out.
  using OnEvent = std::function<void(nlohmann::json& event)>;
  WatchStream(WatchHub& hub, HttpClient& http, const std::string& target, OnEvent on_event);
  ~WatchStream();  // stops the transfer
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  bool ended() const { return ended_; }
  // The HTTP status (0 when no response came) and, when it is not 200, the response body.
  long status() const { return status_; }
  const std::string& error_body() const { return error_body_; }
  // Why it ended without a response (or broke off mid-stream), when it did.
  const std::optional<TransportError>& transport_error() const { return transport_error_; }
  // What the event handler threw (the transfer stopped there), to be rethrown by the stream's owner.
  std::exception_ptr failure() const { return failure_; }

 private:
  friend class WatchHub;
  static size_t on_data(char* data, size_t size, size_t count, void* self);
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  void finish(int code);

  WatchHub& hub_;
  HttpClient& http_;
  OnEvent on_event_;
  void* easy_ = nullptr;
  struct curl_slist* headers_ = nullptr;
  std::string pending_;      // bytes of an event not yet complete
  std::string error_body_;
  long status_ = 0;
  bool ended_ = false;
  std::optional<TransportError> transport_error_;
  std::exception_ptr failure_;
  char error_buffer_[256] = {};
};

}  // namespace refit::kube
