// The repair rule (maximal invalid subparts -> U+FFFD) depends only on bytes up to the end of each
// subpart, so repairing a growing buffer and holding back an unfinished tail gives the same text
// as repairing everything at once.
#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace whale::tokenizer {

std::string StreamDecoder::push(int32_t id) {
  const std::string& bytes = tokenizer_->token_bytes(id);
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  pending_ += bytes;
  std::string out;
  pending_.erase(0, utf8_repair(pending_, false, out));
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  utf8_repair(pending_, true, out);
  pending_.clear();
  return out;
}

}  // namespace whale::tokenizer
