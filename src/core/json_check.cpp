#include "labloop/core/json_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <set>

#include "labloop/core/error.hpp"

namespace labloop {

using json = nlohmann::json;

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

std::string short_dump(const json& j) {
  std::string s = j.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

}  // namespace

// The closest candidate by edit distance, when it is close. Several equally close ones are all
// named (up to three): "x7" among x1…x6 is no typo of any one of them, and picking the first
// ("did you mean x1?") would mislead.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::vector<std::string> best;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (best.empty() || d < best_distance) best = {c}, best_distance = d;
    else if (d == best_distance) best.push_back(c);
  }
  if (best.empty() || best.size() > 3 || best_distance > std::max<size_t>(2, best.front().size() / 3)) return {};
  std::string names = fmt::format("\"{}\"", best.front());
  for (size_t i = 1; i < best.size(); ++i) names += fmt::format("{}\"{}\"", i + 1 == best.size() ? " or " : ", ", best[i]);
  return fmt::format("; did you mean {}?", names);
}

bool ConfigMistakes::check(const std::function<void()>& step) {
  try {
    step();
    return true;
  } catch (const ConfigError& e) {
    if (mistakes_.size() < cap_) mistakes_.push_back(e);
    else ++not_shown_;
    return false;
  }
}

void ConfigMistakes::throw_if_any() const {
  if (mistakes_.empty()) return;
  if (mistakes_.size() == 1) throw mistakes_.front();
  throw ConfigError(mistakes_, not_shown_);
}

void JsonNode::fail(const std::string& reason) const { throw ConfigError(source_, path_, reason); }

void JsonNode::expect_object(const std::vector<std::string>& allowed_keys) const {
  if (!value_.is_object()) fail(fmt::format("must be an object, got {} ({})", short_dump(value_), type_name(value_)));
  for (const auto& [key, v] : value_.items()) {
    if (std::find(allowed_keys.begin(), allowed_keys.end(), key) == allowed_keys.end())
      JsonNode(v, path_ + "/" + key, source_).fail(fmt::format("unknown key{} (allowed here: {})", did_you_mean(key, allowed_keys), fmt::join(allowed_keys, ", ")));
  }
}

void JsonNode::expect_object(const std::vector<std::string>& allowed_keys, ConfigMistakes& mistakes) const {
  if (!value_.is_object()) fail(fmt::format("must be an object, got {} ({})", short_dump(value_), type_name(value_)));
  for (const auto& [key, v] : value_.items())
    if (std::find(allowed_keys.begin(), allowed_keys.end(), key) == allowed_keys.end())
      mistakes.check([&, &k = key, &value = v] {
        JsonNode(value, path_ + "/" + k, source_).fail(fmt::format("unknown key{} (allowed here: {})", did_you_mean(k, allowed_keys), fmt::join(allowed_keys, ", ")));
      });
}

JsonNode JsonNode::child(const std::string& key) const {
  if (!value_.contains(key)) fail(fmt::format("missing required key \"{}\"", key));
  return JsonNode(value_.at(key), path_ + "/" + key, source_);
}

JsonNode JsonNode::at(size_t index) const { return JsonNode(value_.at(index), path_ + "/" + std::to_string(index), source_); }

std::string JsonNode::as_string(bool allow_empty) const {
  if (!value_.is_string()) fail(fmt::format("must be a string, got {} ({})", short_dump(value_), type_name(value_)));
  auto s = value_.get<std::string>();
  if (!allow_empty && s.empty()) fail("must not be empty");
  return s;
}

std::string line_and_column(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, column = 1;
    else ++column;
  }
  return fmt::format("line {}, column {}", line, column);
}

