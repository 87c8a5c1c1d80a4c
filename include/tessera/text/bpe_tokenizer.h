#pragma once
/// Byte-level BPE (GPT-2 style): ids 0..255 are the bytes, each learned merge (left, right)
/// adds the token `bytes(left) + bytes(right)` with the next id. Any byte string encodes and
/// decodes back exactly, including invalid UTF-8 and NUL bytes. Merges apply within the
/// chunks of text::pretokenize only.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ts::text {

/// Called after each learned merge with (merges done, merges requested).
using ProgressFn = std::function<void(int64_t, int64_t)>;

class BpeTokenizer {
 public:
  static constexpr int32_t kNumByteTokens = 256;
  using Merge = std::pair<int32_t, int32_t>;  ///< (left id, right id)

  /// The 256 byte tokens and no merges.
  BpeTokenizer();

  /// Learns up to vocab_size - 256 merges from `text`: repeatedly merges the most frequent
  /// adjacent pair (counted over the pre-tokenized chunks, overlapping occurrences included),
  /// ties going to the smallest (left, right). Stops early when no pair is left, so
  /// vocab_size() may come out smaller. vocab_size < 256 -> ts::Error.
  static BpeTokenizer train(std::string_view text, int64_t vocab_size, const ProgressFn& progress = {});
  /// A tokenizer from a merge list (merge i defines id 256 + i); validated like load().
  static BpeTokenizer from_merges(std::vector<Merge> merges);

  /// Token ids of `text`: each chunk is split into bytes and merged by rank (lowest first,
  /// leftmost first among equal ranks), the order the merges were learned in.
  std::vector<int32_t> encode(std::string_view text) const;
  /// The bytes of `ids` concatenated; an id outside [0, vocab_size) -> ts::Error.
  std::string decode(const std::vector<int32_t>& ids) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The bytes token `id` stands for; out of range -> ts::Error.
  const std::string& token_bytes(int32_t id) const;
  /// Merge i produced token 256 + i.
  const std::vector<Merge>& merges() const { return merges_; }

  /// Text file: `tessera-bpe v1 <num_merges>`, then one `<left> <right>` line per merge in
  /// rank order. Written atomically (temporary file, then rename).
  void save(const std::string& path) const;
  /// Reads a file written by save(), validating every line: ts::Error names the file, the
  /// line number and what was expected (header, counts, numbers, ids defined before the
  /// merge, duplicate merges, truncation).
  static BpeTokenizer load(const std::string& path);

 private:
  /// Why merge (left, right) cannot be appended now, or "" when it can.
  std::string check_merge(uint64_t left, uint64_t right) const;
  void add_merge(int32_t left, int32_t right);
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const;

  std::vector<Merge> merges_;
  std::vector<std::string> tokens_;              ///< bytes of every id
  std::unordered_map<uint64_t, int32_t> rank_;   ///< pair key -> merge index
};

}  // namespace ts::text
