// Credentials from files and inline values (re-read when the files change) and from exec credential
// plugins (run on first use, cached until the expiry they state). Every message names the context,
// the user entry and the file or command; none holds a credential or a plugin's stdout.
#include "cluster/kube/credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "cluster/kube/exec_credential.hpp"
#include "exec/process_executor.hpp"

namespace refit::kube {

namespace {

std::string whose(const CredentialSpec& spec) {
  return fmt::format("context \"{}\": user \"{}\" in {}", spec.context, spec.user, spec.origin);
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// A file whose content is read again when it changes: projected service-account tokens and
// cert-manager certificates are rotated in place (or by swapping a symlink), so the stamp is the
// file's identity, size and modification time, taken from the descriptor that was read.
class WatchedFile {
 public:
  WatchedFile(std::string path, std::string field) : path_(std::move(path)), field_(std::move(field)) {}

  const std::string& path() const { return path_; }

  const std::string& content(const std::string& who) {
    struct stat now {};
    if (stamp_ && ::stat(path_.c_str(), &now) == 0 && same(now, *stamp_)) return content_;
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(who, errno);
    struct stat opened {};
    if (::fstat(fd, &opened) != 0) {
      int err = errno;
      ::close(fd);
      fail(who, err);
    }
    std::string text;
    char buffer[8192];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        fail(who, err);
      }
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    content_ = std::move(text);
    stamp_ = opened;
    return content_;
  }

  void forget() { stamp_.reset(); }

 private:
  static bool same(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
  }

  [[noreturn]] void fail(const std::string& who, int err) const {
    throw CredentialError(fmt::format("{}: cannot read {} {}: {}", who, field_, path_, std::strerror(err)));
  }

  std::string path_;
  std::string field_;
  std::optional<struct stat> stamp_;
  std::string content_;
};

// token / tokenFile / client-certificate(-data) / client-key(-data).
class StaticCredentials : public Credentials {
 public:
  explicit StaticCredentials(CredentialSpec spec) : spec_(std::move(spec)), who_(whose(spec_)) {
    if (!spec_.token_file.empty()) token_file_.emplace(spec_.token_file, "tokenFile");
    if (!spec_.cert_file.empty()) cert_file_.emplace(spec_.cert_file, "client-certificate");
    if (!spec_.key_file.empty()) key_file_.emplace(spec_.key_file, "client-key");
  }

  std::optional<std::string> bearer_token() override {
    std::lock_guard lock(mutex_);
    if (token_file_) {
      std::string token = trim(token_file_->content(who_));
      if (token.empty()) throw CredentialError(fmt::format("{}: tokenFile {} is empty", who_, token_file_->path()));
      return token;
    }
    if (!spec_.token.empty()) return spec_.token;
    return std::nullopt;
  }

  std::optional<ClientCertificate> client_certificate() override {
    std::lock_guard lock(mutex_);
    if (!cert_file_ && spec_.cert_pem.empty()) return std::nullopt;
    ClientCertificate pair;
    pair.cert_pem = cert_file_ ? cert_file_->content(who_) : spec_.cert_pem;
    pair.key_pem = key_file_ ? key_file_->content(who_) : spec_.key_pem;
    if (cert_file_ && !looks_like_pem_certificate(pair.cert_pem)) {
      throw CredentialError(
          fmt::format("{}: client-certificate {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", who_,
                      cert_file_->path()));
    }
    if (key_file_ && !looks_like_pem_private_key(pair.key_pem)) {
      throw CredentialError(fmt::format("{}: client-key {} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)",
                                        who_, key_file_->path()));
    }
    return pair;
  }

  // The server refused what we sent: read the files again even if they look unchanged.
  void invalidate() override {
    std::lock_guard lock(mutex_);
    for (auto* file : {&token_file_, &cert_file_, &key_file_}) {
      if (*file) (*file)->forget();
    }
  }

  std::string describe() const override {
    std::vector<std::string> parts;
    if (token_file_ || !spec_.token.empty()) {
      parts.push_back(token_file_ ? "token from file " + token_file_->path() : "token");
    }
    if (cert_file_ || !spec_.cert_pem.empty()) {
      parts.push_back(cert_file_ ? "client certificate from file " + cert_file_->path() : "client certificate");
    }
    if (parts.empty()) return "no credentials";
    return fmt::format("{}", fmt::join(parts, ", "));
  }