std::string json_syntax_problem(const json::parse_error& e) {
  // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 8: syntax error
  // while parsing value - invalid literal; last read: '"low":N'": the part after " - " says what.
  std::string what = e.what();
  if (const auto dash = what.find(" - "); dash != std::string::npos) what = what.substr(dash + 3);
  else if (const auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
  const auto starts = [&](std::string_view s) { return what.starts_with(s); };
  const auto has = [&](std::string_view s) { return what.find(s) != std::string::npos; };
  if (starts("invalid literal"))
    return "a word JSON does not know (NaN, Infinity, True and unquoted text are not JSON: write a number, true, false, null or a "
           "\"quoted string\"; a second byte-order mark at the start is such a word too)";
  if (has("ill-formed UTF-8")) return "a string holds bytes that are not UTF-8 text: save the file as UTF-8";
  if (has("surrogate")) return "a \\u escape is one half of a UTF-16 pair: write the character itself, or both halves";
  if (has("control character")) return "a string holds a control character: write a tab as \\t and a line break as \\n";
  if (has("invalid comment")) return "a comment is not closed: end a /* comment with */";
  if (has("unexpected end of input"))
    return "the text ends before the JSON does (an empty file, a missing } or ], or a string without its closing quote)";
  if (has("expected end of input")) return "more follows the end of the JSON value (two objects, or something after the last })";
  if (starts("invalid number")) return fmt::format("a number JSON cannot read ({}): write numbers as 12, -0.5 or 1e-3", what);
  return what;
}

std::string json_syntax_error(const std::string& text, const json::parse_error& e) {
  return fmt::format("at {}: {}", line_and_column(text, e.byte > 0 ? e.byte - 1 : 0), json_syntax_problem(e));
}

json parse_json_noting_repeats(const std::string& text, bool ignore_comments, std::optional<std::string>& repeated) {
  // One frame per open array or object: where we are in it, for the pointer of a repeated key.
  struct Frame {
    bool array = false;
    std::size_t index = 0;  // an array's element being read
    std::set<std::string> keys;
    std::string key;        // an object's member being read
  };
  std::vector<Frame> frames;
  const auto escaped = [](const std::string& key) {  // RFC 6901: ~ as ~0, / as ~1
    std::string out;
    for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return out;
  };
  const json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: frames.push_back(Frame{}); break;
      case json::parse_event_t::array_start: frames.push_back(Frame{.array = true}); break;
      case json::parse_event_t::key:
        if (!frames.empty()) {
          Frame& top = frames.back();
          top.key = parsed.get<std::string>();
          if (!top.keys.insert(top.key).second && !repeated) {
            std::string pointer;
            for (const Frame& f : frames) pointer += "/" + (f.array ? std::to_string(f.index) : escaped(f.key));
            repeated = pointer;
          }
        }
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames.empty()) frames.pop_back();
        [[fallthrough]];
      case json::parse_event_t::value:
        if (!frames.empty() && frames.back().array) ++frames.back().index;
        break;
    }
    return true;
  };
  // nlohmann's lexer takes a NUL byte for the end of the text, so {"y":1}\0{"error":"lamp"} was
  // read as {"y":1} without a word. JSON text holds none (a string writes it \u0000).
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    throw json::parse_error::create(101, nul + 1, "syntax error - a NUL byte, which JSON text never holds (in a string it is \\u0000)", nullptr);
  return json::parse(text, track, true, ignore_comments);
}

double JsonNode::as_number() const {
  if (!value_.is_number()) fail(fmt::format("must be a number, got {} ({})", short_dump(value_), type_name(value_)));
  return value_.get<double>();
}

long long JsonNode::as_integer() const {
  if (!value_.is_number() || (value_.is_number_float() && value_.get<double>() != std::floor(value_.get<double>())))
    fail(fmt::format("must be an integer, got {} ({})", short_dump(value_), value_.is_number() ? "a fractional number" : type_name(value_)));
  if (value_.is_number_unsigned() && value_.get<unsigned long long>() > static_cast<unsigned long long>(LLONG_MAX)) fail("integer too large");
  // An integral float such as 1e20 must be range-checked too: converting it would be undefined.
  if (value_.is_number_float() && !(std::fabs(value_.get<double>()) < 0x1p63)) fail("integer too large");
  return value_.is_number_float() ? static_cast<long long>(value_.get<double>()) : value_.get<long long>();
}

bool JsonNode::as_bool() const {
  if (!value_.is_boolean()) fail(fmt::format("must be true or false, got {} ({})", short_dump(value_), type_name(value_)));
  return value_.get<bool>();
}

const json& JsonNode::as_array(bool allow_empty) const {
  if (!value_.is_array()) fail(fmt::format("must be an array, got {} ({})", short_dump(value_), type_name(value_)));
  if (!allow_empty && value_.empty()) fail("must not be empty");
  return value_;
}

}  // namespace labloop
