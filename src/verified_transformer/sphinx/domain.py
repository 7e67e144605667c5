"""The ``claim`` domain: the claims ledger as Sphinx objects, and the markup that shows them.

``{claim-ledger}`` (the ledger page)
    builds the page from the ledger itself: a summary, a table of every claim and one section per
    claim (its displays, verdict, source, wrong variants, note). Each section is the claim's
    object in the domain (``objects.inv``, the search index) and the target of the std label
    ``claim-<id, dots as dashes>`` (so ``{ref}`words <claim-layernorm-definition>``` resolves).

``{claim} <id>`` (a chapter)
    the claim's displayed equations (all, ``:display: 0, 2``, or ``:display: none``), generated
    by the ledger from the SymPy objects its checks run on, and a compact badge ("identity ✓")
    that opens (``<details>``, no script) on the full verdict and a link to the ledger entry.

``{claim}`id``` / ``{claim}`id[k]```
    display k (default 0) inline, as a link to the ledger entry.

``{claim:ref}`words <id>```
    a link to the ledger entry (words, or the id when none are given).

``{article-formula}``
    the only hand-typed display math of the book: one of the source article's formulas, quoted to
    be refuted, with its section and links to the claims (``:refuted-by:``) or the section
    (``:refuted-in:``, a label) that refute it.

An unknown id is an error naming the id and the known ones; a link to a claim that no
``{claim-ledger}`` lists is a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.domains import Domain, ObjType
from sphinx.roles import XRefRole
from sphinx.util.docutils import SphinxDirective, SphinxRole
from sphinx.util.nodes import make_refnode

from verified_transformer.claims import verdicts
from verified_transformer.i18n import catalog, needs_translation
from verified_transformer.sphinx import display_math
from verified_transformer.sphinx.editions import edition_of
from verified_transformer.sphinx.i18n import CATALOG, gettext, ngettext, warn_untranslated


def _claims() -> ModuleType:
    """The ledger, imported when a page first needs it (it imports SymPy)."""
    from verified_transformer import claims

    return claims


_VERIFIED: dict[int, tuple[Any, Any]] = {}  # id(claim) -> (claim, its result)


def _verified(claim: Any) -> Any:
    """``claims.verify(claim)``, once per claim object and process: the checks are deterministic,
    and a process that builds several books (the tests) need not repeat them."""
    if id(claim) not in _VERIFIED:
        _VERIFIED[id(claim)] = (claim, _stored_or_verified(claim))
    return _VERIFIED[id(claim)][1]


@cache
def _sources_key() -> str:
    """A digest of every Python file of the package and of SymPy's and torch's versions: all that
    a claim's outcome depends on."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    for dist in ("sympy", "torch"):
        digest.update(metadata.version(dist).encode())
    return digest.hexdigest()[:16]


def _stored_or_verified(claim: Any) -> Any:
    """``claims.verify(claim)``; where ``VT_LEDGER_CACHE`` names a folder (``make`` sets it), the
    outcome is stored there under the digest of the sources, and a later build with the same
    sources reads it back instead of checking again (both editions, the Sphinx tests). The unit
    tests of the ledger always check afresh."""
    claims = _claims()
    folder = os.environ.get("VT_LEDGER_CACHE")
    if not folder or claims.BY_ID.get(claim.id) is not claim:
        return claims.verify(claim)
    path = Path(folder) / _sources_key() / f"{claim.id}.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return claims.Result(claim, stored["symbolic"], stored["numeric"], stored["rejected"],
                             stored["error"], stored["seconds"])
    result = claims.verify(claim)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")  # two editions may write at once
    partial.write_text(json.dumps({"symbolic": result.symbolic, "numeric": result.numeric,
                                   "rejected": dict(result.rejected), "error": result.error,
                                   "seconds": result.seconds}), encoding="utf-8")
    partial.replace(path)
    return result


def label(claim_id: str) -> str:
    """The std label of a claim's ledger entry: ``claim-`` and the id with dots as dashes."""
    return "claim-" + claim_id.replace(".", "-")


def _claim(claim_id: str) -> Any:
    """The claim ``claim_id``; ``KeyError`` naming the id and the known ones otherwise."""
    by_id = _claims().BY_ID
    if claim_id not in by_id:
        known = ", ".join(sorted(by_id))
        raise KeyError(f"claim: unknown claim id {claim_id!r}; known ids: {known}")
    return by_id[claim_id]


