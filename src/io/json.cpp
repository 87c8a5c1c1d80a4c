#include "json.h"

#include <unordered_set>

#include "tessera/error.h"

namespace ts::io::json {
namespace {

constexpr int kMaxDepth = 64;

/// Length of the UTF-8 sequence starting at s[i] if it is well formed, else 0.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint32_t cp = 0, min = 0;
  if ((b0 & 0xe0) == 0xc0) { len = 2; cp = b0 & 0x1fu; min = 0x80; }
  else if ((b0 & 0xf0) == 0xe0) { len = 3; cp = b0 & 0x0fu; min = 0x800; }
  else if ((b0 & 0xf8) == 0xf0) { len = 4; cp = b0 & 0x07u; min = 0x10000; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view context) : s_(text), context_(context) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail(fmt::format("unexpected {} after the end of the document", describe_here()));
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    TS_ERROR("{}: malformed JSON at byte {}: {}", context_, pos_, what);
  }

  std::string describe_here() const {
    if (pos_ >= s_.size()) return "end of input";
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("byte 0x{:02x}", c);
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  void expect(char c) {
    if (pos_ >= s_.size() || s_[pos_] != c) fail(fmt::format("expected '{}' but found {}", c, describe_here()));
    ++pos_;
  }

  Value value(int depth) {
    if (depth >= kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    if (pos_ >= s_.size()) fail("unexpected end of input, expected a value");
    switch (s_[pos_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': {
        Value v;
        v.kind = Value::Kind::String;
        v.text = string();
        return v;
      }
      case 't': return literal("true", Value::Kind::Bool, true);
      case 'f': return literal("false", Value::Kind::Bool, false);
      case 'n': return literal("null", Value::Kind::Null, false);
      default: break;
    }
    if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) return number();
    fail(fmt::format("unexpected {}, expected a value", describe_here()));
  }

  Value literal(std::string_view word, Value::Kind kind, bool b) {
    if (s_.substr(pos_, word.size()) != word) fail(fmt::format("unexpected {}, expected a value", describe_here()));
    pos_ += word.size();
    Value v;
    v.kind = kind;
    v.boolean = b;
    return v;
  }

  Value object(int depth) {
    Value v;
    v.kind = Value::Kind::Object;
    expect('{');
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return v;
    }
    std::unordered_set<std::string> keys;  // a header may list thousands of tensors
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail(fmt::format("expected a quoted key but found {}", describe_here()));
      const size_t key_pos = pos_;
      std::string key = string();
      if (!keys.insert(key).second) {
        pos_ = key_pos;
        fail(fmt::format("duplicate key \"{}\"", key));
      }
      skip_ws();
      expect(':');
      skip_ws();
      Value item = value(depth + 1);
      v.members.emplace_back(std::move(key), std::move(item));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      fail(fmt::format("expected ',' or '}}' in an object but found {}", describe_here()));
    }
  }

  Value array(int depth) {
    Value v;
    v.kind = Value::Kind::Array;
    expect('[');
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      fail(fmt::format("expected ',' or ']' in an array but found {}", describe_here()));
    }
  }

  uint32_t hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail(fmt::format("bad hex digit {} in a \\u escape", describe_here()));
      ++pos_;
    }
    return v;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail(fmt::format("unescaped control character 0x{:02x} in a string", c));
      if (c >= 0x80) {
        const size_t len = utf8_sequence_length(s_, pos_);
        if (len == 0) fail("invalid UTF-8 in a string");
        out.append(s_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail("lone low surrogate in a \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s_.substr(pos_, 2) != "\\u") fail("high surrogate not followed by a low surrogate");
            pos_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail(fmt::format("invalid escape \\{}", describe_here()));
      }
    }
  }

  Value number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') fail("leading zero in a number");
    } else if (digits() == 0) {
      fail(fmt::format("expected a digit but found {}", describe_here()));
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail(fmt::format("expected a digit after '.' but found {}", describe_here()));
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail(fmt::format("expected an exponent digit but found {}", describe_here()));
    }
    Value v;
    v.kind = Value::Kind::Number;
    v.text = std::string(s_.substr(start, pos_ - start));
    return v;
  }

  std::string_view s_;
  std::string_view context_;
  size_t pos_ = 0;
};

}  // namespace

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::Number: return "a number";
    case Value::Kind::String: return "a string";
    case Value::Kind::Array: return "an array";
    case Value::Kind::Object: return "an object";
  }
  return "?";
}

Value parse(std::string_view text, std::string_view context) { return Parser(text, context).document(); }

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::optional<uint64_t> as_uint64(const Value& v) {
  if (v.kind != Value::Kind::Number || v.text.empty()) return std::nullopt;
  uint64_t out = 0;
  for (const char c : v.text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (out > (UINT64_MAX - d) / 10) return std::nullopt;
    out = out * 10 + d;
  }
  return out;
}

}  // namespace ts::io::json
