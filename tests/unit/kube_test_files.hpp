// What the kubeconfig and credential tests share: a private temporary directory for kubeconfigs,
// token files and plugin records, and the fixture exec plugin.
#pragma once
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace refit::kube::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/refit-kube-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path(const std::string& name) const { return path_ + "/" + name; }
  const std::string& root() const { return path_; }

  // Writes `text` to `name` (creating directories) and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::path file = path(name);
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
    return file.string();
  }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// How many times the fixture plugin ran (it appends a line to PLUGIN_RUNS per run).
inline int plugin_runs(const std::string& runs_file) {
  std::ifstream in(runs_file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

inline std::string fixture_plugin() {
  return std::filesystem::absolute("tests/unit/fixtures/kube/exec-plugin.sh").string();
}

// The message of the exception `action` throws (the test fails when it throws none).
template <typename Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return "";
}

}  // namespace refit::kube::testing
