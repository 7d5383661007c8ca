// The SearxNG client against a fake SearxNG (httplib::Server on 127.0.0.1, a free port): the request
// it sends, the results it reads, and the error for each way an instance fails (refused, slow, 403
// without format=json, other statuses, broken JSON, missing fields), plus open_searcher's choice.
#include "search/searxng.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "../error_of.h"
#include "search/index.h"

namespace whale::search {
namespace {

using whale::testing::error_kind_of;
using whale::testing::error_of;

// A SearxNG stand-in whose /search handler the test sets; it records the last query string.
class FakeSearxng {
 public:
  explicit FakeSearxng(std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    server_.Get(R"(/(searx/)?search)", [this, handler](const httplib::Request& req, httplib::Response& res) {
      last_params = req.params;
      last_path = req.path;
      handler(req, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket already listens; wait for the accept loop so stop() cannot come before it.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeSearxng() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  httplib::Params last_params;
  std::string last_path;

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

constexpr const char* kReply = R"({
  "query": "whale shark",
  "number_of_results": 3,
  "results": [
    {"url": "https://en.wikipedia.org/wiki/Whale_shark", "title": "Whale shark - Wikipedia",
     "content": "The whale shark is a slow-moving, filter-feeding carpet shark.", "engine": "wikipedia", "score": 5.5},
    {"url": "https://example.org/no-title", "content": null, "score": 2},
    {"url": "https://example.org/third", "title": "Third", "content": "三号"}
  ],
  "answers": [], "suggestions": []
})";

TEST(SearchSearxng, SendsTheQueryAsJsonApiAndReadsTheResults) {
  FakeSearxng fake([](const httplib::Request&, httplib::Response& res) { res.set_content(kReply, "application/json"); });
  SearxngSearcher s(fake.url(), {.timeout_ms = 5000, .language = "zh-CN"});
  const std::vector<Document> docs = s.search("鲸鲨 whale shark & more", 5);
  EXPECT_EQ(fake.last_path, "/search");
  ASSERT_EQ(fake.last_params.count("q"), 1u);
  EXPECT_EQ(fake.last_params.find("q")->second, "鲸鲨 whale shark & more");  // encoded and decoded intact
  EXPECT_EQ(fake.last_params.find("format")->second, "json");
  EXPECT_EQ(fake.last_params.find("language")->second, "zh-CN");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].title, "Whale shark - Wikipedia");
  EXPECT_EQ(docs[0].url, "https://en.wikipedia.org/wiki/Whale_shark");
  EXPECT_EQ(docs[0].snippet, "The whale shark is a slow-moving, filter-feeding carpet shark.");
  EXPECT_EQ(docs[0].text, docs[0].snippet);
  EXPECT_DOUBLE_EQ(docs[0].score, 5.5);
  EXPECT_EQ(docs[1].title, "https://example.org/no-title");  // no title: the URL stands in
  EXPECT_EQ(docs[1].snippet, "");
  EXPECT_EQ(docs[2].snippet, "三号");
  EXPECT_DOUBLE_EQ(docs[2].score, 0);
  EXPECT_EQ(s.search("x", 2).size(), 2u);
  EXPECT_EQ(SearxngSearcher(fake.url(), {}).search("x", 1).size(), 1u);
  EXPECT_EQ(fake.last_params.count("language"), 0u);  // "" leaves the instance's default
  EXPECT_EQ(s.describe(), "SearxNG " + fake.url());
}

// SearxNG's bot detection (searx/botdetection/http_accept*.py) refuses requests whose Accept lacks
// text/html, without Accept-Language, or whose Accept-Encoding lacks gzip or deflate.
TEST(SearchSearxng, HeadersPassSearxngBotDetection) {
  httplib::Headers seen;
  FakeSearxng fake([&](const httplib::Request& req, httplib::Response& res) {
    seen = req.headers;
    res.set_content(kReply, "application/json");
  });
  SearxngSearcher(fake.url(), {}).search("q", 1);
  const auto header = [&](const char* name) { return seen.count(name) ? seen.find(name)->second : std::string("(none)"); };
  EXPECT_NE(header("Accept").find("text/html"), std::string::npos) << header("Accept");
  EXPECT_NE(header("Accept").find("application/json"), std::string::npos) << header("Accept");
  EXPECT_EQ(header("Accept-Language"), "en");
  EXPECT_NE(header("Accept-Encoding").find("gzip"), std::string::npos) << header("Accept-Encoding");
  SearxngSearcher(fake.url(), {.language = "zh-CN"}).search("q", 1);
  EXPECT_EQ(header("Accept-Language"), "zh-CN");
}

TEST(SearchSearxng, LaterPagesFillKWithoutRepeatingAUrl) {
  int requests = 0;
  FakeSearxng fake([&](const httplib::Request& req, httplib::Response& res) {
    ++requests;
    const std::string page = req.has_param("pageno") ? req.get_param_value("pageno") : "1";
    if (page == "1") res.set_content(R"({"results": [{"url": "a"}, {"url": "b"}]})", "application/json");
    if (page == "2") res.set_content(R"({"results": [{"url": "b"}, {"url": "c"}]})", "application/json");
    if (page == "3") res.set_content(R"({"results": []})", "application/json");
    if (page == "4") res.status = 500;
  });
  SearxngSearcher s(fake.url(), {});
  const auto urls = [](const std::vector<Document>& docs) {
    std::string out;
    for (const Document& d : docs) out += d.url;
    return out;
  };
  EXPECT_EQ(urls(s.search("q", 10)), "abc");
  EXPECT_EQ(requests, 3);  // page 3 was empty: no more asked for
  requests = 0;
  EXPECT_EQ(urls(s.search("q", 2)), "ab");
  EXPECT_EQ(requests, 1);
  requests = 0;
  EXPECT_EQ(urls(s.search("q", 3)), "abc");
  EXPECT_EQ(requests, 2);
}

TEST(SearchSearxng, AFailingLaterPageKeepsTheFirstPagesResults) {
  FakeSearxng fake([&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("pageno")) {
      res.status = 500;
    } else {
      res.set_content(R"({"results": [{"url": "a"}]})", "application/json");
    }
  });
  EXPECT_EQ(SearxngSearcher(fake.url(), {}).search("q", 5).size(), 1u);
}

TEST(SearchSearxng, AUrlWithAPathPrefixOrTheEndpointItselfWorks) {
  FakeSearxng fake([](const httplib::Request&, httplib::Response& res) { res.set_content(kReply, "application/json"); });
  EXPECT_EQ(SearxngSearcher(fake.url() + "/searx/", {}).search("q", 5).size(), 3u);
  EXPECT_EQ(fake.last_path, "/searx/search");
  EXPECT_EQ(SearxngSearcher(fake.url() + "/search", {}).search("q", 5).size(), 3u);
  EXPECT_EQ(fake.last_path, "/search");
}

TEST(SearchSearxng, StatusErrorsNameTheProblem) {
  FakeSearxng forbidden([](const httplib::Request&, httplib::Response& res) {
    res.status = 403;
    res.set_content("Forbidden", "text/plain");
  });
  const std::string msg = error_of([&] { SearxngSearcher(forbidden.url(), {}).search("q", 5); });
  EXPECT_NE(msg.find("403"), std::string::npos) << msg;
  EXPECT_NE(msg.find("search.formats in its settings.yml"), std::string::npos) << msg;
  FakeSearxng broken([](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("engine crashed", "text/plain");
  });
  EXPECT_NE(error_of([&] { SearxngSearcher(broken.url(), {}).search("q", 5); }).find("answered HTTP 500: engine crashed"),
            std::string::npos);
  FakeSearxng too_many([](const httplib::Request&, httplib::Response& res) { res.status = 429; });
  EXPECT_NE(error_of([&] { SearxngSearcher(too_many.url(), {}).search("q", 5); }).find("429 Too Many Requests: its limiter"),
            std::string::npos);
  FakeSearxng teapot([](const httplib::Request&, httplib::Response& res) { res.status = 418; });
  EXPECT_NE(error_of([&] { SearxngSearcher(teapot.url(), {}).search("q", 5); }).find("answered HTTP 418"), std::string::npos);
}

TEST(SearchSearxng, MalformedRepliesNameWhatIsWrong) {
  std::string body;
  FakeSearxng fake([&](const httplib::Request&, httplib::Response& res) { res.set_content(body, "application/json"); });
  SearxngSearcher s(fake.url(), {});
  const auto error_for = [&](const std::string& reply) {
    body = reply;
    return error_of([&] { s.search("q", 5); });
  };
  EXPECT_NE(error_for("<html>Search page</html>").find("not JSON"), std::string::npos);
  EXPECT_NE(error_for(R"({"results": [)").find("not JSON"), std::string::npos);  // cut short
  EXPECT_NE(error_for(R"({"query": "q"})").find("without a \"results\" array"), std::string::npos);
  EXPECT_NE(error_for(R"({"results": {}})").find("without a \"results\" array"), std::string::npos);
  EXPECT_NE(error_for(R"({"results": [{"url": "u"}, {"title": "no url"}]})").find("results[1] has no \"url\""),
            std::string::npos);
  EXPECT_NE(error_for(R"({"results": [7]})").find("results[0] is not an object"), std::string::npos);
  EXPECT_NE(error_for(R"({"results": [{"url": "u", "content": 3}]})").find("results[0].content is not a string"),
            std::string::npos);
  body = "[]";
  EXPECT_EQ(error_kind_of([&] { s.search("q", 5); }), ErrorKind::kFormat);
  body = R"({"results": []})";
  EXPECT_TRUE(s.search("q", 5).empty());  // no results is an answer, not an error
}

TEST(SearchSearxng, ASlowInstanceTimesOut) {
  FakeSearxng slow([](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content(kReply, "application/json");
  });
  const std::string msg = error_of([&] { SearxngSearcher(slow.url(), {.timeout_ms = 200}).search("q", 5); });
  EXPECT_NE(msg.find("did not answer within 200 ms"), std::string::npos) << msg;
}

TEST(SearchSearxng, AnUnreachableInstanceIsAClearError) {
  // A port the kernel just handed out and nobody listens on (bound, never listened, closed).
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(sock);
  const int port = ntohs(addr.sin_port);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::string msg = error_of([&] { SearxngSearcher(url, {.timeout_ms = 2000}).search("q", 5); });
  EXPECT_NE(msg.find("SearxNG " + url + " is unreachable"), std::string::npos) << msg;
  EXPECT_EQ(error_kind_of([&] { SearxngSearcher(url, {}).search("q", 5); }), ErrorKind::kIo);
}

TEST(SearchSearxng, HttpsToAPlainHttpServerFailsInTls) {
  FakeSearxng fake([](const httplib::Request&, httplib::Response& res) { res.set_content(kReply, "application/json"); });
  std::string url = fake.url();
  url.replace(0, 4, "https");
  const std::string msg = error_of([&] { SearxngSearcher(url, {.timeout_ms = 2000}).search("q", 5); });
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  EXPECT_NE(msg.find("TLS failed"), std::string::npos) << msg;
#else
  EXPECT_NE(msg.find("https needs cpp-httplib built with OpenSSL"), std::string::npos) << msg;
#endif
}

TEST(SearchSearxng, BadUrlsAndOptionsAreRefused) {
  for (const std::string bad : {"http://", "http:// host", "ftp://x", "http://h?x=1", "localhost:8888"}) {
    EXPECT_EQ(error_kind_of([&] { SearxngSearcher(bad, {}); }), ErrorKind::kInvalidArgument) << bad;
  }
  EXPECT_NE(error_of([] { SearxngSearcher("http://h", {.timeout_ms = 0}); }).find("timeout must be positive"),
            std::string::npos);
}

TEST(SearchOpenSearcher, UrlsSpeakSearxngAndFoldersAreIndexes) {
  EXPECT_EQ(open_searcher("http://127.0.0.1:1/")->describe(), "SearxNG http://127.0.0.1:1");
  EXPECT_EQ(open_searcher("HTTPS://search.example.org/searx")->describe(), "SearxNG https://search.example.org/searx");
  EXPECT_NE(error_of([] { open_searcher("ftp://x/"); }).find("only http:// and https://"), std::string::npos);
  EXPECT_NE(error_of([] { open_searcher(""); }).find("--search needs"), std::string::npos);
  EXPECT_NE(error_of([] { open_searcher("/nonexistent/whale_index"); }).find("no index at /nonexistent/whale_index"),
            std::string::npos);
  const std::string corpus = std::string(WHALE_TEST_DATA) + "/../search/data/corpus";
  const auto idx = std::filesystem::temp_directory_path() / ("whale_open_searcher_" + std::to_string(::getpid()));
  build_index(idx, {corpus});
  const auto searcher = open_searcher(idx.string());
  EXPECT_NE(searcher->describe().find("13 files"), std::string::npos);
  EXPECT_EQ(std::filesystem::path(searcher->search("鲸鲨吃什么", 1).at(0).url).filename(), "鲸鲨食性.md");
  std::filesystem::remove_all(idx);
}

}  // namespace
}  // namespace whale::search
