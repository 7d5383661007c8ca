// `whale chat [MODEL]`: a terminal conversation. The thinking streams dimmed under "thinking…",
// then "thought for 3.2 s" and the answer. /think on|off, /search on|off, /file PATH, /clear,
// /save FILE, /exit; Ctrl-C stops the current answer, not the program; piped stdin works line by
// line (for scripts and tests). With search on, the sources follow the answer.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/chat_session.h"
#include "engine/engine.h"
#include "formats/generation_config.h"
#include "model/weights.h"
#include "run_common.h"
#include "search/grounding.h"
#include "search/prompts.h"
#include "search/search.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {
namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

struct Style {
  bool tty;
  const char* dim() const { return tty ? "\033[2m" : ""; }
  const char* bold() const { return tty ? "\033[1m" : ""; }
  const char* reset() const { return tty ? "\033[0m" : ""; }
};

struct Opts {
  std::string model;
  float temperature = -1, top_p = -1;
  int32_t top_k = -1;
  uint64_t seed = 0;
  int64_t max_tokens = 2048, think_budget = -1, ctx = 4096;
  bool no_think = false;
  int threads = 0;
  std::string quant = "keep", kv_type = "bf16";
  SpecOptions spec;
  std::string system;
  std::string search;  // --search INDEX|URL
  int search_k = 5;
  double search_timeout = 10;
};

constexpr const char* kCommands = "/think on|off, /search on|off, /file PATH, /clear, /save FILE, /exit";

// The next user message with its files and (search on) search results, cut to the room the
// conversation leaves: the context minus min(--max-tokens, context/2), as the server does.
struct Grounded {
  std::string content;  // what the model reads
  std::string history;  // what the conversation keeps: the files, not the search results
  std::vector<search::Document> sources;
  std::vector<std::string> notices;
};

Grounded ground(const engine::ChatSession& chat, const tokenizer::Tokenizer& tok, search::GroundedMessage m,
                bool thinking, int64_t context, int64_t max_tokens) {
  m.cur_date = search::today_long_date(search::query_language(m.question));
  const int64_t budget = context - std::min(max_tokens, context / 2);
  std::vector<tokenizer::ChatMessage> messages = chat.messages();
  messages.push_back({"user", "", std::nullopt});
  const size_t cap = search::largest_fitting_cap(search::longest_text(m), [&](size_t c) {
    messages.back().content = search::render_grounded(m, c);
    engine::Request probe;
    engine::prepare_chat_prompt(tok, messages, thinking, probe);
    return static_cast<int64_t>(probe.prompt.size()) <= budget;
  });
  Grounded g{search::render_grounded(m, cap), {}, search::shown_documents(m, cap), {}};
  if (cap < search::longest_text(m)) g.notices = search::cut_notices(m, cap, static_cast<long long>(context));
  m.search = false;
  g.history = search::render_grounded(m, cap);
  return g;
}

