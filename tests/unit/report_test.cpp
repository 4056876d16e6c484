#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include <csignal>

#include "test_support.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::TempDir;


size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A real time for each line (a journal's times are read as times: 08:30:75 is none).
std::string time_of(int seq) {
  const auto two = [](int n) { return std::string(n < 10 ? "0" : "") + std::to_string(n); };
  return "2026-11-25T" + two(8 + seq / 3600) + ":" + two(seq / 60 % 60) + ":" + two(seq % 60) + ".000Z";
}

json event(int seq, const std::string& kind, json fields = json::object()) {
  fields["seq"] = seq;
  fields["time"] = time_of(seq);
  fields["event"] = kind;
  return fields;
}

json report_config(const std::string& goal) {
  return json::parse(R"({
    "name": "quickstart", "seed": 1,
    "parameters": [
      {"name": "x1", "type": "continuous", "low": -5, "high": 10},
      {"name": "solvent", "type": "categorical", "choices": ["THF", "a,b"]},
      {"name": "cycles", "type": "integer", "low": 1, "high": 8}
    ],
    "objective": {"name": "y", "goal": ")" + goal + R"("},
    "planner": {"kind": "sobol"}, "instruments": [], "budget": {"experiments": 4}, "output": "runs/q"
  })");
}

// Four experiments: e2 ok (0.42), e1 failed (then a stale late result), e3 ok (0.1), e4 pending.
std::vector<json> campaign_events(const std::string& goal, const std::string& name = "quickstart") {
  return {
      event(1, "campaign_started", {{"campaign", name}, {"config", report_config(goal)}, {"dry_run", false}}),
      event(2, "instrument_ready", {{"instrument", "sim"}, {"driver", "labloop-sim"}, {"version", "0.1.0"}, {"capacity", 3}}),
      event(3, "proposed", {{"experiment", "e1"}, {"params", {{"x1", 1.5}, {"solvent", "a,b"}, {"cycles", 3}}}, {"planner", "sobol"}, {"ask", 1}}),
      event(4, "proposed", {{"experiment", "e2"}, {"params", {{"x1", -2.25}, {"solvent", "THF"}, {"cycles", 1}}}, {"planner", "sobol"}, {"ask", 1}}),
      event(5, "proposed", {{"experiment", "e3"}, {"params", {{"x1", 0.1}, {"solvent", "THF"}, {"cycles", 8}}}, {"planner", "sobol"}}),
      event(6, "proposed", {{"experiment", "e4"}, {"params", {{"x1", 3}, {"solvent", "THF"}, {"cycles", 2}}}, {"planner", "sobol"}}),
      event(7, "dispatched", {{"experiment", "e1"}, {"instrument", "sim"}}),
      event(8, "dispatched", {{"experiment", "e2"}, {"instrument", "sim"}}),
      event(9, "dispatched", {{"experiment", "e3"}, {"instrument", "sim"}}),
      event(10, "accepted", {{"experiment", "e1"}, {"instrument", "sim"}, {"expected_s", 1.0}, {"max_s", 30.0}}),
      event(11, "result", {{"experiment", "e2"}, {"instrument", "sim"}, {"status", "ok"}, {"values", {{"y", 0.42}, {"z", 1}}}, {"objective", 0.42}}),
      event(12, "failed", {{"experiment", "e1"}, {"instrument", "sim"}, {"error", "timeout after 30 s, \"retry\" later"}}),
      event(13, "result", {{"experiment", "e3"}, {"instrument", "sim"}, {"status", "ok"}, {"values", {{"y", 0.1}}}, {"objective", 0.1}}),
      event(14, "result", {{"experiment", "e1"}, {"instrument", "sim"}, {"status", "ok"}, {"values", {{"y", -9.0}}}, {"objective", -9.0}}),
      event(15, "instrument_lost", {{"instrument", "sim"}, {"reason", "heartbeat"}}),
  };
}

// A campaign with `n` ok results whose objectives are `values`.
CampaignRecord record_with(const std::vector<double>& values, bool maximize, const std::string& name = "quickstart") {
  std::vector<json> events{event(1, "campaign_started", {{"campaign", name}, {"config", report_config(maximize ? "maximize" : "minimize")}})};
  int seq = 2;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string id = "e" + std::to_string(i + 1);
    events.push_back(event(seq++, "proposed", {{"experiment", id}, {"params", {{"x1", 0.5}, {"solvent", "THF"}, {"cycles", 1}}}}));
    events.push_back(event(seq++, "dispatched", {{"experiment", id}, {"instrument", "sim"}}));
    events.push_back(event(seq++, "result", {{"experiment", id}, {"instrument", "sim"}, {"status", "ok"}, {"values", {{"y", values[i]}}}, {"objective", values[i]}}));
  }
  return summarize(events);
}

std::string render_svg(const CampaignRecord& record) {
  TempDir dir;
  const fs::path p = dir.path() / "convergence.svg";
  write_convergence_svg(record, p);
  return test::read_file(p);
}

void check_svg_shape(const std::string& svg) {
  CHECK(svg.rfind("<svg", 0) == 0);
  const std::string trimmed = svg.substr(0, svg.find_last_not_of("\n") + 1);
  CHECK(trimmed.size() >= 6);
  CHECK(trimmed.substr(trimmed.size() - 6) == "</svg>");
  CHECK(count(svg, "<svg") == 1);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}

// The y coordinates of the best-so-far polyline, in SVG units (down is larger).
std::vector<double> step_ys(const std::string& svg) {
  const std::smatch m = [&] {
    std::smatch found;
    std::regex_search(svg, found, std::regex("<polyline points=\"([^\"]*)\""));
    return found;
  }();
  std::vector<double> ys;
  if (m.empty()) return ys;
  std::istringstream points(m[1].str());
  std::string point;
  while (points >> point) ys.push_back(std::stod(point.substr(point.find(',') + 1)));
  return ys;
}

}  // namespace

