// config.json parsing against the released configs (tests/data/configs, copied from the published
// checkpoints), round trips through the writer, and every class of bad input.
#include "../error_of.h"
#include "formats/model_args.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace whale::formats {
namespace {

using whale::testing::error_of;

std::string config_text(const std::string& name) {
  return core::read_file(std::string(WHALE_TEST_DATA) + "/configs/" + name + ".json");
}

// Parses the released config with one field replaced (or removed when value is null and remove set).
ModelArgs parse_with(const std::string& name, const std::string& key, const nlohmann::json& value, bool remove = false) {
  nlohmann::json j = nlohmann::json::parse(config_text(name));
  if (remove) {
    j.erase(key);
  } else {
    j[key] = value;
  }
  return parse_model_args(j.dump(), name + ".json");
}


TEST(ModelArgs, DeepseekV3MatchesReleasedConfig) {
  const ModelArgs a = parse_model_args(config_text("deepseek-v3"));
  EXPECT_EQ(a.family, Family::kDeepseekV3);
  EXPECT_EQ(a.hidden_size, 7168);
  EXPECT_EQ(a.num_hidden_layers, 61);
  EXPECT_EQ(a.q_lora_rank, 1536);
  EXPECT_EQ(a.kv_lora_rank, 512);
  EXPECT_EQ(a.qk_nope_head_dim, 128);
  EXPECT_EQ(a.qk_rope_head_dim, 64);
  EXPECT_EQ(a.v_head_dim, 128);
  EXPECT_EQ(a.n_routed_experts, 256);
  EXPECT_EQ(a.n_shared_experts, 1);
  EXPECT_EQ(a.num_experts_per_tok, 8);
  EXPECT_EQ(a.n_group, 8);
  EXPECT_EQ(a.topk_group, 4);
  EXPECT_EQ(a.moe_intermediate_size, 2048);
  EXPECT_EQ(a.intermediate_size, 18432);
  EXPECT_EQ(a.first_k_dense_replace, 3);
  EXPECT_EQ(a.scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(a.topk_method, TopkMethod::kNoauxTc);
  EXPECT_TRUE(a.norm_topk_prob);
  EXPECT_DOUBLE_EQ(a.routed_scaling_factor, 2.5);
  EXPECT_EQ(a.num_nextn_predict_layers, 1);
  EXPECT_EQ(a.vocab_size, 129280);
  EXPECT_EQ(a.rope_scaling.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(a.rope_scaling.factor, 40);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(a.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_TRUE(a.fp8);
  EXPECT_EQ(a.fp8_block_rows, 128);
  EXPECT_EQ(a.fp8_block_cols, 128);
  EXPECT_EQ(a.bos_token_id, 0);
  ASSERT_EQ(a.eos_token_ids.size(), 1u);
  EXPECT_EQ(a.eos_token_ids[0], 1);
  EXPECT_FALSE(a.is_moe_layer(2));
  EXPECT_TRUE(a.is_moe_layer(3));
  EXPECT_TRUE(a.is_moe_layer(61));  // the MTP module's block is MoE too
}

TEST(ModelArgs, DeepseekV2LiteHasNoQueryCompression) {
  const ModelArgs a = parse_model_args(config_text("deepseek-v2-lite"));
  EXPECT_EQ(a.family, Family::kDeepseekV2);
  EXPECT_EQ(a.q_lora_rank, 0);  // null in the file
  EXPECT_EQ(a.n_routed_experts, 64);
  EXPECT_EQ(a.n_shared_experts, 2);
  EXPECT_EQ(a.topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(a.scoring_func, ScoringFunc::kSoftmax);
  EXPECT_FALSE(a.norm_topk_prob);
  EXPECT_DOUBLE_EQ(a.rope_scaling.mscale, 0.707);
  EXPECT_FALSE(a.fp8);
  EXPECT_EQ(a.num_nextn_predict_layers, 0);
}

TEST(ModelArgs, DenseFamilies) {
  const ModelArgs q = parse_model_args(config_text("r1-distill-qwen-1.5b"));
  EXPECT_EQ(q.family, Family::kQwen2);
  EXPECT_EQ(q.head_dim, 128);  // 1536 / 12
  EXPECT_EQ(q.num_key_value_heads, 2);
  EXPECT_TRUE(q.attention_bias);  // qwen2 always has q/k/v biases
  EXPECT_FALSE(q.tie_word_embeddings);
  const ModelArgs l = parse_model_args(config_text("r1-distill-llama-8b"));
  EXPECT_EQ(l.family, Family::kLlama);
  EXPECT_EQ(l.rope_scaling.type, RopeType::kLlama3);  // from "rope_type"
  EXPECT_DOUBLE_EQ(l.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(l.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(l.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(l.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(l.rms_norm_eps, 1e-5);
  EXPECT_FALSE(l.attention_bias);
}

TEST(ModelArgs, WriterRoundTrips) {
  for (const char* name : {"deepseek-v3", "deepseek-v2-lite", "r1-distill-qwen-1.5b", "r1-distill-llama-8b"}) {
    const ModelArgs a = parse_model_args(config_text(name));
    const ModelArgs b = parse_model_args(model_args_to_json(a));
    EXPECT_EQ(model_args_to_json(a), model_args_to_json(b)) << name;
    EXPECT_EQ(b.hidden_size, a.hidden_size);
    EXPECT_EQ(b.q_lora_rank, a.q_lora_rank);
    EXPECT_EQ(b.rope_scaling.type, a.rope_scaling.type);
    EXPECT_EQ(b.fp8, a.fp8);
    EXPECT_EQ(b.eos_token_ids, a.eos_token_ids);
  }
}

// The string-valued choices become enums when parsed and are written back with the same spelling.
TEST(ModelArgs, ChoicesReadAsEnumsAndWriteBackTheirSpelling) {
  const std::pair<const char*, TopkMethod> methods[] = {{"greedy", TopkMethod::kGreedy},
                                                        {"group_limited_greedy", TopkMethod::kGroupLimitedGreedy},
                                                        {"noaux_tc", TopkMethod::kNoauxTc}};
  for (const auto& [name, method] : methods) {
    const ModelArgs a = parse_with("deepseek-v3", "topk_method", name);
    EXPECT_EQ(a.topk_method, method) << name;
    EXPECT_EQ(nlohmann::json::parse(model_args_to_json(a))["topk_method"], name);
  }
  const std::pair<const char*, ScoringFunc> funcs[] = {{"softmax", ScoringFunc::kSoftmax},
                                                       {"sigmoid", ScoringFunc::kSigmoid}};
  for (const auto& [name, func] : funcs) {
    const ModelArgs a = parse_with("deepseek-v3", "scoring_func", name);
    EXPECT_EQ(a.scoring_func, func) << name;
    EXPECT_EQ(nlohmann::json::parse(model_args_to_json(a))["scoring_func"], name);
  }
  const ModelArgs linear = parse_with("deepseek-v3", "rope_scaling", {{"type", "linear"}, {"factor", 2.0}});
  EXPECT_EQ(linear.rope_scaling.type, RopeType::kLinear);
  EXPECT_EQ(nlohmann::json::parse(model_args_to_json(linear))["rope_scaling"],
            (nlohmann::json{{"type", "linear"}, {"factor", 2.0}}));
  const ModelArgs plain = parse_with("deepseek-v3", "rope_scaling", {{"rope_type", "default"}});
  EXPECT_EQ(plain.rope_scaling.type, RopeType::kNone);
  EXPECT_TRUE(nlohmann::json::parse(model_args_to_json(plain))["rope_scaling"].is_null());
  EXPECT_EQ(nlohmann::json::parse(model_args_to_json(parse_model_args(config_text("deepseek-v3"))))["rope_scaling"]["type"],
            "yarn");
  EXPECT_EQ(nlohmann::json::parse(model_args_to_json(parse_model_args(config_text("r1-distill-llama-8b"))))
                ["rope_scaling"]["rope_type"],
            "llama3");
  // Spellings are exact: case and unknown names are not guessed at.
  EXPECT_FALSE(topk_method_from_name("Greedy").has_value());
  EXPECT_FALSE(scoring_func_from_name("relu").has_value());
  EXPECT_FALSE(rope_type_from_name("dynamic").has_value());
  EXPECT_STREQ(rope_type_name(RopeType::kNone), "");
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "scoring_func", "relu"); })
                .find("field \"scoring_func\" = \"relu\" (known: softmax, sigmoid)"),
            std::string::npos);
}

TEST(ModelArgs, EosListAndIntegralFloats) {
  EXPECT_EQ(parse_with("r1-distill-llama-8b", "eos_token_id", {128001, 128009}).eos_token_ids,
            (std::vector<int64_t>{128001, 128009}));
  EXPECT_EQ(parse_with("deepseek-v3", "hidden_size", 7168.0).hidden_size, 7168);
}

TEST(ModelArgs, BadInputNamesTheProblem) {
  EXPECT_NE(error_of([] { parse_model_args("{", "x.json"); }).find("x.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_model_args("[1,2]"); }).find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "hidden_size", nullptr, true); })
                .find("missing required field \"hidden_size\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "hidden_size", "7168"); })
                .find("field \"hidden_size\" must be an integer, got string"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "hidden_size", 7168.5); }).find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "model_type", "gpt2"); }).find("unknown model_type \"gpt2\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "model_type", nullptr, true); }).find("model_type"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "norm_topk_prob", 1); }).find("true or false"), std::string::npos);
  EXPECT_NE(error_of([] { parse_with("deepseek-v3", "rope_scaling", "yarn"); }).find("must be an object"),
            std::string::npos);
}

TEST(ModelArgs, AbsurdOrInconsistentValuesAreRejected) {
  const std::pair<const char*, nlohmann::json> bad[] = {
      {"hidden_size", 0},
      {"hidden_size", -5},
      {"hidden_size", int64_t{1} << 40},
      {"num_hidden_layers", 0},
      {"vocab_size", int64_t{1} << 40},
      {"n_group", 7},               // 256 experts do not split into 7 groups
      {"topk_group", 9},            // more groups than exist
      {"num_experts_per_tok", 300}, // more than the experts
      {"qk_rope_head_dim", 63},     // rope rotates pairs
      {"scoring_func", "relu"},
      {"topk_method", "random"},
      {"first_k_dense_replace", 62},
      {"kv_lora_rank", 0},
      {"rms_norm_eps", 0},
      {"eos_token_id", 129280},     // past the vocabulary
  };
  for (const auto& [key, value] : bad) {
    const std::string msg = error_of([&] { parse_with("deepseek-v3", key, value); });
    EXPECT_NE(msg.find(key == std::string("n_group") ? "n_group" : key), std::string::npos) << key << ": " << msg;
  }
  EXPECT_NE(error_of([] { parse_with("r1-distill-qwen-1.5b", "num_key_value_heads", 5); }).find("num_key_value_heads"),
            std::string::npos);
  nlohmann::json j = nlohmann::json::parse(config_text("deepseek-v3"));
  j["quantization_config"]["quant_method"] = "gptq";
  EXPECT_NE(error_of([&] { parse_model_args(j.dump()); }).find("gptq"), std::string::npos);
  j = nlohmann::json::parse(config_text("deepseek-v3"));
  j["rope_scaling"]["type"] = "dynamic";
  EXPECT_NE(error_of([&] { parse_model_args(j.dump()); }).find("rope_scaling type \"dynamic\""), std::string::npos);
}

TEST(ModelArgs, LoadFromDirectoryOrMissing) {
  EXPECT_THROW(load_model_args("/nonexistent/whale"), Error);
  const ModelArgs a = load_model_args(std::string(WHALE_TEST_DATA) + "/configs/deepseek-v3.json");
  EXPECT_EQ(a.hidden_size, 7168);
}

}  // namespace
}  // namespace whale::formats
