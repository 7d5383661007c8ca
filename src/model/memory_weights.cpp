// Weights bound from tensors held in memory by Hugging Face name, after the same tensor-table
// checks load_weights makes on files.
#include "model/memory_weights.h"

#include <memory>

#include "core/error.h"
#include "formats/tensor_table.h"
#include "model/tensor_source.h"

namespace whale::model {
namespace {

using TensorMap = std::map<std::string, core::Tensor>;

class MapSource final : public TensorSource {
 public:
  explicit MapSource(std::shared_ptr<const TensorMap> m) : m_(std::move(m)) {}
  WeightView matrix(const formats::TensorSpec& t) override { return stored(t); }
  WeightView stored(const formats::TensorSpec& t) const override {
    const auto it = m_->find(t.name);
    if (it == m_->end()) fail(ErrorKind::kNotFound, "in-memory weights: tensor ", t.name, " is missing");
    WeightView w;
    w.w = it->second;
    return w;
  }

 private:
  std::shared_ptr<const TensorMap> m_;
};

}  // namespace

Weights weights_from_tensors(const formats::ModelArgs& args, std::map<std::string, core::Tensor> tensors) {
  for (const formats::TensorSpec& t : formats::tensor_table(args)) {
    if (t.kind == formats::TensorKind::kScaleInv) continue;
    const auto it = tensors.find(t.name);
    if (it == tensors.end()) fail(ErrorKind::kNotFound, "in-memory weights: tensor ", t.name, " ", t.shape.str(), " is missing");
    if (!(it->second.shape() == t.shape)) {
      fail(ErrorKind::kInvalidArgument, "in-memory weights: tensor ", t.name, " has shape ", it->second.shape().str(),
           ", expected ", t.shape.str());
    }
    if (it->second.dtype() == core::DType::kF8E4M3) {
      fail(ErrorKind::kUnsupported, "in-memory weights: FP8 tensor ", t.name, " (give f32/bf16/f16)");
    }
  }
  Weights w;
  w.args = args;
  auto map = std::make_shared<const TensorMap>(std::move(tensors));
  w.storage = map;
  MapSource src(map);
  bind_weights(src, w);
  return w;
}

}  // namespace whale::model
