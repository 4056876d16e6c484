#include "labloop/model/space.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "labloop/core/error.hpp"

namespace labloop {

Space::Space(std::vector<Parameter> parameters) : parameters_(std::move(parameters)) {
  for (auto& p : parameters_) {
    if (p.type == ParameterType::categorical) {
      if (p.choices.empty()) throw PlannerError("search space: parameter '" + p.name + "' has no choices: give it at least one");
    } else if (p.type == ParameterType::discrete) {
      // Levels sorted here too, and low/high set from them, so callers that build parameters by
      // hand (bench tables, embedding programs) need only fill `values`.
      if (p.values.empty()) throw PlannerError("search space: discrete parameter '" + p.name + "' has no values: give it at least one level");
      std::sort(p.values.begin(), p.values.end());
      for (size_t k = 0; k < p.values.size(); ++k) {
        if (!std::isfinite(p.values[k])) throw PlannerError(fmt::format("search space: discrete parameter '{}' has a non-finite level", p.name));
        if (k > 0 && p.values[k] - p.values[k - 1] <= p.level_tolerance())
          throw PlannerError(fmt::format("search space: discrete parameter '{}' has the level {} twice", p.name, p.values[k]));
      }
      p.low = p.values.front();
      p.high = p.values.back();
      if (p.log && p.low <= 0)
        throw PlannerError(fmt::format("search space: log parameter '{}' needs levels > 0 (it has {}): drop \"log\"", p.name, p.low));
    } else {
      if (!(p.low < p.high) && !(p.type == ParameterType::integer && p.low == p.high))
        throw PlannerError(fmt::format("search space: parameter '{}' needs low < high (it has low {} and high {})", p.name, p.low, p.high));
      if (p.log && p.low <= 0)
        throw PlannerError(fmt::format("search space: log parameter '{}' needs low > 0 (it has {}): raise low or drop \"log\"", p.name, p.low));
    }
    offsets_.push_back(cube_dim_);
    cube_dim_ += p.cube_width();
  }
}

Space::Space(std::vector<Parameter> parameters, std::vector<LinearConstraint> constraints)
    : Space(std::move(parameters), std::move(constraints), ConstraintSampling::isotropic) {}

Space::Space(std::vector<Parameter> parameters, std::vector<LinearConstraint> constraints, ConstraintSampling sampling)
    : Space(std::move(parameters)) {
  if (constraints.empty()) return;
  constraints_ = std::move(constraints);
  for (const auto& c : constraints_) {
    std::vector<int> indices;
    for (const auto& [name, a] : c.terms) {
      const auto it = std::find_if(parameters_.begin(), parameters_.end(), [&n = name](const Parameter& p) { return p.name == n; });
      if (it == parameters_.end()) throw PlannerError(fmt::format("constraint \"{}\" names unknown parameter '{}'", c.text, name));
      indices.push_back(static_cast<int>(it - parameters_.begin()));
    }
    const Parameter& first = parameters_[static_cast<size_t>(indices.front())];
    if (c.terms.size() == 1 && first.type == ParameterType::continuous) {
      const double bound = c.rhs / c.terms.front().second;
      if (std::isfinite(bound) && bound >= first.low && bound <= first.high)
        bounds_.push_back({indices.front(), bound, kConstraintTolerance * c.scale(parameters_)});
    }
    term_parameters_.push_back(std::move(indices));
    scales_.push_back(c.scale(parameters_));
  }
  region_ = FeasibleRegion(parameters_, offsets_, cube_dim_, constraints_, sampling);
  if (const auto subset = region_.infeasible_subset(); !subset.empty())
    throw PlannerError("search space: " + describe_infeasible(constraints_, subset));
}

const Parameter* Space::find(const std::string& name) const {
  for (const auto& p : parameters_)
    if (p.name == name) return &p;
  return nullptr;
}

namespace {

// Integers get equal-width cells of the cube so that uniform sampling picks each value with equal
// odds; the encoded value is the cell centre. Log-scaled integers are spaced in log(value).
long long integer_count(const Parameter& p) { return static_cast<long long>(p.high - p.low) + 1; }

// Discrete levels: one coordinate, linear in the value (or its log) between the first level's
// centre 1/(2n) and the last's 1 − 1/(2n). Equally spaced levels thus sit exactly where an
// integer parameter's cell centres (k + 0.5)/n do, and decoding to the nearest level (ties up, as
// floor(u·n) breaks them) gives the same cells; unequal spacing keeps its order and distances.
double discrete_coordinate(const Parameter& p, double v) {
  const double n = static_cast<double>(p.values.size());
  auto t = [&](double w) { return p.log ? std::log(w) : w; };
  const double span = t(p.values.back()) - t(p.values.front());
  const double fraction = span > 0 ? (t(v) - t(p.values.front())) / span : 0.0;
  return 0.5 / n + fraction * (1.0 - 1.0 / n);
}

// Index of the level whose coordinate is nearest u.
size_t discrete_level(const Parameter& p, double u) {
  const auto it = std::lower_bound(p.values.begin(), p.values.end(), u,
                                   [&](double level, double target) { return discrete_coordinate(p, level) < target; });
  size_t k = static_cast<size_t>(it - p.values.begin());
  if (k == p.values.size()) return k - 1;
  if (k > 0 && u - discrete_coordinate(p, p.values[k - 1]) < discrete_coordinate(p, p.values[k]) - u) --k;
  return k;
}

double decode_number(const Parameter& p, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (p.type == ParameterType::discrete) return p.values[discrete_level(p, u)];
  if (p.type == ParameterType::integer && !p.log) {
    const long long n = integer_count(p);
    const long long k = std::min(static_cast<long long>(std::floor(u * static_cast<double>(n))), n - 1);
    return p.low + static_cast<double>(k);
  }
  double v = p.log ? std::exp(std::log(p.low) + u * (std::log(p.high) - std::log(p.low))) : p.low + u * (p.high - p.low);
  if (p.type == ParameterType::integer) v = std::round(v);
  // exp(log(x)) may overshoot by an ulp: clamp so a decoded value never leaves its bounds.
  return std::clamp(v, p.low, p.high);
}

double encode_number(const Parameter& p, double v) {
  // check_bounds has matched v to a level; encode that level exactly, so a value read back with a
  // rounding error lands on the same coordinate as the level itself.
  if (p.type == ParameterType::discrete) return discrete_coordinate(p, p.values[static_cast<size_t>(p.level_index(v))]);
  if (p.type == ParameterType::integer && !p.log)
    return (v - p.low + 0.5) / static_cast<double>(integer_count(p));
  if (p.log) return (std::log(v) - std::log(p.low)) / (std::log(p.high) - std::log(p.low));
  return (v - p.low) / (p.high - p.low);
}

}  // namespace

std::string Space::check_bounds(const Params& params) const { return check_params(parameters_, params); }

std::string Space::check(const Params& params) const {
  std::string problem = check_bounds(params);
  if (problem.empty() && constrained()) problem = check_constraints(params);
  return problem;
}

std::string Space::check_constraints(const Params& params) const {
  for (size_t i = 0; i < constraints_.size(); ++i) {
    const LinearConstraint& c = constraints_[i];
    std::vector<double> values;
    for (int p : term_parameters_[i]) values.push_back(params.at(parameters_[static_cast<size_t>(p)].name).get<double>());
    const double r = c.residual(values);
    if (!c.satisfied(r, scales_[i])) {
      const char* op = c.relation == ConstraintRelation::less_equal ? "<=" : c.relation == ConstraintRelation::greater_equal ? ">=" : "==";
      return fmt::format("violates constraint {} \"{}\": its parameter terms sum to {:.10g}, which must be {} {:.10g}", i, c.text, r + c.rhs, op, c.rhs);
    }
  }
  return {};
}

bool Space::feasible(const Eigen::VectorXd& x) const {
  if (!constrained()) return true;
  if (x.size() != cube_dim_ || !x.allFinite()) return false;
  for (size_t i = 0; i < constraints_.size(); ++i) {
    std::vector<double> values;
    for (int p : term_parameters_[i]) values.push_back(decode_number(parameters_[static_cast<size_t>(p)], x[offsets_[static_cast<size_t>(p)]]));
    if (!constraints_[i].satisfied(constraints_[i].residual(values), scales_[i])) return false;
  }
  return true;
}

std::optional<Eigen::VectorXd> Space::repair(const Eigen::VectorXd& x) const {
  const Eigen::VectorXd snapped = canonical(x);
  if (feasible(snapped)) return snapped;
  const std::optional<Eigen::VectorXd> projected = region_.project(region_.reduce(x));
  if (projected) {
    const Eigen::VectorXd c = canonical(region_.expand(*projected, x));
    if (feasible(c)) return c;
  }
  // Integers (and discrete levels) the rounding pushed out: hold them at whole values (levels)
  // next to the relaxed solution (each rounded down or up; all combinations up to 6 of them,
  // otherwise 64 drawn with a fixed generator so repair stays a function of x) and project the
  // rest again.
  const std::vector<bool>& is_integer = region_.integer();
  std::vector<Eigen::Index> ints;
  std::vector<const Parameter*> levels_of;  // per entry of ints: the discrete parameter, or null
  for (size_t j = 0; j < is_integer.size(); ++j)
    if (is_integer[j] && region_.lower()[static_cast<Eigen::Index>(j)] < region_.upper()[static_cast<Eigen::Index>(j)]) {
      ints.push_back(static_cast<Eigen::Index>(j));
      const int offset = region_.coordinates()[j];
      const auto at = std::find(offsets_.begin(), offsets_.end(), offset);
      const Parameter& p = parameters_[static_cast<size_t>(at - offsets_.begin())];
      levels_of.push_back(p.type == ParameterType::discrete ? &p : nullptr);
    }
  if (ints.empty()) return std::nullopt;
  const Eigen::VectorXd base = projected ? *projected : region_.reduce(x).cwiseMax(region_.lower()).cwiseMin(region_.upper());
  std::vector<bool> hold(is_integer.size(), false);
  for (Eigen::Index j : ints) hold[static_cast<size_t>(j)] = true;
  const int combinations = ints.size() <= 6 ? 1 << ints.size() : 64;
  std::mt19937_64 local(12345);
  std::optional<Eigen::VectorXd> best;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int mask = 0; mask < combinations; ++mask) {
    Eigen::VectorXd y = base;
    for (size_t b = 0; b < ints.size(); ++b) {
      const Eigen::Index j = ints[b];
      const bool up = ints.size() <= 6 ? (mask >> b) & 1 : local() & 1;
      if (const Parameter* p = levels_of[b]) {
        // The last level at or below y[j] in the cube, or the one after it.
        size_t below = 0;
        while (below + 1 < p->values.size() && discrete_coordinate(*p, p->values[below + 1]) <= y[j]) ++below;
        y[j] = discrete_coordinate(*p, p->values[std::min(below + (up ? 1 : 0), p->values.size() - 1)]);
        continue;
      }
      // Cell width 1/n: cell k's centre is (k + 0.5)/n.
      const double n = std::round(0.5 / region_.lower()[j]);
      const double cell = std::clamp(std::floor(y[j] * n - 0.5), 0.0, n - 1);
      y[j] = (std::min(cell + (up ? 1.0 : 0.0), n - 1) + 0.5) / n;
    }
    const auto p = region_.project(y, hold);
    if (!p) continue;
    const Eigen::VectorXd c = canonical(region_.expand(*p, x));
    if (!feasible(c)) continue;
    const double d = (*p - base).squaredNorm();
    if (d < best_distance) best_distance = d, best = c;
  }
  return best;
}

