// DeepSeek's official search and file prompts (DeepSeek-R1's README, January 2025, "Official
// Prompts"): the templates verbatim, how search results and dates fill them, and CJK detection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "search/search.h"

namespace whale::search {

enum class Language { kEnglish, kChinese };

// True when the text holds a CJK ideograph, kana or hangul (what makes a query "Chinese" for the
// choice of template; DeepSeek's README says only "for Chinese query").
bool contains_cjk(std::string_view utf8);
Language query_language(std::string_view question);

// {cur_date} in the template's language: English "Sunday, December 6, 2026"; Chinese
// "2026年12月6日 星期日". month 1-12, day 1-31; fails on an impossible date.
std::string long_date(Language language, int year, int month, int day);
std::string today_long_date(Language language);  // the local calendar date

// {search_results}: each document as "[webpage X begin]\n<title>\n<text>\n[webpage X end]" (X from
// 1, in order), documents separated by "\n". A document without text contributes its snippet.
std::string render_search_results(const std::vector<Document>& documents);

// search_answer_en_template / search_answer_zh_template with the three fields filled.
std::string render_search_prompt(Language language, std::string_view search_results, std::string_view cur_date,
                                 std::string_view question);
// The whole user message for a question: language from the question, today's date.
std::string render_search_message(std::string_view question, const std::vector<Document>& documents);

// file_template: "[file name]: NAME\n[file content begin]\nCONTENT\n[file content end]\nQUESTION".
std::string render_file_prompt(std::string_view file_name, std::string_view file_content, std::string_view question);

}  // namespace whale::search