TEST_CASE("Report: summarize assembles ok and failed and pending experiments in proposal order", "[report]") {
  const CampaignRecord r = summarize(campaign_events("minimize"));
  CHECK(r.campaign == "quickstart");
  CHECK(r.objective_name == "y");
  CHECK_FALSE(r.maximize);
  CHECK(r.parameter_names == std::vector<std::string>{"x1", "solvent", "cycles"});
  REQUIRE(r.experiments.size() == 4);

  const ExperimentRecord& e1 = r.experiments[0];
  CHECK(e1.id == "e1");
  CHECK(e1.status == "failed");  // the late result after the failure is ignored
  CHECK(e1.error == "timeout after 30 s, \"retry\" later");
  CHECK_FALSE(e1.objective);
  CHECK(e1.instrument == "sim");
  CHECK(e1.proposed_at == time_of(3));
  CHECK(e1.dispatched_at == time_of(7));
  CHECK(e1.finished_at == time_of(12));
  CHECK(e1.completion_index == 2);
  CHECK(e1.params["solvent"] == "a,b");

  const ExperimentRecord& e2 = r.experiments[1];
  CHECK(e2.status == "ok");
  REQUIRE(e2.objective);
  CHECK(*e2.objective == 0.42);
  CHECK(e2.values == json{{"y", 0.42}, {"z", 1}});
  CHECK(e2.completion_index == 1);
  CHECK(e2.error.empty());

  CHECK(r.experiments[2].completion_index == 3);
  const ExperimentRecord& e4 = r.experiments[3];
  CHECK(e4.status == "pending");
  CHECK(e4.instrument.empty());
  CHECK(e4.dispatched_at.empty());
  CHECK(e4.finished_at.empty());
  CHECK(e4.completion_index == 0);
  CHECK_FALSE(e4.objective);
}

TEST_CASE("Report: best_index honors the goal", "[report]") {
  CHECK(summarize(campaign_events("minimize")).best_index() == std::optional<size_t>(2));  // e3, 0.1
  const CampaignRecord max = summarize(campaign_events("maximize"));
  CHECK(max.maximize);
  CHECK(max.best_index() == std::optional<size_t>(1));  // e2, 0.42; e1's stale -9 is not a result

  CHECK(record_with({3, 1, 1, 2}, false).best_index() == std::optional<size_t>(1));  // ties: first to finish
  CHECK(record_with({3, 1, 5, 5}, true).best_index() == std::optional<size_t>(2));
  CHECK_FALSE(record_with({}, false).best_index());
}

TEST_CASE("Report: a result without an objective field uses the objective from its values", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  events[10].erase("objective");
  const CampaignRecord r = summarize(events);
  REQUIRE(r.experiments[1].objective);
  CHECK(*r.experiments[1].objective == 0.42);
}

TEST_CASE("Report: summarize without campaign_started throws JournalError", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  events.erase(events.begin());
  CHECK_THROWS_AS(summarize(events), JournalError);
  CHECK_THROWS_AS(summarize({}), JournalError);
}

TEST_CASE("Report: results.csv has the exact header and one quoted row per experiment", "[report]") {
  TempDir dir;
  const fs::path p = dir.path() / "results.csv";
  write_results_csv(summarize(campaign_events("minimize")), p);
  const std::string expected =
      "experiment,instrument,x1,solvent,cycles,y,z,status,error,proposed_at,dispatched_at,finished_at,proposed_by\n"
      "e1,sim,1.5,\"a,b\",3,,,failed,\"timeout after 30 s, \"\"retry\"\" later\"," + time_of(3) + "," + time_of(7) + "," + time_of(12) + ",sobol ask 1\n"
      "e2,sim,-2.25,THF,1,0.42,1,ok,," + time_of(4) + "," + time_of(8) + "," + time_of(11) + ",sobol ask 1\n"
      "e3,sim,0.1,THF,8,0.1,,ok,," + time_of(5) + "," + time_of(9) + "," + time_of(13) + ",\n"
      "e4,,3,THF,2,,,pending,," + time_of(6) + ",,,\n";
  CHECK(test::read_file(p) == expected);
  // Written through a temporary sibling that is renamed away.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

  // Rewriting replaces the file whole.
  write_results_csv(record_with({}, false), p);
  CHECK(test::read_file(p) == "experiment,instrument,x1,solvent,cycles,y,status,error,proposed_at,dispatched_at,finished_at,proposed_by\n");
}

TEST_CASE("Report: results.csv prints doubles short but exact", "[report]") {
  TempDir dir;
  const fs::path p = dir.path() / "results.csv";
  write_results_csv(record_with({1.0 / 3.0, 1e-20, 2.0}, false), p);
  const std::string text = test::read_file(p);
  CHECK_THAT(text, Catch::Matchers::Contains(",0.3333333333333333,ok,"));
  CHECK_THAT(text, Catch::Matchers::Contains(",1e-20,ok,"));
  CHECK_THAT(text, Catch::Matchers::Contains(",2,ok,"));
}

TEST_CASE("Report: writing into a missing directory throws labloop Error", "[report]") {
  TempDir dir;
  const CampaignRecord r = record_with({1}, false);
  CHECK_THROWS_AS(write_results_csv(r, dir.path() / "missing" / "results.csv"), Error);
  CHECK_THROWS_AS(write_convergence_svg(r, dir.path() / "missing" / "convergence.svg"), Error);
}

