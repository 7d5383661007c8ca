// Chat data and the phrasing evaluation: training dialogues (shares of follow-ups and small talk,
// no held-out form anywhere in them, "that" follow-ups well defined and restated), their chat
// rendering and loss masks with the chat tokenizer, evaluation items and per-family counting
// with made-up responses, the tokenizer's CJK and digit tokens, and a tiny run on the chat data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/weights.h"
#include "phrasing_util.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/config.h"
#include "train/data.h"
#include "train/dialogue.h"
#include "train/evaluate.h"
#include "train/tasks/arithmetic.h"
#include "train/tasks/phrasing.h"
#include "train/trainer.h"

namespace whale::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kConfigs = std::string(WHALE_TEST_DATA) + "/../../configs";

std::vector<TaskMix> all_tasks_mix() {
  std::vector<TaskMix> mix;
  for (tasks::TaskKind t : tasks::all_tasks()) {
    TaskMix m;
    m.task = t;
    m.difficulty.max_number = 30;
    m.difficulty.max_target = 60;
    if (t == tasks::TaskKind::kMultiplication) m.difficulty.max_digits = 2;
    mix.push_back(m);
  }
  return mix;
}

std::vector<std::regex> held_out_regexes() {
  std::vector<std::regex> out;
  for (tasks::TaskKind t : tasks::all_tasks())
    for (auto table : {tasks::question_forms(t), tasks::follow_up_forms(t)})
      for (const tasks::Form* f : tasks::forms_in(table, tasks::PhrasingSet::kHeldOut)) out.push_back(tasks::form_regex(f->text));
  return out;
}

TEST(Dialogue, TrainingDialoguesMixAndNeverAskHeldOutForms) {
  const DataMix mix{.phrasings = tasks::PhrasingSet::kTrain, .forms_version = tasks::kLatestFormsVersion, .follow_ups = 0.25,
                    .small_talk = 0.04};
  const std::vector<TaskMix> task_mix = all_tasks_mix();
  const std::vector<std::regex> held = held_out_regexes();
  std::set<std::string> held_talk;
  for (const tasks::SmallTalk& s : tasks::small_talk())
    if (s.held_out) held_talk.insert(s.user);
  const int n = 2000;
  int follow = 0, talk = 0, three = 0, that = 0;
  for (int i = 0; i < n; ++i) {
    const tasks::Problem p = draw_problem(task_mix, tasks::Split::kTrain, tasks::mix64(i), tasks::mix64(i + n));
    const Dialogue d = training_dialogue(mix, task_mix, tasks::Split::kTrain, p, tasks::mix64(7 * i + 1), /*allow_follow_ups=*/true);
    EXPECT_EQ(d.history.size() % 2, 0u);
    std::vector<std::string> users = {d.user};
    for (size_t k = 0; k < d.history.size(); k += 2) {
      EXPECT_EQ(d.history[k].role, "user");
      EXPECT_EQ(d.history[k + 1].role, "assistant");
      EXPECT_EQ(d.history[k + 1].content.find("<think>"), std::string::npos);  // earlier reasoning dropped
      users.push_back(d.history[k].content);
    }
    for (const std::string& u : users) {
      EXPECT_FALSE(held_talk.count(u)) << u;
      for (const std::regex& r : held) ASSERT_FALSE(std::regex_match(u, r)) << u;
    }
    if (d.small_talk) {
      ++talk;
      EXPECT_TRUE(d.history.empty());
      continue;
    }
    ASSERT_TRUE(d.problem.has_value());
    EXPECT_TRUE(tasks::verify(*d.problem, d.reply).correct) << d.reply;
    if (!d.follow_up) {
      EXPECT_TRUE(d.history.empty());
      continue;
    }
    ++follow;
    const size_t turns = d.history.size() / 2 + 1;
    EXPECT_TRUE(turns == 2 || turns == 3) << turns;
    three += turns == 3;
    if (d.family == "that") {
      ++that;
      // The previous answer is the first operand, and the thinking restates the whole problem.
      EXPECT_EQ(d.history.back().content, "\\boxed{" + std::to_string(d.problem->numbers[0]) + "}");
      std::vector<std::string> numbers;
      for (const auto& [digits, at] : tasks::numbers_in(d.user)) numbers.push_back(digits);
      EXPECT_EQ(numbers, std::vector<std::string>{std::to_string(d.problem->numbers[1])}) << d.user;
      EXPECT_NE(d.reply.find("so the question is " + std::to_string(d.problem->numbers[0])), std::string::npos);
    }
  }
  EXPECT_NEAR(follow / static_cast<double>(n), 0.25, 0.03);
  EXPECT_NEAR(talk / static_cast<double>(n), 0.04, 0.015);
  EXPECT_NEAR(three / static_cast<double>(follow), 1.0 / 3, 0.08);
  EXPECT_GT(that, 40);

  // Pretraining draws no conversations; the default mix is the one template.
  const tasks::Problem p = draw_problem(task_mix, tasks::Split::kTrain, 1, 2);
  const Dialogue plain = training_dialogue(DataMix{}, task_mix, tasks::Split::kTrain, p, 3, true);
  EXPECT_EQ(plain.user, p.prompt);
  EXPECT_EQ(plain.reply, tasks::solution(p));
  for (uint64_t b = 0; b < 200; ++b) EXPECT_FALSE(training_dialogue(mix, task_mix, tasks::Split::kTrain, p, b, false).follow_up);
}

