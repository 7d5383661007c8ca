#!/usr/bin/env python3
"""summary.md for scripts/eval-chat.sh: per task the template accuracy, held-out first turns and
follow-ups with 95% Wilson intervals, the worst held-out family, and issue 18's pre-registered
targets (held-out >= 95% of the template and >= 90% absolute for addition/subtraction, >= 70% for
multiplication; follow-ups within 5 points of first turns), then the small-talk rows. With
--baseline DIR (another model's eval-chat.sh output over the same problems), a paired comparison of
the held-out answers: per task the items only one model got right, and an exact two-sided McNemar
test (a binomial test on the discordant pairs)."""
import argparse
import gzip
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


def load_eval(d, t, s):
    path = os.path.join(d, f"eval-{t}-{s}.json")
    return json.load(open(path)) if os.path.exists(path) else json.load(gzip.open(path + ".gz"))


def mcnemar_p(b, c):
    """Exact two-sided McNemar p-value: b and c are the discordant counts."""
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def paired(a_dir, b_dir):
    print(f"\nPaired with `{b_dir}` (the same held-out items, first turns and follow-ups; small talk left out):\n")
    print("| task | items | right in both | only this model | only the baseline | this − baseline | exact McNemar p |")
    print("|---|---|---|---|---|---|---|")
    tot = [0, 0, 0, 0]
    for t in TASKS:
        new, old = load_eval(a_dir, t, "heldout")["responses"], load_eval(b_dir, t, "heldout")["responses"]
        if len(new) != len(old) or any(x["prompt"] != y["prompt"] for x, y in zip(new, old)):
            raise SystemExit(f"{t}: the two evaluations did not ask the same items")
        rows = [(x["correct"], y["correct"]) for x, y in zip(new, old) if not x["problem"].startswith("small_talk:")]
        both, only_new = sum(x and y for x, y in rows), sum(x and not y for x, y in rows)
        only_old = sum(y and not x for x, y in rows)
        tot = [tot[0] + len(rows), tot[1] + both, tot[2] + only_new, tot[3] + only_old]
        print(f"| {t} | {len(rows)} | {both} | {only_new} | {only_old} | {100 * (only_new - only_old) / len(rows):+.1f} points "
              f"| {mcnemar_p(only_new, only_old):.3g} |")
    n, both, only_new, only_old = tot
    print(f"| all | {n} | {both} | {only_new} | {only_old} | {100 * (only_new - only_old) / n:+.1f} points "
          f"| {mcnemar_p(only_new, only_old):.3g} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--model", default="MODEL")
    ap.add_argument("--n", default="200")
    ap.add_argument("--baseline", help="another model's eval-chat.sh output directory, for a paired comparison")
    a = ap.parse_args()
    load = lambda t, s: load_eval(a.dir, t, s)
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
    if a.baseline:
        paired(a.dir, a.baseline)


if __name__ == "__main__":
    main()
