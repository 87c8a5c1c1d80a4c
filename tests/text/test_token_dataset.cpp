// Token files (nanoGPT's uint16 train.bin), random-window batches and the one-call
// character-level preparation, on temp files and on Tiny Shakespeare when TESSERA_DATA has it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tessera/tessera.h"
#include "tessera/text.h"

#include "text/text_test_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using Catch::Contains;
using ts::test::TempDir;
using ts::test::read_text;
using ts::test::shakespeare_path;
using ts::test::write_text;
using ts::text::TokenDataset;
using ts::text::TokenFile;

namespace {

/// A token file holding 0, 1, ..., n - 1, so a window's first token is its offset.
std::shared_ptr<const TokenFile> counting_file(const TempDir& dir, int32_t n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = i;
  const std::string path = dir.file("count.bin");
  ts::text::write_token_file(path, tokens, n);
  return std::make_shared<const TokenFile>(path);
}

}  // namespace

TEST_CASE("write_token_file writes little-endian uint16 that TokenFile maps back", "[text][tokens]") {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  const std::vector<int32_t> tokens = {0, 1, 258, 65535, 7};
  ts::text::write_token_file(path, tokens, 65536);
  REQUIRE(dir.entries() == std::vector<std::string>{"train.bin"});
  REQUIRE(read_text(path) == std::string("\x00\x00\x01\x00\x02\x01\xff\xff\x07\x00", 10));
  TokenFile file(path);
  REQUIRE(file.size() == 5);
  REQUIRE(file.path() == path);
  for (size_t i = 0; i < tokens.size(); ++i) REQUIRE(file[static_cast<int64_t>(i)] == tokens[i]);
  REQUIRE(file.data()[3] == 65535);
  file.validate(65536);
  REQUIRE_THROWS_WITH(file[5], Contains("index 5 is out of range") && Contains(path));
  REQUIRE_THROWS_WITH(file[-1], Contains("index -1 is out of range"));

  TokenFile moved(std::move(file));
  REQUIRE(moved.size() == 5);
  REQUIRE(moved[2] == 258);
}

TEST_CASE("write_token_file rejects what uint16 files cannot hold and leaves no file", "[text][tokens]") {
  TempDir dir;
  const std::string path = dir.file("bad.bin");
  REQUIRE_THROWS_WITH(ts::text::write_token_file(path, {1, 2}, 65537),
                      Contains("vocab_size 65537 does not fit uint16") && Contains(path));
  REQUIRE_THROWS_WITH(ts::text::write_token_file(path, {1, 2}, 0), Contains("vocab_size 0"));
  REQUIRE_THROWS_WITH(ts::text::write_token_file(path, {1, 65, 2}, 65),
                      Contains("token 65 at position 1 is out of range for vocab_size 65"));
  REQUIRE_THROWS_WITH(ts::text::write_token_file(path, {-3}, 65), Contains("token -3 at position 0"));
  REQUIRE_THROWS_WITH(ts::text::write_token_file(path, {}, 65), Contains("no tokens"));
  REQUIRE(dir.entries().empty());  // the temporary file of the failed writes was removed
}

TEST_CASE("TokenFile diagnoses missing, empty, truncated and out-of-range files", "[text][tokens]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(TokenFile(dir.file("missing.bin")), Contains("cannot open") && Contains(dir.file("missing.bin")));
  write_text(dir.file("empty.bin"), "");
  REQUIRE_THROWS_WITH(TokenFile(dir.file("empty.bin")), Contains(dir.file("empty.bin")) && Contains("is empty"));
  write_text(dir.file("odd.bin"), std::string("\x01\x00\x02", 3));
  REQUIRE_THROWS_WITH(TokenFile(dir.file("odd.bin")),
                      Contains(dir.file("odd.bin")) && Contains("3 bytes, an odd number") && Contains("truncated"));
  write_text(dir.file("range.bin"), std::string("\x01\x00\x02\x00\x41\x00\x40\x00", 8));
  const TokenFile file(dir.file("range.bin"));
  file.validate(66);
  REQUIRE_THROWS_WITH(file.validate(65), Contains(dir.file("range.bin")) && Contains("token 65 at position 2") &&
                                             Contains("byte offset 4") && Contains("vocab_size 65"));
}

