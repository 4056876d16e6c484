// The scan mirrors nlohmann's lexer just enough to know whether a bracket is structural: outside a
// string, '"' opens one; inside, '\' escapes the next byte and an unescaped '"' closes it. Comments
// are skipped even for readers that do not allow them: there nlohmann rejects the '/' itself, so
// whatever the scan skips is never parsed.
#include "labloop/core/json_limits.hpp"

namespace labloop {

std::optional<std::size_t> find_excess_nesting(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[i];
    switch (c) {
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        // Unbalanced closers make the text invalid anyway; never let them buy extra depth later.
        if (depth > 0) --depth;
        break;
      case '"':
        for (++i; i < n && text[i] != '"'; ++i)
          if (text[i] == '\\') ++i;
        break;
      case '/':
        if (i + 1 < n && text[i + 1] == '/') {
          while (i < n && text[i] != '\n') ++i;
        } else if (i + 1 < n && text[i + 1] == '*') {
          const std::size_t close = text.find("*/", i + 2);
          if (close == std::string_view::npos) return std::nullopt;
          i = close + 1;
        }
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

}  // namespace labloop
