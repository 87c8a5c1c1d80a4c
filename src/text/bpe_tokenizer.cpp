#include "tessera/text/bpe_tokenizer.h"

#include <algorithm>
#include <limits>

#include "bpe_pair.h"
#include "tessera/error.h"
#include "tessera/text/pretokenize.h"
#include "text_io.h"
#include "utf8.h"

namespace ts::text {
namespace {

constexpr std::string_view kMagic = "tessera-bpe";
constexpr std::string_view kVersion = "v1";
/// Ids must fit int32_t.
constexpr uint64_t kMaxMerges = std::numeric_limits<int32_t>::max() - BpeTokenizer::kNumByteTokens;
/// Chunks longer than this are encoded but not cached: they are rare and would bloat the cache.
constexpr size_t kMaxCachedChunk = 64;

}  // namespace

BpeTokenizer::BpeTokenizer() {
  tokens_.reserve(kNumByteTokens);
  for (int b = 0; b < kNumByteTokens; ++b) tokens_.emplace_back(1, static_cast<char>(b));
}

std::string BpeTokenizer::check_merge(uint64_t left, uint64_t right) const {
  const auto defined = static_cast<uint64_t>(vocab_size());
  if (left >= defined || right >= defined) {
    return fmt::format("merge ({}, {}) refers to token {}, but only ids 0..{} are defined before it (it would "
                       "define id {})", left, right, std::max(left, right), defined - 1, defined);
  }
  const auto it = rank_.find(detail::pair_key(static_cast<int32_t>(left), static_cast<int32_t>(right)));
  if (it != rank_.end()) {
    return fmt::format("merge ({}, {}) is a duplicate of merge {} (id {})", left, right, it->second,
                       kNumByteTokens + it->second);
  }
  return {};
}

void BpeTokenizer::add_merge(int32_t left, int32_t right) {
  const auto rank = static_cast<int32_t>(merges_.size());
  merges_.emplace_back(left, right);
  rank_.emplace(detail::pair_key(left, right), rank);
  tokens_.push_back(fmt::format("{}{}", tokens_[static_cast<size_t>(left)], tokens_[static_cast<size_t>(right)]));
}

BpeTokenizer BpeTokenizer::from_merges(std::vector<Merge> merges) {
  TS_CHECK(merges.size() <= kMaxMerges, "BpeTokenizer::from_merges: {} merges is more than the {} int32 ids allow",
           merges.size(), kMaxMerges);
  BpeTokenizer tok;
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto [left, right] = merges[i];
    TS_CHECK(left >= 0 && right >= 0, "BpeTokenizer::from_merges: merge {} ({}, {}) has a negative id", i, left,
             right);
    const std::string problem = tok.check_merge(static_cast<uint64_t>(left), static_cast<uint64_t>(right));
    TS_CHECK(problem.empty(), "BpeTokenizer::from_merges: merge {}: {}", i, problem);
    tok.add_merge(left, right);
  }
  return tok;
}

const std::string& BpeTokenizer::token_bytes(int32_t id) const {
  TS_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer::token_bytes: id {} is out of range for a vocabulary of {}",
           id, vocab_size());
  return tokens_[static_cast<size_t>(id)];
}

