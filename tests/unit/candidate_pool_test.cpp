// Candidate pools: the pool value, every planner keeping to it, and the candidates file's checks.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <sys/stat.h>

#include "labloop/campaign/candidates.hpp"
#include "labloop/campaign/file_digest.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/candidate_pool.hpp"
#include "labloop/model/planner.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

Space pool_space() {
  return Space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0.1, .high = 10, .log = true},
                Parameter{.name = "n", .type = ParameterType::integer, .low = 1, .high = 5},
                Parameter{.name = "c", .type = ParameterType::categorical, .choices = {"x", "y", "z"}}});
}

// n distinct rows of pool_space, as canonical cube points (fixed generator).
CandidatePool random_pool(const Space& space, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd rows(n, space.cube_dim());
  int filled = 0;
  while (filled < n) {
    Eigen::VectorXd x(space.cube_dim());
    for (Eigen::Index j = 0; j < x.size(); ++j) x[j] = u(rng);
    rows.row(filled++) = space.canonical(space.encode(space.decode(x))).transpose();
  }
  return CandidatePool(rows);
}

double pool_objective(const Space& space, const Point& x) {
  const Params p = space.decode(x);
  return std::pow(p["a"].get<double>() - 0.3, 2) + std::pow(std::log10(p["b"].get<double>()), 2) + 0.1 * p["n"].get<double>() +
         (p["c"] == "y" ? 0.0 : 0.5);
}

std::unique_ptr<Planner> pool_planner(const Space& space, const std::string& kind, const CandidatePool& pool, std::uint64_t seed,
                                      PlannerGoals goals = {}, json options = json::object()) {
  static const std::string source = "test.json";
  static std::vector<std::unique_ptr<PlannerConfig>> configs;  // outlive the planners
  configs.push_back(std::make_unique<PlannerConfig>(PlannerConfig{kind, std::move(options)}));
  PlannerContext context{space, seed, *configs.back(), source, goals};
  context.candidates = &pool;
  return make_planner(context);
}

// Every proposal is a row, none twice (told, failed or pending); returns the rows in order.
struct PoolRun {
  std::vector<Eigen::Index> rows;
};

PoolRun drive(const Space& space, const CandidatePool& pool, Planner& planner, int q, int rounds, bool several = false) {
  PoolRun run;
  std::set<Eigen::Index> seen;
  std::vector<Point> pending;
  int k = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::vector<Point> points = planner.ask(q, pending);
    const Eigen::Index open = pool.size() - static_cast<Eigen::Index>(seen.size());
    CHECK(static_cast<Eigen::Index>(points.size()) == std::min<Eigen::Index>(q, open));
    for (const Point& x : points) {
      const auto row = pool.find(x);
      REQUIRE(row);
      CHECK(seen.insert(*row).second);
      CHECK(space.check(space.decode(x)).empty());
      run.rows.push_back(*row);
    }
    // The older half of pending arrives (every third a failure); the rest stays pending.
    std::vector<Point> still;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (i % 2 == 1) {
        still.push_back(pending[i]);
        continue;
      }
      if (++k % 3 == 0) {
        planner.tell(Observation::failed(pending[i]));
      } else {
        Observation o = Observation::succeeded(pending[i], pool_objective(space, pending[i]));
        if (several) o.objectives = {o.objective, -o.objective * 0.5 + pending[i][0]};
        planner.tell(o);
      }
    }
    still.insert(still.end(), points.begin(), points.end());
    pending = std::move(still);
  }
  return run;
}

}  // namespace

TEST_CASE("CandidatePool: find matches rows within the tolerance, even across a grid cell boundary", "[pool]") {
  // The grid (cells of 1e-6) is shifted by 0.381966… of a cell, so that round values lie inside
  // cells; the fourth row sits on boundaries of the shifted grid.
  const double edge = (1 - 0.3819660112501051) * 1e-6, edge3 = (3 - 0.3819660112501051) * 1e-6;
  Eigen::MatrixXd rows(4, 2);
  rows << 0.1, 0.2, 0.5, 0.5, 1e-6, 3e-6, edge, edge3;
  const CandidatePool pool(rows);
  CHECK(pool.find(Eigen::Vector2d(0.1, 0.2)) == Eigen::Index{0});
  CHECK(pool.find(Eigen::Vector2d(0.5 + 5e-10, 0.5 - 5e-10)) == Eigen::Index{1});
  CHECK(pool.find(Eigen::Vector2d(1e-6 - 5e-10, 3e-6 + 5e-10)) == Eigen::Index{2});
  CHECK(pool.find(Eigen::Vector2d(1e-6 + 5e-10, 3e-6 - 5e-10)) == Eigen::Index{2});
  CHECK(pool.find(Eigen::Vector2d(edge - 5e-10, edge3 + 5e-10)) == Eigen::Index{3});
  CHECK(pool.find(Eigen::Vector2d(edge + 5e-10, edge3 - 5e-10)) == Eigen::Index{3});
  CHECK_FALSE(pool.find(Eigen::Vector2d(0.5 + 1e-8, 0.5)));
  CHECK_FALSE(pool.find(Eigen::Vector3d(0.1, 0.2, 0)));
  CHECK(pool.duplicates().empty());
  Eigen::MatrixXd twice(3, 2);
  twice << 0.1, 0.2, 0.3, 0.3, 0.1, 0.2 + 1e-12;
  const CandidatePool repeated(twice);
  REQUIRE(repeated.duplicates().size() == 1);
  CHECK(repeated.duplicates().front() == std::make_pair(Eigen::Index{0}, Eigen::Index{2}));
  CandidatePool marked(rows);
  marked.mark_used(Eigen::Vector2d(0.5, 0.5));
  const std::vector<Eigen::VectorXd> pending{Eigen::Vector2d(0.1, 0.2), Eigen::Vector2d(0.9, 0.9)};
  CHECK(marked.untested(pending) == std::vector<Eigen::Index>{2, 3});
}