// Context shift at whole exchanges (llama.cpp's discards half of the cached tokens after the kept
// prefix, mid-message if need be): when the conversation plus `next` leaves less than the answer's room
// (min(--max-tokens, context/2), as `ground` keeps), the oldest exchanges go, the system prompt
// stays. A terminal is asked first; piped stdin drops them with a notice. False: `next` is refused.
bool fit_context(engine::ChatSession& chat, const tokenizer::Tokenizer& tok, const std::string& next, bool thinking,
                 int64_t context, int64_t max_tokens, bool ask) {
  const int64_t budget = context - std::min(max_tokens, context / 2);
  auto tokens_without = [&](size_t n) {
    std::vector<tokenizer::ChatMessage> messages = chat.without_oldest(n);
    messages.push_back({"user", next, std::nullopt});
    engine::Request probe;
    engine::prepare_chat_prompt(tok, messages, thinking, probe);
    return static_cast<int64_t>(probe.prompt.size());
  };
  const int64_t now = tokens_without(0);
  if (now <= budget) return true;
  const size_t total = chat.exchanges();
  size_t n = 0;
  int64_t after = now;
  while (n < total && after > budget) after = tokens_without(++n);
  if (after >= context) {  // even alone (with the system prompt) it leaves no room for one token
    const bool system = !chat.messages().empty() && chat.messages().front().role == "system";
    std::printf("(this message takes %lld tokens with the chat template%s; the context holds %lld: it was not sent. "
                "Shorten it, or start whale chat with a larger --ctx)\n",
                static_cast<long long>(after), system ? " and the system prompt" : "", static_cast<long long>(context));
    return false;
  }
  if (n == 0) return true;  // nothing to drop: the answer gets what room is left
  if (ask) {
    std::printf("(the conversation and this message take %lld tokens; the context of %lld keeps %lld for the answer. "
                "Drop the oldest %zu of %zu exchanges? [Y/n]) ",
                static_cast<long long>(now), static_cast<long long>(context), static_cast<long long>(context - budget), n,
                total);
    std::fflush(stdout);
    std::string reply;
    if (!std::getline(std::cin, reply)) {  // Ctrl-C (back to the prompt) or Ctrl-D (the chat ends)
      if (g_interrupted) std::cin.clear();
      std::printf("\n(not sent)\n");
      return false;
    }
    if (reply == "n" || reply == "N" || reply == "no") {
      if (now >= context) {
        std::printf("(without dropping, this message does not fit the context of %lld tokens: it was not sent)\n",
                    static_cast<long long>(context));
        return false;
      }
      std::printf("(kept the whole conversation; the answer stops where the context fills)\n");
      return true;
    }
  }
  chat.drop_oldest(n);
  std::printf("(dropped the oldest %zu of %zu exchanges to fit the context of %lld tokens: %lld -> %lld tokens)\n", n,
              total, static_cast<long long>(context), static_cast<long long>(now), static_cast<long long>(after));
  return true;
}

