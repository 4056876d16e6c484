#include "labloop/core/outcome_condition.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

namespace labloop {

namespace {

// ASCII blanks only: a condition is written in a config file. Not named trimmed(): in a unity
// batch it would take calls meant for printable.hpp's, which trims Unicode blanks too.
std::string trimmed_ascii(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::optional<double> number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  const char* first = s.data() + (s[0] == '+' ? 1 : 0);
  const auto [end, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// An output's name as a campaign file allows it (a leading digit too: "2theta"), unless the
// whole of it reads as a number.
bool is_name(const std::string& s) {
  if (s.empty() || number(s)) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

}  // namespace

std::optional<bool> OutcomeCondition::holds_in(const nlohmann::json& values) const {
  if (!values.is_object()) return std::nullopt;
  const auto it = values.find(output);
  if (it == values.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return holds(v);
}

std::string OutcomeCondition::text() const {
  return fmt::format("{} {}{} {}", output, relation == Relation::at_most ? "<" : ">", strict ? "" : "=", bound);
}

std::string parse_outcome_condition(const std::string& text, OutcomeCondition& out) {
  const std::string example = "compare one output with a number, e.g. \"purity >= 0.95\"";
  if (text.size() > kMaxConditionChars) return fmt::format("is {} characters long; at most {} are allowed", text.size(), kMaxConditionChars);
  size_t at = std::string::npos, width = 2;
  for (const char* op : {"<=", ">=", "==", "!=", "<", ">", "="}) {
    at = text.find(op);
    if (at != std::string::npos) {
      width = std::string(op).size();
      break;
    }
  }
  if (at == std::string::npos) return "has no comparison: " + example;
  const std::string op = text.substr(at, width);
  if (op == "==" || op == "=" || op == "!=")
    return fmt::format("uses \"{}\": a measured value is never exactly equal to a number; use \"<=\" or \">=\" to {}", op, example);
  const std::string left = trimmed_ascii(text.substr(0, at)), right = trimmed_ascii(text.substr(at + width));
  if (right.find_first_of("<>=") != std::string::npos) return "has more than one comparison: " + example;
  const bool less = op[0] == '<', strict = width == 1;
  // "name <= 3" or "3 >= name"; "<" and ">" keep the bound out.
  if (is_name(left) && number(right)) {
    out = OutcomeCondition{left, less ? Relation::at_most : Relation::at_least, *number(right), strict};
    return {};
  }
  if (number(left) && is_name(right)) {
    out = OutcomeCondition{right, less ? Relation::at_least : Relation::at_most, *number(left), strict};
    return {};
  }
  return "must " + example + " (one output name on one side, one finite number on the other)";
}

}  // namespace labloop
