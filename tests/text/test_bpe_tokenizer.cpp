// Byte-level BPE: pre-tokenization, the textbook merge sequence, exact round trips for any
// byte string, save/load, every corruption of the merges file the loader promises to name,
// and training speed on Tiny Shakespeare when TESSERA_DATA has it.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/text.h"

#include "text/text_test_util.h"

using Catch::Contains;
using ts::text::BpeTokenizer;
using ts::test::TempDir;
using ts::test::read_text;
using ts::test::shakespeare_path;
using ts::test::write_text;

namespace {

/// A deterministic English-like corpus: sentences of words drawn from a small lexicon.
std::string synthetic_corpus(size_t sentences) {
  const std::vector<std::string> words = {"the", "king", "queen", "shall", "speak", "and", "thou", "art",
                                          "noble", "lord", "of", "York", "my", "heart", "is", "heavy",
                                          "caf\xc3\xa9", "42", "1600", "O"};
  std::mt19937 gen(7);
  std::string text;
  for (size_t s = 0; s < sentences; ++s) {
    const size_t n = 3 + gen() % 8;
    for (size_t w = 0; w < n; ++w) {
      if (w > 0) text += ' ';
      text += words[gen() % words.size()];
    }
    text += (gen() % 3 == 0) ? "!\n\n" : ".\n";
  }
  return text;
}

std::string random_bytes(std::mt19937& gen, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

void require_round_trip(const BpeTokenizer& tok, const std::string& s) {
  const std::vector<int32_t> ids = tok.encode(s);
  for (int32_t id : ids) REQUIRE((id >= 0 && id < tok.vocab_size()));
  REQUIRE(tok.decode(ids) == s);
}

/// The textbook algorithm, slowly: count every adjacent pair over every chunk occurrence,
/// merge the most frequent (smallest pair on ties) left to right everywhere, repeat.
std::vector<BpeTokenizer::Merge> naive_train(const std::string& text, int64_t vocab_size) {
  std::vector<std::vector<int32_t>> words;
  for (std::string_view c : ts::text::pretokenize(text)) {
    std::vector<int32_t> w;
    for (char b : c) w.push_back(static_cast<unsigned char>(b));
    words.push_back(w);
  }
  std::vector<BpeTokenizer::Merge> merges;
  for (int32_t id = 256; id < vocab_size; ++id) {
    std::map<BpeTokenizer::Merge, int64_t> counts;
    for (const auto& w : words) {
      for (size_t i = 0; i + 1 < w.size(); ++i) ++counts[{w[i], w[i + 1]}];
    }
    if (counts.empty()) break;
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it) {
      if (it->second > best->second) best = it;  // map order: the first maximum is the smallest pair
    }
    const BpeTokenizer::Merge m = best->first;
    merges.push_back(m);
    for (auto& w : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == m.first && w[i + 1] == m.second) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = out;
    }
  }
  return merges;
}

/// Textbook encoding: per chunk, apply the lowest-ranked merge present, everywhere left to
/// right, until none applies.
std::vector<int32_t> naive_encode(const BpeTokenizer& tok, const std::string& text) {
  std::map<BpeTokenizer::Merge, int32_t> rank;
  for (size_t i = 0; i < tok.merges().size(); ++i) rank[tok.merges()[i]] = static_cast<int32_t>(i);
  std::vector<int32_t> ids;
  for (std::string_view c : ts::text::pretokenize(text)) {
    std::vector<int32_t> w;
    for (char b : c) w.push_back(static_cast<unsigned char>(b));
    while (true) {
      int32_t best = -1;
      for (size_t i = 0; i + 1 < w.size(); ++i) {
        const auto it = rank.find({w[i], w[i + 1]});
        if (it != rank.end() && (best < 0 || it->second < best)) best = it->second;
      }
      if (best < 0) break;
      const BpeTokenizer::Merge m = tok.merges()[static_cast<size_t>(best)];
      std::vector<int32_t> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == m.first && w[i + 1] == m.second) {
          out.push_back(256 + best);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = out;
    }
    ids.insert(ids.end(), w.begin(), w.end());
  }
  return ids;
}

}  // namespace

