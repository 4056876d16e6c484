// The real-data suite (bench/real_benchmark.hpp, `labloop bench --suite real`) in CI size: a
// small lookup table as pool campaigns, whole and as a 70 % subset, and a small emulated dataset
// with a tiny budget. Full size runs from bench/README.md.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "bench_options.hpp"
#include "dataset.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "planner_benchmark.hpp"
#include "real_benchmark.hpp"
#include "test_functions.hpp"
#include "test_support.hpp"

using namespace labloop;

namespace {

BenchmarkPlanner real_test_planner(const std::string& kind) {
  BenchmarkPlanner p{kind, {{"kind", kind}}};
  if (kind == "bayesian") p.config["initial"] = 5;
  return p;
}

}  // namespace

TEST_CASE("Real suite: a lookup table as pool campaigns counts experiments to the top 1 % and the best row", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"perovskites"};  // 192 rows, 2 in the top 1 %
  options.planners = {real_test_planner("random"), real_test_planner("bayesian")};
  options.seeds = 2;
  options.max_experiments = 20;
  options.jobs = 2;
  int datasets_reported = 0;
  const std::vector<RealRun> runs = run_real_benchmark(options, [&](const std::vector<RealRun>& done) {
    ++datasets_reported;
    CHECK(done.size() == 4);
  });
  CHECK(datasets_reported == 1);
  REQUIRE(runs.size() == 4);
  std::set<std::string> planners;
  for (const RealRun& r : runs) {
    INFO(r.planner << " seed " << r.seed);
    planners.insert(r.planner);
    CHECK(r.kind == RealDatasetKind::lookup_table);
    CHECK(r.dataset == "perovskites");
    CHECK(r.objective == "hse_gap, minimized");
    CHECK(r.pool == 192);
    CHECK(r.top_rows == 2);
    // Counted up to --max, or --max + 1 for a run that never got there.
    CHECK(r.to_top >= 1);
    CHECK(r.to_top <= options.max_experiments + 1);
    CHECK(r.to_best <= options.max_experiments + 1);
    CHECK(r.to_top <= r.to_best);  // the best row is a top-1 % row
    CHECK(r.proposed.size() <= static_cast<size_t>(options.max_experiments));
    // A run stops at the best row: it ran exactly that many experiments.
    if (r.to_best <= options.max_experiments) CHECK(r.proposed.size() == static_cast<size_t>(r.to_best));
    else CHECK(r.proposed.size() == static_cast<size_t>(options.max_experiments));
    // Never a row twice.
    CHECK(std::set<size_t>(r.proposed.begin(), r.proposed.end()).size() == r.proposed.size());
    CHECK(r.median_ask_ms >= 0);
  }
  CHECK(planners == std::set<std::string>{"random", "bayesian"});
  // Seeds differ: the two random runs do not propose the same rows.
  CHECK(runs[0].proposed != runs[1].proposed);
}

TEST_CASE("Real suite: a 70 % subset draws its rows per seed, and jobs do not change the figures", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"perovskites"};
  options.planners = {real_test_planner("random")};
  options.seeds = 3;
  options.max_experiments = 40;
  options.subset = 0.7;
  options.jobs = 1;
  const std::vector<RealRun> runs = run_real_benchmark(options);
  REQUIRE(runs.size() == 3);
  for (const RealRun& r : runs) {
    // round(0.7 · 192) = 134 rows (rounded, not ceiled, as labloop-bench-pool drew them, so its figures reproduce).
    CHECK(r.pool == 134);
    CHECK(r.top_rows == 2);  // ceil(1 % of 134)
    CHECK(std::set<size_t>(r.proposed.begin(), r.proposed.end()).size() == r.proposed.size());
  }
  options.jobs = 3;
  const std::vector<RealRun> parallel = run_real_benchmark(options);
  REQUIRE(parallel.size() == runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    CHECK(parallel[i].seed == runs[i].seed);
    CHECK(parallel[i].proposed == runs[i].proposed);
    CHECK(parallel[i].to_top == runs[i].to_top);
  }
}