TEST_CASE("Pool planners: every planner proposes only rows and never one twice (sequential, batches of 4, pending, failures)", "[pool][planner]") {
  const Space space = pool_space();
  const CandidatePool pool = random_pool(space, 30, 11);
  REQUIRE(pool.duplicates().empty());
  for (const std::string& kind : planner_kinds()) {
    for (int q : {1, 4}) {
      INFO(kind << " q=" << q);
      auto planner = pool_planner(space, kind, pool, 7, {}, kind == "bayesian" ? json{{"initial", 5}} : json::object());
      const PoolRun run = drive(space, pool, *planner, q, q == 1 ? 12 : 10);
      if (q == 4) CHECK(run.rows.size() == 30);  // the pool runs out: the last asks give fewer, then none
      CHECK(planner->ask(2, {}).size() <= 2);
    }
  }
}

TEST_CASE("Pool planners: the Bayesian planner keeps to the pool with several objectives and an outcome constraint", "[pool][planner][bayesian]") {
  const Space space = pool_space();
  const CandidatePool pool = random_pool(space, 24, 5);
  PlannerGoals goals;
  goals.objectives = 2;
  auto planner = pool_planner(space, "bayesian", pool, 3, goals, {{"initial", 4}});
  const PoolRun run = drive(space, pool, *planner, 4, 8, /*several=*/true);
  CHECK(run.rows.size() == 24);
  PlannerGoals constrained;
  constrained.outcome_constraints = 1;
  auto second = pool_planner(space, "bayesian", pool, 4, constrained, {{"initial", 4}});
  std::set<Eigen::Index> seen;
  for (int round = 0; round < 5; ++round)
    for (const Point& x : second->ask(2, {})) {
      const auto row = pool.find(x);
      REQUIRE(row);
      CHECK(seen.insert(*row).second);
      Observation o = Observation::succeeded(x, pool_objective(space, x));
      o.constraints = {x[0] - 0.5};
      second->tell(o);
    }
  CHECK(seen.size() == 10);
}

TEST_CASE("Pool planners: an exhausted pool gives no points and leaves the planner as it was", "[pool][planner]") {
  const Space space = pool_space();
  const CandidatePool pool = random_pool(space, 6, 2);
  for (const std::string& kind : planner_kinds()) {
    INFO(kind);
    auto planner = pool_planner(space, kind, pool, 1, {}, kind == "bayesian" ? json{{"initial", 2}} : json::object());
    std::vector<Point> all;
    for (int i = 0; i < 6; ++i)
      for (const Point& x : planner->ask(1, {})) {
        planner->tell(Observation::succeeded(x, pool_objective(space, x)));
        all.push_back(x);
      }
    CHECK(all.size() == 6);
    CHECK(planner->ask(3, {}).empty());
  }
}

TEST_CASE("Pool planners: the Bayesian planner finds the best row of a smooth function sooner than random (median of 5 seeds)", "[pool][planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  // 400 rows on a jittered grid; the function's minimum is near (0.7, 0.25).
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> jitter(-0.01, 0.01);
  Eigen::MatrixXd rows(400, 2);
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 20; ++j) rows.row(i * 20 + j) << std::clamp((i + 0.5) / 20 + jitter(rng), 0.0, 1.0), std::clamp((j + 0.5) / 20 + jitter(rng), 0.0, 1.0);
  const CandidatePool pool(rows);
  auto f = [](const Point& x) { return std::pow(x[0] - 0.7, 2) + 2 * std::pow(x[1] - 0.25, 2) + 0.1 * std::sin(5 * x[0]); };
  Eigen::Index best_row = 0;
  for (Eigen::Index i = 1; i < pool.size(); ++i)
    if (f(pool.row(i)) < f(pool.row(best_row))) best_row = i;
  auto experiments_to_best = [&](const std::string& kind, std::uint64_t seed) {
    auto planner = pool_planner(space, kind, pool, seed, {}, kind == "bayesian" ? json{{"initial", 6}} : json::object());
    constexpr int kBudget = 60;
    for (int n = 1; n <= kBudget; ++n) {
      const Point x = planner->ask(1, {}).front();
      if (pool.find(x) == best_row) return n;
      planner->tell(Observation::succeeded(x, f(x)));
    }
    return kBudget + 1;
  };
  std::vector<int> bayes, random;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    bayes.push_back(experiments_to_best("bayesian", seed));
    random.push_back(experiments_to_best("random", seed));
  }
  std::sort(bayes.begin(), bayes.end());
  std::sort(random.begin(), random.end());
  INFO("bayesian " << bayes[2] << ", random " << random[2]);
  CHECK(bayes[2] <= 40);          // random needs ~200 on average for 1 row in 400
  CHECK(bayes[2] < random[2]);
}