TEST_CASE("pretokenize cuts GPT-2-like chunks that concatenate back to the text", "[text][bpe]") {
  using V = std::vector<std::string_view>;
  REQUIRE(ts::text::pretokenize("Hello world  foo\n\nbar 123 !!x") ==
          V{"Hello", " world", " ", " foo", "\n\n", "bar", " 123", " !!", "x"});
  REQUIRE(ts::text::pretokenize("a \n b  ") == V{"a", " \n", " b", "  "});
  REQUIRE(ts::text::pretokenize("caf\xc3\xa9 na\xc3\xafve") == V{"caf\xc3\xa9", " na\xc3\xafve"});
  REQUIRE(ts::text::pretokenize("don't") == V{"don", "'", "t"});
  REQUIRE(ts::text::pretokenize(std::string_view("a\0\0b", 4)) == V{"a", std::string_view("\0\0", 2), "b"});
  REQUIRE(ts::text::pretokenize("").empty());
  REQUIRE(ts::text::pretokenize(" ") == V{" "});
  const std::string corpus = synthetic_corpus(50);
  std::string joined;
  for (std::string_view c : ts::text::pretokenize(corpus)) {
    REQUIRE(!c.empty());
    joined += c;
  }
  REQUIRE(joined == corpus);
}

TEST_CASE("BpeTokenizer without merges maps bytes to ids", "[text][bpe]") {
  const BpeTokenizer tok;
  REQUIRE(tok.vocab_size() == 256);
  REQUIRE(tok.encode("A\xff") == std::vector<int32_t>{65, 255});
  REQUIRE(tok.token_bytes(0) == std::string(1, '\0'));
  REQUIRE(tok.decode({104, 105}) == "hi");
  REQUIRE(BpeTokenizer::train("anything at all", 256).merges().empty());
}

TEST_CASE("BpeTokenizer::train learns the textbook merges with smallest-pair tie-breaking", "[text][bpe]") {
  // Wikipedia's example: aa (4 overlapping occurrences) first, then ab and (aa, a) tie at 2
  // and the smaller pair (a, b) wins, then (aa, ab).
  const BpeTokenizer tok = BpeTokenizer::train("aaabdaaabac", 259);
  REQUIRE(tok.merges() == std::vector<BpeTokenizer::Merge>{{97, 97}, {97, 98}, {256, 257}});
  REQUIRE(tok.token_bytes(258) == "aaab");
  REQUIRE(tok.encode("aaabdaaabac") == std::vector<int32_t>{258, 100, 258, 97, 99});
  // Merges apply left to right within a rank: "aaa" is (aa, a), not (a, aa).
  REQUIRE(tok.encode("aaa") == std::vector<int32_t>{256, 97});
  // Training stops when nothing is left to merge.
  REQUIRE(BpeTokenizer::train("abab", 1000).merges() == std::vector<BpeTokenizer::Merge>{{97, 98}, {256, 256}});
  REQUIRE(BpeTokenizer::train("", 300).vocab_size() == 256);
}

TEST_CASE("BpeTokenizer matches the textbook algorithm merge for merge", "[text][bpe]") {
  std::mt19937 gen(99);
  // Natural-ish text, then text over a tiny alphabet where long repeats and overlapping
  // pairs ("aaaa") stress the incremental pair counts.
  std::string small_alphabet;
  for (int i = 0; i < 3000; ++i) small_alphabet.push_back("ab  c\n"[gen() % 6]);
  for (const std::string& text : {synthetic_corpus(300), small_alphabet, random_bytes(gen, 3000)}) {
    const BpeTokenizer tok = BpeTokenizer::train(text, 330);
    REQUIRE(tok.merges() == naive_train(text, 330));
    REQUIRE(tok.encode(text) == naive_encode(tok, text));
    for (int i = 0; i < 20; ++i) {
      const std::string probe = i % 2 == 0 ? random_bytes(gen, gen() % 200) : small_alphabet.substr(gen() % 2000, 300);
      REQUIRE(tok.encode(probe) == naive_encode(tok, probe));
    }
  }
}

TEST_CASE("BpeTokenizer merges never cross chunk boundaries", "[text][bpe]") {
  const BpeTokenizer tok = BpeTokenizer::train("a,a,a,a,a,a", 300);
  // "a" and "," are separate chunks, so no pair exists at all.
  REQUIRE(tok.vocab_size() == 256);
  const BpeTokenizer words = BpeTokenizer::train("hello hello hello", 300);
  for (int32_t id = 256; id < words.vocab_size(); ++id) {
    const std::string& b = words.token_bytes(id);
    REQUIRE(b.find(' ', 1) == std::string::npos);  // a space only ever leads a token
  }
  REQUIRE(words.encode(" hello") == std::vector<int32_t>{static_cast<int32_t>(words.vocab_size() - 1)});
}

