#pragma once
// The checker behind every message about a JSON input a person wrote (campaign files, planner,
// kernel and simulator options): it walks the value with its JSON pointer in hand, so a mistake is
// named where it is ("campaign.json: /parameters/2/high: must be greater than low (3 >= 5)"),
// with a "did you mean" for near-miss names. Every accessor checks and throws ConfigError.
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "labloop/core/error.hpp"

namespace labloop {

// "; did you mean \"high\"?" when a candidate is close enough to be a plausible typo of `word`;
// several equally close candidates are all named (up to three); "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// Parses `text` as nlohmann::json::parse does (comments allowed when `ignore_comments`; its
// exceptions propagate), and sets `repeated` to the JSON pointer of the first key given twice in
// one object ("/budget/experiments"): the parser keeps the last of them without a word, so a
// file a person wrote would mean something other than what its first line says.
nlohmann::json parse_json_noting_repeats(const std::string& text, bool ignore_comments, std::optional<std::string>& repeated);

// Where byte `byte` of `text` is, as people count: "line 3, column 14".
std::string line_and_column(const std::string& text, size_t byte);

// Why nlohmann's parser refused a text, in words a person can act on ("a word JSON does not know
// (NaN, Infinity, …)"), without the parser's internal id and position: give the position with
// line_and_column(text, e.byte - 1).
std::string json_syntax_problem(const nlohmann::json::parse_error& e);
// The same with where it is: "at line 3, column 14: …" (e from parsing `text`).
std::string json_syntax_error(const std::string& text, const nlohmann::json::parse_error& e);

// Collects the mistakes of one pass over a file, so a person fixing it sees them all at once, not
// one per attempt. Each `check` runs one independent piece of checking; a ConfigError it throws is
// recorded and the pass goes on. Past `cap` mistakes only their number is kept.
class ConfigMistakes {
 public:
  explicit ConfigMistakes(size_t cap = 20) : cap_(cap) {}
  // Runs `step`; false when it threw ConfigError (recorded).
  bool check(const std::function<void()>& step);
  bool empty() const { return mistakes_.empty(); }
  // Throws one ConfigError listing every recorded mistake (nothing when there is none).
  void throw_if_any() const;

 private:
  size_t cap_;
  std::vector<ConfigError> mistakes_;
  size_t not_shown_ = 0;
};

// A JSON value with its pointer path and the name of the file it came from. Holds references:
// the value and `source` must outlive it.
class JsonNode {
 public:
  JsonNode(const nlohmann::json& value, std::string path, const std::string& source) : value_(value), path_(std::move(path)), source_(source) {}

  const nlohmann::json& value() const { return value_; }
  const std::string& path() const { return path_; }

  // Throws ConfigError(source, path, reason).
  [[noreturn]] void fail(const std::string& reason) const;

  // An object whose keys are all among `allowed_keys` (an unknown key is named, with a did-you-mean).
  void expect_object(const std::vector<std::string>& allowed_keys) const;
  // The same, recording every unknown key in `mistakes` (not an object still throws).
  void expect_object(const std::vector<std::string>& allowed_keys, ConfigMistakes& mistakes) const;
  bool has(const std::string& key) const { return value_.contains(key); }
  // The member `key`; missing is a mistake.
  JsonNode child(const std::string& key) const;
  JsonNode at(size_t index) const;

  std::string as_string(bool allow_empty = false) const;
  double as_number() const;
  // An integral number (1 and 1.0, not 1.5) that fits a long long.
  long long as_integer() const;
  bool as_bool() const;
  const nlohmann::json& as_array(bool allow_empty = false) const;

 private:
  const nlohmann::json& value_;
  std::string path_;
  const std::string& source_;
};

}  // namespace labloop