TEST(Dialogue, ChatRenderingAndMasksWithTheChatTokenizer) {
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(kConfigs + "/chat-tokenizer");
  const tasks::Problem first = tasks::make_arithmetic(tasks::TaskKind::kAddition, 37, 48);
  const tasks::Problem second = tasks::make_arithmetic(tasks::TaskKind::kMultiplication, 85, 3);
  Dialogue d;
  add_turn(d, "37加48等于多少？", tasks::solution(first));
  const tasks::Form* that = nullptr;
  for (const tasks::Form& f : tasks::follow_up_forms(tasks::TaskKind::kMultiplication))
    if (std::string(f.text) == "再乘以{b}呢？") that = &f;
  ASSERT_NE(that, nullptr);
  ask_follow_up(d, second, *that);
  EXPECT_EQ(d.user, "再乘以3呢？");
  EXPECT_EQ(d.history[1].content, "\\boxed{85}");

  const Example e = dialogue_example(tok, d);
  std::vector<int32_t> scored, context;
  for (size_t i = 0; i < e.tokens.size(); ++i) (e.target[i] ? scored : context).push_back(e.tokens[i]);
  ASSERT_EQ(scored.back(), *tok.eos_id());
  scored.pop_back();
  EXPECT_EQ(tok.decode(scored), d.reply.substr(8));
  EXPECT_TRUE(d.reply.starts_with("<think>\nThe previous answer is 85, so the question is 85*3.\nMultiply 85*3"));
  // The template's rendering: the first answer without its reasoning, then R1's opening.
  const std::string ctx = tok.decode(context);
  EXPECT_EQ(ctx, "<｜begin▁of▁sentence｜><｜User｜>37加48等于多少？<｜Assistant｜>\\boxed{85}<｜end▁of▁sentence｜>"
                 "<｜User｜>再乘以3呢？<｜Assistant｜><think>\n");

  // A pretraining document that scores only the solution.
  const Example doc = document_example(tok, "What's 37 plus 48?", tasks::solution(first), /*score_prompt=*/false);
  scored.clear();
  for (size_t i = 0; i < doc.tokens.size(); ++i)
    if (doc.target[i]) scored.push_back(doc.tokens[i]);
  EXPECT_EQ(tok.decode(scored, /*skip_special=*/true), tasks::solution(first));
  EXPECT_EQ(tok.decode(doc.tokens, /*skip_special=*/true), "What's 37 plus 48?\n" + tasks::solution(first));
}

