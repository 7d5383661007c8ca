// model::forward: checks the batch against the cache, then runs the forward pass of the family the
// weights were loaded as (Weights::arch, chosen once at load).
#include "core/error.h"
#include "model/architecture.h"
#include "model/forward.h"

namespace whale::model {

void forward(const Weights& w, const Batch& batch, KvCache& cache, const ForwardOptions& opt, Scratch& s,
             core::ThreadPool& pool, ForwardOutput& out) {
  if (batch.size() == 0) {
    out.logits.clear();
    return;
  }
  if (batch.positions.size() != batch.tokens.size() || batch.seq_ids.size() != batch.tokens.size()) {
    fail(ErrorKind::kInvalidArgument, "batch has ", batch.tokens.size(), " tokens but ", batch.positions.size(),
         " positions and ", batch.seq_ids.size(), " sequence ids");
  }
  for (int32_t p : batch.positions) {
    if (p < 0 || p >= cache.max_positions()) {
      fail(ErrorKind::kOutOfRange, "position ", p, " is past the context of ", cache.max_positions(), " tokens");
    }
  }
  if (!w.arch) fail(ErrorKind::kInvalidArgument, "forward: the weights were never loaded (no architecture)");
  w.arch->forward(w, batch, cache, opt, s, pool, out);
}

}  // namespace whale::model