TEST_CASE("Benchmarks stopped early keep the seeds every planner finished, and start no run once stopped", "[bench][real]") {
  struct Run {
    std::string problem;
    int seed;
    std::string planner;
  };
  // Seed 2 of "a" lacks a planner's run: its other run goes; "b" seed 1 is whole; "b" seed 3's
  // random run did not finish, so its bayesian one goes too.
  const std::vector<Run> runs{{"a", 1, "random"},  {"a", 1, "bayesian"}, {"a", 2, "random"},
                              {"b", 1, "bayesian"}, {"b", 1, "random"},   {"b", 3, "bayesian"}, {"b", 3, "random"}};
  const auto problem = [](const Run& r) { return r.problem; };
  const std::vector<Run> kept = runs_of_paired_seeds(runs, {1, 1, 1, 1, 1, 1, 0}, 2, problem);
  REQUIRE(kept.size() == 4);
  for (const Run& r : kept) CHECK(r.seed == 1);
  CHECK(runs_of_paired_seeds(runs, std::vector<char>(runs.size(), 1), 2, problem).size() == runs.size());  // all finished: all kept

  std::atomic<bool> stop{true};
  RealBenchmarkOptions real;
  real.datasets = {"perovskites", "buchwald_a"};
  real.planners = {real_test_planner("random"), real_test_planner("bayesian")};
  real.seeds = 3;
  real.stop = &stop;
  int datasets_shown = 0;
  CHECK(run_real_benchmark(real, [&](const std::vector<RealRun>&) { ++datasets_shown; }).empty());
  CHECK(datasets_shown == 0);
  BenchmarkOptions functions;
  functions.problems = {BenchmarkProblem{.function = "branin", .budget = 12}};
  functions.planners = {real_test_planner("random")};
  functions.seeds = 3;
  functions.stop = &stop;
  CHECK(run_benchmark(functions).empty());
  // Not stopped: every run, problem by problem, planner by planner, seed by seed, although they
  // start seed by seed.
  stop = false;
  functions.planners.push_back(real_test_planner("sobol"));
  const std::vector<BenchmarkRun> all = run_benchmark(functions);
  REQUIRE(all.size() == 6);
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].planner == (i < 3 ? "random" : "sobol"));
    CHECK(all[i].seed == static_cast<int>(i % 3) + 1);
  }
}

TEST_CASE("bench's progress line: runs done, time so far and an estimate of the time left", "[bench]") {
  CHECK(cli::bench_progress_line(0, 80, 3.2) == "labloop bench: 0 of 80 runs done in 0:03 (Ctrl-C: stop after the runs under way)");
  CHECK(cli::bench_progress_line(20, 80, 72) == "labloop bench: 20 of 80 runs done in 1:12, about 3:36 left (Ctrl-C: stop after the runs under way)");
  CHECK(cli::bench_progress_line(1, 4, 3725) == "labloop bench: 1 of 4 runs done in 1:02:05, about 3:06:15 left (Ctrl-C: stop after the runs under way)");
  CHECK(cli::bench_progress_line(4, 4, 10) == "labloop bench: 4 of 4 runs done in 0:10 (Ctrl-C: stop after the runs under way)");
}

