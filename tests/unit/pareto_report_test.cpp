// The goal columns of results.csv, pareto.svg and the Pareto summary (campaign/pareto_report.hpp),
// on hand-made journals whose Pareto sets and hypervolumes are worked out by hand.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/journal/report.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json pr_event(int seq, const std::string& kind, json fields = json::object()) {
  fields["seq"] = seq;
  // A real time for each line (a journal's times are read as times: 08:00:75 is none).
  const auto two = [](int n) { return std::string(n < 10 ? "0" : "") + std::to_string(n); };
  fields["time"] = "2026-12-02T" + two(8 + seq / 3600) + ":" + two(seq / 60 % 60) + ":" + two(seq % 60) + ".000Z";
  fields["event"] = kind;
  return fields;
}

CampaignConfig pr_config(const json& objectives, const json& extra = json::object()) {
  json file{{"name", "mo"},
            {"seed", 1},
            {"parameters", {{{"name", "x"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}}},
            {"objectives", objectives},
            {"planner", {{"kind", "sobol"}}},
            {"instruments", {{{"name", "sim"}, {"endpoint", "tcp://127.0.0.1:5555"}}}},
            {"budget", {{"experiments", 10}}}};
  file.update(extra);
  return parse_campaign_config(file.dump(), "mo.json", labloop::sim::catalogue());
}

// Outcome per experiment, in completion order: values (ok) or null (failed); one more is left pending.
CampaignRecord pr_record(const CampaignConfig& config, const std::vector<json>& outcomes) {
  std::vector<json> events{pr_event(1, "campaign_started", {{"campaign", config.name}, {"config", config.to_json()}})};
  int seq = 2;
  for (size_t i = 0; i <= outcomes.size(); ++i)
    events.push_back(pr_event(seq++, "proposed", {{"experiment", "e" + std::to_string(i + 1)}, {"params", {{"x", 0.1 * double(i)}}}}));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const std::string id = "e" + std::to_string(i + 1);
    events.push_back(pr_event(seq++, "dispatched", {{"experiment", id}, {"instrument", "sim"}}));
    if (outcomes[i].is_null()) events.push_back(pr_event(seq++, "failed", {{"experiment", id}, {"instrument", "sim"}, {"error", "broke"}}));
    else events.push_back(pr_event(seq++, "result", {{"experiment", id}, {"instrument", "sim"}, {"status", "ok"}, {"values", outcomes[i]}}));
  }
  CampaignRecord record = summarize(events);
  annotate_goals(config, record);
  return record;
}

// The CSV's rows as maps from header to field (no quoted commas in these files).
std::vector<std::map<std::string, std::string>> pr_rows(const fs::path& csv, std::vector<std::string>* header_out = nullptr) {
  std::istringstream in(test::read_file(csv));
  std::string line;
  std::getline(in, line);
  const auto split = [](const std::string& text) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream s(text);
    while (std::getline(s, field, ',')) fields.push_back(field);
    if (!text.empty() && text.back() == ',') fields.emplace_back();
    return fields;
  };
  const std::vector<std::string> header = split(line);
  if (header_out) *header_out = header;
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto fields = split(line);
    auto& row = rows.emplace_back();
    for (size_t i = 0; i < header.size(); ++i) row[header[i]] = i < fields.size() ? fields[i] : "";
  }
  return rows;
}

size_t pr_count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// a maximized with threshold 0, b minimized with threshold 10, purity ≥ 0.9 to count, and a ≤ −100
// a failure. In "smaller is better" terms the reference is (0, 10).
CampaignConfig pr_constrained() {
  return pr_config(json::parse(R"([{"name": "a", "goal": "maximize", "threshold": 0}, {"name": "b", "goal": "minimize", "threshold": 10}])"),
                   json::parse(R"({"outputs": [{"name": "b", "unit": "kg"}, {"name": "purity"}],
                                   "outcome_constraints": ["purity >= 0.9"], "failure": {"when": ["a <= -100"]}})"));
}

std::vector<json> pr_constrained_outcomes() {
  return {
      {{"a", 1}, {"b", 5}, {"purity", 1}},       // e1: on the front
      {{"a", 2}, {"b", 8}, {"purity", 1}},       // e2: on the front (better a, worse b)
      {{"a", 0.5}, {"b", 6}, {"purity", 1}},     // e3: dominated by e1
      {{"a", 5}, {"b", 1}, {"purity", 0.5}},     // e4: would dominate all, but purity rules it out
      {{"a", 2}, {"b", 8}, {"purity", 0.95}},    // e5: the same objectives as e2: a tie, on the front too
      nullptr,                                   // e6: failed
      {{"a", -200}, {"b", 0.1}, {"purity", 1}},  // e7: the failure condition holds
  };
}

}  // namespace