TEST_CASE("Report: a write that fails part way (a full disk) leaves the old file whole and no temporary file", "[report]") {
  TempDir dir;
  const fs::path csv = dir.path() / "results.csv", svg = dir.path() / "convergence.svg";
  write_results_csv(record_with({1}, false), csv);
  write_convergence_svg(record_with({1}, false), svg);
  const std::string old_csv = test::read_file(csv), old_svg = test::read_file(svg);
  // A file size limit makes write() fail with EFBIG after the temporary file was created, as ENOSPC
  // would; SIGXFSZ is ignored so that the failure is an error, not the end of the test process.
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const CampaignRecord bigger = record_with({1, 2, 3, 4, 5, 6, 7, 8}, false);
  std::string csv_error, svg_error;
  try { write_results_csv(bigger, csv); } catch (const Error& e) { csv_error = e.what(); }
  try { write_convergence_svg(bigger, svg); } catch (const Error& e) { svg_error = e.what(); }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  CHECK_THAT(csv_error, Catch::Matchers::StartsWith(csv.string() + ": cannot write: "));
  CHECK_THAT(svg_error, Catch::Matchers::StartsWith(svg.string() + ": cannot write: "));
  CHECK(test::read_file(csv) == old_csv);
  CHECK(test::read_file(svg) == old_svg);
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 2);
}

TEST_CASE("Report: convergence.svg with no results says so", "[report]") {
  const std::string svg = render_svg(summarize({campaign_events("minimize")[0]}));
  check_svg_shape(svg);
  CHECK_THAT(svg, Catch::Matchers::Contains("no results yet"));
  CHECK(count(svg, "<circle") == 0);
}

TEST_CASE("Report: convergence.svg with one result has one dot and no division by zero", "[report]") {
  const std::string svg = render_svg(record_with({0.42}, false));
  check_svg_shape(svg);
  CHECK(count(svg, "class=\"result") == 1);
  CHECK_THAT(svg, Catch::Matchers::Contains("quickstart: minimize y"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">y</text>"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">experiment (in order of completion)</text>"));
}

TEST_CASE("Report: convergence.svg with all-equal results stays finite", "[report]") {
  for (const double v : {0.0, -3.0, 1e6}) {
    const std::string svg = render_svg(record_with({v, v, v}, true));
    check_svg_shape(svg);
    CHECK(count(svg, "class=\"result") == 3);
  }
}

TEST_CASE("Report: convergence.svg with extreme finite results stays finite", "[report]") {
  // Their span overflowed to infinity, and the axis code converted it to int (undefined).
  for (const bool maximize : {false, true}) {
    const std::string svg = render_svg(record_with({1.0, 1e300, -1.7976931348623157e308, 1.7976931348623157e308, 2.0}, maximize));
    check_svg_shape(svg);
    CHECK(count(svg, "class=\"result") == 5);
    CHECK(svg.find("inf") == std::string::npos);
    CHECK(svg.find("nan") == std::string::npos);
  }
}

TEST_CASE("Report: convergence.svg has one dot per ok result and a monotone best-so-far line", "[report]") {
  std::vector<double> values;
  for (int i = 0; i < 25; ++i) values.push_back(std::sin(i * 1.7) * 10 + i * 0.3);
  for (const bool maximize : {false, true}) {
    const std::string svg = render_svg(record_with(values, maximize, "a<b & \"c\""));
    check_svg_shape(svg);
    CHECK(count(svg, "class=\"result") == 25);
    CHECK_THAT(svg, Catch::Matchers::Contains("a&lt;b &amp; &quot;c&quot;"));
    CHECK(svg.find("a<b") == std::string::npos);
    // Grid lines: one per tick, 4–6 ticks on each axis.
    const size_t ticks = count(svg, "stroke=\"#e6e6e6\"");
    CHECK(ticks >= 8);
    CHECK(ticks <= 12);
    // A corner where the best improves, the start and the end: no vertex where it holds.
    const std::vector<double> ys = step_ys(svg);
    std::size_t improvements = 0;
    for (std::size_t i = 1; i < values.size(); ++i) {
      const double before = *std::ranges::max_element(values.begin(), values.begin() + i, [&](double a, double b) { return maximize ? a < b : a > b; });
      improvements += maximize ? values[i] > before : values[i] < before;
    }
    REQUIRE(improvements >= 2);
    REQUIRE(ys.size() == 2 * improvements + 1 + (maximize ? values.back() <= *std::max_element(values.begin(), values.end() - 1)
                                                          : values.back() >= *std::min_element(values.begin(), values.end() - 1)));
    for (size_t i = 1; i < ys.size(); ++i) {
      // Minimizing, the best moves down the value axis, i.e. down the page (larger SVG y).
      if (maximize) CHECK(ys[i] <= ys[i - 1]);
      else CHECK(ys[i] >= ys[i - 1]);
    }
  }
}

TEST_CASE("Report: failed experiments are crosses on the x axis, pending ones are not drawn", "[report]") {
  const std::string svg = render_svg(summarize(campaign_events("minimize")));
  check_svg_shape(svg);
  CHECK(count(svg, "class=\"result") == 2);
  CHECK(count(svg, "class=\"failed\"") == 2);  // e1's, and the legend's sample
  CHECK_THAT(svg, Catch::Matchers::Contains("<title>e1: failed: timeout after 30 s, &quot;retry&quot; later</title>"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">failed (1)</text>"));
}

