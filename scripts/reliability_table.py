#!/usr/bin/env python3
"""Regenerates every table of docs/reliability.md from committed artifacts.

    python3 scripts/reliability_table.py                 # all tables, from docs/bench/reliability.json
    python3 scripts/reliability_table.py RESULTS.json... # only the fuzzing table, from these runs

docs/bench/reliability.json names the artifacts: "fuzz" (scripts/fuzz.sh results files; several runs
of some targets each make one table, the targets in the order given), "sanitizers"
(scripts/test.sh --sanitize summaries), "soak" (scripts/soak.sh reports, with the command, date and
machine of each run) and "areas" (the tests behind the fault and overflow sections, by name
pattern, looked up in the sanitizer run's outcomes). Each table sits between markers
<!-- NAME-table:begin --> and <!-- NAME-table:end -->; the rest of the file is left alone.

Fuzzing, per target: what it parses (the first comment line of fuzz/NAME.cpp), executions, speed,
edges and features (libFuzzer's final cov: and ft:), when coverage last rose, whether it was flat
over the last quarter of the run, the goal (docs/reliability.md) and the findings fixed (the
regression inputs fuzz/corpus/NAME/regress-* that name them).
"""
import fnmatch
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
MANIFEST = ROOT / "docs" / "bench" / "reliability.json"
# Coverage "stopped rising" when no new edge came in the last quarter of the run.
FLAT_SHARE = 0.25
# Issue 21's execution goals per target.
GOALS = {"gguf_fuzz": 10_000_000, "safetensors_fuzz": 10_000_000, "request_fuzz": 10_000_000,
         "grammar_fuzz": 10_000_000, "tokenizer_json_fuzz": 1_000_000, "chat_template_fuzz": 1_000_000}


def load(path):
    return json.loads((ROOT / path).read_text())


def what(target):
    src = ROOT / "fuzz" / f"{target}.cpp"
    first = src.read_text().splitlines()[0] if src.exists() else ""
    m = re.match(r"// libFuzzer target for (.*?)(?::|,| \(|$)", first)
    return m.group(1) if m else target


def findings(target):
    d = ROOT / "fuzz" / "corpus" / target
    names = sorted(p.name[len("regress-"):] for p in d.glob("regress-*")) if d.exists() else []
    return ", ".join(n.replace("-", " ") for n in names) if names else "none"


def merge_fuzz(runs):
    """One row per target: its newest run (a later campaign of a target replaces the earlier one's row)."""
    results = dict(max(runs, key=lambda r: r["date"]))
    rows = {}
    for r in runs:
        for t in r["targets"]:
            t = dict(t, build_type=t.get("build_type", r.get("build_type", "Debug")), date=t.get("date", r["date"]),
                     machine=t.get("machine", r["machine"]), cores=r["cores"])
            if t["target"] not in rows or t["date"] > rows[t["target"]]["date"]:
                rows[t["target"]] = t
    results["targets"] = list(rows.values())
    results["build_type"] = "/".join(sorted({t["build_type"] for t in rows.values()}))
    if len({str(r["seconds_per_target"]) for r in runs}) > 1:
        results["seconds_per_target"] = "/".join(str(r["seconds_per_target"]) for r in runs)
    return results


def flat(t):
    return t["seconds"] - t["last_new_edge_s"] >= FLAT_SHARE * t["seconds"]


def total(t):
    """Executions of the target's campaign: every run on its kept corpus (FUZZ_CORPUS_DIR), else this run."""
    return t.get("campaign_executions", t["executions"])


def goal_met(t):
    g = GOALS.get(t["target"])
    return None if g is None else total(t) >= g


def short(machine):
    """The lscpu model name without its trademarks: "Intel Xeon Processor", "AMD EPYC"."""
    return re.sub(r"\((R|TM)\)", "", machine).replace("  ", " ").strip()


