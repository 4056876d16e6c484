#pragma once
// Text safe to write to a terminal. A driver's words, a person's name or a folder's name reach
// the console and the logs, and must not be able to forge other lines, move the cursor, clear
// the screen, reorder a line (bidirectional controls) or leave bytes a reader cannot decode.
#include <string>
#include <string_view>

namespace labloop {

// `text` with control characters (C0, DEL, C1) shown as \x1b or \u0085, bidirectional
// formatting characters (the controls U+202A–U+202E, U+2066–U+2069 and the marks U+200E, U+200F,
// U+061C) as \u202e, the line and paragraph separators U+2028, U+2029 (a line break to some
// viewers) as \u2028, characters nobody sees (zero-width space U+200B, word joiner and invisible
// operators U+2060–U+2064, byte-order mark U+FEFF, soft hyphen U+00AD) as \u200b, bytes that are
// not UTF-8 as \xff, a tab as a space, and line breaks as \n unless `keep_line_breaks` (a
// multi-line error message of our own). The zero-width (non-)joiners U+200C, U+200D stay: Persian
// and Indic names and emoji need them.
std::string printable(std::string_view text, bool keep_line_breaks = false);

// Whether `text` is well-formed UTF-8 (RFC 3629). Text read from files (CSV cells) must be: it
// goes into JSON, whose writer refuses anything else.
bool valid_utf8(std::string_view text);
// The characters (Unicode code points) in UTF-8 `text`: what a limit stated in characters counts
// ("°C" is two, in three bytes).
std::size_t character_count(std::string_view text);

// Whether `text` is plain text on one line, shown as itself: printable(text) == text. What a
// person types for the record (a name, a reason) must be, or it is refused.
bool plain_text(std::string_view text);

// Why `text` is not plain text ("" when it is): its first character printable() would not show
// as itself, named by kind and as its escape, e.g. "holds a bidirectional mark (\u200f)". For
// refusals a person can act on: "--by holds a line break (\n); write it as plain text on one line".
std::string plain_text_problem(std::string_view text);

// The length in bytes of the Unicode space separator at text[i] that a reader sees as a blank:
// no-break U+00A0, U+1680, U+2000–U+200A, U+2028/9, U+202F, U+205F, the ideographic U+3000; 0
// for anything else (ASCII included).
std::size_t unicode_blank_length(std::string_view text, std::size_t i);

// Whether `text` is empty or only blanks (ASCII white space or unicode_blank_length's): no name,
// no reason.
bool is_blank(std::string_view text);

// `text` without the blanks (ASCII white space, Unicode space separators such as U+00A0 and
// U+3000) at its start and its end: what a person typed for the record (a name, a reason), as
// kept. "  Ana", "Ana " and "Ana<U+00A0>" are the person "Ana": labloop enter, its --csv cells
// and the console trim alike before checking and recording (a tab or line break inside is still
// refused as not plain text).
std::string trimmed(std::string_view text);

// A word a POSIX shell reads as itself: as it is when it holds only characters no shell treats
// specially, else in single quotes, each ' written '\''. For the commands labloop suggests
// (`labloop resume FOLDER`), which are copied into a shell: a folder "my runs" must not become
// two words, nor "runs;rm x" a second command.
std::string shell_word(std::string_view text);
// A folder or file as such a command's argument: shell_word, with "./" before a relative path
// that starts with '-', which the command would read as an option (`labloop resume ./-out`).
std::string path_word(std::string_view path);

}  // namespace labloop
