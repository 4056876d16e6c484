// The shared JSON checker (core): what every options block and campaign file is read through.
#include <catch2/catch.hpp>

#include <functional>

#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "test_support.hpp"

using labloop::ConfigError;
using labloop::did_you_mean;
using labloop::JsonNode;
using nlohmann::json;


TEST_CASE("JsonNode: mistakes are named by file and JSON pointer", "[json_check]") {
  const std::string source = "opts.json";
  const json value = json::parse(R"({"kernel": {"lengthscale": "big", "n": 1.5, "huge": 1e20}, "list": []})");
  const JsonNode root(value, "", source);
  CHECK(labloop::test::message_of([&] { root.child("kernel").child("lengthscale").as_number(); }) ==
        "opts.json: /kernel/lengthscale: must be a number, got \"big\" (a string)");
  CHECK(labloop::test::message_of([&] { root.child("kernel").child("n").as_integer(); }) == "opts.json: /kernel/n: must be an integer, got 1.5 (a fractional number)");
  CHECK(labloop::test::message_of([&] { root.child("kernel").child("huge").as_integer(); }) == "opts.json: /kernel/huge: integer too large");
  CHECK(labloop::test::message_of([&] { root.child("list").as_array(); }) == "opts.json: /list: must not be empty");
  CHECK(labloop::test::message_of([&] { root.child("missing"); }) == "opts.json: /: missing required key \"missing\"");
  CHECK(labloop::test::message_of([&] { root.child("kernel").expect_object({"lengthscales", "n", "huge"}); }) ==
        "opts.json: /kernel/lengthscale: unknown key; did you mean \"lengthscales\"? (allowed here: lengthscales, n, huge)");
  CHECK(labloop::test::message_of([&] { root.child("kernel").expect_object({"lengthscale", "n", "huge"}); }).empty());
}

TEST_CASE("did_you_mean: a close name, every equally close one up to three, or nothing", "[json_check]") {
  CHECK(did_you_mean("maximise", {"minimize", "maximize"}) == "; did you mean \"maximize\"?");
  CHECK(did_you_mean("x7", {"x1", "x2", "x3"}) == "; did you mean \"x1\", \"x2\" or \"x3\"?");
  CHECK(did_you_mean("x7", {"x1", "x2", "x3", "x4"}).empty());
  CHECK(did_you_mean("temperature", {"pressure", "flow"}).empty());
  CHECK(did_you_mean("anything", {}).empty());
}

TEST_CASE("parse_json_noting_repeats: the first key given twice in one object, by its JSON pointer", "[json_check]") {
  std::optional<std::string> repeated;
  const auto parsed = labloop::parse_json_noting_repeats(R"({"a": [1, {"b": 2}, {"c": 3, "c": 4}], "a/b": {"x~": 1, "x~": 2}})", false, repeated);
  CHECK(repeated == std::optional<std::string>("/a/2/c"));
  CHECK(parsed["a"][2]["c"] == 4);  // what the parser keeps, which the caller refuses
  repeated.reset();
  labloop::parse_json_noting_repeats(R"({"a/b": {"x~": 1, "x~": 2}, "n": [[], [{"k": 1}], {"k": 1, "j": {"k": 2}}]})", false, repeated);
  CHECK(repeated == std::optional<std::string>("/a~1b/x~0"));
  repeated.reset();
  // The same key in different objects, or at different depths, is no repeat; comments as asked.
  labloop::parse_json_noting_repeats("// a campaign\n{\"k\": {\"k\": 1}, \"l\": [{\"k\": 1}, {\"k\": 2}]}", true, repeated);
  CHECK_FALSE(repeated);
  CHECK_THROWS(labloop::parse_json_noting_repeats("{\"k\": 1,}", false, repeated));
}

TEST_CASE("parse_json_noting_repeats: a NUL byte is an error at its place, not the end of the text", "[json_check]") {
  // nlohmann stops at a NUL: {"y":1}\0{"error":"lamp"} was a result of y = 1 (a red-team report).
  const std::string text("{\"y\": 1}\0{\"error\": \"lamp failed\"}", 32);
  std::optional<std::string> repeated;
  try {
    labloop::parse_json_noting_repeats(text, false, repeated);
    FAIL("parsed");
  } catch (const nlohmann::json::parse_error& e) {
    CHECK(labloop::json_syntax_error(text, e) == "at line 1, column 9: a NUL byte, which JSON text never holds (in a string it is \\u0000)");
  }
  CHECK(labloop::parse_json_noting_repeats("{\"s\": \"a\\u0000b\"}", false, repeated)["s"].get<std::string>().size() == 3);
}
