#pragma once
// Shared test helpers: private temp directories, campaign files, and running labloop-sim.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"

namespace labloop::test {

// A fresh directory under /tmp, removed (with its contents) when the object goes away. Short
// paths on purpose: ipc endpoint paths are limited to about 100 bytes.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() / ("llt-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::string ipc(const std::string& name) const { return "ipc://" + (path_ / (name + ".ipc")).string(); }

 private:
  std::filesystem::path path_;
};

// Whether `done()` came true within `most`, looked at every 10 ms.
template <typename F>
bool wait_until(F&& done, std::chrono::milliseconds most) {
  const auto deadline = std::chrono::steady_clock::now() + most;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// What the message of `f`'s exception holds ("" when nothing is thrown).
template <typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Keeps the first `lines` lines of a file: a journal as a `kill -9` at that moment leaves it.
inline void keep_first_lines(const std::filesystem::path& path, size_t lines) {
  std::ifstream in(path);
  std::string kept, line;
  for (size_t i = 0; i < lines && std::getline(in, line); ++i) kept += line + "\n";
  in.close();
  write_file(path, kept);
}

// Heartbeat settings that notice a silent driver within half a second, for fault tests.
inline nlohmann::json fast_heartbeat(nlohmann::json instrument, double reconnect_s = 0.5) {
  instrument["heartbeat_s"] = 0.1;
  instrument["heartbeat_misses"] = 5;
  instrument["connect_timeout_s"] = 5;
  instrument["reconnect_s"] = reconnect_s;
  instrument["retry_backoff_s"] = 0.05;
  return instrument;
}

// The message the campaign-file loader gives for `config` (named `source` in it), or "" when it
// loads: what the config tests compare.
inline std::string config_error(const nlohmann::json& config, const std::string& source = "c.json") {
  try {
    parse_campaign_config(config.dump(), source, labloop::sim::catalogue());
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

// The message `read` (a driver's config reader) gives for a config file holding `text`, written
// as bad.json in `dir`, or "" when it reads.
template <class Read>
std::string config_file_error(const std::filesystem::path& dir, const std::string& text, Read read) {
  write_file(dir / "bad.json", text);
  try {
    read(dir / "bad.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A key pair made in-process and written as DIR/NAME and DIR/NAME.pub (the CLI's own
// `labloop keys new` is tested on its own).
inline KeyPair written_key_pair(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir);
  KeyPair pair = generate_key_pair(name);
  write_key_pair(dir / name, pair);
  return pair;
}

// Writes a key file again, private to its owner, as `labloop keys new` leaves it.
inline void write_key_text(const std::filesystem::path& key_file, const std::string& text) {
  write_file(key_file, text);
  std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// One character of a key file's signing seed changed: the pair still reads, but what it signs
// does not verify with its public key. Returns the file's text as it was.
inline std::string damage_signing_seed(const std::filesystem::path& key_file) {
  const std::string text = read_file(key_file);
  const std::string field = "sign-secret-seed = \"";
  const auto at = text.find(field);
  if (at == std::string::npos) throw std::runtime_error(key_file.string() + " has no signing seed");
  std::string damaged = text;
  char& c = damaged[at + field.size()];
  c = c == 'a' ? 'b' : 'a';
  write_key_text(key_file, damaged);
  return text;
}

}  // namespace labloop::test
