// The synthetic-knowledge task (issue 18 item 2): facts invented per seed, shown as search results
// in DeepSeek's official search template among distractor pages, and the grader of grounded answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "search/search.h"
#include "train/tasks/rng.h"
#include "train/tasks/task.h"

namespace whale::train::tasks {

// One invented fact and what the model is shown about it. Everything is a pure function of
// (seed, the difficulty's page knobs, search); no fact exists outside its own example.
struct KnowledgeCase {
  std::uint64_t seed = 0;
  bool chinese = false;
  bool search = true;                   // false: the question alone (the model cannot know)
  std::string entity;                   // "the Velmora River", "韦尔莫拉河"
  std::string question;                 // the user's own words
  std::string value;                    // what a correct answer names: "412", "1873", "Tarin Oske"
  std::string fact;                     // the sentence holding it: "The Velmora River is 412 km long."
  std::vector<search::Document> pages;  // the search results, in their numbering (empty without search)
  int fact_page = 0;                    // 1-based index of the page holding the fact (0 without search)
  struct NearMiss {
    int page = 0;        // 1-based
    std::string entity;  // == entity: the same entity without the fact; else a similar name
  };
  std::vector<NearMiss> near_misses;    // the distractors that could be mistaken for the fact page
  std::string what, what_en;            // what was asked, in the case's language / English: "how long it is"
  std::string cur_date;                 // the template's {cur_date}, invented too
};

// The case for `seed`: pages from [min_pages, max_pages] (one holds the fact, the rest are
// distractors), each page's text at most page_chars bytes (whole sentences). The value appears
// once in all the pages together, on the fact page. Throws kInvalidArgument on bad knobs.
KnowledgeCase knowledge_case(std::uint64_t seed, const Difficulty& difficulty, bool search);

// The user message: render_grounded (the rendering `whale serve` and `whale chat --search` use) of
// the question over the pages with the case's date; the bare question without search.
std::string knowledge_message(const KnowledgeCase& c);

// The reply to learn: "<think>\n" + which result holds the fact (and which near-misses do not) +
// "\n</think>\n" + the fact with "[citation:X]"; without search, an abstention.
std::string knowledge_reply(const KnowledgeCase& c);

// Problem <-> case. A knowledge Problem carries numbers {seed, search, min_pages, max_pages,
// page_chars}, target = fact_page, answer = value, prompt = knowledge_message.
Problem knowledge_problem(std::uint64_t seed, const Difficulty& difficulty, bool search);
Problem sample_knowledge(Rng& rng, const Difficulty& difficulty);  // search with 1 - no_search odds
KnowledgeCase knowledge_case_of(const Problem& problem);

// The grade of one reply (the text after the last "</think>"; none when thinking never ended).
enum class Grounding {
  kCorrect,        // names the fact's value
  kAbstained,      // no value, says it does not know / the results do not say
  kHallucinated,   // a confident answer without the value (a wrong or invented one)
  kNoAnswer,       // no answer region, or a blank one
};
const char* grounding_name(Grounding g);  // "correct", "abstained", "hallucinated", "no_answer"

struct KnowledgeGrade {
  Grounding grounding = Grounding::kNoAnswer;
  std::vector<int> citations;  // every [citation:X] in the answer, in order
  bool cited = false;          // at least one citation
  bool citations_precise = false;  // cited, and every citation is the fact page
  bool format_ok = false;      // one "<think>" first, one "</think>", non-blank reasoning and answer
  // The task's success: with search, correct with precise citations; without, an abstention.
  bool success = false;
};

// `value`: the fact's value; `fact_page`: its page (1-based); 0 = no search results were given.
KnowledgeGrade grade_knowledge(std::string_view value, int fact_page, std::string_view response);
KnowledgeGrade grade_knowledge(const Problem& problem, std::string_view response);

// True when the answer says it does not know (English or Chinese phrases; docs/tasks.md lists them).
bool is_abstention(std::string_view answer);
// True when `answer` contains `value`; a number must not be part of a longer number ("412" is not in "1412").
bool names_value(std::string_view answer, std::string_view value);

}  // namespace whale::train::tasks
