// The operator console's routes (cli/console.hpp), asked directly: what each answers for the
// campaign folders of earlier versions (tests/fixtures), and what it refuses.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bounded_http_server.hpp"
#include "console.hpp"
#include "serving_pool.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/campaign/stop_request.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"
#include "catalogue.hpp"
#include "journal_edit.hpp"
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

TEST_CASE("Console: a journal whose one line is past the line limit is said to be so, with the limit and the line", "[console]") {
  // A 300 MB one-line journal without a newline was shown as "does not start with a
  // campaign_started event". Sparse: the reader skips its hole, and holds at most the limit.
  test::TempDir dir;
  const fs::path folder = dir / "huge";
  fs::create_directories(folder);
  test::write_file(folder / "journal.jsonl", "{\"seq\":1,\"event\":\"campaign_started\",\"x\":\"");
  fs::resize_file(folder / "journal.jsonl", std::uintmax_t{300} << 20);
  const cli::ConsoleSite site({folder}, sim::catalogue());
  const json campaigns = console_json(site, "/api/campaigns")["campaigns"];
  REQUIRE(campaigns.size() == 1);
  const std::string error = campaigns[0].value("error", "");
  CHECK_THAT(error, Catch::Contains("line 1 is longer than 64 MiB (67108864 bytes)") && Catch::Contains("no whole event"));
  CHECK_THAT(error, !Catch::Contains("campaign_started"));
  // A journal that is there but cannot be read is the server's failure (500), not an address
  // that names nothing (404, which said "no such campaign").
  CHECK(console_get(site, "/api/campaigns/0/experiments").status == 500);
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
  // A POST to an address that is none (a number written otherwise, a trailing slash) is 404, as a
  // GET of it is: a 405 said the method was wrong (a red-team report).
  for (const char* target : {"/api/campaigns/00/entries", "/api/campaigns/-1/entries", "/api/campaigns/0x0/entries",
                             "/api/campaigns/4294967296/entries", "/api/campaigns/0/entries/", "/api/campaigns/00/stop", "/nowhere"}) {
    INFO(target);
    for (const char* method : {"POST", "PUT", "DELETE", "GET"}) {
      const cli::ConsoleResponse r = site.respond(cli::ConsoleRequest{method, target, "127.0.0.1:8765", "", "", "", "application/json", "{}"});
      CHECK(r.status == 404);
      CHECK(json::parse(r.body)["error"] == "no such page");
    }
  }
  CHECK(site.respond("GET", "/api/campaigns/0/entries", "127.0.0.1:8765").status == 405);  // there, and POST only
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

TEST_CASE("Console: what the HTTP server refuses before routing gets the documented status and a JSON error", "[console]") {
  const auto refused = [](const cli::ConsoleRequestHead& head) {
    const std::optional<cli::ConsoleResponse> r = cli::refuse_before_routing(head);
    if (r) CHECK(json::parse(r->body).contains("error"));
    return r ? r->status : 0;
  };
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    INFO(method);
    CHECK(refused({method, true, 3, 1, 1}) == 0);  // routed to the site, which answers each
  }
  // A body without a Content-Length (and not chunked) would be read until the sender closes: a
  // byte every few seconds held a serving thread for good (a red-team report). Refused unread.
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    INFO(method);
    CHECK(refused({method, true, 3, 1, 0}) == 411);
    CHECK(cli::refuse_before_routing({method, true, 3, 1, 0})->body == R"({"error":"send the body with a Content-Length"})");
  }
  for (const char* method : {"GET", "HEAD", "DELETE", "OPTIONS"}) CHECK(refused({method, true, 3, 1, 0}) == 0);
  for (const char* method : {"TRACE", "CONNECT", "PRI"}) {
    INFO(method);
    CHECK(refused({method, true, 3, 1, 0}) == 405);
  }
  CHECK(refused({"FOO", false}) == 405);  // one the server does not know, headers unread
  CHECK(refused({"GET", true, 3, 2, 0}) == 400);
  CHECK_THAT(cli::refuse_before_routing({"GET", true, 3, 2, 0})->body, Catch::Contains("more than one Host"));
  CHECK(refused({"POST", true, 3, 1, 2}) == 400);
  CHECK_THAT(cli::refuse_before_routing({"POST", true, 3, 1, 2})->body, Catch::Contains("more than one Content-Length"));
  // The headers a request is judged by, each given twice: refused, never judged by the first copy
  // (which is all the HTTP server hands over: an Origin of its own page, then another page's).
  for (const char* name : cli::kJudgedHeaders) {
    INFO(name);
    cli::ConsoleRequestHead head{"POST", true, 4, 1, 1};
    head.repeated = name;
    CHECK(refused(head) == 400);
    CHECK(cli::refuse_before_routing(head)->body == fmt::format(R"({{"error":"the request has more than one {} header"}})", name));
  }
  CHECK(refused({"GET", true, 101, 1, 0}) == 431);
  CHECK(refused({"GET", true, 3, 1, 0, true}) == 416);
  CHECK(cli::refuse_before_routing({"GET", true, 3, 1, 0, true})->body == R"({"error":"the console does not serve ranges"})");
  CHECK(refused({"POST", true, 3, 1, 0, false, true}) == 411);
  CHECK(refused({"GET", true, 101, 1, 0, true, true}) == 431);  // each its own status, whatever else comes with it
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

namespace {

// A copy of a campaign 0.2.0 left with one experiment waiting for a person (bench-chemist; outputs
// yield, required, and purity, both 0–100 %), so entries can be written into its inbox.
const std::string kWaiting = "signed-f8808d37c039-0005";
const std::string kConsoleKey = "0123456789abcdef0123456789abcdef";

fs::path waiting_campaign(const test::TempDir& dir) {
  fs::copy(kConsoleFixtures / "v0.2.0/signed", dir / "signed", fs::copy_options::recursive);
  return dir / "signed";
}

cli::ConsoleResponse post_entry(const cli::ConsoleSite& site, const std::string& body, const std::string& key = kConsoleKey,
                                const std::string& origin = "", const std::string& content_type = "application/json") {
  return site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/entries", "127.0.0.1:8765", origin, "", key, content_type, body});
}

std::string error_of(const cli::ConsoleResponse& r) {
  const json j = json::parse(r.body);
  return j.contains("error") ? j["error"].get<std::string>() : "";
}

}  // namespace

