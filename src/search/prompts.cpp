// DeepSeek's official search and file prompts, filled in one pass (a placeholder inside the user's
// question or a page is text, never expanded again), and the long dates they carry.
#include "search/prompts.h"

#include <array>
#include <chrono>
#include <ctime>

#include "core/error.h"

namespace whale::search {
namespace {

// search_answer_zh_template, verbatim from DeepSeek-R1's README (tests/search/data/ holds the source).
constexpr std::string_view kZhTemplate =
    R"(# 以下内容是基于用户发送的消息的搜索结果:
{search_results}
在我给你的搜索结果中，每个结果都是[webpage X begin]...[webpage X end]格式的，X代表每篇文章的数字索引。请在适当的情况下在句子末尾引用上下文。请按照引用编号[citation:X]的格式在答案中对应部分引用上下文。如果一句话源自多个上下文，请列出所有相关的引用编号，例如[citation:3][citation:5]，切记不要将引用集中在最后返回引用编号，而是在答案对应部分列出。
在回答时，请注意以下几点：
- 今天是{cur_date}。
- 并非搜索结果的所有内容都与用户的问题密切相关，你需要结合问题，对搜索结果进行甄别、筛选。
- 对于列举类的问题（如列举所有航班信息），尽量将答案控制在10个要点以内，并告诉用户可以查看搜索来源、获得完整信息。优先提供信息完整、最相关的列举项；如非必要，不要主动告诉用户搜索结果未提供的内容。
- 对于创作类的问题（如写论文），请务必在正文的段落中引用对应的参考编号，例如[citation:3][citation:5]，不能只在文章末尾引用。你需要解读并概括用户的题目要求，选择合适的格式，充分利用搜索结果并抽取重要信息，生成符合用户要求、极具思想深度、富有创造力与专业性的答案。你的创作篇幅需要尽可能延长，对于每一个要点的论述要推测用户的意图，给出尽可能多角度的回答要点，且务必信息量大、论述详尽。
- 如果回答很长，请尽量结构化、分段落总结。如果需要分点作答，尽量控制在5个点以内，并合并相关的内容。
- 对于客观类的问答，如果问题的答案非常简短，可以适当补充一到两句相关信息，以丰富内容。
- 你需要根据用户要求和回答内容选择合适、美观的回答格式，确保可读性强。
- 你的回答应该综合多个相关网页来回答，不能重复引用一个网页。
- 除非用户要求，否则你回答的语言需要和用户提问的语言保持一致。

# 用户消息为：
{question})";

// search_answer_en_template, verbatim from DeepSeek-R1's README.
constexpr std::string_view kEnTemplate =
    R"(# The following contents are the search results related to the user's message:
{search_results}
In the search results I provide to you, each result is formatted as [webpage X begin]...[webpage X end], where X represents the numerical index of each article. Please cite the context at the end of the relevant sentence when appropriate. Use the citation format [citation:X] in the corresponding part of your answer. If a sentence is derived from multiple contexts, list all relevant citation numbers, such as [citation:3][citation:5]. Be sure not to cluster all citations at the end; instead, include them in the corresponding parts of the answer.
When responding, please keep the following points in mind:
- Today is {cur_date}.
- Not all content in the search results is closely related to the user's question. You need to evaluate and filter the search results based on the question.
- For listing-type questions (e.g., listing all flight information), try to limit the answer to 10 key points and inform the user that they can refer to the search sources for complete information. Prioritize providing the most complete and relevant items in the list. Avoid mentioning content not provided in the search results unless necessary.
- For creative tasks (e.g., writing an essay), ensure that references are cited within the body of the text, such as [citation:3][citation:5], rather than only at the end of the text. You need to interpret and summarize the user's requirements, choose an appropriate format, fully utilize the search results, extract key information, and generate an answer that is insightful, creative, and professional. Extend the length of your response as much as possible, addressing each point in detail and from multiple perspectives, ensuring the content is rich and thorough.
- If the response is lengthy, structure it well and summarize it in paragraphs. If a point-by-point format is needed, try to limit it to 5 points and merge related content.
- For objective Q&A, if the answer is very brief, you may add one or two related sentences to enrich the content.
- Choose an appropriate and visually appealing format for your response based on the user's requirements and the content of the answer, ensuring strong readability.
- Your answer should synthesize information from multiple relevant webpages and avoid repeatedly citing the same webpage.
- Unless the user requests otherwise, your response should be in the same language as the user's question.

# The user's message is:
{question})";

