// `whale train pretrain CONFIG --run DIR [--resume]`, `whale train sft CONFIG --run DIR [--resume]`
// and `whale train plot RUN_DIR... [--out DIR]` (docs/training.md). Needs the libtorch half.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"

#if WHALE_HAS_TRAIN
#include "core/mapped_file.h"
#include "train/config.h"
#include "train/dialogue.h"
#include "train/distill.h"
#include "train/grpo.h"
#include "train/data_parallel.h"
#include "train/local_launch.h"
#include "train/plot.h"
#include "train/trainer.h"
#include "train/tasks/task.h"
#endif

namespace whale::cli {

void add_train_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model: pretrain, sft, plot (docs/training.md)");
  cmd->require_subcommand(1);
  struct Opts {
    std::string config, run;
    bool resume = false, quiet = false;
    std::vector<std::string> runs, names;
    std::string out;
    int smooth = 10;
    int threads = -1;
    int64_t seed = -1;
    int nproc = 0;  // data parallel: local ranks to spawn (docs/distributed.md)
  };
  auto o = std::make_shared<Opts>();
  // The config text a run records (RUN/config.json), with the command line's overrides written in.
  auto with_overrides = [o](const std::string& text) {
    if (o->threads < 0 && o->seed < 0) return text;
    nlohmann::json j = nlohmann::json::parse(text);
    if (o->threads >= 0) j["threads"] = o->threads;
    if (o->seed >= 0) j["seed"] = o->seed;
    return j.dump(1) + "\n";
  };
#if WHALE_HAS_TRAIN
  // --nproc N: each rank is this command without --nproc, under torchrun's variables.
  auto launch_ranks = [o](const std::string& kind) {
    std::vector<std::string> args = {"train", kind, o->config, "--run", o->run};
    if (o->resume) args.push_back("--resume");
    if (o->quiet) args.push_back("-q");
    if (o->threads >= 0) args.insert(args.end(), {"--threads", std::to_string(o->threads)});
    if (o->seed >= 0) args.insert(args.end(), {"--seed", std::to_string(o->seed)});
    train::launch_local_ranks(o->nproc, args);
  };
#endif
  for (const char* kind : {"pretrain", "sft", "distill"}) {
    const std::string what = std::string(kind) == "pretrain"
                                 ? "Pretrain a model from a JSON config (MLA+MoE+MTP, aux-loss-free balancing)"
                             : std::string(kind) == "sft"
                                 ? "Supervised fine-tuning on chat-format worked solutions"
                                 : "Distil a teacher's verified reasoning traces into a student (rejection sampling + SFT; docs/rl.md)";
    CLI::App* sub = cmd->add_subcommand(kind, what);
    sub->add_option("config", o->config, "Training config (JSON; see configs/)")->required();
    sub->add_option("--run", o->run, "Run directory: metrics, checkpoints, the final model")->required();
    sub->add_flag("--resume", o->resume, "Continue the run in --run from its latest checkpoint");
    sub->add_flag("-q,--quiet", o->quiet, "No progress bar");
    sub->add_option("-t,--threads", o->threads, "Override the config's threads");
    sub->add_option("--seed", o->seed, "Override the config's seed (init and data)");
    if (std::string(kind) != "distill") {
      sub->add_option("--nproc", o->nproc, "Data parallel: run N local ranks (batch_size is the global batch; docs/distributed.md)");
    }
    const std::string k = kind;
    sub->callback([=] {
#if WHALE_HAS_TRAIN
      if (o->nproc > 0) return launch_ranks(k);
      const std::string text = core::read_file(o->config);
      train::TrainConfig c = train::parse_train_config(text, o->config);
      if (o->threads >= 0) c.threads = o->threads;
      if (o->seed >= 0) c.seed = static_cast<uint64_t>(o->seed);
      const char* is = c.kind == train::RunKind::kPretrain ? "pretrain" : c.kind == train::RunKind::kSft ? "sft" : "distill";
      if (k != is) fail(ErrorKind::kInvalidArgument, o->config, " is a ", is, " config; run it with `whale train ", is, "`");
      if (c.kind == train::RunKind::kDistill) {
        if (train::dist_env_from_environment().world > 1) fail(ErrorKind::kUnsupported, "data parallelism covers pretrain and sft, not distill");
        train::train_distill(c, with_overrides(text), o->run, {.resume = o->resume, .progress = !o->quiet});
      } else {
        train::train(c, with_overrides(text), o->run, {.resume = o->resume, .progress = !o->quiet});
      }
      if (const char* rank = std::getenv("RANK"); rank && std::string(rank) != "0") return;  // rank 0 reports
      std::printf("model: %s/model\n", o->run.c_str());
#else
      fail(ErrorKind::kUnsupported, "this whale was built without libtorch (WHALE_TRAIN=OFF); `whale train ", k,
           "` needs it: install libtorch-dev and rebuild");
#endif
    });
  }
  CLI::App* grpo = cmd->add_subcommand("grpo", "Reasoning RL with GRPO / Dr. GRPO / DAPO and rule rewards (docs/rl.md)");
  grpo->add_option("config", o->config, "GRPO config (JSON)")->required();
  grpo->add_option("--run", o->run, "Run directory: metrics, the final model")->required();
  grpo->add_flag("--resume", o->resume, "Continue the run in --run from its latest checkpoint");
  grpo->add_flag("-q,--quiet", o->quiet, "No progress bar");
  grpo->add_option("-t,--threads", o->threads, "Override the config's threads");
  grpo->add_option("--seed", o->seed, "Override the config's seed (prompts and sampling)");
  grpo->add_option("--nproc", o->nproc, "Data parallel: run N local ranks sharing the rollouts (docs/distributed.md)");
  grpo->callback([=] {
#if WHALE_HAS_TRAIN
    if (o->nproc > 0) return launch_ranks("grpo");
    const std::string text = core::read_file(o->config);
    train::GrpoConfig c = train::parse_grpo_config(text, o->config);
    if (o->threads >= 0) c.threads = o->threads;
    if (o->seed >= 0) c.seed = static_cast<uint64_t>(o->seed);
    train::train_grpo(c, with_overrides(text), o->run, o->resume, !o->quiet);
    if (const char* rank = std::getenv("RANK"); rank && std::string(rank) != "0") return;  // rank 0 reports
    std::printf("model: %s/model\n", o->run.c_str());
#else
    fail(ErrorKind::kUnsupported, "this whale was built without libtorch (WHALE_TRAIN=OFF)");
#endif
  });
  CLI::App* text = cmd->add_subcommand("text", "Print N pretraining documents of a config's task mix (a tokenizer corpus)");
  auto count = std::make_shared<int>(1000);
  text->add_option("config", o->config, "Training config (JSON)")->required();
  text->add_option("-n,--count", *count, "Documents (default 1000)");
  text->callback([o, count] {
#if WHALE_HAS_TRAIN
    const train::TrainConfig c = train::load_train_config(o->config);
    double total = 0;
    for (const auto& m : c.tasks) total += m.weight;
    for (const auto& m : c.tasks) {
      train::tasks::TaskSpec spec;
      spec.task = m.task;
      spec.count = static_cast<int>(*count * m.weight / total);
      spec.seed = c.seed;
      spec.difficulty = m.difficulty;
      spec.unique = false;
      uint64_t k = 0;
      for (const auto& p : train::tasks::generate(spec)) {
        // The config's "data" mix: phrased questions, earlier turns and small talk as training sees them.
        const train::Dialogue d = train::training_dialogue(c.data, c.tasks, train::tasks::Split::kTrain, p,
                                                           train::tasks::mix64(c.seed * 1000003 + ++k), c.kind == train::RunKind::kSft);
        for (const auto& m : d.history) std::printf("%s\n", m.content.c_str());
        std::printf("%s\n%s\n\n", d.user.c_str(), d.reply.c_str());
      }
    }
#else
    fail(ErrorKind::kUnsupported, "this whale was built without the training half (WHALE_TRAIN=OFF)");
#endif
  });
  CLI::App* plot = cmd->add_subcommand("plot", "Plot training curves of one or more runs (SVG)");
  plot->add_option("runs", o->runs, "Run directories (curves of several runs are overlaid)")->required();
  plot->add_option("--out", o->out, "Output directory (default: RUN_DIR/plots)");
  plot->add_option("--names", o->names, "Legend names, one per run (default: directory names)");
  plot->add_option("--smooth", o->smooth, "Moving average over this many steps for training curves (default 10)");
  plot->callback([o] {
#if WHALE_HAS_TRAIN
    const std::string out = o->out.empty() ? o->runs[0] + "/plots" : o->out;
    for (const std::string& f : train::plot_runs(o->runs, o->names, out, o->smooth)) std::printf("%s\n", f.c_str());
    const std::string table = train::summary_table(o->runs, o->names);
    core::write_file_atomic(out + "/summary.md", table);
    std::printf("%s/summary.md\n%s", out.c_str(), table.c_str());
#else
    fail(ErrorKind::kUnsupported, "this whale was built without the training half (WHALE_TRAIN=OFF)");
#endif
  });
}

}  // namespace whale::cli