TEST(Dialogue, ChatTokenizerHasCjkCharactersAndSingleDigits) {
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(kConfigs + "/chat-tokenizer");
  const tokenizer::EncodeOptions plain{.add_special = false, .parse_special = false};
  EXPECT_EQ(tok.encode("4821", plain).size(), 4u);
  std::string text;
  for (tasks::TaskKind t : tasks::all_tasks())
    for (auto table : {tasks::question_forms(t), tasks::follow_up_forms(t)})
      for (const tasks::Form* f : tasks::forms_in(table, tasks::PhrasingSet::kTrain, tasks::kLatestFormsVersion)) text += f->text;
  // The replies' characters too; the rarer ones of small-talk questions may stay byte sequences.
  for (const tasks::SmallTalk& s : tasks::small_talk())
    if (!s.held_out) text += s.reply;
  int n = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    const std::string ch = text.substr(i, len);
    i += len;
    if (len != 3 || c < 0xE4 || c > 0xE9) continue;  // CJK unified ideographs
    EXPECT_EQ(tok.encode(ch, plain).size(), 1u) << ch;
    ++n;
  }
  EXPECT_GT(n, 300);
}

TEST(PhrasingEval, ItemsCoverEveryFormAndTallyCountsFamilies) {
  EvalOptions o;
  o.task = tasks::TaskKind::kAddition;
  o.count = 48;
  o.phrasings = tasks::PhrasingSet::kHeldOut;
  const std::vector<EvalItem> items = eval_items(o);
  const auto forms = tasks::forms_in(tasks::question_forms(o.task), tasks::PhrasingSet::kHeldOut);
  const auto follow = tasks::forms_in(tasks::follow_up_forms(o.task), tasks::PhrasingSet::kHeldOut);
  ASSERT_EQ(items.size(), 96u);
  std::map<std::string, int> first_per_family;
  std::set<std::string> texts;
  for (size_t i = 0; i < 48; ++i) {
    EXPECT_FALSE(items[i].follow_up);
    EXPECT_TRUE(items[i].history.empty());
    EXPECT_EQ(items[i].user, tasks::render(*forms[i % forms.size()], *items[i].problem));
    EXPECT_EQ(tasks::split_of(*items[i].problem), tasks::Split::kTest);
    ++first_per_family[items[i].family];
    texts.insert(forms[i % forms.size()]->text);
  }
  EXPECT_EQ(texts.size(), forms.size());  // 48 problems over 12 forms: each form 4 times
  int that = 0;
  for (size_t i = 48; i < 96; ++i) {
    const EvalItem& it = items[i];
    EXPECT_TRUE(it.follow_up);
    EXPECT_EQ(it.problem->id, items[i - 48].problem->id);  // the same test problems as the first turns
    ASSERT_EQ(it.history.size(), 2u);
    if (it.family == "that") {
      ++that;
      EXPECT_EQ(it.history[1].content, "\\boxed{" + std::to_string(it.problem->numbers[0]) + "}");
    }
    EXPECT_TRUE(tasks::verify(*it.problem, it.reply).correct);
  }
  EXPECT_GT(that, 10);

  // Made-up grades: greedy right exactly on Chinese first turns and on "that" follow-ups; of the
  // two samples one is right everywhere.
  EvalResult r;
  r.phrasings = "heldout";
  const int per = 3;
  r.responses.resize(items.size() * per);
  for (size_t i = 0; i < items.size(); ++i) {
    const bool right = items[i].follow_up ? items[i].family == "that" : items[i].family == "zh";
    r.responses[i * per] = {.greedy = true, .correct = right, .format_ok = true, .tokens = 10};
    r.responses[i * per + 1] = {.correct = true, .format_ok = false, .tokens = 20};
    r.responses[i * per + 2] = {.correct = false, .format_ok = false, .tokens = 30};
  }
  tally(items, /*samples=*/2, /*greedy=*/true, r);
  std::map<std::string, FamilyScore> got;  // "first/zh", "follow_up/all", ...
  for (const FamilyScore& f : r.families) got[f.turn + "/" + f.family] = f;
  EXPECT_EQ(got["first/zh"].count, first_per_family["zh"]);
  EXPECT_DOUBLE_EQ(got["first/zh"].greedy_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(got["first/question"].greedy_accuracy, 0.0);
  EXPECT_EQ(got["first/all"].count, 48);
  EXPECT_DOUBLE_EQ(got["first/all"].greedy_accuracy, first_per_family["zh"] / 48.0);
  EXPECT_DOUBLE_EQ(got["follow_up/that"].greedy_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(got["follow_up/elliptical"].greedy_accuracy, 0.0);
  EXPECT_DOUBLE_EQ(got["follow_up/all"].greedy_accuracy, that / 48.0);
  EXPECT_DOUBLE_EQ(got["follow_up/all"].pass1, 0.5);
  EXPECT_DOUBLE_EQ(r.greedy_accuracy, (first_per_family["zh"] + that) / 96.0);
  EXPECT_DOUBLE_EQ(r.format_rate, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.mean_tokens, 20.0);
  EXPECT_FALSE(r.families.back().family != "all" || r.families.back().turn != "follow_up");  // follow-up "all" last
  const json j = json::parse(eval_result_json(r, false));
  EXPECT_EQ(j["phrasings"], "heldout");
  EXPECT_EQ(j["families"].size(), r.families.size());

  // Small talk: the held-out rows, graded apart and never in the task's accuracy.
  o.small_talk = true;
  const std::vector<EvalItem> with_talk = eval_items(o);
  std::vector<const tasks::SmallTalk*> held_talk;
  for (const tasks::SmallTalk& t : tasks::small_talk())
    if (t.held_out) held_talk.push_back(&t);
  ASSERT_EQ(with_talk.size(), 96u + held_talk.size());
  EvalResult rt;
  rt.phrasings = "heldout";
  rt.responses.resize(with_talk.size());
  int talk = 0;
  for (size_t i = 0; i < with_talk.size(); ++i) {
    if (with_talk[i].small_talk) {
      EXPECT_EQ(with_talk[i].small_talk, held_talk[talk++]);
      EXPECT_FALSE(with_talk[i].problem.has_value());
    }
    rt.responses[i] = {.greedy = true, .correct = with_talk[i].small_talk != nullptr};
  }
  tally(with_talk, /*samples=*/0, /*greedy=*/true, rt);
  EXPECT_DOUBLE_EQ(rt.greedy_accuracy, 0.0);  // only the small-talk answers were right
  std::map<std::string, FamilyScore> talk_got;
  for (const FamilyScore& f : rt.families) talk_got[f.turn + "/" + f.family] = f;
  EXPECT_EQ(talk_got["small_talk/all"].count, static_cast<int>(held_talk.size()));
  EXPECT_DOUBLE_EQ(talk_got["small_talk/all"].greedy_accuracy, 1.0);
  EXPECT_EQ(talk_got["first/all"].count, 48);
  EXPECT_EQ(rt.families.back().turn, "small_talk");
  o.small_talk = false;

  // The template set is the one training prompt, first turns only.
  o.phrasings = tasks::PhrasingSet::kTemplate;
  const std::vector<EvalItem> templ = eval_items(o);
  ASSERT_EQ(templ.size(), 48u);
  for (const EvalItem& it : templ) EXPECT_EQ(it.user, it.problem->prompt);
}

TEST(TrainConfig, DataMixKeys) {
  json j = json::parse(core::read_file(kConfigs + "/chat-sft.json"));
  const TrainConfig c = parse_train_config(j.dump(), "chat-sft.json");
  EXPECT_EQ(c.data.phrasings, tasks::PhrasingSet::kTrain);
  EXPECT_GE(c.data.follow_ups, 0.2);
  EXPECT_LE(c.data.follow_ups, 0.3);
  EXPECT_GE(c.data.small_talk, 0.02);
  EXPECT_LE(c.data.small_talk, 0.05);
  auto error = [&](const json& x) {
    try {
      parse_train_config(x.dump(), "t.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(c.data.forms_version, 1);  // the shipped model's data: the first tables
  j["data"]["forms_version"] = tasks::kLatestFormsVersion + 1;
  EXPECT_NE(error(j).find("forms_version"), std::string::npos) << error(j);
  j["data"]["forms_version"] = tasks::kLatestFormsVersion;
  EXPECT_EQ(parse_train_config(j.dump(), "t.json").data.forms_version, tasks::kLatestFormsVersion);
  j["data"]["phrasings"] = "heldout";
  EXPECT_NE(error(j).find("evaluation only"), std::string::npos) << error(j);
  j["data"]["phrasings"] = "train";
  j["data"]["folow_ups"] = 0.1;
  EXPECT_NE(error(j).find("folow_ups"), std::string::npos) << error(j);
  j["data"].erase("folow_ups");
  j["data"]["small_talk"] = 0.9;
  EXPECT_NE(error(j).find("at most 1"), std::string::npos) << error(j);
  json pre = json::parse(core::read_file(kConfigs + "/chat-pretrain.json"));
  EXPECT_FALSE(parse_train_config(pre.dump(), "p.json").data.score_prompt);
  pre["data"]["follow_ups"] = 0.2;
  EXPECT_NE(error(pre).find("sft configs only"), std::string::npos) << error(pre);
}

// A tiny model pretrained a few steps on the chat data (phrased questions, small talk, prompts
// unscored) learns, and `eval --phrasings heldout` runs on it end to end.
TEST(PhrasingEval, TinyRunOnTheChatData) {
  json model = json::parse(formats::model_args_to_json(testing::preset("tiny-deepseek-v3")));
  model["max_position_embeddings"] = 256;
  model["vocab_size"] = 1024;
  const json j = {{"kind", "pretrain"},
                  {"model", model},
                  {"tokenizer", kConfigs + "/chat-tokenizer"},
                  {"steps", 30},
                  {"batch_size", 4},
                  {"seq_len", 128},
                  {"seed", 3},
                  {"threads", 1},
                  {"optimizer", {{"lr", 3e-3}, {"warmup_steps", 3}}},
                  {"tasks", json::array({{{"task", "addition"}, {"max_digits", 2}}})},
                  {"data", {{"phrasings", "train"}, {"small_talk", 0.05}, {"score_prompt", false}}},
                  {"eval_every", 15},
                  {"eval_batches", 2},
                  {"checkpoint_every", 30}};
  const std::string run = testing::temp_dir("chat_data");
  train(parse_train_config(j.dump(), "tiny.json"), j.dump(), run, {.progress = false});
  std::vector<double> val;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const json m = json::parse(line);
    if (m.value("split", "") == "validation") val.push_back(m["loss"].get<double>());
  }
  ASSERT_GE(val.size(), 2u);
  EXPECT_LT(val.back(), val.front() - 1.0);

  const model::Weights w = model::load_weights(run + "/model", {});
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(run + "/model");
  EvalOptions o;
  o.count = 4;
  o.samples = 0;
  o.max_tokens = 24;
  o.difficulty.max_digits = 2;
  o.phrasings = tasks::PhrasingSet::kHeldOut;
  const EvalResult r = evaluate(w, tok, o);
  ASSERT_EQ(r.responses.size(), 8u);
  EXPECT_EQ(r.responses[0].prompt, eval_items(o)[0].user);
  EXPECT_TRUE(std::regex_match(r.responses[0].prompt, std::regex("What is \\d+ \\+ \\d+\\?"))) << r.responses[0].prompt;
  int counted = 0;
  for (const FamilyScore& f : r.families)
    if (f.family == "all") counted += f.count;
  EXPECT_EQ(counted, 8);
  fs::remove_all(run);
}

}  // namespace
}  // namespace whale::train
