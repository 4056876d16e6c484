#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "labloop/core/error.hpp"
#include "labloop/model/space.hpp"

using namespace labloop;

namespace {

Space mixed_space() {
  Parameter x{.name = "x1", .low = -5, .high = 10};
  Parameter rate{.name = "rate", .low = 0.01, .high = 10, .log = true, .unit = "mL/min"};
  Parameter cycles{.name = "cycles", .type = ParameterType::integer, .low = 1, .high = 8};
  Parameter big{.name = "big", .type = ParameterType::integer, .low = 1, .high = 1000, .log = true};
  Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF", "MeCN"}};
  return Space({x, rate, cycles, big, solvent});
}

}  // namespace

TEST_CASE("Space: the cube has one coordinate per number and one per categorical choice", "[space]") {
  const Space s = mixed_space();
  CHECK(s.size() == 5);
  CHECK(s.cube_dim() == 7);
  CHECK(s.offset(4) == 4);
}

TEST_CASE("Space: decode(encode(x)) == x for every parameter type", "[space]") {
  const Space s = mixed_space();
  const Params p = {{"x1", 2.5}, {"rate", 0.37}, {"cycles", 6}, {"big", 47}, {"solvent", "MeCN"}};
  const Params back = s.decode(s.encode(p));
  CHECK(back["x1"].get<double>() == Approx(2.5).epsilon(1e-12));
  CHECK(back["rate"].get<double>() == Approx(0.37).epsilon(1e-12));
  CHECK(back["cycles"].get<long long>() == 6);
  CHECK(back["big"].get<long long>() == 47);
  CHECK(back["solvent"] == "MeCN");
}

TEST_CASE("Space: log-scaled parameters are linear in log(value) in the cube", "[space]") {
  const Space s = mixed_space();
  Eigen::VectorXd x = s.encode({{"x1", 0}, {"rate", 1.0}, {"cycles", 1}, {"big", 1}, {"solvent", "THF"}});
  // 1 is a third of the way from 0.01 to 10 in log10 (−2 … 1).
  CHECK(x[1] == Approx(2.0 / 3.0).epsilon(1e-12));
  CHECK(x[0] == Approx(1.0 / 3.0).epsilon(1e-12));
}

TEST_CASE("Space: uniform cube points decode to each integer and choice with equal odds", "[space]") {
  const Space s = mixed_space();
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::map<long long, int> cycles;
  std::map<std::string, int> solvents;
  const int n = 24000;
  for (int i = 0; i < n; ++i) {
    Eigen::VectorXd x(s.cube_dim());
    for (int d = 0; d < x.size(); ++d) x[d] = u(rng);
    const Params p = s.decode(x);
    ++cycles[p["cycles"].get<long long>()];
    ++solvents[p["solvent"].get<std::string>()];
  }
  REQUIRE(cycles.size() == 8);
  for (auto [value, count] : cycles) CHECK(std::abs(count - n / 8) < n / 8 / 10);
  REQUIRE(solvents.size() == 3);
  for (auto [value, count] : solvents) CHECK(std::abs(count - n / 3) < n / 3 / 10);
}

TEST_CASE("Space: any cube point even outside the unit cube decodes inside the declared bounds", "[space][safety]") {
  const Space s = mixed_space();
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-3, 4);
  for (int i = 0; i < 5000; ++i) {
    Eigen::VectorXd x(s.cube_dim());
    for (int d = 0; d < x.size(); ++d) x[d] = u(rng);
    if (i % 10 == 0) x.setOnes();  // exact upper corner: exp(log(high)) may overshoot by an ulp
    const Params p = s.decode(x);
    INFO(p.dump());
    REQUIRE(s.check(p).empty());
  }
}

TEST_CASE("Space: decode rejects non-finite coordinates instead of sending garbage", "[space][safety]") {
  const Space s = mixed_space();
  Eigen::VectorXd x = Eigen::VectorXd::Constant(s.cube_dim(), 0.5);
  x[0] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(s.decode(x), labloop::PlannerError);
  CHECK_THROWS_AS(s.decode(Eigen::VectorXd::Zero(3)), labloop::PlannerError);
}

