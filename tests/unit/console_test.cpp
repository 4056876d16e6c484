// The operator console's routes (cli/console.hpp), asked directly: what each answers for the
// campaign folders of earlier versions (tests/fixtures), and what it refuses.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "console.hpp"
#include "labloop/journal/report.hpp"
#include "catalogue.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kConsoleFixtures = fs::path(LABLOOP_SOURCE_DIR) / "tests/fixtures";

cli::ConsoleResponse console_get(const cli::ConsoleSite& site, const std::string& target) { return site.respond("GET", target, "127.0.0.1:8765"); }

json console_json(const cli::ConsoleSite& site, const std::string& target) {
  const cli::ConsoleResponse r = console_get(site, target);
  INFO(target << " → " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/json");
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("Console: /api/campaigns gives each folder's overview, and says why a folder is no campaign", "[console]") {
  test::TempDir empty;
  const cli::ConsoleSite site({kConsoleFixtures / "v0.1.0/finished", kConsoleFixtures / "v0.2.0/goals", empty.path()}, sim::catalogue());
  const json campaigns = console_json(site, "/api/campaigns")["campaigns"];
  REQUIRE(campaigns.size() == 3);
  const json& finished = campaigns[0]["overview"];
  CHECK(campaigns[0]["index"] == 0);
  CHECK(finished["campaign"] == "fixture");
  CHECK(finished["phase"] == "finished");
  CHECK(finished["used"] == 12);
  CHECK(finished["results"] == 12);
  CHECK(finished["best"]["experiment"].is_string());
  CHECK(campaigns[1]["overview"].contains("pareto"));  // two objectives
  CHECK_FALSE(campaigns[2].contains("overview"));
  CHECK_THAT(campaigns[2]["error"].get<std::string>(), Catch::Contains("journal"));
}

TEST_CASE("Console: a campaign's experiments, with params and values as results.csv has them", "[console]") {
  const cli::ConsoleSite site({kConsoleFixtures / "v0.1.0/finished"}, sim::catalogue());
  const json data = console_json(site, "/api/campaigns/0/experiments");
  CHECK(data["campaign"] == "fixture");
  CHECK(data["parameters"] == json::parse(R"([{"name": "x1", "unit": ""}, {"name": "x2", "unit": ""}])"));
  CHECK(data["objective"]["name"] == "y");
  CHECK(data["omitted"] == 0);
  REQUIRE(data["experiments"].size() == 12);
  const json& first = data["experiments"][0];
  CHECK(first["experiment"] == "fixture-0001");
  CHECK(first["status"] == "ok");
  CHECK(first["instrument"] == "sim");
  // The values results.csv holds for it (tests/fixtures/v0.1.0/finished/results.csv).
  CHECK(first["params"]["x1"].get<double>() == 1.9495583267416805);
  CHECK(first["objective"].get<double>() == 48.120065414322674);
  CHECK(first["finished_at"] == "2026-12-02T00:38:23.831Z");

  const cli::ConsoleResponse plot = console_get(site, "/api/campaigns/0/convergence.svg");
  CHECK(plot.status == 200);
  CHECK(plot.content_type == "image/svg+xml");
  CHECK_THAT(plot.body, Catch::StartsWith("<?xml") || Catch::StartsWith("<svg"));
  CHECK_THAT(plot.body, Catch::Contains("fixture: minimize y"));
}

TEST_CASE("Console: only GET, only to this machine, only its own routes", "[console]") {
  const cli::ConsoleSite site({kConsoleFixtures / "v0.1.0/finished"}, sim::catalogue());
  CHECK(site.respond("POST", "/api/campaigns", "127.0.0.1:8765").status == 405);
  CHECK(site.respond("DELETE", "/api/campaigns/0/experiments", "localhost:8765").status == 405);
  CHECK(site.respond("HEAD", "/api/campaigns", "[::1]:8765").status == 200);
  for (const char* host : {"127.0.0.1", "127.0.0.1:8765", "127.1.2.3:80", "LOCALHOST:8765", "localhost"}) CHECK(site.respond("GET", "/api/campaigns", host).status == 200);
  // A name that points here from a web page elsewhere (DNS rebinding) is not answered.
  for (const char* host : {"evil.example:8765", "", "127.0.0.1.evil.example", "127.0.0.1.evil.example:8765", "127.0.0:80", "127.0.0.256:80", "localhost.evil:80",
                           "[::2]:8765", "[::1:8765"}) {
    INFO(host);
    CHECK(site.respond("GET", "/api/campaigns", host).status == 403);
  }
  for (const char* target : {"/api/campaigns/1/experiments", "/api/campaigns/01/experiments", "/api/campaigns/-0/experiments",
                             "/api/campaigns/0x0/experiments", "/api/campaigns/99999999999999999999/experiments", "/api/campaigns/0",
                             "/api/campaigns/0/", "/api/campaigns/0/../../../etc/passwd", "/../journal.jsonl", "/api/campaigns/0/experiments/x",
                             "/journal.jsonl", "/api"}) {
    INFO(target);
    const cli::ConsoleResponse r = console_get(site, target);
    CHECK(r.status == 404);
    CHECK(json::parse(r.body).contains("error"));
  }
  // A request another web page sent: refused before any work (it could not read the answer, but
  // could keep the console busy); the console's own page, a typed address and scripts are answered.
  const auto from = [&](const std::string& origin, const std::string& fetch_site) {
    return site.respond(cli::ConsoleRequest{"GET", "/api/campaigns", "127.0.0.1:8765", origin, fetch_site}).status;
  };
  CHECK(from("http://localhost:18999", "cross-site") == 403);
  CHECK(from("", "same-site") == 403);  // another port of this machine
  CHECK(from("http://127.0.0.1:9999", "") == 403);
  CHECK(from("null", "") == 403);
  CHECK(from("", "same-origin") == 200);
  CHECK(from("", "none") == 200);
  CHECK(from("http://127.0.0.1:8765", "same-origin") == 200);
  CHECK(from("", "") == 200);
  CHECK(site.respond("GET", "/api/campaigns", "[::1].evil.example").status == 403);
  CHECK(site.respond("GET", "/api/campaigns", "[::1]:").status == 403);
  // A query string is not part of the route (the page adds one to fetch the plot afresh).
  CHECK(console_get(site, "/api/campaigns/0/convergence.svg?v=3").status == 200);
  CHECK_THROWS_WITH(cli::ConsoleSite(std::vector<fs::path>(65, kConsoleFixtures), sim::catalogue()), Catch::Contains("at most 64"));
}

TEST_CASE("Console: the page, its script and style are served, and the script never writes a campaign's text as HTML", "[console]") {
  const cli::ConsoleSite site({}, sim::catalogue());
  const cli::ConsoleResponse page = console_get(site, "/");
  CHECK(page.status == 200);
  CHECK_THAT(page.content_type, Catch::StartsWith("text/html"));
  CHECK_THAT(page.body, Catch::Contains("<script src=\"/console.js\""));
  const cli::ConsoleResponse script = console_get(site, "/console.js");
  CHECK_THAT(script.content_type, Catch::StartsWith("text/javascript"));
  CHECK_THAT(script.body, Catch::Contains("textContent"));
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"}) {
    INFO(sink);
    CHECK(script.body.find(sink) == std::string::npos);
  }
  CHECK_THAT(console_get(site, "/console.css").content_type, Catch::StartsWith("text/css"));
  CHECK(console_json(site, "/api/campaigns")["campaigns"].empty());
}
