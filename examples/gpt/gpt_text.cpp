#include "gpt/gpt_text.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace ts::examples::gpt {
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TS_CHECK(f.good(), "cannot open '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The tokenizers load from files (where their format is validated), so text goes through one.
template <typename Tok> Tok load_from_text(const std::string& text, const std::string& kind) {
  const fs::path tmp = fs::temp_directory_path() / fmt::format("tessera-{}-tokenizer-{}.txt", kind, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    TS_CHECK(f.good(), "cannot write the temporary tokenizer file '{}'", tmp.string());
  }
  try {
    Tok tok = Tok::load(tmp.string());
    fs::remove(tmp);
    return tok;
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
}

}  // namespace

Tokenizer::Tokenizer(std::string kind, std::string text, std::variant<text::CharTokenizer, text::BpeTokenizer> impl)
    : kind_(std::move(kind)), text_(std::move(text)), impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_text(const std::string& kind, const std::string& text) {
  if (kind == "char") return Tokenizer(kind, text, load_from_text<text::CharTokenizer>(text, kind));
  TS_CHECK(kind == "bpe", "unknown tokenizer kind '{}' (expected char or bpe)", kind);
  return Tokenizer(kind, text, load_from_text<text::BpeTokenizer>(text, kind));
}

Tokenizer Tokenizer::from_metadata(const std::map<std::string, std::string>& m, const std::string& file) {
  auto kind = m.find("tokenizer.kind");
  auto text = m.find("tokenizer.text");
  TS_CHECK(kind != m.end() && text != m.end(), "{}: the checkpoint has no tokenizer (tokenizer.kind/tokenizer.text)",
           file);
  return from_text(kind->second, text->second);
}

std::map<std::string, std::string> Tokenizer::metadata() const {
  return {{"tokenizer.kind", kind_}, {"tokenizer.text", text_}};
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  return std::visit([&](const auto& t) { return t.encode(text); }, impl_);
}
std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  return std::visit([&](const auto& t) { return t.decode(ids); }, impl_);
}
int64_t Tokenizer::vocab_size() const {
  return std::visit([](const auto& t) { return t.vocab_size(); }, impl_);
}

PreparedData prepare_shakespeare(const std::string& data_dir, const std::string& cache_dir, const std::string& kind,
                                 int64_t bpe_vocab) {
  const std::string input = (fs::path(data_dir) / "tinyshakespeare" / "input.txt").string();
  if (kind == "char") {
    const auto p = text::prepare_char_dataset(input, cache_dir);
    return {p.train_path, p.val_path, Tokenizer::from_text("char", read_file(p.tokenizer_path))};
  }
  TS_CHECK(kind == "bpe", "--tokenizer must be char or bpe, got '{}'", kind);
  TS_CHECK(fs::exists(input), "Tiny Shakespeare not found: '{}' does not exist (pass --data DIR)", input);
  const std::string all = read_file(input);
  const size_t split = static_cast<size_t>(static_cast<double>(all.size()) * 0.9);
  const std::string train_text = all.substr(0, split), val_text = all.substr(split);
  // Training the BPE takes well under a second on this corpus, so it is redone every run.
  const auto bpe = text::BpeTokenizer::train(train_text, bpe_vocab);
  fs::create_directories(cache_dir);
  const std::string stem = (fs::path(cache_dir) / fmt::format("bpe{}", bpe.vocab_size())).string();
  bpe.save(stem + ".tokenizer.txt");
  text::write_token_file(stem + ".train.bin", bpe.encode(train_text), bpe.vocab_size());
  text::write_token_file(stem + ".val.bin", bpe.encode(val_text), bpe.vocab_size());
  return {stem + ".train.bin", stem + ".val.bin", Tokenizer::from_text("bpe", read_file(stem + ".tokenizer.txt"))};
}

}  // namespace ts::examples::gpt
