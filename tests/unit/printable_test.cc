#include "model/printable.h"

#include <gtest/gtest.h>

namespace ccprof::model {
namespace {

TEST(Printable, PlainTextAndUtf8AreKept) {
  EXPECT_EQ(printable("./build/s01 --threads=4"), "./build/s01 --threads=4");
  EXPECT_EQ(printable("/tmp/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac"), "/tmp/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, TerminalEscapesAreShownNotExecuted) {
  // Clear screen + home, and an OSC window-title sequence ending in BEL.
  EXPECT_EQ(printable("a\x1b[2J\x1b[Hb"), "a\\x1b[2J\\x1b[Hb");
  EXPECT_EQ(printable("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(printable("line1\nline2\r\tx\x7f"), "line1\\nline2\\r\\tx\\x7f");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  // No byte below 0x20 or DEL survives.
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (char c : printable(all)) {
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << static_cast<int>(c);
  }
}

TEST(Printable, C1ControlsInvalidUtf8AndBidiOverridesAreEscaped) {
  EXPECT_EQ(printable("\xc2\x9b" "2J"), "\\u009b2J");  // CSI as a UTF-8 C1 control
  EXPECT_EQ(printable("\x9b" "2J"), "\\x9b2J");        // CSI as a raw 8-bit byte
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");      // overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(printable("abc\xe2\x80\xae" "txt.exe"), "abc\\u202etxt.exe");  // right-to-left override
  EXPECT_EQ(printable("\xe2\x81\xa6x"), "\\u2066x");
  EXPECT_EQ(printable("cut\xe2\x80"), "cut\\xe2\\x80");  // truncated sequence
}

TEST(Printable, LiteralBackslashEscapesCannotImitateEscapedOnes) {
  EXPECT_EQ(printable("\\x1b"), "\\\\x1b");
  EXPECT_NE(printable("\\x1b"), printable("\x1b"));
  EXPECT_EQ(printable("C:\\dir"), "C:\\dir");
}

}  // namespace
}  // namespace ccprof::model
