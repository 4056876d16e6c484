// Linear constraints: the parser, and the feasible region in cube coordinates.
//
// Feasibility (the config's infeasible-subset message, the interior point): the region
// box ∩ {G u ≤ h} ∩ {E u = f} is convex, so φ(u) = Σ max(0, gᵢ·u − hᵢ)² + Σ (eⱼ·u − fⱼ)² is
// convex over the box and its minimum is 0 exactly when the constraints can be met. NLopt's
// bounded L-BFGS finds that minimum (rows are normalized by their scale, so φ's units are the
// tolerance's). A minimal infeasible subset comes from a deletion filter (Chinneck & Dravnieks
// 1991): drop each constraint in turn and keep it out when the rest stays infeasible.
//
// Interior point: bisection on a margin t, requiring gᵢ·u ≤ hᵢ − t and lo + t ≤ u ≤ hi − t; the
// point of the largest feasible t is a Chebyshev-centre-like start for hit-and-run. Feasibility is
// judged to 1e-6 of each constraint's scale (kFeasibilitySlack): L-BFGS ends about 1e-9 short of
// φ's minimum on ill-conditioned sets, and the points used later are made exact by projection.
//
// Projection: min ‖u − y‖² under the linear constraints, a convex QP, solved by NLopt's SLSQP
// (which takes linear (in)equalities; L-BFGS cannot), checked afterwards.
//
// Sampling: hit-and-run (Smith 1984; Lovász 1999 for mixing) inside the affine subspace of the
// equalities, so a simplex or a mixture is sampled uniformly without rejection.
#include "labloop/model/linear_constraints.hpp"

#include <fmt/format.h>
#include <nlopt.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <map>
#include <tuple>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/parameter_check.hpp"  // name_char

