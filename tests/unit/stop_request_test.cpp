// A stop request in a campaign folder (stop_request.hpp): what is written is read back, and a
// file that cannot be read as one still asks for a stop, saying what was wrong with it.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "labloop/campaign/stop_request.hpp"
#include "test_support.hpp"

using namespace labloop;

TEST_CASE("Stop request: written whole, read back, removed", "[stop-request]") {
  test::TempDir dir;
  CHECK_FALSE(read_stop_request(dir.path()));
  CHECK_FALSE(remove_stop_request(dir.path()));
  write_stop_request(dir.path(), StopRequest{"Ann", "reagent ran out", "2026-12-05T10:00:00Z", "console"});
  const std::optional<StopRequest> read = read_stop_request(dir.path());
  REQUIRE(read);
  CHECK(read->by == "Ann");
  CHECK(read->reason == "reagent ran out");
  CHECK(read->at == "2026-12-05T10:00:00Z");
  CHECK(read->source == "console");
  CHECK(remove_stop_request(dir.path()));
  CHECK_FALSE(std::filesystem::exists(stop_request_path(dir.path())));
  CHECK_THROWS_WITH(write_stop_request(dir.path(), StopRequest{std::string(1001, 'a'), "", "", "console"}), Catch::Contains("at most 1000 bytes"));
  CHECK_FALSE(std::filesystem::exists(stop_request_path(dir.path())));
}

TEST_CASE("Stop request: a file that is not one still asks for a stop, and says why it could not be read", "[stop-request]") {
  test::TempDir dir;
  const auto reason_for = [&](const std::string& text) {
    test::write_file(stop_request_path(dir.path()), text);
    const std::optional<StopRequest> read = read_stop_request(dir.path());
    REQUIRE(read);
    return read->reason;
  };
  CHECK_THAT(reason_for("stop!"), Catch::Contains("not JSON"));
  CHECK_THAT(reason_for("[1]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(reason_for(std::string(100, '[')), Catch::Contains("nests deeper"));
  CHECK_THAT(reason_for(R"({"by": ")" + std::string(1001, 'a') + "\"}"), Catch::Contains("over 1000 bytes"));
  CHECK_THAT(reason_for(std::string(20000, ' ')), Catch::Contains("over 16384 bytes"));
  CHECK(reason_for(R"({"reason": "why", "by": 5})") == "why");  // a field of the wrong kind is left empty
  std::filesystem::remove(stop_request_path(dir.path()));
  std::filesystem::create_directory(stop_request_path(dir.path()));
  REQUIRE(read_stop_request(dir.path()));
  CHECK_THAT(read_stop_request(dir.path())->reason, Catch::Contains("not a regular file"));
}

TEST_CASE("Stop request: the first one stands, and a pipe, a link or a huge file is judged by what was opened, never waited on", "[stop-request]") {
  test::TempDir dir;
  CHECK(write_stop_request(dir.path(), StopRequest{"Ann", "first", "", "console"}));
  CHECK_FALSE(write_stop_request(dir.path(), StopRequest{"Bob", "second", "", "console"}));
  CHECK(read_stop_request(dir.path())->by == "Ann");
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    CHECK(entry.path().filename() == "stop-request.json");  // no temporary left behind
  remove_stop_request(dir.path());

  REQUIRE(::mkfifo(stop_request_path(dir.path()).c_str(), 0600) == 0);
  CHECK_THAT(read_stop_request(dir.path())->reason, Catch::Contains("not a regular file"));  // returns: a pipe is not waited on
  std::filesystem::remove(stop_request_path(dir.path()));
  std::filesystem::create_symlink("/dev/zero", stop_request_path(dir.path()));
  CHECK_THAT(read_stop_request(dir.path())->reason, Catch::Contains("symbolic link"));
  std::filesystem::remove(stop_request_path(dir.path()));
  test::write_file(stop_request_path(dir.path()), std::string(kMaxStopRequestBytes + 1, ' '));
  CHECK_THAT(read_stop_request(dir.path())->reason, Catch::Contains("over"));
}
