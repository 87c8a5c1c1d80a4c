#pragma once
// A small JSON (RFC 8259) reader and string writer, enough for the safetensors header: no
// third-party parser, strict about what it accepts so that corrupt headers are rejected.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ts::io::json {

struct Value {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;                                    ///< String: decoded UTF-8; Number: the literal
  std::vector<Value> items;                            ///< Array
  std::vector<std::pair<std::string, Value>> members;  ///< Object, in document order, keys unique
};

/// "an object", "a string", ... for error messages.
const char* kind_name(Value::Kind kind);

/// Parses one document (whitespace around it allowed). Malformed input -- bad syntax,
/// invalid UTF-8, lone surrogates, duplicate object keys, nesting deeper than 64 -- throws
/// ts::Error "<context>: malformed JSON at byte N: <what>".
Value parse(std::string_view text, std::string_view context);

/// Appends `s` (UTF-8) to `out` as a quoted JSON string.
void append_string(std::string& out, std::string_view s);

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// The value of a Number that is a plain non-negative integer (no sign, fraction or
/// exponent) fitting in 64 bits; nullopt otherwise.
std::optional<uint64_t> as_uint64(const Value& v);

}  // namespace ts::io::json
