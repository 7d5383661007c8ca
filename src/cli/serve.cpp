// `whale serve [MODEL]`: the OpenAI/DeepSeek-compatible HTTP API (and the page at /) over one
// shared engine. Loopback by default; Ctrl-C or SIGTERM ends every stream and exits cleanly.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "dist_run.h"
#include "engine/engine.h"
#include "engine/engine_loop.h"
#include "engine/rank_link.h"
#include "formats/generation_config.h"
#include "model/weights.h"
#include "run_common.h"
#include "search/search.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {
namespace {

struct Opts {
  std::string model, model_name;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  int64_t ctx = 4096;
  int32_t max_seqs = 8;
  int64_t queue = 64;
  int64_t max_batch_tokens = 256;
  std::string quant = "keep", kv_type = "bf16";
  SpecOptions spec{.mode = "off"};
  int threads = 0;
  bool special_in_content = false;
  std::string cors;
  std::string search;  // --search INDEX|URL
  int search_k = 5;
  double search_timeout = 10;
  std::string cache_dir, cache_size = "10G";  // --cache-dir DIR --cache-size 20G
  DistOptions dist;  // --pp N / --ep N under mpirun: rank 0 serves, the others follow its steps
};

// Serves `weights` over HTTP until SIGINT/SIGTERM (blocked in every thread by the caller).
void serve(const Opts& o, const std::string& path, const sigset_t& sigs, const model::Weights& weights,
           engine::RankLink* link) {
  // Opened before the engine: a wrong --search fails before the cache is allocated.
  std::shared_ptr<search::Searcher> searcher;
  if (!o.search.empty()) {
    try {
      searcher = search::open_searcher(o.search, {.timeout_ms = static_cast<int>(o.search_timeout * 1000)});
    } catch (const Error& e) {
      fail(e.kind(), "--search ", o.search, ": ", e.what());
    }
  }
  const std::unique_ptr<model::Weights> draft = load_draft_model(o.spec, path, load_options(o.quant, o.threads));
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(path);  // a directory, or a .gguf's own metadata
  const formats::GenerationConfig gen = formats::load_generation_config(
      std::filesystem::is_directory(path) ? path : std::filesystem::path(path).parent_path().string());
  engine::Engine eng(weights, &tok,
                     {.max_seqs = o.max_seqs, .max_batch_tokens = o.max_batch_tokens,
                      .max_context = std::min<int64_t>(o.ctx, weights.args.max_position_embeddings),
                      .threads = o.threads, .kv_type = model::kv_type_from_name(o.kv_type),
                      .spec = spec_config(o.spec, weights, draft.get()),
                      .cache_dir = o.cache_dir,
                      .cache_bytes = engine::parse_byte_size(o.cache_size),
                      .link = link});
  engine::EngineLoop loop(eng, {.max_pending = o.queue});

  server::ServedModel served;
  std::string name = o.model_name;
  if (name.empty()) name = std::filesystem::path(path).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(path).lexically_normal().parent_path().filename().string();
  served.id = name.empty() ? "whale" : name;
  served.tokenizer = &tok;
  served.defaults.temperature = gen.temperature.value_or(0.6f);
  served.defaults.top_p = gen.top_p.value_or(0.95f);
  served.defaults.top_k = gen.top_k.value_or(0);
  served.max_context = eng.max_context();
  served.vocab_size = weights.args.vocab_size;
  served.created = static_cast<int64_t>(std::time(nullptr));
  served.special_in_content = o.special_in_content;
  std::string key = o.api_key;
  if (key.empty()) {
    if (const char* env = std::getenv("WHALE_API_KEY")) key = env;
  }
  server::Server srv(loop, served,
                     {.host = o.host, .port = o.port, .api_key = key, .max_pending = o.queue, .cors_origin = o.cors,
                      .total_slots = o.max_seqs, .model_path = path, .searcher = searcher, .search_k = o.search_k});
  const int port = srv.bind();
  std::printf("whale serve: http://%s:%d  model %s (%s, context %lld, %d sequences, queue %lld)%s\n", o.host.c_str(), port,
              served.id.c_str(), weights.args.model_type.c_str(), static_cast<long long>(served.max_context), o.max_seqs,
              static_cast<long long>(o.queue), key.empty() ? "" : ", API key required");
  if (!o.cache_dir.empty()) {
    const engine::DiskCacheStats d = eng.stats().disk;
    std::printf("whale serve: disk cache %s (%lld blocks, %.1f MiB of %s)\n", o.cache_dir.c_str(),
                static_cast<long long>(d.files), static_cast<double>(d.bytes) / (1 << 20), o.cache_size.c_str());
  }
  if (searcher) std::printf("whale serve: web_search over %s (%d results)\n", searcher->describe().c_str(), o.search_k);
  if (link) {
    std::printf("whale serve: %d MPI ranks, %s (this rank: %s)\n", link->plan().ranks,
                link->plan().mode == engine::ShardMode::kPipeline ? "pipeline parallel" : "expert parallel",
                link->plan().describe().c_str());
  }
  std::fflush(stdout);

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "whale serve: stopping\n");
    loop.shutdown();  // every stream gets its end; new requests get 503
    srv.stop();
  });
  srv.run();
  // run() also returns if listening failed; wake the waiter so it can be joined.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
}

