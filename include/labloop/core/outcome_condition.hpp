#pragma once
// A condition on one measured output, as a person writes it in a campaign file: "purity >= 0.95"
// (an outcome constraint: a result counts only when it holds) or "yield <= 0" (a failure
// condition: the experiment failed when it holds). Shared by the campaign (which checks results)
// and the journal's fold (which must not call an infeasible result the best), hence core.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace labloop {

enum class Relation { at_most, at_least };  // "<=", ">="

// Stated limit: a condition is at most this many characters.
constexpr std::size_t kMaxConditionChars = 200;

struct OutcomeCondition {
  std::string output;
  Relation relation = Relation::at_most;
  double bound = 0.0;
  // Written "<" or ">": the bound itself does not meet it. A value a person types sits on the
  // bound often ("purity > 90" and 90 entered), a measured one almost never; the model, which
  // sees only which side of the bound a value lies, treats both alike.
  bool strict = false;

  // How far the value is on the wrong side of the bound: ≤ 0 when the condition holds (< 0 for
  // a strict one), e.g. "purity >= 0.95" at purity 0.9 gives 0.05. NaN for a NaN value.
  double excess(double value) const { return relation == Relation::at_most ? value - bound : bound - value; }
  bool holds(double value) const { return strict ? excess(value) < 0.0 : excess(value) <= 0.0; }
  // Whether `values` (an instrument's "values" object) has a finite number for the output and
  // the condition holds for it; nullopt when the number is missing or not finite.
  std::optional<bool> holds_in(const nlohmann::json& values) const;
  // Canonical form, "purity >= 0.95" ("purity > 0.95" when strict).
  std::string text() const;
};

// Parses "name <= number" or "name >= number" (spaces optional; the number in JSON/C syntax, e.g.
// 0.95, -1e3). On success fills `out` and returns ""; otherwise returns what is wrong, for a
// message ("must compare one output with a number, e.g. \"purity >= 0.95\"").
std::string parse_outcome_condition(const std::string& text, OutcomeCondition& out);

}  // namespace labloop