TEST_CASE("BpeTokenizer compresses its training text and is deterministic", "[text][bpe]") {
  const std::string corpus = synthetic_corpus(2000);
  int64_t calls = 0, last_done = 0, last_total = 0;
  const BpeTokenizer tok = BpeTokenizer::train(corpus, 320, [&](int64_t done, int64_t total) {
    ++calls;
    REQUIRE(done == last_done + 1);
    last_done = done;
    last_total = total;
  });
  REQUIRE(tok.vocab_size() == 320);
  REQUIRE(calls == 64);
  REQUIRE(last_total == 64);
  for (int32_t id = 256; id < tok.vocab_size(); ++id) {
    const auto [l, r] = tok.merges()[static_cast<size_t>(id - 256)];
    REQUIRE((l < id && r < id));
    REQUIRE(tok.token_bytes(id) == tok.token_bytes(l) + tok.token_bytes(r));
  }
  const std::vector<int32_t> ids = tok.encode(corpus);
  REQUIRE(ids.size() * 3 < corpus.size());
  REQUIRE(tok.decode(ids) == corpus);
  REQUIRE(BpeTokenizer::train(corpus, 320).merges() == tok.merges());
}

TEST_CASE("BpeTokenizer round-trips any byte string exactly", "[text][bpe]") {
  const BpeTokenizer tok = BpeTokenizer::train(synthetic_corpus(500), 350);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  require_round_trip(tok, all_bytes);
  require_round_trip(tok, "");
  require_round_trip(tok, std::string(1, '\0'));
  require_round_trip(tok, std::string("the\0king\0\0", 10));
  require_round_trip(tok, "caf\xc3");                 // truncated UTF-8
  require_round_trip(tok, "\xc0\x80\xed\xa0\x80\xff\xfe the");  // overlong, surrogate, invalid
  require_round_trip(tok, std::string(5000, '\x80'));          // one long "letter" chunk
  require_round_trip(tok, std::string(3000, ' ') + "x" + std::string(70, '\n'));
  require_round_trip(tok, std::string(100000, 'a'));
  std::mt19937 gen(1234);
  for (int i = 0; i < 200; ++i) require_round_trip(tok, random_bytes(gen, gen() % 300));
  require_round_trip(tok, random_bytes(gen, 200000));
}

TEST_CASE("BpeTokenizer::decode and token_bytes reject unknown ids", "[text][bpe]") {
  const BpeTokenizer tok = BpeTokenizer::train("aaabdaaabac", 259);
  REQUIRE_THROWS_WITH(tok.decode({97, 259}), Contains("id 259 at position 1") && Contains("vocabulary of 259"));
  REQUIRE_THROWS_WITH(tok.decode({-5}), Contains("id -5 at position 0"));
  REQUIRE_THROWS_WITH(tok.token_bytes(300), Contains("id 300 is out of range"));
  REQUIRE_THROWS_WITH(BpeTokenizer::train("abc", 255), Contains("vocab_size 255 must be at least 256"));
}

