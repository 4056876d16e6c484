#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <tuple>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/linear_constraints.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/sobol.hpp"

using namespace labloop;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

std::vector<Parameter> lc_parameters() {
  return {Parameter{.name = "x1", .low = 0, .high = 1},
          Parameter{.name = "x2", .low = 0, .high = 1},
          Parameter{.name = "x3", .low = 0, .high = 1},
          Parameter{.name = "temperature", .low = 20, .high = 120},
          Parameter{.name = "equiv", .low = 1, .high = 5},
          Parameter{.name = "flow-rate", .low = 0, .high = 2},
          Parameter{.name = "cycles", .type = ParameterType::integer, .low = 1, .high = 9},
          Parameter{.name = "conc", .low = 0.01, .high = 1, .log = true},
          Parameter{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}}};
}

LinearConstraint lc_parse(const std::string& text) {
  ConstraintParse r = parse_linear_constraint(text, lc_parameters());
  INFO(r.error);
  REQUIRE(r.constraint);
  return *r.constraint;
}

std::string lc_error(const std::string& text) {
  const ConstraintParse r = parse_linear_constraint(text, lc_parameters());
  return r.constraint ? "" : r.error;
}

double lc_coefficient(const LinearConstraint& c, const std::string& name) {
  for (const auto& [n, a] : c.terms)
    if (n == name) return a;
  return 0;
}

json lc_config(const json& constraints) {
  return json{{"name", "mix"},
              {"parameters", json::array({{{"name", "x1"}, {"type", "continuous"}, {"low", 0}, {"high", 1}},
                                          {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 1}},
                                          {{"name", "x3"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}})},
              {"constraints", constraints},
              {"objective", {{"name", "y"}}},
              {"planner", {{"kind", "random"}}},
              {"instruments", json::array({{{"name", "sim"}, {"simulator", "hartmann3"}}})},
              {"budget", {{"experiments", 10}}}};
}

std::string lc_config_error(const json& config) { return labloop::test::config_error(config, "c.json"); }

// n continuous components `prefix`0 … in [0, 1], and their sum as a constraint's text ("x0 + x1 + …").
std::pair<std::vector<Parameter>, std::string> mixture(int n, const std::string& prefix) {
  std::vector<Parameter> parameters;
  std::string sum;
  for (int i = 0; i < n; ++i) {
    parameters.push_back(Parameter{.name = prefix + std::to_string(i), .low = 0, .high = 1});
    sum += (i > 0 ? " + " : "") + prefix + std::to_string(i);
  }
  return {parameters, sum};
}

}  // namespace

TEST_CASE("Linear constraints: the parser reads sums of number*name terms with numbers on either side", "[constraints]") {
  const LinearConstraint mix = lc_parse("x1 + x2 + x3 == 1");
  CHECK(mix.relation == ConstraintRelation::equal);
  CHECK(mix.terms.size() == 3);
  CHECK(mix.rhs == 1);
  const LinearConstraint heat = lc_parse("temperature + 10*equiv <= 150");
  CHECK(heat.relation == ConstraintRelation::less_equal);
  CHECK(lc_coefficient(heat, "equiv") == 10);
  CHECK(heat.rhs == 150);
  const LinearConstraint ratio = lc_parse("0.5*x1 - x2 >= -2");
  CHECK(ratio.relation == ConstraintRelation::greater_equal);
  CHECK(lc_coefficient(ratio, "x1") == 0.5);
  CHECK(lc_coefficient(ratio, "x2") == -1);
  CHECK(ratio.rhs == -2);
  // Terms on both sides are collected to the left, numbers to the right; name*number and /number too.
  const LinearConstraint moved = lc_parse("x1*2 + 3 <= x2/4 - 1e-1 + 2*x1");
  CHECK(lc_coefficient(moved, "x1") == 0);  // 2 − 2: dropped
  CHECK(moved.terms.size() == 1);
  CHECK(lc_coefficient(moved, "x2") == -0.25);
  CHECK(moved.rhs == Approx(-3.1));
  // A name with '-' is one name; between two names '-' is a minus.
  CHECK(lc_coefficient(lc_parse("flow-rate - x1 <= 1"), "flow-rate") == 1);
  CHECK(lc_coefficient(lc_parse("x1-x2 >= 0"), "x2") == -1);
  CHECK(lc_parse("cycles + x1 <= 5").terms.size() == 2);  // integers are allowed
}

TEST_CASE("Linear constraints: the parser refuses each kind of mistake with a message saying what to do", "[constraints]") {
  CHECK_THAT(lc_error(""), Contains("is empty: write a linear constraint such as"));
  CHECK_THAT(lc_error("   "), Contains("is empty"));
  CHECK_THAT(lc_error("x1 + x2"), Contains("has no comparison: write <=, >= or =="));
  CHECK_THAT(lc_error("x1 + x2 = 1"), Contains("\"=\" at column 9 is not a comparison here: write \"==\" for equality"));
  CHECK_THAT(lc_error("x1 < 1"), Contains("strict \"<\" at column 4 is not supported: write \"<=\""));
  CHECK_THAT(lc_error("0 <= x1 <= 1"), Contains("has 2 comparisons; write one per constraint"));
  CHECK_THAT(lc_error("x1 + x4 <= 1"), Contains("unknown parameter \"x4\"; did you mean") && Contains("(parameters: x1, x2, x3, temperature"));
  CHECK_THAT(lc_error("temprature <= 100"), Contains("unknown parameter \"temprature\"; did you mean \"temperature\"?"));
  CHECK_THAT(lc_error("x1*x2 <= 1"), Contains("\"x1*x2\": constraints must be linear (a product of two parameters)"));
  CHECK_THAT(lc_error("x1^2 <= 1"), Contains("\"^\" at column 3: constraints must be linear (no powers)"));
  CHECK_THAT(lc_error("x1**2 <= 1"), Contains("constraints must be linear (no powers)"));
  CHECK_THAT(lc_error("x1/x2 <= 1"), Contains("\"x1/x2\": constraints must be linear (dividing by a parameter)"));
  CHECK_THAT(lc_error("x1/0 <= 1"), Contains("divides by zero"));
  CHECK_THAT(lc_error("solvent + x1 <= 1"), Contains("parameter \"solvent\" is categorical and cannot appear in a constraint"));
  CHECK_THAT(lc_error("conc + x1 <= 1"), Contains("parameter \"conc\" is log-scaled: a linear constraint on it is not linear in the "
                                                  "planner's coordinates"));
  CHECK_THAT(lc_error("x1 - x1 <= 1"), Contains("names no parameter once its terms are collected"));
  CHECK_THAT(lc_error("1 <= 2"), Contains("names no parameter"));
  CHECK_THAT(lc_error("2x1 <= 1"), Contains("write a product with \"*\", e.g. \"2*x1\""));
  CHECK_THAT(lc_error("(x1 + x2) <= 1"), Contains("parentheses (column 1) are not supported"));
  CHECK_THAT(lc_error("x1 + <= 1"), Contains("a side of \"x1 + <= 1\" is empty"));
  CHECK_THAT(lc_error("x1 <="), Contains("nothing after \"<=\""));
  CHECK_THAT(lc_error("x1 x2 <= 1"), Contains("\"x2\" at column 4: an operator (+, -, *) is missing before it"));
  CHECK_THAT(lc_error("x1 <= 1e999"), Contains("number \"1e999\" at column 7 is out of range"));
  CHECK_THAT(lc_error("0x10*x1 <= 5"), Contains("\"0x10\" at column 1: numbers are written in decimal, not hexadecimal"));  // strtod read 16
  CHECK_THAT(lc_error("x1 <= 1 # note"), Contains("unexpected character '#' at column 9"));
  CHECK_THAT(lc_error("x1 \u2264 1"), Contains("unexpected non-ASCII character at column 4: names and operators are ASCII (write <= for"));
  CHECK_THAT(lc_error("1e307*temperature <= 1"), Contains("its coefficients times the parameters' ranges overflow"));
  CHECK_THAT(lc_error("x1 <= " + std::string(1000, '1')), Contains("is 1006 characters long; at most 1000 are allowed"));
}