TEST_CASE("Space: check names the first parameter that is out of bounds or missing or unknown or mistyped", "[space][safety]") {
  const Space s = mixed_space();
  const Params ok = {{"x1", 10}, {"rate", 0.01}, {"cycles", 8}, {"big", 1000}, {"solvent", "THF"}};
  CHECK(s.check(ok).empty());
  auto with = [&](const char* key, nlohmann::json v) { Params p = ok; p[key] = v; return s.check(p); };
  CHECK(with("x1", 10.000001) == "x1 = 10.000001 is outside its bounds [-5, 10]");
  CHECK(with("cycles", 2.5) == "cycles = 2.5 is not an integer");
  CHECK(with("cycles", 0) == "cycles = 0 is outside its bounds [1, 8]");
  CHECK(with("solvent", "water") == "solvent = \"water\" is not one of the choices {THF, DMF, MeCN}");
  CHECK(with("rate", "fast") == "rate = \"fast\" is not a number");
  CHECK(with("extra", 1) == "unknown parameter 'extra'");
  Params missing = ok;
  missing.erase("big");
  CHECK(s.check(missing) == "parameter 'big' is missing");
  CHECK_THROWS_AS(s.encode(missing), labloop::PlannerError);
}

TEST_CASE("Space: canonical snaps a cube point to where the experiment really runs", "[space]") {
  const Space s = mixed_space();
  Eigen::VectorXd x(s.cube_dim());
  x << 0.3, 0.5, 0.51, 0.2, 0.1, 0.7, 0.4;
  const Eigen::VectorXd c = s.canonical(x);
  CHECK(c[0] == Approx(0.3));
  CHECK(c[2] == Approx((4 + 0.5) / 8));  // cycles: cell 4 of 8 → value 5
  CHECK(c.tail(3) == Eigen::Vector3d(0, 1, 0));
  CHECK(s.canonical(c).isApprox(c));
}

namespace {

// Concentrations run at a few unequally spaced levels (issue 18), and a log-spaced dilution series.
Parameter space_test_conc() { return Parameter{.name = "conc", .type = ParameterType::discrete, .values = {0.057, 0.1, 0.153, 0.5}}; }
Parameter space_test_dilution() {
  return Parameter{.name = "dilution", .type = ParameterType::discrete, .log = true, .values = {1, 10, 100, 1000}};
}

}  // namespace

TEST_CASE("Space: every discrete level survives encode then decode exactly, whole levels as JSON integers", "[space][discrete]") {
  const Space s({space_test_conc(), space_test_dilution()});
  REQUIRE(s.cube_dim() == 2);
  for (double c : {0.057, 0.1, 0.153, 0.5})
    for (double d : {1.0, 10.0, 100.0, 1000.0}) {
      const Params back = s.decode(s.encode({{"conc", c}, {"dilution", d}}));
      CHECK(back["conc"].get<double>() == c);  // the level itself, not a value near it
      CHECK(back["dilution"].is_number_integer());
      CHECK(back["dilution"].get<double>() == d);
    }
}

TEST_CASE("Space: a discrete coordinate is linear in the value between 1/(2n) and 1 - 1/(2n), so unequal spacing keeps its order and distances", "[space][discrete]") {
  const Space s({space_test_conc()});
  std::vector<double> u;
  for (double c : {0.057, 0.1, 0.153, 0.5}) u.push_back(s.encode({{"conc", c}})[0]);
  CHECK(u.front() == Approx(1.0 / 8).epsilon(1e-12));
  CHECK(u.back() == Approx(7.0 / 8).epsilon(1e-12));
  for (size_t k = 1; k < u.size(); ++k) CHECK(u[k] > u[k - 1]);
  CHECK((u[2] - u[1]) / (u[1] - u[0]) == Approx((0.153 - 0.1) / (0.1 - 0.057)).epsilon(1e-9));
  CHECK((u[3] - u[2]) / (u[1] - u[0]) == Approx((0.5 - 0.153) / (0.1 - 0.057)).epsilon(1e-9));
}

TEST_CASE("Space: log-scaled discrete levels are spaced by log(value)", "[space][discrete]") {
  const Space s({space_test_dilution()});
  // 1, 10, 100, 1000 are evenly spaced in log: the integer cell centres (k + 0.5)/4.
  for (int k = 0; k < 4; ++k) CHECK(s.encode({{"dilution", std::pow(10.0, k)}})[0] == Approx((k + 0.5) / 4).epsilon(1e-12));
  CHECK_THROWS_AS(Space({Parameter{.name = "d", .type = ParameterType::discrete, .log = true, .values = {0, 1, 2}}}), PlannerError);
}

