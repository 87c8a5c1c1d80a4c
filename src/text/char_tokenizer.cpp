#include "tessera/text/char_tokenizer.h"

#include <algorithm>
#include <charconv>

#include "tessera/error.h"
#include "text_io.h"
#include "utf8.h"

namespace ts::text {
namespace {

constexpr std::string_view kMagic = "tessera-chars";
constexpr std::string_view kVersion = "v1";

/// `U+` and 4 to 6 uppercase hex digits, as save() writes them.
bool parse_code_point(std::string_view s, char32_t& cp) {
  if (s.size() < 6 || s.size() > 8 || s.substr(0, 2) != "U+") return false;
  uint32_t value = 0;
  for (char c : s.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  const auto [end, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), value, 16);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  cp = value;
  return true;
}

}  // namespace

CharTokenizer::CharTokenizer(std::vector<char32_t> chars) : chars_(std::move(chars)) {
  ascii_.fill(-1);
  for (size_t i = 0; i < chars_.size() && chars_[i] < 128; ++i) ascii_[chars_[i]] = static_cast<int32_t>(i);
}

CharTokenizer CharTokenizer::fit(std::string_view text) {
  TS_CHECK(!text.empty(), "CharTokenizer::fit: the training text is empty; a vocabulary needs at least one character");
  std::array<bool, 128> seen_ascii{};
  std::vector<char32_t> others;
  for (size_t pos = 0; pos < text.size();) {
    char32_t cp = 0;
    size_t len = 0;
    TS_CHECK(detail::decode_utf8(text, pos, cp, len),
             "CharTokenizer::fit: the training text is not valid UTF-8 at byte offset {} (byte 0x{:02x})", pos,
             static_cast<unsigned char>(text[pos]));
    if (cp < 128) {
      seen_ascii[cp] = true;
    } else {
      others.push_back(cp);
    }
    pos += len;
  }
  std::vector<char32_t> chars;
  for (char32_t c = 0; c < 128; ++c) {
    if (seen_ascii[c]) chars.push_back(c);
  }
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  chars.insert(chars.end(), others.begin(), others.end());
  return CharTokenizer(std::move(chars));
}

CharTokenizer CharTokenizer::from_code_points(std::vector<char32_t> code_points) {
  TS_CHECK(!code_points.empty(), "CharTokenizer::from_code_points: the vocabulary is empty");
  for (size_t i = 0; i < code_points.size(); ++i) {
    TS_CHECK(detail::is_scalar_value(code_points[i]),
             "CharTokenizer::from_code_points: entry {} (U+{:04X}) is not a Unicode scalar value", i,
             static_cast<uint32_t>(code_points[i]));
    TS_CHECK(i == 0 || code_points[i - 1] < code_points[i],
             "CharTokenizer::from_code_points: entry {} ({}) does not follow entry {} ({}); the code points must be "
             "strictly increasing", i, detail::describe_char(code_points[i]), i - 1,
             detail::describe_char(code_points[i - 1]));
  }
  return CharTokenizer(std::move(code_points));
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const auto b = static_cast<unsigned char>(text[pos]);
    if (b < 128 && ascii_[b] >= 0) {
      ids.push_back(ascii_[b]);
      ++pos;
      continue;
    }
    char32_t cp = 0;
    size_t len = 0;
    TS_CHECK(detail::decode_utf8(text, pos, cp, len),
             "CharTokenizer::encode: the text is not valid UTF-8 at byte offset {} (byte 0x{:02x})", pos, b);
    const auto it = std::lower_bound(chars_.begin(), chars_.end(), cp);
    TS_CHECK(it != chars_.end() && *it == cp,
             "CharTokenizer::encode: character {} at byte offset {} is not in the vocabulary ({} characters)",
             detail::describe_char(cp), pos, chars_.size());
    ids.push_back(static_cast<int32_t>(it - chars_.begin()));
    pos += len;
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    TS_CHECK(id >= 0 && static_cast<size_t>(id) < chars_.size(),
             "CharTokenizer::decode: id {} at position {} is out of range for a vocabulary of {} characters", id, i,
             chars_.size());
    detail::append_utf8(out, chars_[static_cast<size_t>(id)]);
  }
  return out;
}

void CharTokenizer::save(const std::string& path) const {
  std::string out = fmt::format("{} {} {}\n", kMagic, kVersion, chars_.size());
  for (char32_t c : chars_) out += fmt::format("U+{:04X}\n", static_cast<uint32_t>(c));
  detail::write_file_atomically(path, out, "CharTokenizer::save");
}

CharTokenizer CharTokenizer::load(const std::string& path) {
  const std::string content = detail::read_whole_file(path, "CharTokenizer::load");
  bool unterminated = false;
  const std::vector<std::string_view> lines = detail::split_lines(content, unterminated);
  TS_CHECK(!lines.empty(), "CharTokenizer::load: '{}' line 1: the file is empty; expected the header '{} {} <count>'",
           path, kMagic, kVersion);
  const std::vector<std::string_view> header = detail::split_fields(lines[0]);
  const auto count = header.size() == 3 ? detail::parse_uint(header[2]) : std::nullopt;
  TS_CHECK(header.size() == 3 && header[0] == kMagic && header[1] == kVersion && count.has_value() && *count > 0,
           "CharTokenizer::load: '{}' line 1: expected the header '{} {} <count>' with a positive count, got '{}'",
           path, kMagic, kVersion, detail::escape_bytes(lines[0]));
  const size_t n = lines.size() - 1;
  TS_CHECK(!unterminated,
           "CharTokenizer::load: '{}' line {}: the file is truncated (the last line has no newline); expected {} "
           "characters", path, lines.size(), *count);
  TS_CHECK(n >= *count,
           "CharTokenizer::load: '{}' line {}: the file is truncated: the header promises {} characters but the "
           "file lists {}", path, lines.size() + 1, *count, n);
  TS_CHECK(n == *count, "CharTokenizer::load: '{}' line {}: expected the end of the file after {} characters, got '{}'",
           path, *count + 2, *count, detail::escape_bytes(lines[*count + 1]));
  std::vector<char32_t> chars;
  chars.reserve(n);
  for (size_t i = 1; i < lines.size(); ++i) {
    char32_t cp = 0;
    TS_CHECK(parse_code_point(lines[i], cp) && detail::is_scalar_value(cp),
             "CharTokenizer::load: '{}' line {}: expected a character as U+XXXX (4 to 6 uppercase hex digits, a "
             "Unicode scalar value), got '{}'", path, i + 1, detail::escape_bytes(lines[i]));
    if (!chars.empty() && cp <= chars.back()) {
      const auto it = std::lower_bound(chars.begin(), chars.end(), cp);
      TS_CHECK(*it != cp, "CharTokenizer::load: '{}' line {}: duplicate character {} (already on line {})", path,
               i + 1, detail::describe_char(cp), it - chars.begin() + 2);
    }
    TS_CHECK(chars.empty() || cp > chars.back(),
             "CharTokenizer::load: '{}' line {}: character {} is out of order; expected code points in increasing "
             "order (after {})", path, i + 1, detail::describe_char(cp), detail::describe_char(chars.back()));
    chars.push_back(cp);
  }
  return CharTokenizer(std::move(chars));
}

}  // namespace ts::text
