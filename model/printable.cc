#include "model/printable.h"

#include <cstdint>
#include <cstdio>

namespace ccprof::model {
namespace {

void append_hex(std::string& out, const char* prefix, unsigned v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, digits, v);
  out += buf;
}

// Length of the valid UTF-8 sequence at s[i] (2-4) and its code point; 0 when invalid.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len;
  uint32_t min;
  if ((b0 & 0xe0) == 0xc0) len = 2, min = 0x80, *cp = b0 & 0x1f;
  else if ((b0 & 0xf0) == 0xe0) len = 3, min = 0x800, *cp = b0 & 0x0f;
  else if ((b0 & 0xf8) == 0xf0) len = 4, min = 0x10000, *cp = b0 & 0x07;
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not valid UTF-8.
  if (*cp < min || (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff) return 0;
  return len;
}

bool is_bidi_control(uint32_t cp) {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f ||
         cp == 0x061c;
}

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      // "\x1b" typed literally must not read like an escaped ESC.
      if (c == '\\' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'u' || s[i + 1] == '\\' ||
                                            s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't'))
        out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\r') { out += "\\r"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c < 0x80) {  // other C0 controls and DEL
      append_hex(out, "\\x", c, 2);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = utf8_sequence(s, i, &cp);
    if (len == 0) {
      append_hex(out, "\\x", c, 2);
      ++i;
    } else if ((cp >= 0x80 && cp <= 0x9f) || is_bidi_control(cp)) {
      append_hex(out, "\\u", cp, 4);
      i += len;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace ccprof::model
