#!/usr/bin/env python3
"""Summarizes a sanitizer run of scripts/test.sh --sanitize as JSON on stdout.

    python3 scripts/sanitize_summary.py address|thread REPORT...

SANITIZE_SCOPE=TEXT names a partial run's scope (default: what scripts/test.sh runs).
REPORT: CTest's JUnit file (--output-junit) or GoogleTest's JSON (--gtest_output=json:). The summary
(date, machine, sanitizer, tests, passed, failed names, skipped, seconds, every test's outcome) is what
scripts/reliability_table.py puts in docs/reliability.md.
"""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET


def junit(path):
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        status = case.get("status", "run")
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None or status in ("notrun", "disabled")
        out.append((case.get("name"), "skipped" if skipped else "failed" if failed else "passed",
                    float(case.get("time", 0))))
    return out


def gtest(path):
    out = []
    for suite in json.loads(pathlib.Path(path).read_text()).get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = f"{suite['name']}.{t['name']}"
            if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                out.append((name, "skipped", 0.0))
            else:
                out.append((name, "failed" if t.get("failures") else "passed",
                            float(str(t.get("time", "0s")).rstrip("s") or 0)))
    return out


def machine():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def commit():
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return r.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("address", "thread"):
        sys.exit(__doc__)
    cases = []
    for r in sys.argv[2:]:
        cases += junit(r) if r.endswith(".xml") else gtest(r)
    flags = pathlib.Path("/proc/cpuinfo").read_text() if pathlib.Path("/proc/cpuinfo").exists() else ""
    print(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": machine(),
        "commit": commit(),
        "amx": " amx_tile" in flags,
        "sanitizer": "AddressSanitizer + UndefinedBehaviorSanitizer" if sys.argv[1] == "address" else "ThreadSanitizer",
        "scope": os.environ.get("SANITIZE_SCOPE") or
                 ("the whole CTest suite" if sys.argv[1] == "address" else "engine_tests and server_tests"),
        "tests": len(cases),
        "passed": sum(c[1] == "passed" for c in cases),
        "skipped": sum(c[1] == "skipped" for c in cases),
        "failed": sorted(c[0] for c in cases if c[1] == "failed"),
        "test_seconds": round(sum(c[2] for c in cases), 1),
        "cases": {c[0]: c[1] for c in sorted(cases)},
    }, indent=1))


if __name__ == "__main__":
    main()
