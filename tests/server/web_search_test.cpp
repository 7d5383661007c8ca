// web_search and file parts over real HTTP: the user message the model reads is checked against
// DeepSeek's README templates (tests/search/data/deepseek_r1_readme_prompts.md) filled by this
// test's own substitution and date; search_results whole and as the first stream chunk; the cut to
// the context with its notice; errors (no --search, a failing searcher, bad files).
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "live_server.h"
#include "search/index.h"
#include "search/search.h"
#include "tokenizer/chat_prompt.h"

namespace whale::server {
namespace {

using namespace testing;

// Returns fixed documents (the first k) and records what it was asked.
class FakeSearcher : public search::Searcher {
 public:
  explicit FakeSearcher(std::vector<search::Document> docs, std::string failure = {})
      : docs_(std::move(docs)), failure_(std::move(failure)) {}
  std::vector<search::Document> search(const std::string& query, int k) override {
    std::lock_guard<std::mutex> lock(mutex_);
    queries.push_back(query);
    last_k = k;
    if (!failure_.empty()) fail(ErrorKind::kIo, failure_);
    return {docs_.begin(), docs_.begin() + std::min<size_t>(docs_.size(), static_cast<size_t>(k))};
  }
  std::string describe() const override { return "fake"; }
  std::vector<std::string> queries;
  int last_k = 0;

 private:
  std::mutex mutex_;
  std::vector<search::Document> docs_;
  std::string failure_;
};

std::vector<search::Document> sample_docs() {
  return {{"Whale sharks", "https://example.org/whale-shark", "They eat plankton.", "Whale sharks filter plankton.\nThey are fish.", 3},
          {"鲸鲨", "/corpus/jingsha.md", "鲸鲨是鱼类。", "", 2},
          {"Orcas", "https://example.org/orca", "Orcas hunt seals.", "Orcas are dolphins that hunt seals.", 1}};
}

// The README's three code blocks: the text between the triple quotes of each.
std::string readme_template(const std::string& name) {
  std::ifstream in(std::string(WHALE_TEST_DATA) + "/../search/data/deepseek_r1_readme_prompts.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string md = ss.str();
  const size_t at = md.find(name + " = \\\n");
  EXPECT_NE(at, std::string::npos) << name;
  const size_t open = at + name.size() + 5;
  const std::string quote = md.substr(open, 3);
  const size_t close = md.find(quote, open + 3);
  return md.substr(open + 3, close - open - 3);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// {cur_date} as the docs promise, from the C library's calendar.
std::string today(bool zh) {
  std::time_t now = std::time(nullptr);
  std::tm t{};
  localtime_r(&now, &t);
  char buf[64];
  if (!zh) {
    std::strftime(buf, sizeof buf, "%A, %B %-d, %Y", &t);
    return buf;
  }
  static const char* kDays[] = {"日", "一", "二", "三", "四", "五", "六"};
  return std::to_string(t.tm_year + 1900) + "年" + std::to_string(t.tm_mon + 1) + "月" + std::to_string(t.tm_mday) + "日 星期" +
         kDays[t.tm_wday];
}

// The message DeepSeek's app sends for `question` over `docs` (texts as the server keeps them).
std::string expected_search_message(const std::string& question, const std::vector<search::Document>& docs) {
  const bool zh = question.find("鲸") != std::string::npos;
  std::string results;
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::string x = std::to_string(i + 1);
    if (i) results += "\n";
    results += "[webpage " + x + " begin]\n" + docs[i].title + "\n" + (docs[i].text.empty() ? docs[i].snippet : docs[i].text) +
               "\n[webpage " + x + " end]";
  }
  std::string t = readme_template(zh ? "search_answer_zh_template" : "search_answer_en_template");
  t = replace_all(t, "{cur_date}", today(zh));
  t = replace_all(t, "{question}", question);
  return replace_all(t, "{search_results}", results);  // last: the results hold no braces
}

std::string expected_file_message(const std::string& name, const std::string& content, const std::string& question) {
  std::string t = readme_template("file_template");
  t = replace_all(t, "{file_name}", name);
  t = replace_all(t, "{question}", question);
  return replace_all(t, "{file_content}", content);
}

std::string render(const std::vector<tokenizer::ChatMessage>& messages) {
  return TinyModel::get().tok.chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = true});
}

std::string base64(const std::string& bytes) {
  static const char* d = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += d[v >> 18];
    out += d[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? d[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? d[v & 63] : '=';
  }
  return out;
}

json file_part(const std::string& name, const std::string& file_data) {
  return {{"type", "file"}, {"file", {{"filename", name}, {"file_data", file_data}}}};
}

json post(LiveServer& s, const std::string& path, const json& body, int expect) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, expect) << body.dump().substr(0, 300) << " -> " << res->body;
  return json::parse(res->body);
}

