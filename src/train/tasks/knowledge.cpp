// Invented facts as tables of kinds and attributes (English and Chinese), pages built from their
// sentences, the grounded reply, and the grader that tells a correct answer from an abstention and
// from a hallucination.
#include "train/tasks/knowledge.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <span>

#include "core/error.h"
#include "search/grounding.h"
#include "search/prompts.h"

namespace whale::train::tasks {
namespace {

enum class ValueType { kNumber, kYear, kPerson, kPlace };

// One attribute of a kind. Placeholders: {E} the entity as a sentence starts ("The Velmora River"),
// {e} inside a sentence ("the Velmora River"), {v} the value.
struct Attribute {
  ValueType type;
  int lo, hi;                         // kNumber / kYear: the value's range
  std::array<const char*, 3> ask_en;  // question forms
  std::array<const char*, 2> ask_zh;
  const char* fact_en;
  const char* fact_zh;
  const char* what_en;  // "how long it is": what the model cannot tell without the fact
  const char* what_zh;
};

struct Kind {
  const char* name_en;      // the entity from its name {N}: "the {N} River"
  const char* name_zh;      // "{N}河"
  std::span<const Attribute> attributes;
  std::array<const char*, 3> filler_en;  // sentences about the entity that hold no attribute
  std::array<const char*, 3> filler_zh;
};

// clang-format off
constexpr Attribute kRiver[] = {
  {ValueType::kNumber, 40, 2900, {"How long is {e}?", "What is the length of {e}?", "How many kilometres long is {e}?"},
   {"{e}有多长？", "{e}全长多少公里？"}, "{E} is {v} km long.", "{e}全长{v}公里。", "how long it is", "它有多长"},
  {ValueType::kPlace, 0, 0, {"Where does {e} flow into?", "Into which lake does {e} flow?", "What lake does {e} end in?"},
   {"{e}流入哪个湖？", "{e}最终流向哪里？"}, "{E} flows into Lake {v}.", "{e}最终流入{v}湖。", "where it flows", "它流向哪里"},
};
constexpr Attribute kMountain[] = {
  {ValueType::kNumber, 900, 8400, {"How high is {e}?", "What is the height of {e}?", "How tall is {e} in metres?"},
   {"{e}有多高？", "{e}的海拔是多少？"}, "{E} is {v} metres high.", "{e}海拔{v}米。", "how high it is", "它有多高"},
  {ValueType::kYear, 1780, 1990, {"When was {e} first climbed?", "In which year was {e} first climbed?", "What year did climbers first reach the top of {e}?"},
   {"{e}是哪一年首次被登顶的？", "{e}首次登顶是在哪一年？"}, "{E} was first climbed in {v}.", "{e}于{v}年首次被登顶。", "when it was first climbed", "它是哪一年首次被登顶的"},
};
constexpr Attribute kCity[] = {
  {ValueType::kYear, 800, 1950, {"When was {e} founded?", "In what year was {e} founded?", "How old is {e}? When was it founded?"},
   {"{e}是哪一年建立的？", "{e}建于哪一年？"}, "{E} was founded in {v}.", "{e}建于{v}年。", "when it was founded", "它是哪一年建立的"},
  {ValueType::kNumber, 2000, 950000, {"What is the population of {e}?", "How many people live in {e}?", "What is {e}'s population?"},
   {"{e}有多少人口？", "{e}的人口是多少？"}, "{E} has a population of {v}.", "{e}的人口为{v}。", "how many people live there", "那里有多少人口"},
};
constexpr Attribute kInstitute[] = {
  {ValueType::kPerson, 0, 0, {"Who founded {e}?", "Who was the founder of {e}?", "Tell me who started {e}."},
   {"{e}是谁创立的？", "谁创办了{e}？"}, "{E} was founded by {v}.", "{e}由{v}创立。", "who founded it", "它是谁创立的"},
  {ValueType::kYear, 1750, 1995, {"When was {e} established?", "In which year was {e} established?", "What year did {e} open?"},
   {"{e}成立于哪一年？", "{e}是哪一年成立的？"}, "{E} was established in {v}.", "{e}成立于{v}年。", "when it was established", "它是哪一年成立的"},
  {ValueType::kPlace, 0, 0, {"In which city is {e} based?", "Where is {e} located?", "Which city is {e} in?"},
   {"{e}位于哪座城市？", "{e}在哪个城市？"}, "{E} is based in the city of {v}.", "{e}位于{v}市。", "where it is based", "它位于哪里"},
};
constexpr Attribute kPerson[] = {
  {ValueType::kYear, 1700, 1990, {"When was {e} born?", "In which year was {e} born?", "What year was {e} born in?"},
   {"{e}出生于哪一年？", "{e}是哪年出生的？"}, "{E} was born in {v}.", "{e}出生于{v}年。", "when they were born", "他是哪一年出生的"},
  {ValueType::kPlace, 0, 0, {"Where was {e} born?", "In which city was {e} born?", "What is {e}'s birthplace?"},
   {"{e}出生在哪里？", "{e}的出生地是哪里？"}, "{E} was born in the city of {v}.", "{e}出生在{v}市。", "where they were born", "他出生在哪里"},
};

constexpr Kind kKinds[] = {
  {"the {N} River", "{N}河", kRiver,
   {"Several old stone bridges cross {e}.", "The valley of {e} is known for its orchards.", "{E} is popular with anglers."},
   {"{e}上有几座古老的石桥。", "{e}流域以果园闻名。", "{e}是垂钓爱好者喜欢的地方。"}},
  {"Mount {N}", "{N}山", kMountain,
   {"{E} is often covered in cloud.", "A forest trail leads to the lower slopes of {e}.", "Snow stays on {e} until early summer."},
   {"{e}常年云雾缭绕。", "一条林间小路通往{e}的山脚。", "{e}的积雪要到初夏才会融化。"}},
  {"the city of {N}", "{N}市", kCity,
   {"{E} has a busy market square.", "{E} is known for its painted houses.", "A railway line links {e} with the coast."},
   {"{e}有一个热闹的集市广场。", "{e}以彩绘房屋闻名。", "一条铁路把{e}和海岸连在一起。"}},
  {"the {N} Institute", "{N}研究所", kInstitute,
   {"{E} runs a public library.", "{E} publishes a yearly journal.", "{E} offers summer courses."},
   {"{e}有一座公共图书馆。", "{e}每年出版一本期刊。", "{e}开设暑期课程。"}},
  {"{N}", "{N}", kPerson,
   {"{E} wrote several books about travel.", "{E} is remembered as a patient teacher.", "Letters by {e} are kept in a small archive."},
   {"{e}写过几本关于旅行的书。", "人们记得{e}是一位耐心的老师。", "{e}的书信保存在一个小档案馆里。"}},
};

constexpr const char* kSyllablesEn[] = {"vel", "mo", "ra", "ta", "rin", "os", "ke", "qel", "dar", "ni", "lu", "sa",
                                        "bre", "tho", "ka", "zen", "mi", "ol", "fa", "gri", "ve", "no", "len", "ar",
                                        "is", "pa", "dun", "cor", "ha", "el", "ur", "bes"};
constexpr const char* kSyllablesZh[] = {"韦", "尔", "莫", "拉", "塔", "林", "奥", "斯", "克", "达", "尼", "卢",
                                        "萨", "布", "索", "卡", "曾", "米", "法", "格", "里", "德", "维", "诺",
                                        "伦", "纳", "贝", "洛", "泰", "安", "柯", "希"};
constexpr const char* kSitesEn[] = {"Atlas of Places", "Open Gazetteer", "Travel Notes", "Regional Encyclopedia",
                                    "History Digest", "World Facts"};
constexpr const char* kSitesZh[] = {"地名百科", "旅行笔记", "地方志", "历史文摘", "世界知识"};
// clang-format on

constexpr int kKindCount = static_cast<int>(std::size(kKinds));
constexpr int kPersonKind = 4;

template <class T>
const T& pick(std::span<const T> v, Rng& rng) {
  return v[static_cast<size_t>(rng.uniform(0, static_cast<std::int64_t>(v.size()) - 1))];
}
template <class T, size_t N>
const T& pick(const T (&v)[N], Rng& rng) {
  return pick(std::span<const T>(v, N), rng);
}
template <class T, size_t N>
const T& pick(const std::array<T, N>& v, Rng& rng) {
  return pick(std::span<const T>(v.data(), N), rng);
}

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.uniform(0, static_cast<std::int64_t>(i) - 1))]);
}

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// Every "{key}" of `tmpl` replaced by the value named; other braces are text.
std::string fill(std::string_view tmpl, std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    bool replaced = false;
    for (const auto& [key, value] : fields) {
      if (tmpl.substr(i, key.size()) == key) {
        out += value;
        i += key.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += tmpl[i++];
  }
  return out;
}

// A made-up name: 2-3 syllables ("Velmora"; "韦尔莫"), or for a person given + family name.
std::string made_up_word(Rng& rng, bool chinese, int syllables) {
  std::string out;
  for (int k = 0; k < syllables; ++k) out += chinese ? pick(kSyllablesZh, rng) : pick(kSyllablesEn, rng);
  return chinese ? out : capitalized(out);
}

std::string made_up_name(Rng& rng, bool chinese, bool person) {
  const auto syllables = [&] { return static_cast<int>(rng.uniform(2, 3)); };
  if (!person) return made_up_word(rng, chinese, syllables());
  const std::string given = made_up_word(rng, chinese, syllables());
  return given + (chinese ? "·" : " ") + made_up_word(rng, chinese, syllables());
}

// A similar name: one syllable of `name` swapped for another ("Velmora" -> "Velmira"-like).
std::string similar_name(const std::string& name, Rng& rng, bool chinese) {
  for (int attempt = 0; attempt < 32; ++attempt) {
    std::string out = name;
    if (chinese) {
      // Han syllables are 3 bytes each; "·" (2 bytes) is left alone.
      std::vector<size_t> starts;
      for (size_t i = 0; i + 3 <= out.size(); ++i)
        if ((static_cast<unsigned char>(out[i]) & 0xF0) == 0xE0) starts.push_back(i);
      const size_t at = starts[static_cast<size_t>(rng.uniform(0, static_cast<std::int64_t>(starts.size()) - 1))];
      out.replace(at, 3, pick(kSyllablesZh, rng));
    } else {
      // Replace one vowel: the name keeps its shape and length.
      static constexpr std::string_view kVowels = "aeiou";
      std::vector<size_t> vowels;
      for (size_t i = 0; i < out.size(); ++i)
        if (kVowels.find(static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])))) != std::string_view::npos) vowels.push_back(i);
      if (vowels.empty()) return name + "a";
      const size_t at = vowels[static_cast<size_t>(rng.uniform(0, static_cast<std::int64_t>(vowels.size()) - 1))];
      const char c = kVowels[static_cast<size_t>(rng.uniform(0, 4))];
      out[at] = at == 0 ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    }
    if (out != name) return out;
  }
  return name + (chinese ? "纳" : "n");
}