TEST_CASE("Linear constraints: the parser gives a constraint or a message for any text, never an exception", "[constraints][fuzz]") {
  const std::vector<std::string> pieces{"x1", "x2", "flow-rate", "cycles", "conc", "solvent", "2", "0.5", "1e-3", ".", "-", "+", "*", "/",
                                        "^", "<=", ">=", "==", "=", "<", "(", ")", " ", "e", "1e999", "x", "-rate", "\xE2\x89\xA4", "\t"};
  std::mt19937_64 gen(17);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int n = 1 + static_cast<int>(gen() % 9);
    for (int k = 0; k < n; ++k) text += pieces[gen() % pieces.size()] + (gen() % 2 ? " " : "");
    ConstraintParse r;
    REQUIRE_NOTHROW(r = parse_linear_constraint(text, lc_parameters()));
    INFO(text);
    CHECK(r.constraint.has_value() == r.error.empty());
    if (r.constraint) {
      ++parsed;
      CHECK(std::isfinite(r.constraint->rhs));
      CHECK_FALSE(r.constraint->terms.empty());
    }
  }
  CHECK(parsed > 10);  // most random texts are mistakes; some are constraints
}

TEST_CASE("Linear constraints: the config names a bad constraint by its JSON path and journals the constraints as written", "[constraints][config]") {
  CHECK(lc_config_error(lc_config({"x1 + x2 + x3 == 1", "x1 <= 0.5"})).empty());
  CHECK(lc_config_error(lc_config({"x1 + x2 == 1", "x1 * x2 <= 1"})) ==
        "c.json: /constraints/1: \"x1 * x2\": constraints must be linear (a product of two parameters)");
  CHECK_THAT(lc_config_error(lc_config(json::array({"x1 <= 1", 3}))), Contains("c.json: /constraints/1: "));
  CHECK_THAT(lc_config_error(lc_config("x1 <= 1")), Contains("c.json: /constraints: "));
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back("x1 <= 1");
  CHECK(lc_config_error(lc_config(many)) == "c.json: /constraints: has 65 constraints; at most 64 are allowed");

  const CampaignConfig c = parse_campaign_config(lc_config({"x1 + x2 + x3 == 1", "0.5*x1 - x2 >= -2"}).dump(), "c.json", labloop::sim::catalogue());
  REQUIRE(c.constraints.size() == 2);
  CHECK(c.to_json()["constraints"] == json({"x1 + x2 + x3 == 1", "0.5*x1 - x2 >= -2"}));
  CHECK(c.space().constrained());
  // Re-parsing the journaled form gives the same constraints (replay and resume rely on it).
  const CampaignConfig again = parse_campaign_config(c.to_json().dump(), "journal", labloop::sim::catalogue());
  CHECK(again.constraints.size() == 2);
  // Without constraints the journaled config has no such key (old journals re-encode unchanged).
  json plain = lc_config({});
  plain.erase("constraints");
  CHECK_FALSE(parse_campaign_config(plain.dump(), "c.json", labloop::sim::catalogue()).to_json().contains("constraints"));
}

TEST_CASE("Linear constraints: an unsatisfiable set is refused naming a minimal subset of the constraints", "[constraints][config]") {
  CHECK(lc_config_error(lc_config({"x1 >= 0.6", "x2 + x3 <= 1", "x1 <= 0.4"})) ==
        "c.json: /constraints: no setting within the parameters' bounds satisfies /constraints/0 (\"x1 >= 0.6\") and "
        "/constraints/2 (\"x1 <= 0.4\") together: relax or remove one of them");
  CHECK(lc_config_error(lc_config({"x1 <= 1", "x1 + x2 + x3 >= 3.5"})) ==
        "c.json: /constraints/1: no setting within the parameters' bounds satisfies /constraints/1 (\"x1 + x2 + x3 >= 3.5\"): "
        "widen the bounds or change the constraint");
  // Three constraints needed together; none of the pairs is unsatisfiable.
  CHECK_THAT(lc_config_error(lc_config({"x1 + x2 >= 1.5", "x2 + x3 >= 1.5", "x1 + x3 >= 1.5", "x1 + x2 + x3 <= 2"})),
             Contains("satisfies /constraints/0 (\"x1 + x2 >= 1.5\"), /constraints/1 (\"x2 + x3 >= 1.5\"), /constraints/2 (\"x1 + x3 >= 1.5\") "
                      "and /constraints/3 (\"x1 + x2 + x3 <= 2\") together"));
  // Integers: satisfiable when relaxed, but no whole number is.
  json ints = lc_config({"2*n == 3"});
  ints["parameters"].push_back({{"name", "n"}, {"type", "integer"}, {"low", 0}, {"high", 4}});
  ints["instruments"] = json::array({{{"name", "person"}, {"manual", true}}});
  CHECK_THAT(lc_config_error(ints), Contains("/constraints: no setting of whole numbers and levels that meets the constraints was found"));
  // Discrete levels: 0.3 lies between levels 0.25 and 0.5, which no level makes 2*d.
  json levels = lc_config({"2*d == 0.6"});
  levels["parameters"].push_back({{"name", "d"}, {"type", "discrete"}, {"values", {0, 0.25, 0.5}}});
  levels["instruments"] = json::array({{{"name", "person"}, {"manual", true}}});
  CHECK_THAT(lc_config_error(levels), Contains("/constraints: no setting of whole numbers and levels that meets the constraints was found: "
                                               "they may need fractional values of integer parameters or values between discrete levels"));
}

