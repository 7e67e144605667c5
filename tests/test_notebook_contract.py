"""The notebook contract: every chapter notebook is in the table of contents, stored executed top
to bottom, and free of error output outside cells tagged ``raises-exception``.

nbval (run by ``make test``) then re-executes each notebook and compares it with these stored
outputs; a notebook stored without outputs would pass nbval while checking nothing, hence this file.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb"))

# An absolute file path in stored output: POSIX (two or more components after the root, not part
# of a URL, a fraction or a longer word), home-relative (~/...), or Windows (C:\...).
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/~+%-])/(?:[\w.@-]+/)+[\w.@-]*|(?<![\w/])~/[\w.@-]+|\b[A-Za-z]:\\[\w.@-]+"
)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def toc_files(node: object) -> list[str]:
    """Every ``file:`` and ``root:`` entry of a parsed ``_toc.yml``, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(toc_files(item))
    return found


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def contract_violations(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with a notebook's stored state; empty when it honours the contract."""
    problems = []
    cells = code_cells(nb)
    counts = [c.get("execution_count") for c in cells]
    if counts != list(range(1, len(cells) + 1)):
        problems.append(f"execution counts are {counts}, expected 1..{len(cells)} (top to bottom)")
    if cells and not any(c.outputs for c in cells):
        problems.append("no code cell has a stored output: the notebook was stored unexecuted")
    for index, cell in enumerate(cells, start=1):
        tagged = "raises-exception" in cell.metadata.get("tags", [])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors and not tagged:
            problems.append(f"code cell {index} stores an error but is not tagged raises-exception")
        if tagged and not errors:
            problems.append(f"code cell {index} is tagged raises-exception but stores no error")
    return problems


def stored_texts(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(code cell number, text) for every stored output's text: streams, text MIME types (not
    images), error names, messages and tracebacks, with terminal colour codes removed."""
    texts = []
    for index, cell in enumerate(code_cells(nb), start=1):
        for output in cell.outputs:
            parts = [output.get("text", ""), output.get("ename", ""), output.get("evalue", ""),
                     *output.get("traceback", [])]
            for mime, value in output.get("data", {}).items():
                if not mime.startswith("image/") or mime == "image/svg+xml":
                    parts.append(value if isinstance(value, str) else "".join(value))
            texts.extend((index, ANSI_ESCAPE.sub("", part)) for part in parts if part)
    return texts


def absolute_paths(nb: nbformat.NotebookNode) -> list[str]:
    """Absolute file paths in a notebook's stored outputs: they depend on the machine and folder
    the notebook ran in, not on its code."""
    return [f"code cell {index}: {match.group(0)}"
            for index, text in stored_texts(nb) for match in ABSOLUTE_PATH.finditer(text)]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


def test_toc_lists_exactly_existing_pages() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book"
    entries = toc_files(toc)
    assert len(entries) == len(set(entries)), f"a page is listed twice: {entries}"
    for entry in entries:
        candidates = [ROOT / f"{entry}{suffix}" for suffix in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists missing page {entry!r}"
    listed = set(entries)
    for nb_path in NOTEBOOKS:
        stem = nb_path.relative_to(ROOT).with_suffix("").as_posix()
        assert stem in listed, f"{stem}.ipynb is not listed in _toc.yml"
    for md_path in sorted((ROOT / "book").glob("*.md")):
        stem = md_path.relative_to(ROOT).with_suffix("").as_posix()
        assert stem in listed, f"{stem}.md is not listed in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert contract_violations(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_title_carries_the_chinese_section_title(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    title = first.source.splitlines()[0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in title), f"no Chinese title in {title!r}"


def _executed(sources: list[str], counts: list[int | None], tags: list[list[str]],
              errors: list[bool]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for source, count, tag, error in zip(sources, counts, tags, errors, strict=True):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.metadata["tags"] = tag
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
        if error:
            cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])]
        nb.cells.append(cell)
    return nb


def test_contract_rejects_unexecuted_out_of_order_and_untagged_errors() -> None:
    good = _executed(["a", "b"], [1, 2], [[], []], [False, False])
    assert contract_violations(good) == []
    unexecuted = _executed(["a", "b"], [None, None], [[], []], [False, False])
    for cell in unexecuted.cells:
        cell.outputs = []
    assert len(contract_violations(unexecuted)) == 2
    assert contract_violations(_executed(["a", "b"], [2, 1], [[], []], [False, False]))
    assert contract_violations(_executed(["a", "b"], [1, 3], [[], []], [False, False]))
    assert contract_violations(_executed(["a"], [1], [[]], [True]))
    assert contract_violations(_executed(["a"], [1], [["raises-exception"]], [False]))
    assert contract_violations(_executed(["a"], [1], [["raises-exception"]], [True])) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_contain_no_absolute_path(path: Path) -> None:
    assert absolute_paths(nbformat.read(path, as_version=4)) == []


def test_absolute_paths_are_found_in_every_kind_of_output() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/ada/run.txt\n"),
        nbformat.v4.new_output("error", ename="E", evalue="", traceback=[
            "\x1b[32m/work/main/.venv/lib/python3.11/site-packages/torch/x.py\x1b[39m"]),
        nbformat.v4.new_output("execute_result", data={"text/plain": "'C:\\Users\\ada'",
                                                       "text/html": "<a>~/notes.txt</a>"}),
    ]
    nb.cells.append(cell)
    found = absolute_paths(nb)
    assert found == ["code cell 1: /home/ada/run.txt",
                     "code cell 1: /work/main/.venv/lib/python3.11/site-packages/torch/x.py",
                     "code cell 1: C:\\Users", "code cell 1: ~/notes.txt"]
    clean = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x", execution_count=1)
    ok.outputs = [
        nbformat.v4.new_output("stream", name="stdout",
                               text="see https://pytorch.org/docs/stable/nn.html, 1/2/3, a/b/c, "
                                    "</td></tr> and ln(2)/2\n"),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR/abc/def/+/x/y"}),
    ]
    clean.cells.append(ok)
    assert absolute_paths(clean) == []


# An absolute path written in code: a string literal that starts at a file system root (two or
# more components: "/usr/share/...", "/proc/cpuinfo"), at a home folder ("~/...") or at a Windows
# drive ("C:\\..."). A reader's machine need not have it; the book ships what it reads.
SYSTEM_PATH = re.compile(r"""(?<![\w])[rbuf]*["'](?:(?:/[\w.@+-]+){2,}|~/|[A-Za-z]:\\)""")


def system_paths(source: str) -> list[str]:
    """The string literals in ``source`` that begin with an absolute path."""
    return [match.group(0) for match in SYSTEM_PATH.finditer(source)]


def test_system_paths_are_found_and_relative_ones_are_not() -> None:
    code = '''Path("/usr/share/fonts/x.ttc"); open('/proc/cpuinfo'); p = r"C:\\\\Windows\\\\Fonts"
home = "~/data"; ok = ("a/b/c", "p'/sqrt(u')", "/", "1/2", "notebooks/x.ipynb", "/tmp")'''
    assert system_paths(code) == ['"/usr/share/fonts/x.ttc', "'/proc/cpuinfo", 'r"C:\\', '"~/']


def test_no_notebook_or_library_code_names_a_system_path() -> None:
    found = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(code_cells(nbformat.read(path, as_version=4)), start=1):
            found += [f"{path.name}, code cell {index}: {p}" for p in system_paths(cell.source)]
    for path in sorted((ROOT / "src").rglob("*.py")):
        found += [f"{path.relative_to(ROOT)}: {p}"
                  for p in system_paths(path.read_text(encoding="utf-8"))]
    assert found == [], "code that reads a path a reader's machine may lack:\n" + "\n".join(found)
