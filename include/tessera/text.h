#pragma once
/// Text data for language models: tokenizers (character-level and byte-level BPE), token
/// files in nanoGPT's uint16 format, and random-window batches for GPT training.
#include "tessera/text/bpe_tokenizer.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/prepare_text.h"
#include "tessera/text/pretokenize.h"
#include "tessera/text/token_dataset.h"
#include "tessera/text/token_file.h"