TEST_CASE("Space: equally spaced discrete levels encode and decode exactly like an integer parameter", "[space][discrete]") {
  const Space as_levels({Parameter{.name = "n", .type = ParameterType::discrete, .values = {2, 3, 4, 5, 6, 7, 8}}});
  const Space as_integer({Parameter{.name = "n", .type = ParameterType::integer, .low = 2, .high = 8}});
  // Levels 0.5 apart behave the same way, cell for cell.
  const Space halves({Parameter{.name = "n", .type = ParameterType::discrete, .values = {1, 1.5, 2, 2.5, 3, 3.5, 4}}});
  for (int v = 2; v <= 8; ++v) {
    CHECK(as_levels.encode({{"n", v}})[0] == Approx(as_integer.encode({{"n", v}})[0]).margin(1e-15));
    CHECK(halves.encode({{"n", 1 + 0.5 * (v - 2)}})[0] == Approx(as_integer.encode({{"n", v}})[0]).margin(1e-15));
  }
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-0.2, 1.2);
  for (int i = 0; i < 5000; ++i) {
    const Eigen::VectorXd x = Eigen::VectorXd::Constant(1, u(rng));
    const long long want = as_integer.decode(x)["n"].get<long long>();
    CHECK(as_levels.decode(x)["n"].get<long long>() == want);
    CHECK(halves.decode(x)["n"].get<double>() == 1 + 0.5 * static_cast<double>(want - 2));
  }
}

TEST_CASE("Space: a point between discrete levels snaps to the nearest level in the cube, never outside the levels", "[space][discrete]") {
  const Space s({space_test_conc()});
  const std::vector<double> levels{0.057, 0.1, 0.153, 0.5};
  std::vector<double> u;
  for (double c : levels) u.push_back(s.encode({{"conc", c}})[0]);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> coordinate(-1.0, 2.0);
  for (int i = 0; i < 2000; ++i) {
    const double x = coordinate(rng);
    size_t nearest = 0;
    for (size_t k = 1; k < u.size(); ++k)
      if (std::fabs(std::clamp(x, 0.0, 1.0) - u[k]) < std::fabs(std::clamp(x, 0.0, 1.0) - u[nearest])) nearest = k;
    const Eigen::VectorXd point = Eigen::VectorXd::Constant(1, x);
    CHECK(s.decode(point)["conc"].get<double>() == levels[nearest]);
    CHECK(s.canonical(point)[0] == u[nearest]);
  }
  // Just either side of the midpoint between 0.153 and 0.5.
  const double mid = (u[2] + u[3]) / 2;
  CHECK(s.decode(Eigen::VectorXd::Constant(1, mid - 1e-9))["conc"].get<double>() == 0.153);
  CHECK(s.decode(Eigen::VectorXd::Constant(1, mid + 1e-9))["conc"].get<double>() == 0.5);
}

TEST_CASE("Space: check refuses a value that is no discrete level and names the levels but passes a level with a rounding error", "[space][discrete][safety]") {
  const Space s({space_test_conc()});
  CHECK(s.check({{"conc", 0.12}}) == "conc = 0.12 is not one of the levels {0.057, 0.1, 0.153, 0.5}");
  CHECK(s.check({{"conc", 0.6}}) == "conc = 0.6 is not one of the levels {0.057, 0.1, 0.153, 0.5}");
  CHECK(s.check({{"conc", "0.1"}}) == "conc = \"0.1\" is not a number");
  CHECK(s.check({{"conc", 0.1 + 1e-12}}).empty());
  CHECK(s.encode({{"conc", 0.1 + 1e-12}})[0] == s.encode({{"conc", 0.1}})[0]);
  CHECK_THROWS_AS(s.encode({{"conc", 0.11}}), PlannerError);
}

TEST_CASE("Space: discrete levels given in any order are sorted, with low and high the extreme levels", "[space][discrete]") {
  const Space s({Parameter{.name = "t", .type = ParameterType::discrete, .values = {80, 25, 60}}});
  const Parameter& t = s.parameters().front();
  CHECK(t.values == std::vector<double>{25, 60, 80});
  CHECK(t.low == 25);
  CHECK(t.high == 80);
  CHECK(t.describe_domain() == "t in {25, 60, 80}");
  CHECK(t.to_json() == nlohmann::json::parse(R"({"name": "t", "type": "discrete", "values": [25.0, 60.0, 80.0]})"));
  CHECK_THROWS_AS(Space({Parameter{.name = "t", .type = ParameterType::discrete, .values = {1, 2, 1}}}), PlannerError);
  CHECK_THROWS_AS(Space({Parameter{.name = "t", .type = ParameterType::discrete}}), PlannerError);
}