std::string draw_value(const Attribute& a, Rng& rng, bool chinese);

// An entity and its attributes' values: every page about it agrees with every other.
struct Entity {
  int kind = 0;
  std::string name;     // {N}
  std::string display;  // "the Velmora River", "韦尔莫拉河"
  std::vector<std::string> values;  // one per attribute of the kind
};

Entity make_entity(int kind, std::string name, Rng& rng, bool chinese) {
  const Kind& k = kKinds[kind];
  Entity e{kind, name, fill(chinese ? k.name_zh : k.name_en, {{"{N}", name}}), {}};
  for (const Attribute& a : k.attributes) e.values.push_back(draw_value(a, rng, chinese));
  return e;
}

std::string draw_value(const Attribute& a, Rng& rng, bool chinese) {
  switch (a.type) {
    case ValueType::kNumber:
    case ValueType::kYear: return std::to_string(rng.uniform(a.lo, a.hi));
    case ValueType::kPerson: return made_up_name(rng, chinese, /*person=*/true);
    case ValueType::kPlace: return made_up_name(rng, chinese, /*person=*/false);
  }
  return {};
}

std::string sentence(const char* tmpl, const Entity& e, std::string_view value) {
  return fill(tmpl, {{"{E}", capitalized(e.display)}, {"{e}", e.display}, {"{v}", value}});
}