def _depend_on_ledger(env: Any) -> None:
    """Re-read a page whenever the files a claim is generated from (claims/, derive/) or rendered
    by (this extension) change, so that no page keeps a stale formula or verdict."""
    package = Path(__file__).resolve().parent.parent
    for folder in ("claims", "derive", "sphinx"):
        for source in sorted((package / folder).glob("*.py")):
            env.note_dependency(str(source))


def _math_block(latex: str, docname: str) -> nodes.math_block:
    """A display of LaTeX (never a message to translate: see ``i18n.KeepMathUntranslated``)."""
    return nodes.math_block(latex, latex, docname=docname, number=None, label=None, nowrap=False)


def _xref(claim_id: str, *children: nodes.Node, classes: tuple[str, ...] = ()) -> nodes.Node:
    """A link to the ledger entry of ``claim_id``, resolved by :class:`ClaimDomain`."""
    return addnodes.pending_xref("", *children, refdomain="claim", reftype="ref",
                                 reftarget=claim_id, refexplicit=True, refwarn=True,
                                 classes=list(classes))


def _fill(message: str, **parts: nodes.Node | list[nodes.Node]) -> list[nodes.Node]:
    """A translated ``message`` whose ``{name}`` fields are nodes (a link, a citation)."""
    out: list[nodes.Node] = []
    for piece in re.split(r"(\{\w+\})", message):
        part = parts.get(piece[1:-1]) if piece.startswith("{") else None
        if part is None:
            out += [nodes.Text(piece)] if piece else []
        else:
            out += part if isinstance(part, list) else [part]
    return out


def _translated(*made: nodes.Node) -> list[nodes.Node]:
    """Nodes whose text the extension has translated already: Locale must not look it up in the
    page's catalog (Sphinx gives a directive's titles and field names a source, which would make
    them messages of the page)."""
    for node in made:
        for text in node.findall(nodes.TextElement):
            text["translatable"] = False
    return list(made)


def verdict_list(claim: Any) -> nodes.bullet_list:
    """The verdict's sentences, one list item each (the same in chapters and on the ledger)."""
    items = nodes.bullet_list(classes=["vt-claim-verdict"])
    for sentence in verdicts.sentences(claim, gettext, ngettext):
        items += nodes.list_item("", nodes.paragraph(sentence, sentence))
    return items


# The badge: <details><summary>identity ✓</summary> ... </details>, open and shut without script.


class claim_badge(nodes.General, nodes.Element):  # noqa: N801 (docutils names nodes in lower case)
    """A ``<details>`` element: a summary (the kind and a check mark), then the verdict."""


class claim_badge_summary(nodes.TextElement):  # noqa: N801
    """The ``<summary>`` of a :class:`claim_badge`."""


def _visit_badge(self: Any, node: nodes.Element) -> None:
    self.body.append(self.starttag(node, "details", CLASS="vt-claim-badge"))


def _visit_summary(self: Any, node: nodes.Element) -> None:
    self.body.append(self.starttag(node, "summary", ""))


def _close(tag: str) -> Any:
    return lambda self, node: self.body.append(f"</{tag}>")


def _pass(self: Any, node: nodes.Element) -> None:
    """Other builders show the badge's content as plain blocks."""