TEST_CASE("Linear constraints: a set missing by rounding is refused, one meeting by a hair is sampled", "[constraints][sampler]") {
  auto space_of = [](std::vector<Parameter> parameters, const std::vector<const char*>& texts) {
    std::vector<LinearConstraint> parsed;
    for (const char* t : texts) parsed.push_back(*parse_linear_constraint(t, parameters).constraint);
    return Space(std::move(parameters), parsed);
  };
  auto unit = [](double high) {
    return std::vector<Parameter>{Parameter{.name = "x1", .low = 0, .high = high}, Parameter{.name = "x2", .low = 0, .high = high},
                                  Parameter{.name = "x3", .low = 0, .high = high}};
  };
  // Misses by 1e-7: more than the 1e-9 every setting is checked against, less than the feasibility
  // solve's own slack (1e-6). Both passed validation and left the run nothing to propose.
  CHECK_THROWS_WITH(space_of(unit(0.3333333), {"x1 + x2 + x3 == 1"}), Contains("satisfies /constraints/0"));
  CHECK_THROWS_WITH(space_of(unit(1), {"x1 + x2 >= 1.2000001", "x1 <= 0.6", "x2 <= 0.6"}),
                    Contains("/constraints/0 (\"x1 + x2 >= 1.2000001\"), /constraints/1 (\"x1 <= 0.6\") and /constraints/2"));
  // Meeting them with 1e-7 to spare: accepted, and every sampled point meets them.
  for (const Space& space : {space_of(unit(0.3333333), {"x1 + x2 + x3 == 0.9999999"}),
                             space_of(unit(1), {"x1 + x2 >= 1.1999999", "x1 <= 0.6", "x2 <= 0.6"})}) {
    FeasibleSampler sampler(space);
    std::mt19937_64 rng(4);
    for (int i = 0; i < 20; ++i) REQUIRE(space.check(space.decode(sampler.next(rng))) == "");
  }
}

TEST_CASE("Linear constraints: Space::check refuses a setting that violates a constraint, within the stated tolerance", "[constraints][space]") {
  const Space space(lc_parameters(), {lc_parse("x1 + x2 + x3 == 1"), lc_parse("temperature + 10*equiv <= 150")});
  Params p = {{"x1", 0.2}, {"x2", 0.3}, {"x3", 0.5}, {"temperature", 100.0}, {"equiv", 5.0}, {"flow-rate", 1.0},
              {"cycles", 3}, {"conc", 0.1}, {"solvent", "THF"}};
  CHECK(space.check(p).empty());
  p["x3"] = 0.5 + 2e-9;  // scale 4: within 1e-9 × 4
  CHECK(space.check(p).empty());
  p["x3"] = 0.6;
  CHECK(space.check(p) == "violates constraint 0 \"x1 + x2 + x3 == 1\": its parameter terms sum to 1.1, which must be == 1");
  CHECK(space.check_bounds(p).empty());
  CHECK_NOTHROW(space.encode(p));  // coordinates exist outside the constraints (prior results)
  CHECK_FALSE(space.feasible(space.encode(p)));
  p["x3"] = 0.5;
  p["temperature"] = 110.0;
  CHECK_THAT(space.check(p), Contains("violates constraint 1 \"temperature + 10*equiv <= 150\": its parameter terms sum to 160"));
  // Repair: the nearest canonical point that meets them.
  const auto repaired = space.repair(space.encode(p));
  REQUIRE(repaired);
  CHECK(space.check(space.decode(*repaired)).empty());
}

TEST_CASE("Linear constraints: a value a rounding error from a one-parameter constraint's bound is decoded as the bound", "[constraints][space]") {
  const std::vector<Parameter> parameters{Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 20, .high = 120},
                                          Parameter{.name = "n", .type = ParameterType::integer, .low = 0, .high = 5}};
  auto parse = [&](const char* text) { return *parse_linear_constraint(text, parameters).constraint; };
  const Space space(parameters, {parse("a >= 0.2"), parse("2*b <= 130"), parse("a + n <= 4")});
  auto decoded = [&](double a, double b) {
    Eigen::VectorXd x = space.encode(Params{{"a", 0.5}, {"b", 50.0}, {"n", 1}});
    x[0] = a;
    x[1] = (b - 20) / 100;
    return space.decode(x);
  };
  // What a projection leaves (the red team saw 0.19999999999905 proposed for a >= 0.2).
  CHECK(decoded(0.19999999999905, 50)["a"].get<double>() == 0.2);
  CHECK(decoded(0.20000000000011, 50)["a"].get<double>() == 0.2);
  CHECK(decoded(0.5, 65.0000000000004)["b"].get<double>() == 65.0);
  // Beyond the tolerance (1e-9 of the constraint's scale) a value stays as it is.
  CHECK(decoded(0.2001, 50)["a"].get<double>() == 0.2001);
  CHECK(decoded(0.5, 64.9)["b"].get<double>() == Approx(64.9).epsilon(1e-12));
}

TEST_CASE("Linear constraints: a 10-component simplex yields 1000 feasible points that cover it", "[constraints][sampler]") {
  std::vector<Parameter> parameters;
  std::string sum;
  for (int i = 1; i <= 10; ++i) {
    parameters.push_back(Parameter{.name = "c" + std::to_string(i), .low = 0, .high = 1});
    sum += (i > 1 ? " + c" : "c") + std::to_string(i);
  }
  // Rounded as well: a simplex is already round in its plane, and shaped directions must not
  // make it less uniform.
  for (const ConstraintSampling sampling : {ConstraintSampling::isotropic, ConstraintSampling::rounded}) {
    INFO((sampling == ConstraintSampling::rounded ? "rounded" : "isotropic"));
    const Space space(parameters, {*parse_linear_constraint(sum + " == 1", parameters).constraint}, sampling);
    // An equality has measure zero in the box: a rejection sampler would never return one point,
    // so 1000 of them (about 0.02 s in Release; its speed is not asserted here) show it walks
    // inside the constraints.
    FeasibleSampler sampler(space);
    std::mt19937_64 rng(7);
    std::vector<Eigen::VectorXd> points;
    for (int i = 0; i < 1000; ++i) points.push_back(sampler.next(rng));
    Eigen::VectorXd top = Eigen::VectorXd::Zero(10);
    Eigen::VectorXd mean = Eigen::VectorXd::Zero(10);
    for (const auto& x : points) {
      REQUIRE(space.check(space.decode(x)).empty());
      top = top.cwiseMax(x);
      mean += x / 1000.0;
    }
    for (int i = 0; i < 10; ++i) {
      // Reaches towards every vertex: uniformly, P(cᵢ > 0.4) = 0.6⁹ ≈ 1 %, so about 10 of the 1000
      // points pass 0.4 for each component (0.5 would be passed by only 2, and by none 14 % of the time).
      CHECK(top[i] > 0.4);
      CHECK(mean[i] == Approx(0.1).margin(0.02));  // uniform on the simplex: each component's mean is 1/10
    }
  }
}