TEST_CASE("Report: reports can be built from a real journal", "[report]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    for (json e : campaign_events("maximize")) {
      const std::string kind = e["event"];
      for (const char* key : {"seq", "time", "event"}) e.erase(key);
      journal.append(kind, e);
    }
  }
  const CampaignRecord r = summarize(read_journal(p).events);
  CHECK(r.experiments.size() == 4);
  CHECK(r.best_index() == std::optional<size_t>(1));
  write_results_csv(r, dir.path() / "results.csv");
  write_convergence_svg(r, dir.path() / "convergence.svg");
  CHECK(fs::file_size(dir.path() / "results.csv") > 0);
  CHECK(count(test::read_file(dir.path() / "convergence.svg"), "class=\"result") == 2);
}

namespace {

// A campaign from `config` whose experiments e1, e2, … finish in order with these objectives;
// nullopt: that experiment failed.
CampaignRecord record_from(const json& config, const std::vector<std::optional<double>>& results) {
  std::vector<json> events{event(1, "campaign_started", {{"campaign", config["name"]}, {"config", config}})};
  int seq = 2;
  const std::string objective = config["objective"]["name"];
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string id = "e" + std::to_string(i + 1);
    events.push_back(event(seq++, "proposed", {{"experiment", id}, {"params", {{"x1", 0.5}, {"x2", 2.0}}}, {"ask", int(i) + 1}}));
    events.push_back(event(seq++, "dispatched", {{"experiment", id}, {"instrument", "sim"}}));
    if (results[i])
      events.push_back(event(seq++, "result", {{"experiment", id}, {"instrument", "sim"}, {"status", "ok"},
                                               {"values", {{objective, *results[i]}}}, {"objective", *results[i]}}));
    else
      events.push_back(event(seq++, "failed", {{"experiment", id}, {"instrument", "sim"}, {"error", "no answer"}}));
  }
  return summarize(events);
}

// The quick-start's config (examples/quickstart.json, as journaled), with stop.target when given.
json quickstart_config(std::optional<double> target) {
  json c = json::parse(R"({
    "name": "quickstart", "seed": 1,
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                   {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y", "goal": "minimize"},
    "planner": {"kind": "bayesian"}, "instruments": [], "budget": {"experiments": 30}, "output": "runs/quickstart"
  })");
  if (target) c["stop"] = {{"target", *target}};
  return c;
}

// Branin-like: a space-filling start far from the optimum, then the model closing in on 0.398.
const std::vector<std::optional<double>> kQuickstart = {55.6, 17.3, 120.4, 24.9, std::nullopt, 5.2, 308.1, 3.1, 10.8,
                                                         0.9,  1.4,  0.52,  0.47, 0.41,         0.399, 2.3, 0.398};

struct ValueRange {
  std::string scale;
  double lo = 0, hi = 0;
};

// The value axis as the SVG states it in its <desc>.
ValueRange value_range(const std::string& svg) {
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, std::regex("<desc>value axis: (log10|linear) from (\\S+) to (\\S+)</desc>")));
  return {m[1].str(), std::stod(m[2].str()), std::stod(m[3].str())};
}

// The labels of the value axis's ticks, bottom to top (they are written in that order).
std::vector<double> y_tick_labels(const std::string& svg) {
  std::vector<double> labels;
  const std::regex tick("<text class=\"ytick\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator(); ++it)
    labels.push_back(std::stod((*it)[1].str()));
  return labels;
}

std::vector<double> best_so_far(const std::vector<std::optional<double>>& results, bool maximize) {
  std::vector<double> best;
  for (const auto& r : results)
    if (r) best.push_back(best.empty() ? *r : maximize ? std::max(best.back(), *r) : std::min(best.back(), *r));
  return best;
}

// Every dot and every vertex of the best-so-far line inside the plot area (report.cpp's layout).
void check_inside_plot(const std::string& svg) {
  const std::regex dot("<circle class=\"result\" cx=\"[^\"]*\" cy=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), dot); it != std::sregex_iterator(); ++it) {
    const double y = std::stod((*it)[1].str());
    CHECK(y >= 48);
    CHECK(y <= 420);
  }
  for (const double y : step_ys(svg)) {
    CHECK(y >= 48);
    CHECK(y <= 420);
  }
}

}  // namespace