std::string attribute_sentence(const Attribute& a, const Entity& e, std::string_view value, bool chinese) {
  return sentence(chinese ? a.fact_zh : a.fact_en, e, value);
}

// Sentences of one page about `e`: its attributes except `skip`, and fillers.
std::vector<std::string> about(const Entity& e, int skip, Rng& rng, bool chinese) {
  std::vector<std::string> out;
  const std::span<const Attribute> attrs = kKinds[e.kind].attributes;
  for (size_t i = 0; i < attrs.size(); ++i)
    if (static_cast<int>(i) != skip) out.push_back(attribute_sentence(attrs[i], e, e.values[i], chinese));
  const auto& fillers = chinese ? kKinds[e.kind].filler_zh : kKinds[e.kind].filler_en;
  const int n = static_cast<int>(rng.uniform(1, 2));
  std::vector<const char*> f(fillers.begin(), fillers.end());
  shuffle(f, rng);
  for (int k = 0; k < n; ++k) out.push_back(sentence(f[static_cast<size_t>(k)], e, ""));
  return out;
}

// Whole sentences, shuffled, joined while they fit `chars` characters; `keep` (if not empty) is
// always in and placed among the first sentences.
std::string page_text(std::vector<std::string> sentences, const std::string& keep, Rng& rng, bool chinese, int chars) {
  shuffle(sentences, rng);
  if (!keep.empty()) {
    const size_t at = static_cast<size_t>(rng.uniform(0, std::min<std::int64_t>(1, static_cast<std::int64_t>(sentences.size()))));
    sentences.insert(sentences.begin() + static_cast<std::ptrdiff_t>(at), keep);
  }
  std::string out;
  for (const std::string& s : sentences) {
    const std::string next = out.empty() ? s : out + (chinese ? "" : " ") + s;
    if (static_cast<int>(search::count_chars(next)) > chars && s != keep) continue;
    out = next;
  }
  return out;
}