class ClaimDirective(SphinxDirective):
    """``{claim} <id>``: the claim's equations from the ledger and its badge."""

    required_arguments = 1
    option_spec = {"display": directives.unchanged, "class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        claim_id = self.arguments[0].strip()
        _depend_on_ledger(self.env)
        try:
            claim = _claim(claim_id)
            indices = self._indices(claim)
        except (KeyError, ValueError) as exc:
            raise self.error(str(exc.args[0])) from None
        block = nodes.container(
            classes=["vt-claim", f"vt-claim-{claim.kind}", *self.options.get("class", [])]
        )
        self.set_source_info(block)
        block += [_math_block(claim.displays[i], self.env.docname) for i in indices]
        kind = verdicts.kind_name(claim.kind, gettext)
        badge = claim_badge()
        badge += claim_badge_summary("", f"{kind} ✓")
        badge += verdict_list(claim)
        entry = gettext("Its entry in the claims ledger")
        badge += nodes.paragraph("", "", _xref(claim.id, nodes.inline(entry, entry)))
        block += badge
        return _translated(block)

    def _indices(self, claim: Any) -> list[int]:
        """``:display:``: ``all`` (the default), ``none`` (the badge alone, for a claim whose
        formula a code cell shows, e.g. a table) or indices from 0, separated by commas."""
        value = (self.options.get("display") or "all").strip()
        count = len(claim.displays)
        if value in ("", "all"):
            return list(range(count))
        if value == "none":
            return []
        parts = [p for p in re.split(r"[,\s]+", value) if p]
        if not all(p.isdigit() for p in parts):
            raise ValueError(f"claim {claim.id}: display: expected 'all', 'none' or indices like "
                             f"'0' or '0, 2', got {value!r}")
        bad = [int(p) for p in parts if int(p) >= count]
        if bad:
            raise ValueError(f"claim {claim.id}: display {bad[0]} does not exist; the claim has "
                             f"{count} display(s), indices 0..{count - 1}")
        return [int(p) for p in parts]


class ClaimRole(SphinxRole):
    """``{claim}`id``` or ``{claim}`id[k]```: display k (default 0) inline, linked to the ledger."""

    _pattern = re.compile(r"^\s*(?P<id>[^\[\]\s]+)\s*(?:\[\s*(?P<index>\d+)\s*\])?\s*$")

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        match = self._pattern.match(self.text)
        if match is None:
            return self._error(f"claim role: expected 'id' or 'id[k]', got {self.text!r}")
        claim_id, index = match["id"], int(match["index"] or 0)
        _depend_on_ledger(self.env)
        try:
            claim = _claim(claim_id)
        except KeyError as exc:
            return self._error(exc.args[0])
        if index >= len(claim.displays):
            return self._error(f"claim {claim_id}: display {index} does not exist; the claim "
                               f"has {len(claim.displays)} display(s)")
        latex = claim.displays[index]
        return [_xref(claim.id, nodes.math(latex, latex), classes=("vt-claim-inline",))], []

    def _error(self, message: str) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        msg = self.inliner.reporter.error(message, line=self.lineno)
        return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]


class ArticleFormulaDirective(SphinxDirective):
    """``{article-formula}``: a formula of the source article, quoted (hand-typed) to be refuted."""

    has_content = True
    option_spec = {
        "section": directives.unchanged_required,
        "refuted-by": directives.unchanged_required,
        "refuted-in": directives.unchanged_required,
        "verdict": lambda v: directives.choice(v, ("wrong", "incomplete", "wrong and incomplete")),
    }

    def run(self) -> list[nodes.Node]:
        latex = "\n".join(self.content).strip()
        if not latex:
            raise self.error("article-formula: the body must hold the article's formula (LaTeX)")
        foreign = display_math.not_in_article(latex)
        if foreign:
            raise self.error(
                f"article-formula: {foreign[0]!r} is not one of the article's formulas; only "
                "those may be typed by hand (the book's own come from the ledger: {claim})"
            )
        refuted_by = self.options.get("refuted-by", "").split()
        refuted_in = self.options.get("refuted-in", "").split()
        if not refuted_by and not refuted_in:
            raise self.error(
                "article-formula: give :refuted-by: (claim ids) or :refuted-in: (a label): a "
                "quoted formula links to its refutation"
            )
        for claim_id in refuted_by:
            try:
                _claim(claim_id)
            except KeyError as exc:
                raise self.error(exc.args[0]) from None
        links = [_xref(i, nodes.literal(i, i)) for i in refuted_by]
        links += [addnodes.pending_xref("", nodes.inline(t, t), refdomain="std", reftype="ref",
                                        reftarget=t, refexplicit=False, refwarn=True)
                  for t in refuted_in]
        fields = {f"r{i}": link for i, link in enumerate(links)}
        listed = _fill(verdicts.join([f"{{{name}}}" for name in fields], gettext), **fields)
        head = {
            "wrong": gettext("The article's formula (wrong)"),
            "incomplete": gettext("The article's formula (incomplete)"),
            "wrong and incomplete": gettext("The article's formula (wrong and incomplete)"),
        }[self.options.get("verdict", "wrong")]
        if "section" in self.options:
            message = gettext("{formula}, quoted from its section {section}. Refuted by "
                              "{refutations}.")
        else:
            message = gettext("{formula}. Refuted by {refutations}.")
        section = nodes.Text(self.options.get("section", ""))
        caption = nodes.paragraph("", "", *_fill(message, formula=nodes.strong(head, head),
                                                 section=section, refutations=listed),
                                  classes=["vt-article-formula-caption"])
        block = nodes.container(classes=["vt-article-formula"])
        self.set_source_info(block)
        quoted = _math_block(latex, self.env.docname)
        quoted["classes"].append("vt-article-formula-math")
        block += [caption, quoted]
        return _translated(block)


