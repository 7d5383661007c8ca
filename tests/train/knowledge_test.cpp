// The knowledge task: seeded cases, the search template rendering, where the fact is, the grader
// on hand-written replies, Wilson intervals, and `whale eval --task knowledge`'s JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "search/grounding.h"
#include "search/prompts.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/config.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/tasks/knowledge.h"
#include "train/tasks/task.h"

namespace whale::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using tasks::Grounding;

tasks::TaskSpec knowledge_spec(tasks::Split split, int count, uint64_t seed) {
  tasks::TaskSpec s;
  s.task = tasks::TaskKind::kKnowledge;
  s.split = split;
  s.count = count;
  s.seed = seed;
  return s;
}

TEST(Knowledge, DeterministicPerSeed) {
  const std::vector<tasks::Problem> a = tasks::generate(knowledge_spec(tasks::Split::kTrain, 30, 7));
  const std::vector<tasks::Problem> b = tasks::generate(knowledge_spec(tasks::Split::kTrain, 30, 7));
  const std::vector<tasks::Problem> c = tasks::generate(knowledge_spec(tasks::Split::kTrain, 30, 8));
  ASSERT_EQ(a.size(), 30u);
  int differ = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].answer, b[i].answer);
    EXPECT_EQ(a[i].target, b[i].target);
    EXPECT_EQ(tasks::solution(a[i]), tasks::solution(b[i]));
    EXPECT_EQ(tasks::split_of(a[i]), tasks::Split::kTrain);
    differ += a[i].prompt != c[i].prompt;
  }
  EXPECT_EQ(differ, 30);
  EXPECT_EQ(tasks::parse_task("knowledge"), tasks::TaskKind::kKnowledge);
  // A test case never shares its seed (and so its facts' split key) with a training case.
  for (const tasks::Problem& p : tasks::generate(knowledge_spec(tasks::Split::kTest, 20, 7)))
    EXPECT_EQ(tasks::split_of(p), tasks::Split::kTest);
}

// A hand-written case goes through the very rendering `whale serve` uses (render_grounded), which
// is the official template filled by src/search/prompts.
TEST(Knowledge, PromptIsTheSearchTemplateRendering) {
  tasks::KnowledgeCase c;
  c.search = true;
  c.question = "How long is the Velmora River?";
  c.cur_date = "Sunday, December 6, 2026";
  c.pages = {{.title = "Mount Osk - Atlas", .text = "Mount Osk is 2100 metres high."},
             {.title = "The Velmora River - Atlas", .text = "The Velmora River is 412 km long."}};
  c.fact_page = 2;
  const std::string m = tasks::knowledge_message(c);
  EXPECT_EQ(m, search::render_search_prompt(search::Language::kEnglish, search::render_search_results(c.pages), c.cur_date,
                                            c.question));
  const std::string results =
      "# The following contents are the search results related to the user's message:\n"
      "[webpage 1 begin]\nMount Osk - Atlas\nMount Osk is 2100 metres high.\n[webpage 1 end]\n"
      "[webpage 2 begin]\nThe Velmora River - Atlas\nThe Velmora River is 412 km long.\n[webpage 2 end]\n"
      "In the search results I provide to you, each result is formatted as [webpage X begin]...[webpage X end]";
  EXPECT_EQ(m.substr(0, results.size()), results);
  EXPECT_NE(m.find("- Today is Sunday, December 6, 2026.\n"), std::string::npos);
  EXPECT_TRUE(m.ends_with("# The user's message is:\nHow long is the Velmora River?"));

  c.question = "韦尔莫拉河有多长？";
  c.cur_date = "2026年12月6日 星期日";
  const std::string zh = tasks::knowledge_message(c);
  EXPECT_TRUE(zh.starts_with("# 以下内容是基于用户发送的消息的搜索结果:\n[webpage 1 begin]\nMount Osk - Atlas\n"));
  EXPECT_NE(zh.find("- 今天是2026年12月6日 星期日。\n"), std::string::npos);
  EXPECT_TRUE(zh.ends_with("# 用户消息为：\n韦尔莫拉河有多长？"));

  c.search = false;
  EXPECT_EQ(tasks::knowledge_message(c), "韦尔莫拉河有多长？");

  // Generated problems: the prompt is the same rendering of the case's own pages.
  for (const tasks::Problem& p : tasks::generate(knowledge_spec(tasks::Split::kTrain, 40, 3))) {
    const tasks::KnowledgeCase k = tasks::knowledge_case_of(p);
    if (!k.search) {
      EXPECT_EQ(p.prompt, k.question);
      continue;
    }
    EXPECT_EQ(p.prompt, search::render_search_prompt(search::query_language(k.question),
                                                     search::render_search_results(k.pages), k.cur_date, k.question));
    EXPECT_EQ(search::query_language(k.question) == search::Language::kChinese, k.chinese);
  }
}