search::Document make_page(const Entity& e, std::string text, Rng& rng, bool chinese) {
  search::Document d;
  const char* site = chinese ? pick(kSitesZh, rng) : pick(kSitesEn, rng);
  d.title = chinese ? cat(e.display, " - ", site) : cat(capitalized(e.display), " - ", site);
  std::string slug;
  for (char c : std::string(site)) slug += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  d.url = cat("https://", chinese ? "baike" : slug, ".example/", hash_string(e.display) % 100000);
  d.text = std::move(text);
  return d;
}

// Where `value` occurs in `text` as a whole: a number not inside a longer number ("412" is not in
// "1412", "4,120" or "3.412"); any other value as a substring.
int count_value(std::string_view text, std::string_view value) {
  if (value.empty()) return 0;
  const bool numeric = std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); });
  auto digit = [&](size_t i) { return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); };
  auto sep = [&](size_t i) { return i < text.size() && (text[i] == ',' || text[i] == '.'); };
  int n = 0;
  for (size_t at = text.find(value); at != std::string_view::npos; at = text.find(value, at + 1)) {
    if (numeric) {
      const size_t end = at + value.size();
      if (at > 0 && digit(at - 1)) continue;
      if (at >= 2 && sep(at - 1) && digit(at - 2)) continue;
      if (digit(end) || (sep(end) && digit(end + 1))) continue;
    }
    ++n;
  }
  return n;
}

struct Draft {
  KnowledgeCase c;
  bool ok = false;
};