TEST_CASE("Pool planners: without a pool every planner proposes what it did before (the context's default)", "[pool][planner]") {
  const Space space = pool_space();
  static const std::string source = "test.json";
  for (const std::string& kind : planner_kinds()) {
    const PlannerConfig config{kind, json::object()};
    auto a = make_planner(PlannerContext{space, 9, config, source});
    PlannerContext with_null{space, 9, config, source};
    with_null.candidates = nullptr;
    auto b = make_planner(with_null);
    const auto pa = a->ask(3, {}), pb = b->ask(3, {});
    REQUIRE(pa.size() == 3);
    for (size_t i = 0; i < 3; ++i) CHECK(pa[i] == pb[i]);
  }
}

// ---- the candidates file ----------------------------------------------------------------------

namespace {

json pool_config(const std::string& csv) {
  return json{{"name", "p"},
              {"parameters", {{{"name", "temp"}, {"type", "continuous"}, {"low", 20}, {"high", 120}},
                              {{"name", "cycles"}, {"type", "integer"}, {"low", 1}, {"high", 8}},
                              {{"name", "smiles"}, {"type", "categorical"}, {"choices", {"CCO", "C(C)O,N", "c1ccccc1"}}}}},
              {"constraints", {"temp + 10*cycles <= 150"}},
              {"objective", {{"name", "y"}}},
              {"planner", {{"kind", "random"}}},
              {"instruments", {{{"name", "sim"}, {"endpoint", "tcp://127.0.0.1:5555"}}}},
              {"budget", {{"experiments", 5}}},
              {"candidates", csv}};
}

// The ConfigError read_candidates gives for `csv_text` ("" when it reads).
std::string candidates_error(const test::TempDir& dir, const std::string& csv_text) {
  test::write_file(dir / "plate.csv", csv_text);
  const CampaignConfig config = parse_campaign_config(pool_config((dir / "plate.csv").string()).dump(), "c.json", labloop::sim::catalogue());
  try {
    read_candidates(config);
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("Candidates file: a good file reads, quoted values with commas included, in any column order", "[pool][config]") {
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "smiles,temp [C],cycles\nCCO,30,2\n\"C(C)O,N\",40.5,1\nc1ccccc1,20,3\n");
  const CampaignConfig config = parse_campaign_config(pool_config((dir / "plate.csv").string()).dump(), "c.json", labloop::sim::catalogue());
  CHECK(config.candidates == (dir / "plate.csv").string());
  CHECK(config.to_json()["candidates"] == config.candidates);
  const CandidateFile file = read_candidates(config);
  REQUIRE(file.pool.size() == 3);
  CHECK(file.row_params(1)["smiles"] == "C(C)O,N");
  CHECK(file.row_params(1)["temp"] == 40.5);
  CHECK(file.row_params(2)["cycles"] == 3);
  CHECK(file.lines == std::vector<std::size_t>{2, 3, 4});
  CHECK(file.sha256.size() == 64);
  CHECK(file.to_json()["rows"] == 3);
  const Space space = config.space();
  for (Eigen::Index i = 0; i < 3; ++i) CHECK(file.pool.find(space.encode(file.row_params(i))) == i);
}

TEST_CASE("Candidates file: a discrete level written with a rounding error is sent as the declared level, another value is refused", "[pool][config][discrete]") {
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "conc,temp\n0.1000000001,90.00000001\n0.057,90\n");
  json c = pool_config((dir / "plate.csv").string());
  c["parameters"] = json::parse(R"([{"name": "conc", "type": "discrete", "values": [0.057, 0.1, 0.153]},
                                    {"name": "temp", "type": "discrete", "values": [90, 105, 120]}])");
  c.erase("constraints");
  const CampaignConfig config = parse_campaign_config(c.dump(), "c.json", labloop::sim::catalogue());
  const CandidateFile file = read_candidates(config);
  REQUIRE(file.pool.size() == 2);
  CHECK(file.row_params(0)["conc"].get<double>() == 0.1);
  CHECK(file.row_params(0)["temp"].get<double>() == 90.0);
  test::write_file(dir / "plate.csv", "conc,temp\n0.11,90\n");
  CHECK_THROWS_AS(read_candidates(config), ConfigError);
}