void run_chat(const Opts& o) {
  const std::string path = o.model.empty() ? default_model_path() : o.model;
  if (!std::filesystem::exists(path)) {
    fail(ErrorKind::kNotFound, "no model at ", path,
         ". The default model ships in the repository under models/default (run whale from the clone, or set "
         "WHALE_MODEL=DIR); docs/training.md shows how to train it again. Or give a model: whale chat DIR");
  }
  const Style style{::isatty(::fileno(stdout)) == 1};
  const bool interactive = ::isatty(::fileno(stdin)) == 1;
  const model::Weights weights = model::load_weights(path, load_options(o.quant, o.threads));
  const std::unique_ptr<model::Weights> draft = load_draft_model(o.spec, path, load_options(o.quant, o.threads));
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(path);
  sampler::SamplingParams sp;
  const formats::GenerationConfig gen = formats::load_generation_config(path);
  sp.temperature = o.temperature >= 0 ? o.temperature : gen.temperature.value_or(0.6f);
  sp.top_p = o.top_p > 0 ? o.top_p : gen.top_p.value_or(0.95f);
  sp.top_k = o.top_k >= 0 ? o.top_k : gen.top_k.value_or(0);
  sp.seed = o.seed;
  engine::Engine eng(weights, &tok,
                     {.max_seqs = 1, .max_batch_tokens = 256,
                      .max_context = std::min<int64_t>(o.ctx, weights.args.max_position_embeddings), .threads = o.threads,
                      .kv_type = model::kv_type_from_name(o.kv_type), .spec = spec_config(o.spec, weights, draft.get())});
  engine::ChatSession chat(tok, sp);
  if (!o.system.empty()) chat.set_system(o.system);
  bool thinking = !o.no_think;
  std::unique_ptr<search::Searcher> searcher;
  if (!o.search.empty()) {
    try {
      searcher = search::open_searcher(o.search, {.timeout_ms = static_cast<int>(o.search_timeout * 1000)});
    } catch (const Error& e) {
      fail(e.kind(), "--search ", o.search, ": ", e.what());
    }
  }
  bool searching = searcher != nullptr;
  std::vector<search::Attachment> files;  // /file: attached to the next message

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: a Ctrl-C at the prompt interrupts the read

  if (interactive) {
    std::printf("%swhale chat%s: %s (%s). %s. Ctrl-C stops an answer.\n", style.bold(), style.reset(), path.c_str(),
                weights.args.model_type.c_str(), kCommands);
    if (searcher) std::printf("(search on: %s)\n", searcher->describe().c_str());
  }
  std::string line;
  for (;;) {
    if (interactive) {
      std::printf("\n%s>%s ", style.bold(), style.reset());
      std::fflush(stdout);
    }
    g_interrupted = false;
    if (!std::getline(std::cin, line)) {
      if (g_interrupted && interactive) {  // Ctrl-C at the prompt
        std::cin.clear();
        std::printf("\n(Ctrl-D or /exit to quit)");
        continue;
      }
      break;
    }
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/clear") {
      chat.clear();
      files.clear();
      if (!o.system.empty()) chat.set_system(o.system);
      std::printf("(conversation cleared)\n");
      continue;
    }
    if (line == "/think on" || line == "/think off") {
      thinking = line == "/think on";
      std::printf("(thinking %s)\n", thinking ? "on" : "off");
      continue;
    }
    if (line.rfind("/save ", 0) == 0) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& m : chat.messages()) {
        nlohmann::json e = {{"role", m.role}, {"content", m.content}};
        if (m.reasoning_content) e["reasoning_content"] = *m.reasoning_content;
        j.push_back(e);
      }
      const std::string file = line.substr(6);
      core::write_file_atomic(file, j.dump(2) + "\n");
      std::printf("(saved %zu messages to %s)\n", chat.messages().size(), file.c_str());
      continue;
    }
    if (line == "/search on" || line == "/search off") {
      if (!searcher) {
        std::printf("(no search: start with whale chat --search INDEX|URL)\n");
      } else {
        searching = line == "/search on";
        std::printf("(search %s)\n", searching ? "on" : "off");
      }
      continue;
    }
    if (line.rfind("/file ", 0) == 0) {
      const std::filesystem::path file = line.substr(6);
      try {
        search::Attachment a = search::read_attachment(file.filename().string(), core::read_file(file.string()));
        std::printf("(attached %s: %zu characters; it goes with your next message)\n", a.name.c_str(),
                    search::count_chars(a.text));
        files.push_back(std::move(a));
      } catch (const Error& e) {
        std::printf("(cannot attach %s: %s)\n", file.string().c_str(), e.what());
      }
      continue;
    }
    if (line[0] == '/') {
      std::printf("(unknown command %s: %s)\n", line.c_str(), kCommands);
      continue;
    }
    Grounded grounded{line, line, {}, {}};
    if (searching || !files.empty()) {
      search::GroundedMessage m{.question = line, .files = std::move(files), .search = searching};
      files.clear();
      if (searching) {
        try {
          m.documents = searcher->search(line, o.search_k);
        } catch (const Error& e) {
          std::printf("(search failed: %s; /search off answers without it)\n", e.what());
          continue;
        }
      }
      grounded = ground(chat, tok, std::move(m), thinking, eng.max_context(), o.max_tokens);
      for (const std::string& n : grounded.notices) std::printf("(%s)\n", n.c_str());
    }
    if (!fit_context(chat, tok, grounded.content, thinking, eng.max_context(), o.max_tokens, interactive)) continue;
    engine::Request req =
        chat.user_turn(grounded.content, {.thinking = thinking, .think_budget = o.think_budget, .max_tokens = o.max_tokens});
    chat.set_last_user(grounded.history);
    std::string reasoning, answer;
    bool in_thought = false, done = false, context_full = false;
    engine::FinishReason reason = engine::FinishReason::kStop;
    const auto t0 = std::chrono::steady_clock::now();
    auto end_thought = [&] {
      if (!in_thought) return;
      in_thought = false;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s\n[thought for %.1f s]%s\n", style.dim(), s, style.reset());
    };
    req.on_event = [&](const engine::Event& e) {
      if (e.kind == engine::Event::Kind::kReasoning) {
        if (!in_thought && reasoning.empty()) std::printf("%s[thinking…]\n", style.dim());
        in_thought = true;
        reasoning += e.text;
        std::printf("%s%s%s", style.dim(), e.text.c_str(), style.reset());
      } else if (e.kind == engine::Event::Kind::kAnswer) {
        end_thought();
        answer += e.text;
        std::printf("%s", e.text.c_str());
      } else {
        end_thought();
        done = true;
        reason = e.finish;
        context_full = e.context_full;
      }
      std::fflush(stdout);
    };
    uint64_t id;
    try {
      id = eng.add(std::move(req));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kOutOfRange) throw;
      chat.drop_last_user();
      std::printf("(the conversation no longer fits the context of %lld tokens: %s; /clear to start over)\n",
                  static_cast<long long>(eng.max_context()), e.what());
      continue;
    }
    while (!done) {
      if (g_interrupted) {
        eng.cancel(id);
        g_interrupted = false;
      }
      eng.step();
    }
    std::printf("\n");
    if (reason == engine::FinishReason::kCancelled) {
      std::printf("(stopped)\n");
    } else if (context_full) {
      std::printf("(the context of %lld tokens is full: the answer was cut; the next message drops the oldest "
                  "exchanges)\n", static_cast<long long>(eng.max_context()));
    } else if (reason == engine::FinishReason::kLength) {
      std::printf("(answer cut at --max-tokens %lld)\n", static_cast<long long>(o.max_tokens));
    }
    if (searching) {
      std::printf("%sSources:%s\n", style.bold(), style.reset());
      if (grounded.sources.empty()) std::printf("  (no results)\n");
      for (size_t i = 0; i < grounded.sources.size(); ++i) {
        std::printf("  [%zu] %s\n      %s\n", i + 1, grounded.sources[i].title.c_str(), grounded.sources[i].url.c_str());
      }
    }
    chat.assistant_turn(answer, reasoning);
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model (default: the model under models/default)");
  cmd->add_option("model", o->model, "Model directory (Hugging Face layout)");
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (default: generation_config.json, else 0.6)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling (default: generation_config.json, else 0.95)");
  cmd->add_option("--top-k", o->top_k, "Top-k sampling (default: off)");
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_option("-n,--n-predict,--max-tokens", o->max_tokens, "Most tokens per answer")->check(CLI::PositiveNumber);
  cmd->add_option("--think-budget", o->think_budget, "Close the reasoning after this many tokens");
  cmd->add_flag("--no-think", o->no_think, "Start with thinking off (/think on turns it back on)");
  cmd->add_option("--system", o->system, "System prompt (R1's advice: none)");
  cmd->add_option("-c,--ctx", o->ctx, "Context length in tokens")->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
  cmd->add_option("--quant", o->quant, "Re-encode weights at load time: " + weight_types_help(weight_types({"keep"})))
      ->check(CLI::IsMember(weight_types({"keep"})));
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  add_kv_type_option(cmd, o->kv_type);
  cmd->add_option("--search", o->search,
                  "Ground answers in search results (DeepSeek's search template; /search on|off): an index folder "
                  "from `whale index build`, or a SearxNG URL (http://...)")
      ->type_name("INDEX|URL");
  cmd->add_option("--search-k", o->search_k, "Search results per question")->check(CLI::Range(1, 50));
  cmd->add_option("--search-timeout", o->search_timeout, "SearxNG connect + read timeout in seconds")
      ->check(CLI::Range(0.1, 600.0));
  add_spec_options(cmd, o->spec, "draft with --draft, else mtp when the model has MTP modules");
  cmd->callback([o] { run_chat(*o); });
}

}  // namespace whale::cli