TEST_CASE("Real suite: --objective scores another of a dataset's objectives, and an unknown one is refused first", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"lnp3"};  // drug_loading (max), encap_efficiency (max), particle_diameter (min)
  options.planners = {real_test_planner("random")};
  options.seeds = 2;
  options.max_experiments = 30;
  options.objective = "particle_diameter";
  const std::vector<RealRun> runs = run_real_benchmark(options);
  REQUIRE(runs.size() == 2);
  const sim::Dataset data = sim::read_dataset(real_dataset_folder("lnp3"));
  const size_t column = data.spec.parameters.size() + 2;
  for (const RealRun& r : runs) {
    CHECK(r.dataset == "lnp3[particle_diameter]");
    CHECK(r.objective == "particle_diameter, minimized");
    REQUIRE(!r.proposed.empty());
    // What a run was told is that column's value of the row it chose (lnp3 has no replicates).
    for (size_t k = 0; k < r.proposed.size(); ++k) CHECK(r.proposed_values[k] == parse_number(data.rows.at(r.proposed[k]).fields.at(column)));
    // Minimized: a run that reached the top 1 % stopped on one of the 8 smallest diameters.
    if (r.to_top <= options.max_experiments) {
      std::vector<double> all;
      for (const CsvRow& row : data.rows) all.push_back(*parse_number(row.fields.at(column)));
      std::sort(all.begin(), all.end());
      CHECK(*std::min_element(r.proposed_values.begin(), r.proposed_values.begin() + r.to_top) <= all.at(7));
    }
  }
  options.datasets = {"lnp3", "perovskites"};  // the second has no such objective: refused before lnp3 runs
  try {
    run_real_benchmark(options, [](const std::vector<RealRun>&) { FAIL("ran before refusing"); });
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("dataset perovskites has no objective \"particle_diameter\" (its objectives: hse_gap)") != std::string::npos);
  }
}

TEST_CASE("Real suite: an emulated dataset reports regret against its reference at every experiment", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"snar"};  // 66 rows, e_factor minimized
  options.planners = {real_test_planner("random"), real_test_planner("bayesian")};
  options.seeds = 2;
  options.budget = 7;
  options.jobs = 2;
  const std::vector<RealRun> runs = run_real_benchmark(options);
  REQUIRE(runs.size() == 4);
  std::set<std::string> planners;
  for (const RealRun& r : runs) {
    INFO(r.planner << " seed " << r.seed);
    planners.insert(r.planner);
    CHECK(r.kind == RealDatasetKind::emulated);
    CHECK(r.objective == "e_factor, minimized");
    CHECK(std::isfinite(r.reference));
    CHECK(r.reference == runs.front().reference);  // one reference per dataset
    REQUIRE(r.regret.size() == 7);
    CHECK(r.refused == 0);  // the planner searches the emulator's own box
    for (size_t i = 0; i < r.regret.size(); ++i) {
      // A sign or reference error shows here: the best of a few settings cannot beat the
      // polished best of 8192 points and the rows.
      CHECK(r.regret[i] >= 0.0);
      if (i > 0) CHECK(r.regret[i] <= r.regret[i - 1]);  // the best so far only improves
    }
  }
  CHECK(planners == std::set<std::string>{"random", "bayesian"});
}

TEST_CASE("Real suite: a simplex dataset's planner gets the sum-to-1 constraint, so the emulator refuses nothing", "[bench][real]") {
  // thin_film: three fractions summing to 1 (94 rows). Before the constraint was passed on, the
  // suite refused simplex datasets; a planner searching the box would have most settings refused.
  RealBenchmarkOptions options;
  options.datasets = {"thin_film"};
  options.planners = {real_test_planner("random"), real_test_planner("bayesian")};
  options.seeds = 2;
  options.budget = 8;
  options.jobs = 2;
  const std::vector<RealRun> runs = run_real_benchmark(options);
  REQUIRE(runs.size() == 4);
  for (const RealRun& r : runs) {
    INFO(r.planner << " seed " << r.seed);
    CHECK(r.kind == RealDatasetKind::emulated);
    CHECK(r.refused == 0);
    REQUIRE(r.regret.size() == 8);
    // The reference searched the simplex (hit-and-run draws, projected compass steps): no
    // setting the planners tried beats it.
    for (double regret : r.regret) CHECK(regret >= 0.0);
    CHECK(std::isfinite(r.reference));
  }
}