TEST_CASE("Candidates file: each mistake is a ConfigError at /candidates naming the file, the lines and the fix", "[pool][config]") {
  test::TempDir dir;
  CHECK_THAT(test::config_error(pool_config("")), Catch::Contains("c.json: /candidates: must not be empty"));
  json not_text = pool_config("plate.csv");
  not_text["candidates"] = 3;
  CHECK_THAT(test::config_error(not_text), Catch::Contains("c.json: /candidates"));
  CHECK(candidates_error(dir, "temp,cycles,smiles\n30,2,CCO\n").empty());
  CHECK_THAT(candidates_error(dir, "temp,cycles\n30,2\n"), Catch::Contains("/candidates") && Catch::Contains("no column for smiles"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles,well\n30,2,CCO,A1\n"),
             Catch::Contains("column \"well\" that names no parameter") && Catch::Contains("declare it as a parameter"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles,\n30,2,CCO,\n"), Catch::Contains("column \"\" (column 4, empty) that names no parameter"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles,temp\n30,2,CCO,30\n"), Catch::Contains("\"temp\" appears more than once"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n"), Catch::Contains("no rows"));
  // A unit in a header, where the parameter declares none, is taken as the parameter's.
  CHECK(candidates_error(dir, "temp [C],cycles,smiles\n30,2,CCO\n").empty());
  CHECK_THAT(candidates_error(dir, ""), Catch::Contains("empty file"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,CCO\n130,1,CCO\n30,2.5,CCO\n30,2,CCN\n100,7,CCO\nabc,1,CCO\n"),
             Catch::Contains("5 rows are outside the campaign's space") && Catch::Contains("line 3: ") && Catch::Contains("line 4: ") &&
                 Catch::Contains("line 5: ") && Catch::Contains("line 6: violates constraint 0") && Catch::Contains("line 7: temp \"abc\" is not a number"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,CCO\n40,2,CCO\n30.0,2,CCO\n"),
             Catch::Contains("line 4 repeats line 2") && Catch::Contains("remove the repeats"));
  // Values closer than a billionth of the range (temp's is 100) are one setting, and the message says so.
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,CCO\n30.00000001,2,CCO\n"),
             Catch::Contains("line 3 repeats line 2") && Catch::Contains("equal to within a billionth of its parameter's range"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,\"CCO\n"), Catch::Contains("quoted field is not closed"));
  // "1"2 was read as 12: text after a closing quote is refused, blanks before the comma are not.
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,\"1\"2,CCO\n"),
             Catch::Contains("line 2, field 2: text after its closing quote (2,CCO…)"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,\"CCO\" ,\n"), Catch::Contains("has 4 fields"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2,CCO," + std::string(5, 'x') + "\n"), Catch::Contains("has 4 fields"));
  CHECK_THAT(candidates_error(dir, "temp,cycles,smiles\n30,2," + std::string(kMaxCandidateField + 1, 'C') + "\n"), Catch::Contains("at most 1000"));
  const CampaignConfig config = parse_campaign_config(pool_config((dir / "missing.csv").string()).dump(), "c.json", labloop::sim::catalogue());
  CHECK_THROWS_WITH(read_candidates(config), Catch::Contains("c.json: /candidates:") && Catch::Contains("cannot read"));
  // A device is refused before a byte is read (/dev/zero was read for ever), and so is a folder.
  for (const std::string& odd : {std::string("/dev/zero"), dir.path().string()}) {
    const CampaignConfig device = parse_campaign_config(pool_config(odd).dump(), "c.json", labloop::sim::catalogue());
    CHECK_THROWS_WITH(read_candidates(device), "c.json: /candidates: " + odd + " is not a regular file (a folder, a device or a pipe); name the CSV file itself");
  }
}

TEST_CASE("Candidates file: more coordinates than a pool may hold are refused before the memory is taken, naming the numbers", "[pool][config]") {
  // 100,000 rows of a 5000-choice categorical needed 8 GB, and the failure said only "out of memory".
  test::TempDir dir;
  json file = pool_config((dir / "plate.csv").string());
  json choices = json::array();
  for (int c = 0; c < 5000; ++c) choices.push_back(fmt::format("c{}", c));
  file["parameters"] = {{{"name", "reagent"}, {"type", "categorical"}, {"choices", choices}}};
  file.erase("constraints");
  std::string csv = "reagent\n";
  for (int r = 0; r < 20001; ++r) csv += fmt::format("c{}\n", r % 5000);  // repeated rows are refused later: the size first
  test::write_file(dir / "plate.csv", csv);
  const CampaignConfig config = parse_campaign_config(file.dump(), "c.json", labloop::sim::catalogue());
  CHECK_THROWS_WITH(read_candidates(config), "c.json: /candidates: " + (dir / "plate.csv").string() +
                                                 ": 20001 rows of 5000 coordinates each (the planner's: one per numeric parameter, one per "
                                                 "choice of a categorical one) are 100005000 numbers, more than the 100000000 a pool may hold "
                                                 "(each 8 bytes, held more than once); use fewer rows, or fewer choices per categorical parameter");
}

TEST_CASE("Candidates file: a column in another unit than its parameter declares is refused, naming both units", "[pool][config][units]") {
  // 86 °F read as 86 °C: a setting nobody chose, sent to the instrument.
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp [F],cycles,smiles\n86,2,CCO\n");
  json file = pool_config((dir / "plate.csv").string());
  file["parameters"][0]["unit"] = "C";
  const CampaignConfig config = parse_campaign_config(file.dump(), "c.json", labloop::sim::catalogue());
  CHECK_THROWS_WITH(read_candidates(config), "c.json: /candidates: " + (dir / "plate.csv").string() +
                                                 ": column 1 (\"temp [F]\") gives temp in F, but the campaign declares it in C; convert the "
                                                 "values to C and head the column \"temp [C]\" (or \"temp\")");
  for (const std::string header : {"temp [C]", "temp"}) {
    test::write_file(dir / "plate.csv", header + ",cycles,smiles\n30,2,CCO\n");
    CHECK(read_candidates(config).lines.size() == 1);
  }
}

TEST_CASE("Candidates file: a choice as results.csv writes it ('-1 for a choice that starts like a formula) reads as that choice", "[pool][config]") {
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp,cycles,smiles\n30,2,'-1\n30,2,CCO\n");
  json file = pool_config((dir / "plate.csv").string());
  file["parameters"][2]["choices"].push_back("-1");
  const CampaignConfig config = parse_campaign_config(file.dump(), "c.json", labloop::sim::catalogue());
  const CandidateFile table = read_candidates(config);
  REQUIRE(table.lines.size() == 2);
  CHECK(table.values[2] == 3);  // the fourth choice, "-1"
  CHECK(table.values[5] == 0);  // "CCO"
}

// Above 100,000 untried rows the Bayesian planner scores a random 100,000 of them plus the 64
// nearest its acquisition's optimum (bayesian.cpp): it still proposes only untried rows, never one
// twice, and still closes in on the best region.
TEST_CASE("Pool planners: a pool of 120,000 rows takes the sampled path and still keeps to the pool and finds the optimum region", "[pool][planner][bayesian]") {
  const Space space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1}});
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd rows(120000, 2);
  for (Eigen::Index i = 0; i < rows.rows(); ++i) rows.row(i) = space.canonical(Eigen::Vector2d(u(rng), u(rng))).transpose();
  const CandidatePool pool(rows);
  REQUIRE(pool.duplicates().empty());
  auto planner = pool_planner(space, "bayesian", pool, 5, {}, json{{"initial", 5}});
  const auto f = [](const Point& x) { return std::pow(x[0] - 0.31, 2) + std::pow(x[1] - 0.72, 2); };
  std::set<Eigen::Index> seen;
  double best = 1e9;
  for (int round = 0; round < 8; ++round) {
    const std::vector<Point> points = planner->ask(round < 2 ? 3 : 1, {});
    REQUIRE_FALSE(points.empty());
    for (const Point& x : points) {
      const auto row = pool.find(x);
      REQUIRE(row);
      CHECK(seen.insert(*row).second);
      best = std::min(best, f(x));
      planner->tell(Observation::succeeded(x, f(x)));
    }
  }
  // 12 experiments: random rows reach 0.01 (within 0.1 of the optimum) with odds about 1 - (1 - π·0.01)^12 ≈ 0.32.
  CHECK(best < 0.01);
}

TEST_CASE("A new pool campaign's (or finite space's) bayesian planner gets β = 12 in its journaled options, an older journal keeps what it ran", "[pool][config]") {
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  auto loaded = [&](json planner, bool pool = true) {
    json c = pool_config((dir / "plate.csv").string());
    c["planner"] = std::move(planner);
    if (!pool) c.erase("candidates");
    test::write_file(dir / "c.json", c.dump());
    return load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue());
  };
  const CampaignConfig fresh = loaded({{"kind", "bayesian"}});
  CHECK(fresh.planner.options["beta"] == kPoolBeta);
  CHECK(fresh.to_json()["planner"]["beta"] == kPoolBeta);
  // The journal holds the file as loaded; read back (replay, resume) it stays at 12, and a journal
  // written before (no "beta") is read as written: the planner's own default of 3.
  CHECK(parse_campaign_config(fresh.to_json().dump(), "journal", labloop::sim::catalogue()).planner.options["beta"] == kPoolBeta);
  json older = pool_config((dir / "plate.csv").string());
  older["planner"] = {{"kind", "bayesian"}};
  CHECK_FALSE(parse_campaign_config(older.dump(), "journal", labloop::sim::catalogue()).planner.options.contains("beta"));
  // UCB named, or as an object without its own β: the same.
  CHECK(loaded({{"kind", "bayesian"}, {"acquisition", "ucb"}}).planner.options["beta"] == kPoolBeta);
  CHECK(loaded({{"kind", "bayesian"}, {"acquisition", {{"kind", "ucb"}}}}).planner.options["beta"] == kPoolBeta);
  // Said in the file, another acquisition, another planner or no pool: nothing added.
  CHECK(loaded({{"kind", "bayesian"}, {"beta", 2}}).planner.options["beta"] == 2);
  CHECK_FALSE(loaded({{"kind", "bayesian"}, {"acquisition", {{"kind", "ucb"}, {"beta", 2}}}}).planner.options.contains("beta"));
  CHECK_FALSE(loaded({{"kind", "bayesian"}, {"acquisition", "log_ei"}}).planner.options.contains("beta"));
  CHECK_FALSE(loaded({{"kind", "random"}}).planner.options.contains("beta"));
  CHECK_FALSE(loaded({{"kind", "bayesian"}}, /*pool=*/false).planner.options.contains("beta"));
  // Without a pool, a space of categorical and discrete parameters only is a finite set as well.
  PlannerConfig bayesian{"bayesian", json::object()};
  const Parameter level{.name = "conc", .type = ParameterType::discrete, .values = {0.1, 0.2}};
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}};
  const Parameter cycles{.name = "cycles", .type = ParameterType::integer, .low = 1, .high = 8};
  set_new_campaign_defaults(bayesian, {level, solvent}, /*candidate_pool=*/false);
  CHECK(bayesian.options["beta"] == kPoolBeta);
  PlannerConfig with_integer{"bayesian", json::object()};
  set_new_campaign_defaults(with_integer, {level, solvent, cycles}, /*candidate_pool=*/false);
  CHECK_FALSE(with_integer.options.contains("beta"));
}

