"""Measure how the time and peak memory of scaled dot-product attention grow with sequence length.

    softmax(Q K^T / sqrt(d_k)) V,   Q, K, V of shape (batch=1, heads=8, n, d_k=64), float32

for n = 128, 256, ..., 4096, on two paths:

* explicit: ``verified_transformer.nn.functional.scaled_dot_product_attention`` with the fused
  kernels switched off, which materializes the (n, n) scores of every head and their softmax;
* fused: ``torch.nn.functional.scaled_dot_product_attention``, whose CPU kernel works on blocks
  and never stores the whole score matrix.

Each (path, n) is called ``--repeats`` times, and more often until the calls add up to half a
second. Time is the CPU time of the calling thread (``time.thread_time``), which is where torch
computes when it runs on one thread; unlike wall-clock time it does not count the time the
process waits for a core, so it measures the work even on a busy shared machine. The fastest call
is kept (the minimum, as ``timeit`` recommends); the CSV also records the fastest wall-clock time.
Memory is the largest, over those calls, of the process's peak resident set size during
the call minus its resident set size just before it (Linux: ``VmHWM`` from ``/proc/self/status``,
reset through ``/proc/self/clear_refs``); torch's CPU allocator is invisible to ``tracemalloc``,
the RSS is not. Writes ``attention_cost.csv``, ``attention_cost.png`` and its Chinese edition
``attention_cost.zh_CN.png`` (the figure's texts from the code catalog
``locales/zh_CN/LC_MESSAGES/verified_transformer.po``; Sphinx picks that file for the Chinese
edition) to ``--out-dir`` (default ``book/figures``). Not part of ``make test``.

``--plot-only`` measures nothing: it redraws both PNGs from the ``attention_cost.csv`` already in
``--out-dir`` (after a change to the figure or its translations), with the machine of
``RECORDED_RUN`` in the title, since the CSV does not record it.

torch runs on one thread by default (``--threads``): on a shared machine a multi-threaded small
operation waits for its slowest thread to be scheduled, and the CPU time of other threads would be
missed by ``time.thread_time``. The script prints the load average before and after the run, so a
reader can tell how busy the machine was. The run behind the book's figure (chapter 1) was made on
a Linux virtual machine with 2 cores of an AMD EPYC processor and 23 GiB of memory, shared with
other jobs (load average 7.9 before the run and 7.0 after it); its wall-clock times, in the CSV,
were 1.7 to 2.5 times its CPU times for n >= 512, the time spent waiting for a core.

The attention core is all it times: no projections and no feed-forward network, so its cost is
O(n^2 d) per head and a doubled n multiplies the time by four. A whole Transformer layer adds the
O(n d^2) projections and feed-forward network, so its time grows by less than four per doubling
until n is much larger than d.

Usage: .venv/bin/python benchmarks/attention_cost.py [--out-dir DIR] [--max-n N] [--repeats R]
                                                     [--threads T]
       .venv/bin/python benchmarks/attention_cost.py --plot-only [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from verified_transformer.nn.functional import scaled_dot_product_attention
from verified_transformer.nn.fused import fused_kernels

HEADS = 8
D_K = 64
BYTES_PER_FLOAT32 = 4
MIN_SECONDS_PER_POINT = 0.5
ROOT = Path(__file__).resolve().parent.parent
#: The machine behind book/figures/attention_cost.csv (CPU model, torch version, threads), which
#: the CSV does not record: ``--plot-only`` writes it under the redrawn figures' title.
RECORDED_RUN = ("AMD EPYC", "2.13.0+cpu", 1)
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Our reference path: scores (1, h, n, n) are computed, softmaxed and kept."""
    with fused_kernels(False):
        return scaled_dot_product_attention(q, k, v)


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """torch's fused CPU kernel (blockwise, online softmax)."""
    return F.scaled_dot_product_attention(q, k, v)


PATHS: dict[str, Attention] = {"explicit": explicit_attention, "fused": fused_attention}


