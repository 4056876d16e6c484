#include <catch2/catch.hpp>

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
