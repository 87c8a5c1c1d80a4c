#pragma once
// The GPT trainer's text pipeline: a character or byte-level BPE tokenizer behind one
// interface, the train/val token files it is trained into, and the tokenizer's text form that
// checkpoints embed so `gpt sample` needs nothing but the checkpoint.
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <tessera/text.h>

namespace ts::examples::gpt {

class Tokenizer {
 public:
  /// kind "char" or "bpe"; `text` is the tokenizer's saved file content.
  static Tokenizer from_text(const std::string& kind, const std::string& text);
  /// The tokenizer a checkpoint's metadata holds ("tokenizer.kind", "tokenizer.text").
  static Tokenizer from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file);
  std::map<std::string, std::string> metadata() const;

  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  const std::string& kind() const { return kind_; }

 private:
  Tokenizer(std::string kind, std::string text, std::variant<text::CharTokenizer, text::BpeTokenizer> impl);
  std::string kind_, text_;
  std::variant<text::CharTokenizer, text::BpeTokenizer> impl_;
};

struct PreparedData {
  std::string train_path, val_path;
  Tokenizer tokenizer;
};

/// Tokenizes <data_dir>/tinyshakespeare/input.txt into <cache_dir> (first 90% train, last 10%
/// validation, as nanoGPT): kind "char" (nanoGPT's shakespeare_char) or "bpe" (a byte-level
/// BPE with `bpe_vocab` tokens trained on the training split).
PreparedData prepare_shakespeare(const std::string& data_dir, const std::string& cache_dir, const std::string& kind,
                                 int64_t bpe_vocab);

}  // namespace ts::examples::gpt
