"""Run every benchmark module, write benchmarks/results.json and print the figures as a table."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Benchmark modules are the files in benchmarks/ that do not start with an underscore."""
    return sorted(
        p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "__main__"
    )


def run_module(name: str, quick: bool) -> tuple[dict[str, float], str | None]:
    """Run one module's ``run(quick)``; a failure is reported, never hides the other figures."""
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        figures = module.run(quick)
        return {k: float(v) for k, v in figures.items()}, None
    except Exception:  # one broken benchmark must not lose the rest of the run
        return {}, traceback.format_exc(limit=5)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``make bench``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data sets, fewer rounds")
    parser.add_argument("modules", nargs="*", help="only these modules (default: all)")
    args = parser.parse_args(argv)
    names = args.modules or discover()
    results_path = HERE / "results.json"
    figures: dict[str, float] = {}
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name in names:
        print(f"-- {name} ...", flush=True)
        start = time.perf_counter()
        got, err = run_module(name, args.quick)
        timings[name] = round(time.perf_counter() - start, 1)
        figures.update(got)
        if err:
            errors[name] = err
            print(err, file=sys.stderr)
    document = {
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": dict(sorted(figures.items())),
        "module_seconds": timings,
        "errors": errors,
    }
    results_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    width = max((len(k) for k in figures), default=10)
    print(f"\n{'figure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 12}")
    for key, value in sorted(figures.items()):
        print(f"{key:<{width}}  {value:,.3f}")
    print(f"\nwritten to {results_path}")
    if errors:
        print(f"benchmark modules that failed: {', '.join(errors)}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
