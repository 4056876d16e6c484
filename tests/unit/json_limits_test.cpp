// The nesting pre-scan every JSON reader runs before nlohmann parses (json_limits.hpp).
#include "labloop/core/json_limits.hpp"

#include <catch2/catch.hpp>

#include <string>

using labloop::find_excess_nesting;

namespace {

std::string nested(const std::string& open, const std::string& close, std::size_t depth, const std::string& inner = "") {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += open;
  s += inner;
  for (std::size_t i = 0; i < depth; ++i) s += close;
  return s;
}

}  // namespace

TEST_CASE("find_excess_nesting: depth counts open arrays and objects", "[json_limits]") {
  CHECK_FALSE(find_excess_nesting("1", 0));
  CHECK_FALSE(find_excess_nesting("\"[{\"", 0));
  CHECK(find_excess_nesting("[]", 0) == 0u);
  CHECK_FALSE(find_excess_nesting("{\"a\":[{}]}", 3));
  CHECK(find_excess_nesting("{\"a\":[{}]}", 2) == 6u);
  // Siblings do not add up: only depth matters.
  CHECK_FALSE(find_excess_nesting("[[],[],[[]],{}]", 3));
}

TEST_CASE("find_excess_nesting: exactly at the limit passes, one more fails, 100,000 fails fast", "[json_limits]") {
  CHECK_FALSE(find_excess_nesting(nested("[", "]", 64), 64));
  CHECK(find_excess_nesting(nested("[", "]", 65), 64) == 64u);
  CHECK(find_excess_nesting(nested("{\"k\":", "}", 65), 64) == 64u * 5);
  CHECK(find_excess_nesting(nested("[", "]", 100000), 64) == 64u);
  // Unbalanced closers never buy depth back.
  CHECK(find_excess_nesting("]]]]" + nested("[", "]", 65), 64) == 4u + 64u);
}

TEST_CASE("find_excess_nesting: brackets inside strings and comments are not nesting", "[json_limits]") {
  const std::string brackets(100000, '[');
  CHECK_FALSE(find_excess_nesting("{\"meta\":\"" + brackets + "\"}", 64));
  // An escaped quote does not end the string; an escaped backslash does not escape the quote.
  CHECK_FALSE(find_excess_nesting("[\"\\\"" + brackets + "\"]", 64));
  CHECK(find_excess_nesting("[\"\\\\\"" + brackets + "]", 64).has_value());
  // Comments (campaign files allow them), with quotes in them that must not start a string.
  CHECK_FALSE(find_excess_nesting("// it's \"quoted\n{\"a\":1} /* " + brackets + " */", 64));
  CHECK(find_excess_nesting("// \"\n" + brackets, 64) == 5u + 64u);
  CHECK(find_excess_nesting("/* \" */" + brackets, 64) == 7u + 64u);
}