TEST_CASE("Linear constraints: rounded hit-and-run samples long thin regions uniformly along their length", "[constraints][sampler]") {
  // Isotropic hit-and-run crosses a thin region in chords about as short as its width, so it
  // creeps along the length: with x3 <= 0.0003 in a mixture, 40 random proposals all had x1 in
  // 0.50–0.63 (the centre's neighbourhood). Shaped directions cross it end to end. Each region is
  // parametrized by x1 and a thin coordinate; the share of it with x1 < t is computed exactly.
  const std::vector<Parameter> parameters{Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1},
                                          Parameter{.name = "x3", .low = 0, .high = 1}};
  auto parse = [&](const char* text) { return *parse_linear_constraint(text, parameters).constraint; };
  struct Thin {
    std::vector<LinearConstraint> constraints;
    std::function<double(double)> share_below;  // exact P(x1 < t), for t in [0.2, 0.8]
  };
  // x3 in [0, c] and x2 = 1 - x1 - x3 >= 0: area c - c²/2, of which t·c has x1 < t.
  constexpr double c = 0.0003;
  // x2 in [x1 - w, x1] ∩ [0, 1] (x3 free, unconstrained): area w²/2 + w(1 - w), of which
  // w²/2 + w(t - w) has x1 < t.
  constexpr double w = 0.001;
  const std::vector<Thin> regions{
      {{parse("x1 + x2 + x3 == 1"), parse("x3 <= 0.0003")}, [](double t) { return t * c / (c - c * c / 2); }},
      {{parse("x1 - x2 >= 0"), parse("x1 - x2 <= 0.001")}, [](double t) { return (w * w / 2 + w * (t - w)) / (w * w / 2 + w * (1 - w)); }}};
  for (size_t r = 0; r < regions.size(); ++r) {
    INFO("region " << r);
    const Space space(parameters, regions[r].constraints, ConstraintSampling::rounded);
    FeasibleSampler sampler(space);
    std::mt19937_64 rng(5);
    constexpr int kDraws = 400;
    std::vector<double> x1;
    for (int i = 0; i < kDraws; ++i) {
      const Params p = space.decode(sampler.next(rng));
      REQUIRE(space.check(p) == "");
      x1.push_back(p["x1"].get<double>());
    }
    for (double t : {0.2, 0.4, 0.6, 0.8}) {
      INFO("x1 < " << t);
      const double share = static_cast<double>(std::count_if(x1.begin(), x1.end(), [&](double v) { return v < t; })) / kDraws;
      // 0.1 is four standard deviations of the share among 400 independent uniform draws (at most
      // 0.025): consecutive draws of a chain are not quite independent, and stuck ones are far off.
      CHECK(share == Approx(regions[r].share_below(t)).margin(0.1));
    }
  }
}

TEST_CASE("Linear constraints: a wide integer a constraint holds to a few values is held, what is left still sampled across", "[constraints][sampler]") {
  // n + 10*x1 <= 10 with n in 0..10^7 (a duration in ms) leaves n 0..10, a sliver of its range,
  // and x1 anything in [0, 1] at n = 0. Judged against its scale (n's range), the constraint
  // looked as thin as n and was held as an equality besides n at 0: x1 was held at 1, and every
  // planner proposed (0, 1.0) every time. A rounded region holds n and leaves x1 its range.
  const std::vector<Parameter> parameters{Parameter{.name = "x1", .low = 0, .high = 1},
                                          Parameter{.name = "n", .type = ParameterType::integer, .low = 0, .high = 10000000}};
  const Space space(parameters, {*parse_linear_constraint("n + 10*x1 <= 10", parameters).constraint}, ConstraintSampling::rounded);
  FeasibleSampler sampler(space);
  std::mt19937_64 rng(5);
  std::set<double> distinct;
  double low = 1, high = 0;
  for (int i = 0; i < 40; ++i) {
    const Params p = space.decode(sampler.next(rng));
    REQUIRE(space.check(p) == "");
    const double x1 = p["x1"].get<double>();
    distinct.insert(x1);
    low = std::min(low, x1), high = std::max(high, x1);
  }
  CHECK(distinct.size() == 40);
  // x1 is uniform on [0, 1] there: 40 draws all above 0.2 (or all below 0.8) have a chance of
  // 0.8^40, about 1e-4.
  CHECK(low < 0.2);
  CHECK(high > 0.8);
}

TEST_CASE("Linear constraints: a 64-component simplex is walked inside with directions drawn by projection", "[constraints][sampler]") {
  // From 64 constrained coordinates on, hit-and-run projects a Gaussian onto the equalities' null
  // space instead of multiplying by its basis (the same distribution of directions). Uniformity
  // is not asserted: in 63 dimensions the walk mixes over thousands of steps, with either way of
  // drawing directions, too slowly for a unit test's time.
  std::vector<Parameter> parameters;
  std::string sum;
  for (int i = 1; i <= 64; ++i) {
    parameters.push_back(Parameter{.name = "c" + std::to_string(i), .low = 0, .high = 1});
    sum += (i > 1 ? " + c" : "c") + std::to_string(i);
  }
  const Space space(parameters, {*parse_linear_constraint(sum + " == 1", parameters).constraint});
  const FeasibleRegion& region = space.region();
  Eigen::VectorXd y = region.centre();
  std::mt19937_64 rng(8);
  Eigen::VectorXd top = Eigen::VectorXd::Zero(64);
  for (int i = 0; i < 20000; ++i) {
    region.hit_and_run(y, region.lower(), region.upper(), 1, rng);
    REQUIRE(region.contains(y));
    top = top.cwiseMax(y);
  }
  // Every component moves up from the centre's 1/64 (0.0156).
  CHECK(top.minCoeff() > 0.02);
}

TEST_CASE("Linear constraints: 64 integer parameters in one equality are sampled at whole values that meet it", "[constraints][sampler]") {
  // Every coordinate held at a whole value leaves a repair nothing to move: each rounding is
  // judged as it is (this design took minutes when each went through the optimizer).
  std::vector<Parameter> parameters;
  std::string sum;
  for (int i = 0; i < 64; ++i) {
    parameters.push_back(Parameter{.name = "n" + std::to_string(i), .type = ParameterType::integer, .low = 0, .high = 10});
    sum += (i > 0 ? " + 2*n" : "2*n") + std::to_string(i);
  }
  const Space space(parameters, {*parse_linear_constraint(sum + " == 640", parameters).constraint,
                                 *parse_linear_constraint("n0 + n1 <= 3", parameters).constraint});
  FeasibleSampler sampler(space);
  std::mt19937_64 rng(11);
  for (const Eigen::VectorXd& x : sampler.design(10, rng)) {
    const Params p = space.decode(x);
    REQUIRE(space.check(p).empty());
    long long total = 0;
    for (int i = 0; i < 64; ++i) total += 2 * p["n" + std::to_string(i)].get<long long>();
    CHECK(total == 640);
  }
}

TEST_CASE("Linear constraints: inequalities that pin a setting are sampled along what is left free", "[constraints][sampler]") {
  const std::vector<Parameter> parameters{Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1},
                                          Parameter{.name = "c", .low = 0, .high = 1}, Parameter{.name = "d", .low = 0, .high = 1}};
  auto parse = [&](const char* text) { return *parse_linear_constraint(text, parameters).constraint; };
  // a + b == 1 written as two inequalities; c + d >= 2 forces c = d = 1 (box sides).
  const Space space(parameters, {parse("a + b <= 1"), parse("a + b >= 1"), parse("c + d >= 2")});
  FeasibleSampler sampler(space);
  std::mt19937_64 rng(3);
  double low = 1, high = 0;
  for (int i = 0; i < 200; ++i) {
    const Eigen::VectorXd x = sampler.next(rng);
    REQUIRE(space.check(space.decode(x)) == "");
    low = std::min(low, x[0]), high = std::max(high, x[0]);
  }
  CHECK(high - low > 0.8);  // not stuck at the starting point
}

