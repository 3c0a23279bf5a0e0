// The file a simulated world is kept in (--sim-state FILE): JSON lines, a header then one line per
// input. A line counts once its newline is written; a last line without one was cut short by a kill
// and is dropped. The run that records into FILE holds a lock on it (a second run on the same world
// would interleave its inputs with the first's) and syncs each line before going on, so that a
// SIGKILL, or the machine going down, at any moment leaves a file that replays.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace refit::run::simstate {

struct StateLine {
  std::size_t number;  // 1-based
  std::string text;    // without the newline
};

struct StateContents {
  std::vector<StateLine> lines;       // the complete lines, the header first
  std::size_t complete_size = 0;      // bytes up to the end of the last complete line
  std::optional<std::size_t> torn;    // the number of a last line cut short, dropped
};

// Splits a file's bytes into complete lines.
StateContents split_lines(std::string_view bytes);

// Reads FILE without locking or changing it (refit plan); nullopt when it does not exist. Throws
// StateError when it cannot be read.
std::optional<StateContents> read_state_file(const std::string& path);

// FILE as the recording run holds it: created (0600) when missing, locked for this process alone.
class StateWriter {
 public:
  // Throws StateError when FILE cannot be opened, or another run holds it.
  explicit StateWriter(std::string path);
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  const std::string& path() const { return path_; }
  // The contents, read under the lock.
  StateContents read();
  // Empties FILE and writes the header (a new world).
  void start(const std::string& header);
  // Cuts FILE back to `size` bytes: a torn last line goes, so that the next line starts clean.
  void cut_to(std::size_t size);
  // Appends one line (a kill after this leaves it whole) and, with `sync`, syncs it to the disk before
  // returning (a crash of the machine after this leaves it too). Throws StateError.
  void append(std::string_view line, bool sync = true);
  // Syncs what was appended without syncing.
  void sync_appended();

 private:
  void sync(const char* after);
  std::string path_;
  int fd_ = -1;
  bool unsynced_ = false;
};

}  // namespace refit::run::simstate