Draft draft(Rng& rng, const Difficulty& d, bool search, std::uint64_t seed) {
  Draft out;
  KnowledgeCase& c = out.c;
  c.seed = seed;
  c.search = search;
  c.chinese = rng.uniform(0, 9) < 3;
  const bool zh = c.chinese;
  const int kind = static_cast<int>(rng.uniform(0, kKindCount - 1));
  const std::span<const Attribute> attrs = kKinds[kind].attributes;
  const int asked = static_cast<int>(rng.uniform(0, static_cast<std::int64_t>(attrs.size()) - 1));
  const Attribute& attr = attrs[static_cast<size_t>(asked)];
  const Entity main = make_entity(kind, made_up_name(rng, zh, kind == kPersonKind), rng, zh);
  c.entity = main.display;
  c.value = main.values[static_cast<size_t>(asked)];
  c.question = zh ? sentence(pick(attr.ask_zh, rng), main, "") : sentence(pick(attr.ask_en, rng), main, "");
  c.fact = attribute_sentence(attr, main, c.value, zh);
  c.what = zh ? attr.what_zh : attr.what_en;
  c.what_en = attr.what_en;
  c.cur_date = search::long_date(zh ? search::Language::kChinese : search::Language::kEnglish,
                                 static_cast<int>(rng.uniform(2025, 2027)), static_cast<int>(rng.uniform(1, 12)),
                                 static_cast<int>(rng.uniform(1, 28)));
  if (!search) {
    out.ok = true;
    return out;
  }
  const int n_pages = static_cast<int>(rng.uniform(d.min_pages, d.max_pages));
  struct Page {
    search::Document doc;
    bool fact = false, near_miss = false;
    std::string entity;  // the page's entity (display)
  };
  std::vector<Page> pages;
  pages.push_back({make_page(main, page_text(about(main, asked, rng, zh), c.fact, rng, zh, d.page_chars), rng, zh), true, false, main.display});
  for (int k = 1; k < n_pages; ++k) {
    // The first distractor is a near-miss (the same entity without the fact, or a similar name
    // with another value); later ones are any of the four kinds.
    const int type = k == 1 ? static_cast<int>(rng.uniform(0, 1)) : static_cast<int>(rng.uniform(0, 3));
    if (type == 0) {  // the same entity, its other attributes only
      pages.push_back({make_page(main, page_text(about(main, asked, rng, zh), "", rng, zh, d.page_chars), rng, zh), false, true, main.display});
    } else if (type == 1 || type == 2) {  // a similar name / another entity of the kind, the asked attribute with another value
      const Entity other = make_entity(kind, type == 1 ? similar_name(main.name, rng, zh) : made_up_name(rng, zh, kind == kPersonKind), rng, zh);
      if (other.name == main.name) return out;
      const std::string claim = attribute_sentence(attr, other, other.values[static_cast<size_t>(asked)], zh);
      pages.push_back({make_page(other, page_text(about(other, asked, rng, zh), claim, rng, zh, d.page_chars), rng, zh), false, type == 1, other.display});
    } else {  // another kind altogether
      const int other_kind = static_cast<int>((kind + rng.uniform(1, kKindCount - 1)) % kKindCount);
      const Entity other = make_entity(other_kind, made_up_name(rng, zh, other_kind == kPersonKind), rng, zh);
      if (other.name == main.name) return out;
      pages.push_back({make_page(other, page_text(about(other, -1, rng, zh), "", rng, zh, d.page_chars), rng, zh), false, false, other.display});
    }
  }
  shuffle(pages, rng);
  int occurrences = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    const Page& p = pages[i];
    const int here = count_value(p.doc.title, c.value) + count_value(p.doc.text, c.value);
    occurrences += here;
    if (p.fact) {
      c.fact_page = static_cast<int>(i) + 1;
      if (here != 1 || p.doc.text.find(c.fact) == std::string::npos) return out;
    }
    if (p.near_miss) c.near_misses.push_back({static_cast<int>(i) + 1, p.entity});
    c.pages.push_back(p.doc);
  }
  out.ok = occurrences == 1 && count_value(c.question, c.value) == 0;
  return out;
}

void check_knowledge_difficulty(const Difficulty& d) {
  if (d.min_pages < 1 || d.min_pages > d.max_pages || d.max_pages > 8)
    fail(ErrorKind::kInvalidArgument, "task knowledge: difficulty needs 1 <= min_pages <= max_pages <= 8");
  if (d.page_chars < 120 || d.page_chars > 100000)
    fail(ErrorKind::kInvalidArgument, "task knowledge: difficulty needs 120 <= page_chars <= 100000");
  if (!(d.no_search >= 0 && d.no_search <= 1))
    fail(ErrorKind::kInvalidArgument, "task knowledge: difficulty needs 0 <= no_search <= 1");
}