json expected_results(const std::vector<search::Document>& docs) {
  json out = json::array();
  for (size_t i = 0; i < docs.size(); ++i) {
    out.push_back({{"index", i + 1}, {"title", docs[i].title}, {"url", docs[i].url}, {"snippet", docs[i].snippet}});
  }
  return out;
}

TEST(WebSearch, PropsSayWhetherSearchIsAvailable) {
  LiveServer plain;
  EXPECT_EQ(json::parse(plain.client()->Get("/props")->body)["web_search"], false);
  LiveServer searching({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  EXPECT_EQ(json::parse(searching.client()->Get("/props")->body)["web_search"], true);
}

TEST(WebSearch, ApplyTemplateRendersTheReadmeTemplateIntoTheLastUserMessage) {
  auto searcher = std::make_shared<FakeSearcher>(sample_docs());
  LiveServer s({.context = 2048, .searcher = searcher, .search_k = 2});
  const std::string question = "What do whale sharks eat?";
  const json body = {{"messages", {{{"role", "user"}, {"content", "Hello"}}, {{"role", "assistant"}, {"content", "Hi!"}},
                                   {{"role", "user"}, {"content", {{{"type", "text"}, {"text", question}}}}}}},
                     {"web_search", true}, {"max_tokens", 16}};  // the tiny tokenizer spends ~1 token a byte
  const json r = post(s, "/apply-template", body, 200);
  ASSERT_EQ(searcher->queries, std::vector<std::string>{question});
  EXPECT_EQ(searcher->last_k, 2);
  const std::vector<search::Document> all = sample_docs();
  const std::vector<search::Document> shown(all.begin(), all.begin() + 2);
  EXPECT_EQ(r["prompt"], render({{"user", "Hello", {}}, {"assistant", "Hi!", {}}, {"user", expected_search_message(question, shown), {}}}));
  EXPECT_EQ(r["search_results"], expected_results(shown));
  EXPECT_FALSE(r.contains("notices"));
  // Without web_search nothing is searched and the message is as sent.
  const json off = post(s, "/apply-template", {{"messages", body["messages"]}, {"web_search", false}}, 200);
  EXPECT_EQ(off["prompt"], render({{"user", "Hello", {}}, {"assistant", "Hi!", {}}, {"user", question, {}}}));
  EXPECT_FALSE(off.contains("search_results"));
  EXPECT_EQ(searcher->queries.size(), 1u);
}

TEST(WebSearch, ChineseQueryGetsTheChineseTemplate) {
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  const std::string question = "鲸鲨吃什么？";
  // The tiny model's byte-level tokenizer spends ~3 tokens on a Chinese character: the zh template
  // alone takes most of its 2048-token context, so the results are left out, with a notice.
  const json r = post(s, "/apply-template", {{"messages", {{{"role", "user"}, {"content", question}}}}, {"web_search", true}, {"max_tokens", 16}}, 200);
  EXPECT_EQ(r["prompt"], render({{"user", expected_search_message(question, {}), {}}}));
  EXPECT_NE(r["prompt"].get<std::string>().find("# 用户消息为："), std::string::npos);
  EXPECT_EQ(r["search_results"], json::array());
  ASSERT_EQ(r["notices"].size(), 1u);
  EXPECT_NE(r["notices"][0].get<std::string>().find("the 3 search results were left out"), std::string::npos) << r["notices"];
  EXPECT_GT(prompt_tokens({{"user", expected_search_message(question, {sample_docs()[1]}), {}}}, true), 2048 - 16);
}

TEST(WebSearch, ChatReplyCarriesSearchResultsAndTheModelReadsTheTemplate) {
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  const std::string question = "What do whale sharks eat?";
  const json body = {{"messages", {{{"role", "user"}, {"content", question}}}}, {"web_search", true}, {"max_tokens", 4},
                     {"seed", 1}};
  const json r = post(s, "/v1/chat/completions", body, 200);
  EXPECT_EQ(r["search_results"], expected_results(sample_docs()));
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt_tokens({{"user", expected_search_message(question, sample_docs()), {}}}, true));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
}

TEST(WebSearch, StreamSendsSearchResultsFirstInAChunkWithoutChoices) {
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  const json body = {{"messages", {{{"role", "user"}, {"content", "whale sharks"}}}}, {"web_search", true}, {"max_tokens", 3},
                     {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  const SseResult r = post_stream(s.port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.done);
  ASSERT_GE(r.chunks.size(), 3u);
  const json& first = r.chunks[0];
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"], json::array());
  EXPECT_EQ(first["search_results"], expected_results(sample_docs()));
  EXPECT_EQ(first["id"], r.chunks[1]["id"]);
  EXPECT_EQ(first["model"], r.chunks[1]["model"]);
  EXPECT_EQ(r.chunks[1]["choices"][0]["delta"]["role"], "assistant");
  for (size_t i = 1; i < r.chunks.size(); ++i) EXPECT_FALSE(r.chunks[i].contains("search_results")) << i;
  // Without web_search, no such chunk.
  const SseResult plain = post_stream(s.port(), "/v1/chat/completions",
                                      {{"messages", body["messages"]}, {"max_tokens", 2}, {"stream", true}});
  ASSERT_FALSE(plain.chunks.empty());
  EXPECT_EQ(plain.chunks[0]["choices"][0]["delta"]["role"], "assistant");
}

TEST(WebSearch, ZeroHitsRenderTheTemplateWithNoResults) {
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(std::vector<search::Document>{})});
  const json r = post(s, "/apply-template", {{"messages", {{{"role", "user"}, {"content", "nothing"}}}}, {"web_search", true}}, 200);
  EXPECT_EQ(r["search_results"], json::array());
  EXPECT_EQ(r["prompt"], render({{"user", expected_search_message("nothing", {}), {}}}));
}

TEST(WebSearch, Errors) {
  LiveServer plain;
  const json messages = {{{"role", "user"}, {"content", "whale sharks"}}};
  json e = post(plain, "/v1/chat/completions", {{"messages", messages}, {"web_search", true}}, 400);
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "web_search");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("--search"), std::string::npos) << e;
  e = post(plain, "/v1/chat/completions", {{"messages", messages}, {"web_search", "yes"}}, 400);
  EXPECT_EQ(e["error"]["param"], "web_search");
  // web_search false on a server without --search is simply a chat.
  post(plain, "/v1/chat/completions", {{"messages", messages}, {"web_search", false}, {"max_tokens", 1}}, 200);

  LiveServer down({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs(), "SearxNG at http://127.0.0.1:9 did not answer within 1 s")});
  e = post(down, "/v1/chat/completions", {{"messages", messages}, {"web_search", true}}, 502);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("did not answer within 1 s"), std::string::npos) << e;
  EXPECT_EQ(e["error"]["code"], "search_failed");
  const SseResult st = post_stream(down.port(), "/v1/chat/completions", {{"messages", messages}, {"web_search", true}, {"stream", true}});
  EXPECT_EQ(st.status, 502);  // refused before the stream starts

  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  e = post(s, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "  "}}}}, {"web_search", true}}, 400);
  EXPECT_EQ(e["error"]["param"], "web_search");
  e = post(s, "/v1/completions", {{"prompt", "whale sharks"}, {"web_search", true}}, 400);
  EXPECT_EQ(e["error"]["param"], "web_search");
}