void run_serve(const Opts& o) {
  const std::string path = o.model.empty() ? default_model_path() : o.model;
  if (!std::filesystem::exists(path)) {
    fail(ErrorKind::kNotFound, "no model at ", path,
         ". To try the server, make a random-weight model:\n  whale init --preset tiny-deepseek-v3 --out /tmp/tiny && "
         "whale serve /tmp/tiny");
  }
  // Signals go to one waiting thread (blocked everywhere else, including threads made later: MPI's
  // and the server's).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a dead server
  if (!o.dist.requested()) {
    const model::Weights weights = model::load_weights(path, load_options(o.quant, o.threads));
    serve(o, path, sigs, weights, nullptr);
    return;
  }
  // Under mpirun: every rank loads its share; rank 0 serves and leads, the others follow its steps
  // until it stops (an error on any rank ends them all).
  on_all_ranks(o.dist, [&] {
    const LoadedShare share = load_share(path, o.quant, o.threads, o.dist);
    engine::RankLink link(share.plan);
    if (!share.plan.first()) {
      link.follow(share.w, o.threads);
      return;
    }
    serve(o, path, sigs, share.w, &link);
    link.finish();
  });
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI/DeepSeek-compatible HTTP server (default: models/default)");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout) or .gguf file");
  cmd->add_option("--host", o->host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", o->port, "Port (0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o->api_key, "Require \"Authorization: Bearer KEY\" (default: $WHALE_API_KEY, else none)");
  cmd->add_option("--model-name", o->model_name, "Name /v1/models lists (default: the model directory's name)");
  cmd->add_option("-c,--ctx", o->ctx, "Context length per sequence")->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
  cmd->add_option("--max-seqs", o->max_seqs, "Sequences decoded together (continuous batching)")->check(CLI::Range(1, 1024));
  cmd->add_option("--queue", o->queue, "Requests queued or running before 429")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--batch-tokens", o->max_batch_tokens, "Tokens per engine step (prefill chunks + decodes)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--quant", o->quant, "Re-encode weights at load time: " + weight_types_help(weight_types({"keep"})))
      ->check(CLI::IsMember(weight_types({"keep"})));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  add_kv_type_option(cmd, o->kv_type);
  add_spec_options(cmd, o->spec,
                   "off: a verify step serves one sequence at a time, so with several streams a seeded sampled "
                   "reply would depend on what else runs");
  cmd->add_option("--cors", o->cors,
                  "Allow browser pages from ORIGIN (or *) to call the API: Access-Control-Allow-Origin and OPTIONS "
                  "preflight (default: off)")
      ->type_name("ORIGIN");
  cmd->add_flag("--special-in-content", o->special_in_content,
                "Parse special-token text (e.g. <｜Assistant｜>) in user/system/tool messages as tokens "
                "(default: plain text, so clients cannot forge turns)");
  cmd->add_option("--search", o->search,
                  "Let requests turn on web_search (\"web_search\": true): an index folder from `whale index build`, "
                  "or a SearxNG URL (http://...)")
      ->type_name("INDEX|URL");
  cmd->add_option("--search-k", o->search_k, "Search results per web_search request")->check(CLI::Range(1, 50));
  cmd->add_option("--search-timeout", o->search_timeout, "SearxNG connect + read timeout in seconds")
      ->check(CLI::Range(0.1, 600.0));
  add_disk_cache_options(cmd, o->cache_dir, o->cache_size);
  cmd->add_option("--pp", o->dist.pp,
                  "Pipeline parallelism over N MPI processes (mpirun -np N whale serve --pp N): each rank holds and runs "
                  "a contiguous range of layers; rank 0 serves HTTP")
      ->check(CLI::Range(2, 1024));
  cmd->add_option("--ep", o->dist.ep,
                  "Expert parallelism over N MPI processes (mpirun -np N whale serve --ep N): each rank holds 1/N of the "
                  "routed experts; rank 0 serves HTTP")
      ->check(CLI::Range(2, 1024));
  cmd->callback([o] { run_serve(*o); });
}

}  // namespace whale::cli
