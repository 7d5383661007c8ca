#!/usr/bin/python3
"""whale's k-quants (q2_k..q6_k) against llama.cpp's own code, through `whale quantize`.

For each type: f32 matrices (Gaussian, outliers, zero / constant / tiny rows) written with gguf-py
go through `whale quantize IN Q --type T` and back through `whale quantize Q BACK --type f32`.
Checks: the tensor in Q has ggml's type id; gguf-py's gguf.quants.dequantize of its bytes equals
whale's dequantization (BACK) bit for bit; and, where node-llama-cpp's libggml-base.so is installed,
ggml's quantize_row_q*_K_ref gives the same bytes as whale's quantizer.

Usage: quant_k_oracle.py WHALE_BINARY REPO_ROOT CACHE_DIR. gguf-py comes from cloning llama.cpp's
release bundle that node-llama-cpp ships (bench/llamacpp/...); exits 77 (skipped) without it.
"""
import ctypes
import glob
import os
import shutil
import subprocess
import sys
import tempfile

whale, root, cache = sys.argv[1], sys.argv[2], sys.argv[3]
peer = os.path.join(root, "bench/llamacpp/node_modules")
bundle = os.path.join(peer, "node-llama-cpp/llama/gitRelease.bundle")
if not os.path.exists(bundle):
    print(f"SKIP: {bundle} is absent (run scripts/npm_setup.sh): no gguf-py to check against")
    sys.exit(77)
src = os.path.join(cache, "llama.cpp")
if not os.path.isdir(os.path.join(src, "gguf-py")):
    shutil.rmtree(src, ignore_errors=True)  # a clone cut short earlier
    subprocess.run(["git", "clone", "-q", "--no-checkout", bundle, src], check=True)
    subprocess.run(["git", "-C", src, "checkout", "-q", "HEAD", "--", "gguf-py"], check=True)
sys.path.insert(0, os.path.join(src, "gguf-py"))
import numpy as np  # noqa: E402
import gguf  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

Q = gguf.GGMLQuantizationType
TYPES = {"q2_k": Q.Q2_K, "q3_k": Q.Q3_K, "q4_k": Q.Q4_K, "q5_k": Q.Q5_K, "q6_k": Q.Q6_K}
BLOCK_BYTES = {"q2_k": 84, "q3_k": 110, "q4_k": 144, "q5_k": 176, "q6_k": 210}


def inputs():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((48, 512)).astype(np.float32)
    a[3] = 0.0                      # all-zero row
    a[4] = -1.25                    # constant row
    a[5] *= 1e-6                    # tiny magnitudes (f16 subnormal scales)
    a[6, ::37] *= 40.0              # outliers
    a[7] = np.abs(a[7])             # all positive: min fitting clamps at 0
    a[8] = -np.abs(a[8])            # all negative
    a[9, :256] = 0.0                # one zero block next to a normal one
    b = (rng.standard_normal((16, 768)) * 0.02).astype(np.float32)
    return {"blk.0.a.weight": a, "blk.0.b.weight": b}


def ggml_lib():
    found = sorted(glob.glob(os.path.join(peer, "@node-llama-cpp/*/bins/*/libggml-base.so")))
    return ctypes.CDLL(found[0]) if found else None


def main():
    work = tempfile.mkdtemp(prefix="quant_k_oracle.")
    src_path = os.path.join(work, "in.gguf")
    w = gguf.GGUFWriter(src_path, "llama")
    data = inputs()
    for name, arr in data.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    lib = ggml_lib()
    if lib is None:
        print("note: libggml-base.so not found; checking dequantization only")
    fails = 0
    for tname, qtype in TYPES.items():
        q_path = os.path.join(work, f"{tname}.gguf")
        back_path = os.path.join(work, f"{tname}.f32.gguf")
        for args in ([src_path, q_path, "--type", tname], [q_path, back_path, "--type", "f32"]):
            subprocess.run([whale, "quantize", *args], check=True, stdout=subprocess.DEVNULL)
        q = {t.name: t for t in gguf.GGUFReader(q_path).tensors}
        back = {t.name: t for t in gguf.GGUFReader(back_path).tensors}
        for name, arr in data.items():
            t = q[name]
            if t.tensor_type != qtype:
                print(f"FAIL {tname} {name}: ggml type {t.tensor_type!r}, expected {qtype!r}")
                fails += 1
                continue
            raw = np.asarray(t.data).reshape(-1).view(np.uint8)
            ours = np.asarray(back[name].data, dtype=np.float32).reshape(arr.shape)
            theirs = dequantize(raw.reshape(arr.shape[0], -1), qtype).astype(np.float32).reshape(arr.shape)
            before = fails
            bad = np.count_nonzero(ours.view(np.uint32) != theirs.view(np.uint32))
            if bad:
                print(f"FAIL {tname} {name}: {bad} of {arr.size} values differ from gguf-py's dequantize")
                fails += 1
            if lib is not None:
                fn = getattr(lib, f"quantize_row_{tname[:2]}_K_ref")
                fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
                ref = np.zeros(raw.size, dtype=np.uint8)
                x = np.ascontiguousarray(arr.reshape(-1))
                fn(x.ctypes.data, ref.ctypes.data, x.size)
                nblk = raw.size // BLOCK_BYTES[tname]
                diff = (raw.reshape(nblk, -1) != ref.reshape(nblk, -1)).any(axis=1)
                if diff.any():
                    print(f"FAIL {tname} {name}: {int(diff.sum())} of {nblk} blocks differ from ggml's "
                          f"quantize_row_{tname[:2]}_K_ref (first: block {int(np.argmax(diff))})")
                    fails += 1
            if fails > before:
                continue
            err = float(np.sqrt(np.mean((ours - arr) ** 2) / max(np.mean(arr ** 2), 1e-30)))
            print(f"ok   {tname} {name}: dequantize bit-identical to gguf-py"
                  + (", bytes identical to ggml" if lib is not None else "") + f", relative rms {err:.4f}")
    print(f"{'FAILED' if fails else 'passed'}: {fails} failures")
    sys.exit(1 if fails else 0)


main()