TEST(Knowledge, FactIsOnItsPageOnly) {
  tasks::Difficulty d;
  int with_search = 0, chinese = 0, near_miss = 0;
  const int n = 600;
  for (const tasks::Problem& p : tasks::generate(knowledge_spec(tasks::Split::kTrain, n, 11))) {
    const tasks::KnowledgeCase c = tasks::knowledge_case_of(p);
    chinese += c.chinese;
    EXPECT_EQ(p.answer, c.value);
    const tasks::KnowledgeGrade self = tasks::grade_knowledge(p, tasks::solution(p));
    EXPECT_TRUE(self.success) << p.id << "\n" << tasks::solution(p);
    EXPECT_TRUE(self.format_ok);
    if (!c.search) {
      EXPECT_EQ(c.fact_page, 0);
      EXPECT_TRUE(c.pages.empty());
      EXPECT_EQ(self.grounding, Grounding::kAbstained);
      continue;
    }
    ++with_search;
    ASSERT_GE(static_cast<int>(c.pages.size()), d.min_pages);
    ASSERT_LE(static_cast<int>(c.pages.size()), d.max_pages);
    ASSERT_GE(c.fact_page, 1);
    for (size_t i = 0; i < c.pages.size(); ++i) {
      const search::Document& page = c.pages[i];
      EXPECT_LE(static_cast<int>(search::count_chars(page.text)), d.page_chars);
      const bool fact_page = static_cast<int>(i) + 1 == c.fact_page;
      EXPECT_EQ(tasks::names_value(page.text, c.value), fact_page) << p.id << " page " << i + 1 << ": " << page.text;
      EXPECT_FALSE(tasks::names_value(page.title, c.value));
      EXPECT_EQ(page.text.find(c.fact) != std::string::npos, fact_page);
    }
    // The first distractor is a near-miss: the same entity without the fact, or a similar name.
    if (c.pages.size() >= 2) {
      ASSERT_FALSE(c.near_misses.empty()) << p.id;
      ++near_miss;
      for (const auto& m : c.near_misses) {
        EXPECT_NE(m.page, c.fact_page);
        std::string title = c.pages[static_cast<size_t>(m.page - 1)].title, entity = m.entity;
        for (std::string* s : {&title, &entity})
          for (char& ch : *s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        EXPECT_TRUE(title.starts_with(entity + " - ")) << title;
      }
    }
    const std::string reply = tasks::solution(p);
    EXPECT_NE(reply.find("[citation:" + std::to_string(c.fact_page) + "]"), std::string::npos);
    EXPECT_NE(reply.find("Result " + std::to_string(c.fact_page) + " says: " + c.fact), std::string::npos);
  }
  EXPECT_NEAR(1.0 - static_cast<double>(with_search) / n, d.no_search, 0.05);
  EXPECT_NEAR(static_cast<double>(chinese) / n, 0.3, 0.06);
  EXPECT_EQ(near_miss, with_search);

  tasks::Difficulty bad;
  bad.max_pages = 9;
  EXPECT_THROW(tasks::knowledge_case(1, bad, true), Error);
  bad = {};
  bad.page_chars = 50;
  EXPECT_THROW(tasks::knowledge_case(1, bad, true), Error);
}

TEST(Knowledge, PageKnobsShortenThePrompt) {
  tasks::Difficulty small;
  small.min_pages = small.max_pages = 2;
  small.page_chars = 150;
  tasks::Difficulty large;
  large.min_pages = large.max_pages = 5;
  large.page_chars = 600;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const tasks::KnowledgeCase a = tasks::knowledge_case(seed, small, true);
    EXPECT_EQ(a.pages.size(), 2u);
    for (const search::Document& page : a.pages) EXPECT_LE(search::count_chars(page.text), 150u);
    EXPECT_LT(tasks::knowledge_message(a).size(), tasks::knowledge_message(tasks::knowledge_case(seed, large, true)).size());
  }
}

