// Compiled by the layering tests: must fail with formats' include path (formats may not see
// model/) and succeed once model's path is added, proving the include roots enforce the arrows.
#include "model/presets.h"

int main() { return static_cast<int>(whale::model::presets().size()); }
