#pragma once
// Text from the target (its command line, executable path, comm, symbol and file
// names) or from a recording someone sent reaches the user's terminal in the summary,
// the logs and the error messages. Control characters in it would be executed by the
// terminal (clear the screen, set the window title, rewrite the line shown above), so
// every such string is passed through printable() first.
#include <string>
#include <string_view>

namespace ccprof::model {

// Escapes what a terminal would act on instead of showing: C0 controls and DEL
// ("\x1b" -> "\\x1b", "\n" -> "\\n"), C1 controls (U+0080-U+009F), bytes that are not
// valid UTF-8 ("\\xff"), and the Unicode bidirectional overrides and isolates, which
// reorder the text shown around them. Valid printable UTF-8 (non-ASCII names) is kept.
// A backslash is doubled only where it would otherwise read as one of these escapes.
std::string printable(std::string_view s);

}  // namespace ccprof::model