TEST_CASE("A new campaign whose bayesian planner can use the additive kernel gets a fitted additive share in its journaled options, an older journal keeps one half", "[config]") {
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}};
  const Parameter temp{.name = "temp", .low = 20, .high = 80};
  auto defaults = [](json options, const std::vector<Parameter>& parameters, const std::string& kind = "bayesian") {
    PlannerConfig config{kind, std::move(options)};
    set_new_campaign_defaults(config, parameters, /*candidate_pool=*/false);
    return config.options;
  };
  CHECK(defaults(json::object(), {temp, solvent})["additive_share"] == "fitted");
  CHECK(defaults({{"additive", "auto"}}, {temp, solvent})["additive_share"] == "fitted");
  CHECK(defaults({{"additive", "on"}}, {temp})["additive_share"] == "fitted");
  CHECK(defaults({{"additive_share", "half"}}, {temp, solvent})["additive_share"] == "half");
  CHECK_FALSE(defaults(json::object(), {temp}).contains("additive_share"));
  CHECK_FALSE(defaults({{"additive", "off"}}, {temp, solvent}).contains("additive_share"));
  CHECK_FALSE(defaults(json::object(), {temp, solvent}, "random").contains("additive_share"));
  // Written into the file as loaded, so the journal replays with it; a journal without it is read
  // as written (one half, as it ran).
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  json c = pool_config((dir / "plate.csv").string());
  c["planner"] = {{"kind", "bayesian"}};
  test::write_file(dir / "c.json", c.dump());
  const CampaignConfig fresh = load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue());
  CHECK(fresh.to_json()["planner"]["additive_share"] == "fitted");
  CHECK_FALSE(parse_campaign_config(c.dump(), "journal", labloop::sim::catalogue()).planner.options.contains("additive_share"));
  c["planner"]["additive_share"] = "third";
  test::write_file(dir / "c.json", c.dump());
  CHECK_THROWS_WITH(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()),
                    Catch::Contains("/planner/additive_share: must be one of: half, fitted"));
}

