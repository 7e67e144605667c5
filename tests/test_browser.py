"""The built HTML book, opened page by page in headless Chromium (issue 8).

``_build/html`` (or ``$VT_HTML_DIR``) is served on 127.0.0.1 and every ``.html`` page is opened
once, the Chinese edition's (``zh_CN/``) too. A page fails on: math that MathJax left unrendered
or rendered as an error, raw TeX in prose, a request to any other host (blocked), a console or page
error, an HTTP error, an internal link or ``#anchor`` that leads nowhere. The same visit gathers
what the reader-feature tests check: the notebook download, the repository link, Chinese section
names in page titles, copy buttons, figure alt text or captions, the language switch, no sideways
scrolling at 390 px, and at 1280 px no display equation or table wider than the text column (cut
off, or scrolled inside its box); on Chinese pages, the font that draws the Chinese text. The
language switch is followed both ways, over HTTP and from disk. Each test lists every failing page.

Screenshots (PNG) land next to the html folder, in ``screenshots/``: ``top/`` (the first 1280 x 900
screen) and ``mobile/`` (the first 390 x 844 screen); with ``VT_FULL_SCREENSHOTS=1`` also ``full/``
(the whole page at 1280 px, which takes as long as the rest of the visit).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import importlib.util
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("VT_HTML_DIR", ROOT / "_build" / "html")).resolve()
SHOTS_DIR = HTML_DIR.parent / "screenshots"
FULL_SCREENSHOTS = os.environ.get("VT_FULL_SCREENSHOTS", "") == "1"
# The Chromium to drive: $VT_CHROMIUM (set by `make browser`), else scripts/find_chromium.py's
# choice ($CHROMIUM, Playwright's own Chromium for this user, Debian's /usr/bin/chromium).
_finder = importlib.util.spec_from_file_location("find_chromium",
                                                 ROOT / "scripts" / "find_chromium.py")
find_chromium_module = importlib.util.module_from_spec(_finder)
_finder.loader.exec_module(find_chromium_module)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",  # containers give /dev/shm only 64 MB
    # Every request that is not for 127.0.0.1 goes to a dead proxy and fails, so nothing leaves the
    # machine; the test records each one. (Unlike page.route, this keeps the HTTP cache on.)
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
SEARCH_QUERIES = {"search.html": "transformer", "zh_CN/search.html": "残差连接"}
CHINESE = "zh_CN/"  # the Chinese edition's folder in the build
SWITCH_PAGE = "notebooks/02_core_concepts.html"  # where the language switch is followed both ways
# Fonts that have Chinese glyphs (fonts-wqy-microhei is what `make browser` installs).
CJK_FONT = re.compile(r"CJK|WenQuanYi|Wen Quan Yi|Source Han|Noto Sans SC|Noto Serif SC|PingFang|"
                      r"Hiragino Sans GB|YaHei|SimSun|SimHei|Droid Sans Fallback|AR PL", re.I)
WORKERS = 3  # pages open at once: with one more tab than cores, one renders while another waits
PAGE_TIMEOUT_S = 60  # to load, render and screenshot one page
CJK_RUN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")

# Resolves once MathJax has typeset the page (pages without math load no MathJax) and fonts are in.
WAIT_FOR_RENDERING = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
}"""

# Resolves once the CSS transitions a resize starts (the theme slides its sidebars) have ended.
SETTLE = """async () => {
  document.documentElement.getBoundingClientRect();  // apply the new width's styles now
  const finite = document.getAnimations()
      .filter(a => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  await Promise.all(finite.map(a => a.finished.catch(() => null)));
  await new Promise(resolve => requestAnimationFrame(() => resolve()));
}"""

# TeX that a reader should never see as text: delimiters, common commands, $...\cmd...$.
TEX_COMMANDS = "|".join(["frac", "sum", "sqrt", "math[a-z]+", "partial", "cdot", "left", "right",
                         "begin", "end", "displaystyle", "operatorname", "epsilon", "sigma",
                         "gamma", "beta", "mu", "top", "infty"])
RAW_TEX = "|".join([
    r"\$\$", r"\\[()\[\]]", r"\$[^$\n]*\\[A-Za-z]+[^$\n]*\$", rf"\\({TEX_COMMANDS})(?![A-Za-z])",
])

