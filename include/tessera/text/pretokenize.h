#pragma once
/// GPT-2-style pre-tokenization for byte-level BPE: the text is cut into chunks and BPE merges
/// never cross a chunk boundary, so tokens stay word-like (" the", "ing", "\n\n").
#include <string_view>
#include <vector>

namespace ts::text {

/// The chunks of `text`, in order; they concatenate back to `text` exactly. A chunk is one of
///   - an optional single leading space followed by a run of letters (ASCII letters and every
///     byte >= 0x80, so multi-byte UTF-8 characters never split), or by a run of digits, or
///     by a run of other non-space bytes (punctuation, control bytes, NUL);
///   - a run of whitespace (space, \t, \n, \v, \f, \r). When the run is followed by a
///     non-space byte and ends in a space, that last space is left to start the next chunk,
///     as GPT-2's `\s+(?!\S)` does.
/// Unlike GPT-2 there is no special case for English contractions ('s, 't, ...): an
/// apostrophe is punctuation like any other.
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace ts::text