TEST_CASE("Console: a result entered at the page is checked as labloop enter checks it, and saved only when it passes", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  CHECK(console_json(site, "/api/campaigns")["entries"] == true);

  const json pending = console_json(site, "/api/campaigns/0/pending");
  CHECK(pending["entries"] == true);
  CHECK(pending["running"] == false);
  CHECK(pending["outputs"] == json::parse(R"([{"name": "yield", "unit": "%", "low": 0.0, "high": 100.0, "required": true},
                                              {"name": "purity", "unit": "%", "low": 0.0, "high": 100.0, "required": false}])"));
  REQUIRE(pending["pending"].size() == 1);
  CHECK(pending["pending"][0]["experiment"] == kWaiting);
  CHECK(pending["pending"][0]["instrument"] == "bench-chemist");
  CHECK(pending["pending"][0]["params"]["solvent"] == "dioxane");
  CHECK_FALSE(pending["pending"][0].contains("entered"));

  // Refused with enter's reasons, status 422, and nothing saved.
  const auto refused = [&](const std::string& body) {
    const cli::ConsoleResponse r = post_entry(site, body);
    INFO(body << " → " << r.status << " " << r.body);
    CHECK(r.status == 422);
    CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));
    return error_of(r);
  };
  const std::string head = R"({"experiment": ")" + kWaiting + R"(", )";
  CHECK_THAT(refused(head + R"("values": {"yield": "715"}})"), Catch::Contains("yield = 715 is above its declared range (high 100 %)"));
  CHECK_THAT(refused(head + R"("values": {"yield": "71.5", "purity": "9O"}})"), Catch::Contains("purity: \"9O\" is not a number"));
  CHECK_THAT(refused(head + R"("values": {"yield": "0x10"}})"), Catch::Contains("not a number in decimal notation"));
  CHECK_THAT(refused(head + R"("values": {"yield": "nan"}})"), Catch::Contains("is not a finite number"));
  CHECK_THAT(refused(head + R"("values": {"yield": ""}})"), Catch::Contains("yield"));
  CHECK_THAT(refused(head + R"("values": {"yeild": "71.5"}})"), Catch::Contains("did you mean \"yield\""));
  CHECK_THAT(refused(head + R"("values": {"purity": "90"}})"), Catch::Contains("the objective \"yield\" is missing"));
  CHECK_THAT(refused(head + R"("values": {}})"), Catch::Contains("give the measured values, or why it failed"));
  CHECK_THAT(refused(head + R"("failed": ""})"), Catch::Contains("say why it failed"));
  CHECK_THAT(refused(head + R"("values": {"yield": "5"}, "failed": "clogged"})"), Catch::Contains("not both"));
  CHECK_THAT(refused(head + R"("values": {"yield": "5"}, "by": ")" + std::string(1001, 'a') + "\"}"), Catch::Contains("at most 1000 bytes"));
  CHECK_THAT(refused(R"({"experiment": "signed-f8808d37c039-0004", "values": {"yield": "5"}})"), Catch::Contains("already has its outcome"));
  CHECK_THAT(refused(R"({"experiment": "signed-f8808d37c039-0099", "values": {"yield": "5"}})"), Catch::Contains("has no experiment"));

  // Requests that are not entries at all: 400, 415.
  for (const std::string& body : {std::string("yield=5"), std::string("[1]"), std::string(R"({"experiment": 5})"),
                                 head + R"("values": {"yield": ["5"]}})", head + R"("values": [5]})", head + R"("values": {"yield": "5"}, "note": "x"})",
                                 std::string(R"({"experiment": ")") + kWaiting + R"(", "values": {"yield": {"v": 5}}})",
                                 head + R"("values": {"yield": 1e999}})", std::string(100000, '[')}) {
    INFO(body.substr(0, 80));
    CHECK(post_entry(site, body).status == 400);
  }
  CHECK(post_entry(site, head + R"("values": {"yield": "5"}})", kConsoleKey, "", "text/plain").status == 415);
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));

  // Accepted: saved in the inbox as `labloop enter` saves it, with who and from where.
  const cli::ConsoleResponse saved = post_entry(site, head + R"("values": {"yield": "71.5", "purity": 93}, "by": "Ann"})");
  INFO(saved.body);
  REQUIRE(saved.status == 200);
  const json answer = json::parse(saved.body);
  CHECK(answer["entered"] == kWaiting);
  CHECK(answer["values"]["yield"] == 71.5);
  CHECK_THAT(answer["message"].get<std::string>(), Catch::Contains("not running"));
  const std::optional<ManualEntry> entry = read_entry(campaign, kWaiting);
  REQUIRE(entry);
  CHECK(entry->values == std::map<std::string, double>{{"yield", 71.5}, {"purity", 93}});
  CHECK(entry->by == "Ann");
  CHECK(entry->source == "console");
  // Never replaced, and the pending list says who entered it.
  const cli::ConsoleResponse again = post_entry(site, head + R"("values": {"yield": "17.5"}})");
  CHECK(again.status == 422);
  CHECK_THAT(error_of(again), Catch::Contains("already has an entered result by Ann"));
  CHECK(read_entry(campaign, kWaiting)->values.at("yield") == 71.5);
  const json after = console_json(site, "/api/campaigns/0/pending");
  CHECK(after["pending"][0]["entered"]["by"] == "Ann");
  // A write the folder fails (its inbox not a folder: as a full or read-only disk) is the server's
  // failure, 500, not a refusal of what the person typed (422).
  fs::remove_all(inbox_dir(campaign));
  test::write_file(inbox_dir(campaign), "not a folder");
  const cli::ConsoleResponse unsaved = post_entry(site, head + R"("values": {"yield": "17.5"}})");
  CHECK(unsaved.status == 500);
  CHECK_THAT(error_of(unsaved), Catch::StartsWith("not saved: "));
  fs::remove(inbox_dir(campaign));
}