 private:
  CredentialSpec spec_;
  std::string who_;
  std::optional<WatchedFile> token_file_, cert_file_, key_file_;
  std::mutex mutex_;
};

// What a plugin may print on each stream (an ExecCredential is a few KiB), and how long it has to end
// after the SIGTERM of a timeout.
constexpr std::size_t kPluginOutputCap = 4 << 20;
constexpr std::int64_t kPluginKillGraceMs = 1000;

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// The last lines a failed plugin wrote on stderr, for the user to act on. A plugin may have printed
// its credential on stdout before failing; any long word of stdout found in stderr is blanked out,
// and control characters (terminal escapes) are replaced.
std::string stderr_tail(const std::string& err, const std::string& out) {
  constexpr std::size_t kLines = 5, kLineWidth = 300, kSecretMinLength = 8;
  std::string text = err;
  std::set<std::string> words;
  std::string word;
  for (char c : out + " ") {
    if (std::isspace(static_cast<unsigned char>(c)) || std::strchr("\"{}[]:,", c)) {
      if (word.size() >= kSecretMinLength) words.insert(word);
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  for (const auto& w : words) {
    for (auto pos = text.find(w); pos != std::string::npos; pos = text.find(w, pos + 10)) {
      text.replace(pos, w.size(), "[redacted]");
    }
  }
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = trim(text.substr(start, end - start));
    for (char& c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = '?';
    }
    if (line.size() > kLineWidth) line = line.substr(0, kLineWidth) + "...";
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  if (lines.empty()) return "";
  if (lines.size() > kLines) lines.erase(lines.begin(), lines.end() - kLines);
  return fmt::format("; its stderr ends with:\n  {}", fmt::join(lines, "\n  "));
}

// users[].user.exec: client.authentication.k8s.io v1 / v1beta1 credential plugins.
class ExecPluginCredentials : public Credentials {
 public:
  ExecPluginCredentials(CredentialSpec spec, CredentialOptions options)
      : spec_(std::move(spec)), config_(*spec_.exec), options_(std::move(options)) {
    if (!options_.now) options_.now = [] { return std::chrono::system_clock::now(); };
    who_ = fmt::format("context \"{}\": credential plugin \"{}\" (user \"{}\" in {})", spec_.context, config_.command,
                       spec_.user, spec_.origin);
  }

  std::optional<std::string> bearer_token() override {
    auto status = current();
    if (status.token.empty()) return std::nullopt;
    return status.token;
  }

  std::optional<ClientCertificate> client_certificate() override {
    auto status = current();
    if (status.cert_pem.empty()) return std::nullopt;
    return ClientCertificate{status.cert_pem, status.key_pem};
  }

  void invalidate() override {
    std::lock_guard lock(mutex_);
    cached_.reset();
  }

  std::string describe() const override {
    return fmt::format("exec plugin {} ({})", config_.command, config_.api_version);
  }

 private:
  ExecCredentialStatus current() {
    std::lock_guard lock(mutex_);
    bool expired = cached_ && cached_->expires && options_.now() >= *cached_->expires - options_.expiry_margin;
    if (!cached_ || expired) cached_ = run();
    return *cached_;
  }

  ExecCredentialStatus run() const {
    exec::ProcessSpec spec;
    spec.argv.push_back(config_.command);
    spec.argv.insert(spec.argv.end(), config_.args.begin(), config_.args.end());
    for (const auto& [name, value] : config_.env) spec.env[name] = value;  // a later entry wins, as in client-go
    spec.env["KUBERNETES_EXEC_INFO"] = exec_credential_request(config_.api_version, config_.cluster_info);
    spec.timeout_ms = options_.plugin_timeout.count();
    spec.kill_grace_ms = kPluginKillGraceMs;
    spec.output_cap = kPluginOutputCap;
    // No on_line: what a plugin prints is a credential, for the parser only.
    exec::ProcessResult result;
    try {
      result = exec::run_process(spec);
    } catch (const exec::SpawnError& e) {
      throw CredentialError(fmt::format("{} could not be started: {}", who_, e.what()));
    }

    if (!result.started && result.code == 127) {
      bool on_path = config_.command.find('/') == std::string::npos;
      std::string hint = trim(config_.install_hint);
      throw CredentialError(
          fmt::format("{} was not found{}\n{}", who_, on_path ? " on PATH" : "",
                      hint.empty() ? "Install it, or correct exec.command in the kubeconfig." : hint));
    }
    if (!result.started) {
      // run_process's own words (the program and why), not the plugin's.
      throw CredentialError(fmt::format("{} could not be started: {}\nMake it executable, or correct exec.command in "
                                        "the kubeconfig.", who_, trim(result.err)));
    }
    if (result.timed_out) {
      throw CredentialError(fmt::format("{} did not finish within {} and was stopped{}", who_,
                                        describe_duration(options_.plugin_timeout),
                                        stderr_tail(result.err, result.out)));
    }
    if (result.out_dropped > 0) {
      throw CredentialError(fmt::format("{} printed more than {} MiB on stdout (an ExecCredential is a few KiB)", who_,
                                        kPluginOutputCap >> 20));
    }
    if (result.signal != 0) {
      throw CredentialError(fmt::format("{} was killed by signal {} ({}){}", who_, result.signal,
                                        strsignal(result.signal), stderr_tail(result.err, result.out)));
    }
    if (result.code != 0) {
      throw CredentialError(
          fmt::format("{} exited with status {}{}", who_, result.code, stderr_tail(result.err, result.out)));
    }
    try {
      return parse_exec_credential(result.out, config_.api_version);
    } catch (const ExecCredentialFormatError& e) {
      throw CredentialError(fmt::format("{} gave no usable credential: {}", who_, e.what()));
    }
  }

  CredentialSpec spec_;
  ExecPluginConfig config_;
  CredentialOptions options_;
  std::string who_;
  std::mutex mutex_;
  std::optional<ExecCredentialStatus> cached_;
};

}  // namespace

std::shared_ptr<Credentials> make_credentials(CredentialSpec spec, CredentialOptions options) {
  bool has_static =
      !spec.token.empty() || !spec.token_file.empty() || !spec.cert_pem.empty() || !spec.cert_file.empty();
  if (spec.exec && !has_static) return std::make_shared<ExecPluginCredentials>(std::move(spec), std::move(options));
  return std::make_shared<StaticCredentials>(std::move(spec));
}

bool looks_like_pem_certificate(const std::string& text) {
  return text.find("-----BEGIN CERTIFICATE-----") != std::string::npos;
}

bool looks_like_pem_private_key(const std::string& text) {
  auto begin = text.find("-----BEGIN ");
  return begin != std::string::npos && text.find("PRIVATE KEY-----", begin) != std::string::npos;
}

}  // namespace refit::kube