TEST_CASE("Pareto report: dominated, non-dominated, tied and ruled-out results, with thresholds as the reference", "[pareto_report]") {
  const CampaignConfig config = pr_constrained();
  const CampaignRecord record = pr_record(config, pr_constrained_outcomes());
  REQUIRE(record.objectives.size() == 2);
  CHECK(record.objectives[0].maximize);
  CHECK(record.objectives[1].unit == "kg");
  CHECK(record.conditions);
  CHECK(record.hypervolume_column);
  CHECK(record.reference == std::vector<double>{0, 10});
  CHECK(record.reference_from_threshold == std::vector<bool>{true, true});

  const std::vector<std::optional<bool>> pareto{true, true, false, false, true, std::nullopt, false, std::nullopt};
  const std::vector<std::optional<bool>> counting{true, true, true, false, true, std::nullopt, false, std::nullopt};
  // e1 alone: (0 − (−1))·(10 − 5) = 5; with e2: 5 + 4 − 2 (overlap) = 7; nothing after adds any.
  const std::vector<std::optional<double>> volume{5, 7, 7, 7, 7, 7, 7, std::nullopt};
  REQUIRE(record.experiments.size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    INFO(record.experiments[i].id);
    CHECK(record.experiments[i].pareto == pareto[i]);
    CHECK(record.experiments[i].counts == counting[i]);
    REQUIRE(record.experiments[i].hypervolume.has_value() == volume[i].has_value());
    if (volume[i]) CHECK(*record.experiments[i].hypervolume == Approx(*volume[i]));
  }

  const auto summary = pareto_summary(record);
  REQUIRE(summary);
  REQUIRE(summary->members.size() == 3);
  CHECK(summary->members[0].experiment == "e1");
  CHECK(summary->members[1].experiment == "e2");
  CHECK(summary->members[2].experiment == "e5");
  CHECK(summary->members[1].objectives == std::vector<double>{2, 8});
  CHECK(summary->members[0].params["x"] == 0.0);
  REQUIRE(summary->hypervolume);
  CHECK(*summary->hypervolume == Approx(7));
}

TEST_CASE("Pareto report: results.csv gets counts, pareto and hypervolume at the end, objectives once", "[pareto_report]") {
  test::TempDir dir;
  const CampaignConfig config = pr_constrained();
  write_results_csv(pr_record(config, pr_constrained_outcomes()), dir.path() / "results.csv");
  std::vector<std::string> header;
  const auto rows = pr_rows(dir.path() / "results.csv", &header);
  REQUIRE(header.size() >= 3);
  CHECK(std::vector<std::string>(header.end() - 4, header.end()) == std::vector<std::string>{"proposed_by", "counts", "pareto", "hypervolume"});
  CHECK(std::count(header.begin(), header.end(), "a") == 1);
  CHECK(std::count(header.begin(), header.end(), "b [kg]") == 1);
  REQUIRE(rows.size() == 8);
  CHECK(rows[0].at("pareto") == "1");
  CHECK(rows[0].at("hypervolume") == "5");
  CHECK(rows[1].at("hypervolume") == "7");
  CHECK(rows[2].at("pareto") == "0");
  CHECK(rows[3].at("counts") == "0");
  CHECK(rows[3].at("pareto") == "0");
  CHECK(rows[4].at("pareto") == "1");
  CHECK(rows[5].at("status") == "failed");
  CHECK(rows[5].at("pareto").empty());
  CHECK(rows[5].at("counts").empty());
  CHECK(rows[5].at("hypervolume") == "7");
  CHECK(rows[6].at("counts") == "0");
  CHECK(rows[7].at("status") == "pending");
  CHECK(rows[7].at("hypervolume").empty());
}