# Everything the checks need from one rendered page, gathered in one round trip.
INSPECT = r"""(rawTex) => {
  const skip = 'pre, code, .highlight, script, style, textarea, mjx-container, .math';
  const textNodes = (root, keep) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) if (keep(n)) out.push(n);
    return out;
  };
  const short = s => s.replace(/\s+/g, ' ').trim().slice(0, 100);
  const math = [...document.querySelectorAll('.math')];
  const unrendered = math.filter(el => !el.querySelector('mjx-container')
      || textNodes(el, n => !n.parentElement.closest('mjx-container') && n.textContent.trim())
         .length > 0).map(el => short(el.textContent));
  const errors = [...document.querySelectorAll('mjx-merror')]
      .map(el => short(el.getAttribute('data-mjx-error') || el.textContent));
  const article = document.querySelector('article.bd-article') || document.body;
  const tex = new RegExp(rawTex);
  const strayTex = textNodes(document.body, n => !n.parentElement.closest(skip)
      && tex.test(n.textContent)).map(n => short(n.textContent));
  const images = [...article.querySelectorAll('img')].map(img => ({
      src: img.getAttribute('src'), alt: (img.getAttribute('alt') || '').trim(),
      loaded: img.complete && img.naturalWidth > 0,
      caption: short(img.closest('figure')?.querySelector('figcaption')?.textContent || '')}));
  const code = [...article.querySelectorAll('div.highlight pre')];
  const fontErrors = [...document.fonts].filter(f => f.status === 'error').map(f => f.family);
  return {
    title: document.title,
    mathCount: math.length, unrendered, errors, strayTex, fontErrors, images,
    codeBlocks: code.length,
    codeWithoutCopy: code.filter(pre => !pre.parentElement.querySelector('button.copybtn'))
        .map(pre => short(pre.textContent)),
    links: [...document.querySelectorAll('a[href], link[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
        .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
  };
}"""

# Width of the page against the viewport, and the innermost elements (or their unbreakable text)
# sticking out of it. Off-canvas drawers (fixed, hidden) and the inside of scrolling boxes do not
# widen the page.
OVERFLOW = r"""() => {
  const width = window.innerWidth;
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth <= width) return null;
  const clips = el => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const out = [...document.body.querySelectorAll('*')].filter(el => {
    const box = el.getBoundingClientRect();
    const reach = clips(el) ? box.right : Math.max(box.right, box.left + el.scrollWidth);
    if (reach <= width + 1) return false;
    if (getComputedStyle(el).visibility === 'hidden') return false;
    for (let p = el; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).position === 'fixed' || (p !== el && clips(p))) return false;
    }
    return true;
  });
  const deepest = out.filter(el => !out.some(o => o !== el && el.contains(o)));
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.classList.length ? '.' + [...el.classList].slice(0, 3).join('.') : '');
  const text = el => el.textContent.replace(/\s+/g, ' ').trim().slice(0, 60);
  return {scrollWidth, width, elements: deepest.slice(0, 5).map(el => `${name(el)} "${text(el)}"`)};
}"""


# At desktop width: display equations and tables of the article whose content is wider than the
# text column, either sticking out of it or clipped / scrolled inside a box (MathJax's display
# container scrolls, so a too-long equation is cut off at the column's edge).
WIDE_BLOCKS = r"""() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const column = article.getBoundingClientRect();
  const clips = el => getComputedStyle(el).overflowX !== 'visible';
  const blocks = [...article.querySelectorAll('mjx-container[display="true"], div.math, table')];
  const out = [];
  for (const el of blocks) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || blocks.some(o => o !== el && el.contains(o))) continue;
    let excess = Math.max(box.left + el.scrollWidth, box.right) - column.right;
    for (let p = el; p && p !== article; p = p.parentElement) {
      if (clips(p)) excess = Math.max(excess, p.scrollWidth - p.clientWidth);
    }
    if (excess > 1) {
      const text = el.textContent.replace(/\s+/g, ' ').trim().slice(0, 60);
      out.push(`${el.tagName.toLowerCase()} ${Math.ceil(excess)} px too wide: "${text}"`);
    }
  }
  return out;
}"""


@dataclass
class PageReport:
    """What one visit found: problems by kind, and the facts the reader-feature tests use."""

    path: str
    problems: dict[str, list[str]] = field(default_factory=dict)
    facts: dict = field(default_factory=dict)
    overflow: dict | None = None

    def add(self, kind: str, message: str) -> None:
        """Record one problem of this kind (e.g. 'math', 'external', 'console', 'link')."""
        self.problems.setdefault(kind, []).append(message)


@dataclass
class Crawl:
    """All pages of one site, visited once."""

    base: str
    reports: dict[str, PageReport] = field(default_factory=dict)
    from_disk: dict[str, PageReport] = field(default_factory=dict)  # opened as file:// URLs
    clipboard: tuple[str, str] | None = None  # (copied text, cell text) on a notebook page
    # the language switch followed from a page and back: http / file -> [(URL, lang)] * 3
    switch: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


class QuietHandler(SimpleHTTPRequestHandler):
    """Static file handler that does not log every request to stderr."""

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """A server that lets the browser hang up early (it does when it navigates on)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free port of 127.0.0.1; yield its base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def page_paths(html_dir: Path) -> list[str]:
    """Every .html page of the build, relative to ``html_dir`` (``_static``, also the Chinese
    edition's, holds no pages)."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html_dir).parts)
    )


def redirect_target(file: Path) -> str | None:
    """The URL of a ``<meta http-equiv="Refresh">`` redirect page, else None."""
    match = re.search(r'http-equiv="Refresh" content="\d+; url=([^"]+)"', file.read_text("utf8"))
    return html.unescape(match.group(1)) if match else None