TEST_CASE("Real suite: an unknown dataset is refused before anything runs, naming the known ones", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"perovskites", "buchwald_z"};
  options.planners = {real_test_planner("random")};
  options.seeds = 1;
  CHECK_THROWS_WITH(run_real_benchmark(options), Catch::Contains("unknown dataset \"buchwald_z\"") && Catch::Contains("buchwald_a"));
  CHECK(real_suite_datasets().size() == 16);
  for (const auto& name : real_suite_datasets()) CHECK_NOTHROW(real_dataset_folder(name));

  // Two folders of one name (a copy beside the original), or one given twice: their runs would be
  // pooled under one label in real.csv.
  test::TempDir dir;
  std::filesystem::copy(real_dataset_folder("perovskites"), dir / "perovskites", std::filesystem::copy_options::recursive);
  for (const std::string& twin : {(dir / "perovskites").string(), std::string("perovskites")}) {
    options.datasets = {"perovskites", twin};
    CHECK_THROWS_WITH(run_real_benchmark(options), Catch::Contains("are both named \"perovskites\" (a dataset is named by its folder)"));
  }
}

TEST_CASE("Real suite: --whole-space searches without a pool, and on a table of categories only it chooses as the pool campaign does", "[bench][real]") {
  RealBenchmarkOptions options;
  options.datasets = {"perovskites"};  // three categorical parameters: the whole space is the table's 192 rows
  // With ties settled by the order of rows and choices, which is the same in both: random ties
  // are drawn at different points of the two searches' random streams.
  BenchmarkPlanner planner = real_test_planner("bayesian");
  planner.config["ties"] = "first";
  options.planners = {planner};
  options.seeds = 2;
  options.max_experiments = 12;
  options.jobs = 2;
  const std::vector<RealRun> pooled = run_real_benchmark(options, {});
  options.whole_space = true;
  const std::vector<RealRun> whole = run_real_benchmark(options, {});
  REQUIRE(whole.size() == 2);
  for (size_t i = 0; i < whole.size(); ++i) {
    INFO("seed " << whole[i].seed);
    CHECK(whole[i].proposed.size() >= 6);  // past the initial design
    CHECK(whole[i].proposed == pooled[i].proposed);
  }
  // Every setting must have a row: a subset is refused, naming the flag.
  options.subset = 0.7;
  CHECK_THROWS_WITH(run_real_benchmark(options, {}), Catch::Contains("--whole-space") && Catch::Contains("leave --subset out"));
}

TEST_CASE("Real suite: --whole-space on a table lacking combinations fails those experiments, naming one, and goes on", "[bench][real]") {
  // perovskites without its fluorides (48 of the 192 combinations; the best row, an iodide, kept),
  // as a user's incomplete table: it aborted the whole benchmark as "a point outside the table (a bug)".
  const test::TempDir dir;
  const std::filesystem::path gapped = dir / "perovskites_gapped";
  std::filesystem::copy(real_dataset_folder("perovskites"), gapped);
  const std::string data = test::read_file(gapped / "data.csv");
  std::string kept;
  size_t rows = 0;
  for (size_t at = 0, end; at < data.size(); at = end + 1) {
    end = data.find('\n', at);
    if (end == std::string::npos) end = data.size();
    const std::string line = data.substr(at, end - at);
    const size_t anion = line.find(',', line.find(',') + 1) + 1;  // organic,cation,anion,hse_gap
    if (line.empty() || line.compare(anion, 2, "F,") == 0) continue;
    kept += line + "\n";
    rows += at == 0 ? 0 : 1;
  }
  REQUIRE(rows == 144);
  test::write_file(gapped / "data.csv", kept);
  nlohmann::json spec = nlohmann::json::parse(test::read_file(gapped / "spec.json"));
  spec["rows"] = rows;
  test::write_file(gapped / "spec.json", spec.dump(1));

  RealBenchmarkOptions options;
  options.datasets = {"perovskites", gapped.string()};
  options.planners = {real_test_planner("random"), real_test_planner("bayesian")};
  options.seeds = 2;
  options.max_experiments = 40;
  options.jobs = 2;
  options.whole_space = true;
  const std::vector<RealRun> runs = run_real_benchmark(options, {});
  REQUIRE(runs.size() == 8);  // both datasets: the healthy one is not lost to the other's gaps
  const sim::Dataset table = sim::read_dataset(gapped);
  int missing = 0;
  for (const RealRun& r : runs) {
    INFO(r.dataset << " " << r.planner << " seed " << r.seed);
    const auto lacking = std::count(r.proposed.begin(), r.proposed.end(), kMissingRow);
    CHECK(lacking == r.missing);
    if (r.dataset == "perovskites") {
      CHECK(r.missing == 0);
      continue;
    }
    missing += r.missing;
    if (r.missing > 0) CHECK_THAT(r.first_missing, Catch::Contains("anion=F") && Catch::Contains("organic="));
    for (size_t k = 0; k < r.proposed.size(); ++k) {
      if (r.proposed[k] == kMissingRow) {
        CHECK(std::isnan(r.proposed_values[k]));
        continue;
      }
      CHECK(table.rows.at(r.proposed[k]).fields.at(2) != "F");
    }
    CHECK(static_cast<int>(r.proposed.size()) <= options.max_experiments);
  }
  CHECK(missing > 0);  // a quarter of the space lacks a row: random search asks for some
}

