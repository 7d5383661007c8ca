// `whale train plot RUN_DIR... [--out DIR]`: the curves of metrics.jsonl as SVG line charts (loss,
// validation loss, MTP loss, MaxVio, balancing bias range, learning rate, gradient norm, tokens/s).
// Several runs are overlaid in one chart per metric, which is how the ablations are compared.
#pragma once

#include <string>
#include <vector>

namespace whale::train {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
};

// A self-contained SVG document (axes, ticks, one coloured line per series, a legend).
std::string svg_line_chart(const Chart& chart);

// Reads RUN_DIR/metrics.jsonl of each run and writes one SVG per metric any run has into out_dir;
// returns the files written. Train-split curves are smoothed with a moving average of `smooth`
// steps. Throws whale::Error naming a run without metrics or a malformed line.
std::vector<std::string> plot_runs(const std::vector<std::string>& run_dirs, const std::vector<std::string>& names,
                                   const std::string& out_dir, int smooth = 10);

// A Markdown table comparing runs at their last validation: validation loss (and MTP loss), MaxVio
// over the validation set, mean MaxVio over the last 10% of training batches, steps, tokens/s.
// GRPO runs get their own table: reward, accuracy and response length over the first and last
// 10% of steps, the KL at the end, and the test-split result of RUN/eval.json (`whale eval --out`).
std::string summary_table(const std::vector<std::string>& run_dirs, const std::vector<std::string>& names);

}  // namespace whale::train
