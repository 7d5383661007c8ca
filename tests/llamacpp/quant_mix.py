# Helpers for quant_mix.sh (run with a Python that has numpy; needs gguf-py on GGUF_PY):
#   plan LOG              llama-quantize's log (--dry-run or not) -> "name<TAB>type" per tensor
#   sparse TEMPLATE PLAN OUT [key=int ...]
#                         a GGUF with TEMPLATE's metadata (integer keys "{arch}.key" overridden) and
#                         the tensors of PLAN (whale quantize --dry-run lines: name, [ne...], type),
#                         1-D tensors and the MoE router f32, the rest f16, the data a sparse hole:
#                         real dimensions at no disk cost, for dry runs that never read the data.
#   regen DIR STD [wide]  new weights for a whale init checkpoint in place: N(0, STD^2), norms 1
#                         (logits far enough apart that greedy tokens do not hinge on rounding); with
#                         `wide`, a tiny-qwen2/tiny-llama one is made 4x wider (hidden 256, head_dim 64,
#                         intermediate 512) so every row is whole K-quant blocks (real q4_K/q6_K);
#                         a tiny-deepseek-v3 one gets hidden 256 and experts of 256 (shared and
#                         routed), the MLA dimensions as they are, so the experts are whole blocks.
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.environ["GGUF_PY"])
import gguf  # noqa: E402


def plan(log_path):
    line_re = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\S+), size =.*?(?:\((\S+)\))?\s*$")
    for line in open(log_path, errors="replace"):
        m = line_re.match(line.rstrip("\n"))
        if m:
            print(f"{m.group(1)}\t{m.group(3) or m.group(2)}")


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def sparse(template, plan_path, out, overrides):
    reader = gguf.GGUFReader(template)
    raw = open(template, "rb").read()
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    over = {f"{arch}.{k}": int(v) for k, v in (o.split("=", 1) for o in overrides)}
    kvs = []
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        if name in over:
            kvs.append(gguf_string(name) + struct.pack("<II", gguf.GGUFValueType.UINT32, over.pop(name)))
            continue
        size = sum(p.nbytes for p in field.parts)
        kvs.append(raw[field.offset:field.offset + size])
    for name, v in over.items():  # keys the template lacks
        kvs.append(gguf_string(name) + struct.pack("<II", gguf.GGUFValueType.UINT32, v))
    align = 32
    if "general.alignment" in reader.fields:
        align = int(reader.fields["general.alignment"].parts[-1][0])
    infos, offset = [], 0
    for line in open(plan_path):
        name, shape, _ = line.rstrip("\n").split("\t")
        ne = [int(x) for x in shape.strip("[]").split(",")]
        f32 = len(ne) == 1 or "ffn_gate_inp" in name
        ttype, esize = (gguf.GGMLQuantizationType.F32, 4) if f32 else (gguf.GGMLQuantizationType.F16, 2)
        nbytes = esize
        for d in ne:
            nbytes *= d
        infos.append(gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
                     + struct.pack("<IQ", ttype, offset))
        offset += (nbytes + align - 1) // align * align
    with open(out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs)))
        for kv in kvs:
            f.write(kv)
        for ti in infos:
            f.write(ti)
        f.write(b"\0" * (-f.tell() % align))
        f.truncate(f.tell() + offset)


def regen(d, std, wide):
    import numpy as np
    dims = {}
    moe = None  # a deepseek checkpoint: (old hidden, old expert width, shared experts)
    if wide:
        cfg_path = os.path.join(d, "config.json")
        cfg = json.load(open(cfg_path))
        if "kv_lora_rank" in cfg:
            moe = (cfg["hidden_size"], cfg["moe_intermediate_size"], cfg["n_shared_experts"])
            cfg.update(hidden_size=256, moe_intermediate_size=256)
        else:
            dims = {cfg["hidden_size"]: 256, cfg["num_key_value_heads"] * cfg["head_dim"]: cfg["num_key_value_heads"] * 64,
                    cfg["intermediate_size"]: 512}
            cfg.update(hidden_size=256, intermediate_size=512, head_dim=64)
        json.dump(cfg, open(cfg_path, "w"), indent=2)
    st = os.path.join(d, "model.safetensors")
    with open(st, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    rng = np.random.default_rng(0)
    arrays, out_header, offset = [], {"__metadata__": header.get("__metadata__", {})}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = [dims.get(x, x) for x in info["shape"]]
        if moe:
            hidden, width, shared = moe
            # Every hidden-sized dimension but o_proj's input (heads x v_head_dim, which may equal it).
            shape = [256 if x == hidden and not (name.endswith("o_proj.weight") and i == 1) else x
                     for i, x in enumerate(shape)]
            if ".experts." in name or "shared_experts" in name:
                n = shared if "shared_experts" in name else 1
                axis = 1 if name.endswith("down_proj.weight") else 0
                if shape[axis] == width * n:
                    shape[axis] = 256 * n
        a = np.ones(shape, np.float32) if "norm" in name else (rng.standard_normal(shape) * std).astype(np.float32)
        if moe and name.endswith("e_score_correction_bias"):
            a = np.zeros(shape, np.float32)  # no expert preferred
        out_header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    h = json.dumps(out_header).encode()
    h += b" " * (-len(h) % 8)
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for a in arrays:
            f.write(a.tobytes())


if __name__ == "__main__":
    if sys.argv[1] == "plan":
        plan(sys.argv[2])
    elif sys.argv[1] == "regen":
        regen(sys.argv[2], float(sys.argv[3]), sys.argv[4:] == ["wide"])
    elif sys.argv[1] == "sparse":
        sparse(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