TEST_CASE("Real suite: a dataset given as \".\" or with a trailing \"/.\" is named by its folder", "[bench][real]") {
  const test::TempDir dir;
  std::filesystem::copy(real_dataset_folder("perovskites"), dir / "perov_copy");
  // `labloop bench --datasets .` in the folder named it "." in the tables and real.csv.
  CHECK(sim::read_dataset_spec(real_dataset_folder((dir / "perov_copy" / ".").string())).name == "perov_copy");
  CHECK(sim::read_dataset_spec(real_dataset_folder((dir / "perov_copy" / "").string())).name == "perov_copy");
}

// `labloop bench`'s command line (src/cli/bench_options.hpp): mistakes refused before any run.
namespace {

// The message of the ConfigError `f` throws; "" when it throws none.
template <class F>
std::string bench_refusal(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    CHECK(e.source() == "labloop bench");
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Bench options: --problems NAME:DIM takes whole dimensions the function allows, naming them otherwise", "[bench]") {
  using labloop::cli::parse_bench_problem;
  CHECK(parse_bench_problem("levy:7").dim == 7);
  CHECK(parse_bench_problem("branin:2").dim == 2);
  CHECK(parse_bench_problem("rosenbrock:4").budget == 50);  // a standard problem keeps its budget
  const auto* levy = sim::find_test_function("levy");
  REQUIRE(levy);
  for (const std::string& dim : std::vector<std::string>{"0", "-7", "abc", "7x", "", "99999999999", std::to_string(levy->max_dim + 1)})
    CHECK_THAT(bench_refusal([&] { parse_bench_problem("levy:" + dim); }),
               Catch::Contains(fmt::format("--problems: levy:{}: levy takes {} to {} dimensions", dim, levy->min_dim, levy->max_dim)));
  CHECK_THAT(bench_refusal([] { parse_bench_problem("branin:3"); }), Catch::Contains("--problems: branin:3: branin is fixed at 2 dimensions: write branin"));
  CHECK_THAT(bench_refusal([] { parse_bench_problem("branin:abc"); }), Catch::Contains("branin is fixed at 2 dimensions"));
  CHECK_THAT(bench_refusal([] { parse_bench_problem("brannin"); }), Catch::Contains("unknown function \"brannin\"; did you mean \"branin\"?"));
}

TEST_CASE("Bench options: --suite goals --problems selects among the suite's rows, by label or function, naming them otherwise", "[bench]") {
  using labloop::cli::select_goal_problems;
  const auto labels = [](const std::vector<BenchmarkProblem>& problems) {
    std::vector<std::string> out;
    for (const auto& p : problems) out.push_back(p.label());
    return out;
  };
  CHECK(labels(select_goal_problems({})) == labels(goal_problems()));
  // docs/benchmarks.md's `--suite goals --problems branin`: the noisy row alone, as the suite runs it.
  const std::vector<BenchmarkProblem> branin = select_goal_problems({"branin"});
  REQUIRE(branin.size() == 1);
  CHECK(branin[0].label() == "branin noise 0.5");
  CHECK(branin[0].budget == 50);
  CHECK(branin[0].initial == 10);
  // A function selects each of its rows, in the suite's order; a label one row; a name twice, once.
  CHECK(labels(select_goal_problems({"hartmann6"})) == std::vector<std::string>{"hartmann6 noise 0.1", "hartmann6 batch 4"});
  CHECK(labels(select_goal_problems({"hartmann6 batch 4", "dtlz2:6", "hartmann6 batch 4"})) == std::vector<std::string>{"dtlz2-6", "hartmann6 batch 4"});
  CHECK(labels(select_goal_problems({"dtlz2-6"})) == std::vector<std::string>{"dtlz2-6"});
  const std::string refusal = bench_refusal([] { select_goal_problems({"branin", "levy"}); });
  CHECK_THAT(refusal, Catch::Contains("--problems: \"levy\" is no row of the goals suite") && Catch::Contains("branin noise 0.5, hartmann6 batch 4"));
}

TEST_CASE("Bench options: --noise and --batch are in each problem's label, and refused on goals rows that have their own", "[bench]") {
  using labloop::cli::apply_bench_noise_and_batch;
  std::vector<BenchmarkProblem> problems{labloop::cli::parse_bench_problem("branin"), labloop::cli::parse_bench_problem("hartmann6")};
  apply_bench_noise_and_batch(problems, 0, 1);  // neither given: unchanged
  CHECK(problems[0].label() == "branin");
  apply_bench_noise_and_batch(problems, 0.5, 4);
  CHECK(problems[0].label() == "branin noise 0.5 batch 4");
  CHECK(problems[1].label() == "hartmann6 noise 0.5 batch 4");
  // bench.csv's problem column is the run's label: a noisy run is no longer written as noise-free.
  BenchmarkOptions options;
  options.problems = {labloop::cli::parse_bench_problem("branin")};
  apply_bench_noise_and_batch(options.problems, 0.5, 1);
  options.planners = {labloop::cli::parse_bench_planner("random", 10)};
  options.seeds = 1;
  options.jobs = 1;
  const std::vector<BenchmarkRun> runs = run_benchmark(options);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].problem == "branin noise 0.5");
  // The goals suite's noisy and batch rows: their own noise and batch would stay as they are.
  std::vector<BenchmarkProblem> goals = goal_problems();
  CHECK_THAT(bench_refusal([&] { apply_bench_noise_and_batch(goals, 5, 1); }),
             Catch::Contains("--noise: hartmann6 noise 0.1, branin noise 0.5 have noise of their own, which --noise would not change"));
  CHECK_THAT(bench_refusal([&] { apply_bench_noise_and_batch(goals, 0, 2); }),
             Catch::Contains("--batch: hartmann6 batch 4 has a batch size of its own, which --batch would not change"));
  // Rows without their own take them, and say so.
  std::vector<BenchmarkProblem> two = labloop::cli::select_goal_problems({"branin_currin", "hartmann6 batch 4"});
  apply_bench_noise_and_batch(two, 5, 1);
  CHECK(two[0].label() == "branin_currin noise 5");
  CHECK(two[1].label() == "hartmann6 noise 5 batch 4");
}

