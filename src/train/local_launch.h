// `whale train ... --nproc N`: N local ranks of this executable with torchrun's environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), watched until all end.
#pragma once

#include <string>
#include <vector>

namespace whale::train {

// Runs `/proc/self/exe args...` as ranks 0..n-1 and waits for them. When one exits non-zero or is
// killed, the others are stopped (SIGTERM, then SIGKILL after 5 s) and whale::Error (kIo) names
// the rank and how it ended. MASTER_ADDR/MASTER_PORT from the environment are kept; otherwise
// 127.0.0.1 and a free port.
void launch_local_ranks(int n, const std::vector<std::string>& args);

}  // namespace whale::train
