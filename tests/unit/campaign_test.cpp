// What a campaign checks before it starts (campaign.hpp), without starting one.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "labloop/campaign/campaign.hpp"
#include "catalogue.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

CampaignConfig with_simulators(int count) {
  json instruments = json::array();
  for (int i = 0; i < count; ++i) instruments.push_back({{"name", fmt::format("sim{}", i)}, {"simulator", "branin"}});
  return parse_campaign_config(json{{"name", "fd"},
                                    {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                                    {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                                    {"objective", {{"name", "y"}}},
                                    {"planner", {{"kind", "random"}}},
                                    {"instruments", instruments},
                                    {"budget", {{"experiments", 30}}}}
                                   .dump(),
                               "fd.json", labloop::sim::catalogue());
}

}  // namespace

TEST_CASE("Campaign: the open files needed grow with the instruments, and too few are refused naming ulimit -n and the number", "[campaign]") {
  CHECK(open_files_needed(with_simulators(1)) == 64);
  CHECK(open_files_needed(with_simulators(4)) == 64);
  const CampaignConfig thirteen = with_simulators(13);
  CHECK(open_files_needed(thirteen) == 154);
  // ulimit -n 64 was accepted whatever the instruments: 13 simulators then failed part-way,
  // with "Too many open files" worded as a problem of the journal's directory.
  CHECK_THAT(test::message_of([&] { refuse_too_few_open_files(thirteen, 64); }),
             Catch::Equals("at most 64 open files are allowed (ulimit -n); a campaign with 13 instruments needs at least 154 (24, and about 10 "
                           "per instrument): raise it (ulimit -n 1024, or more)"));
  CHECK_NOTHROW(refuse_too_few_open_files(thirteen, 154));
  CHECK_THAT(test::message_of([&] { refuse_too_few_open_files(with_simulators(200), 1024); }),
             Catch::Contains("needs at least 2024") && Catch::Contains("(ulimit -n 2024, or more)"));
  CHECK_THAT(test::message_of([&] { refuse_too_few_open_files(with_simulators(1), 16); }),
             Catch::Contains("at most 16 open files are allowed (ulimit -n); a campaign with 1 instrument needs at least 64"));
}