TEST(FileUpload, FilesGoThroughTheReadmeFileTemplateInOrder) {
  LiveServer s;
  const std::string notes = "Whale sharks eat plankton.\n";
  const std::string md = "# Orcas\n\nOrcas hunt seals.\n";
  const json content = {file_part("notes.txt", "data:text/plain;base64," + base64(notes)),
                        {{"type", "text"}, {"text", "Summarise "}},
                        file_part("orca.md", base64(md)),  // bare base64, kind from the name
                        {{"type", "text"}, {"text", "both."}}};
  const json r = post(s, "/apply-template", {{"messages", {{{"role", "user"}, {"content", content}}}}}, 200);
  const std::string expected =
      expected_file_message("notes.txt", notes, expected_file_message("orca.md", md, "Summarise both."));
  EXPECT_EQ(r["prompt"], render({{"user", expected, {}}}));
  EXPECT_FALSE(r.contains("notices"));
  EXPECT_FALSE(r.contains("search_results"));
}

TEST(FileUpload, LongFileIsCutToTheContextWithANotice) {
  LiveServer s({.context = 512});
  std::string text;
  for (int i = 0; i < 400; ++i) text += "Line " + std::to_string(i) + " of a long report about whale sharks.\n";
  const json messages = {{{"role", "user"}, {"content", {file_part("report.txt", base64(text)), {{"type", "text"}, {"text", "Summary?"}}}}}};
  const json r = post(s, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 100}, {"seed", 1}}, 200);
  ASSERT_TRUE(r.contains("notices")) << r;
  ASSERT_EQ(r["notices"].size(), 1u);
  const std::string notice = r["notices"][0];
  EXPECT_NE(notice.find("report.txt"), std::string::npos) << notice;
  EXPECT_NE(notice.find("of " + std::to_string(text.size()) + " characters"), std::string::npos) << notice;
  // Budget: context 512 minus max_tokens 100; the cut keeps the prompt within it, and nearly full.
  const int64_t prompt = r["usage"]["prompt_tokens"];
  EXPECT_LE(prompt, 412);
  EXPECT_GE(prompt, 412 - 16);
  // The cut text is the file's beginning, inside the template.
  const json t = post(s, "/apply-template", {{"messages", messages}, {"max_tokens", 100}}, 200);
  const std::string p = t["prompt"];
  const size_t begin = p.find("[file content begin]\n") + 21, end = p.find("\n[file content end]\nSummary?");
  ASSERT_NE(end, std::string::npos);
  const std::string kept = p.substr(begin, end - begin);
  EXPECT_GT(kept.size(), 100u);
  EXPECT_LT(kept.size(), text.size());
  EXPECT_EQ(text.substr(0, kept.size()), kept);
  EXPECT_NE(notice.find("cut to " + std::to_string(kept.size()) + " of"), std::string::npos) << notice;
  EXPECT_EQ(t["notices"], r["notices"]);
  // Streamed: the notice rides in the first chunk, which has no choices.
  const SseResult st = post_stream(s.port(), "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 2}, {"stream", true}});
  ASSERT_FALSE(st.chunks.empty());
  EXPECT_EQ(st.chunks[0]["choices"], json::array());
  EXPECT_EQ(st.chunks[0]["notices"].size(), 1u);
  EXPECT_FALSE(st.chunks[0].contains("search_results"));
}

