"""Render checked claims: a text table and JSON records (the book's ledger page is built by the
Sphinx extension's ``{claim-ledger}`` directive)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from verified_transformer.claims.ledger import Result


def label(claim_id: str) -> str:
    """The MyST target of a claim: ``claim-`` and the id with its dots replaced by dashes
    (``layernorm.jacobian`` -> ``claim-layernorm-jacobian``)."""
    return "claim-" + claim_id.replace(".", "-")


def _mark(value: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[value]


def text_table(results: Sequence[Result], timing: bool = False) -> str:
    """One line per claim, then a summary line. Deterministic unless ``timing`` is set."""
    width = max([len(r.claim.id) for r in results] + [5])
    header = f"{'claim':<{width}}  symbolic  numeric  wrong variants  status"
    lines = [header + ("  seconds" if timing else ""), "-" * len(header)]
    for r in results:
        rejected = f"{sum(r.rejected.values())}/{len(r.claim.wrong)} rejected"
        line = (
            f"{r.claim.id:<{width}}  {_mark(r.symbolic):<8}  {_mark(r.numeric):<7}  "
            f"{rejected:<14}  {'PASS' if r.passed else 'FAIL'}"
        )
        lines.append(line + (f"  {r.seconds:7.2f}" if timing else ""))
        if r.error:
            lines.append(f"{'':<{width}}  error: {r.error}")
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results)} claims: {len(results) - failed} passed, {failed} failed")
    if timing:
        lines.append(f"checked in {sum(r.seconds for r in results):.1f} s")
    return "\n".join(lines) + "\n"


def json_records(results: Sequence[Result]) -> str:
    """The ``--json`` output: a list of objects with id, kind, displays, source,
    attribution, scope, verdict, symbolic, numeric, passed (and the wrong variants with their
    rejection, and any error)."""
    return json.dumps([r.as_json() for r in results], indent=2, ensure_ascii=False) + "\n"
