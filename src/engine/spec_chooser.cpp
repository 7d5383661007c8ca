// SpecChooser: warm both arms, then exploit the cheaper one per token with periodic re-measurement.
#include "engine/spec_chooser.h"

namespace whale::engine {

bool SpecChooser::speculate_next() {
  ++decisions_;
  if (plain_.n < o_.warm) return false;
  if (spec_.n < o_.warm) return true;
  const bool better = spec_.avg < plain_.avg;
  return decisions_ % o_.explore_every == 0 ? !better : better;
}

void SpecChooser::record(bool speculated, double seconds, int64_t tokens) {
  if (tokens <= 0 || seconds <= 0) return;
  Arm& a = speculated ? spec_ : plain_;
  const double per_token = seconds / static_cast<double>(tokens);
  a.avg = a.n == 0 ? per_token : (1 - o_.alpha) * a.avg + o_.alpha * per_token;
  ++a.n;
}

}  // namespace whale::engine