TEST_CASE("Pareto report: without thresholds the reference is inferred from every counting result at report time", "[pareto_report]") {
  const CampaignConfig config = pr_config(json::parse(R"([{"name": "f1", "goal": "minimize"}, {"name": "f2", "goal": "minimize"}])"));
  const CampaignRecord record = pr_record(config, {{{"f1", 1}, {"f2", 3}}, {{"f1", 2}, {"f2", 2}}, {{"f1", 3}, {"f2", 1}}, {{"f1", 3}, {"f2", 3}}});
  CHECK_FALSE(record.conditions);
  // Front (1,3), (2,2), (3,1): nadir (3,3) plus 10 % of the range 2 → (3.2, 3.2).
  REQUIRE(record.reference.size() == 2);
  CHECK(record.reference[0] == Approx(3.2));
  CHECK(record.reference[1] == Approx(3.2));
  CHECK(record.reference_from_threshold == std::vector<bool>{false, false});
  CHECK(record.experiments[0].counts == std::nullopt);
  CHECK(*record.experiments[0].hypervolume == Approx(2.2 * 0.2));
  CHECK(*record.experiments[2].hypervolume == Approx(0.2 + 1.2 + 0.44));
  CHECK(*record.experiments[3].hypervolume == Approx(1.84));
  CHECK(record.experiments[3].pareto == false);

  // One threshold given: that objective's entry is the threshold, the other still inferred.
  const CampaignConfig half = pr_config(json::parse(R"([{"name": "f1", "goal": "minimize", "threshold": 5}, {"name": "f2", "goal": "minimize"}])"));
  const CampaignRecord mixed = pr_record(half, {{{"f1", 1}, {"f2", 3}}, {{"f1", 3}, {"f2", 1}}});
  REQUIRE(mixed.reference.size() == 2);
  CHECK(mixed.reference[0] == 5);
  CHECK(mixed.reference[1] == Approx(3 + 0.1 * 2));
  CHECK(mixed.reference_from_threshold == std::vector<bool>{true, false});

  // No counting result and no thresholds: no reference, no hypervolume, still a pareto column.
  const CampaignRecord none = pr_record(config, {nullptr});
  CHECK(none.reference.empty());
  CHECK_FALSE(none.experiments[0].hypervolume);
}

TEST_CASE("Pareto report: a hypervolume past a double is left out, not written as inf, and the summary then has none", "[pareto_report]") {
  const CampaignConfig config = pr_config(json::parse(R"([{"name": "f1", "goal": "minimize", "threshold": 1e200},
                                                         {"name": "f2", "goal": "minimize", "threshold": 1e110}])"));
  // e1 alone: 1e199 × 1e108 = 1e307; with e2 1e200 × 1e110, beyond 1.8e308; e3 adds nothing to it.
  const CampaignRecord record = pr_record(config, {{{"f1", 9e199}, {"f2", 9.9e109}}, {{"f1", 0}, {"f2", 0}}, {{"f1", 1}, {"f2", 1}}});
  REQUIRE(record.experiments[0].hypervolume);
  CHECK(*record.experiments[0].hypervolume == Approx(1e307));
  CHECK_FALSE(record.experiments[1].hypervolume);
  CHECK_FALSE(record.experiments[2].hypervolume);
  const auto summary = pareto_summary(record);
  REQUIRE(summary);
  CHECK(summary->members.size() == 1);
  CHECK_FALSE(summary->hypervolume);  // not e1's, which covers only the first result
}

TEST_CASE("Pareto report: a single-objective campaign's results.csv is unchanged by the goal annotation", "[pareto_report]") {
  test::TempDir dir;
  const CampaignConfig config = pr_config(json::parse(R"([{"name": "y", "goal": "minimize"}])"));
  std::vector<json> events{pr_event(1, "campaign_started", {{"campaign", "mo"}, {"config", config.to_json()}}),
                           pr_event(2, "proposed", {{"experiment", "e1"}, {"params", {{"x", 0.5}}}}),
                           pr_event(3, "dispatched", {{"experiment", "e1"}, {"instrument", "sim"}}),
                           pr_event(4, "result", {{"experiment", "e1"}, {"instrument", "sim"}, {"status", "ok"}, {"values", {{"y", 1.5}}}})};
  CampaignRecord record = summarize(events);
  write_results_csv(record, dir.path() / "plain.csv");
  annotate_goals(config, record);
  CHECK_FALSE(record.conditions);
  CHECK(record.objectives.empty());
  write_results_csv(record, dir.path() / "annotated.csv");
  CHECK(test::read_file(dir.path() / "plain.csv") == test::read_file(dir.path() / "annotated.csv"));
  CHECK_FALSE(pareto_summary(record));
}

