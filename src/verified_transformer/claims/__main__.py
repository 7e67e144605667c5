"""``python -m verified_transformer.claims``: check the ledger, print it, exit 1 if a claim fails.

Options: ``--json`` (a list of records), ``--time`` (seconds per claim and in total; off by
default so the output is reproducible), ``--displays`` (print every display, ``id[k]`` and its
LaTeX, and check nothing: what ``tests/claim_displays.txt`` pins), and claim ids to check only
those.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from verified_transformer.claims import CLAIMS, Claim, get, verify
from verified_transformer.claims.report import json_records, text_table


def main(argv: Sequence[str] | None = None, claims: Sequence[Claim] | None = None) -> int:
    """Run the CLI; returns the exit status (0 when every checked claim passes)."""
    parser = argparse.ArgumentParser(
        prog="python -m verified_transformer.claims", description=__doc__.splitlines()[0]
    )
    parser.add_argument("ids", nargs="*", help="check only these claim ids")
    parser.add_argument("--json", action="store_true", help="print JSON records")
    parser.add_argument("--time", action="store_true", help="print seconds per claim and total")
    parser.add_argument("--displays", action="store_true", help="print the displays, check nothing")
    args = parser.parse_args(argv)
    selected = list(claims if claims is not None else CLAIMS)
    if args.displays:
        sys.stdout.writelines(f"{c.id}[{k}] {d}\n" for c in selected
                              for k, d in enumerate(c.displays))
        return 0
    if args.ids:
        try:
            selected = [get(i) for i in args.ids]
        except KeyError as exc:
            parser.error(str(exc.args[0]))
    start = time.perf_counter()
    results = [verify(c) for c in selected]
    elapsed = time.perf_counter() - start
    sys.stdout.write(json_records(results) if args.json else text_table(results, args.time))
    if args.time and args.json:
        sys.stderr.write(f"checked {len(results)} claims in {elapsed:.1f} s\n")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