TEST_CASE("Linear constraints: a 12-component mixture with a thin cap and high floors is sampled across what is left", "[constraints][sampler]") {
  // x2 <= 0.00005 is pinned flat, and no margin fits beside x2's side at 0: the centre used to be
  // a corner (x0 = 0.99995 and the others 0; or x0 + x1 = 0.99995), from which hit-and-run found
  // almost no direction with room, and every draw (every planner's every proposal) was that
  // corner. The set left has room: x0 in [0.99, 0.99995], ten components sharing what it leaves.
  const auto made = mixture(12, "x");
  const std::vector<Parameter>& parameters = made.first;
  const std::string& sum = made.second;
  auto parse = [&](const std::string& text) { return *parse_linear_constraint(text, parameters).constraint; };
  for (const auto& [floors, room] : {std::pair{std::vector<std::string>{"x0 >= 0.99"}, 0.002}, std::pair{std::vector<std::string>{"x0 >= 0.5", "x1 >= 0.49"}, 0.002}}) {
    INFO(fmt::format("{}", fmt::join(floors, ", ")));
    std::vector<LinearConstraint> constraints{parse(sum + " == 1"), parse("x2 <= 0.00005")};
    for (const std::string& floor : floors) constraints.push_back(parse(floor));
    const Space space(parameters, constraints);
    FeasibleSampler sampler(space);
    std::mt19937_64 rng(1);
    std::set<std::vector<double>> distinct;
    double low = 1, high = 0;
    for (int i = 0; i < 40; ++i) {
      const Params p = space.decode(sampler.next(rng));
      REQUIRE(space.check(p) == "");
      std::vector<double> values;
      for (int j = 0; j < 12; ++j) values.push_back(std::round(p["x" + std::to_string(j)].get<double>() * 1e6));
      distinct.insert(values);
      low = std::min(low, p["x0"].get<double>()), high = std::max(high, p["x0"].get<double>());
    }
    CHECK(distinct.size() >= 35);
    CHECK(high - low > room);  // x0 moves over a good part of what it may
  }
}

TEST_CASE("Linear constraints: whole-number solutions too rare to draw are refused for a new campaign, kept for a journal", "[constraints][config]") {
  // 97*n1 - 89*n2 == 1 over 0..10000 has 103 whole solutions in 10^8 settings: parse_constraints'
  // one draw can meet one, and validate passed while the run stopped at its first draw that missed
  // 100 times in a row (sobol and bayesian before any experiment). A new campaign is refused now,
  // naming the constraint; a journal's config still parses (its campaign goes on as far as it can).
  labloop::test::TempDir dir;
  json file = lc_config(json::array({"97*n1 - 89*n2 == 1"}));
  file["instruments"] = json::array({{{"name", "m"}, {"manual", true}}});
  file["parameters"] = json::array({{{"name", "n1"}, {"type", "integer"}, {"low", 0}, {"high", 10000}},
                                    {{"name", "n2"}, {"type", "integer"}, {"low", 0}, {"high", 10000}}});
  const auto loaded = [&] {
    labloop::test::write_file(dir / "c.json", file.dump());
    return test::message_of([&] { load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()); });
  };
  CHECK_THAT(loaded(), Contains("/constraints/0") && Contains("97*n1 - 89*n2 == 1") && Contains("too rare for the planner to find"));
  CHECK(lc_config_error(file) == "");
  // Whole solutions plentiful enough are accepted: a line through the lattice every few steps.
  file["constraints"] = json::array({"n1 + n2 == 10000"});
  CHECK(loaded() == "");
  file["constraints"] = json::array({"3*n1 - 2*n2 == 1"});
  CHECK(loaded() == "");
}

TEST_CASE("Linear constraints: a new campaign samples its constraints rounded, a journal as it says or isotropic", "[constraints][config]") {
  // A journal written before "constraint_sampling" existed names none: it was proposed from
  // isotropic hit-and-run and must replay so (parse_campaign_config adopts nothing). A new
  // campaign file gets rounded unless it says, and its journal says so.
  labloop::test::TempDir dir;
  json file = lc_config(json::array({"x1 + x2 + x3 == 1", "x3 <= 0.0003"}));
  auto loaded = [&] {
    labloop::test::write_file(dir / "c.json", file.dump());
    return load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue());
  };
  auto journaled = [&](const json& config) { return parse_campaign_config(config.dump(), "journal", labloop::sim::catalogue()); };
  const CampaignConfig fresh = loaded();
  CHECK(fresh.space().sampling() == ConstraintSampling::rounded);
  CHECK(fresh.to_json().value("constraint_sampling", "") == "rounded");
  CHECK(journaled(fresh.to_json()).space().sampling() == ConstraintSampling::rounded);
  CHECK(journaled(file).space().sampling() == ConstraintSampling::isotropic);
  CHECK_FALSE(journaled(file).to_json().contains("constraint_sampling"));
  file["constraint_sampling"] = "isotropic";
  CHECK(loaded().space().sampling() == ConstraintSampling::isotropic);
  CHECK(loaded().to_json().value("constraint_sampling", "") == "isotropic");
  // Without constraints there is nothing to sample inside: the journal stays as it was.
  file.erase("constraint_sampling");
  file.erase("constraints");
  CHECK_FALSE(loaded().to_json().contains("constraint_sampling"));
  file["constraint_sampling"] = "round";
  CHECK_THAT(lc_config_error(file), Contains("/constraint_sampling: must be \"rounded\" or \"isotropic\", got \"round\"") &&
                                        Contains("did you mean \"rounded\"?"));
}

TEST_CASE("Linear constraints: the constrained initial design keeps to the time limit, counted in work, so replay repeats it", "[constraints][planner]") {
  // The design was a pool of max(10 n, 64) hit-and-run draws whatever their cost (300 parameters
  // with 64 long constraints: 38 s before the first proposal with time_limit_s 1). Its draws are
  // now bounded by time_limit_s in counted work, not by the clock, so a replay (which stretches the
  // limit) draws the same pool; a design that fits is drawn as before, without a note.
  const auto made = mixture(20, "c");
  const std::vector<Parameter>& parameters = made.first;
  const std::string& sum = made.second;
  const Space space(parameters, {*parse_linear_constraint(sum + " == 1", parameters).constraint});
  static const std::string source = "test.json";
  auto first_ask = [&](double time_limit_s, double stretch, std::string& note) {
    auto planner = make_planner(PlannerContext{space, 3, PlannerConfig{"bayesian", json{{"initial", 20}, {"time_limit_s", time_limit_s}}}, source});
    planner->stretch_time_limit(stretch);
    std::vector<Point> out = planner->ask(4, {});
    note = planner->take_note();
    return out;
  };
  std::string note, replayed_note, roomy_note;
  const std::vector<Point> cut = first_ask(0.0002, 1.0, note);
  CHECK_THAT(note, Contains("the initial design was chosen among") && Contains("instead of 200"));
  CHECK(note.find("time limit") == std::string::npos);  // not a clock-cut ask: replay compares it as any other
  const std::vector<Point> replayed = first_ask(0.0002, 10.0, replayed_note);
  REQUIRE(replayed.size() == cut.size());
  for (size_t i = 0; i < cut.size(); ++i) {
    REQUIRE(space.check(space.decode(cut[i])) == "");
    CHECK(replayed[i] == cut[i]);
  }
  first_ask(1, 1.0, roomy_note);
  CHECK(roomy_note.empty());
}