def source_of(path: str) -> Path | None:
    """The .ipynb or .md under the repository that a page (of either edition) was built from."""
    stem = ROOT / path.removeprefix(CHINESE).removesuffix(".html")
    return next((s for s in (stem.with_suffix(".ipynb"), stem.with_suffix(".md")) if s.is_file()),
                None)


def notebook_title(nb: nbformat.NotebookNode) -> str:
    """The first ``# `` heading in a notebook's markdown cells."""
    return markdown_title("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))


def markdown_title(text: str) -> str:
    """The first ``# `` heading of a Markdown text."""
    return next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")


def source_title(source: Path) -> str:
    """The title of a notebook or Markdown source file."""
    if source.suffix == ".ipynb":
        return notebook_title(nbformat.read(source, as_version=4))
    return markdown_title(source.read_text("utf8"))


class Watcher:
    """Listens to one browser tab and files what it sees under the page it is on now."""

    def __init__(self, tab: Page, base: str) -> None:
        self.origin = base
        self.report = PageReport("")
        tab.on("request", self.on_request)
        tab.on("requestfailed", self.on_failure)
        tab.on("response", self.on_response)
        tab.on("console", self.on_console)
        tab.on("pageerror", lambda e: self.report.add("console", f"page error: {e}"))

    def local(self, url: str) -> bool:
        return url.startswith(self.origin) or url.split(":", 1)[0] in ("data", "blob", "about")

    def on_request(self, request) -> None:
        if not self.local(request.url):
            self.report.add("external", f"request to {request.url} (blocked)")

    def on_failure(self, request) -> None:
        # ERR_ABORTED: the page moved on (next navigation) before a late fetch such as the favicon.
        if self.local(request.url) and request.failure != "net::ERR_ABORTED":
            self.report.add("http", f"request for {request.url} failed: {request.failure}")

    def on_response(self, response) -> None:
        if response.status >= 400:
            self.report.add("http", f"{response.status} for {response.url}")

    def on_console(self, message) -> None:
        if message.type == "error":
            self.report.add("console", f"{message.text} ({message.location.get('url')})")


async def inspect(tab: Page, report: PageReport) -> None:
    """Wait for MathJax and fonts, gather the page's facts, file its rendering problems."""
    await tab.evaluate(WAIT_FOR_RENDERING)
    facts = report.facts = await tab.evaluate(INSPECT, RAW_TEX)
    for kind, label in (("unrendered", "unrendered formula"), ("errors", "MathJax error"),
                        ("strayTex", "raw TeX in prose"), ("fontErrors", "font did not load")):
        for text in facts[kind]:
            report.add("math", f"{label}: {text}")
    for image in facts["images"]:
        if not image["loaded"]:
            report.add("http", f"image did not load: {image['src']}")


# Marks the first paragraph of the article whose own text is Chinese (for the font query).
MARK_CHINESE_PARAGRAPH = r"""() => {
  const article = document.querySelector('article.bd-article') || document.body;
  for (const p of article.querySelectorAll('p, li, h1, h2')) {
    if ([...p.childNodes].some(n => n.nodeType === 3 && /[\u4e00-\u9fff]/.test(n.textContent))) {
      p.setAttribute('data-vt-chinese', '');
      return true;
    }
  }
  return false;
}"""


async def chinese_text_fonts(tab: Page) -> dict[str, int]:
    """The fonts Chromium draws the page's first Chinese paragraph with: family -> glyph count
    (DevTools' CSS.getPlatformFontsForNode); empty when the page has no Chinese paragraph."""
    if not await tab.evaluate(MARK_CHINESE_PARAGRAPH):
        return {}
    cdp = await tab.context.new_cdp_session(tab)
    try:
        await cdp.send("DOM.enable")
        await cdp.send("CSS.enable")
        root = (await cdp.send("DOM.getDocument", {"depth": 0}))["root"]["nodeId"]
        node = await cdp.send("DOM.querySelector", {"nodeId": root,
                                                    "selector": "[data-vt-chinese]"})
        fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    finally:
        await cdp.detach()
    return {f["familyName"]: f["glyphCount"] for f in fonts["fonts"]}


async def follow_language_switch(tab: Page, url: str) -> list[tuple[str, str]]:
    """Open ``url``, click the language switch, then click it again: (URL, <html lang>) of the
    three pages."""
    await tab.goto(url, wait_until="load")
    seen = [(tab.url, await tab.evaluate("document.documentElement.lang"))]
    for _ in range(2):
        link = tab.locator("nav.vt-language-switch a.vt-edition").first
        async with tab.expect_navigation(wait_until="load"):
            await link.click()
        seen.append((tab.url, await tab.evaluate("document.documentElement.lang")))
    return seen


async def visit(
    tab: Page, watcher: Watcher, path: str, html_dir: Path, shots: Path, full_page: bool
) -> PageReport:
    """Open one page over HTTP, inspect it, screenshot it wide (and whole, if ``full_page``) and
    narrow."""
    report = watcher.report = PageReport(path)
    base = watcher.origin
    await tab.set_viewport_size(DESKTOP)
    query = f"?q={SEARCH_QUERIES[path]}" if path in SEARCH_QUERIES else ""
    await tab.goto(base + path + query, wait_until="load")
    redirect = redirect_target(html_dir / path)
    if redirect:
        target = base + (Path(path).parent / redirect).as_posix().removeprefix("./")
        try:
            await tab.wait_for_url(target, timeout=5000, wait_until="commit")
        except PlaywrightTimeout:
            report.add("link", f"redirect to {redirect} never arrived")
        report.facts = {"links": [target], "ids": []}
        return report
    if query:
        summary = await tab.wait_for_selector(".search-summary", timeout=10000)
        found = re.search(r"(\d+)", await summary.text_content() or "")  # "found 12 page(s)"
        hits = await tab.locator("#search-results li").count()
        if not found or int(found.group(1)) == 0 or hits == 0:
            report.add("search", f"searching '{SEARCH_QUERIES[path]}' found nothing")
    await inspect(tab, report)
    if path.startswith(CHINESE):
        report.facts["cjkFonts"] = await chinese_text_fonts(tab)
    report.facts["downloads"] = {}  # .ipynb links -> the served file's text (None: not served)
    for url in {u for u in report.facts["links"] if u.startswith(base)
                and urlsplit(u).path.endswith(".ipynb")}:
        response = await tab.request.get(url)
        report.facts["downloads"][url] = await response.text() if response.ok else None
    name = path.removesuffix(".html").replace("/", "__") + ".png"
    report.facts["wideBlocks"] = await tab.evaluate(WIDE_BLOCKS)
    report.facts["switchOnDesktop"] = await tab.locator("nav.vt-language-switch").is_visible()
    if full_page:
        await tab.screenshot(path=shots / "full" / name, full_page=True, animations="disabled")
    await tab.screenshot(path=shots / "top" / name, animations="disabled")
    await tab.set_viewport_size(MOBILE)
    await tab.evaluate(SETTLE)
    report.overflow = await tab.evaluate(OVERFLOW)
    report.facts["switchOnPhone"] = await tab.locator("nav.vt-language-switch").is_visible()
    await tab.screenshot(path=shots / "mobile" / name, animations="disabled")
    return report


async def visit_file(tab: Page, watcher: Watcher, path: str, html_dir: Path) -> PageReport:
    """Open one page straight from disk (file://), as a reader without a server does."""
    report = watcher.report = PageReport(f"{path} (file://)")
    await tab.goto((html_dir / path).as_uri(), wait_until="load")
    redirect = redirect_target(html_dir / path)
    if redirect:
        target = (html_dir / path).parent.joinpath(redirect).resolve().as_uri()
        await tab.wait_for_url(target, timeout=5000, wait_until="load")
    await inspect(tab, report)
    return report


async def copy_first_code_cell(tab: Page) -> tuple[str, str] | None:
    """Click the copy button of the first visible code cell (a set-up cell tagged hide-input is
    collapsed); return (clipboard text, cell text)."""
    cells = await tab.query_selector_all(".cell_input div.highlight")
    visible = [c for c, shown in zip(cells, [await c.is_visible() for c in cells], strict=True)
               if shown]
    if not visible:
        return None
    cell = visible[0]
    await tab.bring_to_front()  # the clipboard answers the focused tab only
    await cell.hover()
    await (await cell.query_selector("button.copybtn")).click()
    copied = await tab.evaluate("navigator.clipboard.readText()")
    return copied, await (await cell.query_selector("pre")).text_content() or ""


def chromium_executable() -> str:
    """$VT_CHROMIUM if set, else the first Chromium that scripts/find_chromium.py finds."""
    named = os.environ.get("VT_CHROMIUM")
    if named:
        if not Path(named).is_file():
            pytest.fail(f"VT_CHROMIUM={named} is missing", pytrace=False)
        return named
    try:
        found = find_chromium_module.find_chromium()
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)
    if found is None:
        pytest.fail("no Chromium: set CHROMIUM, run `.venv/bin/python -m playwright install "
                    "chromium`, or let `make browser` install Debian's", pytrace=False)
    return str(found[0])