TEST_CASE("A new campaign choosing among listed values gets output_transform auto in its journaled options, a continuous one or a file that sets it does not", "[config]") {
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}};
  const Parameter level{.name = "conc", .type = ParameterType::discrete, .values = {0.1, 0.2}};
  const Parameter temp{.name = "temp", .low = 20, .high = 80};
  auto defaults = [](json options, const std::vector<Parameter>& parameters, bool pool = false, const std::string& kind = "bayesian") {
    PlannerConfig config{kind, std::move(options)};
    set_new_campaign_defaults(config, parameters, pool);
    return config.options;
  };
  CHECK(defaults(json::object(), {solvent, level})["output_transform"] == "auto");
  CHECK(defaults(json::object(), {temp, solvent}, /*pool=*/true)["output_transform"] == "auto");
  CHECK_FALSE(defaults(json::object(), {temp, solvent}).contains("output_transform"));
  CHECK(defaults({{"output_transform", "select"}}, {solvent})["output_transform"] == "select");
  CHECK_FALSE(defaults(json::object(), {solvent}, false, "random").contains("output_transform"));
  // The journal holds it; a journal written before is read as written (select, as it ran).
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  json c = pool_config((dir / "plate.csv").string());
  c["planner"] = {{"kind", "bayesian"}};
  test::write_file(dir / "c.json", c.dump());
  CHECK(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()).to_json()["planner"]["output_transform"] == "auto");
  CHECK_FALSE(parse_campaign_config(c.dump(), "journal", labloop::sim::catalogue()).planner.options.contains("output_transform"));
}

TEST_CASE("A new campaign over a continuous space gets noise_dominated space_filling in its journaled options, a finite one or a file that sets it does not", "[config]") {
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}};
  const Parameter level{.name = "conc", .type = ParameterType::discrete, .values = {0.1, 0.2}};
  const Parameter temp{.name = "temp", .low = 20, .high = 80};
  const Parameter cycles{.name = "cycles", .type = ParameterType::integer, .low = 1, .high = 8};
  auto defaults = [](json options, const std::vector<Parameter>& parameters, bool pool = false, const std::string& kind = "bayesian") {
    PlannerConfig config{kind, std::move(options)};
    set_new_campaign_defaults(config, parameters, pool);
    return config.options;
  };
  CHECK(defaults(json::object(), {temp})["noise_dominated"] == "space_filling");
  CHECK(defaults(json::object(), {cycles, solvent})["noise_dominated"] == "space_filling");
  CHECK_FALSE(defaults(json::object(), {temp, solvent}, /*pool=*/true).contains("noise_dominated"));
  CHECK_FALSE(defaults(json::object(), {level, solvent}).contains("noise_dominated"));
  CHECK(defaults({{"noise_dominated", "acquisition"}}, {temp})["noise_dominated"] == "acquisition");
  CHECK_FALSE(defaults(json::object(), {temp}, false, "sobol").contains("noise_dominated"));
  // The journal holds it; a journal written before is read as written (the acquisition, as it ran).
  json c = {{"name", "n"},
            {"parameters", json::array({{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                        {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}})},
            {"objective", {{"name", "y"}, {"goal", "minimize"}}},
            {"planner", {{"kind", "bayesian"}}},
            {"instruments", json::array({{{"name", "sim"}, {"simulator", "branin"}}})},
            {"budget", {{"experiments", 5}}}};
  test::TempDir dir;
  test::write_file(dir / "c.json", c.dump());
  CHECK(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()).to_json()["planner"]["noise_dominated"] == "space_filling");
  CHECK_FALSE(parse_campaign_config(c.dump(), "journal", labloop::sim::catalogue()).planner.options.contains("noise_dominated"));
  c["planner"]["noise_dominated"] = "replicate";
  test::write_file(dir / "c.json", c.dump());
  CHECK_THROWS_WITH(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()),
                    Catch::Contains("/planner/noise_dominated: must be one of: acquisition, space_filling"));
}

