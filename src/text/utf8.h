#pragma once
// Strict UTF-8 decoding/encoding and a printable escape for error messages, shared by the
// text tokenizers and their file readers. Private to src/text.
#include <cstddef>
#include <string>
#include <string_view>

namespace ts::text::detail {

/// Decodes the code point starting at text[pos] and sets `len` to its byte length. Returns
/// false (len = 1) for invalid UTF-8: a stray continuation byte, a truncated sequence, an
/// overlong encoding, a surrogate or a value above U+10FFFF -- the same bytes Python's
/// strict decoder rejects, so a vocabulary matches `sorted(set(text))` exactly.
bool decode_utf8(std::string_view text, size_t pos, char32_t& cp, size_t& len);

/// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string& out, char32_t cp);

/// True for values that are Unicode scalar values (what UTF-8 may encode).
inline bool is_scalar_value(char32_t cp) { return cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF); }

/// A character for an error message: printable ASCII as itself in quotes, anything else as
/// an escape ('\n', U+00E9), so messages stay one readable line.
std::string describe_char(char32_t cp);

/// At most `max_bytes` of `s` with non-printable bytes escaped (\xNN), for quoting file
/// lines in errors.
std::string escape_bytes(std::string_view s, size_t max_bytes = 60);

}  // namespace ts::text::detail