TEST_CASE("BpeTokenizer::from_merges validates the merge list", "[text][bpe]") {
  REQUIRE(BpeTokenizer::from_merges({{104, 105}, {256, 115}}).encode("his") == std::vector<int32_t>{257});
  REQUIRE_THROWS_WITH(BpeTokenizer::from_merges({{104, 256}}), Contains("merge 0") && Contains("refers to token 256"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_merges({{1, 2}, {1, 2}}), Contains("merge 1") && Contains("duplicate"));
  REQUIRE_THROWS_WITH(BpeTokenizer::from_merges({{-1, 2}}), Contains("negative"));
}

TEST_CASE("BpeTokenizer save/load gives identical encodings", "[text][bpe]") {
  TempDir dir;
  const std::string path = dir.file("bpe.txt");
  const std::string corpus = synthetic_corpus(1000);
  const BpeTokenizer tok = BpeTokenizer::train(corpus, 310);
  tok.save(path);
  REQUIRE(dir.entries() == std::vector<std::string>{"bpe.txt"});  // the temporary file was renamed
  const std::string content = read_text(path);
  REQUIRE(content.rfind("tessera-bpe v1 54\n", 0) == 0);
  const BpeTokenizer back = BpeTokenizer::load(path);
  REQUIRE(back.merges() == tok.merges());
  REQUIRE(back.vocab_size() == 310);
  REQUIRE(back.encode(corpus) == tok.encode(corpus));
  std::mt19937 gen(5);
  const std::string noise = random_bytes(gen, 5000);
  REQUIRE(back.encode(noise) == tok.encode(noise));
  // An empty merge list saves and loads too.
  BpeTokenizer().save(path);
  REQUIRE(read_text(path) == "tessera-bpe v1 0\n");
  REQUIRE(BpeTokenizer::load(path).vocab_size() == 256);
}

TEST_CASE("BpeTokenizer::load names the file, line and expectation of every corruption", "[text][bpe]") {
  TempDir dir;
  const std::vector<ts::test::CorruptFile> cases = {
      {"", 1, "the file is empty; expected the header"},
      {std::string("\0\xff\x01\n", 4), 1, "expected the header"},
      {"tessera-bpe v1\n", 1, "expected the header 'tessera-bpe v1 <num_merges>', got 'tessera-bpe v1'"},
      {"tessera-bpe v2 0\n", 1, "expected the header"},
      {"tessera-bpex v1 0\n", 1, "expected the header"},
      {"tessera-bpe v1 -1\n", 1, "expected the header"},
      {"tessera-bpe v1 +1\n97 98\n", 1, "expected the header"},
      {"tessera-bpe v1 1 \n97 98\n", 1, "expected the header"},
      {"tessera-bpe  v1 1\n97 98\n", 1, "expected the header"},
      {"tessera-bpe v1 1x\n97 98\n", 1, "expected the header"},
      {"tessera-bpe v1 1\r\n97 98\r\n", 1, "got 'tessera-bpe v1 1\\x0d'"},
      {"tessera-bpe v1 99999999999\n", 1, "more than the"},
      {"tessera-bpe v1 99999999999999999999999\n", 1, "expected the header"},
      {"tessera-bpe v1 2\n97 98\n", 3, "truncated: the header promises 2 merges but the file has 1"},
      {"tessera-bpe v1 5\n", 2, "truncated: the header promises 5 merges but the file has 0"},
      {"tessera-bpe v1 1\n97 98", 2, "truncated (the last line has no newline)"},
      {"tessera-bpe v1 1\n97 9", 2, "truncated (the last line has no newline)"},
      {"tessera-bpe v1 0\n97 98\n", 2, "expected the end of the file after 0 merges, got '97 98'"},
      {"tessera-bpe v1 1\n97 98\n99 100\n", 3, "expected the end of the file after 1 merges"},
      {"tessera-bpe v1 1\n97 98\n\n", 3, "expected the end of the file after 1 merges"},
      {"tessera-bpe v1 1\n97\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 98 99\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97  98\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n 97 98\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 98 \n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97\t98\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\na b\n", 2, "got 'a b'"},
      {"tessera-bpe v1 1\n-1 5\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n+1 5\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 98x\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n0x61 98\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 98\r\n", 2, "got '97 98\\x0d'"},
      {"tessera-bpe v1 1\n\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 2\n97 98\n\n", 3, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 99999999999999999999999\n", 2, "expected a merge '<left> <right>'"},
      {"tessera-bpe v1 1\n97 256\n", 2, "refers to token 256, but only ids 0..255 are defined before it"},
      {"tessera-bpe v1 1\n300000000000 1\n", 2, "refers to token 300000000000"},
      {"tessera-bpe v1 2\n97 98\n256 257\n", 3, "refers to token 257, but only ids 0..256 are defined"},
      {"tessera-bpe v1 3\n97 98\n99 100\n260 0\n", 4, "refers to token 260"},
      {"tessera-bpe v1 2\n97 98\n97 98\n", 3, "merge (97, 98) is a duplicate of merge 0 (id 256)"},
      {"tessera-bpe v1 3\n97 98\n256 99\n256 99\n", 4, "is a duplicate of merge 1 (id 257)"},
  };
  ts::test::require_load_errors(dir, "BpeTokenizer::load", cases,
                                [](const std::string& f) { return BpeTokenizer::load(f); });
}

TEST_CASE("BpeTokenizer trains on Tiny Shakespeare to vocab 512 in seconds", "[text][bpe][real]") {
  const std::string path = shakespeare_path();
  if (path.empty()) {
    WARN("TESSERA_DATA is unset or holds no tinyshakespeare/input.txt; skipping the real-text check");
    return;
  }
  const std::string text = read_text(path);
  const auto t0 = std::chrono::steady_clock::now();
  const BpeTokenizer tok = BpeTokenizer::train(text, 512);
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok.encode(text);
  const auto t2 = std::chrono::steady_clock::now();
  const double train_s = std::chrono::duration<double>(t1 - t0).count();
  const double encode_s = std::chrono::duration<double>(t2 - t1).count();
  WARN("BPE on Tiny Shakespeare: train to vocab 512 in " << train_s << " s, encode in " << encode_s << " s, "
       << text.size() << " bytes -> " << ids.size() << " tokens");
  REQUIRE(tok.vocab_size() == 512);
  REQUIRE(tok.decode(ids) == text);
  const std::string head = text.substr(0, 20000);
  REQUIRE(BpeTokenizer::train(head, 300).merges() == naive_train(head, 300));
  REQUIRE(ids.size() * 10 < text.size() * 6);  // under 0.6 tokens per byte
  REQUIRE(train_s < 60.0);                // generous: seconds in Release, slower under sanitizers
  TempDir dir;
  tok.save(dir.file("bpe.txt"));
  REQUIRE(BpeTokenizer::load(dir.file("bpe.txt")).encode(text) == ids);
}