TEST_CASE("Bench options: --planners JSON of the wrong types and planners given twice are refused with the option named", "[bench]") {
  using labloop::cli::parse_bench_planner;
  CHECK_THAT(bench_refusal([] { parse_bench_planner(R"({"kind":5})", 10); }),
             Catch::Contains(R"(--planners: {"kind":5}: "kind" must be a planner's name in quotes)"));
  CHECK_THAT(bench_refusal([] { parse_bench_planner(R"({"kind":"bayesian","beta":1e999})", 10); }),
             Catch::Contains("holds a number too large to read") && !Catch::Contains("json.exception"));
  CHECK_THAT(bench_refusal([] { parse_bench_planner(R"({"kind":)", 10); }), Catch::Contains("is not valid JSON (at character 9)"));
  CHECK(bench_refusal([] { parse_bench_planner(R"({"kind":"bayesian","beta":6})", 10); }).empty());
  // The parser keeps the last of two; the run would have used beta 24 under a label saying so.
  CHECK_THAT(bench_refusal([] { parse_bench_planner(R"({"kind":"bayesian","beta":6,"beta":24})", 10); }),
             Catch::Contains("key /beta is given twice; give it once"));

  const auto planners = [](std::vector<std::string> texts) {
    std::vector<BenchmarkPlanner> out;
    for (const auto& t : texts) out.push_back(parse_bench_planner(t, 10));
    labloop::cli::refuse_duplicate_planners(out);
  };
  CHECK_THAT(bench_refusal([&] { planners({"random", "bayesian", "bayesian"}); }), Catch::Contains("--planners: bayesian is given twice"));
  // The same section with its keys in another order is the same planner (and the same label).
  CHECK_THAT(bench_refusal([&] { planners({R"({"kind":"bayesian","beta":6})", R"({"beta": 6, "kind": "bayesian"})"}); }),
             Catch::Contains(R"({"beta":6,"kind":"bayesian"} is given twice)"));
  CHECK(bench_refusal([&] { planners({"random", "bayesian", R"({"kind":"bayesian","beta":6})"}); }).empty());
  // A name and its section are one planner too: both ran as two rows of the same planner.
  CHECK_THAT(bench_refusal([&] { planners({"sobol", R"({"kind":"sobol"})"}); }), Catch::Contains("is given twice"));
  CHECK_THAT(bench_refusal([&] { planners({"bayesian", R"({"kind":"bayesian"})"}); }), Catch::Contains("is given twice"));

  // Random search is added once, whether or not it was given, and as a section too.
  const auto with_random = [](std::vector<std::string> texts) {
    std::vector<BenchmarkPlanner> out;
    for (const auto& t : texts) out.push_back(parse_bench_planner(t, 10));
    labloop::cli::add_random_baseline(out, 10);
    labloop::cli::refuse_duplicate_planners(out);
    return out.size();
  };
  CHECK(with_random({"bayesian"}) == 2);
  CHECK(with_random({"random", "bayesian"}) == 2);
  CHECK(with_random({R"({"kind":"random"})", "bayesian"}) == 2);
}