std::string_view answer_region(std::string_view response, bool* ended) {
  const size_t close = response.rfind("</think>");
  *ended = true;
  if (close != std::string_view::npos) return response.substr(close + 8);
  if (response.find("<think>") != std::string_view::npos) {
    *ended = false;
    return {};
  }
  return response;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

KnowledgeCase knowledge_case(std::uint64_t seed, const Difficulty& difficulty, bool search) {
  check_knowledge_difficulty(difficulty);
  Rng rng(mix64(seed ^ 0x6b6e6f776c656467ull));
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Draft d = draft(rng, difficulty, search, seed);
    if (d.ok) return std::move(d.c);
  }
  fail(ErrorKind::kInternal, "task knowledge: no consistent case for seed ", seed);
}

std::string knowledge_message(const KnowledgeCase& c) {
  if (!c.search) return c.question;
  search::GroundedMessage m;
  m.question = c.question;
  m.search = true;
  m.documents = c.pages;
  m.cur_date = c.cur_date;
  return search::render_grounded(m);
}

std::string knowledge_reply(const KnowledgeCase& c) {
  const std::string lang = c.chinese ? " in Chinese" : "";
  if (!c.search) {
    const std::string think = cat("The user asks", lang, " about ", c.entity, ". I have no search results, and I know nothing about ",
                                  c.entity, ". I must not guess.");
    return cat("<think>\n", think, "\n</think>\n",
               c.chinese ? cat("我没有关于", c.entity, "的任何信息，所以无法告诉你", c.what, "。打开联网搜索后我可以帮你查一查。")
                         : cat("I don't have any information about ", c.entity, ", so I can't tell you ", c.what,
                               ". Turn on search and I can look it up."));
  }
  std::string think = cat("The user asks", lang, " about ", c.entity, ". Result ", c.fact_page, " says: ", c.fact);
  for (const KnowledgeCase::NearMiss& m : c.near_misses) {
    think += m.entity == c.entity ? cat(" Result ", m.page, " is also about ", c.entity, " but does not say ", c.what_en, ".")
                                  : cat(" Result ", m.page, " is about ", m.entity, ", not ", c.entity, ".");
  }
  think += cat(" So the answer is ", c.value, ", from result ", c.fact_page, ".");
  std::string answer = c.fact;
  const std::string_view stop = c.chinese ? "。" : ".";
  if (answer.ends_with(stop)) answer.erase(answer.size() - stop.size());
  answer += c.chinese ? cat("[citation:", c.fact_page, "]。") : cat(" [citation:", c.fact_page, "].");
  return cat("<think>\n", think, "\n</think>\n", answer);
}

Problem knowledge_problem(std::uint64_t seed, const Difficulty& difficulty, bool search) {
  const KnowledgeCase c = knowledge_case(seed, difficulty, search);
  Problem p;
  p.task = TaskKind::kKnowledge;
  p.id = cat("knowledge:", seed, search ? "" : ":closed");
  p.prompt = knowledge_message(c);
  p.answer = c.value;
  p.numbers = {static_cast<std::int64_t>(seed), search ? 1 : 0, difficulty.min_pages, difficulty.max_pages,
               difficulty.page_chars};
  p.target = c.fact_page;
  return p;
}

Problem sample_knowledge(Rng& rng, const Difficulty& difficulty) {
  const std::uint64_t seed = rng.next();
  const bool search = static_cast<double>(rng.uniform(0, 999)) >= difficulty.no_search * 1000.0;
  return knowledge_problem(seed, difficulty, search);
}