TEST_CASE("Report: results.csv has every output, units in the header and why each experiment was proposed", "[report]") {
  const json config = json::parse(R"({
    "name": "oven", "seed": 1,
    "parameters": [{"name": "temperature", "type": "continuous", "low": 20, "high": 120, "unit": "C"},
                   {"name": "rate", "type": "continuous", "low": 0.1, "high": 2, "unit": "mL/min"},
                   {"name": "solvent", "type": "categorical", "choices": ["THF", "MeCN"]}],
    "objective": {"name": "yield", "goal": "maximize"},
    "outputs": [{"name": "yield", "unit": "%", "low": 0, "high": 100}, {"name": "purity", "unit": "%"}, {"name": "color"}],
    "planner": {"kind": "bayesian"}, "instruments": [], "budget": {"experiments": 2}, "output": "runs/oven"
  })");
  const json a = {{"temperature", 80}, {"rate", 0.5}, {"solvent", "THF"}};
  const json b = {{"temperature", 60}, {"rate", 1.5}, {"solvent", "MeCN"}};
  const std::vector<json> events{
      event(1, "campaign_started", {{"campaign", "oven"}, {"config", config}}),
      event(2, "proposed", {{"experiment", "e1"}, {"params", a}, {"planner", "bayesian"}, {"ask", 1}}),
      event(3, "proposed", {{"experiment", "e2"}, {"params", b}, {"planner", "bayesian"}, {"ask", 1}}),
      event(4, "dispatched", {{"experiment", "e1"}, {"instrument", "lab"}}),
      event(5, "dispatched", {{"experiment", "e2"}, {"instrument", "lab"}}),
      event(6, "result", {{"experiment", "e1"}, {"instrument", "lab"}, {"status", "ok"}, {"objective", 71.5},
                          {"values", {{"yield", 71.5}, {"purity", 98.25}, {"color", "amber"}}}}),
      event(7, "failed", {{"experiment", "e2"}, {"instrument", "lab"}, {"error", "pump stalled"}, {"learn", false}, {"retry_as", "e2-r2"}}),
      event(8, "proposed", {{"experiment", "e2-r2"}, {"params", b}, {"planner", "bayesian"}, {"retry_of", "e2"}, {"attempt", 2}, {"after_s", 5.0}}),
      event(9, "dispatched", {{"experiment", "e2-r2"}, {"instrument", "lab"}}),
      // Values the config does not declare ("pressure") get a column after the declared ones.
      event(10, "result", {{"experiment", "e2-r2"}, {"instrument", "lab"}, {"status", "ok"}, {"objective", 64},
                           {"values", {{"yield", 64}, {"purity", 99.5}, {"color", "pale, yellow"}, {"pressure", 1.2}}}}),
  };
  const CampaignRecord record = summarize(events);
  CHECK(record.objective_unit == "%");
  CHECK(record.parameter_units == std::vector<std::string>{"C", "mL/min", ""});
  CHECK(record.output_names == std::vector<std::string>{"purity", "color", "pressure"});
  CHECK(record.output_units == std::vector<std::string>{"%", "", ""});
  CHECK_FALSE(record.target);

  TempDir dir;
  write_results_csv(record, dir.path() / "results.csv");
  CHECK(test::read_file(dir.path() / "results.csv") ==
        "experiment,instrument,temperature [C],rate [mL/min],solvent,yield [%],purity [%],color,pressure,status,error,"
        "proposed_at,dispatched_at,finished_at,proposed_by\n"
        "e1,lab,80,0.5,THF,71.5,98.25,amber,,ok,," + time_of(2) + "," + time_of(4) + "," + time_of(6) + ",bayesian ask 1\n"
        "e2,lab,60,1.5,MeCN,,,,,failed,pump stalled," + time_of(3) + "," + time_of(5) + "," + time_of(7) + ",bayesian ask 1\n"
        "e2-r2,lab,60,1.5,MeCN,64,99.5,\"pale, yellow\",1.2,ok,," + time_of(8) + "," + time_of(9) + "," + time_of(10) + ",retry 2 of e2\n");

  // The plot names the objective with its unit.
  const std::string svg = render_svg(record);
  CHECK_THAT(svg, Catch::Matchers::Contains(">yield [%]</text>"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">best 71.5 %</text>"));
}

TEST_CASE("Report: convergence.svg of a quick-start campaign shows the whole best-so-far line, the target and the failure", "[report]") {
  for (const bool with_target : {true, false}) {
    INFO("target: " << with_target);
    const std::string svg = render_svg(record_from(quickstart_config(with_target ? std::optional<double>(0.4) : std::nullopt), kQuickstart));
    check_svg_shape(svg);
    // 0.398 … 308: more than two decades of positive values.
    const ValueRange range = value_range(svg);
    CHECK(range.scale == "log10");
    for (const double b : best_so_far(kQuickstart, false)) {
      CHECK(range.lo <= b);
      CHECK(range.hi >= b);
    }
    check_inside_plot(svg);
    // Labelled ticks inside the range, increasing up the axis, at least three of them.
    const std::vector<double> labels = y_tick_labels(svg);
    REQUIRE(labels.size() >= 3);
    for (size_t i = 0; i < labels.size(); ++i) {
      CHECK(labels[i] >= range.lo);
      CHECK(labels[i] <= range.hi);
      if (i > 0) CHECK(labels[i] > labels[i - 1]);
    }
    CHECK_THAT(svg, Catch::Matchers::Contains(">y (log scale)</text>"));
    CHECK(count(svg, "class=\"result") == 16);
    CHECK(count(svg, "class=\"failed\"") == 2);  // the failure, and the legend's sample
    CHECK_THAT(svg, Catch::Matchers::Contains(">result (16)</text>"));
    CHECK_THAT(svg, Catch::Matchers::Contains(">best so far</text>"));
    CHECK_THAT(svg, Catch::Matchers::Contains(">best 0.398</text>"));
    if (with_target) {
      CHECK(count(svg, "class=\"target\"") == 1);
      CHECK(range.lo <= 0.4);
      CHECK_THAT(svg, Catch::Matchers::Contains(">target 0.4</text>"));
    } else {
      CHECK(svg.find("target") == std::string::npos);
    }
  }
}

TEST_CASE("Report: convergence.svg uses a log axis only for positive values over more than two decades", "[report]") {
  const json config = quickstart_config(std::nullopt);
  CHECK(value_range(render_svg(record_from(config, {1000.0, 10.0, 0.5, 3.0}))).scale == "log10");
  const std::vector<double> decades = y_tick_labels(render_svg(record_from(config, {1000.0, 10.0, 0.5, 3.0})));
  for (const double d : {1.0, 10.0, 100.0, 1000.0}) CHECK(std::find(decades.begin(), decades.end(), d) != decades.end());
  CHECK(value_range(render_svg(record_from(config, {1e6, 3e-5, 2.0}))).scale == "log10");
  CHECK(value_range(render_svg(record_from(config, {1.0, 2.0, 3.0, 50.0}))).scale == "linear");      // < 2 decades
  CHECK(value_range(render_svg(record_from(config, {-1.0, 10.0, 1000.0}))).scale == "linear");       // not all positive
  CHECK(value_range(render_svg(record_from(config, {0.0, 10.0, 1000.0}))).scale == "linear");
  // The ends stay finite over any span of positive values; what is too small is drawn at the edge.
  const std::string wide = render_svg(record_from(config, {1e-300, 1e300, 1e-320, 1.0}));
  check_svg_shape(wide);
  CHECK(value_range(wide).scale == "log10");
  CHECK(count(wide, "class=\"result off-scale\"") == 1);
  // A target at or below zero cannot be drawn on a log axis.
  CHECK(value_range(render_svg(record_from(quickstart_config(0.0), {1000.0, 10.0, 0.5}))).scale == "linear");
}