TEST_CASE("Console: entering needs the console's key, its own page and POST, and a read-only console takes none", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const std::string entry = R"({"experiment": ")" + kWaiting + R"(", "values": {"yield": "50"}})";
  {
    const cli::ConsoleSite read_only({campaign}, sim::catalogue());
    CHECK(console_json(read_only, "/api/campaigns")["entries"] == false);
    CHECK(console_json(read_only, "/api/campaigns/0/pending")["entries"] == false);
    const cli::ConsoleResponse r = post_entry(read_only, entry);
    CHECK(r.status == 403);
    CHECK_THAT(error_of(r), Catch::Contains("--read-only"));
    CHECK(post_entry(read_only, entry, "").status == 403);
  }
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  CHECK(post_entry(site, entry, "").status == 401);
  CHECK_THAT(error_of(post_entry(site, entry, "")), Catch::Contains("#key="));
  for (const std::string& key : {std::string("0123456789abcdef0123456789abcdee"), kConsoleKey.substr(1), kConsoleKey + "0", std::string(32, '0')}) {
    INFO(key);
    CHECK(post_entry(site, entry, key).status == 403);
  }
  // Another web page cannot post one, even with the key (it would not have it; this is the second lock).
  CHECK(post_entry(site, entry, kConsoleKey, "http://evil.example").status == 403);
  CHECK(site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/entries", "evil.example:8765", "", "", kConsoleKey, "application/json", entry}).status == 403);
  CHECK(site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/entries", "127.0.0.1:8765", "", "cross-site", kConsoleKey, "application/json", entry}).status == 403);
  CHECK(site.respond(cli::ConsoleRequest{"PUT", "/api/campaigns/0/entries", "127.0.0.1:8765", "", "", kConsoleKey, "application/json", entry}).status == 405);
  CHECK(site.respond(cli::ConsoleRequest{"GET", "/api/campaigns/0/entries", "127.0.0.1:8765", "", "", kConsoleKey, "", ""}).status == 405);
  CHECK(site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/1/entries", "127.0.0.1:8765", "", "", kConsoleKey, "application/json", entry}).status == 404);
  CHECK(site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/pending", "127.0.0.1:8765", "", "", kConsoleKey, "application/json", entry}).status == 405);
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));

  // Its own page, with the key: saved; no name given, so the user who started the console.
  const cli::ConsoleResponse saved = post_entry(site, R"({"experiment": ")" + kWaiting + R"x(", "failed": "no product (TLC)"})x", kConsoleKey,
                                                "http://127.0.0.1:8765", "application/json; charset=utf-8");
  INFO(saved.body);
  REQUIRE(saved.status == 200);
  const std::optional<ManualEntry> failed = read_entry(campaign, kWaiting);
  REQUIRE(failed);
  CHECK(failed->failed == "no product (TLC)");
  CHECK(failed->by == "the-operator");
  CHECK(cli::new_console_key().size() == 32);
  CHECK(cli::new_console_key() != cli::new_console_key());
}

TEST_CASE("Console: people entering the same experiment at once: one entry is saved, the others are told whose it is", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  constexpr int kPeople = 8;
  std::vector<int> status(kPeople);
  std::vector<std::thread> people;
  for (int i = 0; i < kPeople; ++i)
    people.emplace_back([&, i] {
      status[i] = post_entry(site, R"({"experiment": ")" + kWaiting + R"(", "values": {"yield": ")" + std::to_string(10 + i) + R"("}, "by": "p)" +
                                       std::to_string(i) + "\"}")
                      .status;
    });
  for (auto& p : people) p.join();
  CHECK(std::count(status.begin(), status.end(), 200) == 1);
  CHECK(std::count(status.begin(), status.end(), 422) == kPeople - 1);
  const std::optional<ManualEntry> entry = read_entry(campaign, kWaiting);
  REQUIRE(entry);
  const int winner = static_cast<int>(std::find(status.begin(), status.end(), 200) - status.begin());
  // The saved entry is the one that was told it was saved.
  CHECK(entry->by == "p" + std::to_string(winner));
  CHECK(entry->values.at("yield") == 10 + winner);
  CHECK(std::distance(fs::directory_iterator(inbox_dir(campaign)), fs::directory_iterator()) == 5);  // 4 before, no temporary left
}

TEST_CASE("Console: a campaign of several objectives has its Pareto front as pareto.svg, and one of one objective has none", "[console]") {
  const cli::ConsoleSite site({kConsoleFixtures / "v0.2.0/goals", kConsoleFixtures / "v0.1.0/finished"}, sim::catalogue());
  const cli::ConsoleResponse front = console_get(site, "/api/campaigns/0/pareto.svg");
  CHECK(front.status == 200);
  CHECK(front.content_type == "image/svg+xml");
  CHECK_THAT(front.body, Catch::Contains("goals: Pareto front") && Catch::Contains("Pareto front: 5 of 14 results"));
  const cli::ConsoleResponse none = console_get(site, "/api/campaigns/1/pareto.svg");
  CHECK(none.status == 404);
  CHECK_THAT(error_of(none), Catch::Contains("one objective"));
}

TEST_CASE("Console: an entry with a key given twice, a blank reason or a blank name is treated as enter treats it", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const std::string head = R"({"experiment": ")" + kWaiting + R"(", )";
  for (const std::string& body : {head + R"("values": {"yield": "5", "yield": "50"}})", head + R"("values": {"yield": "5", "yi\u0065ld": "50"}})",
                                  head + R"("values": {"yield": "5"}, "by": "Ann", "by": "Bob"})",
                                  head + R"("experiment": "x", "values": {"yield": "5"}})"}) {
    INFO(body);
    const cli::ConsoleResponse r = post_entry(site, body);
    CHECK(r.status == 422);
    CHECK_THAT(error_of(r), Catch::Contains("is given twice"));
  }
  const cli::ConsoleResponse blank = post_entry(site, head + R"("failed": " \t "})");
  CHECK(blank.status == 422);
  CHECK_THAT(error_of(blank), Catch::Contains("say why it failed"));
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));
  // A blank name sent is refused, as enter --by "   " is (it recorded the operator, a red-team
  // report); leaving "by" out records the operator.
  for (const char* by : {R"("")", R"("  ")", R"(" \t ")"}) {
    INFO(by);
    const cli::ConsoleResponse nobody = post_entry(site, head + R"("values": {"yield": "5"}, "by": )" + by + "}");
    CHECK(nobody.status == 400);
    CHECK(error_of(nobody) == "\"by\" is blank: give a name, or leave \"by\" out to record the user who started the console");
  }
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));
  const cli::ConsoleResponse marked = post_entry(site, head + R"("values": {"yield": "5"}, "by": "\u200fnna\u2028evil"})");
  CHECK(marked.status == 422);
  CHECK_THAT(error_of(marked), Catch::EndsWith("your name (\"by\") holds a bidirectional mark (\\u200f); write it as plain text on one line"));
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));
  REQUIRE(post_entry(site, head + R"("values": {"yield": "5"}})").status == 200);
  CHECK(read_entry(campaign, kWaiting)->by == "the-operator");
  // The experiment itself named twice: the duplication is named, not the last copy's id.
  const cli::ConsoleResponse twice = post_entry(site, head + R"("experiment": "other", "values": {"yield": "5"}})");
  CHECK(twice.status == 422);
  CHECK_THAT(error_of(twice), Catch::Contains("\"experiment\" is given twice"));
  CHECK_THAT(error_of(twice), !Catch::Contains("other"));
  // A number too large for a double: the same words whether typed as text or as a JSON number.
  for (const char* value : {R"("1e999")", "1e999", "-1e999"}) {
    INFO(value);
    const cli::ConsoleResponse huge = post_entry(site, head + R"("values": {"yield": )" + value + "}}");
    CHECK((huge.status == 400 || huge.status == 422));
    CHECK_THAT(error_of(huge), Catch::Contains("too large for a number"));
  }
  CHECK_THAT(error_of(post_entry(site, head + R"("values": {"yield": 5)")), Catch::Contains("the entry is not JSON"));  // torn
  // A Host whose port is not a number is not this machine's.
  CHECK(site.respond("GET", "/api/campaigns", "127.0.0.1:evil").status == 403);
  CHECK(site.respond("GET", "/api/campaigns", "localhost:").status == 403);
}

TEST_CASE("enter --csv: a settings column must hold what the experiment was sent; an edited one refuses the row", "[manual][console]") {
  // pending --csv writes the settings sent; a person who changed one ("it ran at 80") had the
  // result recorded for the settings sent, without a word (red-team report).
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const CampaignView view = campaign_view(campaign, sim::catalogue());
  const json& sent = view.state.experiment(kWaiting)->params;
  const double temperature = sent["temperature"].get<double>();
  const auto row_with = [&](const std::string& temperature_cell, const std::string& solvent_cell, const std::string& rest) {
    test::write_file(dir / "done.csv", "experiment,temperature [C],solvent,yield,failed\n" + kWaiting + "," + temperature_cell + "," + solvent_cell + "," + rest + "\n");
    const EntryFile file = read_entry_csv(dir / "done.csv", view.config);
    REQUIRE(file.entries.size() == 1);
    CHECK(file.ignored_columns.empty());
    ManualEntry e = file.entries[0];
    e.by = "ann";
    return check_entry(view.config, view.state, e);
  };
  const std::string solvent = sent["solvent"].get<std::string>();
  // As written, as a person retypes it (more digits, padding), or left empty: taken.
  CHECK(row_with(fmt::format("{}", temperature), solvent, "50,").empty());
  CHECK(row_with(fmt::format("{:.12f}", temperature), solvent, "50,").empty());
  CHECK(row_with("", "", "50,").empty());
  // Another value, or another choice: refused, naming both.
  CHECK_THAT(row_with(fmt::format("{}", temperature + 5), solvent, "50,"),
             Catch::StartsWith(fmt::format("its temperature column reads {}, but {} was sent with temperature = ", temperature + 5, kWaiting)) &&
                 Catch::Contains("enter it as failed and say so"));
  CHECK_THAT(row_with(fmt::format("{}", temperature), solvent == "THF" ? "toluene" : "THF", "50,"), Catch::Contains("its solvent column reads"));
  // A failed one may say it ran otherwise.
  CHECK(row_with(fmt::format("{}", temperature + 5), solvent, ",ran at the wrong temperature").empty());
}

