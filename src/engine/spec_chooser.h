// SpecChooser: `--spec auto`'s choice between speculative and plain decoding by measured cost. Each
// single-sequence decode step is timed; the arm with the lower seconds per emitted token (moving
// averages) is taken, the other re-measured now and then, so a model whose drafts do not pay (a tiny
// model where the MTP module is a large share of a step) decodes plainly, one where they pay
// speculates, and a change of load moves the choice. Both arms give the same output (greedy: the same
// tokens; sampling: the same distribution), so the choice is about speed only.
#pragma once

#include <cstdint>

namespace whale::engine {

class SpecChooser {
 public:
  struct Options {
    int warm = 4;             // steps of each arm measured before choosing
    int explore_every = 32;   // then one step of the other arm in this many
    double alpha = 0.2;       // weight of a new measurement in the moving average
  };
  SpecChooser() = default;
  explicit SpecChooser(Options o) : o_(o) {}

  // Whether the next single-sequence decode step should speculate.
  bool speculate_next();
  // The step just taken: which arm, its wall time and the tokens it emitted (>= 1).
  void record(bool speculated, double seconds, int64_t tokens);

  double seconds_per_token(bool speculated) const { return speculated ? spec_.avg : plain_.avg; }
  int64_t steps(bool speculated) const { return speculated ? spec_.n : plain_.n; }

 private:
  struct Arm {
    double avg = 0;
    int64_t n = 0;
  };
  Options o_;
  Arm spec_, plain_;
  int64_t decisions_ = 0;
};

}  // namespace whale::engine