TEST_CASE("Report: one wild result does not flatten a linear convergence plot but is drawn at the edge", "[report]") {
  json config = quickstart_config(std::nullopt);
  config["objective"] = {{"name", "yield"}, {"goal", "maximize"}};
  const std::vector<std::optional<double>> results = {5.0, 40.0, 55.0, 62.0, -900.0, 70.0, 71.0, 73.0, 74.0};
  const std::string svg = render_svg(record_from(config, results));
  check_svg_shape(svg);
  const ValueRange range = value_range(svg);
  CHECK(range.scale == "linear");
  CHECK(range.lo > -900);
  CHECK(range.hi < 200);
  for (const double b : best_so_far(results, true)) {
    CHECK(range.lo <= b);
    CHECK(range.hi >= b);
  }
  check_inside_plot(svg);
  CHECK(count(svg, "class=\"result\"") == 8);
  CHECK(count(svg, "class=\"result off-scale\"") == 1);
  CHECK_THAT(svg, Catch::Matchers::Contains("<title>e5: -900</title>"));
  CHECK_THAT(svg, Catch::Matchers::Contains(">off scale (1), at edge</text>"));
}

TEST_CASE("Report: convergence.svg renders to PNG with rsvg-convert", "[report]") {
  // A real renderer catches what string checks cannot: malformed XML, or markup it refuses.
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0)
    FAIL("rsvg-convert is not installed: install librsvg2-bin (scripts/install-deps.sh --tests installs it)");
  TempDir dir;
  for (const bool with_target : {true, false}) {
    const fs::path svg = dir.path() / "convergence.svg", png = dir.path() / "convergence.png";
    write_convergence_svg(record_from(quickstart_config(with_target ? std::optional<double>(0.4) : std::nullopt), kQuickstart), svg);
    const std::string command = "rsvg-convert -o '" + png.string() + "' '" + svg.string() + "' 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    const std::string bytes = test::read_file(png);
    REQUIRE(bytes.size() > 1000);
    CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    // 800 x 480, big-endian in the IHDR chunk.
    CHECK(bytes.substr(16, 8) == std::string("\0\0\x03\x20\0\0\x01\xe0", 8));
  }
}

TEST_CASE("Report: a campaign started by labloop 0.1.0 keeps its bare parameter headers though its config has units", "[report]") {
  json config = quickstart_config(std::nullopt);
  config["parameters"][0]["unit"] = "mm";
  for (const std::string version : {"0.1.0", "0.2.0"}) {
    INFO(version);
    const std::vector<json> events{
        event(1, "campaign_started", {{"campaign", "quickstart"}, {"config", config}, {"labloop_version", version}}),
        event(2, "proposed", {{"experiment", "e1"}, {"params", {{"x1", 0.5}, {"x2", 2.0}}}, {"ask", 1}}),
    };
    const CampaignRecord record = summarize(events);
    CHECK(record.parameter_units == std::vector<std::string>{"mm", ""});
    CHECK(record.units_in_headers == (version != "0.1.0"));
    TempDir dir;
    write_results_csv(record, dir.path() / "results.csv");
    CHECK_THAT(test::read_file(dir.path() / "results.csv"),
               Catch::Matchers::StartsWith(version == "0.1.0" ? "experiment,instrument,x1,x2,y," : "experiment,instrument,x1 [mm],x2,y,"));
  }
}

TEST_CASE("Report: results.csv takes at most 4096 other values as columns, the first names seen, and keeps them", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  // e2 names 5000 values besides y and z, e3 ten more: a driver naming new values in every result.
  for (int i = 0; i < 5000; ++i) events[10]["values"][fmt::format("k{:04d}", i)] = i;
  for (int i = 0; i < 10; ++i) events[12]["values"][fmt::format("m{}", i)] = i;
  const CampaignRecord r = summarize(events);
  REQUIRE(r.output_names.size() == CampaignRecord::kMostResultColumns);
  // A JSON object's names come in sorted order: k0000 … k4095 are the first seen.
  CHECK(r.output_names.front() == "k0000");
  CHECK(r.output_names.back() == "k4095");
  CHECK(std::none_of(r.output_names.begin(), r.output_names.end(), [](const std::string& n) { return n[0] == 'm' || n == "z"; }));
  // The values stay whole in the record (and in the journal).
  CHECK(r.experiments[1].values.size() == 5002);
  // Declared outputs always have their columns, besides the 4096.
  json config = events[0]["config"];
  config["outputs"] = json::array({"m3"});
  events[0]["config"] = config;
  const CampaignRecord declared = summarize(events);
  CHECK(declared.output_names.size() == CampaignRecord::kMostResultColumns + 1);
  CHECK(declared.output_names.front() == "m3");
}