// Merges by rank with a min-heap of candidate pairs over a linked list of symbols:
// O(n log n) per chunk, so even a megabyte-long chunk (a run of non-ASCII bytes) is fast.
// Equal ranks pop leftmost first, and a merge only creates pairs of higher rank (they contain
// the new id), so this applies merges in exactly the order training learned them.
void BpeTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
  const size_t n = chunk.size();
  if (n == 1 || merges_.empty()) {
    for (char c : chunk) out.push_back(static_cast<unsigned char>(c));
    return;
  }
  std::vector<int32_t> tok(n), next(n), prev(n);
  for (size_t i = 0; i < n; ++i) {
    tok[i] = static_cast<unsigned char>(chunk[i]);
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    prev[i] = static_cast<int32_t>(i) - 1;
  }
  using Candidate = std::pair<int32_t, int32_t>;  // (rank, position of the left symbol)
  std::vector<Candidate> heap;
  const auto push = [&](int32_t i) {
    const int32_t j = next[static_cast<size_t>(i)];
    if (j < 0) return;
    const auto it = rank_.find(detail::pair_key(tok[static_cast<size_t>(i)], tok[static_cast<size_t>(j)]));
    if (it == rank_.end()) return;
    heap.emplace_back(it->second, i);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const auto [rank, i] = heap.back();
    heap.pop_back();
    const auto ui = static_cast<size_t>(i);
    const int32_t j = next[ui];
    // Stale candidates: the left symbol was merged away or either side changed since.
    if (tok[ui] < 0 || j < 0) continue;
    const auto uj = static_cast<size_t>(j);
    const Merge& m = merges_[static_cast<size_t>(rank)];
    if (tok[ui] != m.first || tok[uj] != m.second) continue;
    tok[ui] = kNumByteTokens + rank;
    tok[uj] = -1;
    next[ui] = next[uj];
    if (next[uj] >= 0) prev[static_cast<size_t>(next[uj])] = i;
    if (prev[ui] >= 0) push(prev[ui]);
    push(i);
  }
  for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)]) out.push_back(tok[static_cast<size_t>(i)]);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2 + 1);
  // Natural text repeats a few thousand words: encode each distinct chunk once per call.
  // (A per-call cache keeps encode() const and thread-safe.)
  std::unordered_map<std::string_view, std::vector<int32_t>> cache;
  std::vector<int32_t> scratch;
  for (std::string_view chunk : pretokenize(text)) {
    if (chunk.size() > kMaxCachedChunk) {
      encode_chunk(chunk, ids);
      continue;
    }
    auto [it, inserted] = cache.try_emplace(chunk);
    if (inserted) encode_chunk(chunk, it->second);
    ids.insert(ids.end(), it->second.begin(), it->second.end());
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 3);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    TS_CHECK(id >= 0 && id < vocab_size(),
             "BpeTokenizer::decode: id {} at position {} is out of range for a vocabulary of {}", id, i, vocab_size());
    out += tokens_[static_cast<size_t>(id)];
  }
  return out;
}

void BpeTokenizer::save(const std::string& path) const {
  std::string out = fmt::format("{} {} {}\n", kMagic, kVersion, merges_.size());
  for (const auto& [left, right] : merges_) out += fmt::format("{} {}\n", left, right);
  detail::write_file_atomically(path, out, "BpeTokenizer::save");
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  const std::string content = detail::read_whole_file(path, "BpeTokenizer::load");
  bool unterminated = false;
  const std::vector<std::string_view> lines = detail::split_lines(content, unterminated);
  TS_CHECK(!lines.empty(), "BpeTokenizer::load: '{}' line 1: the file is empty; expected the header '{} {} "
           "<num_merges>'", path, kMagic, kVersion);
  const std::vector<std::string_view> header = detail::split_fields(lines[0]);
  const auto count = header.size() == 3 ? detail::parse_uint(header[2]) : std::nullopt;
  TS_CHECK(header.size() == 3 && header[0] == kMagic && header[1] == kVersion && count.has_value(),
           "BpeTokenizer::load: '{}' line 1: expected the header '{} {} <num_merges>', got '{}'", path, kMagic,
           kVersion, detail::escape_bytes(lines[0]));
  TS_CHECK(*count <= kMaxMerges, "BpeTokenizer::load: '{}' line 1: {} merges is more than the {} int32 ids allow",
           path, *count, kMaxMerges);
  const size_t listed = lines.size() - 1;
  TS_CHECK(!unterminated,
           "BpeTokenizer::load: '{}' line {}: the file is truncated (the last line has no newline); expected {} "
           "merges, each '<left> <right>' on its own line", path, lines.size(), *count);
  TS_CHECK(listed >= *count,
           "BpeTokenizer::load: '{}' line {}: the file is truncated: the header promises {} merges but the file "
           "has {}", path, lines.size() + 1, *count, listed);
  TS_CHECK(listed == *count,
           "BpeTokenizer::load: '{}' line {}: expected the end of the file after {} merges, got '{}'", path,
           *count + 2, *count, detail::escape_bytes(lines[*count + 1]));
  BpeTokenizer tok;
  tok.merges_.reserve(listed);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string_view> fields = detail::split_fields(lines[i]);
    const auto left = fields.size() == 2 ? detail::parse_uint(fields[0]) : std::nullopt;
    const auto right = fields.size() == 2 ? detail::parse_uint(fields[1]) : std::nullopt;
    TS_CHECK(left.has_value() && right.has_value(),
             "BpeTokenizer::load: '{}' line {}: expected a merge '<left> <right>' (two non-negative integers "
             "separated by one space), got '{}'", path, i + 1, detail::escape_bytes(lines[i]));
    const std::string problem = tok.check_merge(*left, *right);
    TS_CHECK(problem.empty(), "BpeTokenizer::load: '{}' line {}: {}", path, i + 1, problem);
    tok.add_merge(static_cast<int32_t>(*left), static_cast<int32_t>(*right));
  }
  return tok;
}

}  // namespace ts::text