TEST_CASE("Bench options: a planner option a planner refuses is found by check_benchmark, before any run", "[bench]") {
  BenchmarkOptions options;
  options.problems = {labloop::cli::parse_bench_problem("branin")};
  options.planners = {labloop::cli::parse_bench_planner("random", 10), labloop::cli::parse_bench_planner(R"({"kind":"bayesian","beta":-3})", 10)};
  CHECK_THROWS_WITH(check_benchmark(options), Catch::Contains("/planner/beta"));
  options.planners.back() = labloop::cli::parse_bench_planner("bayesian", 10);
  CHECK_NOTHROW(check_benchmark(options));
}

TEST_CASE("Bench options: a result file is written whole or refused by name, an earlier one kept intact", "[bench]") {
  const test::TempDir dir;
  std::filesystem::create_directories(dir / "bench.csv");
  CHECK_THROWS_WITH(labloop::cli::write_bench_file(dir / "bench.csv", "a,b\n"),
                    Catch::StartsWith("cannot write " + (dir / "bench.csv").string() + ": a folder of that name is in its way"));
  std::filesystem::create_directories(dir / "again");
  labloop::cli::write_bench_file(dir / "again" / "regret.svg", "old");
  labloop::cli::write_bench_file(dir / "again" / "regret.svg", "new");
  std::ifstream now(dir / "again" / "regret.svg");
  CHECK(std::string(std::istreambuf_iterator<char>(now), {}) == "new");
  CHECK_FALSE(std::filesystem::exists(dir / "again" / "regret.svg.partial"));
}