TEST_CASE("Report: a value a driver names like a parameter or a column of labloop's own gets no column of its own", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  // e2's result, as a hostile driver might send it: a reader by header name would get these.
  events[10]["values"].update(json{{"x1", 999.0}, {"experiment", 7}, {"status", 8}, {"", 6}, {"\u0001nul", 4}, {"=cmd()", 5},
                                   {"@sum", 3}, {"-2+3+cmd", 3}, {" =x", 3}, {"peak area (mAU)", 2}});
  const CampaignRecord r = summarize(events);
  CHECK(r.output_names == std::vector<std::string>{"peak area (mAU)", "z"});
  const auto path = std::filesystem::temp_directory_path() / fmt::format("labloop-report-{}.csv", ::getpid());
  write_results_csv(r, path);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  std::filesystem::remove(path);
  CHECK(header == "experiment,instrument,x1,solvent,cycles,y,peak area (mAU),z,status,error,proposed_at,dispatched_at,finished_at,proposed_by");
  // The journal's record keeps every value.
  CHECK(r.experiments[1].values.size() == 12);
  // With units, the header "x1 [mL]" is as much the parameter's as "x1".
  events[0]["config"]["parameters"][0]["unit"] = "mL";
  events[10]["values"]["x1 [mL]"] = -2.0;
  CHECK(summarize(events).output_names == std::vector<std::string>{"peak area (mAU)", "z"});
}

