#pragma once
/// One-call data preparation for a character-level GPT (nanoGPT's
/// data/shakespeare_char/prepare.py): tokenizer, train.bin and val.bin in a directory.
#include <cstdint>
#include <string>

namespace ts::text {

struct PreparedText {
  std::string train_path, val_path, tokenizer_path, meta_path;
  int64_t vocab_size = 0;
  int64_t train_tokens = 0, val_tokens = 0;
  bool reused = false;  ///< the outputs already matched the input and were left as they were
};

/// Reads `input_txt` (UTF-8), fits a CharTokenizer, and writes into `out_dir` (created if
/// needed) train.bin (the first int(n * (1 - val_fraction)) characters, as nanoGPT splits),
/// val.bin (the rest), tokenizer.txt (CharTokenizer::save) and meta.txt (written last). When
/// meta.txt and the outputs already match the input's size and val_fraction, nothing is
/// rewritten. A missing input, val_fraction outside (0, 1) or an empty split -> ts::Error.
PreparedText prepare_char_dataset(const std::string& input_txt, const std::string& out_dir,
                                  double val_fraction = 0.1);

}  // namespace ts::text