async def visit_all(
    base: str, paths: list[str], html_dir: Path, shots: Path, full_page: bool
) -> Crawl:
    """Visit ``paths`` with WORKERS tabs of one headless Chromium."""
    chromium = chromium_executable()
    crawl, queue = Crawl(base), list(paths)

    async def worker(context) -> None:
        tab = await context.new_page()
        watcher = Watcher(tab, base)
        while queue:
            path = queue.pop(0)
            try:
                visiting = visit(tab, watcher, path, html_dir, shots, full_page)
                crawl.reports[path] = await asyncio.wait_for(visiting, PAGE_TIMEOUT_S)
            except (TimeoutError, PlaywrightError) as error:
                report = crawl.reports[path] = watcher.report
                report.add("load", f"did not load, render and screenshot: {error!r}"[:300])
                report.facts = {"links": [], "ids": []}
                continue
            source = source_of(path)
            if crawl.clipboard is None and source is not None and source.suffix == ".ipynb":
                await tab.set_viewport_size(DESKTOP)
                try:
                    crawl.clipboard = await copy_first_code_cell(tab)
                except PlaywrightError as error:
                    crawl.clipboard = (f"copying failed: {error!r}", "")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport=DESKTOP)
        await context.grant_permissions(["clipboard-read", "clipboard-write"],
                                        origin=base.rstrip("/"))
        await asyncio.gather(*(worker(context) for _ in range(WORKERS)))
        # Without a server too: the entry page and the page with the most formulas.
        tab = await context.new_page()
        watcher = Watcher(tab, html_dir.as_uri() + "/")
        most_math = max(crawl.reports, key=lambda p: crawl.reports[p].facts.get("mathCount", 0))
        entries = ["index.html", most_math]
        if (html_dir / CHINESE / "index.html").is_file():
            entries.append(CHINESE + "index.html")
        for path in dict.fromkeys(entries):
            crawl.from_disk[path] = await visit_file(tab, watcher, path, html_dir)
        if (html_dir / CHINESE / SWITCH_PAGE).is_file():
            for how, url in (("http", base + SWITCH_PAGE),
                             ("file", (html_dir / SWITCH_PAGE).as_uri())):
                switch_tab = await context.new_page()  # unwatched: the pages were checked above
                try:
                    crawl.switch[how] = await follow_language_switch(switch_tab, url)
                except PlaywrightError as error:
                    crawl.switch[how] = [(f"following the switch failed: {error!r}"[:300], "")]
                await switch_tab.close()
        await browser.close()
    return crawl