TEST_CASE("Report: results.csv writes a driver's text so a spreadsheet runs no formula and shows control characters, and numbers stay numbers", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  // e1's error and e2's values, as a hostile or careless driver might send them.
  events[11]["error"] = "=HYPERLINK(\"http://evil\",\"x\")";
  events[10]["values"].update(json{{"z", "@SUM(A1:A9)"}, {"note", "  +cmd|' /C calc'!A0"}, {"log", "line 1\nline 2\t\x1b[31mred\x7f"},
                                   {"shift", -3.5}, {"as text", "-3.5"}, {"minus", "-"}});
  const CampaignRecord r = summarize(events);
  TempDir dir;
  write_results_csv(r, dir.path() / "results.csv");
  const std::string csv = test::read_file(dir.path() / "results.csv");
  std::istringstream lines(csv);
  std::string header, e1, e2;
  std::getline(lines, header);
  std::getline(lines, e1);
  std::getline(lines, e2);
  CHECK(header == "experiment,instrument,x1,solvent,cycles,y,as text,log,minus,note,shift,z,status,error,proposed_at,dispatched_at,finished_at,proposed_by");
  CHECK_THAT(e1, Catch::Matchers::Contains(",failed,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","));
  // The escapes are visible text, one row per experiment; the negative parameter and the numbers
  // (a driver's string "-3.5" included) are written as they were.
  CHECK(e2 == "e2,sim,-2.25,THF,1,0.42,-3.5,line 1\\nline 2\\t\\x1b[31mred\\x7f,'-,'  +cmd|' /C calc'!A0,-3.5,'@SUM(A1:A9),ok,," + time_of(4) +
                  "," + time_of(8) + "," + time_of(11) + ",sobol ask 1");
  CHECK(count(csv, "\n") == 5);
  // The record, like the journal, keeps the text as it came.
  CHECK(r.experiments[0].error == "=HYPERLINK(\"http://evil\",\"x\")");
}

TEST_CASE("Report: a failure's reason in results.csv shows bidi controls and zero-width characters as escapes", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  // U+202E, the right-to-left override, shows the text after it reversed: "deliaf" reads "failed".
  events[11]["error"] = "jam\u200b: cleared \u202edeliaf\u202c, r\u00e9sum\u00e9";
  const CampaignRecord r = summarize(events);
  TempDir dir;
  write_results_csv(r, dir.path() / "results.csv");
  const std::string csv = test::read_file(dir.path() / "results.csv");
  CHECK_THAT(csv, Catch::Matchers::Contains(",failed,\"jam\\u200b: cleared \\u202edeliaf\\u202c, r\u00e9sum\u00e9\","));
  CHECK(csv.find("\u202e") == std::string::npos);
  CHECK(r.experiments[0].error == "jam\u200b: cleared \u202edeliaf\u202c, r\u00e9sum\u00e9");  // the record keeps it as it came
}

TEST_CASE("Report: a value a driver names like another column but for letter case or invisible characters gets no column", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  events[0]["config"]["parameters"][0]["unit"] = "mL";
  // U+200B zero-width space, U+FEFF byte-order mark, U+00AD soft hyphen, U+2060 word joiner,
  // U+200D zero-width joiner, U+202E right-to-left override: each is invisible in a header.
  events[10]["values"].update(json{{"X1", 1}, {"Solvent", 2}, {"Y", 3}, {"STATUS", 5}, {"X1 [ml]", 6}, {"x1\u200b", 7},
                                   {"\ufeffcycles", 8}, {"er\u00adror", 9}, {"w\u2060", 10}, {"a\u200db", 11}, {"\u202eabc", 12},
                                   {"Peak", 13}, {"temp \u00b0C", 14}});
  // A later result naming a driver's earlier value in another case: no second column either.
  events[12]["values"]["PEAK"] = 15;
  const CampaignRecord r = summarize(events);
  // Names with other letters (a degree sign is visible) still get theirs.
  CHECK(r.output_names == std::vector<std::string>{"Peak", "temp \u00b0C", "z"});
  CHECK(r.experiments[1].values.size() == 15);
  CHECK(r.experiments[2].values.contains("PEAK"));
}

TEST_CASE("Report: a value a driver names like another column but for blanks (no-break, ideographic, at an end) gets no column", "[report]") {
  // "y " and "y<U+00A0>" looked like the objective's column "y", and a reader trimming headers
  // (labloop's own: prior_results) read two columns "y" (red-team report).
  std::vector<json> events = campaign_events("minimize");
  events[10]["values"].update(json{{"y ", 1}, {"y\u00a0", 2}, {"y\u3000", 3}, {"\u2003x1", 4}, {"Peak\u202f", 5}, {"temp\u00a0C", 6},
                                   {"peak area", 7}, {"peak\u3000area", 8}, {"temp  C", 9}, {"Peak", 10}});
  const CampaignRecord r = summarize(events);
  // Blanks inside a name are a reader's blank: "peak area" has its column, its look-alike none.
  CHECK(r.output_names == std::vector<std::string>{"Peak", "peak area", "temp  C", "z"});  // the first of two look-alikes (names sort)
  CHECK(r.experiments[1].values.size() == 12);  // the journal keeps them all
}

TEST_CASE("Report: results.csv is not written through a symbolic link planted under its temporary name", "[report]") {
  TempDir dir, home;
  const fs::path bashrc = home.path() / ".bashrc";
  test::write_file(bashrc, "set -o vi\n");
  const fs::path temp = dir.path() / fmt::format(".results.csv.tmp.{}", static_cast<long>(::getpid()));
  fs::create_symlink(bashrc, temp);
  const fs::path csv = dir.path() / "results.csv";
  CHECK_THAT(test::message_of([&] { write_results_csv(summarize(campaign_events("minimize")), csv); }),
             Catch::Equals(csv.string() + ": " + temp.string() +
                           " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself"));
  CHECK(test::read_file(bashrc) == "set -o vi\n");
  CHECK_FALSE(fs::exists(csv));
}

namespace {

// Whether xmllint reads `svg` as well-formed XML.
bool well_formed_xml(const std::string& svg) {
  TempDir dir;
  const fs::path p = dir.path() / "plot.svg";
  test::write_file(p, svg);
  return std::system(("xmllint --noout '" + p.string() + "' 2>/dev/null").c_str()) == 0;
}

}  // namespace

TEST_CASE("Report: convergence.svg stays well-formed XML with control characters and U+FFFE/U+FFFF in its texts", "[report][xml]") {
  REQUIRE(std::system("command -v xmllint >/dev/null 2>&1") == 0);
  std::vector<json> events = campaign_events("minimize", "quick\x01start");
  events[0]["config"]["outputs"] = json::array({{{"name", "y"}, {"unit", "mg\uffff"}}});
  events[11]["error"] = std::string("rejected: \x1b[31mbad\x07 \ufffe\x0b\x0c end");
  const std::string svg = convergence_svg(summarize(events));
  CHECK(well_formed_xml(svg));
  for (const char c : svg) CHECK((static_cast<unsigned char>(c) >= 0x20 || c == '\n'));
  // Shown as visible escapes.
  CHECK_THAT(svg, Catch::Contains("rejected: \\x1b[31mbad\\x07 \\ufffe\\x0b\\x0c end") && Catch::Contains("mg\\uffff") &&
                      Catch::Contains("quick\\x01start"));
}

TEST_CASE("Report: convergence.svg of subnormal results has a finite axis", "[report]") {
  for (const auto& values : {std::vector<double>{5e-324, 1e-323}, std::vector<double>{0, 5e-324}, std::vector<double>{5e-324},
                             std::vector<double>{-1e-310, 2e-310, 0}}) {
    const std::string svg = render_svg(record_with(values, false));
    check_svg_shape(svg);
    CHECK(svg.find("nan") == std::string::npos);
    for (const double y : step_ys(svg)) CHECK(std::isfinite(y));
    CHECK(count(svg, "class=\"result") == values.size());
  }
}

TEST_CASE("Report: convergence.svg labels a result beyond ±1e300 with its recorded value and marks it off scale", "[report]") {
  const std::string svg = render_svg(record_with({1.0, -1e308, 2.0}, false));
  check_svg_shape(svg);
  CHECK_THAT(svg, Catch::Contains("<title>e2: -1e+308</title>"));
  CHECK_THAT(svg, Catch::Contains(">best -1e+308</text>"));
  CHECK(svg.find(": -1e+300") == std::string::npos);
  CHECK(svg.find("best -1e+300") == std::string::npos);
  CHECK(count(svg, "class=\"result off-scale\"") == 1);
  // All beyond: each is at an edge, none an ordinary dot inside the axis.
  const std::string huge = render_svg(record_with({1e308, -1e308}, true));
  check_svg_shape(huge);
  CHECK(count(huge, "class=\"result off-scale\"") == 2);
  CHECK_THAT(huge, Catch::Contains("<title>e1: 1e+308</title>") && Catch::Contains(">best 1e+308</text>"));
}

TEST_CASE("Report: results.csv shows C1 controls and line and paragraph separators as escapes, and protects header cells", "[report]") {
  std::vector<json> events = campaign_events("minimize");
  events[11]["error"] = "a\u009b31mb\u0085c\u2028d\u2029e\u00e9";
  events[0]["config"]["parameters"][0]["name"] = "-A1";
  for (json& e : events)
    if (e.contains("params")) e["params"]["-A1"] = e["params"]["x1"], e["params"].erase("x1");
  const CampaignRecord r = summarize(events);
  TempDir dir;
  write_results_csv(r, dir.path() / "results.csv");
  const std::string csv = test::read_file(dir.path() / "results.csv");
  CHECK(csv.rfind("experiment,instrument,'-A1,solvent,", 0) == 0);
  CHECK_THAT(csv, Catch::Contains(",a\\u009b31mb\\u0085c\\u2028d\\u2029e\u00e9,"));
  CHECK(csv_text("'=a") == "''=a");
  CHECK(csv_text("=a") == "'=a");
  CHECK(csv_text("'x") == "'x");
  CHECK(csv_text_value("''=a") == "'=a");
  CHECK(csv_text_value("'=a") == "=a");
  CHECK(csv_text_value("'x") == "'x");
  CHECK(csv_text_value("'-3.5") == "'-3.5");
  for (const std::string t : {"=a", "'=a", "''=a", "'x", "x", "-3.5", "'-3.5", " +1", "' +1", "@", "'", "''", ""})
    CHECK(csv_text_value(csv_text(t)) == t);
}
