#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::train {

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string fmt(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) {
    std::snprintf(buf, sizeof buf, "%.1e", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

// "Nice" tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 5) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return out;
}

}  // namespace

std::string svg_line_chart(const Chart& c) {
  const double W = 720, H = 420, L = 70, R = 170, T = 40, B = 50;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  const bool logy = c.log_y;
  auto ty = [&](double v) { return logy ? std::log10(v) : v; };
  for (const Series& s : c.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (logy && s.y[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i]));
      y1 = std::max(y1, ty(s.y[i]));
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + (y0 == 0 ? 1 : std::fabs(y0) * 0.1);
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B); };
  auto pyt = [&](double t) { return T + (1 - (t - y0) / (y1 - y0)) * (H - T - B); };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " "
    << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << (L + (W - L - R) / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(c.title)
    << "</text>\n";
  // grid and ticks
  for (double t : ticks(x0, x1)) {
    o << "<line x1=\"" << px(t) << "\" y1=\"" << T << "\" x2=\"" << px(t) << "\" y2=\"" << H - B
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << px(t) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\">" << fmt(t) << "</text>\n";
  }
  for (double t : ticks(y0, y1)) {
    o << "<line x1=\"" << L << "\" y1=\"" << pyt(t) << "\" x2=\"" << W - R << "\" y2=\"" << pyt(t)
      << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << L - 6 << "\" y=\"" << pyt(t) + 4 << "\" text-anchor=\"end\">" << fmt(logy ? std::pow(10.0, t) : t)
      << "</text>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << (L + (W - L - R) / 2) << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">" << escape(c.x_label)
    << "</text>\n";
  o << "<text transform=\"translate(16," << (T + (H - T - B) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(c.y_label + (logy ? " (log)" : "")) << "</text>\n";
  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    const char* color = kColors[k % (sizeof kColors / sizeof kColors[0])];
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.6\" points=\"";
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (logy && s.y[i] <= 0)) continue;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(s.x[i]), py(s.y[i]));
      o << buf;
    }
    o << "\"/>\n";
    if (s.x.size() == 1) {
      o << "<circle cx=\"" << px(s.x[0]) << "\" cy=\"" << py(s.y[0]) << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    }
    const double ly = T + 10 + 18 * static_cast<double>(k);
    o << "<line x1=\"" << W - R + 12 << "\" y1=\"" << ly << "\" x2=\"" << W - R + 32 << "\" y2=\"" << ly << "\" stroke=\""
      << color << "\" stroke-width=\"3\"/>\n";
    o << "<text x=\"" << W - R + 38 << "\" y=\"" << ly + 4 << "\">" << escape(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::vector<std::string> plot_runs(const std::vector<std::string>& run_dirs, const std::vector<std::string>& names,
                                   const std::string& out_dir, int smooth) {
  namespace fs = std::filesystem;
  if (run_dirs.empty()) fail(ErrorKind::kInvalidArgument, "plot: no run directories");
  // metric key -> (run index -> (x, y))
  struct Curve {
    std::vector<double> x, y;
  };
  std::map<std::string, std::vector<Curve>> train, val;
  for (size_t r = 0; r < run_dirs.size(); ++r) {
    const fs::path path = fs::path(run_dirs[r]) / "metrics.jsonl";
    std::ifstream in(path);
    if (!in) fail(ErrorKind::kNotFound, "plot: ", path.string(), " not found (is ", run_dirs[r], " a training run?)");
    std::string line;
    int64_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        fail(ErrorKind::kFormat, "plot: ", path.string(), " line ", lineno, " is not JSON");
      }
      if (!j.is_object() || !j.contains("step")) fail(ErrorKind::kFormat, "plot: ", path.string(), " line ", lineno, " has no step");
      auto& dst = j.value("split", "train") == "validation" ? val : train;
      const double step = j.at("step").get<double>();
      for (const auto& [key, value] : j.items()) {
        if (!value.is_number() || key == "step") continue;
        auto& curves = dst[key];
        curves.resize(run_dirs.size());
        curves[r].x.push_back(step);
        curves[r].y.push_back(value.get<double>());
      }
    }
  }
  fs::create_directories(out_dir);
  std::vector<std::string> written;
  auto name_of = [&](size_t r) { return r < names.size() ? names[r] : fs::path(run_dirs[r]).filename().string(); };
  auto emit = [&](const std::string& file, const std::string& title, const std::string& ylabel, const std::vector<Curve>& curves,
                  bool smooth_it, bool logy) {
    Chart c{title, "step", ylabel, {}, logy};
    for (size_t r = 0; r < curves.size(); ++r) {
      if (curves[r].x.empty()) continue;
      Series s{name_of(r), curves[r].x, curves[r].y};
      if (smooth_it && smooth > 1) {
        std::vector<double> y(s.y.size());
        double acc = 0;
        for (size_t i = 0; i < s.y.size(); ++i) {
          acc += s.y[i];
          if (i >= static_cast<size_t>(smooth)) acc -= s.y[i - smooth];
          y[i] = acc / static_cast<double>(std::min<size_t>(i + 1, smooth));
        }
        s.y = y;
      }
      c.series.push_back(std::move(s));
    }
    if (c.series.empty()) return;
    const std::string p = (fs::path(out_dir) / file).string();
    core::write_file_atomic(p, svg_line_chart(c));
    written.push_back(p);
  };
  struct Spec {
    const char* key;
    const char* file;
    const char* title;
    bool log;
  };
  const Spec train_specs[] = {
      {"main_loss", "train_loss.svg", "training loss (next token)", false},
      {"mtp_loss", "train_mtp_loss.svg", "training MTP loss (token t+2)", false},
      {"maxvio_batch", "maxvio_batch.svg", "MaxVio on each training batch", false},
      {"balance_loss", "balance_loss.svg", "balancing loss", false},
      {"bias_max", "bias_max.svg", "largest balancing bias", false},
      {"bias_min", "bias_min.svg", "smallest balancing bias", false},
      {"lr", "lr.svg", "learning rate", false},
      {"grad_norm", "grad_norm.svg", "gradient norm (before clipping)", true},
      {"tokens_per_s", "tokens_per_s.svg", "training tokens/s", false},
      // GRPO runs
      {"reward", "reward.svg", "mean reward of the rollouts", false},
      {"accuracy", "accuracy.svg", "rollout accuracy", false},
      {"format", "format.svg", "rollouts with the <think> format", false},
      {"response_length", "response_length.svg", "mean response length (tokens)", false},
      {"kl", "kl.svg", "KL to the reference (k3)", false},
      {"clip_fraction", "clip_fraction.svg", "clipped token ratios", false},
      {"entropy", "entropy.svg", "policy entropy per token", false},
      {"zero_std_fraction", "zero_std_fraction.svg", "rollouts in groups with equal rewards (no signal)", false},
      {"rollout_tokens_per_s", "rollout_tokens_per_s.svg", "rollout tokens/s (engine)", false},
      {"train_tokens_per_s", "train_tokens_per_s.svg", "policy-update tokens/s (libtorch)", false},
  };
  for (const Spec& s : train_specs) {
    if (train.count(s.key)) emit(s.file, s.title, s.key, train[s.key], true, s.log);
  }
  const Spec val_specs[] = {
      {"loss", "val_loss.svg", "validation loss (next token)", false},
      {"mtp_loss", "val_mtp_loss.svg", "validation MTP loss", false},
      {"maxvio_global", "maxvio_global.svg", "MaxVio over the validation set", false},
  };
  for (const Spec& s : val_specs) {
    if (val.count(s.key)) emit(s.file, s.title, s.key, val[s.key], false, s.log);
  }
  return written;
}

