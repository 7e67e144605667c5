"""scripts/find_chromium.py: which Chromium the browser test drives, in the documented order."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "find_chromium.py"
_spec = importlib.util.spec_from_file_location("find_chromium", SCRIPT)
find_chromium_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(find_chromium_module)
find_chromium = find_chromium_module.find_chromium


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_chromium_variable_comes_first(tmp_path: Path) -> None:
    mine = executable(tmp_path / "my chrome")
    pw = executable(tmp_path / "ms-playwright" / "chrome")
    debian = executable(tmp_path / "usr" / "chromium")
    assert find_chromium({"CHROMIUM": str(mine)}, pw, debian) == (mine, "CHROMIUM")
    assert find_chromium({}, pw, debian) == (pw, "playwright")
    assert find_chromium({"CHROMIUM": "  "}, pw, debian) == (pw, "playwright")
    assert find_chromium({}, tmp_path / "not installed", debian) == (debian, "debian")
    assert find_chromium({}, tmp_path / "not installed", tmp_path / "none") is None


def test_a_chromium_variable_that_names_no_program_is_an_error(tmp_path: Path) -> None:
    debian = executable(tmp_path / "chromium")
    plain = tmp_path / "not-executable"
    plain.write_text("")
    for named in (tmp_path / "missing", plain, tmp_path):
        with pytest.raises(ValueError, match="CHROMIUM="):
            find_chromium({"CHROMIUM": str(named)}, None, debian)


def test_playwright_is_asked_where_its_chromium_lives() -> None:
    path = find_chromium_module.playwright_chromium()
    assert path is not None and path.is_absolute()
    assert path.name in ("chrome", "chrome.exe", "Chromium", "headless_shell")


def test_the_script_prints_the_path_or_says_what_to_do(tmp_path: Path) -> None:
    mine = executable(tmp_path / "chrome")
    env = {**os.environ, "CHROMIUM": str(mine)}
    done = subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"{mine}\n")
    env["CHROMIUM"] = str(tmp_path / "missing")
    done = subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "is not an executable file" in done.stderr
