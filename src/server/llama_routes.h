// llama-server's native routes (/tokenize, /detokenize, /apply-template, /props, /slots,
// /completion, /infill), registered on the server beside the OpenAI ones.
#pragma once

#include "server/server_impl.h"

namespace whale::server {

void add_llama_routes(Server::Impl& s);

}  // namespace whale::server