TEST_CASE("Linear constraints: no proposal of the random, sobol or bayesian planner violates random constraint sets", "[constraints][planner]") {
  std::mt19937_64 gen(2026);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int spaces = 0, proposals = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int trial = 0; trial < 150; ++trial) {
    // A random space: 2–8 parameters, continuous (some log-scaled), integer and categorical.
    const int n = 2 + static_cast<int>(gen() % 7);
    std::vector<Parameter> parameters;
    std::vector<int> eligible;  // may appear in constraints
    const bool simplex = trial % 3 == 0 && n >= 3;
    for (int i = 0; i < n; ++i) {
      Parameter p{.name = "p" + std::to_string(i)};
      const double kind = u(gen);
      if (simplex && i < 3) {
        p.low = 0, p.high = 1;  // the mixture components
      } else if (kind < 0.45) {
        p.low = std::round(-10 + 20 * u(gen));
        p.high = p.low + 0.5 + 10 * u(gen);
      } else if (kind < 0.7) {
        p.type = ParameterType::integer;
        p.low = std::round(-3 + 6 * u(gen));
        p.high = p.low + 1 + static_cast<double>(gen() % 6);
      } else if (kind < 0.85) {
        p.type = ParameterType::categorical;
        p.choices = {"a", "b", "c"};
      } else {
        p.low = 0.1, p.high = 10, p.log = true;
      }
      if (p.type != ParameterType::categorical && !p.log) eligible.push_back(i);
      parameters.push_back(p);
    }
    // A reference setting every constraint is built to contain (integers whole, the mixture on its simplex).
    std::vector<double> ref(static_cast<size_t>(n));
    double mix_total = 0;
    for (int i = 0; i < n; ++i) {
      const Parameter& p = parameters[static_cast<size_t>(i)];
      ref[static_cast<size_t>(i)] = p.type == ParameterType::integer ? p.low + static_cast<double>(gen() % static_cast<unsigned>(p.high - p.low + 1))
                                                                     : p.low + (p.high - p.low) * u(gen);
      if (simplex && i < 3) mix_total += ref[static_cast<size_t>(i)];
    }
    std::vector<std::string> texts;
    if (simplex) {
      for (int i = 0; i < 3; ++i) ref[static_cast<size_t>(i)] /= mix_total;
      texts.push_back("p0 + p1 + p2 == 1");
    }
    const int count = 1 + static_cast<int>(gen() % 4);
    for (int k = 0; k < count && !eligible.empty(); ++k) {
      std::string text;
      double value = 0;
      bool continuous_term = false;
      for (int i : eligible) {
        if (u(gen) < 0.5 && !text.empty()) continue;
        const bool is_integer = parameters[static_cast<size_t>(i)].type == ParameterType::integer;
        const double a = std::round((u(gen) * 4 - 2) * 100) / 100;
        if (a == 0) continue;
        text += fmt::format("{}{}*p{}", text.empty() ? "" : " + ", a, i);
        value += a * ref[static_cast<size_t>(i)];
        continuous_term = continuous_term || !is_integer;
      }
      if (text.empty()) continue;
      const double kind = u(gen);
      if (kind < 0.25 && continuous_term) {
        // An equality through the reference (a continuous term can absorb the integers' rounding).
        texts.push_back(fmt::format("{} == {:.17g}", text, value));
      } else if (kind < 0.6) {
        texts.push_back(fmt::format("{} <= {:.17g}", text, value + u(gen)));
      } else {
        texts.push_back(fmt::format("{} >= {:.17g}", text, value - u(gen)));
      }
    }
    if (texts.empty()) continue;
    std::vector<LinearConstraint> constraints;
    for (const auto& t : texts) {
      ConstraintParse r = parse_linear_constraint(t, parameters);
      INFO(t << ": " << r.error);
      REQUIRE(r.constraint);
      constraints.push_back(*r.constraint);
    }
    const Space space(parameters, constraints);
    ++spaces;
    for (const std::string kind : {"random", "sobol", "bayesian"}) {
      // The model is the slow part: every sixth space (every second mixture space).
      if (kind == "bayesian" && trial % 6 != 0) continue;
      INFO("trial " << trial << ", planner " << kind << ", constraints: " << fmt::format("{}", fmt::join(texts, "; ")));
      static const std::string source = "test.json";
      const PlannerConfig config{kind, kind == "bayesian" ? json{{"initial", 4}, {"candidates", 128}, {"local_starts", 2}} : json::object()};
      auto planner = make_planner(PlannerContext{space, static_cast<std::uint64_t>(trial), config, source});
      if (kind == "bayesian") {
        // A result from outside the constraints (prior_results may hold one): the search around
        // the best point must still stay inside.
        Point outside(space.cube_dim());
        for (Eigen::Index d = 0; d < outside.size(); ++d) outside[d] = u(gen);
        outside = space.canonical(outside);
        planner->tell(Observation::succeeded(outside, -1.0));
      }
      for (int round = 0; round < 6; ++round) {
        for (const Point& x : planner->ask(2, {})) {
          ++proposals;
          const Params params = space.decode(x);
          INFO(params.dump());
          REQUIRE(space.check(params) == "");
          REQUIRE(space.feasible(x));
          planner->tell(Observation::succeeded(space.canonical(x), (x.array() - 0.3).square().sum()));
        }
        // The Bayesian planner's last-resort replacement of an infeasible proposal is never needed.
        CHECK_THAT(planner->take_note(), !Contains("violated a constraint"));
      }
    }
  }
  WARN(spaces << " constrained spaces, " << proposals << " proposals checked in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s");
  CHECK(spaces >= 100);
}

TEST_CASE("Linear constraints: more equalities than parameters, consistent, still give feasible Bayesian proposals", "[constraints][planner]") {
  // Found by the property test above: four consistent equalities over two parameters (one point)
  // made SLSQP refuse the polish ("too many equality constraints") and the ask throw.
  const std::vector<Parameter> parameters{Parameter{.name = "a", .low = 0, .high = 10}, Parameter{.name = "b", .low = 0, .high = 10},
                                          Parameter{.name = "c", .low = 0, .high = 1}};
  auto parse = [&](const char* text) { return *parse_linear_constraint(text, parameters).constraint; };
  const Space space(parameters, {parse("a + b == 6"), parse("a - b == 2"), parse("2*a + 2*b == 12"), parse("3*a - b == 10")});
  REQUIRE(space.region().independent_equality_rows().rows() == 2);
  static const std::string source = "test.json";
  const PlannerConfig config{"bayesian", json{{"initial", 3}, {"candidates", 64}}};
  auto planner = make_planner(PlannerContext{space, 1, config, source});
  for (int i = 0; i < 6; ++i) {
    for (const Point& x : planner->ask(1, {})) {
      const Params p = space.decode(x);
      CHECK(space.check(p) == "");
      CHECK(p["a"].get<double>() == Approx(4.0));
      CHECK(p["b"].get<double>() == Approx(2.0));
      planner->tell(Observation::succeeded(space.canonical(x), std::pow(p["c"].get<double>() - 0.3, 2)));
    }
  }
}