TEST(FileUpload, BadFilesAreA400NamingTheFile) {
  LiveServer s;
  const auto ask = [&](const json& part) {
    return post(s, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", {part}}}}}}, 400)["error"];
  };
  json e = ask(file_part("notes.txt", "data:text/plain;base64,@@@@"));
  EXPECT_NE(e["message"].get<std::string>().find("notes.txt"), std::string::npos) << e;
  EXPECT_NE(e["message"].get<std::string>().find("base64"), std::string::npos) << e;
  e = ask(file_part("tool.exe", base64("MZ")));
  EXPECT_NE(e["message"].get<std::string>().find("tool.exe"), std::string::npos) << e;
  e = ask(file_part("paper.pdf", "data:application/pdf;base64," + base64("not a pdf at all")));
  EXPECT_NE(e["message"].get<std::string>().find("paper.pdf"), std::string::npos) << e;
  e = ask({{"type", "file"}, {"file", {{"filename", "a.txt"}, {"file_id", "file-123"}}}});
  EXPECT_NE(e["message"].get<std::string>().find("file_id"), std::string::npos) << e;
  e = post(s, "/v1/chat/completions",
           {{"messages", {{{"role", "system"}, {"content", {file_part("a.txt", base64("x"))}}}, {{"role", "user"}, {"content", "hi"}}}}},
           400)["error"];
  EXPECT_NE(e["message"].get<std::string>().find("user messages only"), std::string::npos) << e;
}

TEST(FileUpload, FileAndSearchTogether) {
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  const std::string notes = "Plankton notes.";
  const json messages = {{{"role", "user"}, {"content", {file_part("n.txt", base64(notes)), {{"type", "text"}, {"text", "whale sharks?"}}}}}};
  const json r = post(s, "/apply-template", {{"messages", messages}, {"web_search", true}, {"max_tokens", 16}}, 200);
  // The search template's {question} is the file-rendered message; the query is the text alone.
  std::string expected = expected_search_message("whale sharks?", sample_docs());
  expected = replace_all(expected, "whale sharks?", expected_file_message("n.txt", notes, "whale sharks?"));
  EXPECT_EQ(r["prompt"], render({{"user", expected, {}}}));
}

TEST(FileUpload, PdfTextReachesTheTemplate) {
  LiveServer s;
  const std::string pdf = ::whale::testing::read_bytes(std::string(WHALE_TEST_DATA) + "/../search/data/extract/two_pages.pdf");
  const json messages = {{{"role", "user"},
                          {"content", {{{"type", "text"}, {"text", "What is on page 2?"}},
                                       file_part("two_pages.pdf", "data:application/pdf;base64," + base64(pdf))}}}};
  const json r = post(s, "/apply-template", {{"messages", messages}, {"max_tokens", 16}}, 200);
  // The text as read off the rendered pages (tests/search/data/pdf_sources/two_pages.html).
  const std::string text = "First page: the quick brown fox jumps over the lazy dog.\n\nSecond page: 第二页的内容是中文。";
  EXPECT_EQ(r["prompt"], render({{"user", expected_file_message("two_pages.pdf", text, "What is on page 2?"), {}}}));
  // Cut: the notice counts characters, not bytes.
  LiveServer small({.context = 256});
  const json cut = post(small, "/apply-template", {{"messages", messages}, {"max_tokens", 128}}, 200);
  ASSERT_EQ(cut["notices"].size(), 1u) << cut;
  EXPECT_NE(cut["notices"][0].get<std::string>().find("of " + std::to_string(search::count_chars(text)) + " characters"),
            std::string::npos)
      << cut["notices"];
}

// A stand-in for SearxNG on 127.0.0.1: /search?q=...&format=json answers two results.
class FakeSearxng {
 public:
  FakeSearxng() {
    http_.Get("/search", [this](const httplib::Request& req, httplib::Response& res) {
      // The client asks for later pages while it has fewer than k results: count each question once.
      if (!req.has_param("pageno")) queries.push_back(req.get_param_value("q"));
      const json reply = {{"query", req.get_param_value("q")},
                          {"results", {{{"title", "Whale shark - Wikipedia"}, {"url", "https://en.wikipedia.org/wiki/Whale_shark"},
                                        {"content", "The whale shark is a slow-moving, filter-feeding carpet shark."}, {"score", 2.5}},
                                       {{"title", "Rhincodon typus"}, {"url", "https://www.iucnredlist.org/species/19488/2365291"},
                                        {"content", "Endangered since 2016."}, {"score", 1.0}}}}};
      res.set_content(reply.dump(), "application/json");
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
  }
  ~FakeSearxng() {
    http_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> queries;

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

TEST(WebSearch, EndToEndThroughAFakeSearxng) {
  FakeSearxng searxng;
  LiveServer s({.context = 2048, .searcher = search::open_searcher(searxng.url(), {.timeout_ms = 5000}), .search_k = 5});
  const std::string question = "whale shark status";
  const json r = post(s, "/v1/chat/completions",
                      {{"messages", {{{"role", "user"}, {"content", question}}}}, {"web_search", true}, {"max_tokens", 2}}, 200);
  EXPECT_EQ(searxng.queries, std::vector<std::string>{question});
  const std::vector<search::Document> docs = {
      {"Whale shark - Wikipedia", "https://en.wikipedia.org/wiki/Whale_shark",
       "The whale shark is a slow-moving, filter-feeding carpet shark.", "", 0},
      {"Rhincodon typus", "https://www.iucnredlist.org/species/19488/2365291", "Endangered since 2016.", "", 0}};
  EXPECT_EQ(r["search_results"], expected_results(docs));
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt_tokens({{"user", expected_search_message(question, docs), {}}}, true));
}

TEST(WebSearch, UnreachableSearxngIsA502NamingIt) {
  int port = 0;
  {  // a port that was free a moment ago: nothing listens there now
    httplib::Server probe;
    port = probe.bind_to_any_port("127.0.0.1");
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  LiveServer s({.context = 2048, .searcher = search::open_searcher(url, {.timeout_ms = 2000})});
  const json e = post(s, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "whale sharks"}}}}, {"web_search", true}}, 502);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e;
  EXPECT_EQ(e["error"]["param"], "web_search");
}