TEST_CASE("Bench options: when one of its files cannot be written, bench says which in the folder are this run's and which an earlier run's", "[bench]") {
  const test::TempDir dir;
  // An earlier run's files; then this run's bench.csv is written and its regret.svg is not (a
  // folder in its way stands in for a full disk): the earlier notes.txt must not pass for this run's.
  labloop::cli::write_bench_files(dir.path(), {{"bench.csv", "earlier\n"}, {"notes.txt", "earlier\n"}});
  std::filesystem::create_directories(dir / "regret.svg");
  const std::string said = test::message_of([&] {
    labloop::cli::write_bench_files(dir.path(), {{"bench.csv", "new\n"}, {"regret.svg", "<svg/>"}, {"notes.txt", "new\n"}});
  });
  CHECK_THAT(said, Catch::StartsWith("cannot write " + (dir / "regret.svg").string() + ": a folder of that name is in its way") &&
                       Catch::Contains("; bench.csv in " + dir.path().string() + " is this run's") &&
                       Catch::Contains("; notes.txt in " + dir.path().string() + " is from an earlier run, not this one"));
  CHECK(test::read_file(dir / "bench.csv") == "new\n");
  CHECK(test::read_file(dir / "notes.txt") == "earlier\n");
}

TEST_CASE("Bench options: a benchmark larger than it can hold is refused before any run, and the documented ones are within it", "[bench]") {
  using labloop::cli::check_bench_size;
  using labloop::cli::kMaxBenchEvaluations;
  // --seeds 100000 --budget 100000 --planners random, each option within its range, grew by
  // 40 MB a second towards 80 GB (red-team report): refused, naming what to lower.
  const std::string refusal = bench_refusal([] {
    check_bench_size(1, 100000, {100000}, "evaluations", "problems", "--seeds or --budget, or give fewer --planners or --problems");
  });
  CHECK(refusal == "labloop bench: --seeds: 100000 seeds × 1 planner (random included) × 100000 evaluations per run = 10000000000 evaluations, "
                   "more than the 1000000 a benchmark holds (it keeps each until its tables are written; bench/README.md): lower --seeds or "
                   "--budget, or give fewer --planners or --problems");
  // At the limit: taken; one evaluation more: refused.
  CHECK_NOTHROW(check_bench_size(2, 5000, {50, 50}, "evaluations", "problems", "-"));
  CHECK(kMaxBenchEvaluations == 2 * 5000 * 100);
  CHECK_THAT(bench_refusal([] { check_bench_size(2, 5000, {50, 51}, "evaluations", "problems", "-"); }),
             Catch::Contains("× 101 evaluations per seed and planner (summed over 2 problems) = 1010000 evaluations"));
  // Every planner, seed and budget at its own limit: no overflow, refused.
  CHECK_THAT(bench_refusal([] { check_bench_size(256, 100000, std::vector<long long>(1000, 1000000), "experiments", "datasets", "-"); }),
             Catch::Contains("more than the 1000000"));

  // The commands bench/README.md and docs/benchmarks.md give. The standard suite: every
  // problem's own budget; goals: its problems with bayesian, ParEGO and random, 100 seeds.
  std::vector<long long> standard, goals;
  for (const auto& p : standard_problems()) standard.push_back(p.budget);
  for (const auto& p : goal_problems()) goals.push_back(p.budget);
  CHECK_NOTHROW(check_bench_size(3, 100, standard, "evaluations", "problems", "-"));
  CHECK_NOTHROW(check_bench_size(3, 100, goals, "evaluations", "problems", "-"));
  CHECK_NOTHROW(check_bench_size(2, 300, {50}, "evaluations", "problems", "-"));  // branin --noise 0.5 --seeds 300
  // The real suite at full size (--seeds 40, every default dataset, random and bayesian), and its CI size.
  RealBenchmarkOptions real;
  std::vector<long long> full, ci;
  for (const auto& name : real_suite_datasets()) full.push_back(labloop::cli::real_run_experiments(sim::read_dataset_spec(real_dataset_folder(name)), real));
  CHECK_NOTHROW(check_bench_size(2, 40, full, "experiments", "datasets", "-"));
  real.max_experiments = 30;
  real.budget = 10;
  for (const char* name : {"perovskites", "snar"}) ci.push_back(labloop::cli::real_run_experiments(sim::read_dataset_spec(real_dataset_folder(name)), real));
  CHECK(ci == std::vector<long long>{30, 10});
  CHECK_NOTHROW(check_bench_size(2, 2, ci, "experiments", "datasets", "-"));
}