TEST_CASE("Linear constraints: integers in an equality are kept whole and the equality exact", "[constraints][planner]") {
  const std::vector<Parameter> parameters{Parameter{.name = "a", .type = ParameterType::integer, .low = 0, .high = 10},
                                          Parameter{.name = "b", .type = ParameterType::integer, .low = 0, .high = 10},
                                          Parameter{.name = "x", .low = 0, .high = 1}};
  const Space space(parameters, {*parse_linear_constraint("a + b == 7", parameters).constraint,
                                 *parse_linear_constraint("a - 2*x >= 1", parameters).constraint});
  for (const std::string kind : {"random", "sobol", "bayesian"}) {
    INFO(kind);
    static const std::string source = "test.json";
    const PlannerConfig config{kind, kind == "bayesian" ? json{{"initial", 4}, {"candidates", 64}} : json::object()};
    auto planner = make_planner(PlannerContext{space, 5, config, source});
    std::set<long long> seen;
    for (int round = 0; round < 6; ++round)
      for (const Point& x : planner->ask(2, {})) {
        const Params p = space.decode(x);
        REQUIRE(space.check(p) == "");
        CHECK(p["a"].get<long long>() + p["b"].get<long long>() == 7);
        seen.insert(p["a"].get<long long>());
        planner->tell(Observation::succeeded(x, std::pow(p["a"].get<double>() - 4, 2) + p["x"].get<double>()));
      }
    CHECK(seen.size() >= 2);
  }
}

TEST_CASE("Linear constraints: sobol keeps its own points where they are feasible", "[constraints][planner]") {
  const std::vector<Parameter> parameters{Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1}};
  const Space space(parameters, {*parse_linear_constraint("a + b <= 1.5", parameters).constraint});
  static const std::string source = "test.json";
  const PlannerConfig config{"sobol", json::object()};
  auto planner = make_planner(PlannerContext{space, 9, config, source});
  SobolSequence sequence(2, 10);  // the planner's: seed + 1
  for (const Point& x : planner->ask(16, {})) {
    Point expected = sequence.next();
    while (expected.sum() > 1.5) expected = sequence.next();
    CHECK((x - expected).norm() < 1e-12);
  }
}

// Its speed is measured in bench/ (labloop-bench-speed), not asserted here: a loaded CI machine
// would make a timed check fail for nothing.
TEST_CASE("Linear constraints: a constrained Bayesian batch with default options meets every constraint", "[constraints][planner]") {
  const std::vector<Parameter> parameters{Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1},
                                          Parameter{.name = "x3", .low = 0, .high = 1}, Parameter{.name = "t", .low = 20, .high = 120},
                                          Parameter{.name = "n", .type = ParameterType::integer, .low = 1, .high = 8}};
  auto parse = [&](const char* text) { return *parse_linear_constraint(text, parameters).constraint; };
  const Space space(parameters, {parse("x1 + x2 + x3 == 1"), parse("t + 10*n <= 150"), parse("x1 <= 0.6")});
  static const std::string source = "test.json";
  const PlannerConfig config{"bayesian", json::object()};
  auto planner = make_planner(PlannerContext{space, 4, config, source});
  auto objective = [&](const Point& x) {
    const Params p = space.decode(x);
    return std::pow(p["x1"].get<double>() - 0.2, 2) + std::pow((p["t"].get<double>() - 70) / 100, 2) + 0.01 * p["n"].get<double>();
  };
  for (int i = 0; i < 20; ++i)
    for (const Point& x : planner->ask(1, {})) planner->tell(Observation::succeeded(x, objective(x)));
  const std::vector<Point> batch = planner->ask(2, {});
  REQUIRE(batch.size() == 2);
  for (const Point& x : batch) CHECK(space.check(space.decode(x)) == "");
}

TEST_CASE("Linear constraints: discrete levels in an equality stay levels and keep the equality exact", "[constraints][planner][discrete]") {
  // Unequally spaced levels; five pairs sum to one.
  const std::vector<Parameter> parameters{
      Parameter{.name = "a", .type = ParameterType::discrete, .low = 0, .high = 0.9, .values = {0, 0.1, 0.25, 0.6, 0.9}},
      Parameter{.name = "b", .type = ParameterType::discrete, .low = 0.1, .high = 1, .values = {0.1, 0.4, 0.75, 0.9, 1}},
      Parameter{.name = "x", .low = 0, .high = 1}};
  const Space space(parameters, {*parse_linear_constraint("a + b == 1", parameters).constraint,
                                 *parse_linear_constraint("a + x <= 1.2", parameters).constraint});
  const std::vector<double> levels_a{0, 0.1, 0.25, 0.6, 0.9};
  // Repair from a point whose snapped levels break the equality (a → 0.25, b → 0.9).
  Eigen::VectorXd off = space.encode({{"a", 0.25}, {"b", 0.9}, {"x", 0.5}});
  REQUIRE_FALSE(space.feasible(off));
  const auto repaired = space.repair(off);
  REQUIRE(repaired);
  CHECK(space.check(space.decode(*repaired)) == "");
  CHECK(space.canonical(*repaired).isApprox(*repaired));
  for (const std::string kind : {"random", "sobol", "bayesian"}) {
    INFO(kind);
    static const std::string source = "test.json";
    const PlannerConfig config{kind, kind == "bayesian" ? json{{"initial", 4}, {"candidates", 64}} : json::object()};
    auto planner = make_planner(PlannerContext{space, 5, config, source});
    std::set<double> seen;
    for (int round = 0; round < 5; ++round)
      for (const Point& x : planner->ask(2, {})) {
        const Params p = space.decode(x);
        INFO(p.dump());
        REQUIRE(space.check(p) == "");
        CHECK(std::find(levels_a.begin(), levels_a.end(), p["a"].get<double>()) != levels_a.end());
        CHECK(p["a"].get<double>() + p["b"].get<double>() == Approx(1.0).margin(1e-12));
        seen.insert(p["a"].get<double>());
        planner->tell(Observation::succeeded(x, std::pow(p["a"].get<double>() - 0.6, 2) + p["x"].get<double>()));
      }
    CHECK(seen.size() >= 2);
  }
}

TEST_CASE("Linear constraints: same_as matches a constraint written at another scale, order or sign, and nothing else", "[constraints]") {
  const LinearConstraint sum = lc_parse("x1 + x2 + x3 == 1");
  for (const char* same : {"x1 + x2 + x3 == 1", "100*x1 + 100*x2 + 100*x3 == 100", "x3 + x1 + x2 == 1", "-x1 - x2 - x3 == -1", "x1 + x2 == 1 - x3"}) {
    INFO(same);
    CHECK(lc_parse(same).same_as(sum));
    CHECK(sum.same_as(lc_parse(same)));
  }
  for (const char* other : {"x1 + x2 + x3 == 0.9", "x1 + x2 == 1", "x1 + x2 + x3 <= 1", "x1 + 2*x2 + x3 == 1", "x1 + x2 + temperature == 1"}) {
    INFO(other);
    CHECK_FALSE(lc_parse(other).same_as(sum));
  }
  // Inequalities: a positive factor keeps the comparison, a negative one turns it.
  const LinearConstraint cap = lc_parse("temperature + 10*equiv <= 150");
  CHECK(lc_parse("2*temperature + 20*equiv <= 300").same_as(cap));
  CHECK(lc_parse("-temperature - 10*equiv >= -150").same_as(cap));
  CHECK_FALSE(lc_parse("temperature + 10*equiv >= 150").same_as(cap));
  CHECK_FALSE(lc_parse("-temperature - 10*equiv <= -150").same_as(cap));
  CHECK_FALSE(lc_parse("temperature + 10*equiv == 150").same_as(cap));
}