TEST_CASE("Pareto report: pareto.svg has one marker per result, the front and the reference, and renders", "[pareto_report]") {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0)
    FAIL("rsvg-convert is not installed: install librsvg2-bin (scripts/install-deps.sh --tests installs it)");
  test::TempDir dir;
  const fs::path svg = dir.path() / "pareto.svg";
  write_pareto_svg(pr_record(pr_constrained(), pr_constrained_outcomes()), svg);
  const std::string text = test::read_file(svg);
  CHECK(pr_count(text, "class=\"result") == 6);  // every ok result; the failed one has no values
  CHECK(pr_count(text, "class=\"result front\"") == 3);
  CHECK(pr_count(text, "class=\"result ruled-out\"") == 2);
  CHECK(pr_count(text, "<polyline class=\"front\"") == 1);
  CHECK(pr_count(text, "class=\"reference\"") == 2);  // the plot's and the legend's
  CHECK_THAT(text, Catch::Matchers::Contains("mo: Pareto front"));
  CHECK_THAT(text, Catch::Matchers::Contains("b [kg] (minimize)"));
  CHECK_THAT(text, Catch::Matchers::Contains("<desc>Pareto front: 3 of 6 results; reference point: a=0 (threshold), b=10 (threshold)</desc>"));
  // The step line: the two distinct front points (e5 ties e2) give 2·2 + 1 vertices.
  const size_t at = text.find("<polyline class=\"front\" points=\"");
  REQUIRE(at != std::string::npos);
  const std::string points = text.substr(at, text.find('"', text.find("points=\"", at) + 8) - at);
  CHECK(pr_count(points, ",") == 5);

  // Three objectives: pairwise panels, each with every result.
  const CampaignConfig three = pr_config(json::parse(R"([{"name": "f1", "goal": "minimize"}, {"name": "f2", "goal": "minimize"}, {"name": "f3", "goal": "maximize"}])"));
  const fs::path grid = dir.path() / "pareto3.svg";
  write_pareto_svg(pr_record(three, {{{"f1", 1}, {"f2", 3}, {"f3", 1}}, {{"f1", 2}, {"f2", 2}, {"f3", 0}}, {{"f1", 3}, {"f2", 3}, {"f3", 0}}}), grid);
  const std::string grid_text = test::read_file(grid);
  CHECK(pr_count(grid_text, "class=\"panel\"") == 3);
  CHECK(pr_count(grid_text, "class=\"result") == 9);
  CHECK(pr_count(grid_text, "class=\"result front\"") == 6);

  for (const fs::path& file : {svg, grid}) {
    const fs::path png = dir.path() / "pareto.png";
    const std::string command = "rsvg-convert -o '" + png.string() + "' '" + file.string() + "' 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    CHECK(test::read_file(png).substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  }
}

TEST_CASE("Pareto report: convergence.svg never calls a ruled-out result the best and draws it hollow", "[pareto_report]") {
  test::TempDir dir;
  const fs::path svg = dir.path() / "convergence.svg";
  // Objective a (maximized): 1, 2, 0.5, 5 (ruled out), 2, failed, −200 (ruled out).
  write_convergence_svg(pr_record(pr_constrained(), pr_constrained_outcomes()), svg);
  const std::string text = test::read_file(svg);
  CHECK(pr_count(text, "class=\"result ruled-out\"") == 1);  // the other is off scale, at the edge
  CHECK(pr_count(text, "class=\"result") == 6);
  CHECK_THAT(text, Catch::Matchers::Contains(">best 2</text>"));
  CHECK_THAT(text, Catch::Matchers::Contains("of which ruled out (2)"));

  // Nothing counts yet: no best, no step line.
  write_convergence_svg(pr_record(pr_constrained(), {{{"a", 5}, {"b", 1}, {"purity", 0.5}}}), svg);
  const std::string none = test::read_file(svg);
  CHECK_THAT(none, Catch::Matchers::Contains("no counting result yet"));
  CHECK(none.find("<polyline") == std::string::npos);
  const fs::path png = dir.path() / "convergence.png";
  CHECK(std::system(("rsvg-convert -o '" + png.string() + "' '" + svg.string() + "' 2>&1").c_str()) == 0);
}

TEST_CASE("Pareto report: pareto.svg stays well-formed XML with control characters and U+FFFF in its texts, and shows recorded values", "[pareto_report][xml]") {
  REQUIRE(std::system("command -v xmllint >/dev/null 2>&1") == 0);
  CampaignRecord record = pr_record(pr_constrained(), pr_constrained_outcomes());
  record.campaign = "mo\x1b[2J";
  record.objectives[0].unit = "mg\uffff";
  record.experiments[0].id = "e\x01";
  labloop::test::TempDir dir;
  const fs::path svg = dir / "pareto.svg";
  write_pareto_svg(record, svg);
  const std::string text = labloop::test::read_file(svg);
  CHECK(std::system(("xmllint --noout '" + svg.string() + "' 2>/dev/null").c_str()) == 0);
  CHECK_THAT(text, Catch::Contains("mg\\uffff") && Catch::Contains("mo\\x1b[2J"));
}
