// Chat requests grounded in web search and uploaded files: `web_search: true` searches the last
// user message and renders DeepSeek's search template; OpenAI file parts go through file_template;
// both cut to fit the context. Used by openai_request.cpp (prompts) and generation.cpp (replies).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "search/grounding.h"
#include "search/search.h"
#include "tokenizer/chat_template.h"

namespace whale::server {

// The server's searcher (`whale serve --search`), shared by every request.
struct SearchAccess {
  search::Searcher* searcher = nullptr;  // null: `web_search: true` is a 400
  std::mutex* mutex = nullptr;           // searches run one at a time (a Xapian database is not thread-safe)
  int k = 5;                             // documents per search
};

// What a grounded request reports beside the answer.
struct Grounding {
  bool searched = false;                  // web_search was on: the reply has search_results
  std::vector<search::Document> sources;  // as the model saw them, numbered from 1
  std::vector<std::string> notices;       // what was cut to fit the context
};

// One content part {"type": "file", "file": {"filename", "file_data"}} (file_data a data: URL or
// bare base64) read into text. A 400 naming `param` and the file on any problem.
search::Attachment read_file_part(const nlohmann::json& part, const std::string& param);

// Renders each user message that has files (files[i]: message i's), and the last user message
// when `web_search` is true, into its content (which holds the message's text parts on entry).
// The file and document texts are cut to one common cap, the largest for which `prompt_tokens`
// of the whole conversation stays within the budget: the context minus the answer's room, which
// is min(max_tokens, context/2) when the request sets max_tokens, else context/4.
Grounding ground_messages(const nlohmann::json& body, std::vector<tokenizer::ChatMessage>& messages,
                          const std::vector<std::vector<search::Attachment>>& files, const SearchAccess& access,
                          int64_t max_context,
                          const std::function<int64_t(const std::vector<tokenizer::ChatMessage>&)>& prompt_tokens);

// [{"index": 1, "title", "url", "snippet"}, ...]
nlohmann::json search_results_json(const std::vector<search::Document>& documents);
// The grounding fields of a reply: search_results (when searched) and notices (when any).
void add_grounding_fields(nlohmann::json& reply, const Grounding& g);

}  // namespace whale::server
