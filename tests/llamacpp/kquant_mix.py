#!/usr/bin/python3
"""Re-encode an f32 GGUF as a K-quant mix made by ggml's own quantizers, like the files people
download (Q4_K_M & co. give different tensors different types): every 256-wide matrix gets one of
q2_k..q6_k by role, with bytes from quantize_row_q*_K_ref in node-llama-cpp's libggml-base.so.

Usage: kquant_mix.py IN_F32.gguf OUT.gguf GGUF_PY_DIR LIBGGML_BASE_SO
"""
import ctypes
import sys

src, dst, gguf_py, libggml = sys.argv[1:5]
sys.path.insert(0, gguf_py)
import numpy as np  # noqa: E402
import gguf  # noqa: E402

Q = gguf.GGMLQuantizationType
# One role per type, so a single file exercises all five kernels.
MIX = [("attn_q.", Q.Q2_K), ("attn_k.", Q.Q3_K), ("attn_v.", Q.Q5_K), ("attn_output.", Q.Q4_K),
       ("ffn_gate.", Q.Q3_K), ("ffn_up.", Q.Q2_K), ("ffn_down.", Q.Q6_K), ("token_embd.", Q.Q4_K),
       ("output.", Q.Q6_K)]
lib = ctypes.CDLL(libggml)

reader = gguf.GGUFReader(src)
arch = reader.fields["general.architecture"].contents()
w = gguf.GGUFWriter(dst, arch)
for name, field in reader.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    vtype = field.types[0]
    sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(name, field.contents(), vtype, sub_type=sub)
for t in reader.tensors:
    data = np.asarray(t.data)
    qtype = next((q for key, q in MIX if key in t.name), None)
    if qtype is None or data.ndim != 2 or data.shape[1] % 256 != 0 or t.tensor_type != Q.F32:
        w.add_tensor(t.name, data.copy())
        continue
    fn = getattr(lib, f"quantize_row_{qtype.name.lower()}_ref".replace("_k_", "_K_"))
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    x = np.ascontiguousarray(data, dtype=np.float32)
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    out = np.zeros((x.shape[0], x.shape[1] // block_elems * block_bytes), dtype=np.uint8)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    w.add_tensor(t.name, out, raw_dtype=qtype)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
