// `whale run MODEL -p "text"` (chat-templated one-shot, streamed; --raw sends the text as is; --json
// prints one machine-readable result) and `whale run MODEL --prompt-ids 1,2,3 -n 16 --greedy`
// (token ids in, token ids out). Load, prefill and decode timings go to stderr.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "dist_run.h"
#include "engine/chat_session.h"
#include "engine/engine.h"
#include "formats/generation_config.h"
#include "model/weights.h"
#include "run_common.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {
namespace {

struct Opts {
  std::string model, prompt, prompt_ids, quant = "keep", kv_type = "bf16";
  SpecOptions spec;
  int64_t n = 256;
  bool greedy = false, raw = false, json = false, no_think = false;
  float temperature = -1, top_p = -1;
  int32_t top_k = -1;
  uint64_t seed = 0;
  int64_t think_budget = -1;
  int threads = 0;
  std::string cache_dir, cache_size = "10G";  // --cache-dir DIR --cache-size 20G
  DistOptions dist;                           // --pp/--ep: across MPI processes (dist_run.h)
};

void run_dist(const Opts& o) {
  if (o.json || !o.cache_dir.empty() || o.think_budget >= 0) {
    fail(ErrorKind::kUnsupported, "--json, --cache-dir and --think-budget do not work with --pp/--ep yet");
  }
  const formats::GenerationConfig gen = formats::load_generation_config(o.model);
  sampler::SamplingParams sp;
  sp.temperature = o.greedy ? 0.0f : (o.temperature >= 0 ? o.temperature : gen.temperature.value_or(0.6f));
  sp.top_p = o.top_p > 0 ? o.top_p : gen.top_p.value_or(0.95f);
  sp.top_k = o.top_k >= 0 ? o.top_k : gen.top_k.value_or(0);
  sp.seed = o.seed;
  run_distributed({.model = o.model, .quant = o.quant, .kv_type = o.kv_type, .prompt = o.prompt, .prompt_ids = o.prompt_ids,
                   .raw = o.raw, .no_think = o.no_think, .n = o.n, .threads = o.threads, .sampling = sp},
                  o.dist);
}

void run(const Opts& o) {
  if (o.dist.requested()) return run_dist(o);
  if (o.prompt.empty() == o.prompt_ids.empty()) {
    fail(ErrorKind::kInvalidArgument, "give exactly one of -p/--prompt TEXT or --prompt-ids 1,2,3");
  }
  const auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  const auto t0 = std::chrono::steady_clock::now();
  const model::Weights w = model::load_weights(o.model, load_options(o.quant, o.threads));
  const std::unique_ptr<model::Weights> draft = load_draft_model(o.spec, o.model, load_options(o.quant, o.threads));
  std::optional<tokenizer::Tokenizer> tok;
  if (!o.prompt.empty()) tok.emplace(tokenizer::load_tokenizer(o.model));
  const auto t1 = std::chrono::steady_clock::now();

  sampler::SamplingParams sp;
  const formats::GenerationConfig gen = formats::load_generation_config(o.model);
  sp.temperature = o.greedy ? 0.0f : (o.temperature >= 0 ? o.temperature : gen.temperature.value_or(0.6f));
  sp.top_p = o.top_p > 0 ? o.top_p : gen.top_p.value_or(0.95f);
  sp.top_k = o.top_k >= 0 ? o.top_k : gen.top_k.value_or(0);
  sp.seed = o.seed;

  engine::Request req;
  if (tok) {
    if (o.raw) {
      req.prompt = tok->encode(o.prompt);
      req.reasoning.enabled = !o.no_think;
    } else {
      engine::ChatSession chat(*tok, sp);
      req = chat.user_turn(o.prompt, {.thinking = !o.no_think, .think_budget = o.think_budget, .max_tokens = o.n});
    }
  } else {
    req.prompt = parse_token_ids(o.prompt_ids);
    req.reasoning.enabled = false;
  }
  req.sampling = sp;
  req.max_tokens = o.n;
  req.think_budget = o.think_budget;
  const int64_t ctx = std::min<int64_t>(w.args.max_position_embeddings,
                                        std::max<int64_t>(4096, static_cast<int64_t>(req.prompt.size()) + o.n + 1));
  const engine::EngineConfig ecfg{.max_seqs = 1, .max_batch_tokens = 512, .max_context = ctx, .threads = o.threads,
                                  .kv_type = model::kv_type_from_name(o.kv_type), .spec = spec_config(o.spec, w, draft.get()),
                                  .cache_dir = o.cache_dir, .cache_bytes = engine::parse_byte_size(o.cache_size)};
  engine::Engine eng(w, tok ? &*tok : nullptr, ecfg);

  std::string reasoning, answer;
  std::vector<int32_t> ids;
  engine::Event finished{};
  bool first = true, in_reasoning = false;
  std::chrono::steady_clock::time_point t_first{};
  req.on_event = [&](const engine::Event& e) {
    if (e.kind == engine::Event::Kind::kFinished) {
      finished = e;
      return;
    }
    if (first) {
      t_first = std::chrono::steady_clock::now();
      first = false;
    }
    if (!tok) {
      for (int32_t t : e.tokens) std::printf("%s%d", ids.empty() ? "" : " ", t), ids.push_back(t);
    } else if (e.kind == engine::Event::Kind::kReasoning) {
      reasoning += e.text;
      if (!o.json) std::printf("%s%s", in_reasoning ? "" : "<think>\n", e.text.c_str());
      in_reasoning = true;
    } else {
      answer += e.text;
      if (!o.json) std::printf("%s%s", in_reasoning ? "\n</think>\n\n" : "", e.text.c_str());
      in_reasoning = false;
    }
    if (!o.json) std::fflush(stdout);
  };
  eng.add(std::move(req));
  eng.run_until_idle();
  const auto t2 = std::chrono::steady_clock::now();
  const engine::Usage& u = finished.usage;
  if (o.json) {
    nlohmann::json j = {{"content", answer},
                        {"reasoning_content", reasoning},
                        {"finish_reason", engine::finish_reason_name(finished.finish)},
                        {"usage",
                         {{"prompt_tokens", u.prompt_tokens},
                          {"completion_tokens", u.completion_tokens},
                          {"reasoning_tokens", u.reasoning_tokens}}}};
    if (!tok) j["tokens"] = ids;
    if (!o.cache_dir.empty()) j["usage"]["cached_prompt_tokens"] = u.cached_prompt_tokens;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("\n");
  }
  const double prefill = first ? secs(t1, t2) : secs(t1, t_first);
  const double decode = first ? 0.0 : secs(t_first, t2);
  std::fprintf(stderr,
               "load %.2f s; prompt %lld tokens in %.2f s (%.1f tok/s); generated %lld tokens in %.2f s (%.2f tok/s); "
               "finish %s\n",
               secs(t0, t1), static_cast<long long>(u.prompt_tokens), prefill,
               static_cast<double>(u.prompt_tokens) / std::max(prefill, 1e-9), static_cast<long long>(u.completion_tokens),
               decode, u.completion_tokens > 1 ? static_cast<double>(u.completion_tokens - 1) / std::max(decode, 1e-9) : 0.0,
               engine::finish_reason_name(finished.finish));
  if (const std::string sum = spec_summary(ecfg, eng.stats()); !sum.empty()) std::fprintf(stderr, "%s\n", sum.c_str());
  if (!o.cache_dir.empty()) {
    const engine::DiskCacheStats d = eng.stats().disk;
    std::fprintf(stderr, "disk cache %s: %lld prompt tokens read back; %lld blocks written, %lld files, %.1f MiB\n",
                 o.cache_dir.c_str(), static_cast<long long>(u.cached_prompt_tokens), static_cast<long long>(d.writes),
                 static_cast<long long>(d.files), static_cast<double>(d.bytes) / (1 << 20));
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("run", "Generate once from a prompt (text through the chat template, or token ids)");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout)")->required();
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text (sent through the chat template unless --raw)");
  cmd->add_option("--prompt-ids", o->prompt_ids, "Comma-separated prompt token ids (prints generated ids)");
  cmd->add_option("-n,--n-predict,--max-tokens", o->n, "Most tokens to generate")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--greedy", o->greedy, "Greedy decoding (temperature 0)");
  cmd->add_flag("--raw", o->raw, "Send the prompt text as is, without the chat template");
  cmd->add_flag("--json", o->json, "Print one JSON object: content, reasoning_content, finish_reason, usage");
  cmd->add_flag("--no-think", o->no_think, "Render the template's thinking-off form");
  cmd->add_option("--think-budget", o->think_budget, "Close the reasoning after this many tokens");
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (default: generation_config.json, else 0.6)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling (default: generation_config.json, else 0.95)");
  cmd->add_option("--top-k", o->top_k, "Top-k sampling");
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_option("--quant", o->quant,
                  "Re-encode weight matrices at load time: " + weight_types_help(weight_types({"keep"})))
      ->check(CLI::IsMember(weight_types({"keep"})));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  add_disk_cache_options(cmd, o->cache_dir, o->cache_size);
  add_kv_type_option(cmd, o->kv_type);
  add_spec_options(cmd, o->spec, "draft with --draft, else mtp when the model has MTP modules");
  add_dist_options(cmd, o->dist, /*bench=*/false);
  cmd->callback([o] { run(*o); });
}

}  // namespace whale::cli
