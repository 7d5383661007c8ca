// AttentionWork: the bookkeeping around kernels::attend for one layer (sets, key transposes,
// tile order across the pool); the math is in attention.cpp.
#include "kernels/attention_work.h"

#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_bf16.h"

namespace whale::kernels {
namespace {
constexpr int64_t kTile = 16;  // queries per attend call
}  // namespace

void AttentionWork::clear() { n_sets_ = 0; }

AttentionWork::Set& AttentionWork::new_set(int64_t k_offset, int64_t v_offset, int64_t d, int64_t dv, float scale) {
  if (n_sets_ == sets_.size()) sets_.emplace_back();
  Set& s = sets_[n_sets_++];
  s.rows.clear();
  s.rows16.clear();
  s.q.clear();
  s.n.clear();
  s.out.clear();
  s.kt.clear();
  s.k_offset = k_offset;
  s.v_offset = v_offset;
  s.d = d;
  s.dv = dv;
  s.scale = scale;
  return s;
}

size_t AttentionWork::add_set(std::span<const float* const> rows, int64_t k_offset, int64_t v_offset, int64_t d,
                              int64_t dv, float scale) {
  new_set(k_offset, v_offset, d, dv, scale).rows.assign(rows.begin(), rows.end());
  return n_sets_ - 1;
}

size_t AttentionWork::add_set(std::span<const uint16_t* const> rows, int64_t k_offset, int64_t v_offset, int64_t d,
                              int64_t dv, float scale) {
  new_set(k_offset, v_offset, d, dv, scale).rows16.assign(rows.begin(), rows.end());
  return n_sets_ - 1;
}

void AttentionWork::add_query(size_t set, const float* q, int64_t n, float* out) {
  Set& s = sets_[set];
  s.q.push_back(q);
  s.n.push_back(n);
  s.out.push_back(out);
}

void AttentionWork::run(core::ThreadPool& pool) {
  // Sets with more than one tile of queries share one transposed copy of their keys.
  const int64_t W = attention_block();
  blocks_.clear();
  for (size_t s = 0; s < n_sets_; ++s) {
    Set& set = sets_[s];
    if (static_cast<int64_t>(set.q.size()) <= kTile) continue;
    const int64_t n_blocks = (set.n_rows() + W - 1) / W;
    set.kt.resize(static_cast<size_t>(n_blocks * W * set.d));
    for (int64_t b = 0; b < n_blocks; ++b) blocks_.push_back({s, b});
  }
  pool.parallel_for(static_cast<int64_t>(blocks_.size()), [this](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      const auto [si, blk] = blocks_[static_cast<size_t>(u)];
      Set& s = sets_[si];
      if (s.rows16.empty()) {
        transpose_keys(s.rows.data(), s.n_rows(), s.k_offset, s.d, blk, blk + 1, s.kt.data());
      } else if (attention_bf16::enabled(s.d, s.dv)) {  // bf16 pairs: half of the f32 buffer
        attention_bf16::transpose(s.rows16.data(), s.n_rows(), s.k_offset, s.d, blk, blk + 1,
                                  reinterpret_cast<uint16_t*>(s.kt.data()));
      } else {
        transpose_keys(s.rows16.data(), s.n_rows(), s.k_offset, s.d, blk, blk + 1, s.kt.data());
      }
    }
  });
  tiles_.clear();
  merges_.clear();
  for (size_t si = 0; si < n_sets_; ++si) {
    Set& s = sets_[si];
    const int64_t nq = static_cast<int64_t>(s.q.size());
    size_t slots = 0;
    for (int64_t n : s.n) slots += attention_chunks(n) > 1 ? static_cast<size_t>(attention_chunks(n)) : 0;
    s.part.resize(slots * static_cast<size_t>(s.dv + 2));
    s.part_of.assign(static_cast<size_t>(nq), nullptr);
    float* next = s.part.data();
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t c = attention_chunks(s.n[static_cast<size_t>(i)]);
      if (c <= 1) continue;
      s.part_of[static_cast<size_t>(i)] = next;
      next += c * (s.dv + 2);
      merges_.push_back({si, i});
    }
    for (int64_t i = 0; i < nq; i += kTile) {
      int64_t chunks = 0;
      for (int64_t k = i; k < std::min(nq, i + kTile); ++k) chunks = std::max(chunks, attention_chunks(s.n[static_cast<size_t>(k)]));
      if (chunks <= 1) {
        tiles_.push_back({si, i, 0, 1});
      } else {
        for (int64_t c = 0; c < chunks; ++c) tiles_.push_back({si, i, c, c + 1});
      }
    }
  }
  pool.parallel_for(static_cast<int64_t>(tiles_.size()), [this](int64_t b, int64_t e, int) {
    const int64_t U = static_cast<int64_t>(tiles_.size());
    for (int64_t u = b; u < e; ++u) {
      // 0, U-1, 1, U-2, ...: each contiguous range mixes early (short) and late (long) tiles.
      const Unit t = tiles_[static_cast<size_t>(u % 2 == 0 ? u / 2 : U - 1 - u / 2)];
      const Set& s = sets_[t.set];
      const int64_t i0 = t.i0, nq = std::min<int64_t>(kTile, static_cast<int64_t>(s.q.size()) - i0);
      attend({.q = s.q.data() + i0, .n = s.n.data() + i0, .nq = nq, .rows = s.rows.data(), .k_offset = s.k_offset,
              .v_offset = s.v_offset, .d = s.d, .dv = s.dv, .scale = s.scale, .out = s.out.data() + i0,
              .kt = s.kt.empty() ? nullptr : s.kt.data(), .rows16 = s.rows16.empty() ? nullptr : s.rows16.data(),
              .chunk0 = t.c0, .chunk1 = t.c1, .partial = s.part_of.data() + i0});
    }
  });
  pool.parallel_for(static_cast<int64_t>(merges_.size()), [this](int64_t b, int64_t e, int) {
    for (int64_t u = b; u < e; ++u) {
      const auto [si, i] = merges_[static_cast<size_t>(u)];
      const Set& s = sets_[si];
      merge_chunks(s.part_of[static_cast<size_t>(i)], attention_chunks(s.n[static_cast<size_t>(i)]), s.dv,
                   s.out[static_cast<size_t>(i)]);
    }
  });
}

size_t AttentionWork::reserved_bytes() const {
  size_t bytes = sets_.capacity() * sizeof(Set) + (blocks_.capacity() + merges_.capacity()) * sizeof(blocks_[0]) +
                 tiles_.capacity() * sizeof(Unit);
  for (const Set& s : sets_) {
    bytes += (s.rows.capacity() + s.rows16.capacity() + s.q.capacity() + s.out.capacity() + s.part_of.capacity()) *
                 sizeof(void*) +
             s.n.capacity() * sizeof(int64_t) + (s.kt.capacity() + s.part.capacity()) * sizeof(float);
  }
  return bytes;
}

}  // namespace whale::kernels
