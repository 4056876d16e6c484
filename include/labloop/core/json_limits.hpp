#pragma once
// Nesting limits for JSON read from outside the program (protocol frames, campaign files, journal
// and cache lines). nlohmann_json parses without recursion but copies, compares, dumps and some
// destructors recurse once per level, so a 200 KB text of 100,000 '[' crashes the process with a
// stack overflow long after parsing succeeded. Every reader therefore checks the nesting of the raw
// text with find_excess_nesting() before handing it to nlohmann, and rejects it with its own
// layer's error. The limits themselves live beside their users:
//   protocol::kMaxMessageDepth (protocol.hpp), kMaxConfigDepth (campaign_config.hpp),
//   kMaxJournalLineDepth (journal.hpp), and outside the library labloop-sim's kMaxSpecDepth
//   (simulators/dataset.hpp). docs/reliability.md lists them all.
#include <cstddef>
#include <optional>
#include <string_view>

namespace labloop {

// Depth counts open arrays and objects: `1`, `"x"` → 0; `{}`, `[1]` → 1; `{"a":[{}]}` → 3.
// Returns the byte offset of the first '[' or '{' that opens level max_depth + 1, or nullopt when
// `text` never nests deeper than max_depth. A linear scan that does not allocate: brackets inside
// strings (with their escapes) and inside // and /* */ comments do not count. The text need not be
// valid JSON; for text that is, the answer is exact, and for text that is not, it never
// under-counts what nlohmann would have built before reporting its error.
std::optional<std::size_t> find_excess_nesting(std::string_view text, std::size_t max_depth);

}  // namespace labloop
