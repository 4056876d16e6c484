#include "labloop/core/printable.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace labloop {

namespace {

// The length of the well-formed UTF-8 sequence of two bytes or more starting at text[i], or 0
// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
  const unsigned c = at(0);
  const auto continuation = [&](std::size_t k) { return (at(k) & 0xC0u) == 0x80u; };
  if (c >= 0xC2 && c <= 0xDF) return continuation(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && continuation(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

// What a code point of two bytes or more is when a reader would not see it as itself: a kind for
// plain_text_problem's words, or nullptr for text shown as it is.
const char* unshown_kind(int code) {
  if (code >= 0x80 && code <= 0x9F) return "a control character";  // C1
  // Controls and marks that reorder the rest of the line on screen.
  if ((code >= 0x202A && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069)) return "a bidirectional control";
  if (code == 0x200E || code == 0x200F || code == 0x061C) return "a bidirectional mark";
  if (code == 0x2028 || code == 0x2029) return "a line or paragraph separator";
  // Invisible: "ann" and "a<U+200B>nn" read the same but are different names.
  if (code == 0x200B || (code >= 0x2060 && code <= 0x2064) || code == 0xFEFF || code == 0x00AD) return "an invisible character";
  return nullptr;
}

// printable(), and the first character it did not show as itself, described, into `problem`.
std::string shown(std::string_view text, bool keep_line_breaks, std::string* problem) {
  std::string out;
  out.reserve(text.size());
  const auto note = [&](const char* kind, std::string_view as) {
    if (problem && problem->empty()) *problem = fmt::format("holds {} ({})", kind, as);
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t before = out.size();
    if (c == '\n' && keep_line_breaks) out += '\n';
    else if (c == '\n') out += "\\n", note("a line break", "\\n");
    else if (c == '\t') out += ' ', note("a tab", "\\t");
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c), note("a control character", std::string_view(out).substr(before));
    else if (c < 0x80) out += static_cast<char>(c);
    else if (const std::size_t n = utf8_length(text, i); n == 0) {
      out += fmt::format("\\x{:02x}", c);  // not UTF-8: a reader of the log would stop here
      note("bytes that are not UTF-8", std::string_view(out).substr(before));
    } else {
      const auto b1 = static_cast<unsigned char>(text[i + 1]);
      const int code = n == 2 ? ((c & 0x1F) << 6) | (b1 & 0x3F)
                     : n == 3 ? ((c & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (static_cast<unsigned char>(text[i + 2]) & 0x3F)
                              : -1;
      if (const char* kind = unshown_kind(code)) {
        out += fmt::format("\\u{:04x}", code);
        note(kind, std::string_view(out).substr(before));
      } else {
        out.append(text.substr(i, n));
      }
      i += n - 1;
    }
  }
  return out;
}

}  // namespace

std::string printable(std::string_view text, bool keep_line_breaks) { return shown(text, keep_line_breaks, nullptr); }

std::string plain_text_problem(std::string_view text) {
  std::string problem;
  shown(text, false, &problem);
  return problem;
}

bool plain_text(std::string_view text) { return plain_text_problem(text).empty(); }

std::size_t unicode_blank_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::string_view seq) { return text.substr(i, seq.size()) == seq ? seq.size() : 0; };
  if (const std::size_t n = at("\u00A0") + at("\u1680") + at("\u2028") + at("\u2029") + at("\u202F") + at("\u205F") + at("\u3000"))
    return n;
  // U+2000–U+200A: E2 80 80–8A.
  if (i + 2 < text.size() && text[i] == '\xE2' && text[i + 1] == '\x80' && static_cast<unsigned char>(text[i + 2]) <= 0x8A &&
      static_cast<unsigned char>(text[i + 2]) >= 0x80)
    return 3;
  return 0;
}

namespace {

// The length of the blank at text[i] as a person's words are read: ASCII white space or a
// Unicode space separator.
std::size_t any_blank_length(std::string_view text, std::size_t i) {
  if (std::isspace(static_cast<unsigned char>(text[i])) != 0) return 1;
  return unicode_blank_length(text, i);
}

// The length of the blank that ends `text`, 0 when none does.
std::size_t trailing_blank_length(std::string_view text) {
  for (std::size_t k = 1; k <= 3 && k <= text.size(); ++k)
    if (any_blank_length(text, text.size() - k) == k) return k;
  return 0;
}

}  // namespace

bool is_blank(std::string_view text) { return trimmed(text).empty(); }

std::string trimmed(std::string_view text) {
  while (!text.empty())
    if (const std::size_t n = any_blank_length(text, 0)) text.remove_prefix(n);
    else break;
  while (const std::size_t n = trailing_blank_length(text)) text.remove_suffix(n);
  return std::string(text);
}

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) < 0x80) continue;
    const std::size_t n = utf8_length(text, i);
    if (n == 0) return false;
    i += n - 1;
  }
  return true;
}

std::string shell_word(std::string_view text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(text);
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string path_word(std::string_view path) {
  return shell_word(!path.empty() && path.front() == '-' ? "./" + std::string(path) : std::string(path));
}

std::size_t character_count(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace labloop
