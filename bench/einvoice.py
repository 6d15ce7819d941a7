"""e-Invoice documents on one core: render, sign, render+sign and full validation of a
10-line invoice (tests/einvoice/samples.ten_lines), against a baseline measured in the
same run.

All in this process, pinned to one CPU (--cpu, default the last one available); no
database, no network. The figures, each timed call by call (time.perf_counter; CPU
time with time.thread_time beside it), interleaved round by round (--rounds rounds of
--calls calls each, after --warmup untimed calls) so that drift hits every figure alike:

  baseline      lxml: etree.fromstring + etree.tostring of the same unsigned document
                (the least any XML handling of it costs)
  parse input   Invoice.model_validate_json of the invoice's JSON (pydantic, GİB's rules)
  render        kopru.einvoice.render.render(invoice) -> bytes
  sign          kopru.einvoice.sign.sign_with_key(xml, key) -> bytes: safe parse, XAdES-BES
                (RSA-2048 SHA-256, the test certificate), serialise
  render+sign   kopru.einvoice.sign.render_signed(invoice, key): the service's path
  validate      kopru.einvoice.validate.validate(signed xml): safe parse, UBL 2.1 XSD,
                GİB's schematron (SaxonC), arithmetic, signature structure

Reported: median (and p90) ms per call, invoices/s = 1 / median, and each figure's
ratio to the baseline median. Goals (issue 6): render+sign < 5 ms median, full
validation < 25 ms median; a missed goal is reported, not gated (exit 0).

    scripts/bench einvoice
    .venv/bin/python -m bench.einvoice --rounds 10 --calls 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

from bench.common import cpus_available, table, write_results

GOAL_RENDER_SIGN_MS = 5.0
GOAL_VALIDATE_MS = 25.0


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.einvoice", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    p.add_argument("--calls", type=int, default=100, help="timed calls per figure per round (default 100)")
    p.add_argument("--validate-calls", type=int, default=40,
                   help="timed validations per round (default 40; each takes milliseconds)")
    p.add_argument("--warmup", type=int, default=30, help="untimed calls per figure first (default 30)")
    p.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last available)")
    args = p.parse_args(argv)

    cpus = cpus_available()
    cpu = args.cpu if args.cpu is not None else cpus[-1]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})

    from lxml import etree

    from kopru.einvoice.models import Invoice
    from kopru.einvoice.render import render
    from kopru.einvoice.sign import load_signing_key, render_signed, sign_with_key, test_certificate
    from kopru.einvoice.validate import RULE_PACKAGE, RULE_PACKAGE_VERSION, validate, warm_up
    from tests.einvoice.samples import ten_lines

    body = ten_lines()
    raw_json = json.dumps(body).encode()
    invoice = Invoice.model_validate_json(raw_json)
    tc = test_certificate()
    key = load_signing_key(tc.p12, tc.password)
    unsigned = render(invoice)
    signed = render_signed(invoice, key).xml
    t0 = time.perf_counter()
    warm_up()
    compile_s = time.perf_counter() - t0
    report = validate(signed)
    problems = []
    if not report.valid or report.warnings:
        problems.append(f"the benchmark invoice is not clean: {report.findings}")

    def baseline() -> Any:
        return etree.tostring(etree.fromstring(unsigned))

    figures: dict[str, Callable[[], Any]] = {
        "baseline": baseline,
        "parse_input": lambda: Invoice.model_validate_json(raw_json),
        "render": lambda: render(invoice),
        "sign": lambda: sign_with_key(unsigned, key),
        "render_sign": lambda: render_signed(invoice, key),
        "validate": lambda: validate(signed),
    }
    calls = {name: (args.validate_calls if name == "validate" else args.calls) for name in figures}
    for name, fn in figures.items():
        for _ in range(args.warmup if name != "validate" else max(3, args.warmup // 5)):
            fn()

    wall: dict[str, list[float]] = {n: [] for n in figures}
    cpu_t: dict[str, list[float]] = {n: [] for n in figures}
    for _ in range(args.rounds):
        for name, fn in figures.items():
            w, c = wall[name], cpu_t[name]
            for _ in range(calls[name]):
                c0 = time.thread_time()
                t = time.perf_counter()
                fn()
                w.append(time.perf_counter() - t)
                c.append(time.thread_time() - c0)

    base = statistics.median(wall["baseline"])
    results: dict[str, Any] = {}
    for name in figures:
        med = statistics.median(wall[name])
        results[name] = {
            "median_ms": round(med * 1000, 4),
            "p90_ms": round(_pct(wall[name], 90) * 1000, 4),
            "min_ms": round(min(wall[name]) * 1000, 4),
            "cpu_median_ms": round(statistics.median(cpu_t[name]) * 1000, 4),
            "per_s": round(1 / med, 1),
            "ratio_to_baseline": round(med / base, 2),
            "n": len(wall[name]),
        }
    goals = {
        "render_sign": {"goal_median_ms": GOAL_RENDER_SIGN_MS, "median_ms": results["render_sign"]["median_ms"],
                        "pass": results["render_sign"]["median_ms"] < GOAL_RENDER_SIGN_MS},
        "validate": {"goal_median_ms": GOAL_VALIDATE_MS, "median_ms": results["validate"]["median_ms"],
                     "pass": results["validate"]["median_ms"] < GOAL_VALIDATE_MS},
    }
    rows = [[name, f"{r['median_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['cpu_median_ms']:.3f}", f"{r['per_s']:.0f}",
             f"{r['ratio_to_baseline']:.1f}x"] for name, r in results.items()]
    print(table(rows, ["figure (10-line invoice)", "median ms", "p90 ms", "cpu ms", "invoices/s", "x baseline"]))
    for name, g in goals.items():
        print(f"goal {name}: median {g['median_ms']:.2f} ms < {g['goal_median_ms']} ms: "
              f"{'ok' if g['pass'] else 'MISSED'}")
    print(f"schematron compile + XSD load (once per process): {compile_s * 1000:.0f} ms; rules: {RULE_PACKAGE_VERSION}")
    for msg in problems:
        print("problem:", msg, file=sys.stderr)

    headline = {
        "text": "one 10-line invoice on one pinned core: medians per call and invoices/s",
        "render_sign_ms_median": results["render_sign"]["median_ms"],
        "render_sign_per_s": results["render_sign"]["per_s"],
        "validate_ms_median": results["validate"]["median_ms"],
        "validate_per_s": results["validate"]["per_s"],
        "render_ms_median": results["render"]["median_ms"],
        "sign_ms_median": results["sign"]["median_ms"],
        "baseline_ms_median": results["baseline"]["median_ms"],
    }
    path = write_results("einvoice", {
        "headline": headline,
        "figures": results,
        "goals": goals,
        "rule_package": dict(RULE_PACKAGE),
        "schematron_compile_ms": round(compile_s * 1000, 1),
        "document_bytes": {"unsigned": len(unsigned), "signed": len(signed)},
        "problems": problems,
        "method": {
            "process": f"this process, pinned with sched_setaffinity to cpu {cpu}; GC on; bytecode cached",
            "timing": "time.perf_counter per call (wall) and time.thread_time (CPU), rounds interleaved",
            "baseline": "lxml etree.fromstring + etree.tostring of the same unsigned document",
            "key": "test certificate (self-signed RSA-2048), PKCS#12 unwrapped once (load_signing_key cache)",
        },
    }, params={**vars(args), "cpu": cpu})
    print(f"wrote {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