Eigen::VectorXd Space::encode(const Params& params) const {
  if (auto problem = check_bounds(params); !problem.empty())
    throw PlannerError(fmt::format("parameters do not fit the search space: {}", problem));
  Eigen::VectorXd x = Eigen::VectorXd::Zero(cube_dim_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto& p = parameters_[i];
    const auto& value = params.at(p.name);
    if (p.type == ParameterType::categorical) {
      const auto k = std::find(p.choices.begin(), p.choices.end(), value.get<std::string>()) - p.choices.begin();
      x[offsets_[i] + k] = 1.0;
    } else {
      x[offsets_[i]] = encode_number(p, value.get<double>());
    }
  }
  return x;
}

Params Space::decode(const Eigen::VectorXd& x) const {
  if (x.size() != cube_dim_)
    throw PlannerError(fmt::format("cube point has {} coordinates, space needs {}", x.size(), cube_dim_));
  if (!x.allFinite()) throw PlannerError("cube point has a non-finite coordinate");
  Params out = Params::object();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto& p = parameters_[i];
    if (p.type == ParameterType::categorical) {
      Eigen::Index best = 0;
      x.segment(offsets_[i], p.cube_width()).maxCoeff(&best);
      out[p.name] = p.choices[static_cast<size_t>(best)];
    } else if (p.type == ParameterType::integer) {
      out[p.name] = static_cast<long long>(decode_number(p, x[offsets_[i]]));
    } else if (p.type == ParameterType::discrete) {
      // Whole-number levels go out as JSON integers, so an instrument that declares the input
      // integer sees 2, not 2.0.
      const double v = decode_number(p, x[offsets_[i]]);
      if (v == std::floor(v) && std::fabs(v) < 0x1p53) out[p.name] = static_cast<long long>(v);
      else out[p.name] = v;
    } else {
      out[p.name] = decode_number(p, x[offsets_[i]]);
    }
  }
  // A value within the tolerance of a one-parameter constraint's bound ("a >= 0.2") is that bound:
  // projections end a rounding error from it, and 0.19999999999905 reads as a violation to a
  // person or an instrument checking a >= 0.2 exactly. Kept only if every constraint still holds.
  // decode runs for every candidate a proposal scores: nothing is copied unless a value moves.
  std::vector<std::pair<const std::string*, double>> moved;  // name, value before
  for (const ConstraintBound& b : bounds_) {
    const std::string& name = parameters_[static_cast<size_t>(b.parameter)].name;
    const double v = out[name].get<double>();
    if (v != b.value && std::abs(v - b.value) <= b.slack) moved.emplace_back(&name, v), out[name] = b.value;
  }
  if (!moved.empty() && !check_constraints(out).empty())
    for (const auto& [name, before] : moved) out[*name] = before;
  return out;
}

Eigen::VectorXd Space::canonical(const Eigen::VectorXd& x) const { return encode(decode(x)); }

}  // namespace labloop