TEST(Knowledge, GraderOnHandWrittenReplies) {
  using tasks::grade_knowledge;
  auto think = [](const std::string& answer) { return "<think>\nResult 2 says the length.\n</think>\n" + answer; };
  // Correct and cited.
  tasks::KnowledgeGrade g = grade_knowledge("412", 2, think("The Velmora River is 412 km long [citation:2]."));
  EXPECT_EQ(g.grounding, Grounding::kCorrect);
  EXPECT_TRUE(g.cited && g.citations_precise && g.success && g.format_ok);
  EXPECT_EQ(g.citations, std::vector<int>{2});
  // Correct, but one citation points at another page.
  g = grade_knowledge("412", 2, think("It is 412 km long [citation:2][citation:3]."));
  EXPECT_EQ(g.grounding, Grounding::kCorrect);
  EXPECT_TRUE(g.cited);
  EXPECT_FALSE(g.citations_precise);
  EXPECT_FALSE(g.success);
  EXPECT_EQ(g.citations, (std::vector<int>{2, 3}));
  // Correct without any citation: accurate, not a success.
  g = grade_knowledge("412", 2, think("It is 412 km long."));
  EXPECT_EQ(g.grounding, Grounding::kCorrect);
  EXPECT_FALSE(g.cited || g.success);
  // A wrong value is a hallucination, also when it contains the digits of the right one.
  EXPECT_EQ(grade_knowledge("412", 2, think("It is 318 km long [citation:2].")).grounding, Grounding::kHallucinated);
  EXPECT_EQ(grade_knowledge("412", 2, think("It is 1412 km long [citation:2].")).grounding, Grounding::kHallucinated);
  EXPECT_EQ(grade_knowledge("412", 2, think("It is 4,120 km long.")).grounding, Grounding::kHallucinated);
  EXPECT_EQ(grade_knowledge("412", 2, think("It is 412.5 km long.")).grounding, Grounding::kHallucinated);
  EXPECT_EQ(grade_knowledge("412", 2, think("全长412公里[citation:2]。")).grounding, Grounding::kCorrect);
  EXPECT_EQ(grade_knowledge("Tarin Oske", 1, think("It was founded by Tarin Oske [citation:1].")).grounding, Grounding::kCorrect);
  EXPECT_EQ(grade_knowledge("Tarin Oske", 1, think("It was founded by Tarin Olske.")).grounding, Grounding::kHallucinated);
  // Abstentions: with results (not a success: the fact was there) and without (the right reply).
  g = grade_knowledge("412", 2, think("I don't know how long the Velmora River is."));
  EXPECT_EQ(g.grounding, Grounding::kAbstained);
  EXPECT_FALSE(g.success);
  EXPECT_EQ(grade_knowledge("412", 0, think("I don’t know.")).grounding, Grounding::kAbstained);
  EXPECT_TRUE(grade_knowledge("412", 0, think("我没有关于韦尔莫拉河的任何信息。")).success);
  g = grade_knowledge("412", 0, think("I don't have any information about the Velmora River, so I can't tell you."));
  EXPECT_EQ(g.grounding, Grounding::kAbstained);
  EXPECT_TRUE(g.success);
  // No results and an invented answer: a hallucination.
  g = grade_knowledge("412", 0, think("The Velmora River is 318 km long."));
  EXPECT_EQ(g.grounding, Grounding::kHallucinated);
  EXPECT_FALSE(g.success);
  // Citing with no results is never precise.
  EXPECT_FALSE(grade_knowledge("412", 0, think("It is 412 km [citation:1].")).citations_precise);
  // Thinking that never ended, or an empty answer: no answer.
  EXPECT_EQ(grade_knowledge("412", 2, "<think>\nResult 2 says 412 km").grounding, Grounding::kNoAnswer);
  EXPECT_EQ(grade_knowledge("412", 2, think("  \n")).grounding, Grounding::kNoAnswer);
  EXPECT_FALSE(grade_knowledge("412", 2, "The answer is 412 [citation:2].").format_ok);
  EXPECT_TRUE(grade_knowledge("412", 2, "The answer is 412 [citation:2].").success);  // no think block: the whole text answers

  // verify() reports the same through the task interface.
  const tasks::Problem p = tasks::knowledge_problem(5, {}, true);
  const tasks::Verdict ok = tasks::verify(p, tasks::solution(p));
  EXPECT_TRUE(ok.correct && ok.format_ok && ok.answer_present);
  const tasks::Verdict bad = tasks::verify(p, think("It is 7, I think."));
  EXPECT_FALSE(bad.correct);
  EXPECT_EQ(bad.extracted, "hallucinated");
}

