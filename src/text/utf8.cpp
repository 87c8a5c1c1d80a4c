#include "utf8.h"

#include <fmt/format.h>

#include <cstdint>

namespace ts::text::detail {

bool decode_utf8(std::string_view text, size_t pos, char32_t& cp, size_t& len) {
  len = 1;
  const auto b0 = static_cast<unsigned char>(text[pos]);
  if (b0 < 0x80) {
    cp = b0;
    return true;
  }
  size_t need = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    need = 1, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    need = 2, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    need = 3, min = 0x10000, cp = b0 & 0x07;
  } else {
    return false;  // a continuation byte or 0xF8..0xFF cannot start a character
  }
  if (pos + need >= text.size()) return false;  // truncated at the end of the text
  for (size_t k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(text[pos + k]);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || !is_scalar_value(cp)) return false;  // overlong, surrogate or too large
  len = need + 1;
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string describe_char(char32_t cp) {
  switch (cp) {
    case '\n': return "'\\n' (U+000A)";
    case '\t': return "'\\t' (U+0009)";
    case '\r': return "'\\r' (U+000D)";
    default: break;
  }
  const auto value = static_cast<uint32_t>(cp);
  if (cp >= 0x20 && cp < 0x7F) return fmt::format("'{}' (U+{:04X})", static_cast<char>(cp), value);
  return fmt::format("U+{:04X}", value);
}

std::string escape_bytes(std::string_view s, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7F && b != '\\') {
      out.push_back(static_cast<char>(b));
    } else {
      out += fmt::format("\\x{:02x}", b);
    }
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

}  // namespace ts::text::detail