namespace labloop {

namespace {

// ---- parser ----------------------------------------------------------------------------------

struct Token {
  enum Kind { number, name, plus, minus, times, divide, comparison, end } kind;
  std::string text;
  double value = 0;
  ConstraintRelation relation = ConstraintRelation::less_equal;
  size_t column = 0;  // 1-based, for messages
};

struct Tokens {
  std::vector<Token> list;
  std::string error;
};

const Parameter* find_parameter(const std::vector<Parameter>& parameters, std::string_view name) {
  for (const auto& p : parameters)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> numeric_names(const std::vector<Parameter>& parameters) {
  std::vector<std::string> names;
  for (const auto& p : parameters)
    if (p.type != ParameterType::categorical && !p.log) names.push_back(p.name);
  return names;
}

Tokens tokenize(std::string_view text, const std::vector<Parameter>& parameters) {
  Tokens out;
  size_t i = 0;
  auto fail = [&](std::string message) {
    out.error = std::move(message);
    return out;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t{Token::end, {}, 0, ConstraintRelation::less_equal, i + 1};
    if (c == '<' || c == '>' || c == '=' || c == '!') {
      const bool two = i + 1 < text.size() && text[i + 1] == '=';
      if (c == '=' && !two) return fail(fmt::format("\"=\" at column {} is not a comparison here: write \"==\" for equality (or \"<=\", \">=\")", i + 1));
      if (c == '!') return fail(fmt::format("\"!\" at column {}: \"not equal\" is not a constraint the planner can keep; use <=, >= or ==", i + 1));
      if (!two)
        return fail(fmt::format("strict \"{}\" at column {} is not supported: write \"{}=\" (a measured setting cannot tell the two apart)", c, i + 1, c));
      t.kind = Token::comparison;
      t.relation = c == '<' ? ConstraintRelation::less_equal : c == '>' ? ConstraintRelation::greater_equal : ConstraintRelation::equal;
      t.text = std::string(text.substr(i, 2));
      i += 2;
      out.list.push_back(t);
      continue;
    }
    if (c == '+' || c == '-' || c == '*' || c == '/') {
      t.kind = c == '+' ? Token::plus : c == '-' ? Token::minus : c == '*' ? Token::times : Token::divide;
      t.text = std::string(1, c);
      ++i;
      // "**" is a power in some languages: say so rather than "unexpected *".
      if (c == '*' && i < text.size() && text[i] == '*') return fail(fmt::format("\"**\" at column {}: constraints must be linear (no powers)", i));
      out.list.push_back(t);
      continue;
    }
    if (c == '^') return fail(fmt::format("\"^\" at column {}: constraints must be linear (no powers)", i + 1));
    if (name_char(c)) {
      // A parameter name may contain '-' and '.', so "flow-rate" is one name while "x1-x2" is
      // x1 minus x2: take the longest run that names a parameter, cutting at a '-'.
      size_t end = i;
      while (end < text.size() && name_char(text[end])) ++end;
      size_t cut = end;
      const Parameter* found = nullptr;
      while (true) {
        if ((found = find_parameter(parameters, text.substr(i, cut - i)))) break;
        const size_t dash = text.substr(i, cut - i).rfind('-');
        if (dash == std::string_view::npos || dash == 0) break;
        cut = i + dash;
      }
      if (found) {
        t.kind = Token::name;
        t.text = found->name;
        i = cut;
        out.list.push_back(t);
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
        const std::string rest(text.substr(i));
        // Decimal notation only: strtod would also read "0x10" as 16.
        double v = 0;
        const auto [stop, error] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
        const size_t used = static_cast<size_t>(stop - rest.data());
        if (error == std::errc::result_out_of_range || (error == std::errc() && !std::isfinite(v)))
          return fail(fmt::format("number \"{}\" at column {} is out of range", rest.substr(0, used), i + 1));
        if (error != std::errc() || used == 0) return fail(fmt::format("\"{}\" at column {} is not a number", rest.substr(0, end - i), i + 1));
        if (rest.compare(0, used, "0") == 0 && used < rest.size() && (rest[used] == 'x' || rest[used] == 'X'))
          return fail(fmt::format("\"{}\" at column {}: numbers are written in decimal, not hexadecimal", rest.substr(0, end - i), i + 1));
        t.kind = Token::number;
        t.value = v;
        t.text = rest.substr(0, used);
        i += used;
        if (i < text.size() && (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '_'))
          return fail(fmt::format("\"{}\" at column {}: write a product with \"*\", e.g. \"{}*{}\"", std::string(text.substr(t.column - 1, end - t.column + 1)),
                                  t.column, t.text, std::string(text.substr(i, end - i))));
        out.list.push_back(t);
        continue;
      }
      // An unknown name: up to the first '-' (the rest may be "- x2").
      size_t stop = i;
      while (stop < end && (stop == i || text[stop] != '-')) ++stop;
      const std::string name(text.substr(i, stop - i));
      const std::vector<std::string> names = numeric_names(parameters);
      std::vector<std::string> all;
      for (const auto& p : parameters) all.push_back(p.name);
      return fail(fmt::format("unknown parameter \"{}\"{} (parameters: {})", name, did_you_mean(name, all), fmt::join(all, ", ")));
    }
    if (c == '(' || c == ')')
      return fail(fmt::format("parentheses (column {}) are not supported: expand the expression into a sum of number*name terms", i + 1));
    if (static_cast<unsigned char>(c) >= 0x80)  // not echoed: it may be part of a multi-byte character
      return fail(fmt::format("unexpected non-ASCII character at column {}: names and operators are ASCII (write <= for ≤, >= for ≥)", i + 1));
    return fail(fmt::format("unexpected character '{}' at column {}: a constraint is a sum of number*name terms, a comparison "
                            "(<=, >=, ==) and another such sum",
                            c, i + 1));
  }
  out.list.push_back(Token{Token::end, {}, 0, ConstraintRelation::less_equal, text.size() + 1});
  return out;
}

}  // namespace

ConstraintParse parse_linear_constraint(std::string_view text, const std::vector<Parameter>& parameters) {
  ConstraintParse result;
  auto fail = [&](std::string message) {
    result.error = std::move(message);
    return result;
  };
  if (text.size() > kMaxConstraintChars)
    return fail(fmt::format("is {} characters long; at most {} are allowed", text.size(), kMaxConstraintChars));
  if (std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
    return fail("is empty: write a linear constraint such as \"x1 + x2 <= 1\"");
  Tokens tokens = tokenize(text, parameters);
  if (!tokens.error.empty()) return fail(tokens.error);
  const std::vector<Token>& ts = tokens.list;

  int relations = 0;
  for (const auto& t : ts) relations += t.kind == Token::comparison;
  if (relations == 0) return fail("has no comparison: write <=, >= or == between two sides, e.g. \"x1 + x2 <= 1\"");
  if (relations > 1) return fail(fmt::format("has {} comparisons; write one per constraint (\"0 <= x <= 1\" is two constraints)", relations));

  LinearConstraint c;
  c.text = std::string(text);
  std::vector<std::pair<std::string, double>> terms;  // left minus right
  double constant = 0;                                 // left minus right
  double side = 1;                                     // +1 left of the comparison, −1 right of it
  size_t k = 0;
  auto describe = [&](size_t from, size_t to) {  // source text of tokens [from, to]
    const size_t a = ts[from].column - 1;
    const size_t b = to + 1 < ts.size() ? ts[to + 1].column - 1 : text.size();
    std::string s(text.substr(a, b > a ? b - a : 0));
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
  };
  while (true) {
    // One side: [sign] term (sign term)*.
    bool first = true;
    while (true) {
      double sign = 1;
      if (ts[k].kind == Token::plus || ts[k].kind == Token::minus) {
        // "a + -2*b" is common in generated text: signs compose.
        for (; ts[k].kind == Token::plus || ts[k].kind == Token::minus; ++k) sign *= ts[k].kind == Token::minus ? -1 : 1;
      } else if (!first) {
        break;
      }
      first = false;
      const size_t term_start = k;
      double coefficient = sign;
      std::string name;
      bool expect_factor = true;
      while (true) {
        const Token& t = ts[k];
        if (expect_factor) {
          if (t.kind == Token::number) coefficient *= t.value;
          else if (t.kind == Token::name) {
            if (!name.empty())
              return fail(fmt::format("\"{}\": constraints must be linear (a product of two parameters)", describe(term_start, k)));
            const Parameter* p = find_parameter(parameters, t.text);
            if (p->type == ParameterType::categorical)
              return fail(fmt::format("parameter \"{}\" is categorical and cannot appear in a constraint (it has no numeric value)", p->name));
            if (p->log)
              return fail(fmt::format("parameter \"{}\" is log-scaled: a linear constraint on it is not linear in the planner's coordinates "
                                      "(log of the value), so it cannot be kept exactly; drop \"log\" from the parameter or leave it out of "
                                      "the constraint",
                                      p->name));
            name = p->name;
          } else if (t.kind == Token::end || t.kind == Token::comparison) {
            return fail(k == 0 || (t.kind == Token::comparison && k == term_start)
                            ? fmt::format("a side of \"{}\" is empty: write a term before and after the comparison", std::string(text))
                            : fmt::format("ends after \"{}\": a term is missing", describe(0, k - 1)));
          } else {
            return fail(fmt::format("unexpected \"{}\" at column {}: expected a number or a parameter name", t.text, t.column));
          }
          ++k;
          expect_factor = false;
          continue;
        }
        if (t.kind == Token::times) {
          ++k;
          expect_factor = true;
          continue;
        }
        if (t.kind == Token::divide) {
          const Token& d = ts[k + 1];
          if (d.kind == Token::name)
            return fail(fmt::format("\"{}\": constraints must be linear (dividing by a parameter)", describe(term_start, k + 1)));
          if (d.kind != Token::number) return fail(fmt::format("\"/\" at column {} must be followed by a number", t.column));
          if (d.value == 0) return fail(fmt::format("\"{}\" divides by zero", describe(term_start, k + 1)));
          coefficient /= d.value;
          k += 2;
          continue;
        }
        if (t.kind == Token::number || t.kind == Token::name)
          return fail(fmt::format("\"{}\" at column {}: an operator (+, -, *) is missing before it", t.text, t.column));
        break;
      }
      if (!std::isfinite(coefficient)) return fail(fmt::format("\"{}\": the coefficient is out of range", describe(term_start, k - 1)));
      if (name.empty()) {
        constant += side * coefficient;
      } else {
        auto it = std::find_if(terms.begin(), terms.end(), [&](const auto& term) { return term.first == name; });
        if (it == terms.end()) terms.emplace_back(name, side * coefficient);
        else it->second += side * coefficient;
      }
    }
    if (ts[k].kind == Token::comparison) {
      if (side < 0) break;  // counted above: cannot happen
      c.relation = ts[k].relation;
      side = -1;
      ++k;
      if (ts[k].kind == Token::end) return fail(fmt::format("nothing after \"{}\": write the right-hand side, e.g. \"{} 1\"", ts[k - 1].text, ts[k - 1].text));
      continue;
    }
    if (ts[k].kind == Token::end) break;
    return fail(fmt::format("unexpected \"{}\" at column {}", ts[k].text, ts[k].column));
  }
  for (const auto& term : terms)
    if (term.second != 0) c.terms.push_back(term);
  if (c.terms.empty())
    return fail("names no parameter once its terms are collected: a constraint must involve at least one parameter");
  c.rhs = -constant;
  if (!std::isfinite(c.rhs)) return fail("the constant terms are out of range");
  if (!std::isfinite(c.scale(parameters)))
    return fail("its coefficients times the parameters' ranges overflow: rescale the constraint or the parameters' units");
  result.constraint = std::move(c);
  return result;
}

double LinearConstraint::scale(const std::vector<Parameter>& parameters) const {
  double s = std::abs(rhs);
  for (const auto& [name, a] : terms) {
    const Parameter* p = find_parameter(parameters, name);
    s += std::abs(a) * (p->high - p->low);
  }
  // A constraint on a fixed integer (low == high) with rhs 0 would have scale 0: use 1, so the
  // tolerance stays an absolute 1e-9 there.
  return s > 0 ? s : 1.0;
}

double LinearConstraint::residual(const std::vector<double>& values) const {
  double r = -rhs;
  for (size_t i = 0; i < terms.size(); ++i) r += terms[i].second * values[i];
  return r;
}

bool LinearConstraint::same_as(const LinearConstraint& other) const {
  if (terms.size() != other.terms.size() || terms.empty()) return false;
  const bool turned = relation != other.relation;
  if (turned && (relation == ConstraintRelation::equal || other.relation == ConstraintRelation::equal)) return false;
  const std::map<std::string, double> theirs(other.terms.begin(), other.terms.end());
  const auto first = theirs.find(terms.front().first);
  if (first == theirs.end()) return false;
  const double factor = terms.front().second / first->second;  // this = factor · other
  if (relation != ConstraintRelation::equal && (factor < 0) != turned) return false;
  auto close = [&](double mine, double their) { return std::abs(mine - factor * their) <= 1e-12 * std::max(std::abs(mine), 1.0); };
  for (const auto& [name, coefficient] : terms)
    if (const auto it = theirs.find(name); it == theirs.end() || !close(coefficient, it->second)) return false;
  return close(rhs, other.rhs);
}

bool LinearConstraint::satisfied(double r, double s) const {
  const double slack = kConstraintTolerance * s;
  switch (relation) {
    case ConstraintRelation::less_equal: return r <= slack;
    case ConstraintRelation::greater_equal: return r >= -slack;
    case ConstraintRelation::equal: return std::abs(r) <= slack;
  }
  return false;
}

std::string describe_infeasible(const std::vector<LinearConstraint>& constraints, const std::vector<int>& subset) {
  std::vector<std::string> named;
  for (int i : subset) named.push_back(fmt::format("/constraints/{} (\"{}\")", i, constraints[static_cast<size_t>(i)].text));
  if (named.size() == 1)
    return fmt::format("no setting within the parameters' bounds satisfies {}: widen the bounds or change the constraint", named[0]);
  std::string list;
  for (size_t i = 0; i < named.size(); ++i) list += (i == 0 ? "" : i + 1 == named.size() ? " and " : ", ") + named[i];
  return fmt::format("no setting within the parameters' bounds satisfies {} together: relax or remove one of them", list);
}

// ---- the region in cube coordinates ------------------------------------------------------------

namespace {

constexpr double kFeasibilitySlack = 1e-6;
// A start on this many faces leaves them along about one random direction in 16 or fewer
// (find_centre's corner case).
constexpr int kStuckFaces = 5;
// Hit-and-run draws its directions by projection from this many constrained coordinates on.
constexpr Eigen::Index kProjectedDirectionsFrom = 64;

// φ and its gradient for the feasibility solve (rows already selected and shifted by the margin).
struct Penalty {
  const Eigen::MatrixXd* g;
  const Eigen::VectorXd* h;
  const Eigen::MatrixXd* e;
  const Eigen::VectorXd* f;
};

double feasibility_penalty(const std::vector<double>& v, std::vector<double>& grad, void* raw) {
  const auto* p = static_cast<const Penalty*>(raw);
  const Eigen::Map<const Eigen::VectorXd> y(v.data(), static_cast<Eigen::Index>(v.size()));
  const Eigen::VectorXd over = ((*p->g) * y - *p->h).cwiseMax(0.0);
  const Eigen::VectorXd off = (*p->e) * y - *p->f;
  if (!grad.empty()) {
    Eigen::Map<Eigen::VectorXd> gr(grad.data(), static_cast<Eigen::Index>(grad.size()));
    gr = 2.0 * (p->g->transpose() * over + p->e->transpose() * off);
  }
  return over.squaredNorm() + off.squaredNorm();
}

Eigen::MatrixXd select_rows(const Eigen::MatrixXd& m, const std::vector<int>& source, const std::vector<bool>& use) {
  std::vector<Eigen::Index> rows;
  for (size_t i = 0; i < source.size(); ++i)
    if (use[static_cast<size_t>(source[i])]) rows.push_back(static_cast<Eigen::Index>(i));
  Eigen::MatrixXd out(static_cast<Eigen::Index>(rows.size()), m.cols());
  for (size_t i = 0; i < rows.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
  return out;
}

Eigen::VectorXd select_entries(const Eigen::VectorXd& v, const std::vector<int>& source, const std::vector<bool>& use) {
  std::vector<double> out;
  for (size_t i = 0; i < source.size(); ++i)
    if (use[static_cast<size_t>(source[i])]) out.push_back(v[static_cast<Eigen::Index>(i)]);
  return Eigen::Map<Eigen::VectorXd>(out.data(), static_cast<Eigen::Index>(out.size()));
}

// Keeps a row only when it raises the rank of those kept before it (SLSQP refuses more
// equalities than coordinates, and a dependent row adds nothing).
std::vector<Eigen::Index> independent_rows(const Eigen::MatrixXd& e) {
  std::vector<Eigen::Index> keep;
  Eigen::Index kept_rank = 0;
  for (Eigen::Index r = 0; r < e.rows(); ++r) {
    Eigen::MatrixXd rows(static_cast<Eigen::Index>(keep.size()) + 1, e.cols());
    for (size_t i = 0; i < keep.size(); ++i) rows.row(static_cast<Eigen::Index>(i)) = e.row(keep[i]);
    rows.row(rows.rows() - 1) = e.row(r);
    const Eigen::VectorXd sv = Eigen::JacobiSVD<Eigen::MatrixXd>(rows).singularValues();
    Eigen::Index rank = 0;
    for (Eigen::Index i = 0; i < sv.size(); ++i) rank += sv[i] > 1e-10 * std::max(1.0, sv[0]);
    if (rank > kept_rank) keep.push_back(r), kept_rank = rank;
  }
  return keep;
}

}  // namespace

FeasibleRegion::FeasibleRegion(const std::vector<Parameter>& parameters, const std::vector<int>& offsets, int cube_dim,
                               const std::vector<LinearConstraint>& constraints, ConstraintSampling sampling)
    : constraints_(static_cast<int>(constraints.size())), sampling_(sampling) {
  (void)cube_dim;
  if (constraints.empty()) return;
  // Reduced coordinates: the parameters named by some constraint, in parameter order.
  std::vector<int> reduced_of(parameters.size(), -1);
  for (const auto& c : constraints)
    for (const auto& [name, a] : c.terms) {
      auto it = std::find_if(parameters.begin(), parameters.end(), [&n = name](const Parameter& p) { return p.name == n; });
      if (it == parameters.end()) throw PlannerError(fmt::format("constraint \"{}\" names unknown parameter '{}'", c.text, name));
      if (it->type == ParameterType::categorical || it->log)
        throw PlannerError(fmt::format("constraint \"{}\" names '{}', which is categorical or log-scaled", c.text, name));
      reduced_of[static_cast<size_t>(it - parameters.begin())] = 0;
    }
  std::vector<double> alpha, beta;  // value = alpha + beta * u
  std::vector<double> lo_list, hi_list;
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (reduced_of[i] < 0) continue;
    const Parameter& p = parameters[i];
    reduced_of[i] = static_cast<int>(coords_.size());
    coords_.push_back(offsets[i]);
    // Integers and discrete levels are relaxed to [low, high], between the coordinates of their
    // first and last value (1/(2n) and 1 − 1/(2n)), and rounded after.
    integer_.push_back(p.type == ParameterType::integer || p.type == ParameterType::discrete);
    if (p.type == ParameterType::integer) {
      const double n = p.high - p.low + 1;
      alpha.push_back(p.low - 0.5);
      beta.push_back(n);
      lo_list.push_back(0.5 / n), hi_list.push_back(1.0 - 0.5 / n);
    } else if (p.type == ParameterType::discrete) {
      // Space's encoding: u = 1/(2n) + (v − v₀)/(v_last − v₀)·(1 − 1/n), linear in v (not log).
      const double n = static_cast<double>(p.values.size());
      const double span = p.values.back() - p.values.front();
      const double b = n > 1 ? span / (1.0 - 1.0 / n) : 0.0;
      beta.push_back(b);
      alpha.push_back(p.values.front() - b * 0.5 / n);
      lo_list.push_back(0.5 / n), hi_list.push_back(n > 1 ? 1.0 - 0.5 / n : 0.5 / n);
    } else {
      alpha.push_back(p.low);
      beta.push_back(p.high - p.low);
      lo_list.push_back(0.0), hi_list.push_back(1.0);
    }
  }
  const auto k = static_cast<Eigen::Index>(coords_.size());
  lo_ = Eigen::Map<Eigen::VectorXd>(lo_list.data(), k);
  hi_ = Eigen::Map<Eigen::VectorXd>(hi_list.data(), k);
  std::vector<Eigen::RowVectorXd> g_rows, e_rows;
  std::vector<double> h_list, f_list;
  for (size_t ci = 0; ci < constraints.size(); ++ci) {
    const auto& c = constraints[ci];
    const double s = c.scale(parameters);
    Eigen::RowVectorXd row = Eigen::RowVectorXd::Zero(k);
    double rhs = c.rhs;
    for (const auto& [name, a] : c.terms) {
      const auto pi = static_cast<size_t>(std::find_if(parameters.begin(), parameters.end(), [&n = name](const Parameter& p) { return p.name == n; }) -
                                          parameters.begin());
      const int j = reduced_of[pi];
      row[j] += a * beta[static_cast<size_t>(j)];
      rhs -= a * alpha[static_cast<size_t>(j)];
    }
    row /= s;
    rhs /= s;
    if (c.relation == ConstraintRelation::equal) {
      e_rows.push_back(row), f_list.push_back(rhs), e_source_.push_back(static_cast<int>(ci));
    } else {
      const double sign = c.relation == ConstraintRelation::less_equal ? 1.0 : -1.0;
      g_rows.push_back(sign * row), h_list.push_back(sign * rhs), g_source_.push_back(static_cast<int>(ci));
    }
  }
  g_.resize(static_cast<Eigen::Index>(g_rows.size()), k);
  h_.resize(static_cast<Eigen::Index>(h_list.size()));
  for (size_t i = 0; i < g_rows.size(); ++i) g_.row(static_cast<Eigen::Index>(i)) = g_rows[i], h_[static_cast<Eigen::Index>(i)] = h_list[i];
  e_.resize(static_cast<Eigen::Index>(e_rows.size()), k);
  f_.resize(static_cast<Eigen::Index>(f_list.size()));
  for (size_t i = 0; i < e_rows.size(); ++i) e_.row(static_cast<Eigen::Index>(i)) = e_rows[i], f_[static_cast<Eigen::Index>(i)] = f_list[i];

  find_centre(constraints.size());
}

// Hit-and-run moves in the null space of E, and not along fixed coordinates (an integer with
// low == high, or pinned by the constraints): stack unit rows for those, take the SVD's null space.
void FeasibleRegion::find_directions() {
  const auto k = static_cast<Eigen::Index>(coords_.size());
  std::vector<Eigen::Index> fixed;
  for (Eigen::Index j = 0; j < k; ++j)
    if (!(lo_[j] < hi_[j])) fixed.push_back(j);
  Eigen::MatrixXd a(e_.rows() + static_cast<Eigen::Index>(fixed.size()), k);
  a.topRows(e_.rows()) = e_;
  for (size_t i = 0; i < fixed.size(); ++i) a.row(e_.rows() + static_cast<Eigen::Index>(i)) = Eigen::RowVectorXd::Unit(k, fixed[i]);
  if (a.rows() == 0) {
    null_ = Eigen::MatrixXd::Identity(k, k);
    row_space_.resize(k, 0);
  } else {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeFullV);
    const Eigen::VectorXd sv = svd.singularValues();
    Eigen::Index rank = 0;
    for (Eigen::Index i = 0; i < sv.size(); ++i) rank += sv[i] > 1e-10 * std::max(1.0, sv[0]);
    null_ = svd.matrixV().rightCols(k - rank);
    row_space_ = svd.matrixV().leftCols(rank);
  }
  if (e_.rows() > 0) e_pinv_ = e_.completeOrthogonalDecomposition().pseudoInverse();
  const std::vector<Eigen::Index> keep = independent_rows(e_);
  e_independent_.resize(static_cast<Eigen::Index>(keep.size()), k);
  f_independent_.resize(static_cast<Eigen::Index>(keep.size()));
  for (size_t i = 0; i < keep.size(); ++i)
    e_independent_.row(static_cast<Eigen::Index>(i)) = e_.row(keep[i]), f_independent_[static_cast<Eigen::Index>(i)] = f_[keep[i]];
}

// The interior point, when there is one (a caller checks infeasible_subset() first; here an
// infeasible region just keeps the box centre, and the samplers will find nothing feasible).
void FeasibleRegion::find_centre(size_t constraint_count) {
  find_directions();
  const std::vector<bool> all(constraint_count, true);
  std::optional<Eigen::VectorXd> best = feasible_point(all, 0.0);
  if (!best) {
    centre_ = 0.5 * (lo_ + hi_);
    return;
  }
  double good = 0, bad = 0.5;
  for (int it = 0; it < 24 && bad - good > 1e-4; ++it) {
    const double t = 0.5 * (good + bad);
    if (auto y = feasible_point(all, t)) good = t, best = y;
    else bad = t;
  }
  // No room even for a margin of 1e-4: some inequalities (or box sides) hold with equality at
  // every feasible point ("x <= 0.5" with "x >= 0.5"). Hit-and-run would be stuck on them, so
  // they become equalities (or fixed coordinates), once, and the centre is sought again.
  if (good == 0 && !pinned_checked_) {
    pinned_checked_ = true;
    // Rounded (new campaigns): pin_implicit_equalities takes the rows first, each judged against
    // its whole scale, and so held n + 10*x1 <= 10 with n in 0..10^7 as an equality (its scale is
    // n's range) and n at 0 besides: x1 was held at 1, one setting for every proposal. Whole-number
    // sides first, then rows judged against the room their free coordinates give them
    // (pin_consistently) hold n at 0 and leave x1 its range. With one direction to move along, the
    // region stays as written (hit-and-run crosses a thin interval in one move).
    if (sampling_ == ConstraintSampling::rounded) {
      if (null_.cols() > 1 && pin_consistently(all, /*row_span=*/true)) return find_centre(constraint_count);
    } else if (const auto before = std::make_tuple(g_, h_, e_, f_, g_source_, e_source_, lo_, hi_); pin_implicit_equalities(all)) {
      // Pins that keep the set satisfiable are what every campaign validated so far was sampled
      // with: kept as they are. In a region thinner than kPinTest they can contradict each other
      // (x2 <= 0.001 with x2 in [0, 15]: the row pinned at x2 = 0.001, the box side at x2 = 0), and a
      // feasible set was refused; from 1e-8 thinner its two pins met within the tolerance and it
      // passed again. Such a set, when it is satisfiable as written, is pinned consistently
      // instead; one that is not keeps the pins (and the message) it had.
      if (satisfiable(all)) return find_centre(constraint_count);
      const auto pinned = std::make_tuple(g_, h_, e_, f_, g_source_, e_source_, lo_, hi_);
      std::tie(g_, h_, e_, f_, g_source_, e_source_, lo_, hi_) = before;
      if (!satisfiable(all)) {
        std::tie(g_, h_, e_, f_, g_source_, e_source_, lo_, hi_) = pinned;
        return find_centre(constraint_count);
      }
      find_directions();
      // With one direction to move along, hit-and-run crosses a thin interval in one step: it
      // stays as written (n <= 5 with n in [1, 100000] proposes 1 to 5). With more, a thin slab
      // would keep every draw near the centre, so it is made flat as before.
      if (null_.cols() > 1) pin_consistently(all);
      return find_centre(constraint_count);
    }
  }
  centre_ = *best;
  if (auto p = project(centre_); p && violation(*p) < violation(centre_)) centre_ = *p;
  // No margin was found because some side hit-and-run cannot move away from anyway (x2 held at
  // 0.00005 by a pinned row still has its box side 0 within 5e-5), and the feasibility solve may
  // leave the point in a corner. A random direction has room there only when it leaves every face
  // the point lies on, about one in 2^(faces − 1): the chain stayed put (12 mixture components with
  // x2 <= 0.00005 and x0 >= 0.99, ten of them at 0: one setting for the whole budget). From
  // kStuckFaces faces on, the centre is sought again with the margin on the sides that can move;
  // every other centre, and so every journal proposed from one, is unchanged.
  if (good == 0 && null_.cols() > 1 && active_sides(centre_) >= kStuckFaces) {
    double inner = 0, outer = 0.5;
    std::optional<Eigen::VectorXd> inside;
    // Down to margins far below kPinTest: the room left can be as thin as the caps that made it.
    for (int it = 0; it < 40 && (outer - inner > 1e-4 || !inside); ++it) {
      const double t = 0.5 * (inner + outer);
      if (auto y = feasible_point(all, t, nullptr, /*moving_sides_only=*/true)) inner = t, inside = y;
      else outer = t;
    }
    if (inside && violation(*inside) <= kConstraintTolerance) centre_ = *inside;
    else if (inside)
      if (auto p = project(*inside); p && active_sides(*p) < kStuckFaces) centre_ = *p;
  }
}

// A side "moves" when hit-and-run's directions change it: a box side of a coordinate that some
// direction moves, an inequality row not constant along every direction.
bool FeasibleRegion::coordinate_moves(Eigen::Index j) const { return null_.row(j).norm() > 1e-9; }

bool FeasibleRegion::row_moves(Eigen::Index r) const { return (g_.row(r) * null_).norm() > 1e-9 * std::max(g_.row(r).norm(), 1e-300); }

int FeasibleRegion::active_sides(const Eigen::VectorXd& y) const {
  int n = 0;
  for (Eigen::Index j = 0; j < y.size(); ++j)
    if (lo_[j] < hi_[j] && coordinate_moves(j)) n += (y[j] - lo_[j] <= kFeasibilitySlack) + (hi_[j] - y[j] <= kFeasibilitySlack);
  for (Eigen::Index r = 0; r < g_.rows(); ++r)
    if (row_moves(r)) n += h_[r] - g_.row(r).dot(y) <= kFeasibilitySlack;
  return n;
}

namespace {
// How far an inequality or box side must be able to move for the region to count as having room
// across it (pin_implicit_equalities, pin_consistently).
constexpr double kPinTest = 1e-4;
}  // namespace

std::pair<bool, bool> FeasibleRegion::can_leave_sides(Eigen::Index j, const std::vector<bool>& all) {
  const double low = lo_[j], high = hi_[j];
  lo_[j] = std::min(low + kPinTest, high);
  const bool can_leave_low = feasible_point(all, 0.0).has_value();
  lo_[j] = low;
  hi_[j] = std::max(high - kPinTest, low);
  const bool can_leave_high = feasible_point(all, 0.0).has_value();
  hi_[j] = high;
  return {can_leave_low, can_leave_high};
}

// Inequality rows and box sides that cannot move by kPinTest without leaving the region become
// equality rows (when independent of those already there; a dependent one is implied and
// dropped) or fixed coordinates. True when anything changed.
bool FeasibleRegion::pin_implicit_equalities(const std::vector<bool>& all) {
  bool changed = false;
  std::vector<Eigen::Index> keep;
  for (Eigen::Index r = 0; r < g_.rows(); ++r) {
    Eigen::VectorXd h = h_;
    h[r] -= kPinTest;
    if (feasible_point(all, 0.0, &h)) {
      keep.push_back(r);
      continue;
    }
    Eigen::MatrixXd grown(e_.rows() + 1, e_.cols());
    grown << e_, g_.row(r);
    auto rank = [](const Eigen::MatrixXd& m) {
      if (m.rows() == 0) return Eigen::Index{0};
      const Eigen::VectorXd sv = Eigen::JacobiSVD<Eigen::MatrixXd>(m).singularValues();
      Eigen::Index n = 0;
      for (Eigen::Index i = 0; i < sv.size(); ++i) n += sv[i] > 1e-10 * std::max(1.0, sv[0]);
      return n;
    };
    // A row the equalities already span stays an inequality: it is implied only up to its
    // right-hand side, and with x1 <= 0.6 and x2 <= 0.6 pinned, x1 + x2 >= 1.1999999 holds with
    // 1e-7 to spare while x1 + x2 >= 1.2000001 fails; as an equality it would fail both, and
    // dropped (as before) the second passed validation with no setting to propose.
    if (rank(grown) == rank(e_)) {
      keep.push_back(r);
      continue;
    }
    changed = true;
    e_ = grown;
    f_.conservativeResize(f_.size() + 1);
    f_[f_.size() - 1] = h_[r];
    e_source_.push_back(g_source_[static_cast<size_t>(r)]);
  }
  if (changed) {
    Eigen::MatrixXd g(static_cast<Eigen::Index>(keep.size()), g_.cols());
    Eigen::VectorXd h(static_cast<Eigen::Index>(keep.size()));
    std::vector<int> source;
    for (size_t i = 0; i < keep.size(); ++i)
      g.row(static_cast<Eigen::Index>(i)) = g_.row(keep[i]), h[static_cast<Eigen::Index>(i)] = h_[keep[i]], source.push_back(g_source_[static_cast<size_t>(keep[i])]);
    g_ = std::move(g), h_ = std::move(h), g_source_ = std::move(source);
  }
  for (Eigen::Index j = 0; j < lo_.size(); ++j) {
    if (!(lo_[j] < hi_[j])) continue;
    const double low = lo_[j], high = hi_[j];
    const auto [can_leave_low, can_leave_high] = can_leave_sides(j, all);
    if (!can_leave_low) hi_[j] = low, changed = true;
    else if (!can_leave_high) lo_[j] = high, changed = true;
  }
  return changed;
}

// The same tests as pin_implicit_equalities, but each pin is kept only when the set stays
// satisfiable with it (checked exactly, as infeasible_subset does), so a region thinner than
// kPinTest is made flat on one of its faces rather than on two that miss each other. Integer and
// discrete sides go first, so a thin whole-number range is held at its first or last value (a
// whole value) rather than at an inequality's bound (n <= 1.5 would hold n at 1.5, no whole value).
bool FeasibleRegion::pin_consistently(const std::vector<bool>& all, bool row_span) {
  bool changed = false;
  auto pin_side = [&](Eigen::Index j) {
    if (!(lo_[j] < hi_[j])) return;
    const double low = lo_[j], high = hi_[j];
    const auto [can_leave_low, can_leave_high] = can_leave_sides(j, all);
    if (!can_leave_low) {
      hi_[j] = low;
      if (satisfiable(all)) return void(changed = true);
      hi_[j] = high;
    }
    if (!can_leave_high) {
      lo_[j] = high;
      if (satisfiable(all)) return void(changed = true);
      lo_[j] = low;
    }
  };
  for (Eigen::Index j = 0; j < lo_.size(); ++j)
    if (integer_[static_cast<size_t>(j)]) pin_side(j);
  std::vector<Eigen::Index> keep;
  for (Eigen::Index r = 0; r < g_.rows(); ++r) {
    Eigen::VectorXd h = h_;
    h[r] -= kPinTest * (row_span ? g_.row(r).cwiseAbs().dot(hi_ - lo_) : 1.0);
    if (feasible_point(all, 0.0, &h)) {
      keep.push_back(r);
      continue;
    }
    Eigen::MatrixXd grown(e_.rows() + 1, e_.cols());
    grown << e_, g_.row(r);
    // A row the equalities already span stays an inequality (see pin_implicit_equalities).
    if (independent_rows(grown).size() == independent_rows(e_).size()) {
      keep.push_back(r);
      continue;
    }
    const Eigen::MatrixXd e = e_;
    const Eigen::VectorXd f = f_;
    e_ = grown;
    f_.conservativeResize(f_.size() + 1);
    f_[f_.size() - 1] = h_[r];
    e_source_.push_back(g_source_[static_cast<size_t>(r)]);
    if (satisfiable(all)) {
      changed = true;
      continue;
    }
    e_ = e, f_ = f;
    e_source_.pop_back();
    keep.push_back(r);
  }
  if (static_cast<Eigen::Index>(keep.size()) < g_.rows()) {
    Eigen::MatrixXd g(static_cast<Eigen::Index>(keep.size()), g_.cols());
    Eigen::VectorXd h(static_cast<Eigen::Index>(keep.size()));
    std::vector<int> source;
    for (size_t i = 0; i < keep.size(); ++i)
      g.row(static_cast<Eigen::Index>(i)) = g_.row(keep[i]), h[static_cast<Eigen::Index>(i)] = h_[keep[i]], source.push_back(g_source_[static_cast<size_t>(keep[i])]);
    g_ = std::move(g), h_ = std::move(h), g_source_ = std::move(source);
  }
  for (Eigen::Index j = 0; j < lo_.size(); ++j)
    if (!integer_[static_cast<size_t>(j)]) pin_side(j);
  return changed;
}

Eigen::VectorXd FeasibleRegion::reduce(const Eigen::VectorXd& x) const {
  Eigen::VectorXd y(static_cast<Eigen::Index>(coords_.size()));
  for (size_t j = 0; j < coords_.size(); ++j) y[static_cast<Eigen::Index>(j)] = x[coords_[j]];
  return y;
}

Eigen::VectorXd FeasibleRegion::expand(const Eigen::VectorXd& y, Eigen::VectorXd x) const {
  for (size_t j = 0; j < coords_.size(); ++j) x[coords_[j]] = y[static_cast<Eigen::Index>(j)];
  return x;
}

double FeasibleRegion::violation(const Eigen::VectorXd& y) const {
  if (empty()) return 0;
  double v = 0;
  if (g_.rows() > 0) v = std::max(v, (g_ * y - h_).maxCoeff());
  if (e_.rows() > 0) v = std::max(v, (e_ * y - f_).cwiseAbs().maxCoeff());
  v = std::max(v, (lo_ - y).maxCoeff());
  v = std::max(v, (y - hi_).maxCoeff());
  return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
}

// A point meeting the constraints in `use` with margin `margin` (inequalities and box), or none.
std::optional<Eigen::VectorXd> FeasibleRegion::feasible_point(const std::vector<bool>& use, double margin, const Eigen::VectorXd* bounds,
                                                              bool moving_sides_only) const {
  const auto k = static_cast<Eigen::Index>(coords_.size());
  Eigen::MatrixXd g = select_rows(g_, g_source_, use), e = select_rows(e_, e_source_, use);
  Eigen::VectorXd h = select_entries(bounds ? *bounds : h_, g_source_, use).array() - margin, f = select_entries(f_, e_source_, use);
  if (moving_sides_only) {
    Eigen::VectorXd shifted = bounds ? *bounds : h_;
    for (Eigen::Index r = 0; r < g_.rows(); ++r)
      if (row_moves(r)) shifted[r] -= margin;
    h = select_entries(shifted, g_source_, use);
  }
  std::vector<double> lower(static_cast<size_t>(k)), upper(static_cast<size_t>(k));
  for (Eigen::Index j = 0; j < k; ++j) {
    const bool fixed = !(lo_[j] < hi_[j]) || (moving_sides_only && !coordinate_moves(j));
    lower[static_cast<size_t>(j)] = fixed ? lo_[j] : lo_[j] + margin;
    upper[static_cast<size_t>(j)] = fixed ? hi_[j] : hi_[j] - margin;
    if (lower[static_cast<size_t>(j)] > upper[static_cast<size_t>(j)]) return std::nullopt;
  }
  Penalty data{&g, &h, &e, &f};
  std::vector<double> v(static_cast<size_t>(k));
  for (size_t j = 0; j < v.size(); ++j) v[j] = 0.5 * (lower[j] + upper[j]);
  std::vector<double> none;
  if (feasibility_penalty(v, none, &data) > 0) {
    nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(k));
    opt.set_lower_bounds(lower);
    opt.set_upper_bounds(upper);
    opt.set_min_objective(feasibility_penalty, &data);
    opt.set_stopval(1e-26);  // violations of 1e-13: well inside the tolerance
    opt.set_maxeval(3000);
    double value = 0;
    try {
      opt.optimize(v, value);
    } catch (const std::exception&) {
      // Rounding trouble near the minimum: v holds the best point so far, judged below.
    }
  }
  const Eigen::Map<Eigen::VectorXd> y(v.data(), k);
  double worst = 0;
  if (g.rows() > 0) worst = std::max(worst, (g * y - h).maxCoeff());
  if (e.rows() > 0) worst = std::max(worst, (e * y - f).cwiseAbs().maxCoeff());
  // L-BFGS ends ~1e-9 short of 0 on ill-conditioned sets: judged at 1e-6 of each constraint's
  // scale (a set infeasible by less is taken as feasible; project() then makes points exact).
  if (!(worst <= kFeasibilitySlack)) return std::nullopt;
  return Eigen::VectorXd(y);
}

std::vector<int> FeasibleRegion::infeasible_subset() const {
  std::vector<bool> use(static_cast<size_t>(constraints_), true);
  if (empty() || satisfiable(use)) return {};
  // Deletion filter: whatever stays is infeasible, and removing any one of it makes it feasible.
  for (size_t i = 0; i < use.size(); ++i) {
    use[i] = false;
    if (satisfiable(use)) use[i] = true;
  }
  std::vector<int> out;
  for (size_t i = 0; i < use.size(); ++i)
    if (use[i]) out.push_back(static_cast<int>(i));
  return out;
}

namespace {

struct Projection {
  const Eigen::VectorXd* target;
  const Eigen::MatrixXd* a;  // rows of the (in)equality constraints
  const Eigen::VectorXd* b;
};

double distance2(const std::vector<double>& v, std::vector<double>& grad, void* raw) {
  const auto* p = static_cast<const Projection*>(raw);
  const Eigen::Map<const Eigen::VectorXd> y(v.data(), static_cast<Eigen::Index>(v.size()));
  const Eigen::VectorXd d = y - *p->target;
  if (!grad.empty()) Eigen::Map<Eigen::VectorXd>(grad.data(), static_cast<Eigen::Index>(grad.size())) = 2.0 * d;
  return d.squaredNorm();
}

void linear_rows(unsigned m, double* result, unsigned n, const double* x, double* grad, void* raw) {
  const auto* p = static_cast<const Projection*>(raw);
  const Eigen::Map<const Eigen::VectorXd> y(x, n);
  Eigen::Map<Eigen::VectorXd>(result, m) = (*p->a) * y - *p->b;
  if (grad) Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(grad, m, n) = *p->a;
}

// min ‖u − target‖² over lower ≤ u ≤ upper, G u ≤ h, E u = f (E's rows independent), by SLSQP
// from `start`; the answer clamped to the box, to be judged by the caller.
Eigen::VectorXd nearest_point(const Eigen::VectorXd& target, std::vector<double> v, const std::vector<double>& lower,
                              const std::vector<double>& upper, const Eigen::MatrixXd& g, const Eigen::VectorXd& h,
                              const Eigen::MatrixXd& e, const Eigen::VectorXd& f) {
  const auto k = static_cast<Eigen::Index>(v.size());
  nlopt::opt opt(nlopt::LD_SLSQP, static_cast<unsigned>(k));
  opt.set_lower_bounds(lower);
  opt.set_upper_bounds(upper);
  Projection objective{&target, nullptr, nullptr};
  opt.set_min_objective(distance2, &objective);
  Projection ineq{&target, &g, &h}, eq{&target, &e, &f};
  if (g.rows() > 0) opt.add_inequality_mconstraint(linear_rows, &ineq, std::vector<double>(static_cast<size_t>(g.rows()), 1e-13));
  if (e.rows() > 0) opt.add_equality_mconstraint(linear_rows, &eq, std::vector<double>(static_cast<size_t>(e.rows()), 1e-13));
  opt.set_xtol_abs(1e-13);
  opt.set_maxeval(200);
  double value = 0;
  try {
    opt.optimize(v, value);
  } catch (const std::exception&) {
    // Judged by the caller, like any other answer.
  }
  Eigen::VectorXd out = Eigen::Map<Eigen::VectorXd>(v.data(), k);
  for (Eigen::Index j = 0; j < k; ++j) out[j] = std::clamp(out[j], lower[static_cast<size_t>(j)], upper[static_cast<size_t>(j)]);
  return out;
}

}  // namespace

std::optional<Eigen::VectorXd> FeasibleRegion::project(const Eigen::VectorXd& y, const std::vector<bool>& fixed) const {
  if (empty()) return y;
  const auto k = static_cast<Eigen::Index>(coords_.size());
  std::vector<double> lower(static_cast<size_t>(k)), upper(static_cast<size_t>(k)), v(static_cast<size_t>(k));
  for (Eigen::Index j = 0; j < k; ++j) {
    const auto s = static_cast<size_t>(j);
    const bool hold = !fixed.empty() && fixed[s];
    lower[s] = hold ? y[j] : lo_[j];
    upper[s] = hold ? y[j] : hi_[j];
    v[s] = std::clamp(y[j], lower[s], upper[s]);
  }
  {
    const Eigen::Map<Eigen::VectorXd> start(v.data(), k);
    if (violation(start) <= 0.1 * kConstraintTolerance) return Eigen::VectorXd(start);
  }
  // Nothing free to move (every coordinate an integer held at a whole value): the point is what it
  // is. SLSQP would spend its 200 evaluations finding that out, for each of a repair's 64 roundings
  // (64 integers in one equality took minutes per proposal).
  if (std::all_of(lower.begin(), lower.end(), [&, j = size_t{0}](double l) mutable { return l == upper[j++]; })) return std::nullopt;
  Eigen::VectorXd out = nearest_point(y, std::move(v), lower, upper, g_, h_, e_independent_, f_independent_);
  // SLSQP keeps active constraints to rounding error; pull equalities back exactly when it drifted.
  if (e_.rows() > 0 && fixed.empty() && (e_ * out - f_).cwiseAbs().maxCoeff() > 0.1 * kConstraintTolerance) out -= e_pinv_ * (e_ * out - f_);
  if (!out.allFinite() || violation(out) > 0.5 * kConstraintTolerance) return std::nullopt;
  return out;
}

// The feasibility solve accepts sets it meets to kFeasibilitySlack (it stops short of exact on
// ill-conditioned ones); an exact solve from its answer then tells such a set from one that
// misses by less than that but more than the tolerance every setting is checked against — bounds
// of 0.3333333 with x1 + x2 + x3 == 1, or x1 + x2 >= 25.000001 with x1 + x2 at most 25 — which
// would pass validation and then have no setting to propose.
bool FeasibleRegion::satisfiable(const std::vector<bool>& use) const {
  const auto y = feasible_point(use, 0.0);
  if (!y) return false;
  const Eigen::MatrixXd g = select_rows(g_, g_source_, use), all_e = select_rows(e_, e_source_, use);
  const Eigen::VectorXd h = select_entries(h_, g_source_, use), all_f = select_entries(f_, e_source_, use);
  auto misses = [&](const Eigen::VectorXd& u) {
    double v = std::max((lo_ - u).maxCoeff(), (u - hi_).maxCoeff());
    if (g.rows() > 0) v = std::max(v, (g * u - h).maxCoeff());
    if (all_e.rows() > 0) v = std::max(v, (all_e * u - all_f).cwiseAbs().maxCoeff());
    return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
  };
  if (misses(*y) <= 0.5 * kConstraintTolerance) return true;
  const std::vector<Eigen::Index> keep = independent_rows(all_e);
  Eigen::MatrixXd e(static_cast<Eigen::Index>(keep.size()), all_e.cols());
  Eigen::VectorXd f(static_cast<Eigen::Index>(keep.size()));
  for (size_t i = 0; i < keep.size(); ++i) e.row(static_cast<Eigen::Index>(i)) = all_e.row(keep[i]), f[static_cast<Eigen::Index>(i)] = all_f[keep[i]];
  const std::vector<double> lower(lo_.data(), lo_.data() + lo_.size()), upper(hi_.data(), hi_.data() + hi_.size());
  Eigen::VectorXd out = nearest_point(*y, std::vector<double>(y->data(), y->data() + y->size()), lower, upper, g, h, e, f);
  if (all_e.rows() > 0 && misses(out) > 0.1 * kConstraintTolerance)
    out -= all_e.completeOrthogonalDecomposition().pseudoInverse() * (all_e * out - all_f);
  return out.allFinite() && misses(out) <= 0.5 * kConstraintTolerance;
}

bool FeasibleRegion::directions_by_projection() const {
  const auto k = static_cast<Eigen::Index>(coords_.size());
  return k >= kProjectedDirectionsFrom && 3 * row_space_.cols() < k;
}

void FeasibleRegion::hit_and_run(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps,
                                 std::mt19937_64& rng) const {
  // A direction uniform in the null space: N z for z ~ N(0, I) in its basis N (k(k − r) flops), or
  // equally w − Q Qᵀ w for w ~ N(0, I_k) and Q the row space's basis (2kr flops) — the projection
  // of an isotropic Gaussian onto a subspace is isotropic there. The second is much cheaper with
  // many coordinates and few equalities (300 parameters in one mixture: 60 times fewer flops per
  // step); small spaces keep the first, and the random draws their journals were proposed from.
  walk(y, lo, hi, steps, rng, nullptr);
}

void FeasibleRegion::hit_and_run(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps, std::mt19937_64& rng,
                                 const Eigen::MatrixXd& directions) const {
  walk(y, lo, hi, steps, rng, directions.cols() > 0 ? &directions : nullptr);
}

void FeasibleRegion::walk(Eigen::VectorXd& y, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int steps, std::mt19937_64& rng,
                          const Eigen::MatrixXd* shaped) const {
  if (null_.cols() == 0) return;  // a single point
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const bool by_projection = directions_by_projection();
  Eigen::VectorXd z(by_projection ? y.size() : null_.cols()), w(shaped ? shaped->cols() : 0);
  for (int step = 0; step < steps; ++step) {
    Eigen::VectorXd d;
    if (shaped && step % 2 == 0) {
      for (Eigen::Index i = 0; i < w.size(); ++i) w[i] = normal(rng);
      d = *shaped * w;
    } else {
      for (Eigen::Index i = 0; i < z.size(); ++i) z[i] = normal(rng);
      d = by_projection ? Eigen::VectorXd(z - row_space_ * (row_space_.transpose() * z)) : Eigen::VectorXd(null_ * z);
    }
    double smin = -std::numeric_limits<double>::infinity(), smax = std::numeric_limits<double>::infinity();
    auto limit = [&](double slope, double room_up, double room_down) {
      // slope·s ≤ room_up and slope·s ≥ -room_down (rooms clamped at 0: a point a rounding error
      // outside must not turn the chord inside out).
      if (slope > 1e-14) smax = std::min(smax, std::max(room_up, 0.0) / slope), smin = std::max(smin, -std::max(room_down, 0.0) / slope);
      else if (slope < -1e-14) smin = std::max(smin, std::max(room_up, 0.0) / slope), smax = std::min(smax, -std::max(room_down, 0.0) / slope);
    };
    for (Eigen::Index j = 0; j < y.size(); ++j) limit(d[j], hi[j] - y[j], y[j] - lo[j]);
    if (g_.rows() > 0) {
      const Eigen::VectorXd gd = g_ * d, room = h_ - g_ * y;
      for (Eigen::Index i = 0; i < gd.size(); ++i) limit(gd[i], room[i], std::numeric_limits<double>::infinity());
    }
    if (!(smax > smin) || !std::isfinite(smin) || !std::isfinite(smax)) continue;
    y += (smin + (smax - smin) * uniform(rng)) * d;
    // Rounding drifts a point off E y = f by ~1e-16 a step: pull it back now and then.
    if (e_.rows() > 0 && step % 32 == 31) y -= e_pinv_ * (e_ * y - f_);
  }
  if (e_.rows() > 0) y -= e_pinv_ * (e_ * y - f_);
}

}  // namespace labloop
