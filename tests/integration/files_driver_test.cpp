// labloop-driver-files (drivers/files): requests written whole into one folder, results read
// from another (a CSV only once its last line ends), an instrument that finished while the driver
// was away not asked again, requests withdrawn however the experiment ends, and the driver over a
// real socket passing `labloop driver-check`.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <fmt/format.h>
#include <set>
#include <thread>

#include "driver_check_support.hpp"
#include "files_driver.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path files_config(const test::TempDir& dir, const std::string& format = "json", double timeout_s = 20, double poll_s = 0.02,
                      const std::string& extra = "") {
  test::write_file(dir / "reader.json", fmt::format(R"({{"driver": "plate-reader",
    "inputs": [{{"name": "x", "type": "continuous", "low": 0, "high": 10}}, {{"name": "dye", "type": "categorical", "choices": ["a", "b, c"]}}],
    "outputs": ["y"], "requests": "inbox", "results": "outbox", "format": "{}", "timeout_s": {}, "poll_s": {}{}}})",
                                                    format, timeout_s, poll_s, extra));
  return dir / "reader.json";
}

// The instrument's software: takes each request (removes it), and writes `answer(request text)`
// as the result of the same name, whole, as a well-behaved program does (rename into place).
class FolderInstrument {
 public:
  FolderInstrument(fs::path inbox, fs::path outbox, std::function<std::string(const std::string&)> answer)
      : thread_([=, this](std::stop_token stop) {
          while (!stop.stop_requested()) {
            std::error_code ec;
            for (const auto& entry : fs::directory_iterator(inbox, ec)) {
              const std::string name = entry.path().filename().string();
              if (name.starts_with(".")) continue;  // a request still being written
              const std::string text = test::read_file(entry.path());
              fs::remove(entry.path());
              taken_.fetch_add(1);
              test::write_file(outbox / ("." + name), answer(text));
              fs::rename(outbox / ("." + name), outbox / name);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  int taken() const { return taken_.load(); }

 private:
  std::atomic<int> taken_{0};
  std::jthread thread_;
};

std::string failure_of(files::FilesDriver& driver, const std::string& experiment, std::stop_token stop = {}) {
  try {
    driver.run_experiment(experiment, json{{"x", 2.5}, {"dye", "b, c"}}, stop);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Runs `experiment` while the instrument's software answers it without taking the request (some
// leave it in place until they are done), appending `parts` to the result file one after another
// with `pause` between them, as a writer that flushes as it goes. Returns the failure, or
// "y = " the value read.
std::string outcome_answered_in_place(files::FilesDriver& driver, const test::TempDir& dir, const std::string& experiment, const std::string& ext,
                                      const std::vector<std::string>& parts, std::chrono::milliseconds pause = {}) {
  std::jthread writer([&] {
    for (int i = 0; i < 500 && !fs::exists(dir / "inbox" / (experiment + ext)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) std::this_thread::sleep_for(pause);
      std::ofstream(dir / "outbox" / (experiment + ext), std::ios::binary | std::ios::app) << parts[i] << std::flush;
    }
  });
  try {
    return fmt::format("y = {}", driver.run_experiment(experiment, json{{"x", 2.5}, {"dye", "a"}}, {}).at("y"));
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("Files driver: a JSON request goes in whole, the result of the same name comes back", "[files]") {
  test::TempDir dir;
  files::FilesDriver driver(files::read_files_config(files_config(dir)));
  std::string seen;
  FolderInstrument instrument(dir / "inbox", dir / "outbox", [&](const std::string& request) {
    seen = request;
    return std::string(R"({"y": 7.5, "note": "fine"})");
  });
  CHECK(driver.run_experiment("p-0001", json{{"x", 2.5}, {"dye", "a"}}, {}) == Values{{"y", 7.5}});
  CHECK(json::parse(seen) == json{{"experiment", "p-0001"}, {"params", {{"x", 2.5}, {"dye", "a"}}}});
  CHECK(instrument.taken() == 1);
  CHECK(fs::exists(dir / "outbox" / "p-0001.json"));  // kept: a restarted driver reads it again
}

TEST_CASE("Files driver: CSV both ways, with quoting, and an error column fails the experiment", "[files]") {
  test::TempDir dir;
  files::FilesDriver driver(files::read_files_config(files_config(dir, "csv", 20, 0.02, R"(, "units": {"y": "AU"})")));
  std::string seen;
  FolderInstrument instrument(dir / "inbox", dir / "outbox", [&](const std::string& request) {
    seen = request;
    if (request.find("p-0002") != std::string::npos) return std::string("y,error\n,lamp failed\n");
    if (request.find("p-0003") != std::string::npos || request.find("p-0004") != std::string::npos) return std::string("y [mAU],error\n420,\n");
    return std::string("y [AU],error\n0.125,\n");
  });
  CHECK(driver.run_experiment("p-0001", json{{"x", 2.5}, {"dye", "b, c"}}, {}) == Values{{"y", 0.125}});
  CHECK(seen == "experiment,dye,x\np-0001,\"b, c\",2.5\n");
  CHECK(failure_of(driver, "p-0002") == "lamp failed");
  // A value in another unit than the config declares is refused, never taken as if in it (420 mAU as 420 AU);
  // so is a unit when the config declares none for that output.
  CHECK_THAT(failure_of(driver, "p-0003"), Catch::Contains("gives \"y\" in mAU") && Catch::Contains("declares it in AU"));
  files::FilesDriver no_units(files::read_files_config(files_config(dir, "csv")));
  CHECK_THAT(failure_of(no_units, "p-0004"),
             Catch::Contains("gives \"y\" in mAU") && Catch::Contains("declares no unit") && Catch::Contains("\"units\": {\"y\": \"mAU\"}"));
}

TEST_CASE("Files driver: a result already there is read without asking again, only if this driver asked for it with these params",
          "[files]") {
  test::TempDir dir;
  files::FilesDriver away(files::read_files_config(files_config(dir, "json", 0.1)));
  // The driver asks, gives up (it was stopped, say), and the instrument answers afterwards.
  const json params{{"x", 1}, {"dye", "a"}};
  CHECK_THROWS(away.run_experiment("p-0003", params, {}));
  test::write_file(dir / "outbox" / "p-0003.json", R"({"y": 1.25})");
  files::FilesDriver driver(files::read_files_config(files_config(dir)));
  CHECK(driver.run_experiment("p-0003", json{{"x", 1.0}, {"dye", "a"}}, {}) == Values{{"y", 1.25}});
  CHECK(fs::is_empty(dir / "inbox"));
  // Not for other params under the same id, nor for a file no request of this driver asked for.
  CHECK_THAT(failure_of(driver, "p-0003"), Catch::Contains("already there") && Catch::Contains("run with other params"));
  test::write_file(dir / "outbox" / "p-0009.json", R"({"y": 9})");
  CHECK_THAT(failure_of(driver, "p-0009"), Catch::Contains("no request of this driver asked for it"));
  CHECK(fs::is_empty(dir / "inbox"));
}

TEST_CASE("Files driver: a result written in two steps is waited for, and a link or a folder is no result", "[files]") {
  test::TempDir dir;
  files::FilesDriver driver(files::read_files_config(files_config(dir, "csv")));
  std::jthread slow_writer([&] {
    for (int i = 0; i < 500 && fs::is_empty(dir / "inbox"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    test::write_file(dir / "outbox" / "p-0010.csv", "y,error\n");  // the header first, the row 0.3 s later
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    test::write_file(dir / "outbox" / "p-0010.csv", "y,error\n0.5,\n");
  });
  CHECK(driver.run_experiment("p-0010", json{{"x", 2.5}, {"dye", "a"}}, {}) == Values{{"y", 0.5}});
  slow_writer.join();
  CHECK(fs::is_empty(dir / "inbox"));  // answered without being taken: withdrawn, so it never runs again
  // A link left where the result goes, found before asking, is not this driver's result.
  fs::create_symlink("/etc/passwd", dir / "outbox" / "p-0011.csv");
  CHECK_THAT(failure_of(driver, "p-0011"), Catch::Contains("already there") && !Catch::Contains("root:"));
  // One that appears while the driver waits is no result either, and what it points to is not read.
  std::jthread linker([&] {
    for (int i = 0; i < 500 && !fs::exists(dir / "inbox" / "p-0012.csv"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    fs::create_symlink("/etc/passwd", dir / "outbox" / "p-0012.csv");
  });
  const std::string failure = failure_of(driver, "p-0012");
  CHECK_THAT(failure, Catch::Contains("not a plain file") && !Catch::Contains("root:"));
  CHECK_FALSE(fs::exists(dir / "inbox" / "p-0012.csv"));  // withdrawn
}

TEST_CASE("Files driver: every id gets a name of its own, and none is hidden", "[files]") {
  CHECK(ready::file_safe("q-5f3ac2e19b7d-0007") == "q-5f3ac2e19b7d-0007");
  const std::vector<std::string> ids{"a/b", "a_b", "a b", "..", ".hidden", "c/1", "c_1-" + std::string(16, 'a'), std::string(128, 'x'),
                                     std::string(101, 'x'), "x-0123456789abcdef"};
  std::set<std::string> names;
  for (const std::string& id : ids) {
    const std::string name = ready::file_safe(id);
    INFO(id << " -> " << name);
    CHECK(names.insert(name).second);
    CHECK(name.front() != '.');
    CHECK(name.find('/') == std::string::npos);
    CHECK(name.size() <= 117);
  }
  // An id spelled like another's hashed name is hashed too.
  const std::string hashed = ready::file_safe("c/1");
  CHECK(ready::file_safe(hashed) != hashed);
}

TEST_CASE("Files driver: on timeout or abort a request not yet taken is withdrawn, and the message says so", "[files]") {
  test::TempDir dir;
  files::FilesDriver slow(files::read_files_config(files_config(dir, "json", 0.2)));
  CHECK_THAT(failure_of(slow, "p-0004"), Catch::Contains("no result file") && Catch::Contains("the request was never taken") &&
                                             Catch::Contains("has been withdrawn"));
  CHECK(fs::is_empty(dir / "inbox"));
  // An empty result never written again is said to be that, not "still changing".
  test::write_file(dir / "outbox" / "p-0006.json", "");
  test::write_file(dir / "reader-asked" / "p-0006.json.json", json{{"experiment", "p-0006"}, {"params", {{"x", 2.5}, {"dye", "b, c"}}}}.dump());
  CHECK_THAT(failure_of(slow, "p-0006"), Catch::Contains("p-0006.json is empty (0 bytes)") && !Catch::Contains("still changing"));
  files::FilesDriver driver(files::read_files_config(files_config(dir)));
  std::stop_source stop;
  std::jthread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.request_stop();
  });
  CHECK(failure_of(driver, "p-0005", stop.get_token()) == "aborted; the request was never taken and has been withdrawn");
  CHECK(fs::is_empty(dir / "inbox"));
  // Asked again, it is asked afresh, not waited for.
  FolderInstrument reader(dir / "inbox", dir / "outbox", [](const std::string&) { return R"({"y": 5})"; });
  CHECK(driver.run_experiment("p-0005", json{{"x", 2.5}, {"dye", "b, c"}}, {}).at("y") == 5);
  CHECK(reader.taken() == 1);
}

TEST_CASE("Files driver: a request the instrument took is left to it when the driver stops, and the same run after a restart waits for "
          "its result instead of asking again",
          "[files]") {
  test::TempDir dir;
  std::atomic<int> taken{0};
  // Takes each request at once and answers only when told: a plate reader measuring.
  std::atomic<bool> answer{false};
  std::jthread instrument([&](std::stop_token stop) {
    std::set<std::string> measuring;
    while (!stop.stop_requested()) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir / "inbox", ec))
        if (const std::string name = entry.path().filename().string(); !name.starts_with(".")) {
          fs::remove(entry.path());
          taken.fetch_add(1);
          measuring.insert(name);
        }
      if (answer.load())
        for (const std::string& name : std::exchange(measuring, {})) test::write_file(dir / "outbox" / name, R"({"y": 7})");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto config = files::read_files_config(files_config(dir));
  {
    files::FilesDriver driver(config);
    std::stop_source stop;
    std::jthread stopper([&] {
      while (taken.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      stop.request_stop();  // the driver shuts down while the reader measures
    });
    try {
      driver.run_experiment("p-0009", json{{"x", 2.5}, {"dye", "a"}}, stop.get_token());
      FAIL("a stopped run returned");
    } catch (const ExperimentGoesOn& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("has taken the request") && Catch::Contains("p-0009.json"));
    }
  }
  // Restarted; the controller sends the same run again. Nothing new reaches the reader.
  files::FilesDriver restarted(config);
  std::jthread done_measuring([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    answer = true;
  });
  CHECK(restarted.run_experiment("p-0009", json{{"x", 2.5}, {"dye", "a"}}, {}).at("y") == 7);
  CHECK(taken.load() == 1);
  // Other params under that id are another experiment: asked, not answered by the first's result.
  CHECK_THAT(failure_of(restarted, "p-0009"), Catch::Contains("other params"));
}

TEST_CASE("Files driver: a driver killed at any step of asking or taking back leaves what the next run of that experiment reads right",
          "[files]") {
  test::TempDir dir;
  const json params{{"x", 2.5}, {"dye", "a"}};
  const std::string record = json{{"experiment", "p-0011"}, {"params", params}}.dump();
  const auto leave = [&](const std::vector<std::string>& files) {
    for (const std::string& file : files) test::write_file(dir / file, file.ends_with(".json.json") ? record : "experiment request");
  };
  files::FilesDriver driver(files::read_files_config(files_config(dir, "json", 0.3)));
  // Killed after the mark, before the hidden request was renamed into view: never asked, so asked now.
  leave({"reader-asked/p-0011.json.json", "reader-asked/p-0011.json.placed", "inbox/.p-0011.json.partial"});
  {
    FolderInstrument reader(dir / "inbox", dir / "outbox", [](const std::string&) { return R"({"y": 1})"; });
    CHECK(driver.run_experiment("p-0011", params, {}).at("y") == 1);
    CHECK(reader.taken() == 1);
  }
  // Killed while taking it back (renamed aside, the mark still there): asked afresh.
  fs::remove(dir / "outbox" / "p-0011.json");
  leave({"reader-asked/p-0011.json.placed", "inbox/.p-0011.json.withdrawn"});
  {
    FolderInstrument reader(dir / "inbox", dir / "outbox", [](const std::string&) { return R"({"y": 2})"; });
    CHECK(driver.run_experiment("p-0011", params, {}).at("y") == 2);
    CHECK(reader.taken() == 1);
  }
  CHECK_FALSE(fs::exists(dir / "inbox" / ".p-0011.json.withdrawn"));
  // Killed while its request waited in the folder: not written again, and taken back at the timeout.
  fs::remove(dir / "outbox" / "p-0011.json");
  leave({"reader-asked/p-0011.json.placed", "inbox/p-0011.json"});
  std::string while_waiting;
  std::jthread look([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    while_waiting = test::read_file(dir / "inbox" / "p-0011.json");
  });
  try {
    driver.run_experiment("p-0011", params, {});
    FAIL("no result came");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("never taken") && Catch::Contains("withdrawn"));
  }
  look.join();
  CHECK(while_waiting == "experiment request");
  CHECK(fs::is_empty(dir / "inbox"));
  CHECK_FALSE(fs::exists(dir / "reader-asked" / "p-0011.json.placed"));
}

TEST_CASE("Files driver: a config's mistakes are named where they are", "[files]") {
  test::TempDir dir;
  const auto error_of = [&](const std::string& own) {
    test::write_file(dir / "bad.json", R"({"inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}], "outputs": ["y"])" + own + "}");
    try {
      files::read_files_config(dir / "bad.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of(R"(, "results": "out")"), Catch::Contains("requests"));
  CHECK_THAT(error_of(R"(, "requests": "box", "results": "./box")"), Catch::Contains("/results: is the requests folder too"));
  // The driver's own record of each request has a request's content: run twice, or read as a result.
  CHECK_THAT(error_of(R"(, "requests": "bad-asked", "results": "out")"), Catch::Contains("/requests: is") && Catch::Contains("bad-asked, the folder"));
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "./bad-asked")"), Catch::Contains("/results: is") && Catch::Contains("records what it asked"));
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "out", "format": "xml")"), Catch::Contains("/format: is \"xml\""));
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "out", "poll_s": 0)"), Catch::Contains("/poll_s"));
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "out", "units": {"z": "AU"})"), Catch::Contains("/units") && Catch::Contains("z"));
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "out", "units": {"y": 1})"), Catch::Contains("/units/y"));
  CHECK(error_of(R"(, "requests": "in", "results": "out", "units": {"y": "AU"})").empty());
  // Nesting far past what a config needs is refused before it is parsed (it crashed the driver).
  CHECK_THAT(error_of(R"(, "requests": "in", "results": "out", "noise": )" + std::string(200000, '[') + std::string(200000, ']')),
             Catch::Contains("nested deeper than 64 levels"));
  CHECK(error_of(R"(, "requests": "in", "results": "out")").empty());
  // The shipped example reads as written.
  const files::FilesConfig example = files::read_files_config(fs::path(LABLOOP_SOURCE_DIR) / "drivers/files/example/plate_reader.json");
  CHECK(example.format == files::FileFormat::csv);
  CHECK(example.declared.info.outputs == std::vector<std::string>{"absorbance"});
}

TEST_CASE("Files driver: labloop-driver-files over a real socket passes every driver-check, and only the run within limits reaches the folder",
          "[files][driver-check]") {
  test::TempDir dir;
  const fs::path config = files_config(dir);
  ChildProcess driver({LABLOOP_FILES_DRIVER_PATH, config.string(), "--endpoint", dir.ipc("files")}, dir / "driver.log");
  for (int i = 0; i < 500 && !fs::exists(dir / "outbox"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  FolderInstrument instrument(dir / "inbox", dir / "outbox", [](const std::string&) { return std::string(R"({"y": 3})"); });
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("files")));
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(instrument.taken() == 1);
}

TEST_CASE("Files driver: a result whose last line is still being written is waited for, CSV and JSON alike", "[files]") {
  test::TempDir dir;
  {
    files::FilesDriver driver(files::read_files_config(files_config(dir, "csv", 20, 0.1)));
    // "y\n1" reads as a whole table of y = 1, but the instrument is still writing its row: 12.5.
    CHECK(outcome_answered_in_place(driver, dir, "p-0020", ".csv", {"y\n1", "2.5\n"}, std::chrono::milliseconds(1500)) == "y = 12.5");
    CHECK(test::read_file(dir / "outbox" / "p-0020.csv") == "y\n12.5\n");
    CHECK(fs::is_empty(dir / "inbox"));
  }
  {
    files::FilesDriver driver(files::read_files_config(files_config(dir, "json")));
    CHECK(outcome_answered_in_place(driver, dir, "p-0021", ".json", {R"({"y": 1)", "2.5}"}, std::chrono::milliseconds(300)) == "y = 12.5");
    CHECK(fs::is_empty(dir / "inbox"));
  }
  {
    // A row that never gets its line ending is no result, and the failure says what is missing.
    files::FilesDriver driver(files::read_files_config(files_config(dir, "csv", 1)));
    CHECK_THAT(outcome_answered_in_place(driver, dir, "p-0022", ".csv", {"y\n1"}),
               Catch::Contains("never read whole") && Catch::Contains("no line ending"));
    CHECK(fs::is_empty(dir / "inbox"));
  }
}

TEST_CASE("Files driver: a result that fails the experiment withdraws a request the instrument has not taken", "[files]") {
  test::TempDir dir;
  files::FilesDriver driver(files::read_files_config(files_config(dir)));
  const auto failure = [&](const std::string& experiment, const std::string& result) {
    const std::string why = outcome_answered_in_place(driver, dir, experiment, ".json", {result});
    CHECK(fs::is_empty(dir / "inbox"));  // left there, the instrument could run it after all
    return why;
  };
  CHECK(failure("p-0030", R"({"error": "lamp"})") == "lamp");
  // A string is a message whatever it says; only a JSON null (or "") is no error.
  CHECK(failure("p-0036", R"({"y": 1, "error": "null"})") == "null");
  CHECK(outcome_answered_in_place(driver, dir, "p-0037", ".json", {R"({"y": 1, "error": null})"}) == "y = 1");
  CHECK(outcome_answered_in_place(driver, dir, "p-0038", ".json", {R"({"y": 1, "error": ""})"}) == "y = 1");
  CHECK_THAT(failure("p-0031", R"({"y": 1, "pad": ")" + std::string(1 << 20, 'x') + "\"}"), Catch::Contains("is over 1048576 bytes"));
  CHECK_THAT(failure("p-0032", R"({"z": 1})"), Catch::Contains("no number for \"y\""));
  CHECK_THAT(failure("p-0033", R"({"y": 1, "y": 2})"), Catch::Contains("gives /y twice"));
  CHECK_THAT(failure("p-0034", R"({"y": NaN})"), Catch::Contains("not a JSON object"));  // after the 5 s a result gets to become whole
  {
    // What the parser refused is said (within timeout_s, here shorter than the 5 s).
    files::FilesDriver quick(files::read_files_config(files_config(dir, "json", 1)));
    CHECK_THAT(outcome_answered_in_place(quick, dir, "p-0040", ".json", {R"({"y": 1e400})"}),
               Catch::Contains("not a JSON object of measurements (it holds a number beyond ±1.8e308)"));
    CHECK(fs::is_empty(dir / "inbox"));
  }
  files::FilesDriver csv(files::read_files_config(files_config(dir, "csv")));
  CHECK_THAT(outcome_answered_in_place(csv, dir, "p-0035", ".csv", {"y,y\n1,2\n"}), Catch::Contains("two columns named \"y\""));
  // A CSV cell is text: "null" in the error column is a message too.
  CHECK(outcome_answered_in_place(csv, dir, "p-0039", ".csv", {"y,error\n1,null\n"}) == "null");
  CHECK(fs::is_empty(dir / "inbox"));
}
