// Loading a Hugging Face safetensors directory (or, by extension, a GGUF file): the tensor table
// vouches for every name and shape, then bind_weights binds them.
#include "model/weights.h"

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/tensor_table.h"
#include "model/gguf_weights.h"
#include "model/quantize.h"
#include "model/tensor_source.h"

namespace whale::model {
namespace {

class SafetensorsSource final : public TensorSource {
 public:
  SafetensorsSource(const formats::ModelArgs& a, std::shared_ptr<formats::CheckpointReader> ckpt, const LoadOptions& opt)
      : a_(a), ckpt_(std::move(ckpt)), opt_(opt), pool_(opt.threads) {}

  WeightView matrix(const formats::TensorSpec& t) override {
    WeightView w = stored(t);
    if (!opt_.quant || w.w.dtype() == *opt_.quant) return w;
    std::optional<WeightView> q = quantize_weight(w, *opt_.quant, pool_);
    return q ? *q : w;
  }

  WeightView stored(const formats::TensorSpec& t) const override {
    const std::string& name = t.name;
    WeightView w;
    w.w = ckpt_->view(name);
    if (w.w.dtype() == core::DType::kF8E4M3) {
      w.scale_inv = ckpt_->view(name.substr(0, name.size() - 7) + ".weight_scale_inv");
      w.block = a_.fp8_block_rows;
      if (w.scale_inv.dtype() != core::DType::kF32) {
        fail(ErrorKind::kFormat, ckpt_->dir(), ": ", name, "_scale_inv must be f32");
      }
    }
    return w;
  }

 private:
  const formats::ModelArgs& a_;
  std::shared_ptr<formats::CheckpointReader> ckpt_;
  const LoadOptions& opt_;
  core::ThreadPool pool_;
};

void check_against_table(const formats::ModelArgs& a, const formats::CheckpointReader& ckpt) {
  if (!ckpt.has_weights()) fail(ErrorKind::kNotFound, ckpt.dir(), ": no weight files (model.safetensors or an index)");
  for (const formats::TensorSpec& t : formats::tensor_table(a)) {
    const formats::SafetensorsEntry* e = ckpt.find(t.name);
    if (!e) {
      // FP8 scales are only needed when the weight itself is FP8.
      if (t.kind == formats::TensorKind::kScaleInv) continue;
      fail(ErrorKind::kNotFound, ckpt.dir(), ": tensor ", t.name, " ", t.shape.str(), " is missing");
    }
    if (!(e->shape == t.shape)) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has shape ", e->shape.str(), ", expected ",
           t.shape.str(), " from config.json");
    }
    if (!core::dtype_info(e->dtype).is_float) {
      fail(ErrorKind::kFormat, ckpt.dir(), ": tensor ", t.name, " has non-float dtype ", core::dtype_name(e->dtype));
    }
  }
}

}  // namespace

Weights load_weights(const std::string& path, const LoadOptions& options) {
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return load_weights_gguf(path, options);
  Weights w;
  w.args = formats::load_model_args(path);
  auto ckpt = std::make_shared<formats::CheckpointReader>(formats::CheckpointReader::open(path));
  check_against_table(w.args, *ckpt);
  w.storage = ckpt;
  SafetensorsSource src(w.args, ckpt, options);
  bind_weights(src, w, options.keep);
  return w;
}

}  // namespace whale::model
