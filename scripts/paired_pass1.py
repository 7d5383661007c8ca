#!/usr/bin/env python3
"""Paired change in pass@1 between a starting model and the models trained from it, on the same
test problems: per problem, the mean over the trained models (seeds) of its sampled pass rate minus
the start's; the mean of that over problems with a 95% CI (1.96 SE over problems).

Usage: python3 scripts/paired_pass1.py START.json AFTER_SEED1.json [AFTER_SEED2.json ...]
(each written by `whale eval ... -k 4 --responses --out FILE` with the same task, -n and --seed)."""
import json, math, sys, collections
def per_problem(path):
    d = json.load(open(path)); c = collections.defaultdict(list)
    for x in d['responses']:
        if not x['greedy']: c[x['problem']].append(1.0 if x['correct'] else 0.0)
    return {k: sum(v)/len(v) for k, v in c.items()}
start = per_problem(sys.argv[1])
afters = [per_problem(p) for p in sys.argv[2:]]
keys = sorted(start)
d = [sum(a[k] for a in afters)/len(afters) - start[k] for k in keys]
n = len(d); m = sum(d)/n; sd = math.sqrt(sum((x-m)**2 for x in d)/(n-1))
print(f"paired change in pass@1 over {n} problems: {100*m:+.1f} ± {100*1.96*sd/math.sqrt(n):.1f} (95% CI), start {100*sum(start.values())/n:.1f}, after {100*(sum(start.values())/n+m):.1f}")
