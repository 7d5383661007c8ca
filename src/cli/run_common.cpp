// Token-id list parsing and argmax for `whale run` and `whale logits`.
#include "run_common.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "engine/disk_cache.h"
#include "model/architecture.h"
#include "tokenizer/tokenizer.h"

namespace whale::cli {

std::vector<int32_t> parse_token_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
        fail(ErrorKind::kInvalidArgument, "--prompt-ids: \"", item, "\" is not a token id");
      }
      ids.push_back(static_cast<int32_t>(v));
    }
    pos = comma + 1;
  }
  if (ids.empty()) fail(ErrorKind::kInvalidArgument, "--prompt-ids: no token ids given");
  return ids;
}

model::LoadOptions load_options(const std::string& quant, int threads) {
  model::LoadOptions o;
  o.threads = threads;
  if (quant != "keep") {
    const auto dt = core::dtype_from_name(quant);
    if (!dt) fail(ErrorKind::kInvalidArgument, "--quant: unknown dtype \"", quant, "\"");
    o.quant = *dt;
  }
  return o;
}

void add_kv_type_option(CLI::App* cmd, std::string& value) {
  cmd->add_option("--kv-type", value, "KV cache element type: bf16 (default: half the memory and bytes read) or f32")
      ->check(CLI::IsMember({"bf16", "f32"}));
}

void add_disk_cache_options(CLI::App* cmd, std::string& dir, std::string& size) {
  cmd->add_option("--cache-dir", dir,
                  "Keep prompt prefixes' KV blocks on disk in DIR: a later process (or request) reads them back "
                  "instead of recomputing them (default: off)")
      ->type_name("DIR");
  cmd->add_option("--cache-size", size,
                  "Disk cache limit, e.g. 20G, 512M (K/M/G/T: powers of 1024); least recently used blocks go first "
                  "(default: 10G)")
      ->type_name("SIZE")
      ->check([](const std::string& s) {
        try {
          engine::parse_byte_size(s);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
}

void add_spec_options(CLI::App* cmd, SpecOptions& o, const std::string& default_help) {
  cmd->add_option("--spec", o.mode,
                  "Speculative decoding: mtp (the model's MTP module drafts), draft (--draft MODEL drafts) or off; "
                  "the main model verifies, the output is unchanged (default: " + default_help + ")")
      ->check(CLI::IsMember({"auto", "mtp", "draft", "off"}));
  cmd->add_option("--spec-k", o.k, "Draft tokens per verify step (default 1)")->check(CLI::Range(1, 16));
  cmd->add_option("--draft", o.draft, "Draft model with the same tokenizer (e.g. R1-Distill-Qwen-1.5B for 7B)");
}

std::unique_ptr<model::Weights> load_draft_model(const SpecOptions& o, const std::string& main_path,
                                                 const model::LoadOptions& load) {
  const bool wanted = o.mode == "draft" || (o.mode == "auto" && !o.draft.empty());
  if (!wanted) return nullptr;
  if (o.draft.empty()) fail(ErrorKind::kInvalidArgument, "--spec draft needs --draft MODEL");
  const tokenizer::Tokenizer a = tokenizer::load_tokenizer(main_path), b = tokenizer::load_tokenizer(o.draft);
  if (a.vocab_size() != b.vocab_size()) {
    fail(ErrorKind::kInvalidArgument, "--draft ", o.draft, ": its tokenizer has ", b.vocab_size(), " tokens, the model's ",
         a.vocab_size());
  }
  for (int32_t id = 0; id < static_cast<int32_t>(a.vocab_size()); ++id) {
    if (a.contains(id) != b.contains(id) || (a.contains(id) && a.token_bytes(id) != b.token_bytes(id))) {
      fail(ErrorKind::kInvalidArgument, "--draft ", o.draft, ": token ", id, " differs from the model's tokenizer");
    }
  }
  return std::make_unique<model::Weights>(model::load_weights(o.draft, load));
}

engine::SpecConfig spec_config(const SpecOptions& o, const model::Weights& w, const model::Weights* draft) {
  engine::SpecConfig c;
  c.k = o.k;
  c.draft = draft;
  const bool has_mtp = w.arch && w.arch->mtp && w.args.num_nextn_predict_layers > 0;
  if (o.mode == "auto") {
    c.mode = draft ? engine::SpecMode::kDraft : has_mtp ? engine::SpecMode::kMtp : engine::SpecMode::kOff;
    c.adaptive = c.mode != engine::SpecMode::kOff;  // speculate only while it measures faster
  } else {
    c.mode = engine::spec_mode_from_name(o.mode);
  }
  return c;
}

std::string spec_summary(const engine::EngineConfig& cfg, const engine::EngineStats& s) {
  if (cfg.spec.mode == engine::SpecMode::kOff) return "";
  std::string out = std::string("spec ") + engine::spec_mode_name(cfg.spec.mode) + " k=" + std::to_string(cfg.spec.k) + ": ";
  if (s.spec.steps == 0) {
    return out + "no verify steps" +
           (cfg.spec.adaptive ? "; auto: " + std::to_string(s.spec.plain_steps) + " plain decode steps" : std::string());
  }
  char buf[96];
  out += "accepted";
  for (size_t j = 0; j < s.spec.proposed.size(); ++j) {
    const double a = s.spec.proposed[j] ? static_cast<double>(s.spec.accepted[j]) / static_cast<double>(s.spec.proposed[j]) : 0.0;
    std::snprintf(buf, sizeof buf, "%s draft %zu %.3f (%lld/%lld)", j ? "," : "", j + 1, a,
                  static_cast<long long>(s.spec.accepted[j]), static_cast<long long>(s.spec.proposed[j]));
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "; %.3f tokens per verify step over %lld steps",
                static_cast<double>(s.spec.emitted) / static_cast<double>(s.spec.steps), static_cast<long long>(s.spec.steps));
  out += buf;
  if (cfg.spec.adaptive) {  // --spec auto: how often drafting measured slower and was left out
    std::snprintf(buf, sizeof buf, "; auto: %lld plain decode steps", static_cast<long long>(s.spec.plain_steps));
    out += buf;
  }
  return out;
}

std::string default_model_path() {
  if (const char* env = std::getenv("WHALE_MODEL")) return env;
  namespace fs = std::filesystem;
  if (fs::exists("models/default")) return "models/default";
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& p : {exe.parent_path() / "../models/default", exe.parent_path() / "models/default"}) {
      if (fs::exists(p)) return fs::weakly_canonical(p).string();
    }
  }
  return "models/default";
}

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

}  // namespace whale::cli