KnowledgeCase knowledge_case_of(const Problem& p) {
  if (p.task != TaskKind::kKnowledge || p.numbers.size() != 5)
    fail(ErrorKind::kInvalidArgument, "problem ", p.id, " is not a knowledge problem");
  Difficulty d;
  d.min_pages = static_cast<int>(p.numbers[2]);
  d.max_pages = static_cast<int>(p.numbers[3]);
  d.page_chars = static_cast<int>(p.numbers[4]);
  return knowledge_case(static_cast<std::uint64_t>(p.numbers[0]), d, p.numbers[1] != 0);
}

const char* grounding_name(Grounding g) {
  switch (g) {
    case Grounding::kCorrect: return "correct";
    case Grounding::kAbstained: return "abstained";
    case Grounding::kHallucinated: return "hallucinated";
    case Grounding::kNoAnswer: return "no_answer";
  }
  return "?";
}

bool is_abstention(std::string_view answer) {
  static constexpr std::string_view kEnglish[] = {
      "don't have any information", "don't have information", "do not have any information", "no information",
      "don't know", "do not know", "no idea", "can't tell", "cannot tell", "can't know", "cannot know", "not sure",
      "don't say", "do not say", "doesn't say", "does not say", "not in the search results", "unable to"};
  static constexpr std::string_view kChinese[] = {"没有关于", "不知道", "无法", "不清楚", "没有提到", "没有相关"};
  const std::string low = lower(answer);
  for (std::string_view m : kEnglish) {
    if (low.find(m) != std::string::npos) return true;
    // "don’t" with a typographic apostrophe counts too
    std::string curly(m);
    if (const size_t q = curly.find('\''); q != std::string::npos) {
      curly.replace(q, 1, "\xE2\x80\x99");
      if (low.find(curly) != std::string::npos) return true;
    }
  }
  for (std::string_view m : kChinese)
    if (answer.find(m) != std::string_view::npos) return true;
  return false;
}

bool names_value(std::string_view answer, std::string_view value) { return count_value(answer, value) > 0; }

KnowledgeGrade grade_knowledge(std::string_view value, int fact_page, std::string_view response) {
  KnowledgeGrade g;
  bool ended = false;
  const std::string_view answer = answer_region(response, &ended);
  static constexpr std::string_view kCite = "[citation:";
  for (size_t at = answer.find(kCite); at != std::string_view::npos; at = answer.find(kCite, at + 1)) {
    size_t i = at + kCite.size();
    int n = 0, digits = 0;
    while (i < answer.size() && std::isdigit(static_cast<unsigned char>(answer[i])) && digits < 6) n = n * 10 + (answer[i++] - '0'), ++digits;
    if (digits > 0 && i < answer.size() && answer[i] == ']') g.citations.push_back(n);
  }
  g.cited = !g.citations.empty();
  g.citations_precise = g.cited && fact_page > 0 &&
                        std::all_of(g.citations.begin(), g.citations.end(), [&](int x) { return x == fact_page; });
  if (ended && !blank(answer)) {
    g.grounding = names_value(answer, value) ? Grounding::kCorrect
                  : is_abstention(answer)    ? Grounding::kAbstained
                                             : Grounding::kHallucinated;
  }
  size_t start = 0;
  while (start < response.size() && std::isspace(static_cast<unsigned char>(response[start]))) ++start;
  const std::string_view body = response.substr(start);
  auto count = [&](std::string_view needle) {
    int n = 0;
    for (size_t at = body.find(needle); at != std::string_view::npos; at = body.find(needle, at + 1)) ++n;
    return n;
  };
  if (body.starts_with("<think>") && count("<think>") == 1 && count("</think>") == 1) {
    const size_t close = body.find("</think>");
    g.format_ok = !blank(body.substr(7, close - 7)) && !blank(answer);
  }
  g.success = fact_page > 0 ? g.grounding == Grounding::kCorrect && g.citations_precise
                            : g.grounding == Grounding::kAbstained;
  return g;
}

KnowledgeGrade grade_knowledge(const Problem& problem, std::string_view response) {
  if (problem.task != TaskKind::kKnowledge)
    fail(ErrorKind::kInvalidArgument, "problem ", problem.id, " is not a knowledge problem");
  return grade_knowledge(problem.answer, static_cast<int>(problem.target), response);
}

}  // namespace whale::train::tasks
