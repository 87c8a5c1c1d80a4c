#include "tessera/text/prepare_text.h"

#include <filesystem>
#include <map>
#include <vector>

#include "tessera/error.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/token_file.h"
#include "text_io.h"

namespace ts::text {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMetaMagic = "tessera-prepared-text v1";

std::string meta_text(uint64_t input_bytes, double val_fraction, const PreparedText& p) {
  return fmt::format("{}\nkind char\ninput_bytes {}\nval_fraction {:.17g}\nvocab_size {}\ntrain_tokens {}\n"
                     "val_tokens {}\n", kMetaMagic, input_bytes, val_fraction, p.vocab_size, p.train_tokens,
                     p.val_tokens);
}

uint64_t size_or_zero(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

/// True when meta.txt describes this input and every output is present with the recorded
/// size. Anything unreadable or different just means "prepare again", never an error.
bool outputs_match(PreparedText& p, uint64_t input_bytes, double val_fraction) {
  std::string meta;
  try {
    meta = detail::read_whole_file(p.meta_path, "prepare_char_dataset");
  } catch (const Error&) {
    return false;
  }
  bool unterminated = false;
  const std::vector<std::string_view> lines = detail::split_lines(meta, unterminated);
  if (unterminated || lines.empty() || lines[0] != kMetaMagic) return false;
  std::map<std::string_view, std::string_view> fields;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t sp = lines[i].find(' ');
    if (sp == std::string_view::npos) return false;
    fields[lines[i].substr(0, sp)] = lines[i].substr(sp + 1);
  }
  const auto number = [&](std::string_view key) -> int64_t {
    const auto it = fields.find(key);
    const auto v = it == fields.end() ? std::nullopt : detail::parse_uint(it->second);
    return v.has_value() && *v < (uint64_t{1} << 62) ? static_cast<int64_t>(*v) : -1;
  };
  if (fields["kind"] != "char" || number("input_bytes") != static_cast<int64_t>(input_bytes) ||
      fields["val_fraction"] != fmt::format("{:.17g}", val_fraction)) {
    return false;
  }
  p.vocab_size = number("vocab_size");
  p.train_tokens = number("train_tokens");
  p.val_tokens = number("val_tokens");
  if (p.vocab_size <= 0 || p.train_tokens <= 0 || p.val_tokens <= 0) return false;
  if (size_or_zero(p.train_path) != static_cast<uint64_t>(p.train_tokens) * 2 ||
      size_or_zero(p.val_path) != static_cast<uint64_t>(p.val_tokens) * 2) {
    return false;
  }
  try {
    return CharTokenizer::load(p.tokenizer_path).vocab_size() == p.vocab_size;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

PreparedText prepare_char_dataset(const std::string& input_txt, const std::string& out_dir, double val_fraction) {
  TS_CHECK(val_fraction > 0.0 && val_fraction < 1.0,
           "prepare_char_dataset: val_fraction must be in (0, 1), got {}", val_fraction);
  std::error_code ec;
  TS_CHECK(fs::is_regular_file(input_txt, ec), "prepare_char_dataset: the input file '{}' does not exist or is not "
           "a regular file", input_txt);
  const uint64_t input_bytes = fs::file_size(input_txt);
  PreparedText p;
  const fs::path dir(out_dir);
  p.train_path = (dir / "train.bin").string();
  p.val_path = (dir / "val.bin").string();
  p.tokenizer_path = (dir / "tokenizer.txt").string();
  p.meta_path = (dir / "meta.txt").string();
  if (outputs_match(p, input_bytes, val_fraction)) {
    p.reused = true;
    return p;
  }

  const std::string text = detail::read_whole_file(input_txt, "prepare_char_dataset");
  const CharTokenizer tokenizer = CharTokenizer::fit(text);
  const std::vector<int32_t> ids = tokenizer.encode(text);
  // nanoGPT: n = len(data); train = data[:int(n*0.9)] -- a split on characters.
  const auto n = static_cast<int64_t>(ids.size());
  const auto n_train = static_cast<int64_t>(static_cast<double>(n) * (1.0 - val_fraction));
  TS_CHECK(n_train > 0 && n_train < n, "prepare_char_dataset: '{}' has {} characters; a val_fraction of {} leaves {} "
           "for training and {} for validation, and both need at least one", input_txt, n, val_fraction, n_train,
           n - n_train);

  fs::create_directories(dir, ec);
  TS_CHECK(!ec, "prepare_char_dataset: cannot create the output directory '{}': {}", out_dir, ec.message());
  // Without meta.txt the outputs count as stale, so a run interrupted below is redone.
  fs::remove(p.meta_path, ec);
  p.vocab_size = tokenizer.vocab_size();
  p.train_tokens = n_train;
  p.val_tokens = n - n_train;
  write_token_file(p.train_path, std::vector<int32_t>(ids.begin(), ids.begin() + n_train), p.vocab_size);
  write_token_file(p.val_path, std::vector<int32_t>(ids.begin() + n_train, ids.end()), p.vocab_size);
  tokenizer.save(p.tokenizer_path);
  detail::write_file_atomically(p.meta_path, meta_text(input_bytes, val_fraction, p), "prepare_char_dataset");
  return p;
}

}  // namespace ts::text