TEST_CASE("A new campaign whose categorical choices have descriptors gets a one-hot residual in its journaled options, an older journal a plain evidence choice", "[config]") {
  Parameter ligand{.name = "ligand", .type = ParameterType::categorical, .choices = {"L1", "L2"}};
  const Parameter temp{.name = "temp", .low = 20, .high = 80};
  auto defaults = [](json options, const std::vector<Parameter>& parameters) {
    PlannerConfig config{"bayesian", std::move(options)};
    set_new_campaign_defaults(config, parameters, /*candidate_pool=*/false);
    return config.options;
  };
  CHECK_FALSE(defaults(json::object(), {temp, ligand}).contains("one_hot_residual"));
  ligand.descriptor_values = {{1.0}, {2.0}};
  CHECK(defaults(json::object(), {temp, ligand})["one_hot_residual"] == true);
  CHECK_FALSE(defaults(json::object(), {temp, ligand}).contains("one_hot_margin"));
  CHECK(defaults({{"one_hot_residual", false}}, {temp, ligand})["one_hot_residual"] == false);
  // A file that asks for the choice by evidence (decision 0015) keeps it.
  CHECK(defaults({{"one_hot_margin", 0}}, {temp, ligand})["one_hot_margin"] == 0);
  CHECK_FALSE(defaults({{"one_hot_margin", 0}}, {temp, ligand}).contains("one_hot_residual"));
  // (A journal is parsed as written, never through these defaults: descriptors_test checks that one
  // without the option keeps the plain choice it ran with.) Values out of range are refused.
  const Space space({temp, ligand});
  for (const json& bad : {json("strong"), json(-1), json(1e7)}) {
    const PlannerConfig config{"bayesian", json{{"one_hot_margin", bad}}};
    CHECK_THROWS_WITH(make_planner(PlannerContext{space, 1, config, "c.json"}),
                      Catch::Contains("/planner/one_hot_margin: must be a number from 0 to 1e6"));
  }
  for (const json& bad : {json("yes"), json(1)}) {
    const PlannerConfig config{"bayesian", json{{"one_hot_residual", bad}}};
    CHECK_THROWS_WITH(make_planner(PlannerContext{space, 1, config, "c.json"}), Catch::Contains("/planner/one_hot_residual: must be true or false"));
  }
}

namespace {

// Twelve options of one categorical parameter, two of them tried (results 1 and 2): the other ten
// are rows the model cannot tell apart. Returns which of the untried options (0 = the first in
// the choices' order) the next proposal took, with or without a pool of the twelve rows.
int untried_taken(const std::string& ties, std::uint64_t seed, bool with_pool) {
  std::vector<std::string> choices;
  for (int i = 0; i < 12; ++i) choices.push_back("L" + std::to_string(i));
  const Space space({Parameter{.name = "ligand", .type = ParameterType::categorical, .choices = choices}});
  Eigen::MatrixXd rows = Eigen::MatrixXd::Identity(12, 12);
  const CandidatePool pool(rows);
  const json options{{"initial", 2}, {"ties", ties}};
  std::unique_ptr<Planner> planner;
  if (with_pool) {
    planner = pool_planner(space, "bayesian", pool, seed, {}, options);
  } else {
    static const std::string source = "test.json";
    const PlannerConfig config{"bayesian", options};
    planner = make_planner(PlannerContext{space, seed, config, source});
  }
  std::set<int> tried;
  double y = 1.0;
  for (const Point& x : planner->ask(2, {})) {
    Eigen::Index c;
    x.maxCoeff(&c);
    tried.insert(static_cast<int>(c));
    planner->tell(Observation::succeeded(x, y++));
  }
  REQUIRE(tried.size() == 2);
  const std::vector<Point> next = planner->ask(1, {});
  REQUIRE(next.size() == 1);
  Eigen::Index c;
  next.front().maxCoeff(&c);
  REQUIRE(tried.count(static_cast<int>(c)) == 0);  // an untried option: the model's best guess
  int position = 0;
  for (int k = 0; k < c; ++k) position += tried.count(k) == 0 ? 1 : 0;
  return position;
}

}  // namespace

TEST_CASE("Ties: random settles equal scores by a draw, first by the order of the rows or choices (as campaigns before the option)", "[pool][planner][bayesian]") {
  for (const bool with_pool : {true, false}) {
    INFO((with_pool ? "a pool of the twelve rows" : "the whole space"));
    std::set<int> first, random;
    for (std::uint64_t seed = 1; seed <= 24; ++seed) {
      first.insert(untried_taken("first", seed, with_pool));
      random.insert(untried_taken("random", seed, with_pool));
    }
    CHECK(first == std::set<int>{0});
    // Ten untried options, 24 draws: fewer than five distinct ones would be a broken draw.
    CHECK(random.size() >= 5);
  }
}