def crawl_site(html_dir: Path, shots: Path, full_page: bool = FULL_SCREENSHOTS) -> Crawl:
    """Serve ``html_dir``, visit every page, then check every internal link and anchor."""
    for folder in ("full", "top", "mobile") if full_page else ("top", "mobile"):
        (shots / folder).mkdir(parents=True, exist_ok=True)
    with serve(html_dir) as base:
        crawl = asyncio.run(visit_all(base, page_paths(html_dir), html_dir, shots, full_page))
    rendered_ids = {p: set(r.facts["ids"]) for p, r in crawl.reports.items()}
    for report in crawl.reports.values():
        for problem in broken_links(report.facts["links"], base, html_dir, rendered_ids):
            report.add("link", problem)
    return crawl


def file_ids(file: Path) -> set[str]:
    """Element ids in a static HTML file (for pages the crawl did not render)."""
    text = file.read_text("utf8", errors="replace")
    return {html.unescape(m) for m in re.findall(r'\b(?:id|name)="([^"]+)"', text)}


def broken_links(
    links: list[str], base: str, html_dir: Path, rendered_ids: dict[str, set[str]]
) -> list[str]:
    """Internal links whose file is missing under ``html_dir`` or whose ``#fragment`` is no id."""
    problems = []
    for link in sorted(set(links)):
        if not link.startswith(base):
            continue  # links out are for readers online; only requests out are forbidden
        parts = urlsplit(link)
        path = unquote(parts.path).removeprefix("/")
        if path == "" or path.endswith("/"):
            path += "index.html"
        target = html_dir / path
        if not target.is_file():
            problems.append(f"link to missing file {path}")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html":
            if fragment not in (rendered_ids.get(path) or file_ids(target)):
                problems.append(f"link to missing anchor {path}#{fragment}")
    return problems


def undescribed(report: PageReport) -> list[str]:
    """Sources of the page's content images with no caption and no alt text but their file name
    (myst-nb's default alt is the image path)."""
    return [
        image["src"] for image in report.facts.get("images", [])
        if not image["caption"] and (
            not image["alt"] or "_images/" in image["alt"] or image["alt"] == image["src"]
            or image["alt"].lower().endswith((".png", ".svg", ".jpg", ".jpeg", ".gif")))
    ]


def fail_on(failures: dict[str, list[str]], what: str) -> None:
    """Fail with every page's problems at once (one block per page), if there are any."""
    text = "\n".join(f"{page}:\n" + "\n".join(f"  - {p}" for p in problems)
                     for page, problems in sorted(failures.items()) if problems)
    if text:
        pytest.fail(f"{what}:\n{text}", pytrace=False)


@pytest.fixture(scope="module")
def crawl() -> Crawl:
    """Serve the built book and visit every page once (about a second per page)."""
    if not (HTML_DIR / "index.html").is_file():
        pytest.fail(
            f"no built book at {HTML_DIR}: run `make book` first (or set VT_HTML_DIR)",
            pytrace=False,
        )
    shutil.rmtree(SHOTS_DIR, ignore_errors=True)
    return crawl_site(HTML_DIR, SHOTS_DIR)


