#!/usr/bin/env python3
"""summary.md for scripts/eval-chat.sh: per task the template accuracy, held-out first turns and
follow-ups with 95% Wilson intervals, the worst held-out family, and issue 18's pre-registered
targets (held-out >= 95% of the template and >= 90% absolute for addition/subtraction, >= 70% for
multiplication; follow-ups within 5 points of first turns), then the small-talk rows."""
import argparse
import json
import math
import os

TASKS = ["addition", "subtraction", "multiplication", "countdown"]
FLOOR = {"addition": 0.90, "subtraction": 0.90, "multiplication": 0.70, "countdown": None}


def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def cell(acc, n):
    k = round(acc * n)
    lo, hi = wilson(k, n)
    return f"{100 * acc:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] (n={n})"


def group(d, turn, family="all"):
    for f in d["families"]:
        if f["turn"] == turn and f["family"] == family:
            return f["greedy_accuracy"], f["count"]
    return None, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--model", default="MODEL")
    ap.add_argument("--n", default="200")
    a = ap.parse_args()
    load = lambda t, s: json.load(open(os.path.join(a.dir, f"eval-{t}-{s}.json")))
    print(f"# {a.model} on the phrasing sets\n")
    print(f"`scripts/eval-chat.sh {a.model} OUT {a.n}` (greedy; `whale eval --phrasings template|heldout`, "
          "multiplication `--max-digits 2`, Countdown `--max-number 30 --max-target 60`). "
          "Accuracies with 95% Wilson intervals; JSON with every response: `eval-TASK-SET.json`.\n")
    print("| task | template | held-out first turns | held-out follow-ups | worst held-out family (first turn) | targets |")
    print("|---|---|---|---|---|---|")
    verdicts = []
    for t in TASKS:
        tp, hd = load(t, "template"), load(t, "heldout")
        ta, tn = group(tp, "first")
        fa, fn = group(hd, "first")
        ua, un = group(hd, "follow_up")
        fams = [f for f in hd["families"] if f["turn"] == "first" and f["family"] != "all"]
        worst = min(fams, key=lambda f: f["greedy_accuracy"]) if fams else None
        checks = []
        ok_ratio = ta == 0 or fa >= 0.95 * ta
        checks.append(("held-out >= 95% of template", ok_ratio))
        if FLOOR[t] is not None:
            checks.append((f"held-out >= {int(100 * FLOOR[t])}%", fa >= FLOOR[t]))
        if un:
            checks.append(("follow-ups within 5 points", abs(ua - fa) <= 0.05))
        verdicts += [(t, c, ok) for c, ok in checks]
        tgt = "; ".join(("met: " if ok else "**not met**: ") + c for c, ok in checks)
        wf = f"{worst['family']} {100 * worst['greedy_accuracy']:.0f}% ({worst['count']})" if worst else "-"
        print(f"| {t} | {cell(ta, tn)} | {cell(fa, fn)} | {cell(ua, un) if un else '-'} | {wf} | {tgt} |")
    print()
    hd = load("addition", "heldout")
    st = [f for f in hd["families"] if f["turn"] == "small_talk"]
    if st:
        print("Held-out small talk (identity, greeting, out-of-skill; graded by `small_talk_ok`):",
              ", ".join(f"{f['family']} {round(f['greedy_accuracy'] * f['count'])}/{f['count']}" for f in st), "\n")
    met = sum(ok for _, _, ok in verdicts)
    print(f"Targets met: {met} of {len(verdicts)}.")


if __name__ == "__main__":
    main()
