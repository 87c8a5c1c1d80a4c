#include "tessera/text/pretokenize.h"

#include <cstdint>

namespace ts::text {
namespace {

enum class ByteClass : uint8_t { Space, Letter, Digit, Other };

ByteClass classify(char c) {
  const auto b = static_cast<unsigned char>(c);
  if (b == ' ' || (b >= '\t' && b <= '\r')) return ByteClass::Space;
  if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80) return ByteClass::Letter;
  if (b >= '0' && b <= '9') return ByteClass::Digit;
  return ByteClass::Other;
}

}  // namespace

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> chunks;
  chunks.reserve(text.size() / 4 + 1);
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    // A single space directly before a word belongs to the word (" the").
    if (text[i] == ' ' && i + 1 < n && classify(text[i + 1]) != ByteClass::Space) ++i;
    const ByteClass cls = classify(text[i]);
    if (cls != ByteClass::Space) {
      while (i < n && classify(text[i]) == cls) ++i;
      chunks.push_back(text.substr(start, i - start));
      continue;
    }
    size_t end = i;
    while (end < n && classify(text[end]) == ByteClass::Space) ++end;
    // Leave a final space to the next word; a lone space before a word was taken above.
    if (end < n && text[end - 1] == ' ' && end - 1 > i) --end;
    chunks.push_back(text.substr(i, end - i));
    i = end;
  }
  return chunks;
}

}  // namespace ts::text
