#include "cluster/kube/watch.hpp"

#include <curl/curl.h>

#include <algorithm>

namespace refit::kube {

WatchHub::WatchHub() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("cannot start libcurl (curl_multi_init failed)");
}

WatchHub::~WatchHub() { curl_multi_cleanup(multi_); }

void WatchHub::poll(std::int64_t timeout_ms) {
  int running = 0;
  bool finished = false;
  auto dispatch = [this, &finished] {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      WatchStream* stream = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&stream));
      if (stream != nullptr) stream->finish(message->data.result);
      finished = true;
    }
  };
  const std::uint64_t changes = changes_;
  curl_multi_perform(multi_, &running);
  dispatch();
  // What already arrived may be news, or a stream may have ended and want re-opening: the caller
  // decides before anything waits.
  if (finished || changes_ != changes || timeout_ms <= 0) return;
  curl_multi_poll(multi_, nullptr, 0, static_cast<int>(std::min<std::int64_t>(timeout_ms, 1 << 30)), nullptr);
  curl_multi_perform(multi_, &running);
  dispatch();
}

WatchStream::WatchStream(WatchHub& hub, HttpClient& http, const std::string& target, OnEvent on_event)
    : hub_(hub), http_(http), on_event_(std::move(on_event)) {
  easy_ = curl_easy_init();
  if (easy_ == nullptr) throw std::runtime_error("cannot start libcurl (curl_easy_init failed)");
  HttpRequest request;
  request.target = target;
  try {
    http_.setup(easy_, request, &headers_);
  } catch (...) {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(easy_);
    throw;
  }
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &WatchStream::on_data);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &WatchStream::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  // The server ends a watch after its timeoutSeconds; no client timeout beyond the connect one.
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, 0L);
  http_.count_request();
  curl_multi_add_handle(hub_.multi_, easy_);
  ++hub_.streams_;
}

WatchStream::~WatchStream() {
  if (!ended_) --hub_.streams_;
  curl_multi_remove_handle(hub_.multi_, easy_);
  curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

size_t WatchStream::on_header(char* data, size_t size, size_t count, void* self) {
  static_cast<WatchStream*>(self)->http_.note_header(std::string_view(data, size * count));
  return size * count;
}

size_t WatchStream::on_data(char* data, size_t size, size_t count, void* raw) {
  auto* self = static_cast<WatchStream*>(raw);
  const size_t n = size * count;
  if (self->status_ == 0) curl_easy_getinfo(self->easy_, CURLINFO_RESPONSE_CODE, &self->status_);
  if (self->status_ != 200) {
    if (self->error_body_.size() < 65536) self->error_body_.append(data, n);
    return n;
  }
  self->pending_.append(data, n);
  std::size_t start = 0;
  for (std::size_t end = self->pending_.find('\n'); end != std::string::npos; end = self->pending_.find('\n', start)) {
    const char* first = self->pending_.data() + start;
    const char* last = self->pending_.data() + end;
    start = end + 1;
    if (std::all_of(first, last, [](char c) { return c == ' ' || c == '\r' || c == '\t'; })) continue;
    nlohmann::json event = nlohmann::json::parse(first, last, nullptr, false);
    if (event.is_discarded() || !event.is_object()) continue;  // not an event: nothing to learn from it
    try {
      self->on_event_(event);
    } catch (...) {
      // No exception may cross libcurl: stop the transfer and let the owner rethrow it.
      self->failure_ = std::current_exception();
      return 0;
    }
  }
  self->pending_.erase(0, start);
  return n;
}

void WatchStream::finish(int code) {
  if (ended_) return;
  ended_ = true;
  --hub_.streams_;
  if (status_ == 0) curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status_);
  if (code != CURLE_OK) transport_error_ = http_.transport_error(easy_, code, error_buffer_);
}

}  // namespace refit::kube
