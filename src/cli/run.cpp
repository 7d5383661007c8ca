// `whale run MODEL --prompt-ids 1,2,3 -n 16 --greedy`: load, prefill, decode greedily, print the
// generated token ids (text arrives with the tokenizer). Timing goes to stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "model/weights.h"
#include "run_common.h"

namespace whale::cli {

void add_run_command(CLI::App& app) {
  struct Opts {
    std::string model;
    std::string prompt_ids;
    int64_t n = 16;
    bool greedy = true;
    int threads = 0;
    std::string quant = "keep";
    std::string mla = "absorbed";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("run", "Generate from a prompt of token ids (greedy)");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout)")->required();
  cmd->add_option("--prompt-ids", o->prompt_ids, "Comma-separated prompt token ids")->required();
  cmd->add_option("-n,--n-predict", o->n, "Tokens to generate")->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_flag("--greedy", o->greedy, "Greedy decoding (the only mode until the sampler lands)");
  cmd->add_option("--quant", o->quant, "Re-encode weight matrices at load time: keep, bf16, q8_0, q4_0, q4_k, q6_k")
      ->check(CLI::IsMember({"keep", "bf16", "f16", "f32", "q8_0", "q4_0", "q4_k", "q6_k"}));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  cmd->add_option("--mla", o->mla, "MLA decode path: absorbed or naive")->check(CLI::IsMember({"absorbed", "naive"}));
  cmd->callback([o] {
    const std::vector<int32_t> prompt = parse_token_ids(o->prompt_ids);
    const auto t0 = std::chrono::steady_clock::now();
    const model::Weights w = model::load_weights(o->model, load_options(o->quant, o->threads));
    const auto t1 = std::chrono::steady_clock::now();
    core::ThreadPool pool(o->threads);
    const int64_t total = static_cast<int64_t>(prompt.size()) + o->n;
    if (total > w.args.max_position_embeddings) {
      fail(ErrorKind::kOutOfRange, "prompt (", prompt.size(), ") + n (", o->n, ") exceeds the context of ",
           w.args.max_position_embeddings, " tokens");
    }
    model::ContiguousKvCache cache(w.args, 1, std::max<int64_t>(total, 1));
    model::Scratch scratch;
    model::ForwardOutput out;
    model::Batch batch;
    for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0);
    model::forward(w, batch, cache, {.mla = model::MlaMode::kNaive}, scratch, pool, out);
    const auto t2 = std::chrono::steady_clock::now();
    const int64_t V = w.args.vocab_size;
    std::vector<int32_t> generated;
    int32_t next = argmax(out.logits.data() + (batch.size() - 1) * V, V);
    const model::ForwardOptions decode{.mla = o->mla == "naive" ? model::MlaMode::kNaive : model::MlaMode::kAbsorbed};
    for (int64_t i = 0; i < o->n; ++i) {
      generated.push_back(next);
      std::printf("%s%d", i ? " " : "", next);
      std::fflush(stdout);
      if (i + 1 == o->n) break;
      batch = {};
      batch.add(next, static_cast<int32_t>(prompt.size() + i), 0);
      model::forward(w, batch, cache, decode, scratch, pool, out);
      next = argmax(out.logits.data(), V);
    }
    std::printf("\n");
    const auto t3 = std::chrono::steady_clock::now();
    const auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::fprintf(stderr, "load %.2f s; prefill %zu tokens %.2f s (%.1f tok/s); decode %lld tokens %.2f s (%.2f tok/s); %d threads\n",
                 secs(t0, t1), prompt.size(), secs(t1, t2), static_cast<double>(prompt.size()) / secs(t1, t2),
                 static_cast<long long>(o->n > 0 ? o->n - 1 : 0), secs(t2, t3),
                 o->n > 1 ? static_cast<double>(o->n - 1) / secs(t2, t3) : 0.0, pool.size());
  });
}

}  // namespace whale::cli
