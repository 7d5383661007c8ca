// `whale eval MODEL --task NAME [-n 200] [-k 4] [--phrasings heldout]`: greedy accuracy and pass@1
// (k samples at temperature 0.6, top-p 0.95) on a task's test split, run on the whale engine, per
// phrasing family and turn with --phrasings; prints tables and writes JSON (--out).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "core/error.h"

#if WHALE_HAS_TRAIN
#include "core/mapped_file.h"
#include "core/progress.h"
#include "model/weights.h"
#include "run_common.h"
#include "tokenizer/tokenizer.h"
#include "train/evaluate.h"
#endif

namespace whale::cli {

void add_eval_command(CLI::App& app) {
  struct Opts {
    std::string model, task = "addition", split = "test", out, phrasings;
    int count = 100, samples = 4, threads = 0, max_seqs = 16;
    int64_t max_tokens = 1024;
    uint64_t seed = 1;
    bool no_greedy = false, responses = false, raw = false, no_follow_ups = false, small_talk = false;
    int min_digits = 1, max_digits = 4, min_numbers = 3, max_numbers = 4, max_number = 99, min_target = 10,
        max_target = 100;
    int min_pages = 3, max_pages = 5, page_chars = 400;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("eval", "Accuracy of a model on a task's test split (greedy and pass@1)");
  cmd->add_option("model", o->model, "Checkpoint directory or .gguf (default: models/default)");
  cmd->add_option("--task", o->task, "addition, subtraction, multiplication, countdown, knowledge")->required();
  cmd->add_option("--split", o->split, "test (default), validation, train");
  cmd->add_option("-n,--count", o->count, "Problems (default 100)");
  cmd->add_option("-k,--samples", o->samples, "Samples per problem for pass@1 (default 4; 0: greedy only)");
  cmd->add_flag("--no-greedy", o->no_greedy, "Skip the greedy response");
  cmd->add_flag("--raw", o->raw, "Prompt as pretraining documents start (BOS + question + newline), not the chat template");
  cmd->add_option("--phrasings", o->phrasings,
                  "Ask in these surface forms and report accuracy per phrasing family: heldout, train, template");
  cmd->add_flag("--no-follow-ups", o->no_follow_ups, "With --phrasings: first turns only (no follow-up turns)");
  cmd->add_flag("--small-talk", o->small_talk,
                "With --phrasings train|heldout: also the identity, greeting and out-of-skill turns of that set");
  cmd->add_option("--max-tokens", o->max_tokens, "Response limit (default 1024)");
  cmd->add_option("--seed", o->seed, "Problem and sampling seed (default 1)");
  cmd->add_option("--min-digits", o->min_digits, "Arithmetic: fewest digits per operand (default 1)");
  cmd->add_option("--max-digits", o->max_digits, "Arithmetic: most digits per operand (default 4)");
  cmd->add_option("--min-numbers", o->min_numbers, "Countdown: fewest numbers (default 3)");
  cmd->add_option("--max-numbers", o->max_numbers, "Countdown: most numbers (default 4)");
  cmd->add_option("--max-number", o->max_number, "Countdown: largest number (default 99)");
  cmd->add_option("--min-target", o->min_target, "Countdown: smallest target (default 10)");
  cmd->add_option("--max-target", o->max_target, "Countdown: largest target (default 100)");
  cmd->add_option("--min-pages", o->min_pages, "Knowledge: fewest search results per question (default 3)");
  cmd->add_option("--max-pages", o->max_pages, "Knowledge: most search results per question (default 5)");
  cmd->add_option("--page-chars", o->page_chars, "Knowledge: most characters of a result's text (default 400)");
  cmd->add_option("--out", o->out, "Write the result as JSON here");
  cmd->add_flag("--responses", o->responses, "Include every response in the JSON");
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all)");
  cmd->add_option("--batch", o->max_seqs, "Sequences decoded together (default 16)");
  cmd->callback([o] {
#if WHALE_HAS_TRAIN
    const std::string path = o->model.empty() ? default_model_path() : o->model;
    const model::Weights w = model::load_weights(path, load_options("keep", o->threads));
    const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(path);
    train::EvalOptions e;
    e.task = train::tasks::parse_task(o->task);
    e.split = train::tasks::parse_split(o->split);
    e.count = o->count;
    e.samples = o->samples;
    e.greedy = !o->no_greedy;
    e.max_tokens = o->max_tokens;
    e.seed = o->seed;
    e.threads = o->threads;
    e.max_seqs = o->max_seqs;
    e.raw = o->raw;
    if (!o->phrasings.empty()) e.phrasings = train::tasks::parse_phrasing_set(o->phrasings);
    e.follow_ups = !o->no_follow_ups;
    e.small_talk = o->small_talk;
    e.difficulty = {.min_digits = o->min_digits, .max_digits = o->max_digits, .min_numbers = o->min_numbers,
                    .max_numbers = o->max_numbers, .max_number = o->max_number, .min_target = o->min_target,
                    .max_target = o->max_target, .min_pages = o->min_pages, .max_pages = o->max_pages,
                    .page_chars = o->page_chars};
    const int64_t questions = static_cast<int64_t>(train::eval_items(e).size());
    core::Progress bar("eval " + o->task, questions * (e.samples + (e.greedy ? 1 : 0)),
                       {.unit = "responses"});
    e.progress = [&](int64_t done, int64_t) { bar.set(done); };
    const train::EvalResult r = train::evaluate(w, tok, e);
    bar.finish();
    std::printf("| task | split | problems | greedy acc | pass@1 (k=%d) ± SE | format | mean tokens | tok/s |\n", r.samples);
    std::printf("|---|---|---|---|---|---|---|---|\n");
    char greedy[32] = "-", pass[48] = "-";
    if (r.greedy_accuracy >= 0) std::snprintf(greedy, sizeof greedy, "%.1f%%", 100 * r.greedy_accuracy);
    if (r.pass1 >= 0) std::snprintf(pass, sizeof pass, "%.1f%% ± %.1f", 100 * r.pass1, 100 * r.pass1_stderr);
    std::printf("| %s | %s | %d | %s | %s | %.1f%% | %.0f | %.0f |\n", r.task.c_str(), o->split.c_str(), r.count, greedy,
                pass, 100 * r.format_rate, r.mean_tokens, r.tokens_per_s);
    if (!r.families.empty()) {
      std::printf("\n| phrasings | turn | family | questions | greedy acc | pass@1 |\n|---|---|---|---|---|---|\n");
      for (const train::FamilyScore& f : r.families) {
        char g[16] = "-", p1[16] = "-";
        if (f.greedy_accuracy >= 0) std::snprintf(g, sizeof g, "%.1f%%", 100 * f.greedy_accuracy);
        if (f.pass1 >= 0) std::snprintf(p1, sizeof p1, "%.1f%%", 100 * f.pass1);
        std::printf("| %s | %s | %s | %d | %s | %s |\n", r.phrasings.c_str(), f.turn.c_str(),
                    f.family.c_str(), f.count, g, p1);
      }
    }
    if (r.knowledge) {  // knowledge: grounding with search on vs off, 95% Wilson intervals
      auto cell = [](const train::Rate& x) {
        if (x.n == 0) return std::string("-");
        char b[64];
        std::snprintf(b, sizeof b, "%.1f%% [%.1f, %.1f] (%lld/%lld)", 100 * x.rate, 100 * x.lo, 100 * x.hi,
                      static_cast<long long>(x.k), static_cast<long long>(x.n));
        return std::string(b);
      };
      std::printf("\n| knowledge (%s) | accuracy | hallucination | abstention | citation precision |\n|---|---|---|---|---|\n",
                  r.knowledge->graded.c_str());
      for (const auto& [name, g] : {std::pair{"search on", &r.knowledge->search}, std::pair{"search off", &r.knowledge->no_search}})
        std::printf("| %s | %s | %s | %s | %s |\n", name, cell(g->accuracy).c_str(), cell(g->hallucination).c_str(),
                    cell(g->abstention).c_str(), cell(g->citation_precision).c_str());
    }
    if (!o->out.empty()) core::write_file_atomic(o->out, train::eval_result_json(r, o->responses) + "\n");
#else
    fail(ErrorKind::kUnsupported, "this whale was built without the training half (WHALE_TRAIN=OFF); `whale eval` needs it");
#endif
  });
}

}  // namespace whale::cli
