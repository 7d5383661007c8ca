// libFuzzer target for config.json parsing: any bytes either parse into validated ModelArgs that
// survive a write/parse round trip, or throw whale::Error. Nothing else may happen.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "formats/model_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const whale::formats::ModelArgs a = whale::formats::parse_model_args(text, "fuzz.json");
    const whale::formats::ModelArgs b = whale::formats::parse_model_args(whale::formats::model_args_to_json(a));
    if (b.hidden_size != a.hidden_size || b.n_routed_experts != a.n_routed_experts) __builtin_trap();
  } catch (const whale::Error&) {
  }
  return 0;
}