// file_template, verbatim from DeepSeek-R1's README.
constexpr std::string_view kFileTemplate = "[file name]: {file_name}\n[file content begin]\n{file_content}\n[file content end]\n{question}";

struct Field {
  std::string_view name;   // "{question}"
  std::string_view value;
};

// Each "{name}" of the template replaced by its value, scanning the template once.
std::string fill(std::string_view tmpl, std::initializer_list<Field> fields) {
  std::string out;
  size_t at = 0;
  while (at < tmpl.size()) {
    bool replaced = false;
    if (tmpl[at] == '{') {
      for (const Field& field : fields) {
        if (tmpl.substr(at, field.name.size()) == field.name) {
          out += field.value;
          at += field.name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += tmpl[at++];
  }
  return out;
}

// The code point at `at` (advancing `at`); malformed bytes count as one unit each.
char32_t next_code_point(std::string_view s, size_t& at) {
  unsigned char c = static_cast<unsigned char>(s[at]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (at + len > s.size()) len = 1;
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[at + i]) & 0x3F);
  at += len;
  return cp;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

}  // namespace

bool contains_cjk(std::string_view utf8) {
  size_t at = 0;
  while (at < utf8.size()) {
    char32_t cp = next_code_point(utf8, at);
    if ((cp >= 0x3040 && cp <= 0x30FF) ||    // hiragana, katakana
        (cp >= 0x3400 && cp <= 0x4DBF) ||    // CJK extension A
        (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK unified ideographs
        (cp >= 0xAC00 && cp <= 0xD7AF) ||    // hangul syllables
        (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK compatibility ideographs
        (cp >= 0x20000 && cp <= 0x3134F)) {  // extensions B-G
      return true;
    }
  }
  return false;
}

Language query_language(std::string_view question) {
  return contains_cjk(question) ? Language::kChinese : Language::kEnglish;
}

std::string long_date(Language language, int year, int month, int day) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && is_leap(year) ? 1 : 0)) {
    fail(ErrorKind::kInvalidArgument, "no such date: ", year, "-", month, "-", day);
  }
  // Day of week by Sakamoto's method: 0 = Sunday.
  static constexpr std::array<int, 12> kOffsets = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
  int y = month < 3 ? year - 1 : year;
  int weekday = ((y + y / 4 - y / 100 + y / 400 + kOffsets[month - 1] + day) % 7 + 7) % 7;
  if (language == Language::kChinese) {
    static constexpr std::array<std::string_view, 7> kZhDays = {"日", "一", "二", "三", "四", "五", "六"};
    return cat(year, "年", month, "月", day, "日 星期", kZhDays[weekday]);
  }
  static constexpr std::array<std::string_view, 7> kEnDays = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                                              "Thursday", "Friday", "Saturday"};
  static constexpr std::array<std::string_view, 12> kMonths = {"January", "February", "March", "April",
                                                               "May", "June", "July", "August",
                                                               "September", "October", "November", "December"};
  return cat(kEnDays[weekday], ", ", kMonths[month - 1], " ", day, ", ", year);
}

std::string today_long_date(Language language) {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return long_date(language, local.tm_year + 1900, local.tm_mon + 1, local.tm_mday);
}

std::string render_search_results(const std::vector<Document>& documents) {
  std::string out;
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& doc = documents[i];
    if (i > 0) out += '\n';
    out += cat("[webpage ", i + 1, " begin]\n", doc.title, "\n", doc.text.empty() ? doc.snippet : doc.text,
               "\n[webpage ", i + 1, " end]");
  }
  return out;
}

std::string render_search_prompt(Language language, std::string_view search_results, std::string_view cur_date,
                                 std::string_view question) {
  return fill(language == Language::kChinese ? kZhTemplate : kEnTemplate,
              {{"{search_results}", search_results}, {"{cur_date}", cur_date}, {"{question}", question}});
}

std::string render_search_message(std::string_view question, const std::vector<Document>& documents) {
  Language language = query_language(question);
  return render_search_prompt(language, render_search_results(documents), today_long_date(language), question);
}

std::string render_file_prompt(std::string_view file_name, std::string_view file_content, std::string_view question) {
  return fill(kFileTemplate,
              {{"{file_name}", file_name}, {"{file_content}", file_content}, {"{question}", question}});
}

}  // namespace whale::search