namespace {

// A campaign file over `parameters` with `constraints`, run by a person (any parameter names).
json lc_thin_config(const json& parameters, const json& constraints) {
  json config = lc_config(constraints);
  config["parameters"] = parameters;
  config["instruments"] = json::array({{{"name", "person"}, {"manual", true}}});
  return config;
}

const json kThinBox = json::array({{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                   {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}});
const json kThinInteger = json::array({{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                       {{"name", "n"}, {"type", "integer"}, {"low", 1}, {"high", 100000}}});

Space lc_thin_space(const std::vector<Parameter>& parameters, const std::vector<std::string>& texts) {
  std::vector<LinearConstraint> parsed;
  for (const auto& t : texts) {
    ConstraintParse r = parse_linear_constraint(t, parameters);
    INFO(r.error);
    REQUIRE(r.constraint);
    parsed.push_back(*r.constraint);
  }
  return Space(parameters, parsed);
}

}  // namespace

// Regions thinner than the pin test (1e-4 of a constraint's scale) were pinned on two faces that
// miss each other: a feasible set refused, and refused or not depending on how thin it was.
TEST_CASE("Linear constraints: a feasible region of any width is accepted, and the cut-off is monotonic", "[constraints][config][thin]") {
  for (const char* text : {"x2 <= 0.000001", "x2 <= 0.0001", "x2 <= 0.001", "x2 <= 0.0015", "x2 <= 0.003", "x2 <= 0"}) {
    INFO(text);
    CHECK(lc_config_error(lc_thin_config(kThinBox, {text})) == "");
  }
  CHECK(lc_config_error(lc_thin_config(kThinBox, {"x2 >= 14.9999"})) == "");
  // x1 + x2 is at most 25: every bound up to 25 is feasible, every one above it is not.
  for (const char* bound : {"24.9", "24.99", "24.999", "24.9999", "24.99999", "24.999999", "24.9999999", "24.99999999", "25"}) {
    INFO(bound);
    CHECK(lc_config_error(lc_thin_config(kThinBox, {fmt::format("x1 + x2 >= {}", bound)})) == "");
  }
  for (const char* bound : {"25.000001", "25.0001", "25.01"}) {
    INFO(bound);
    CHECK_THAT(lc_config_error(lc_thin_config(kThinBox, {fmt::format("x1 + x2 >= {}", bound)})),
               Contains("no setting within the parameters' bounds satisfies /constraints/0"));
  }
  // Integers: accepted whenever some whole value meets the constraint.
  for (const char* text : {"n <= 1", "n <= 1.5", "n <= 2", "n <= 5", "n <= 20", "n >= 99998", "n >= 99999.5", "2*n <= 7"}) {
    INFO(text);
    CHECK(lc_config_error(lc_thin_config(kThinInteger, {text})) == "");
  }
  CHECK_THAT(lc_config_error(lc_thin_config(kThinInteger, {"n <= 0.9"})), Contains("satisfies /constraints/0"));
  // examples/mixture.json with a 50 ppm additive cap.
  const json mixture = json::array({{{"name", "x1"}, {"type", "continuous"}, {"low", 0}, {"high", 1}},
                                    {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 1}},
                                    {{"name", "x3"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}});
  CHECK(lc_config_error(lc_thin_config(mixture, {"x1 + x2 + x3 == 1", "x1 <= 0.6", "x3 <= 0.00005"})) == "");
  CHECK(lc_config_error(lc_thin_config(mixture, {"x1 + x2 + x3 == 1", "x1 <= 0.6", "x3 <= 0.0000001"})) == "");
}

TEST_CASE("Linear constraints: proposals in a thin region meet its constraints with the random, sobol and bayesian planners", "[constraints][planner][thin]") {
  const std::vector<Parameter> box{Parameter{.name = "x1", .low = -5, .high = 10}, Parameter{.name = "x2", .low = 0, .high = 15}};
  const std::vector<Parameter> with_integer{Parameter{.name = "x1", .low = -5, .high = 10},
                                            Parameter{.name = "n", .type = ParameterType::integer, .low = 1, .high = 100000}};
  const std::vector<Parameter> mixture{Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1},
                                       Parameter{.name = "x3", .low = 0, .high = 1}};
  struct Case {
    std::vector<Parameter> parameters;
    std::vector<std::string> constraints;
  };
  const std::vector<Case> cases{{box, {"x2 <= 0.001"}},
                                {box, {"x1 + x2 >= 24.999"}},
                                {box, {"x1 + x2 >= 24.9999999"}},
                                {with_integer, {"n <= 5"}},
                                {with_integer, {"n <= 1.5"}},
                                {with_integer, {"n >= 99998"}},
                                {with_integer, {"x1 + 0.001*n <= -4.999"}},
                                {mixture, {"x1 + x2 + x3 == 1", "x1 <= 0.6", "x3 <= 0.00005"}}};
  static const std::string source = "test.json";
  for (const Case& c : cases) {
    INFO(fmt::format("{}", fmt::join(c.constraints, ", ")));
    const Space space = lc_thin_space(c.parameters, c.constraints);
    for (const std::string kind : {"random", "sobol", "bayesian"}) {
      INFO(kind);
      const PlannerConfig config{kind, kind == "bayesian" ? json{{"initial", 3}, {"candidates", 64}, {"time_limit_s", 1}} : json::object()};
      auto planner = make_planner(PlannerContext{space, 7, config, source});
      for (int round = 0; round < 3; ++round)
        for (const Point& x : planner->ask(2, {})) {
          const Params p = space.decode(x);
          REQUIRE(space.check(p) == "");
          double y = std::pow(p["x1"].get<double>() - 0.3, 2);
          if (p.contains("x2")) y += p["x2"].get<double>();
          planner->tell(Observation::succeeded(x, y));
        }
    }
  }
  // A one-dimensional thin range is sampled across, not held at one face: n <= 5 over 1..100000
  // draws more than one of 1..5, x2 <= 0.001 more than one value.
  for (const auto& [parameters, text, name] : {std::tuple{with_integer, "n <= 5", "n"}, std::tuple{box, "x2 <= 0.001", "x2"}}) {
    INFO(text);
    const Space space = lc_thin_space(parameters, {text});
    FeasibleSampler sampler(space);
    std::mt19937_64 rng(11);
    std::set<double> seen;
    for (int i = 0; i < 50; ++i) {
      const Params p = space.decode(sampler.next(rng));
      REQUIRE(space.check(p) == "");
      seen.insert(p[name].get<double>());
    }
    CHECK(seen.size() >= 3);
  }
}