namespace {

// GRPO runs: the first and last tenth of the training curves, and RUN/eval.json when present.
std::string grpo_row(const std::string& name, const std::string& run_dir, const std::vector<nlohmann::json>& train) {
  const size_t tenth = std::max<size_t>(1, train.size() / 10);
  auto mean = [&](const char* key, size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += train[i].value(key, 0.0);
    return s / static_cast<double>(to - from);
  };
  char buf[512];
  const size_t n = train.size();
  std::snprintf(buf, sizeof buf, "| %s | %zu | %.3f → %.3f | %.3f → %.3f | %.0f → %.0f | %.4f |", name.c_str(), n,
                mean("reward", 0, tenth), mean("reward", n - tenth, n), mean("accuracy", 0, tenth),
                mean("accuracy", n - tenth, n), mean("response_length", 0, tenth), mean("response_length", n - tenth, n),
                mean("kl", n - tenth, n));
  std::string row = buf;
  const std::filesystem::path eval = std::filesystem::path(run_dir) / "eval.json";
  if (std::filesystem::exists(eval)) {
    nlohmann::json e;
    try {
      e = nlohmann::json::parse(core::read_file(eval.string()));
    } catch (const nlohmann::json::exception&) {
      fail(ErrorKind::kFormat, "summary: ", eval.string(), " is not JSON (write it with `whale eval ... --out`)");
    }
    std::snprintf(buf, sizeof buf, " %.1f%% | %.1f ± %.1f |", 100 * e.value("greedy_accuracy", 0.0), 100 * e.value("pass1", 0.0),
                  100 * e.value("pass1_stderr", 0.0));
    row += buf;
  } else {
    row += " - | - |";
  }
  return row + "\n";
}

}  // namespace