class LedgerDirective(SphinxDirective):
    """``{claim-ledger}``: every claim of the ledger, checked now, with its entry
    (``{claim-ledger} id id ...``: only those claims, for a test build)."""

    optional_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        claims = _claims()
        _depend_on_ledger(self.env)
        chosen = [claims.get(i) for i in self.arguments[0].split()] if self.arguments else None
        results = [_verified(c) for c in chosen or claims.CLAIMS]
        for r in results:
            if not r.passed:
                self.reporter.warning(f"claim {r.claim.id} fails its checks: {r}", line=self.lineno)
        listed = [r.claim for r in results]
        counts = [(k, sum(c.kind == k for c in listed)) for k in claims.KINDS]
        kinds = verdicts.join([verdicts.kind_count(k, n, ngettext) for k, n in counts if n],
                              gettext)
        n = len(listed)
        summary = ngettext("The ledger holds {n} claim: {kinds}.",
                           "The ledger holds {n} claims: {kinds}.", n).format(n=n, kinds=kinds)
        out: list[nodes.Node] = [nodes.paragraph(summary, summary), self._table(results)]
        title = gettext("The claims one by one")
        one_by_one = nodes.section("", nodes.title(title, title), ids=["the-claims-one-by-one"])
        one_by_one += [self._entry(r) for r in results]
        domain = self.env.get_domain("claim")
        for section in one_by_one.findall(nodes.section):
            if "claim_id" in section:
                self.state.document.note_explicit_target(section)
                domain.note_claim(section["claim_id"], self.env.docname, section["ids"][0],
                                  location=section)
        return _translated(*out, one_by_one)

    def _source(self, claim: Any) -> list[nodes.Node]:
        """Who said it: citations (sphinxcontrib-bibtex), "derived here, building on" them, or
        standard mathematics."""
        if not claim.source_keys:
            return [nodes.Text(gettext("Standard mathematics"))]
        cites, _messages = self.parse_inline(f"{{cite:t}}`{','.join(claim.source_keys)}`")
        if getattr(claim, "origin", "paper") == "derived":
            return _fill(gettext("Derived here, building on {sources}"), sources=cites)
        return cites

    def _status(self, result: Any) -> str:
        return gettext("passed") if result.passed else gettext("FAILED")

    def _table(self, results: list[Any]) -> nodes.table:
        heads = [gettext("Claim"), gettext("Kind"), gettext("Source"), gettext("Status")]
        table, group = nodes.table(), nodes.tgroup(cols=len(heads))
        table += group
        group += [nodes.colspec(colwidth=w) for w in (3, 1, 3, 1)]
        rows: list[list[nodes.Node]] = [[nodes.Text(h) for h in heads]]
        for r in results:
            rows.append([_xref(r.claim.id, nodes.literal(r.claim.id, r.claim.id)),
                         nodes.Text(verdicts.kind_name(r.claim.kind, gettext)),
                         nodes.inline("", "", *self._source(r.claim)),
                         nodes.Text(self._status(r))])
        head, body = nodes.thead(), nodes.tbody()
        group += [head, body]
        for i, cells in enumerate(rows):
            row = nodes.row()
            row += [nodes.entry("", nodes.paragraph("", "", cell)) for cell in cells]
            (head if i == 0 else body).append(row)
        return table

    def _entry(self, result: Any) -> nodes.section:
        """One claim's section: its displays, then kind, verdict, source, variants, note."""
        claim = result.claim
        section = nodes.section("", nodes.title("", "", nodes.literal(claim.id, claim.id)),
                                names=[label(claim.id)], claim_id=claim.id)
        shown = nodes.container(classes=["vt-claim", "vt-claim-ledger"])
        shown += [_math_block(d, self.env.docname) for d in claim.displays]
        section += shown
        variants = nodes.bullet_list()
        for name, rejected in result.rejected.items():
            message = gettext("{variant} (rejected)") if rejected else gettext(
                "{variant} (NOT rejected)")
            shown, language = gettext(name), edition_of(self.config.language)
            if language != "en" and needs_translation(name) and name not in catalog(language):
                warn_untranslated(CATALOG, name, self.get_source_info())
            variants += nodes.list_item("", nodes.paragraph(
                "", "", *_fill(message, variant=nodes.literal(name, shown))))
        fields = [
            (gettext("Kind"), nodes.paragraph("", verdicts.kind_name(claim.kind, gettext))),
            (gettext("Verdict"), verdict_list(claim)),
            (gettext("Source"), nodes.paragraph("", "", *self._source(claim))),
            (gettext("Wrong variants"), variants),
        ]
        if claim.takes:
            takes = gettext(claim.takes)
            fields.append((gettext("check_formula takes"),
                           nodes.paragraph("", "", nodes.literal(takes, takes))))
        if claim.note:
            note, _messages = self.parse_inline(gettext(claim.note))  # MyST: citations, code
            fields.append((gettext("Note"), nodes.paragraph("", "", *note)))
        field_list = nodes.field_list()
        for name, body in fields:
            field_list += nodes.field("", nodes.field_name(name, name), nodes.field_body("", body))
        section += field_list
        return section