def _status_kib(field: str) -> int:
    """One ``kB`` field of ``/proc/self/status`` (e.g. ``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def timed_call(
    fn: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[float, float, int]:
    """CPU seconds of this thread and wall-clock seconds of one call, and its peak RSS minus the
    RSS before it in bytes (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    cpu, wall = time.thread_time(), time.perf_counter()
    out = fn(q, k, v)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    peak = _status_kib("VmHWM")
    del out
    return cpu, wall, (peak - before) * 1024


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def measure(lengths: list[int], repeats: int) -> list[dict[str, float | int | str]]:
    """One row per (path, n): best time and largest peak memory over its calls."""
    rows: list[dict[str, float | int | str]] = []
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        warm = torch.randn(1, HEADS, lengths[0], D_K, generator=generator)
        for fn in PATHS.values():  # first calls pay for lazy initialization: keep them out
            fn(warm, warm, warm)
        for n in lengths:
            q, k, v = (torch.randn(1, HEADS, n, D_K, generator=generator) for _ in range(3))
            for name, fn in PATHS.items():
                calls = [timed_call(fn, q, k, v) for _ in range(repeats)]
                while sum(c[1] for c in calls) < MIN_SECONDS_PER_POINT:  # cheap sizes: more calls
                    calls.append(timed_call(fn, q, k, v))
                seconds = min(c[0] for c in calls)
                peak = max(c[2] for c in calls)
                rows.append(
                    {
                        "path": name,
                        "n": n,
                        "best_cpu_time_s": seconds,
                        "best_wall_time_s": min(c[1] for c in calls),
                        "peak_extra_rss_bytes": peak,
                        "score_matrix_bytes": HEADS * n * n * BYTES_PER_FLOAT32,
                    }
                )
                print(
                    f"{name:8s} n={n:5d}  {seconds * 1e3:9.2f} ms CPU  "
                    f"peak +{peak / 2**20:8.1f} MiB",
                    flush=True,
                )
    return rows


def plot(rows: list[dict[str, float | int | str]], machine: str, out_dir: Path) -> list[Path]:
    """Two log-log panels (time, memory) with reference lines, drawn once and saved in each
    language: ``attention_cost.png`` (English) and ``attention_cost.zh_CN.png`` (Chinese, which
    Sphinx picks for the Chinese edition) in ``out_dir``. Its texts are looked up in the code
    catalog (:func:`verified_transformer.notebook.rendered`); the paths written are returned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from verified_transformer.fonts import use_book_fonts
    from verified_transformer.i18n import tr
    from verified_transformer.notebook import rendered

    use_book_fonts()
    fig, (ax_t, ax_m) = plt.subplots(2, 1, figsize=(7, 9))
    lengths = sorted({int(r["n"]) for r in rows})
    styles = {"explicit": ("C0", "o"), "fused": ("C1", "s")}
    path_names = {"explicit": tr("explicit"), "fused": tr("fused")}
    for name, (color, marker) in styles.items():
        sel = [r for r in rows if r["path"] == name]
        ns = [float(r["n"]) for r in sel]
        ts = [float(r["best_cpu_time_s"]) for r in sel]
        slope = loglog_slope(ns[-4:], ts[-4:])
        _ = ax_t.loglog(
            ns,
            ts,
            marker=marker,
            color=color,
            label=tr("{name} (slope {slope:.2f} over n ≥ {n})", name=path_names[name],
                     slope=slope, n=int(ns[-4])),
        )
        seen = [
            (n, float(r["peak_extra_rss_bytes"]) / 2**20)
            for n, r in zip(ns, sel, strict=True)
            if float(r["peak_extra_rss_bytes"]) > 0
        ]
        worst = max(float(r["peak_extra_rss_bytes"]) for r in sel) / 2**20
        missing = len(seen) < len(sel)
        if seen:
            label = (tr("{name}: measured peak RSS, at most {worst:.1f} MiB (0 MiB: not drawn)",
                        name=path_names[name], worst=worst) if missing else
                     tr("{name}: measured peak RSS, at most {worst:.1f} MiB",
                        name=path_names[name], worst=worst))
            _ = ax_m.loglog(
                *zip(*seen, strict=True),
                marker=marker,
                color=color,
                linestyle="-" if not missing else "none",
                label=label,
            )
    t_last = [float(r["best_cpu_time_s"]) for r in rows if r["path"] == "explicit"][-1]
    _ = ax_t.loglog(
        lengths,
        [t_last * (n / lengths[-1]) ** 2 for n in lengths],
        ":",
        color="gray",
        label=tr("slope 2 reference (∝ n²)"),
    )
    _ = ax_m.loglog(
        lengths,
        [2 * HEADS * n * n * BYTES_PER_FLOAT32 / 2**20 for n in lengths],
        "k--",
        label=tr("scores + weights, 2·8·n²·4 bytes (computed)"),
    )
    _ = ax_m.loglog(
        lengths,
        [HEADS * n * D_K * BYTES_PER_FLOAT32 / 2**20 for n in lengths],
        ":",
        color="gray",
        label=tr("one output, 8·n·64·4 bytes (computed, ∝ n)"),
    )
    for ax in (ax_t, ax_m):
        _ = ax.set_xlabel(tr("sequence length n"))
        _ = ax.set_xticks(lengths, [str(n) for n in lengths])
        _ = ax.minorticks_off()
        _ = ax.legend(fontsize=8.5, loc="upper left")
    _ = ax_t.set_ylabel(tr("CPU time per call, best of repeats (s)"))
    _ = ax_m.set_ylabel(tr("MiB"))
    _ = ax_t.set_title(tr("time"))
    _ = ax_m.set_title(tr("memory above the resident set before the call"))
    _ = fig.suptitle(tr("Attention, batch 1, 8 heads, d_k 64, float32\n{machine}",
                        machine=machine), fontsize=10)
    fig.tight_layout()
    written = []
    for language, png, _keys, untranslated in rendered(fig, ["en", "zh_CN"]):
        if untranslated:
            raise RuntimeError(f"{language}: no translation of {untranslated} in "
                               "locales/zh_CN/LC_MESSAGES/verified_transformer.po")
        suffix = "" if language == "en" else f".{language}"
        path = out_dir / f"attention_cost{suffix}.png"
        path.write_bytes(png)
        written.append(path)
    plt.close(fig)
    return written


def machine_description(
    model: str | None = None, version: str | None = None, threads: int | None = None
) -> str:
    """CPU model, thread count and torch version, for the figure and the log (a translatable
    message); this machine's unless given."""
    from verified_transformer.i18n import Verbatim, ntr

    if model is None:
        model = platform.processor() or platform.machine()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists():
            for line in cpuinfo.read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    threads = torch.get_num_threads() if threads is None else threads
    return ntr("{model}, torch {version} on {n} thread", "{model}, torch {version} on {n} threads",
               threads, model=Verbatim(model), version=version or torch.__version__)


def read_rows(path: Path) -> list[dict[str, float | int | str]]:
    """The rows of a CSV that :func:`main` wrote, as :func:`measure` returns them."""
    with open(path, newline="") as handle:
        return [{k: v if k == "path" else float(v) if "." in v or "e" in v else int(v)
                 for k, v in row.items()} for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "book" / "figures")
    parser.add_argument("--max-n", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figures from the CSV in --out-dir, measuring nothing")
    args = parser.parse_args()
    if args.plot_only:
        machine = machine_description(*RECORDED_RUN)
        written = plot(read_rows(args.out_dir / "attention_cost.csv"), machine, args.out_dir)
        print("wrote", ", ".join(str(p) for p in written))
        return
    if args.max_n < 256:
        raise ValueError(f"--max-n must be at least 256, got {args.max_n}")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    lengths = [128 * 2**i for i in range(int(math.log2(args.max_n / 128)) + 1)]
    machine = machine_description()
    print(machine, f"| load average before: {os.getloadavg()[0]:.2f}", flush=True)
    start = time.perf_counter()
    rows = measure(lengths, args.repeats)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with open(args.out_dir / "attention_cost.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written = plot(rows, machine, args.out_dir)
    print(
        f"wrote {args.out_dir / 'attention_cost.csv'} and {', '.join(p.name for p in written)} "
        f"in {time.perf_counter() - start:.1f} s | load average after: {os.getloadavg()[0]:.2f}"
    )
    print("update RECORDED_RUN in benchmarks/attention_cost.py if this run goes into the book")


if __name__ == "__main__":
    main()
