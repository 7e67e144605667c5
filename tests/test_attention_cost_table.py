"""scripts/attention_cost_table.py: chapter 1's benchmark table and figures come from its CSV."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "attention_cost_table", ROOT / "scripts" / "attention_cost_table.py")
cost = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cost)

HEADER = "path,n,best_cpu_time_s,best_wall_time_s,peak_extra_rss_bytes,score_matrix_bytes\n"


def test_the_included_table_is_computed_from_the_stored_csv() -> None:
    assert cost.INCLUDE.read_text(encoding="utf-8") == cost.table(cost.read_rows()), (
        "book/_generated/attention_cost.txt is stale: run `python scripts/attention_cost_table.py"
        " --write` and reread chapter 1's prose against it")
    page = (ROOT / "book" / "01_background.md").read_text(encoding="utf-8")
    assert "{include} _generated/attention_cost.txt" in page


def test_figures_of_an_exactly_quadratic_benchmark(tmp_path: Path) -> None:
    csv = tmp_path / "cost.csv"
    rows = [f"{path},{n},{factor * n * n * 1e-9},0,{2 * 4 * n * n * (path == 'explicit')},"
            f"{4 * n * n}\n" for n in (256, 512, 1024, 2048) for path, factor in
            (("explicit", 3.0), ("fused", 1.0))]
    csv.write_text(HEADER + "".join(rows))
    f = cost.figures(cost.read_rows(csv))
    assert f["explicit_slope"] == pytest.approx(2.0) and f["fused_slope"] == pytest.approx(2.0)
    assert f["explicit_doubling_min"] == pytest.approx(4.0) == f["fused_doubling_max"]
    assert f["speedup_longest"] == pytest.approx(3.0)
    assert f["memory_max_deviation"] == pytest.approx(0.0, abs=1e-12)
    assert (f["fit_from"], f["fit_to"], f["fused_peak_max_mib"]) == (512, 2048, 0.0)
    assert "2.00 (explicit), 2.00 (fused)" in cost.table(cost.read_rows(csv))


def test_a_slower_longest_run_changes_the_slope(tmp_path: Path) -> None:
    csv = tmp_path / "cost.csv"
    rows = [f"{path},{n},{n ** (3 if n == 1024 and path == 'fused' else 2) * 1e-9},0,0,{n}\n"
            for n in (512, 1024) for path in ("explicit", "fused")]
    csv.write_text(HEADER + "".join(rows))
    f = cost.figures(cost.read_rows(csv))
    assert f["explicit_slope"] == pytest.approx(2.0)
    assert f["fused_slope"] == pytest.approx(2.0 + math.log(1024) / math.log(2))


def test_a_csv_without_both_paths_is_rejected(tmp_path: Path) -> None:
    csv = tmp_path / "cost.csv"
    csv.write_text(HEADER + "explicit,512,0.1,0.1,0,1\n")
    with pytest.raises(ValueError, match="explicit and fused"):
        cost.read_rows(csv)