@pytest.fixture(scope="module")
def content_pages(crawl: Crawl) -> dict[str, PageReport]:
    """Pages built from a source file of the book (not search, genindex or redirects)."""
    pages = {p: r for p, r in crawl.reports.items() if source_of(p) is not None}
    assert pages, "no page of the build comes from a book source file"
    return pages


@pytest.fixture(scope="module")
def notebook_pages(content_pages: dict[str, PageReport]) -> dict[str, PageReport]:
    """Pages built from a notebook."""
    pages = {p: r for p, r in content_pages.items() if source_of(p).suffix == ".ipynb"}
    assert pages, "no notebook page in the build"
    return pages


def test_every_page_renders_offline_without_errors(crawl: Crawl) -> None:
    kinds = ("load", "math", "external", "console", "http", "link", "search")
    reports = [*crawl.reports.values(), *crawl.from_disk.values()]
    failures = {r.path: [f"[{k}] {m}" for k in kinds for m in r.problems.get(k, [])]
                for r in reports}
    fail_on(failures, "pages that do not render cleanly offline")
    assert {"index.html", "search.html", "genindex.html"} <= set(crawl.reports)
    assert {f"{CHINESE}index.html", f"{CHINESE}search.html"} <= set(crawl.reports)
    assert {"index.html", f"{CHINESE}index.html"} <= set(crawl.from_disk)
    assert sum(r.facts.get("mathCount", 0) for r in crawl.reports.values()) > 0


def test_notebook_pages_offer_their_ipynb_for_download(
    notebook_pages: dict[str, PageReport],
) -> None:
    failures = {}
    for path, report in notebook_pages.items():
        downloads = report.facts.get("downloads", {})
        problems = [] if downloads else ["no .ipynb download link"]
        for url, text in downloads.items():
            try:
                nb = nbformat.reads(text, as_version=4)
                nbformat.validate(nb)
            except (TypeError, ValueError, nbformat.ValidationError) as error:
                problems.append(f"{url} does not serve a valid notebook: {error!r}"[:300])
                continue
            if notebook_title(nb) != source_title(source_of(path)):
                problems.append(f"{url} is not the notebook of this page")
        failures[path] = problems
    fail_on(failures, "notebook pages without a working .ipynb download")


def test_pages_link_the_repository(content_pages: dict[str, PageReport]) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text("utf8"))
    repo = config["repository"]["url"].rstrip("/")
    missing = {p: ["no link to " + repo] for p, r in content_pages.items()
               if not any(u.rstrip("/") == repo for u in r.facts["links"])}
    fail_on(missing, "pages without the repository link")


def test_page_titles_carry_the_chinese_section_names(
    content_pages: dict[str, PageReport],
) -> None:
    failures = {}
    for path, report in content_pages.items():
        wanted = CJK_RUN.findall(source_title(source_of(path)))
        if path.startswith(CHINESE):
            # the Chinese title is the book's own with the article's heading as 原文, once
            # (附录：常见问题（原文：常见问题与解答）: the article's 附录： is the book's too)
            wanted = [w.removeprefix("附录：") for w in wanted]
        chapter = Path(path).name[0].isdigit()
        if chapter and not wanted:
            failures[path] = ["chapter page whose source title has no Chinese section name"]
        title = report.facts.get("title", "")
        missing = [w for w in wanted if w not in title]
        if missing:
            failures[path] = [f"<title> {title!r} lacks {missing}"]
    fail_on(failures, "page titles without the Chinese section name")


def test_code_cells_have_working_copy_buttons(
    crawl: Crawl, notebook_pages: dict[str, PageReport]
) -> None:
    failures = {p: [f"no copy button on: {c}" for c in r.facts["codeWithoutCopy"]]
                for p, r in crawl.reports.items() if "codeWithoutCopy" in r.facts}
    fail_on(failures, "code blocks without a copy button")
    assert sum(r.facts.get("codeBlocks", 0) for r in notebook_pages.values()) > 0
    assert crawl.clipboard is not None, "no notebook page has a code cell to copy"
    copied, code = crawl.clipboard
    assert copied.strip() == code.strip(), "the copy button did not copy the cell's code"


def test_figures_have_alt_text_or_caption(crawl: Crawl) -> None:
    failures = {p: [f"image {src} has neither alt text nor caption" for src in undescribed(r)]
                for p, r in crawl.reports.items()}
    fail_on(failures, "images a screen reader cannot describe")


def test_narrow_viewport_has_no_horizontal_overflow(crawl: Crawl) -> None:
    failures = {
        p: [f"page is {o['scrollWidth']} px wide at {o['width']} px; sticking out: "
            + ", ".join(o["elements"])]
        for p, r in crawl.reports.items() if (o := r.overflow)
    }
    fail_on(failures, "pages wider than a 390 px phone screen")
    folders = ("full", "top", "mobile") if FULL_SCREENSHOTS else ("top", "mobile")
    assert all((SHOTS_DIR / f / "book__intro.png").is_file() for f in folders)


