// BPE training. Counting runs over the distinct pre-tokenized chunks ("words") weighted by
// their frequency, and each merge revisits only the words that contain the merged pair
// (found through a per-pair index), updating pair counts by difference. The best pair comes
// from a max-heap with lazy deletion: entries whose count is out of date are skipped.
#include <algorithm>
#include <limits>
#include <queue>
#include <unordered_map>

#include "bpe_pair.h"
#include "tessera/error.h"
#include "tessera/text/bpe_tokenizer.h"
#include "tessera/text/pretokenize.h"

namespace ts::text {
namespace {

struct HeapEntry {
  int64_t count;
  uint64_t key;
};

/// Max-heap order: higher count first, then the smaller pair (left, then right).
struct LowerPriority {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    return a.count < b.count || (a.count == b.count && a.key > b.key);
  }
};

struct Words {
  std::vector<std::vector<int32_t>> symbols;
  std::vector<int64_t> freq;
};

Words distinct_words(std::string_view text) {
  std::unordered_map<std::string_view, int64_t> counts;
  for (std::string_view chunk : pretokenize(text)) {
    if (chunk.size() > 1) ++counts[chunk];  // a one-byte chunk has no pair to merge
  }
  // Sorted so the per-pair word lists, and with them the run time, do not depend on hashing.
  std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  Words words;
  words.symbols.reserve(sorted.size());
  words.freq.reserve(sorted.size());
  for (const auto& [chunk, count] : sorted) {
    std::vector<int32_t> s(chunk.size());
    for (size_t i = 0; i < chunk.size(); ++i) s[i] = static_cast<unsigned char>(chunk[i]);
    words.symbols.push_back(std::move(s));
    words.freq.push_back(count);
  }
  return words;
}

}  // namespace

BpeTokenizer BpeTokenizer::train(std::string_view text, int64_t vocab_size, const ProgressFn& progress) {
  TS_CHECK(vocab_size >= kNumByteTokens && vocab_size <= std::numeric_limits<int32_t>::max(),
           "BpeTokenizer::train: vocab_size {} must be at least {} (the byte tokens) and fit int32", vocab_size,
           kNumByteTokens);
  const int64_t num_merges = vocab_size - kNumByteTokens;
  BpeTokenizer tok;
  if (num_merges == 0) return tok;

  Words words = distinct_words(text);
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that had it (may repeat)
  for (size_t w = 0; w < words.symbols.size(); ++w) {
    const auto& s = words.symbols[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t key = detail::pair_key(s[i], s[i + 1]);
      pair_count[key] += words.freq[w];
      where[key].push_back(static_cast<int32_t>(w));
    }
  }
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, LowerPriority> heap;
  for (const auto& [key, count] : pair_count) heap.push({count, key});

  std::vector<int64_t> visited(words.symbols.size(), -1);  // last merge that rewrote each word
  std::unordered_map<uint64_t, int64_t> delta;
  std::vector<int32_t> merged;
  for (int64_t m = 0; m < num_merges; ++m) {
    while (!heap.empty()) {
      const auto it = pair_count.find(heap.top().key);
      if (it != pair_count.end() && it->second == heap.top().count) break;
      heap.pop();  // stale: the pair's count changed after this entry was pushed
    }
    if (heap.empty()) break;  // every chunk is a single token: nothing left to merge
    const uint64_t best = heap.top().key;
    heap.pop();
    const int32_t a = detail::pair_left(best), b = detail::pair_right(best);
    const int32_t id = kNumByteTokens + static_cast<int32_t>(m);
    tok.add_merge(a, b);

    // A merged pair never reappears (its tokens only ever get merged into newer ids), so its
    // word list is consumed here.
    const std::vector<int32_t> affected = std::move(where[best]);
    where.erase(best);
    delta.clear();
    for (int32_t w : affected) {
      const auto uw = static_cast<size_t>(w);
      if (visited[uw] == m) continue;
      visited[uw] = m;
      std::vector<int32_t>& s = words.symbols[uw];
      const int64_t f = words.freq[uw];
      merged.clear();
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          merged.push_back(id);
          ++i;
        } else {
          merged.push_back(s[i]);
        }
      }
      if (merged.size() == s.size()) continue;  // an earlier merge already took the pair's tokens
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[detail::pair_key(s[i], s[i + 1])] -= f;
      for (size_t i = 0; i + 1 < merged.size(); ++i) {
        const uint64_t key = detail::pair_key(merged[i], merged[i + 1]);
        delta[key] += f;
        // Pairs without the new id were already in this word and are indexed.
        if (merged[i] == id || merged[i + 1] == id) where[key].push_back(w);
      }
      s.assign(merged.begin(), merged.end());
    }
    for (const auto& [key, d] : delta) {
      if (d == 0) continue;
      const int64_t count = (pair_count[key] += d);
      if (count > 0) {
        heap.push({count, key});
      } else {
        pair_count.erase(key);
      }
    }
    if (progress) progress(m + 1, num_merges);
  }
  return tok;
}

}  // namespace ts::text
