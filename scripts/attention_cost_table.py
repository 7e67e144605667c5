"""Print (or write) chapter 1's table and figures of the attention benchmark, from its CSV.

Usage: python scripts/attention_cost_table.py [--write]

``benchmarks/attention_cost.py`` measures time and memory once and stores them in
book/figures/attention_cost.csv (a measurement cannot be repeated byte for byte, so the CSV is
the stored output). This script computes from that CSV the table and every figure that chapter 1
states about it: log-log slopes, the factor per doubling of the length, the fused kernel's
speed-up and how close the measured memory is to the computed size. ``--write`` stores them in
book/_generated/attention_cost.txt, which book/01_background.md includes;
tests/test_attention_cost_table.py fails when that file differs from what this prints.
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "book" / "figures" / "attention_cost.csv"
INCLUDE = ROOT / "book" / "_generated" / "attention_cost.txt"
MIB = 2**20
FIT_FROM = 512  # the slopes and the memory comparison use n >= FIT_FROM (smaller n: overheads)


def read_rows(path: Path = CSV) -> dict[str, dict[int, dict[str, float]]]:
    """``{path: {n: {"cpu_s": ..., "peak_bytes": ..., "scores_bytes": ...}}}`` from the CSV."""
    rows: dict[str, dict[int, dict[str, float]]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["path"], {})[int(row["n"])] = {
                "cpu_s": float(row["best_cpu_time_s"]),
                "peak_bytes": float(row["peak_extra_rss_bytes"]),
                "scores_bytes": float(row["score_matrix_bytes"]),
            }
    if set(rows) != {"explicit", "fused"} or rows["explicit"].keys() != rows["fused"].keys():
        raise ValueError(f"{path} must hold the same lengths n for paths explicit and fused")
    return rows


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of :math:`\\log y` against :math:`\\log x`."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def figures(rows: dict[str, dict[int, dict[str, float]]]) -> dict[str, float]:
    """Every number chapter 1 states about the benchmark, computed from ``rows``."""
    lengths = sorted(rows["explicit"])
    fit = [n for n in lengths if n >= FIT_FROM]
    out: dict[str, float] = {"fit_from": fit[0], "fit_to": fit[-1], "longest": lengths[-1]}
    for path, runs in rows.items():
        out[f"{path}_slope"] = loglog_slope(fit, [runs[n]["cpu_s"] for n in fit])
        doublings = [runs[b]["cpu_s"] / runs[a]["cpu_s"]
                     for a, b in zip(fit, fit[1:], strict=False) if b == 2 * a]
        out[f"{path}_doubling_min"], out[f"{path}_doubling_max"] = min(doublings), max(doublings)
        out[f"{path}_peak_max_mib"] = max(r["peak_bytes"] for r in runs.values()) / MIB
    explicit = rows["explicit"]
    out["speedup_longest"] = explicit[lengths[-1]]["cpu_s"] / rows["fused"][lengths[-1]]["cpu_s"]
    # The explicit path holds the scores and their softmax: two tensors of score_matrix_bytes.
    out["memory_max_deviation"] = max(
        abs(explicit[n]["peak_bytes"] / (2 * explicit[n]["scores_bytes"]) - 1) for n in fit)
    out["explicit_peak_longest_mib"] = explicit[lengths[-1]]["peak_bytes"] / MIB
    return out


def table(rows: dict[str, dict[int, dict[str, float]]]) -> str:
    """The Markdown table of time and memory per length, then the computed figures."""
    f = figures(rows)
    lines = [
        "| $n$ | explicit, CPU ms | fused, CPU ms | explicit, peak MiB "
        "| scores + weights, MiB (computed) | fused, peak MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(rows["explicit"]):
        e, u = rows["explicit"][n], rows["fused"][n]
        lines.append(f"| {n} | {e['cpu_s'] * 1e3:.1f} | {u['cpu_s'] * 1e3:.1f} "
                     f"| {e['peak_bytes'] / MIB:.1f} | {2 * e['scores_bytes'] / MIB:.1f} "
                     f"| {u['peak_bytes'] / MIB:.1f} |")
    lines += [
        "",
        f"Computed from the CSV by `scripts/attention_cost_table.py`: log-log slopes of the time"
        f" over $n = {f['fit_from']}$ to ${f['fit_to']}$: {f['explicit_slope']:.2f} (explicit),"
        f" {f['fused_slope']:.2f} (fused); time factor per doubling of $n$:"
        f" {f['explicit_doubling_min']:.1f} to {f['explicit_doubling_max']:.1f} (explicit),"
        f" {f['fused_doubling_min']:.1f} to {f['fused_doubling_max']:.1f} (fused); fused"
        f" speed-up at $n = {f['longest']}$: {f['speedup_longest']:.1f}; explicit peak against"
        f" the computed size for $n \\ge {f['fit_from']}$: within"
        f" {math.ceil(f['memory_max_deviation'] * 100)}%; largest fused peak:"
        f" {f['fused_peak_max_mib']:.1f} MiB.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = table(read_rows())
    if argv == ["--write"]:
        INCLUDE.parent.mkdir(parents=True, exist_ok=True)
        INCLUDE.write_text(text, encoding="utf-8")
    elif argv:
        print(__doc__, file=sys.stderr)
        return 2
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