TEST_CASE("TokenDataset batches are shifted windows within the file", "[text][tokens]") {
  TempDir dir;
  const auto file = counting_file(dir, 1000);
  const TokenDataset ds(file, 16);
  REQUIRE(ds.block_size() == 16);
  REQUIRE(ds.num_windows() == 984);
  const auto [x, y] = ds.sample_batch(32, 1, 0);
  REQUIRE(x.dtype() == ts::kInt64);
  REQUIRE(y.dtype() == ts::kInt64);
  REQUIRE(x.shape() == ts::Shape{32, 16});
  REQUIRE(y.shape() == ts::Shape{32, 16});
  const std::vector<int64_t> xs = x.to_vector<int64_t>(), ys = y.to_vector<int64_t>();
  const std::vector<int64_t> offsets = ds.sample_offsets(32, 1, 0);
  for (int64_t b = 0; b < 32; ++b) {
    const int64_t off = xs[static_cast<size_t>(b * 16)];
    REQUIRE(off == offsets[static_cast<size_t>(b)]);
    REQUIRE((off >= 0 && off + 16 < 1000));  // the window of T + 1 tokens fits
    for (int64_t t = 0; t < 16; ++t) {
      REQUIRE(xs[static_cast<size_t>(b * 16 + t)] == off + t);
      REQUIRE(ys[static_cast<size_t>(b * 16 + t)] == off + t + 1);
    }
  }
}

TEST_CASE("TokenDataset::sample_batch is a pure function of (seed, step)", "[text][tokens]") {
  TempDir dir;
  const TokenDataset ds(counting_file(dir, 5000), 8);
  const auto same = [](const ts::Tensor& a, const ts::Tensor& b) {
    return a.to_vector<int64_t>() == b.to_vector<int64_t>();
  };
  const auto a = ds.sample_batch(16, 42, 7);
  const auto b = ds.sample_batch(16, 42, 7);
  REQUIRE(same(a.first, b.first));
  REQUIRE(same(a.second, b.second));
  {
    ts::test::ThreadCount threads(1);
    REQUIRE(same(ds.sample_batch(16, 42, 7).first, a.first));
  }
  REQUIRE_FALSE(same(ds.sample_batch(16, 42, 8).first, a.first));
  REQUIRE_FALSE(same(ds.sample_batch(16, 43, 7).first, a.first));
  // Row b depends on (seed, step, b) only: a smaller batch is a prefix of a larger one.
  const std::vector<int64_t> big = ds.sample_offsets(16, 42, 7), small = ds.sample_offsets(4, 42, 7);
  REQUIRE(std::vector<int64_t>(big.begin(), big.begin() + 4) == small);
  REQUIRE_THROWS_WITH(ds.sample_batch(0, 1, 1), Contains("batch_size must be in [1, 2^32], got 0"));
}

TEST_CASE("TokenDataset offsets cover [0, size - T - 1] uniformly", "[text][tokens]") {
  TempDir dir;
  const TokenDataset ds(counting_file(dir, 11), 8);  // offsets 0, 1, 2
  std::vector<int64_t> hist(3, 0);
  for (uint64_t step = 0; step < 100; ++step) {
    for (int64_t off : ds.sample_offsets(30, 9, step)) {
      REQUIRE((off >= 0 && off <= 2));
      ++hist[static_cast<size_t>(off)];
    }
  }
  for (int64_t h : hist) REQUIRE((h > 900 && h < 1100));  // 1000 expected each
  // A file of exactly T + 1 tokens has the single window at 0.
  const TokenDataset tight(counting_file(dir, 9), 8);
  REQUIRE(tight.sample_offsets(5, 1, 1) == std::vector<int64_t>(5, 0));
}

TEST_CASE("TokenDataset::batch_at reads fixed windows and rejects bad ones", "[text][tokens]") {
  TempDir dir;
  const auto file = counting_file(dir, 100);
  const TokenDataset ds(file, 10);
  const auto [x, y] = ds.batch_at({0, 89, 5});
  REQUIRE(x.shape() == ts::Shape{3, 10});
  const std::vector<int64_t> xs = x.to_vector<int64_t>(), ys = y.to_vector<int64_t>();
  REQUIRE(xs[0] == 0);
  REQUIRE(xs[10] == 89);
  REQUIRE(ys[19] == 99);  // the last window ends at the file's last token
  REQUIRE(xs[20] == 5);
  REQUIRE_THROWS_WITH(ds.batch_at({0, 90}), Contains("offset 90 (row 1) is out of range") && Contains("[0, 89]"));
  REQUIRE_THROWS_WITH(ds.batch_at({-1}), Contains("offset -1 (row 0)"));
  REQUIRE_THROWS_WITH(ds.batch_at({}), Contains("no offsets"));
  REQUIRE_THROWS_WITH(TokenDataset(file, 100), Contains("has 100 tokens, fewer than the block_size + 1 = 101") &&
                                                   Contains(file->path()));
  REQUIRE_THROWS_WITH(TokenDataset(file, 0), Contains("block_size must be at least 1"));
  REQUIRE_THROWS_WITH(TokenDataset(nullptr, 4), Contains("no token file"));
}

