#pragma once
/// Character-level tokenizer (nanoGPT's shakespeare_char): the vocabulary is the sorted set of
/// distinct Unicode code points of a training text, and a character's id is its rank in that
/// set -- the same ids as Python's `sorted(set(text))`.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ts::text {

class CharTokenizer {
 public:
  /// The vocabulary of `text` (UTF-8). Invalid UTF-8 or an empty text -> ts::Error naming the
  /// byte offset.
  static CharTokenizer fit(std::string_view text);
  /// A tokenizer over the given code points, which must be strictly increasing scalar values.
  static CharTokenizer from_code_points(std::vector<char32_t> code_points);

  /// One id per character. A character outside the vocabulary or invalid UTF-8 -> ts::Error
  /// naming the character and its byte offset.
  std::vector<int32_t> encode(std::string_view text) const;
  /// The UTF-8 text of `ids`; an id outside [0, vocab_size) -> ts::Error naming its position.
  std::string decode(const std::vector<int32_t>& ids) const;

  int64_t vocab_size() const { return static_cast<int64_t>(chars_.size()); }
  /// The vocabulary in id order.
  const std::vector<char32_t>& code_points() const { return chars_; }

  /// Text file: `tessera-chars v1 <count>` then one `U+XXXX` line per character, in id
  /// order. Written atomically.
  void save(const std::string& path) const;
  /// Reads a file written by save(), validating it: ts::Error names the file, the line and
  /// what was expected (bad header, bad or unsorted or duplicate entries, wrong count).
  static CharTokenizer load(const std::string& path);

 private:
  explicit CharTokenizer(std::vector<char32_t> chars);

  std::vector<char32_t> chars_;     ///< sorted; id = index
  std::array<int32_t, 128> ascii_;  ///< id of each ASCII character or -1: the common case
};

}  // namespace ts::text