TEST(Knowledge, WilsonIntervalMatchesHandComputedValues) {
  // Values from the closed form (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.96.
  Rate r = wilson_rate(8, 10);
  EXPECT_DOUBLE_EQ(r.rate, 0.8);
  EXPECT_NEAR(r.lo, 0.490162, 1e-6);
  EXPECT_NEAR(r.hi, 0.943318, 1e-6);
  r = wilson_rate(0, 10);
  EXPECT_NEAR(r.lo, 0.0, 1e-12);
  EXPECT_NEAR(r.hi, 0.277533, 1e-6);
  r = wilson_rate(45, 100);
  EXPECT_NEAR(r.lo, 0.356145, 1e-6);
  EXPECT_NEAR(r.hi, 0.547554, 1e-6);
  r = wilson_rate(0, 0);
  EXPECT_EQ(r.n, 0);
  EXPECT_EQ(r.rate, 0.0);
}

TEST(Knowledge, EvalItemsPairSearchOnAndOff) {
  EvalOptions o;
  o.task = tasks::TaskKind::kKnowledge;
  o.count = 6;
  const std::vector<EvalItem> items = eval_items(o);
  ASSERT_EQ(items.size(), 12u);
  for (size_t i = 0; i < items.size(); i += 2) {
    EXPECT_EQ(items[i].family, "search");
    EXPECT_EQ(items[i + 1].family, "no_search");
    EXPECT_EQ(items[i].problem->answer, items[i + 1].problem->answer);  // the same case
    EXPECT_GT(items[i].problem->target, 0);
    EXPECT_EQ(items[i + 1].problem->target, 0);
    EXPECT_EQ(tasks::split_of(*items[i].problem), tasks::Split::kTest);
  }
  // Made-up responses, tallied: search on correct+precise, correct+wrong citation, hallucinated;
  // search off abstained, hallucinated, abstained.
  EvalResult r;
  const std::vector<std::string> replies = {
      "<think>\nx\n</think>\n" + items[0].problem->answer + " [citation:" + std::to_string(items[0].problem->target) + "]",
      "<think>\nx\n</think>\nI don't know.",
      "<think>\nx\n</think>\n" + items[2].problem->answer + " [citation:" + std::to_string(items[2].problem->target + 1) + "]",
      "<think>\nx\n</think>\nIt is 7.",
      "<think>\nx\n</think>\nIt is 7 [citation:99].",
      "<think>\nx\n</think>\n我不知道。",
  };
  std::vector<EvalItem> six(items.begin(), items.begin() + 6);
  for (const std::string& s : replies) r.responses.push_back({.response = s, .greedy = true});
  tally_knowledge(six, 0, true, r);
  ASSERT_TRUE(r.knowledge);
  EXPECT_EQ(r.knowledge->search.accuracy.k, 2);
  EXPECT_EQ(r.knowledge->search.accuracy.n, 3);
  EXPECT_EQ(r.knowledge->search.hallucination.k, 1);
  EXPECT_EQ(r.knowledge->search.citation_precision.k, 1);
  EXPECT_EQ(r.knowledge->search.citation_precision.n, 3);
  EXPECT_EQ(r.knowledge->no_search.abstention.k, 2);
  EXPECT_EQ(r.knowledge->no_search.hallucination.k, 1);
  EXPECT_EQ(r.knowledge->no_search.accuracy.k, 0);
}

TEST(Knowledge, TrainingConfigTakesThePageKnobs) {
  const json j = {{"kind", "pretrain"},
                  {"model", json::parse(formats::model_args_to_json(testing::preset("tiny-deepseek-v3")))},
                  {"tasks", json::array({{{"task", "knowledge"}, {"min_pages", 2}, {"max_pages", 3}, {"page_chars", 200},
                                          {"no_search", 0.5}}})}};
  const TrainConfig c = parse_train_config(j.dump(), "k.json");
  ASSERT_EQ(c.tasks.size(), 1u);
  EXPECT_EQ(c.tasks[0].task, tasks::TaskKind::kKnowledge);
  EXPECT_EQ(c.tasks[0].difficulty.min_pages, 2);
  EXPECT_EQ(c.tasks[0].difficulty.max_pages, 3);
  EXPECT_EQ(c.tasks[0].difficulty.page_chars, 200);
  EXPECT_EQ(c.tasks[0].difficulty.no_search, 0.5);
  const tasks::Problem p = draw_problem(c.tasks, tasks::Split::kTrain, 1, 2);
  EXPECT_EQ(p.task, tasks::TaskKind::kKnowledge);
}