class ClaimDomain(Domain):
    """Claims as objects: one per entry of the ledger page, found by id."""

    name = "claim"
    label = "Claims ledger"
    object_types = {"claim": ObjType("claim", "ref")}
    roles = {"ref": XRefRole(innernodeclass=nodes.inline, warn_dangling=True)}
    initial_data: dict[str, dict[str, tuple[str, str]]] = {"claims": {}}  # id -> (doc, anchor)
    dangling_warnings = {"ref": "claim %(target)s has no entry: no {claim-ledger} lists it"}

    @property
    def claims(self) -> dict[str, tuple[str, str]]:
        return self.data.setdefault("claims", {})

    def note_claim(self, claim_id: str, docname: str, anchor: str, location: Any = None) -> None:
        """Record the ledger entry of ``claim_id`` (a second entry is a warning)."""
        if claim_id in self.claims and self.claims[claim_id][0] != docname:
            from sphinx.util import logging

            logging.getLogger(__name__).warning(
                "claim %s is listed twice, in %s and %s", claim_id, self.claims[claim_id][0],
                docname, location=location)
        self.claims[claim_id] = (docname, anchor)

    def clear_doc(self, docname: str) -> None:
        for claim_id, (doc, _anchor) in list(self.claims.items()):
            if doc == docname:
                del self.claims[claim_id]

    def merge_domaindata(self, docnames: list[str], otherdata: dict[str, Any]) -> None:
        for claim_id, (doc, anchor) in otherdata["claims"].items():
            if doc in docnames:
                self.claims[claim_id] = (doc, anchor)

    def resolve_xref(self, env: Any, fromdocname: str, builder: Any, typ: str, target: str,
                     node: addnodes.pending_xref, contnode: nodes.Element) -> nodes.Node | None:
        if target not in self.claims:
            return None
        docname, anchor = self.claims[target]
        ref = make_refnode(builder, fromdocname, docname, anchor, contnode, title=target)
        ref["classes"].extend(node.get("classes", []))
        return ref

    def resolve_any_xref(self, env: Any, fromdocname: str, builder: Any, target: str,
                         node: addnodes.pending_xref, contnode: nodes.Element
                         ) -> list[tuple[str, nodes.Node]]:
        ref = self.resolve_xref(env, fromdocname, builder, "ref", target, node, contnode)
        return [("claim:ref", ref)] if ref is not None else []

    def get_objects(self) -> Iterator[tuple[str, str, str, str, str, int]]:
        for claim_id, (docname, anchor) in self.claims.items():
            yield claim_id, claim_id, "claim", docname, anchor, 1


def setup(app: Any) -> None:
    """Register the domain, its directives and roles, and the badge's nodes."""
    app.add_domain(ClaimDomain)
    app.add_directive("claim", ClaimDirective)
    app.add_directive("claim-ledger", LedgerDirective)
    app.add_directive("article-formula", ArticleFormulaDirective)
    app.add_role("claim", ClaimRole())
    others = {f: (_pass, _pass) for f in ("latex", "text", "man", "texinfo")}
    app.add_node(claim_badge, html=(_visit_badge, _close("details")), **others)
    app.add_node(claim_badge_summary, html=(_visit_summary, _close("summary")), **others)