TEST_CASE("Console: a refusal names the page's fields, not labloop enter's options", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const std::string head = R"({"experiment": ")" + kWaiting + R"(", )";
  // What the person at the page was told: the field's label, never "give --by" or "yield=VALUE".
  const auto refusal = [&](const std::string& body) {
    const cli::ConsoleResponse r = post_entry(site, body);
    INFO(body << " → " << r.status << " " << r.body);
    CHECK(r.status == 422);
    const std::string error = error_of(r);
    CHECK_THAT(error, !Catch::Contains("--") && !Catch::Contains("=VALUE") && !Catch::Contains("labloop "));
    return error;
  };
  CHECK_THAT(refusal(head + R"("values": {"purity": "90"}})"),
             Catch::EndsWith("the objective \"yield\" is missing (fill in its box, or say why it failed and press Enter as failed)"));
  CHECK_THAT(refusal(head + R"("values": {"yield": "5"}, "by": "a\nb"})"), Catch::Contains("your name (\"by\") holds a line break"));
  CHECK_THAT(refusal(head + R"("values": {"yield": "5"}, "by": ")" + std::string(1001, 'a') + "\"}"),
             Catch::Contains("your name (\"by\") is 1001 bytes long"));
  CHECK_THAT(refusal(head + R"("failed": "clogged\u202e"})"), Catch::Contains("why it failed (\"failed\") holds a bidirectional control"));
  CHECK_THAT(refusal(head + R"("values": {"yield": "5"}, "failed": "clogged"})"), Catch::EndsWith("give either values or why it failed, not both"));
  CHECK_THAT(refusal(R"({"experiment": "signed-f8808d37c039-0099", "values": {"yield": "5"}})"), Catch::Contains("the page lists those waiting"));
  // labloop enter keeps its own words.
  const CampaignView view = campaign_view(campaign, sim::catalogue());
  ManualEntry typed;
  typed.experiment = kWaiting;
  typed.by = "ann";
  typed.values = {{"purity", 90}};
  CHECK_THAT(check_entry(view.config, view.state, typed), Catch::Contains("(give yield=VALUE, or --failed \"reason\" when the experiment failed)"));
  typed.by = "a\nb";
  CHECK_THAT(check_entry(view.config, view.state, typed), Catch::StartsWith("who entered it (--by) holds a line break"));
  CHECK_FALSE(fs::exists(entry_path(campaign, kWaiting)));
}

TEST_CASE("Console: a name or reason is kept trimmed, as labloop enter keeps it: \"  Ann \" is Ann", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const std::string head = R"({"experiment": ")" + kWaiting + R"(", )";
  // "  Ann " is Ann (the page trims what is typed, a script's request is trimmed here), and a value
  // with a space after it is the number, as one with a space before it always was.
  const cli::ConsoleResponse saved = post_entry(site, head + R"("values": {"yield": " 71.5 "}, "by": "  Ann \t"})");
  INFO(saved.body);
  REQUIRE(saved.status == 200);
  CHECK(json::parse(saved.body)["by"] == "Ann");
  CHECK(read_entry(campaign, kWaiting)->by == "Ann");
  CHECK(read_entry(campaign, kWaiting)->values.at("yield") == 71.5);
  // Blanks of other scripts are blanks: a failure whose reason is an ideographic space has none.
  const cli::ConsoleResponse blank = post_entry(site, head + R"("failed": "\u3000", "by": "Ann"})");
  CHECK(blank.status == 422);
  CHECK_THAT(error_of(blank), Catch::Contains("say why it failed"));
  const cli::ConsoleResponse nobody = post_entry(site, head + R"("values": {"yield": 5}, "by": "\u00a0"})");
  CHECK(nobody.status == 400);
}

TEST_CASE("Console: a folder given through a link to its journal gets its entries in the campaign's own inbox", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  fs::create_directories(dir / "alias");
  fs::create_symlink(campaign / "journal.jsonl", dir / "alias/journal.jsonl");
  const cli::ConsoleSite site({dir / "alias/journal.jsonl"}, sim::catalogue(), {kConsoleKey, "the-operator"});
  REQUIRE(post_entry(site, R"({"experiment": ")" + kWaiting + R"(", "values": {"yield": "5"}})").status == 200);
  CHECK(read_entry(campaign, kWaiting));
  CHECK_FALSE(fs::exists(dir / "alias/inbox"));
}

TEST_CASE("Console: a link in the inbox under an experiment's name is shown as the reason it cannot be entered", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  fs::create_symlink(dir / "nowhere.json", entry_path(campaign, kWaiting));
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const json pending = console_json(site, "/api/campaigns/0/pending");
  REQUIRE(pending["pending"].size() == 1);
  CHECK_THAT(pending["pending"][0]["unreadable"].get<std::string>(), Catch::Contains("is a symbolic link"));
  const cli::ConsoleResponse r = post_entry(site, R"({"experiment": ")" + kWaiting + R"(", "values": {"yield": "5"}})");
  CHECK(r.status == 422);
  CHECK_THAT(error_of(r), Catch::Contains("is in the way") && Catch::Contains("remove it"));
  CHECK_FALSE(fs::exists(dir / "nowhere.json"));
}

