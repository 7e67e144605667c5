"""Print the Chromium that the browser test (tests/test_browser.py) should drive.

Usage: python scripts/find_chromium.py   (prints a path and exits 0, or exits 1 if none is found)

The first of these that is an executable file wins:

1. the path in the ``CHROMIUM`` environment variable (any Chromium or Chrome, on any system);
2. the Chromium that Playwright installed for this user (``python -m playwright install
   chromium``, under ``~/.cache/ms-playwright`` on Linux, ``~/Library/Caches/ms-playwright`` on
   macOS), asked of Playwright itself so the version matches the installed ``playwright``;
3. Debian's ``chromium`` package, ``/usr/bin/chromium``.

``make browser`` installs Debian's package with apt-get only when this finds nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")


def playwright_chromium() -> Path | None:
    """Where the installed ``playwright`` package keeps its own Chromium, or None without it."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as pw:
            return Path(pw.chromium.executable_path)
    except Error:
        return None


def is_executable(path: Path) -> bool:
    """True for an existing file that this user may execute."""
    return path.is_file() and os.access(path, os.X_OK)


def find_chromium(
    environ: dict[str, str] | None = None,
    playwright: Path | None = None,
    debian: Path = DEBIAN_CHROMIUM,
) -> tuple[Path, str] | None:
    """The first usable Chromium and where it came from (``"CHROMIUM"``, ``"playwright"`` or
    ``"debian"``), or None. ``environ`` defaults to the process environment and ``playwright``
    to :func:`playwright_chromium`. A ``CHROMIUM`` that is set but not an executable file is an
    error (ValueError naming it), not a reason to look elsewhere."""
    environ = os.environ if environ is None else environ
    named = environ.get("CHROMIUM", "").strip()
    if named:
        path = Path(named).expanduser()
        if not is_executable(path):
            raise ValueError(f"CHROMIUM={named!r} is not an executable file")
        return path, "CHROMIUM"
    if playwright is None:
        playwright = playwright_chromium()
    if playwright is not None and is_executable(playwright):
        return playwright, "playwright"
    if is_executable(debian):
        return debian, "debian"
    return None


def main() -> int:
    try:
        found = find_chromium()
    except ValueError as error:
        print(f"find_chromium: {error}", file=sys.stderr)
        return 2
    if found is None:
        print("find_chromium: no Chromium found (set CHROMIUM, or run "
              "`.venv/bin/python -m playwright install chromium`)", file=sys.stderr)
        return 1
    print(found[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
