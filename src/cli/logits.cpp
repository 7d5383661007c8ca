// `whale logits MODEL --prompt-ids ... --out FILE`: the logits of every prompt position, as raw
// little-endian f32 [T, vocab] (plus the top entries on stdout), for cross-checking with other tools.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/weights.h"
#include "run_common.h"

namespace whale::cli {

void add_logits_command(CLI::App& app) {
  struct Opts {
    std::string model, prompt_ids, out;
    int top = 5;
    int threads = 0;
    std::string quant = "keep", kv_type = "bf16";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("logits", "Write the logits of every prompt position to a file");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout)")->required();
  cmd->add_option("--prompt-ids", o->prompt_ids, "Comma-separated prompt token ids")->required();
  cmd->add_option("--out", o->out, "Output file: raw little-endian f32, [positions, vocab]");
  cmd->add_option("--top", o->top, "Print the top K token ids and logits per position")->check(CLI::Range(0, 100));
  cmd->add_option("--quant", o->quant,
                  "Re-encode weight matrices at load time: " + weight_types_help(weight_types({"keep"})))
      ->check(CLI::IsMember(weight_types({"keep"})));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  add_kv_type_option(cmd, o->kv_type);
  cmd->callback([o] {
    const std::vector<int32_t> prompt = parse_token_ids(o->prompt_ids);
    const model::Weights w = model::load_weights(o->model, load_options(o->quant, o->threads));
    core::ThreadPool pool(o->threads);
    model::ContiguousKvCache cache(w.args, 1, static_cast<int64_t>(prompt.size()), model::kv_type_from_name(o->kv_type));
    model::Scratch scratch;
    model::ForwardOutput out;
    model::Batch batch;
    for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0);
    model::forward(w, batch, cache, {}, scratch, pool, out);
    const int64_t V = w.args.vocab_size;
    if (!o->out.empty()) {
      core::write_file_atomic(o->out, [&](std::FILE* f) {
        core::write_all(f, out.logits.data(), out.logits.size() * sizeof(float), o->out);
      });
      std::fprintf(stderr, "wrote %s: f32 [%zu, %lld]\n", o->out.c_str(), prompt.size(), static_cast<long long>(V));
    }
    std::vector<int64_t> order(static_cast<size_t>(V));
    for (size_t t = 0; t < prompt.size(); ++t) {
      const float* l = out.logits.data() + static_cast<int64_t>(t) * V;
      std::iota(order.begin(), order.end(), 0);
      const int64_t k = std::min<int64_t>(o->top, V);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [l](int64_t a, int64_t b) { return l[a] > l[b]; });
      std::printf("%zu:", t);
      for (int64_t j = 0; j < k; ++j) std::printf(" %lld=%.6g", static_cast<long long>(order[j]), l[order[j]]);
      std::printf("\n");
    }
  });
}

}  // namespace whale::cli