TEST_CASE("Console: a stop is asked of a running campaign only, with the key, and written for the campaign to act on", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const auto ask = [&](const std::string& body, const std::string& key = kConsoleKey) {
    return site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/stop", "127.0.0.1:8765", "", "", key, "application/json", body});
  };
  const cli::ConsoleResponse idle = ask(R"({"reason": "why"})");
  CHECK(idle.status == 409);
  CHECK_THAT(error_of(idle), Catch::Contains("not running"));
  CHECK_FALSE(fs::exists(stop_request_path(campaign)));

  Journal held(campaign / "journal.jsonl");  // as the running campaign holds it
  CHECK(ask(R"({"reason": "why"})", "").status == 401);
  CHECK(ask(R"({"reason": "why"})", std::string(32, '0')).status == 403);
  CHECK(cli::ConsoleSite({campaign}, sim::catalogue()).respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/stop", "127.0.0.1:8765", "", "",
                                                                                   kConsoleKey, "application/json", "{}"}).status == 403);
  CHECK(site.respond(cli::ConsoleRequest{"GET", "/api/campaigns/0/stop", "127.0.0.1:8765", "", "", kConsoleKey, "", ""}).status == 405);
  CHECK(site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/stop", "127.0.0.1:8765", "http://evil.example", "", kConsoleKey,
                                         "application/json", "{}"}).status == 403);
  for (const std::string& body : {std::string("[]"), std::string(R"({"reason": 5})"), std::string(R"({"when": "now"})"),
                                  std::string(R"({"reason": "a", "reason": "b"})"), std::string(R"({"reason": {"x": 1}})"),
                                  R"({"reason": ")" + std::string(1001, 'x') + "\"}", std::string("not json")}) {
    INFO(body.substr(0, 60));
    CHECK(ask(body).status == 400);
  }
  // Who and why as an entry's: plain text (a bidi mark, a line separator named as \uXXXX), and a
  // name, when one is sent, not blank.
  CHECK(error_of(ask(R"({"by": "\u200fx", "reason": "a"})")) == "\"by\" holds a bidirectional mark (\\u200f); write it as plain text on one line");
  CHECK(error_of(ask(R"({"reason": "a\u2028b"})")) == "\"reason\" holds a line or paragraph separator (\\u2028); write it as plain text on one line");
  CHECK(error_of(ask(R"({"by": "   "})")) == "\"by\" is blank: give a name, or leave \"by\" out to record the user who started the console");
  CHECK_FALSE(fs::exists(stop_request_path(campaign)));

  const cli::ConsoleResponse asked = ask(R"({"by": "Ann", "reason": "reagent ran out"})");
  INFO(asked.body);
  REQUIRE(asked.status == 200);
  CHECK(json::parse(asked.body)["asked"] == true);
  const std::optional<StopRequest> request = read_stop_request(campaign);
  REQUIRE(request);
  CHECK(request->by == "Ann");
  CHECK(request->reason == "reagent ran out");
  CHECK(request->source == "console");
  CHECK_THAT(test::read_file(stop_request_path(campaign)), Catch::Contains(R"("source":"console")"));
  // Asked again before the campaign acted: the first request stands.
  const cli::ConsoleResponse again = ask(R"({"by": "Bob"})");
  CHECK(again.status == 200);
  CHECK(json::parse(again.body)["asked"] == false);
  CHECK_THAT(json::parse(again.body)["message"].get<std::string>(), Catch::Contains("already asked by Ann"));
  CHECK(read_stop_request(campaign)->by == "Ann");
  // No name: the user who started the console.
  remove_stop_request(campaign);
  REQUIRE(ask("").status == 200);
  CHECK(read_stop_request(campaign)->by == "the-operator");
  remove_stop_request(campaign);
  // Text only: it goes to the journal and to terminals.
  for (const char* body : {R"({"by": "Ann\u001b[2J"})", R"({"reason": "line\nbreak"})", R"({"reason": "nul\u0000"})"}) {
    INFO(body);
    CHECK(ask(body).status == 400);
  }
  // Once the campaign has taken a request it is stopping: nothing more is asked.
  held.append(std::string(event_name(StopRequestedEvent{"Ann", "why", "console"})), encode_fields(StopRequestedEvent{"Ann", "why", "console"}));
  const cli::ConsoleResponse stopping = ask(R"({"by": "Bob"})");
  CHECK(stopping.status == 200);
  CHECK(json::parse(stopping.body)["asked"] == false);
  CHECK_THAT(json::parse(stopping.body)["message"].get<std::string>(), Catch::Contains("stopping already, as Ann asked"));
  CHECK_FALSE(read_stop_request(campaign));
  // A second request the campaign took while it stopped (two people at once, the console's reading
  // a moment old) is journaled, but Ann's stopped it: status named the last (a red-team report).
  held.append(std::string(event_name(StopRequestedEvent{"Bob", "too", "console"})), encode_fields(StopRequestedEvent{"Bob", "too", "console"}));
  const CampaignState state = CampaignState::fold(decode_events(read_journal(campaign / "journal.jsonl").events, "journal.jsonl"));
  REQUIRE(state.stop_request());
  CHECK(state.stop_request()->by == "Ann");
}

TEST_CASE("Console: a stop that comes after the campaign's last look is refused, not answered as asked", "[console]") {
  test::TempDir dir;
  const fs::path campaign = waiting_campaign(dir);
  const cli::ConsoleSite site({campaign}, sim::catalogue(), {kConsoleKey, "the-operator"});
  const auto ask = [&](const std::string& by) {
    return site.respond(cli::ConsoleRequest{"POST", "/api/campaigns/0/stop", "127.0.0.1:8765", "", "", kConsoleKey, "application/json",
                                            json{{"by", by}}.dump()});
  };
  Journal held(campaign / "journal.jsonl");  // still held: the console sees it running
  // Ann's request lands before the campaign's last look, which records it with the finish.
  REQUIRE(json::parse(ask("Ann").body)["asked"] == true);
  std::vector<std::string> recorded;
  close_stop_requests(campaign, [&](const StopRequest& r) { recorded.push_back(r.by); });
  CHECK(recorded == std::vector<std::string>{"Ann"});
  // Bob's lands after it, the journal not yet let go: refused, and he is told why.
  const cli::ConsoleResponse late = ask("Bob");
  INFO(late.body);
  CHECK(late.status == 409);
  CHECK_THAT(error_of(late), Catch::Contains("finished before the request was read"));
  CHECK_FALSE(read_stop_request(campaign));
}

TEST_CASE("Console: a folder of campaigns shows each, those started later too, each keeping its number", "[console]") {
  test::TempDir dir;
  const fs::path runs = dir / "runs";
  fs::create_directories(runs / "notes");  // a folder without a journal: not a campaign
  fs::copy(kConsoleFixtures / "v0.1.0/finished", runs / "b", fs::copy_options::recursive);
  fs::copy(kConsoleFixtures / "v0.2.0/goals", runs / "a", fs::copy_options::recursive);
  const cli::ConsoleSite site({runs, dir / "not-yet"}, sim::catalogue());
  const auto folders = [&] {
    std::vector<std::string> names;
    const json answer = console_json(site, "/api/campaigns");
    for (const json& c : answer["campaigns"]) names.push_back(fs::path(c["folder"].get<std::string>()).filename().string());
    return names;
  };
  CHECK(folders() == std::vector<std::string>{"a", "b", "not-yet"});
  CHECK(console_json(site, "/api/campaigns/0/experiments")["campaign"] == "goals");
  // Started later, one of them sorting first: shown after the others, and the others keep their numbers.
  fs::copy(kConsoleFixtures / "v0.2.0/goals", runs / "0-early", fs::copy_options::recursive);
  fs::copy(kConsoleFixtures / "v0.1.0/finished", runs / "c", fs::copy_options::recursive);
  CHECK(folders() == std::vector<std::string>{"a", "b", "not-yet", "0-early", "c"});
  CHECK(console_json(site, "/api/campaigns/0/experiments")["campaign"] == "goals");
  CHECK(console_json(site, "/api/campaigns/4/experiments")["campaign"] == "fixture");
  CHECK_FALSE(console_json(site, "/api/campaigns").contains("not_shown"));
  {  // One whose journal.jsonl is no file (a folder here) is shown with why it cannot be read, not left out.
    fs::create_directories(dir / "more" / "odd" / "journal.jsonl");
    fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / "more" / "good", fs::copy_options::recursive);
    const cli::ConsoleSite more({dir / "more"}, sim::catalogue());
    const json answer = console_json(more, "/api/campaigns");
    REQUIRE(answer["campaigns"].size() == 2);
    CHECK(fs::path(answer["campaigns"][1]["folder"].get<std::string>()).filename() == "odd");
    CHECK_THAT(answer["campaigns"][1]["error"].get<std::string>(), Catch::Contains("is a folder, not a regular file"));
  }

  // At most 64: the rest are counted, not shown.
  for (int i = 0; i < 62; ++i) fs::copy(kConsoleFixtures / "v0.1.0/finished", runs / fmt::format("more-{:02}", i), fs::copy_options::recursive);
  const json many = console_json(site, "/api/campaigns");
  CHECK(many["campaigns"].size() == cli::ConsoleSite::kMostCampaigns);
  CHECK(many["not_shown"] == 5 + 62 - 64);
}