std::string summary_table(const std::vector<std::string>& run_dirs, const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  std::ostringstream o;
  std::ostringstream grpo;
  o << "| run | steps | val loss | val MTP loss | MaxVio (validation) | MaxVio (last 10% of batches) | tokens/s |\n"
    << "|---|---|---|---|---|---|---|\n";
  grpo << "| run | steps | reward (first → last 10%) | accuracy | response length | KL (last 10%) | test greedy | test pass@1 ± SE |\n"
       << "|---|---|---|---|---|---|---|---|\n";
  bool any_grpo = false, any_lm = false;
  auto cell = [](const nlohmann::json& j, const char* key, int prec) {
    if (!j.contains(key)) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", prec, j.at(key).get<double>());
    return std::string(buf);
  };
  for (size_t r = 0; r < run_dirs.size(); ++r) {
    const fs::path path = fs::path(run_dirs[r]) / "metrics.jsonl";
    std::ifstream in(path);
    if (!in) fail(ErrorKind::kNotFound, "summary: ", path.string(), " not found");
    nlohmann::json last_val;
    std::vector<nlohmann::json> train;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        fail(ErrorKind::kFormat, "summary: ", path.string(), " has a line that is not JSON");
      }
      if (j.value("split", "train") == "validation") {
        last_val = j;
      } else {
        train.push_back(j);
      }
    }
    const std::string name = r < names.size() ? names[r] : fs::path(run_dirs[r]).filename().string();
    if (!train.empty() && train.front().contains("reward")) {
      any_grpo = true;
      grpo << grpo_row(name, run_dirs[r], train);
      continue;
    }
    any_lm = true;
    double vio = 0, tps = 0;
    size_t n = 0;
    for (size_t i = train.size() / 10 * 9; i < train.size(); ++i, ++n) {
      vio += train[i].value("maxvio_batch", 0.0);
      tps += train[i].value("tokens_per_s", 0.0);
    }
    char vbuf[32] = "-", tbuf[32] = "-";
    if (n > 0 && train.back().contains("maxvio_batch")) std::snprintf(vbuf, sizeof vbuf, "%.3f", vio / n);
    if (n > 0) std::snprintf(tbuf, sizeof tbuf, "%.0f", tps / n);
    o << "| " << name << " | "
      << (train.empty() ? 0 : train.back().value("step", 0)) << " | " << cell(last_val, "loss", 4) << " | "
      << cell(last_val, "mtp_loss", 4) << " | " << cell(last_val, "maxvio_global", 3) << " | " << vbuf << " | " << tbuf
      << " |\n";
  }
  if (any_grpo && any_lm) return o.str() + "\n" + grpo.str();
  return any_grpo ? grpo.str() : o.str();
}

}  // namespace whale::train
