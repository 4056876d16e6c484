#pragma once
// One exception base and one type per layer. Every message says what is wrong, where, and
// what to do about it, so a technician can act on it without reading the code.
#include <stdexcept>
#include <string>
#include <vector>

namespace labloop {

class Error : public std::runtime_error {
 public:
  // A NUL byte quoted from a file would end what() there, cutting the message short: shown as \u0000.
  explicit Error(const std::string& message) : std::runtime_error(without_nul(message)) {}
  explicit Error(const char* message) : std::runtime_error(message) {}

 private:
  static std::string without_nul(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
      if (c == '\0') out += "\\u0000";
      else out += c;
    }
    return out;
  }
};

// A campaign file is wrong. `json_path` is the JSON pointer of the offending value ("/parameters/2/high").
class ConfigError : public Error {
 public:
  ConfigError(std::string source, std::string json_path, const std::string& reason)
      : Error(source + ": " + (json_path.empty() ? std::string("/") : json_path) + ": " + reason),
        source_(std::move(source)),
        json_path_(std::move(json_path)) {}
  const std::string& source() const { return source_; }
  const std::string& json_path() const { return json_path_; }
  // Every mistake found in one pass over the file, in file order (this one alone when it is the
  // only one); what() lists them one per line.
  const std::vector<std::string>& mistakes() const { return mistakes_; }

  // Several mistakes at once: source() and json_path() are the first one's.
  explicit ConfigError(const std::vector<ConfigError>& mistakes, size_t not_shown)
      : Error(list(mistakes, not_shown)), source_(mistakes.front().source()), json_path_(mistakes.front().json_path()) {
    mistakes_.clear();
    for (const auto& m : mistakes) mistakes_.push_back(m.what());
  }

 private:
  static std::string list(const std::vector<ConfigError>& mistakes, size_t not_shown) {
    std::string text;
    for (const auto& m : mistakes) text += (text.empty() ? "" : "\n") + std::string(m.what());
    if (not_shown > 0) text += "\n… and " + std::to_string(not_shown) + " more (fix these first)";
    return text;
  }

  std::string source_;
  std::string json_path_;
  std::vector<std::string> mistakes_{what()};
};

// A message on the wire is malformed. `code` is the protocol error code sent back to the peer.
class ProtocolError : public Error {
 public:
  ProtocolError(std::string code, const std::string& message) : Error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// An instrument misbehaved (could not be reached, refused the campaign's parameters, …).
class InstrumentError : public Error {
 public:
  InstrumentError(std::string instrument, const std::string& message, std::string experiment = {})
      : Error("instrument '" + instrument + "': " + message), instrument_(std::move(instrument)),
        experiment_(std::move(experiment)) {}
  const std::string& instrument() const { return instrument_; }
  const std::string& experiment() const { return experiment_; }

 private:
  std::string instrument_;
  std::string experiment_;
};

class PlannerError : public Error {
 public:
  using Error::Error;
};

class JournalError : public Error {
 public:
  using Error::Error;
};

}  // namespace labloop