TEST_CASE("Console: one campaign however it is named is shown once, and a folder given empty gives way to the campaigns started in it", "[console]") {
  test::TempDir dir;
  fs::create_directories(dir / "runs");
  fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / "runs/a", fs::copy_options::recursive);
  fs::create_symlink(dir / "runs/a", dir / "link-to-a");
  fs::create_directories(dir / "empty");
  const cli::ConsoleSite site({dir / "runs/a", dir / "runs/a/", dir / "runs/./a", dir / "link-to-a", dir / "runs/a/journal.jsonl", dir / "empty"},
                              sim::catalogue());
  const auto shown = [&] {
    std::vector<std::string> names;
    const json answer = console_json(site, "/api/campaigns");
    for (const json& c : answer["campaigns"]) names.push_back(c["folder"].get<std::string>());
    return names;
  };
  CHECK(shown() == std::vector<std::string>{(dir / "runs/a").string(), (dir / "empty").string()});
  // A campaign started in the empty folder: the folder's place goes, the campaign gets one.
  fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / "empty/first", fs::copy_options::recursive);
  CHECK(shown() == std::vector<std::string>{(dir / "runs/a").string(), (dir / "empty/first").string()});
  CHECK(console_json(site, "/api/campaigns")["campaigns"][1]["index"] == 2);  // numbers stay
  // The folder's place, no longer shown, is none of the 64 shown (63 were, the limit said "63").
  for (int i = 0; i < 63; ++i) fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / fmt::format("empty/more-{:02}", i), fs::copy_options::recursive);
  const json many = console_json(site, "/api/campaigns");
  CHECK(many["campaigns"].size() == cli::ConsoleSite::kMostCampaigns);
  CHECK(many["not_shown"] == 1);
  CHECK(many["most_shown"] == cli::ConsoleSite::kMostCampaigns);
  // A campaign that had not started when the console began keeps its one place once it has.
  test::TempDir later;
  const cli::ConsoleSite waiting({later / "c"}, sim::catalogue());
  CHECK(waiting.campaign_count() == 1);
  fs::copy(kConsoleFixtures / "v0.1.0/finished", later / "c", fs::copy_options::recursive);
  (void)waiting.respond("GET", "/api/campaigns", "127.0.0.1:8765");
  CHECK(waiting.campaign_count() == 1);
}

TEST_CASE("Console: campaigns whose journals link into one archive are two, and a folder that cannot be looked at hides no other", "[console]") {
  test::TempDir dir;
  fs::create_directories(dir / "archive");
  fs::create_directories(dir / "runs/a");
  fs::create_directories(dir / "runs/b");
  fs::copy(kConsoleFixtures / "v0.1.0/finished/journal.jsonl", dir / "archive/a.jsonl");
  fs::copy(kConsoleFixtures / "v0.2.0/goals/journal.jsonl", dir / "archive/b.jsonl");
  fs::create_symlink(dir / "archive/a.jsonl", dir / "runs/a/journal.jsonl");
  fs::create_symlink(dir / "archive/b.jsonl", dir / "runs/b/journal.jsonl");
  fs::create_symlink(dir / "loop", dir / "loop");  // a link to itself: no folder can be looked at there
  const cli::ConsoleSite site({dir / "runs/a", dir / "runs/b", dir / "loop"}, sim::catalogue());
  const json answer = console_json(site, "/api/campaigns");
  REQUIRE(answer["campaigns"].size() == 3);
  CHECK(answer["campaigns"][0]["overview"]["campaign"] == "fixture");
  CHECK(answer["campaigns"][1]["overview"]["campaign"] == "goals");
  CHECK(answer["campaigns"][2].contains("error"));
}

namespace {

// Waits up to 10 s for `done`; a hung pool fails the test instead of hanging it.
bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace

TEST_CASE("Console serving pool: connections held open get threads of their own, up to the most, and a burst's threads end after it",
          "[console][serving]") {
  using labloop::cli::ServingPool;
  SECTION("100 connections at once are served at once: none waits for another to close") {
    ServingPool pool(32, 512);
    std::mutex mutex;
    std::condition_variable all_in;
    int started = 0;
    std::atomic<int> saw_all{0};
    for (int i = 0; i < 100; ++i)
      pool.run([&] {
        std::unique_lock lock(mutex);
        ++started;
        all_in.notify_all();
        // Each holds its thread until all 100 have started: with a fixed pool of 32 they never would.
        if (all_in.wait_for(lock, std::chrono::seconds(10), [&] { return started == 100; })) ++saw_all;
      });
    pool.shutdown();
    CHECK(saw_all == 100);
  }
  SECTION("past the most, connections wait for a thread, and every one is served") {
    ServingPool pool(1, 4);
    std::mutex mutex;
    std::condition_variable released_cv;
    bool released = false;
    std::atomic<int> served{0};
    for (int i = 0; i < 10; ++i)
      pool.run([&] {
        std::unique_lock lock(mutex);
        released_cv.wait(lock, [&] { return released; });
        ++served;
      });
    CHECK(eventually([&] { return pool.waiting() == 6; }));
    CHECK(pool.threads() == 4);
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_cv.notify_all();
    CHECK(eventually([&] { return served == 10; }));
  }
  SECTION("threads beyond those kept end once idle; the kept stay") {
    ServingPool pool(2, 8, std::chrono::milliseconds(50));
    std::atomic<bool> go{false};
    std::atomic<int> served{0};
    for (int i = 0; i < 8; ++i)
      pool.run([&] {
        while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++served;
      });
    CHECK(eventually([&] { return pool.threads() == 8; }));
    go = true;
    CHECK(eventually([&] { return served == 8 && pool.threads() == 2; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(pool.threads() == 2);
    pool.run([&] { ++served; });  // served by a kept thread (and the ended ones are joined)
    CHECK(eventually([&] { return served == 9; }));
  }
  SECTION("shutdown serves what was given, then ends every thread") {
    std::atomic<int> served{0};
    {
      ServingPool pool(1, 1);
      for (int i = 0; i < 20; ++i) pool.run([&] { ++served; });
      pool.shutdown();
      CHECK(served == 20);
      CHECK(pool.threads() == 0);
      pool.run([&] { ++served; });  // after shutdown: dropped, never run
    }
    CHECK(served == 20);
  }
}

namespace {

// A client on a raw socket: what it sends is sent as it is, a byte at a time if asked.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~RawClient() { ::close(fd_); }
  bool send(const std::string& text) { return ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()); }
  // One answer: its head, then as many bytes as its Content-Length says (none for a HEAD's:
  // `head_only`); "" when none comes within 5 s. Bytes received past it are the next answer's
  // (answers to pipelined requests).
  std::string answer(bool head_only = false) {
    std::string& got = received_;
    for (;;) {
      if (const auto end = got.find("\r\n\r\n"); end != std::string::npos) {
        const auto length = got.find("Content-Length: ");
        const std::size_t body = head_only || length == std::string::npos || length > end ? 0 : std::stoul(got.substr(length + 16));
        if (got.size() >= end + 4 + body) {
          std::string one = got.substr(0, end + 4 + body);
          got.erase(0, one.size());
          return one;
        }
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return std::exchange(got, "");
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return std::exchange(got, "");
      got.append(buffer, static_cast<std::size_t>(n));
    }
  }
  // This end's port, by which the server's side of the connection is found.
  int local_port() const {
    sockaddr_in here{};
    socklen_t length = sizeof here;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&here), &length);
    return ntohs(here.sin_port);
  }

 private:
  int fd_;
  std::string received_;
};

// The server's socket of a connection in this process whose other end is at `client_port` on
// 127.0.0.1: -1 when none.
int server_socket_of(int client_port) {
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0 && peer.sin_family == AF_INET && ntohs(peer.sin_port) == client_port)
      return fd;
  }
  return -1;
}

}  // namespace