def fuzz_table(results, note=""):
    where = {}
    for t in results["targets"]:
        where.setdefault((t["machine"], t["cores"]), set()).add(t["date"][:10])
    runs = "; ".join(f"{', '.join(sorted(d))} on {m} ({c} cores)" for (m, c), d in sorted(where.items(), key=lambda x: min(x[1])))
    rows = [
        f"Runs of {runs} (the run column says which), one target at a time per "
        f"core, each built with ASan + UBSan (`scripts/fuzz.sh SECONDS TARGET...`; the build column: Debug as CI "
        f"builds, RelWithDebInfo as `FUZZ_BUILD_TYPE=RelWithDebInfo` builds){note}. A campaign kept its corpus "
        f"over several runs (`FUZZ_CORPUS_DIR`) where the seconds column says so: executions count every run, "
        f"edges read \"at the run's start → end\", and the last run's coverage decides \"flat\". A target's "
        f"row is its newest campaign.",
        "",
        "| target | parses | run | build, seconds | executions | goal | exec/s | edges | features | last new edge | coverage flat | findings fixed |",
        "|---|---|---|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for t in results["targets"]:
        g = GOALS.get(t["target"])
        goal = "–" if g is None else f"{g:,}: {'met' if goal_met(t) else '**not met**'}"
        secs, edges = f"{t['seconds']} s", f"{t['edges']:,}"
        if "campaign_runs" in t:
            secs = (f"{t['campaign_seconds']:,} s in {t['campaign_runs']} runs, the last {t['seconds']} s"
                    if t["campaign_runs"] > 1 else f"{t['seconds']:,} s, kept corpus")
            edges = f"{t['edges_at_start']:,} → {t['edges']:,}"
        rows.append(
            f"| `{t['target']}` | {what(t['target'])} | {t['date'][:10]}, {short(t['machine'])} | {t['build_type']}, {secs} | {total(t):,} | {goal} | "
            f"{t['exec_per_sec']:,} | {edges} | {t['features']:,} | {t['last_new_edge_s']:.0f} s | "
            f"{'yes' if flat(t) else 'no'} | {findings(t['target'])} |")
    return "\n".join(rows)


def sanitizer_table(runs):
    rows = ["| sanitizers | scope | machine | date, commit | tests | passed | skipped | failed |",
            "|---|---|---|---|---:|---:|---:|---|"]
    for path in runs:
        r = load(path)
        # Parameterized names end in GoogleTest's "  # GetParam() = ..." dump: the name is enough.
        failed = ", ".join(f"`{n.split('  # GetParam()')[0]}`" for n in r["failed"]) or "none"
        rows.append(f"| {r['sanitizer']} | {r['scope']} | {r['machine']}, AMX {'yes' if r['amx'] else 'no'} | "
                    f"{r['date']}, {r.get('commit', '–')} | {r['tests']} | {r['passed']} | {r['skipped']} | {failed} |")
    return "\n".join(rows)


def mb(kib):
    return f"{kib / 1024:.1f}"


def soak_table(runs):
    rows = ["| run | load | served | 429 | client hang-ups | mismatches / replayed | KV blocks leaked | "
            "RSS baseline → after (peak), MiB | RSS back within 10% |",
            "|---|---|---:|---:|---:|---|---|---|---|"]
    for run in runs:
        r = load(run["report"])
        mism = f"{r['mismatches']} / {r['replayed']}"
        if run.get("negative_control"):
            mism += " (expected: found)" if r["mismatches"] > 0 else " (**control failed: none found**)"
        rows.append(
            f"| `{run['command']}` ({run['date']}, {run['machine']}{', ' + run['model'] if run.get('model') else ''}) | {r['load_seconds']} s, {r['clients']} clients | "
            f"{r['requests_served']:,} | {r['rejected_429']:,} | {r['client_hangups']:,} | {mism} | "
            f"{r['kv_blocks_leaked']} of {r['kv_blocks_total']} | {mb(r['rss_baseline_kib'])} → "
            f"{mb(r['rss_after_kib'])} ({mb(r['rss_peak_kib'])}) | {'yes' if r['rss_returned_within_10pct'] else 'no'} |")
    return "\n".join(rows)


def summary_table(m, fuzz):
    rows = ["| what was tried | how | what held | evidence |", "|---|---|---|---|"]
    if fuzz:
        execs = sum(total(t) for t in fuzz["targets"])
        met = [t for t in fuzz["targets"] if goal_met(t) is not None]
        nflat = sum(flat(t) for t in fuzz["targets"])
        rows.append(
            f"| hostile input to {len(fuzz['targets'])} parsers | libFuzzer with ASan + UBSan, {execs:,} executions "
            f"({fuzz['date']}) | no open crash, hang, leak or sanitizer report; execution goals met for "
            f"{sum(bool(goal_met(t)) for t in met)} of {len(met)} targets; coverage flat in {nflat} of "
            f"{len(fuzz['targets'])} | [Fuzzing](#fuzzing) |")
    san = {}  # the latest run of each sanitizer (the table in Sanitizers lists every run)
    for path in m.get("sanitizers", []):
        r = load(path)
        if r["sanitizer"] not in san or r["date"] > san[r["sanitizer"]]["date"]:
            san[r["sanitizer"]] = r
    for r in san.values():
        what = "data races" if "Thread" in r["sanitizer"] else "memory errors, undefined behaviour, leaks"
        rows.append(f"| {what} | {r['sanitizer']}: {r['scope']} "
                    f"({r['date']}) | {r['passed']} of {r['tests']} tests passed"
                    f"{', failed: ' + ', '.join(r['failed']) if r['failed'] else ''} | [Sanitizers](#sanitizers) |")
    for run in m.get("soak", []):
        r = load(run["report"])
        if run.get("negative_control"):
            continue
        rows.append(f"| load with exactness | `{run['command']}`: {r['requests_served']:,} requests, "
                    f"{r['rejected_429']:,} × 429, {r['client_hangups']:,} hang-ups | {r['mismatches']} mismatches of "
                    f"{r['replayed']:,} replayed, {r['kv_blocks_leaked']} KV blocks leaked, RSS back within 10%: "
                    f"{'yes' if r['rss_returned_within_10pct'] else 'no'} | [Soak](#load-with-exactness-soak) |")
    asan = next((r for r in san.values() if "Address" in r["sanitizer"]), None)
    for area in m.get("areas", []):
        names = []
        if asan:
            names = [n for n in asan.get("cases", {}) if any(fnmatch.fnmatch(n, p) for p in area["tests"])]
        if names:
            ok = sum(asan["cases"][n] == "passed" for n in names)
            held = f"{ok} of {len(names)} tests passed (also under ASan + UBSan)"
        else:
            held = "tests: " + ", ".join(f"`{p}`" for p in area["tests"])
        rows.append(f"| {area['tried']} | {area['how']} | {held} | [{area['section']}](#{area['anchor']}) |")
    return "\n".join(rows)


def replace(doc, name, body):
    begin, end = f"<!-- {name}-table:begin -->", f"<!-- {name}-table:end -->"
    if begin not in doc or end not in doc:
        sys.exit(f"{DOC}: markers {begin} / {end} not found")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main():
    doc = DOC.read_text()
    if len(sys.argv) > 1:
        fuzz = merge_fuzz([json.loads(pathlib.Path(a).read_text()) for a in sys.argv[1:]])
        DOC.write_text(replace(doc, "fuzz", fuzz_table(fuzz)))
        print(f"{DOC.relative_to(ROOT)}: {len(fuzz['targets'])} fuzz targets")
        return
    m = json.loads(MANIFEST.read_text())
    fuzz = merge_fuzz([load(p) for p in m["fuzz"]]) if m.get("fuzz") else None
    if fuzz:
        doc = replace(doc, "fuzz", fuzz_table(fuzz, m.get("fuzz_note", "")))
    if m.get("sanitizers"):
        doc = replace(doc, "sanitizer", sanitizer_table(m["sanitizers"]))
    if m.get("soak"):
        doc = replace(doc, "soak", soak_table(m["soak"]))
    doc = replace(doc, "summary", summary_table(m, fuzz))
    DOC.write_text(doc)
    print(f"{DOC.relative_to(ROOT)}: tables regenerated from {MANIFEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
