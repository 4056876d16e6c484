#include "labloop/model/space.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "labloop/core/error.hpp"

namespace labloop {

Space::Space(std::vector<Parameter> parameters) : parameters_(std::move(parameters)) {
  for (const auto& p : parameters_) {
    if (p.type == ParameterType::categorical) {
      if (p.choices.empty()) throw PlannerError("search space: parameter '" + p.name + "' has no choices: give it at least one");
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

const Parameter* Space::find(const std::string& name) const {
  for (const auto& p : parameters_)
    if (p.name == name) return &p;
  return nullptr;
}

namespace {

// Integers get equal-width cells of the cube so that uniform sampling picks each value with equal
// odds; the encoded value is the cell centre. Log-scaled integers are spaced in log(value).
long long integer_count(const Parameter& p) { return static_cast<long long>(p.high - p.low) + 1; }

double decode_number(const Parameter& p, double u) {
  u = std::clamp(u, 0.0, 1.0);
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
  if (p.type == ParameterType::integer && !p.log)
    return (v - p.low + 0.5) / static_cast<double>(integer_count(p));
  if (p.log) return (std::log(v) - std::log(p.low)) / (std::log(p.high) - std::log(p.low));
  return (v - p.low) / (p.high - p.low);
}

}  // namespace

std::string Space::check(const Params& params) const { return check_params(parameters_, params); }

Eigen::VectorXd Space::encode(const Params& params) const {
  if (auto problem = check(params); !problem.empty())
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
    } else {
      out[p.name] = decode_number(p, x[offsets_[i]]);
    }
  }
  return out;
}

Eigen::VectorXd Space::canonical(const Eigen::VectorXd& x) const { return encode(decode(x)); }

}  // namespace labloop
