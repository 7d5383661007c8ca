#!/usr/bin/python3
# Oracle for whale's block codecs: gguf-py (llama.cpp's numpy reference) dequantizes the bytes whale
# wrote to the same float bits whale's dequantize gives, and where gguf-py can quantize a type, its
# bytes equal whale's. Run by core_tests (QuantLegacy.GgufPyAgrees) with Debian's numpy.
# Usage: gguf_py_dequant.py DIR BUNDLE CACHE
#   DIR holds, per type T: T.x.f32 (input, rows x cols), T.q.u8 (whale's bytes), T.y.f32 (whale's
#   dequantized floats), and shapes.txt ("T rows cols" lines).
#   BUNDLE is node-llama-cpp's llama.cpp git bundle; gguf-py is checked out of it into CACHE.
# Exit 0: all agree; 1: a mismatch (printed); 77: no bundle, nothing checked.
import os
import subprocess
import sys

import numpy as np


def gguf_py(bundle, cache):
    src = os.path.join(cache, "llama.cpp")
    if not os.path.isdir(os.path.join(src, "gguf-py", "gguf")):
        subprocess.run(["rm", "-rf", src], check=True)
        subprocess.run(["git", "clone", "-q", "--no-checkout", bundle, src], check=True)
        subprocess.run(["git", "-C", src, "checkout", "-q", "HEAD", "--", "gguf-py"], check=True)
    sys.path.insert(0, os.path.join(src, "gguf-py"))
    import gguf  # noqa: E402

    return gguf


def main():
    out_dir, bundle, cache = sys.argv[1:4]
    if not os.path.isfile(bundle):
        print(f"SKIP: {bundle} is absent (run scripts/npm_setup.sh); gguf-py oracle not run")
        return 77
    gguf = gguf_py(bundle, cache)
    from gguf import quants

    # gguf-py implements quantize for these; its bytes must equal whale's.
    quantizable = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1"}
    fails = 0
    with open(os.path.join(out_dir, "shapes.txt")) as f:
        rows_of = [line.split() for line in f if line.strip()]
    for name, rows, cols in rows_of:
        rows, cols = int(rows), int(cols)
        qtype = gguf.GGMLQuantizationType[name.upper()]
        x = np.fromfile(os.path.join(out_dir, f"{name}.x.f32"), dtype=np.float32).reshape(rows, cols)
        q = np.fromfile(os.path.join(out_dir, f"{name}.q.u8"), dtype=np.uint8).reshape(rows, -1)
        y = np.fromfile(os.path.join(out_dir, f"{name}.y.f32"), dtype=np.float32).reshape(rows, cols)
        theirs = quants.dequantize(q, qtype).astype(np.float32).reshape(rows, cols)
        bad = np.flatnonzero(theirs.view(np.uint32) != y.view(np.uint32))
        if bad.size:
            i = bad[0]
            print(f"FAIL {name}: dequantize differs at {bad.size} elements, first {i}: "
                  f"gguf-py {theirs.flat[i]!r} whale {y.flat[i]!r}")
            fails += 1
        else:
            print(f"ok   {name}: gguf-py dequantizes whale's {q.size} bytes to the same {y.size} floats")
        if name in quantizable:
            ref = quants.quantize(x, qtype).reshape(rows, -1)
            diff = np.flatnonzero(ref != q)
            if diff.size:
                i = diff[0]
                print(f"FAIL {name}: quantize differs at {diff.size} bytes, first byte {i}: "
                      f"gguf-py {ref.flat[i]} whale {q.flat[i]}")
                fails += 1
            else:
                print(f"ok   {name}: gguf-py quantizes to whale's bytes")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