// tests/server/npm/web_search_client.mjs: the official openai npm client, whole and streamed.
TEST(WebSearch, OpenAiNpmClientTakesTheSourcesChunk) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../server/npm";
  ASSERT_TRUE(std::filesystem::exists(npm + "/node_modules/openai/package.json"))
      << "the openai npm client is not installed in " << npm << ": run scripts/npm_setup.sh first";
  LiveServer s({.context = 2048, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
  const std::string cmd = "node " + npm + "/web_search_client.mjs " + s.url() + "/v1 '" + expected_results(sample_docs()).dump() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

// The pipeline is the model's own chat template around the README's text: other families too.
TEST(WebSearch, AnyChatTemplateWrapsTheSameMessage) {
  const std::string data = std::string(WHALE_TEST_DATA) + "/../tokenizer/data/";
  for (const char* file : {"qwen2_5_instruct.jinja", "deepseek_r1_distill_llama.jinja", "llama3_1_instruct.jinja"}) {
    const tokenizer::Tokenizer tok = TinyModel::with_template(::whale::testing::read_bytes(data + file));
    LiveServer s({.context = 2048, .tok = &tok, .searcher = std::make_shared<FakeSearcher>(sample_docs())});
    const std::string question = "What do whale sharks eat?";
    const json body = {{"messages", {{{"role", "user"}, {"content", question}}}}, {"web_search", true}, {"max_tokens", 2}};
    const json t = post(s, "/apply-template", body, 200);
    const std::vector<tokenizer::ChatMessage> messages = {{"user", expected_search_message(question, sample_docs()), {}}};
    EXPECT_EQ(t["prompt"], tok.chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = true})) << file;
    const json r = post(s, "/v1/chat/completions", body, 200);
    EXPECT_EQ(r["search_results"], expected_results(sample_docs())) << file;
    EXPECT_EQ(r["usage"]["prompt_tokens"], tokenizer::encode_chat(tok, messages, {}).ids.size()) << file;
  }
}

