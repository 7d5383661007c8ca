#!/usr/bin/python3
"""Copies a GGUF file with its attention weights replaced by random iq2_xxs blocks and its MLP
weights (dense, shared and routed experts; not the router) by random iq1_s blocks (tensors whose
rows are whole 256-element blocks; the rest as they are), so that whale and llama.cpp can be compared on the codebook types no tool here writes
(llama-quantize wants an importance matrix for them). Every byte of such a block is a valid index,
sign or scale; the f16 scales are drawn so that the weights' spread stays near the f32 model's.

    GGUF_PY=DIR iq_raw.py IN.gguf OUT.gguf SEED [OUT_F32.gguf]

OUT_F32.gguf, if given, is the same model with those tensors decoded to f32 by gguf-py's own
dequantizer (gguf.quants): the exact weights the codebook bytes stand for, for an engine to run
without any codebook kernel.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.environ["GGUF_PY"])
import gguf  # noqa: E402

# (type, block bytes, f16 scale range): iq2_xxs |w| ~ d (0.5 + s) / 4 * {8, 25, 43}; iq1_s |w| ~
# d (2 s + 1) (|g| + 1/8).
KINDS = {"attn": (gguf.GGMLQuantizationType.IQ2_XXS, 66, (0.002, 0.004)),
         "ffn": (gguf.GGMLQuantizationType.IQ1_S, 50, (0.01, 0.02))}


def kind(name, shape):
    # 2-D weights and 3-D stacked experts (ffn_*_exps) whose rows are whole blocks; not the router.
    if len(shape) not in (2, 3) or shape[-1] % 256 != 0 or not name.startswith("blk.") or "gate_inp" in name:
        return None
    for k in KINDS:
        if f".{k}_" in name:
            return k
    return None


def write(dst, arch, reader, tensors):
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for name, data, qtype in tensors:
        writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, data, _ in tensors:
        writer.write_tensor_data(data)
    writer.close()


def main():
    src, dst, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dst_f32 = sys.argv[4] if len(sys.argv) > 4 else None
    rng = np.random.default_rng(seed)
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    tensors, decoded = [], []
    for t in reader.tensors:
        data, qtype = t.data, t.tensor_type
        k = kind(t.name, data.shape)
        if k is not None:
            qtype, block, (lo, hi) = KINDS[k]
            shape, cols = data.shape, data.shape[-1]
            nb = data.size // 256
            blocks = rng.integers(0, 256, size=(nb, block), dtype=np.uint8)
            blocks[:, 0:2] = rng.uniform(lo, hi, size=nb).astype(np.float16).view(np.uint8).reshape(nb, 2)
            data = blocks.reshape(*shape[:-1], cols // 256 * block)
            decoded.append((t.name, gguf.quants.dequantize(data, qtype).astype(np.float32).reshape(shape),
                            gguf.GGMLQuantizationType.F32))
        else:
            decoded.append((t.name, data, qtype))
        tensors.append((t.name, data, qtype))
    write(dst, arch, reader, tensors)
    if dst_f32:
        write(dst_f32, arch, reader, decoded)
    print(" ".join(sorted({q.name.lower() for _, _, q in tensors})))


if __name__ == "__main__":
    main()