TEST_CASE("Ties: a new campaign with a categorical parameter or a pool gets random ties in its journaled options, an older journal keeps the first", "[pool][config]") {
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}};
  const Parameter temp{.name = "temp", .low = 20, .high = 80};
  auto defaults = [](json options, const std::vector<Parameter>& parameters, bool pool = false, const std::string& kind = "bayesian") {
    PlannerConfig config{kind, std::move(options)};
    set_new_campaign_defaults(config, parameters, pool);
    return config.options;
  };
  CHECK(defaults(json::object(), {temp, solvent})["ties"] == "random");
  CHECK(defaults(json::object(), {temp}, /*pool=*/true)["ties"] == "random");
  CHECK(defaults({{"ties", "first"}}, {temp, solvent})["ties"] == "first");
  CHECK_FALSE(defaults(json::object(), {temp}).contains("ties"));
  CHECK_FALSE(defaults(json::object(), {temp, solvent}, true, "random").contains("ties"));
  // Design points snapped to choices avoid settings already taken; a pool never offers one, and a
  // continuous space has nothing to snap.
  CHECK(defaults(json::object(), {temp, solvent})["design_repeats"] == "avoid");
  CHECK_FALSE(defaults(json::object(), {temp, solvent}, true).contains("design_repeats"));
  CHECK_FALSE(defaults(json::object(), {temp}).contains("design_repeats"));
  CHECK(defaults({{"design_repeats", "allow"}}, {temp, solvent})["design_repeats"] == "allow");
  test::TempDir dir;
  test::write_file(dir / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  json c = pool_config((dir / "plate.csv").string());
  c["planner"] = {{"kind", "bayesian"}};
  test::write_file(dir / "c.json", c.dump());
  CHECK(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()).to_json()["planner"]["ties"] == "random");
  CHECK_FALSE(parse_campaign_config(c.dump(), "journal", labloop::sim::catalogue()).planner.options.contains("ties"));
  c["planner"]["ties"] = "last";
  test::write_file(dir / "c.json", c.dump());
  CHECK_THROWS_WITH(load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()),
                    Catch::Contains("/planner/ties: must be one of: first, random"));
}

TEST_CASE("A file a campaign depends on is read only when it is a regular file within its limit, and a refusal names it", "[candidates]") {
  // Resume and replay hung on a pipe at the recorded candidates path (even SIGTERM waited), read a
  // 600 MiB file whole before refusing it, and said "basic_filebuf::underflow" of a folder (red-team reports).
  test::TempDir dir;
  test::write_file(dir / "c.csv", "a,b\n1,2\n");
  CHECK(file_bytes(dir / "c.csv", 100, "the candidates file") == std::optional<std::string>("a,b\n1,2\n"));
  CHECK_FALSE(file_bytes(dir / "gone.csv", 100, "the candidates file"));
  CHECK_THROWS_WITH(file_bytes(dir / "c.csv", 4, "the candidates file"),
                    "the candidates file " + (dir / "c.csv").string() + " has 8 bytes, more than the 4 it may have");
  CHECK_THROWS_WITH(file_bytes(dir.path(), 100, "the candidates file"),
                    "the candidates file " + dir.path().string() + " is not a regular file (a folder); name the file itself");
  REQUIRE(::mkfifo((dir / "pipe.csv").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(file_bytes(dir / "pipe.csv", 100, "the candidates file"), Catch::Contains("is not a regular file (a pipe)"));
  CHECK_THROWS_WITH(file_bytes("/dev/zero", 100, "the candidates file"), Catch::Contains("is not a regular file (a device or a socket)"));
}

TEST_CASE("A new campaign refuses a candidates or descriptors file whose path is not UTF-8 (the journal records it as text)", "[candidates][config]") {
  // A Latin-1 folder name was journaled as U+FFFD, so resume never found the recorded file and
  // used the campaign's copy without noticing an edited pool (a red-team report).
  test::TempDir dir;
  const auto latin1 = dir / "caf\xe9";
  std::filesystem::create_directories(latin1);
  test::write_file(latin1 / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  test::write_file(latin1 / "c.json", pool_config("plate.csv").dump());
  CHECK_THROWS_WITH(load_campaign_config((latin1 / "c.json").string(), labloop::sim::catalogue()),
                    Catch::StartsWith((latin1 / "c.json").string() + ": /candidates: names the candidates file " + dir.path().string() +
                                      "/caf\\xe9/plate.csv, whose path holds bytes that are not UTF-8"));
  json described = pool_config("plate.csv");
  described.erase("candidates");
  described["parameters"][2]["descriptors"] = "d.csv";
  test::write_file(latin1 / "d.csv", "smiles,mw,rings\nCCO,46,0\n\"C(C)O,N\",61,0\nc1ccccc1,78,1\n");
  test::write_file(latin1 / "c.json", described.dump());
  CHECK_THROWS_WITH(load_campaign_config((latin1 / "c.json").string(), labloop::sim::catalogue()),
                    Catch::Contains("/parameters/2/descriptors: names the descriptors file"));
  // The same files in a UTF-8 folder ("café") load.
  const auto utf8 = dir / "caf\xc3\xa9";
  std::filesystem::create_directories(utf8);
  test::write_file(utf8 / "plate.csv", "temp,cycles,smiles\n30,2,CCO\n40,1,CCO\n");
  test::write_file(utf8 / "c.json", pool_config("plate.csv").dump());
  CHECK(load_campaign_config((utf8 / "c.json").string(), labloop::sim::catalogue()).candidates == "plate.csv");
}