// `whale serve --search INDEX` end to end: the bilingual corpus indexed by Xapian; the passage that
// answers comes first and is what the model reads as webpage 1.
TEST(WebSearch, EndToEndThroughALocalIndex) {
  const std::string corpus = std::string(WHALE_TEST_DATA) + "/../search/data/corpus";
  const std::string index = ::whale::testing::fresh_temp_path("web_search_index").string();
  search::build_index(index, {corpus});
  LiveServer s({.context = 2048, .searcher = search::open_searcher(index), .search_k = 2});
  // The query sindex's ranking tests use ("What do whale sharks eat?" ranks the migration page first).
  const json body = {{"messages", {{{"role", "user"}, {"content", "What does the whale shark eat?"}}}}, {"web_search", true}, {"max_tokens", 2}};
  const json r = post(s, "/apply-template", body, 200);
  ASSERT_EQ(r["search_results"].size(), 2u) << r;
  const std::string url = r["search_results"][0]["url"];
  EXPECT_EQ(std::filesystem::path(url).filename(), "whale_shark_diet.md") << r["search_results"];
  EXPECT_EQ(r["search_results"][0]["title"], "Whale Shark Diet");
  const std::string prompt = r["prompt"];
  EXPECT_NE(prompt.find("[webpage 1 begin]\nWhale Shark Diet\n"), std::string::npos) << prompt.substr(0, 600);
  EXPECT_NE(prompt.find("It eats plankton, krill, fish eggs and small fish"), std::string::npos);
  EXPECT_EQ(post(s, "/v1/chat/completions", body, 200)["search_results"], r["search_results"]);
  std::filesystem::remove_all(index);
}

}  // namespace
}  // namespace whale::server
