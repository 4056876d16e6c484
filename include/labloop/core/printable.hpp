#pragma once
// Text safe to write to a terminal. A driver's words, a person's name or a folder's name reach
// the console and the logs, and must not be able to forge other lines, move the cursor, clear
// the screen, reorder a line (bidirectional controls) or leave bytes a reader cannot decode.
#include <string>
#include <string_view>

namespace labloop {

// `text` with control characters (C0, DEL, C1) shown as \x1b or \u0085, bidirectional
// formatting characters (U+202A–U+202E, U+2066–U+2069) as \u202e, bytes that are not UTF-8 as
// \xff, a tab as a space, and line breaks as \n unless `keep_line_breaks` (a multi-line error
// message of our own).
std::string printable(std::string_view text, bool keep_line_breaks = false);

// Whether `text` is well-formed UTF-8 (RFC 3629). Text read from files (CSV cells) must be: it
// goes into JSON, whose writer refuses anything else.
bool valid_utf8(std::string_view text);

// Whether `text` is plain text on one line, shown as itself: printable(text) == text. What a
// person types for the record (a name, a reason) must be, or it is refused.
bool plain_text(std::string_view text);

// A word a POSIX shell reads as itself: as it is when it holds only characters no shell treats
// specially, else in single quotes, each ' written '\''. For the commands labloop suggests
// (`labloop resume FOLDER`), which are copied into a shell: a folder "my runs" must not become
// two words, nor "runs;rm x" a second command.
std::string shell_word(std::string_view text);

}  // namespace labloop