def test_display_math_and_tables_fit_the_text_column_at_desktop_width(crawl: Crawl) -> None:
    failures = {p: r.facts.get("wideBlocks", []) for p, r in crawl.reports.items()}
    fail_on(failures, f"display equations or tables wider than the text column at "
                      f"{DESKTOP['width']} px")
    assert all("wideBlocks" in r.facts for p, r in crawl.reports.items()
               if not redirect_target(HTML_DIR / p) and not r.problems.get("load"))


def test_every_english_page_has_its_chinese_page(crawl: Crawl) -> None:
    english = {p for p in crawl.reports if not p.startswith(CHINESE)}
    chinese = {p.removeprefix(CHINESE) for p in crawl.reports if p.startswith(CHINESE)}
    assert english == chinese, {"only English": sorted(english - chinese),
                                "only Chinese": sorted(chinese - english)}


def test_the_language_switch_is_on_every_page_at_both_widths(
    content_pages: dict[str, PageReport],
) -> None:
    failures = {p: [f"no visible language switch at {w} px" for w, key in
                    ((DESKTOP["width"], "switchOnDesktop"), (MOBILE["width"], "switchOnPhone"))
                    if not r.facts.get(key)]
                for p, r in content_pages.items()}
    fail_on(failures, "pages without a language switch")
    assert any(p.startswith(CHINESE) for p in content_pages)


def test_the_language_switch_leads_to_the_same_page_and_back(crawl: Crawl) -> None:
    """Followed twice from a chapter, over HTTP and from disk: Chinese, then English again."""
    for how in ("http", "file"):
        seen = crawl.switch.get(how)
        assert seen and len(seen) == 3, f"{how}: {seen}"
        (start, lang0), (there, lang1), (back, lang2) = seen
        assert start.endswith("/" + SWITCH_PAGE) and lang0 == "en", f"{how}: {seen}"
        assert there.endswith("/" + CHINESE + SWITCH_PAGE) and lang1 == "zh-CN", f"{how}: {seen}"
        assert back == start and lang2 == "en", f"{how}: {seen}"


def test_chinese_pages_show_chinese_text_in_a_chinese_font(crawl: Crawl) -> None:
    chinese = {p: r for p, r in crawl.reports.items()
               if p.startswith(CHINESE) and source_of(p) is not None}
    assert chinese, "no Chinese content page in the build"
    failures = {}
    for path, report in chinese.items():
        fonts = report.facts.get("cjkFonts")
        if not fonts:
            failures[path] = ["no paragraph of Chinese text found"]
        elif not any(CJK_FONT.search(name) and n > 0 for name, n in fonts.items()):
            failures[path] = [f"Chinese text drawn with {fonts}, none a Chinese font"]
    fail_on(failures, "Chinese pages whose Chinese text is not drawn in a CJK font")


def test_checker_catches_a_broken_page(tmp_path: Path) -> None:
    """The same crawl over a deliberately broken two-page site reports every kind of problem."""
    (tmp_path / "index.html").write_text(
        '<html><head><title>Broken</title></head><body><article class="bd-article">'
        '<span class="math">\\(x^2\\)</span><p>Raw $\\frac{a}{b}$ here.</p>'
        '<img src="https://example.invalid/x.png" alt="">'
        '<a href="missing.html">gone</a> <a href="other.html#nowhere">no anchor</a>'
        '<div style="width:900px">wide</div>'
        '<table><tr><td><div style="width:1400px">a table wider than the column</div></td></tr>'
        '</table>'
        '<div class="math" style="overflow-x:auto"><span style="display:inline-block;'
        'width:1500px">a long equation, scrolled inside its box</span></div>'
        '<script>console.error("boom")</script></article></body></html>'
    )
    (tmp_path / "other.html").write_text("<html><body><p id='here'>ok</p></body></html>")
    shots = tmp_path / "shots"
    report = crawl_site(tmp_path, shots, full_page=True).reports["index.html"]
    found = report.problems
    assert any("unrendered formula" in m for m in found["math"])
    assert any("raw TeX in prose" in m for m in found["math"])
    assert found["external"] == ["request to https://example.invalid/x.png (blocked)"]
    assert any("boom" in m for m in found["console"])
    assert set(found["link"]) == {"link to missing file missing.html",
                                  "link to missing anchor other.html#nowhere"}
    assert report.overflow is not None and report.overflow["scrollWidth"] > MOBILE["width"]
    assert undescribed(report) == ["https://example.invalid/x.png"]
    wide = report.facts["wideBlocks"]
    assert len(wide) == 2 and wide[0].startswith("table ") and wide[1].startswith("div ")
    assert crawl_site(tmp_path, tmp_path / "few").reports["other.html"].facts["wideBlocks"] == []
    assert all((shots / f / "index.png").is_file() for f in ("full", "top", "mobile"))


