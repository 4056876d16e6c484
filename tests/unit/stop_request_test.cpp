// A stop request in a campaign folder (stop_request.hpp): what is written is read back, and a
// file that cannot be read as one still asks for a stop, saying what was wrong with it.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <vector>

#include "labloop/campaign/stop_request.hpp"
#include "labloop/core/error.hpp"
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
  CHECK(write_stop_request(dir.path(), StopRequest{"Ann", "first", "", "console"}) == StopRequestWritten::written);
  CHECK(write_stop_request(dir.path(), StopRequest{"Bob", "second", "", "console"}) == StopRequestWritten::already_asked);
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

// The campaign's last look and a console's write, in either order (the two sides of the race the
// audit found: two Stops answered "asked", one journaled, the other deleted by the next resume).
TEST_CASE("Stop request: the campaign's last look records a request already there and closes the path, so a later one is refused, never lost", "[stop-request]") {
  test::TempDir dir;
  std::vector<StopRequest> recorded;
  const auto record = [&](const StopRequest& r) { recorded.push_back(r); };
  // Asked before the last look: handed over to be journaled with the finish.
  REQUIRE(write_stop_request(dir.path(), StopRequest{"Ann", "end of shift", "", "console"}) == StopRequestWritten::written);
  close_stop_requests(dir.path(), record);
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].by == "Ann");
  CHECK(stop_requests_closed(dir.path()));
  // Asked after it: refused, so the console can say so; the marker is no request.
  CHECK(write_stop_request(dir.path(), StopRequest{"Bob", "too late", "", "console"}) == StopRequestWritten::closed);
  CHECK_FALSE(read_stop_request(dir.path()));
  close_stop_requests(dir.path(), record);  // a second look finds nothing more
  CHECK(recorded.size() == 1);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    CHECK(entry.path().filename() == "stop-request.json");  // no temporary left behind
  // The next run takes the journal: the marker goes without a word, and requests are taken again.
  CHECK_FALSE(reopen_stop_requests(dir.path()));
  CHECK_FALSE(std::filesystem::exists(stop_request_path(dir.path())));
  CHECK(write_stop_request(dir.path(), StopRequest{"Bob", "next run", "", "console"}) == StopRequestWritten::written);
}

TEST_CASE("Stop request: a last look with nothing there closes the path, and a request from an earlier run is still named when the next run starts", "[stop-request]") {
  test::TempDir dir;
  std::vector<StopRequest> recorded;
  close_stop_requests(dir.path(), [&](const StopRequest& r) { recorded.push_back(r); });
  CHECK(recorded.empty());
  CHECK(stop_requests_closed(dir.path()));
  CHECK(write_stop_request(dir.path(), StopRequest{"Ann", "", "", "console"}) == StopRequestWritten::closed);
  // A request with no marker (a folder of an earlier version, or a campaign killed before its last
  // look) was never read: the next run removes it and says whose it was.
  REQUIRE_FALSE(reopen_stop_requests(dir.path()));
  CHECK_FALSE(stop_requests_closed(dir.path()));
  REQUIRE(write_stop_request(dir.path(), StopRequest{"Ann", "stale", "2026-12-05T10:00:00Z", "console"}) == StopRequestWritten::written);
  const std::optional<StopRequest> stale = reopen_stop_requests(dir.path());
  REQUIRE(stale);
  CHECK(stale->by == "Ann");
  CHECK_FALSE(std::filesystem::exists(stop_request_path(dir.path())));
  // Recording it failed (the journal refused): the request stays where it was, not lost.
  REQUIRE(write_stop_request(dir.path(), StopRequest{"Cy", "", "", "console"}) == StopRequestWritten::written);
  CHECK_THROWS_WITH(close_stop_requests(dir.path(), [](const StopRequest&) { throw Error("disk full"); }), Catch::Contains("disk full"));
  CHECK(read_stop_request(dir.path())->by == "Cy");
  CHECK_FALSE(stop_requests_closed(dir.path()));
}

TEST_CASE("Stop request: a file written by hand is held to the console's text checks, and claims no source but the console's", "[stop-request]") {
  // Its by and reason went raw into the journal, the log and status, and its "source" was taken
  // as written (a red-team report).
  test::TempDir dir;
  test::write_file(stop_request_path(dir.path()),
                   R"({"by":"\u001b[2J\u001b]0;pwned\u0007mallory\u202e","reason":"\u001b[31mreagent out","source":"console"})");
  std::optional<StopRequest> read = read_stop_request(dir.path());
  REQUIRE(read);  // still a request: stopping is the safe side
  CHECK(read->by.empty());
  CHECK(read->reason == "the request could not be read: its \"by\" holds a control character (\\x1b)");
  CHECK(read->source == "unknown");
  test::write_file(stop_request_path(dir.path()), R"({"by":"ann","reason":"out\u2028of reagent\u200f","source":"console"})");
  read = read_stop_request(dir.path());
  REQUIRE(read);
  CHECK(read->reason == "the request could not be read: its \"reason\" holds a line or paragraph separator (\\u2028)");
  test::write_file(stop_request_path(dir.path()), R"({"by":"  ann ","reason":"\tout of reagent  ","source":"anything at all"})");
  read = read_stop_request(dir.path());
  REQUIRE(read);
  CHECK(read->by == "ann");  // trimmed, as the console trims what is typed: one person, not two
  CHECK(read->reason == "out of reagent");
  CHECK(read->source == "stop request file");
}