TEST_CASE("prepare_char_dataset splits like nanoGPT and reuses matching outputs", "[text][tokens]") {
  TempDir dir;
  const std::string input = dir.file("input.txt");
  std::string text;
  for (int i = 0; i < 20; ++i) text += "To be, or not to be: caf\xc3\xa9!\n";  // 27 characters, 28 bytes
  write_text(input, text);
  const std::string out = (dir.path / "prepared" / "char").string();
  const ts::text::PreparedText p = ts::text::prepare_char_dataset(input, out);
  REQUIRE_FALSE(p.reused);
  const int64_t n = 20 * 27;
  REQUIRE(p.train_tokens == static_cast<int64_t>(n * 0.9));
  REQUIRE(p.val_tokens == n - p.train_tokens);
  const ts::text::CharTokenizer tok = ts::text::CharTokenizer::load(p.tokenizer_path);
  REQUIRE(tok.vocab_size() == p.vocab_size);
  const TokenFile train(p.train_path), val(p.val_path);
  REQUIRE(train.size() == p.train_tokens);
  REQUIRE(val.size() == p.val_tokens);
  std::vector<int32_t> all(train.data(), train.data() + train.size());
  all.insert(all.end(), val.data(), val.data() + val.size());
  REQUIRE(tok.decode(all) == text);

  const auto stamp = fs::last_write_time(p.train_path);
  const ts::text::PreparedText again = ts::text::prepare_char_dataset(input, out);
  REQUIRE(again.reused);
  REQUIRE(again.train_tokens == p.train_tokens);
  REQUIRE(again.vocab_size == p.vocab_size);
  REQUIRE(fs::last_write_time(p.train_path) == stamp);

  // A different split, a changed input or a damaged output is prepared again.
  REQUIRE_FALSE(ts::text::prepare_char_dataset(input, out, 0.2).reused);
  REQUIRE(TokenFile(p.val_path).size() == n - static_cast<int64_t>(n * 0.8));
  write_text(input, text + "x");
  const ts::text::PreparedText grown = ts::text::prepare_char_dataset(input, out, 0.2);
  REQUIRE_FALSE(grown.reused);
  REQUIRE(grown.vocab_size == p.vocab_size + 1);
  write_text(p.val_path, "\x01\x00");
  REQUIRE_FALSE(ts::text::prepare_char_dataset(input, out, 0.2).reused);
  REQUIRE(ts::text::prepare_char_dataset(input, out, 0.2).reused);

  REQUIRE_THROWS_WITH(ts::text::prepare_char_dataset(dir.file("nope.txt"), out),
                      Contains(dir.file("nope.txt")) && Contains("does not exist"));
  REQUIRE_THROWS_WITH(ts::text::prepare_char_dataset(input, out, 1.0), Contains("val_fraction must be in (0, 1)"));
  write_text(input, "a");  // int(1 * 0.9) = 0 characters to train on
  REQUIRE_THROWS_WITH(ts::text::prepare_char_dataset(input, out), Contains("has 1 characters") &&
                                                                      Contains("both need at least one"));
}

TEST_CASE("prepare_char_dataset on Tiny Shakespeare matches nanoGPT's train.bin/val.bin", "[text][tokens][real]") {
  const std::string input = shakespeare_path();
  if (input.empty()) {
    WARN("TESSERA_DATA is unset or holds no tinyshakespeare/input.txt; skipping the real-text check");
    return;
  }
  TempDir dir;
  const ts::text::PreparedText p = ts::text::prepare_char_dataset(input, dir.path.string());
  const int64_t n = 1115394;
  REQUIRE(p.vocab_size == 65);
  REQUIRE(p.train_tokens == static_cast<int64_t>(static_cast<double>(n) * 0.9));
  REQUIRE(p.train_tokens == 1003854);
  REQUIRE(p.val_tokens == 111540);
  const auto train = std::make_shared<const TokenFile>(p.train_path);
  REQUIRE(train->size() == 1003854);
  train->validate(65);
  const ts::text::CharTokenizer tok = ts::text::CharTokenizer::load(p.tokenizer_path);
  REQUIRE(tok.decode(std::vector<int32_t>(train->data(), train->data() + 14)) == "First Citizen:");
  const TokenDataset ds(train, 256);
  const auto [x, y] = ds.sample_batch(4, 1337, 0);
  REQUIRE(x.shape() == ts::Shape{4, 256});
  REQUIRE(ts::text::prepare_char_dataset(input, dir.path.string()).reused);
}