def test_exercise_solutions_are_collapsed_until_clicked() -> None:
    """On an exercises page (issue 14) every solution starts collapsed: its worked code and the
    checker's verdict are hidden; a click on the solution's title shows them."""
    page_path = "notebooks/02_exercises.html"
    if not (HTML_DIR / page_path).is_file():
        pytest.fail(f"no {page_path} in {HTML_DIR}: run `make book` first", pytrace=False)

    async def inspect(base: str) -> dict[str, object]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_executable(),
                                               args=CHROMIUM_ARGS)
            tab = await browser.new_page(viewport=DESKTOP)
            await tab.goto(base + page_path, wait_until="load")  # togglebutton ran on DOM ready
            solutions = tab.locator("div.solution")
            count = await solutions.count()
            hidden = [await solutions.nth(i).evaluate("e => e.classList.contains('toggle-hidden')")
                      for i in range(count)]
            first = solutions.first
            code = first.locator("div.cell_input").first
            output = first.locator("div.cell_output").first
            before = (await code.is_visible(), await output.is_visible())
            await first.locator(".admonition-title").click()
            with contextlib.suppress(PlaywrightTimeout):  # the assertions below say what failed
                await code.wait_for(state="visible", timeout=3000)
            after = (await code.is_visible(), await output.is_visible())
            shown = (await code.inner_text(), await output.inner_text())
            await first.locator(".admonition-title").click()
            with contextlib.suppress(PlaywrightTimeout):
                await code.wait_for(state="hidden", timeout=3000)
            collapsed_again = not await code.is_visible()
            await browser.close()
        return {"count": count, "hidden": hidden, "before": before, "after": after,
                "shown": shown, "collapsed_again": collapsed_again}

    with serve(HTML_DIR) as base:
        seen = asyncio.run(inspect(base))
    assert seen["count"] >= 4, seen
    assert all(seen["hidden"]), f"solutions not collapsed on load: {seen['hidden']}"
    assert seen["before"] == (False, False), "a collapsed solution's code or output is visible"
    assert seen["after"] == (True, True), "clicking the solution's title did not show it"
    code_text, output_text = seen["shown"]
    assert "def layer_norm_2d" in code_text and 'check("layer_norm_2d"' in code_text, code_text
    assert output_text.strip().startswith("Correct:"), output_text
    assert seen["collapsed_again"], "a second click did not collapse the solution"


BADGE_PAGE = "notebooks/04c_layernorm_math.html"  # a chapter with {claim} blocks


@pytest.mark.parametrize(("edition", "badge"), [("", "definition ✓"), (CHINESE, "定义 ✓")])
def test_a_claim_badge_opens_on_its_verdict_and_links_its_ledger_entry(
    edition: str, badge: str
) -> None:
    """A {claim} block shows its kind and a check mark, closed; a click opens the verdict
    (without script: <details>), and its link leads to the claim's entry on the ledger page."""
    page_path = edition + BADGE_PAGE
    if not (HTML_DIR / page_path).is_file():
        pytest.fail(f"no {page_path} in {HTML_DIR}: run `make book` first", pytrace=False)

    async def inspect(base: str) -> dict[str, object]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_executable(),
                                               args=CHROMIUM_ARGS)
            tab = await browser.new_page(viewport=DESKTOP, java_script_enabled=False)
            await tab.goto(base + page_path, wait_until="load")
            details = tab.locator("div.vt-claim details.vt-claim-badge").first
            verdict, link = details.locator("ul.vt-claim-verdict"), details.locator("a").first
            shown = lambda: asyncio.gather(details.evaluate("d => d.open"),  # noqa: E731
                                           verdict.is_visible(), link.is_visible())
            before = await shown()
            summary = (await details.locator("summary").inner_text()).strip()
            await details.locator("summary").click()
            after = await shown()
            sentences = await verdict.locator("li").all_inner_texts()
            claim_id = await link.get_attribute("title")
            async with tab.expect_navigation(wait_until="load"):
                await link.click()
            url = urlsplit(tab.url)
            entry = tab.locator(f'section[id="{unquote(url.fragment)}"] > h3')
            heading = await entry.inner_text() if await entry.count() == 1 else None
            await browser.close()
        return {"before": before, "summary": summary, "after": after, "sentences": sentences,
                "claim": claim_id, "path": url.path, "heading": heading}

    with serve(HTML_DIR) as base:
        seen = asyncio.run(inspect(base))
    assert seen["summary"] == badge, seen
    assert seen["before"] == [False, False, False], f"the verdict shows before a click: {seen}"
    assert seen["after"] == [True, True, True], f"a click did not open the verdict: {seen}"
    language = CJK_RUN if edition else re.compile(r"wrong variants? rejected\.$")
    assert len(seen["sentences"]) >= 2 and language.search(seen["sentences"][-1]), seen
    assert seen["path"] == f"/{edition}book/claims_ledger.html", seen
    assert seen["heading"] is not None and seen["claim"] in seen["heading"], seen
