// Attention over a bf16 KV cache with AVX-512 BF16 dot products (vdpbf16ps: two bf16 products
// added into each f32 lane), on the avx512 level of CPUs that have them (Zen 4/5, Sapphire Rapids
// and later). The cache's keys and values are bf16 already; the queries are rounded to bf16 (round
// to nearest even) and so are the softmax weights before they meet the values, whose sum l is
// taken over the rounded weights (the output is an exact average of the values under the weights
// used). Products of two bf16 numbers are exact in f32, so what is lost is the queries' and
// weights' last 16 bits (a relative 2^-9 each) — the precision llama.cpp's CPU flash attention
// (f16 queries) and GPU kernels (bf16 weights) keep — for half the multiply instructions of the
// f32 kernel and keys transposed as 32-bit pairs (half the shuffles). WHALE_BF16_ATTN=0 keeps the
// f32 kernel (attention_impl.h), as do f32 caches and other levels.
//
// The blocking is the f32 kernel's (16 keys a block, 16 queries a tile, chunks of
// kAttentionChunk keys with per-chunk states merged in order), and every operation on a query's
// numbers depends only on that query and the rows: its result is the same bits whichever queries
// share its call and whether the keys were transposed ahead (transpose below) or on the fly.
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace whale::kernels::attention_bf16 {

// Whether bf16 rows with keys of d and values of dv go through this kernel: the avx512 level is
// active, the CPU has AVX512-BF16, WHALE_BF16_ATTN is not 0, d is even and dv a multiple of 32.
bool enabled(int64_t d, int64_t dv);
// Tests: turn the kernel on or off (on only where available); returns the new state. `on()` is the
// current state (before the shape and level checks of enabled()).
bool set_enabled(bool on);
bool on();

// Blocks [b0, b1) of the keys of n_rows bf16 rows, as the kernel reads them: block b (rows 16b..)
// at kt + b·16·d, the pair of key values (2p, 2p + 1) of row 16b + j as the 32-bit word p·16 + j
// (rows past n_rows: zero). Size the buffer ceil(n_rows / 16) · 16 · d values.
void transpose(const uint16_t* const* rows, int64_t n_rows, int64_t k_offset, int64_t d, int64_t b0, int64_t b1,
               uint16_t* kt);

// kernels::attend for a.rows16 where enabled(a.d, a.dv); a.kt, when set, is transpose's output.
void attend(const Attention& a);

}  // namespace whale::kernels::attention_bf16
