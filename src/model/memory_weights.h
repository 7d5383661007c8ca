// Weights from tensors held in memory (by Hugging Face name), with no file in between: how the RL
// trainer hands the policy it is optimising to the engine for the next rollouts.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"
#include "model/weights.h"

namespace whale::model {

// Checks every tensor the config implies against the tensor table (whale::Error naming the first
// missing or mis-shaped one), then binds views of `tensors`, which the Weights keeps alive.
Weights weights_from_tensors(const formats::ModelArgs& args, std::map<std::string, core::Tensor> tensors);

}  // namespace whale::model
