#pragma once
// The checker behind every message about a JSON input a person wrote (campaign files, planner,
// kernel and simulator options): it walks the value with its JSON pointer in hand, so a mistake is
// named where it is ("campaign.json: /parameters/2/high: must be greater than low (3 >= 5)"),
// with a "did you mean" for near-miss names. Every accessor checks and throws ConfigError.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labloop {

// "; did you mean \"high\"?" when a candidate is close enough to be a plausible typo of `word`;
// several equally close candidates are all named (up to three); "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

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
