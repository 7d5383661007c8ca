#!/usr/bin/env python3
"""Regenerates the fuzzing table of docs/reliability.md from a scripts/fuzz.sh results file.

    python3 scripts/reliability_table.py RESULTS.json [MORE.json ...]

Several files (runs of some targets each, `scripts/fuzz.sh SECONDS TARGET...`) make one table: the
targets in the order given, the latest date.

The table sits between the markers <!-- fuzz-table:begin --> and <!-- fuzz-table:end -->; the rest
of the file is left alone. Per target: what it parses (the first comment line of fuzz/NAME.cpp),
executions, speed, edges and features (libFuzzer's final cov: and ft:), when coverage last rose,
and the findings fixed (the regression inputs fuzz/corpus/NAME/regress-* that name them).
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- fuzz-table:begin -->", "<!-- fuzz-table:end -->"
# Coverage "stopped rising" when no new edge came in the last quarter of the run.
FLAT_SHARE = 0.25


def what(target):
    src = ROOT / "fuzz" / f"{target}.cpp"
    first = src.read_text().splitlines()[0] if src.exists() else ""
    m = re.match(r"// libFuzzer target for (.*?)(?::|,| \(|$)", first)
    return m.group(1) if m else target


def findings(target):
    d = ROOT / "fuzz" / "corpus" / target
    names = sorted(p.name[len("regress-"):] for p in d.glob("regress-*")) if d.exists() else []
    return ", ".join(n.replace("-", " ") for n in names) if names else "none"


def table(results):
    rows = [
        f"Run of {results['date']} on {results['machine']} ({results['cores']} cores), "
        f"{results['seconds_per_target']} s per target (`scripts/fuzz.sh SECONDS TARGET...`), "
        "while other builds and a training run shared the cores.",
        "",
        "| target | parses | executions | exec/s | edges | features | last new edge | coverage flat | findings fixed |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for t in results["targets"]:
        flat = t["seconds"] - t["last_new_edge_s"] >= FLAT_SHARE * t["seconds"]
        rows.append(
            f"| `{t['target']}` | {what(t['target'])} | {t['executions']:,} | {t['exec_per_sec']:,} | {t['edges']:,} | "
            f"{t['features']:,} | {t['last_new_edge_s']:.0f} s | {'yes' if flat else 'no'} | {findings(t['target'])} |"
        )
    return "\n".join(rows)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = [json.loads(pathlib.Path(a).read_text()) for a in sys.argv[1:]]
    results = dict(max(runs, key=lambda r: r["date"]))
    results["targets"] = [t for r in runs for t in r["targets"]]
    if len({r["seconds_per_target"] for r in runs}) > 1:
        results["seconds_per_target"] = "/".join(str(r["seconds_per_target"]) for r in runs)
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{DOC}: markers {BEGIN} / {END} not found")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{table(results)}\n{END}{tail}")
    print(f"{DOC.relative_to(ROOT)}: {len(results['targets'])} targets")


if __name__ == "__main__":
    main()