TEST_CASE("Console HTTP server: a request head past its bytes, its lines or its deadline is refused before it is all read", "[console][http]") {
  // Red-team report: httplib 0.11 read 4 million headers (400 MB) before the console could count
  // them, and a head trickled slowly held its thread for as long as the sender liked.
  cli::BoundedHttpServer server(cli::RequestLimits{.head_bytes = 4096, .head_lines = 20, .deadline = std::chrono::milliseconds(400)});
  std::atomic<int> served{0};
  server.Get("/", [&](const httplib::Request&, httplib::Response& response) {
    ++served;
    response.set_content("ok", "text/plain");
  });
  server.set_read_timeout(2, 0);
  server.set_keep_alive_timeout(1);
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread listening([&] { server.listen_after_bind(); });
  const std::string start = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  {  // Within the limits, twice on one connection.
    RawClient client(port);
    REQUIRE(client.send(start + "A: 1\r\nB: 2\r\n\r\n"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("\r\n\r\nok"));
    REQUIRE(client.send(start + "\r\n"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 200"));
    CHECK(served == 2);
  }
  std::string many = start;
  for (int i = 0; i < 30; ++i) many += fmt::format("H{}: x\r\n", i);
  {
    RawClient client(port);
    REQUIRE(client.send(many + "\r\n"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 400"));
    CHECK(client.answer().empty());  // closed: the rest was no request of its own (it was answered 400 each)
  }
  {
    RawClient client(port);
    REQUIRE(client.send(start + "Long: " + std::string(5000, 'x') + "\r\n\r\n"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 400"));
  }
  {  // A byte every 100 ms, each well within the read timeout: the whole head takes past the deadline.
    RawClient client(port);
    REQUIRE(client.send(start));
    for (const char c : std::string("Slow: 1234567890\r\n\r\n")) {
      if (!client.send(std::string(1, c))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 400"));
  }
  CHECK(served == 2);
  server.stop();
  listening.join();
}

TEST_CASE("Console HTTP server: requests sent before the previous answer came (pipelined) are each answered, in order", "[console][http]") {
  // Red-team report: three GETs in one write got one answer; the other two were neither answered
  // nor refused, and the connection closed after the keep-alive wait. The bytes read past the
  // first request's end were dropped with its stream.
  cli::BoundedHttpServer server(cli::RequestLimits{});
  server.Get("/(\\w+)", [&](const httplib::Request& request, httplib::Response& response) { response.set_content(request.matches[1], "text/plain"); });
  server.Post("/(\\w+)", [&](const httplib::Request& request, httplib::Response& response) {
    response.set_content(fmt::format("{} {}", request.matches[1].str(), request.body), "text/plain");
  });
  server.set_read_timeout(2, 0);
  server.set_keep_alive_timeout(1);
  server.set_keep_alive_max_count(100);
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread listening([&] { server.listen_after_bind(); });
  const auto get = [](const std::string& path) { return fmt::format("GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); };
  {  // A GET, a HEAD, a POST with its body, a GET: one write.
    RawClient client(port);
    REQUIRE(client.send(get("one") + "HEAD /two HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
                        "POST /three HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello" + get("four")));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("\r\n\r\none"));
    const std::string head = client.answer(true);  // a HEAD's answer has a Content-Length and no body
    CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("\r\n\r\n"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("\r\n\r\nthree hello"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith("\r\n\r\nfour"));
  }
  {  // Sixty requests in one write: more than one read of the socket holds, heads cut between reads.
    RawClient client(port);
    std::string all;
    for (int i = 0; i < 60; ++i) all += fmt::format("GET /r{} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n", i, std::string(100, 'x'));
    REQUIRE(all.size() > 2 * 4096);
    REQUIRE(client.send(all));
    for (int i = 0; i < 60; ++i) {
      const std::string answer = client.answer();
      INFO("answer " << i << ": " << answer);
      CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 200") && Catch::EndsWith(fmt::format("\r\n\r\nr{}", i)));
    }
  }
  {  // Past the limits, pipelined or not, the request is refused and the connection closed.
    RawClient client(port);
    std::string many = "GET /many HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (int i = 0; i < 250; ++i) many += "H: x\r\n";  // past the 200 lines of a head
    REQUIRE(client.send(get("fine") + many + "\r\n" + get("after")));
    CHECK_THAT(client.answer(), Catch::EndsWith("\r\n\r\nfine"));
    CHECK_THAT(client.answer(), Catch::StartsWith("HTTP/1.1 400"));
    CHECK(client.answer().empty());
  }
  server.stop();
  listening.join();
}

TEST_CASE("Console HTTP server: a connection's answers are sent without Nagle's delay (TCP_NODELAY)", "[console][http]") {
  // Red-team report: an answer is written in two sends (head, body); with Nagle's algorithm the
  // second waited for the client's delayed ACK, about 40 ms on each request after a kept-alive
  // connection's first. The server's side of the connection is in this process: its option is read.
  cli::BoundedHttpServer server(cli::RequestLimits{});
  server.Get("/", [&](const httplib::Request&, httplib::Response& response) { response.set_content("ok", "text/plain"); });
  server.set_keep_alive_timeout(2);
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread listening([&] { server.listen_after_bind(); });
  {
    RawClient client(port);
    REQUIRE(client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    CHECK_THAT(client.answer(), Catch::EndsWith("\r\n\r\nok"));
    const int served_on = server_socket_of(client.local_port());  // kept alive: still open
    REQUIRE(served_on >= 0);
    int nodelay = 0;
    socklen_t length = sizeof nodelay;
    REQUIRE(::getsockopt(served_on, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length) == 0);
    CHECK(nodelay != 0);
  }
  server.stop();
  listening.join();
}

TEST_CASE("Console: a campaign is read again after any change to its journal or the copies beside it, a same-size edit with its time kept too",
          "[console]") {
  // Red-team report: the reading was kept while the journal's size and mtime stayed, and every
  // journal that could not be read stamped alike. A displaced copy's note stayed after the copy
  // was moved out, a journal that was a folder still said so once it was gone, and a same-size
  // edit with its mtime put back was shown as before.
  test::TempDir dir;
  for (const char* name : {"a", "b", "c"}) fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / name, fs::copy_options::recursive);
  fs::copy_file(dir / "a/journal.jsonl", dir / "a/journal.jsonl.displaced-1");
  fs::rename(dir / "b/journal.jsonl", dir / "b/kept.jsonl");
  fs::create_directory(dir / "b/journal.jsonl");
  const cli::ConsoleSite site({dir / "a", dir / "b", dir / "c"}, sim::catalogue());
  const auto card = [&](int index) { return console_json(site, "/api/campaigns")["campaigns"][index]; };

  REQUIRE(card(0)["overview"]["notes"].size() == 1);
  fs::remove(dir / "a/journal.jsonl.displaced-1");
  CHECK_FALSE(card(0)["overview"].contains("notes"));

  CHECK_THAT(card(1)["error"].get<std::string>(), Catch::Contains("is a folder"));
  fs::remove(dir / "b/journal.jsonl");
  CHECK_THAT(card(1)["error"].get<std::string>(), !Catch::Contains("is a folder"));
  CHECK(console_get(site, "/api/campaigns/1/experiments").status == 404);  // no journal, as labloop status says
  fs::rename(dir / "b/kept.jsonl", dir / "b/journal.jsonl");
  CHECK(card(1).contains("overview"));

  const json before = card(2);
  REQUIRE(before.contains("overview"));
  // The same bytes but one digit of the first result, written in place with the mtime put back (as
  // cp -p or a restore leaves it). A file's times tick coarsely (a few ms): the edit comes later.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const fs::path journal = dir / "c/journal.jsonl";
  const auto modified = fs::last_write_time(journal);
  std::string text = test::read_file(journal);
  const auto at = text.find("\"objective\":48.120065414322674");
  REQUIRE(at != std::string::npos);
  text[at + std::string("\"objective\":4").size()] = '7';
  {
    std::fstream out(journal, std::ios::in | std::ios::out | std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  fs::last_write_time(journal, modified);
  REQUIRE(fs::last_write_time(journal) == modified);
  CHECK(card(2) != before);
}

TEST_CASE("Console: the whole reading is kept for the campaigns last shown in detail only, every card's overview for all", "[console]") {
  // Red-team reports: a reading (some 4 bytes per byte of journal) was kept for every campaign
  // read, for as long as the console ran: 4 campaigns of 23 MB journals held 589 MB. Then, kept for
  // the 2 last shown only, viewers of 3 campaigns read them again at every refresh: kept now while
  // their journals hold at most a stated size together. `version` tells a reading kept (the same)
  // from one read again.
  test::TempDir dir;
  for (const char* name : {"a", "b", "c"}) fs::copy(kConsoleFixtures / "v0.1.0/finished", dir / name, fs::copy_options::recursive);
  const std::uint64_t journal = fs::file_size(dir / "a/journal.jsonl");
  SECTION("within the size, every campaign shown is kept") {
    const cli::ConsoleSite site({dir / "a", dir / "b", dir / "c"}, sim::catalogue());
    REQUIRE(3 * journal < cli::ConsoleSite::kMostWholeJournalBytes);
    const auto version = [&](int index) { return console_json(site, fmt::format("/api/campaigns/{}/experiments", index))["version"].get<std::uint64_t>(); };
    const std::uint64_t a = version(0), b = version(1), c = version(2);
    CHECK(version(0) == a);
    CHECK(version(1) == b);
    CHECK(version(2) == c);
  }
  SECTION("past it, those shown longest ago are let go") {
    // Room for two of these journals, not three.
    const cli::ConsoleSite site({dir / "a", dir / "b", dir / "c"}, sim::catalogue(), {}, 3 * journal - 1);
    const auto version = [&](int index) { return console_json(site, fmt::format("/api/campaigns/{}/experiments", index))["version"].get<std::uint64_t>(); };
    const json cards = console_json(site, "/api/campaigns");
    const std::uint64_t a = version(0), b = version(1);
    CHECK(version(0) == a);
    CHECK(version(1) == b);
    version(2);               // a third shown in detail: a's whole reading, the oldest, is let go
    CHECK(version(1) == b);   // b's is kept
    CHECK(version(0) != a);   // a's is read again from its journal
    CHECK(console_json(site, "/api/campaigns") == cards);  // every card as before
    CHECK(console_json(site, "/api/campaigns/0/experiments")["experiments"].size() == 12);
  }
  SECTION("the last shown is kept whatever its size") {
    const cli::ConsoleSite site({dir / "a", dir / "b"}, sim::catalogue(), {}, 1);
    const auto version = [&](int index) { return console_json(site, fmt::format("/api/campaigns/{}/experiments", index))["version"].get<std::uint64_t>(); };
    const std::uint64_t a = version(0);
    CHECK(version(0) == a);
    const std::uint64_t b = version(1);
    CHECK(version(1) == b);
    CHECK(version(0) != a);
  }
}

namespace {

// A finished campaign of `parameters` continuous parameters and `experiments` results, written as
// labloop writes its journal (the fixture's start, its config made wide).
fs::path wide_campaign(const test::TempDir& dir, int parameters, int experiments) {
  const fs::path folder = dir / "wide";
  fs::create_directories(folder);
  json start = json::parse(test::journal_lines(kConsoleFixtures / "v0.1.0/finished/journal.jsonl").front());
  json& config = start["config"];
  config["parameters"] = json::array();
  for (int i = 1; i <= parameters; ++i) config["parameters"].push_back({{"name", fmt::format("x{}", i)}, {"type", "continuous"}, {"low", -5.0}, {"high", 5.0}});
  config["instruments"][0]["simulator"] = "ackley";
  config["instruments"][0]["options"] = {{"dim", parameters}};
  config["planner"] = {{"kind", "random"}};
  config["budget"]["experiments"] = experiments;
  std::vector<json> events{start};
  for (int k = 1; k <= experiments; ++k) {
    const std::string id = fmt::format("fixture-{:04}", k);
    json params = json::object(), x = json::array();
    for (int i = 1; i <= parameters; ++i) params[fmt::format("x{}", i)] = 0.5, x.push_back(0.55);
    events.push_back({{"event", "proposed"}, {"ask", k}, {"experiment", id}, {"params", params}, {"pending", json::array()}, {"planner", "random"}, {"x", x}});
    events.push_back({{"event", "dispatched"}, {"experiment", id}, {"instrument", "sim"}});
    events.push_back({{"event", "result"}, {"experiment", id}, {"instrument", "sim"}, {"objective", k}, {"status", "ok"}, {"values", {{"y", k}}}});
  }
  std::vector<std::string> lines;
  for (std::size_t n = 0; n < events.size(); ++n) {
    json& e = events[n];
    e.erase("hash");
    e["seq"] = n + 1;
    e["time"] = start["time"];
    std::string line = e.dump();
    line.pop_back();
    lines.push_back(line + ",\"hash\":\"\"}");  // written again by write_rechained
  }
  test::write_rechained(folder / "journal.jsonl", lines);
  return folder;
}

}  // namespace

TEST_CASE("Console: a wide campaign's experiments are sent up to a number of values, saying how many were left out", "[console]") {
  // Red-team report: 1000 experiments of 500 parameters were a 13 MB answer, drawn again by the
  // page at every refresh. 400 parameters and the objective (no other output): 401 values each.
  test::TempDir dir;
  const cli::ConsoleSite site({wide_campaign(dir, 400, 251)}, sim::catalogue());
  const json answer = console_json(site, "/api/campaigns/0/experiments");
  const std::size_t fit = cli::ConsoleSite::kMostValuesShown / 401;
  REQUIRE(fit < 251);
  CHECK(answer["experiments"].size() == fit);
  CHECK(answer["omitted"] == 251 - fit);
  CHECK(answer["most_values"] == cli::ConsoleSite::kMostValuesShown);
  CHECK(answer["most_experiments"] == cli::ConsoleSite::kMostExperimentsShown);
  CHECK(answer["experiments"].back()["experiment"] == "fixture-0251");  // the last ones
  CHECK(answer["parameters"].size() == 400);
}

TEST_CASE("Console: folders whose names are not UTF-8 are shown escaped as status writes them, so two never read the same", "[console]") {
  test::TempDir dir;
  const fs::path fe = dir / "run\xfe", ff = dir / "run\xff";
  for (const fs::path& to : {fe, ff}) fs::copy(kConsoleFixtures / "v0.1.0/finished", to, fs::copy_options::recursive);
  const cli::ConsoleSite site({fe, ff}, sim::catalogue());
  const json campaigns = console_json(site, "/api/campaigns")["campaigns"];
  REQUIRE(campaigns.size() == 2);
  CHECK(campaigns[0]["folder"] == (dir / "run\\xfe").string());
  CHECK(campaigns[1]["folder"] == (dir / "run\\xff").string());
  CHECK(campaigns[1]["overview"]["directory"] == (dir / "run\\xff").string());
}