// The page knobs are the token budget: with the committed 8k tokenizer, whole SFT examples (chat
// template, search template, pages, reply, EOS) of the configs' variant fit 3,072-token rows and
// the short variant (1 page of 200 characters) fits a 1,024-token context, English and Chinese
// (2 pages of 120 characters reach ~1,040 tokens in Chinese: its template alone is ~750).
TEST(Knowledge, ExamplesFitTheirContextWithTheGroundedTokenizer) {
  const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(std::string(WHALE_TEST_DATA) + "/../../configs/grounded-tokenizer");
  const TrainConfig sft = load_train_config(std::string(WHALE_TEST_DATA) + "/../../configs/grounded-sft.json");
  tasks::Difficulty configured;
  for (const TaskMix& m : sft.tasks)
    if (m.task == tasks::TaskKind::kKnowledge) configured = m.difficulty;
  tasks::Difficulty short_variant;
  short_variant.min_pages = short_variant.max_pages = 1;
  short_variant.page_chars = 200;
  struct Budget {
    tasks::Difficulty difficulty;
    size_t limit;
  };
  for (const Budget& b : {Budget{configured, static_cast<size_t>(sft.seq_len)}, Budget{short_variant, 1024}}) {
    size_t longest[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 150; ++seed) {
      const tasks::Problem p = tasks::knowledge_problem(seed, b.difficulty, true);
      Dialogue d;
      d.user = p.prompt;
      d.reply = tasks::solution(p);
      const size_t n = dialogue_example(tok, d).tokens.size();
      size_t& l = longest[tasks::knowledge_case_of(p).chinese];
      l = std::max(l, n);
    }
    EXPECT_GT(longest[0], 0u);
    EXPECT_GT(longest[1], longest[0]);  // the Chinese template is longer
    EXPECT_LE(longest[1], b.limit) << "page_chars " << b.difficulty.page_chars;
  }
}

// `whale eval --task knowledge` on a tiny random model: the JSON has every field (not the values:
// a random model's answers mean nothing).
TEST(Knowledge, EvalCommandWritesTheGroundingJson) {
  formats::ModelArgs a = testing::preset("tiny-deepseek-v3");
  a.vocab_size = 1024;
  a.max_position_embeddings = 8192;
  const std::string dir = testing::temp_dir("knowledge_eval");
  model::RandomCheckpointOptions ro;
  ro.progress = false;
  ro.threads = 1;
  ro.tokenizer_dir = std::string(WHALE_TEST_DATA) + "/../../configs/chat-tokenizer";
  model::write_random_checkpoint(a, dir, ro);
  const std::string out = dir + "/eval.json";
  const std::string cmd = std::string(WHALE_BINARY) + " eval " + dir +
                          " --task knowledge -n 3 -k 0 --max-tokens 6 --min-pages 1 --max-pages 2 --page-chars 150 -t 1 --out " +
                          out + " > " + dir + "/stdout.txt 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  const json j = json::parse(in);
  EXPECT_EQ(j["task"], "knowledge");
  EXPECT_EQ(j["count"], 3);
  const json& k = j["knowledge"];
  EXPECT_EQ(k["graded"], "greedy");
  EXPECT_EQ(k["interval"], "wilson95");
  for (const char* mode : {"search", "no_search"}) {
    for (const char* field : {"accuracy", "hallucination_rate", "abstention_rate", "no_answer_rate", "cited_rate"}) {
      const json& f = k[mode][field];
      EXPECT_EQ(f["n"], 3) << mode << " " << field;
      ASSERT_TRUE(f["rate"].is_number()) << mode << " " << field;
      ASSERT_EQ(f["ci95"].size(), 2u);
      EXPECT_LE(f["ci95"][0].get<double>(), f["rate"].get<double>());
      EXPECT_GE(f["ci95"][1].get<double>(), f["rate"].get<double>());
    }
    EXPECT_TRUE(k[mode].contains("citation_precision"));
    EXPECT_LE(k[mode]["citation_precision"]["n"].get<int>(), 3);
  }
  std::ifstream text(dir + "/stdout.txt");
  const std::string printed((std::istreambuf_iterator<char>(text)), std::istreambuf_iterator<char>());
  EXPECT_NE(printed.find("| search on |"), std::string::npos) << printed;
  EXPECT_NE(printed.find("| search off |"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whale::train
