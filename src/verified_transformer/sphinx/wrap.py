"""Let long identifiers in table cells break at their dots and underscores.

A claim id written as link text (``seed.scale_outside_exp``) or a dotted name
(``torch.nn.TransformerEncoderLayer``) has no space, so in a narrow table column it either widens
the table past the text column or, with ``overflow-wrap: anywhere`` (``custom.css``), breaks at an
arbitrary letter. This HTML post-transform puts a ``<wbr>`` (an optional line break, invisible and
not copied) after each ``.`` and ``_`` inside a long word of a link in a table, so the line breaks
between the parts of the name instead.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

# A word of 16 characters or more with a dot or an underscore that is not its last character.
LONG_NAME = re.compile(r"\S{16,}")
BREAK_AFTER = re.compile(r"(?<=[._])(?=[^\s._])")


def split_name(text: str) -> list[str]:
    """``text`` in pieces, cut after each ``.`` or ``_`` inside its long words (a piece per part).

    >>> split_name("see seed.qkv_circular here")
    ['see seed.', 'qkv_', 'circular here']
    >>> split_name("short.one")
    ['short.one']
    """
    pieces, start = [], 0
    for word in LONG_NAME.finditer(text):
        for cut in BREAK_AFTER.finditer(word.group()):
            pieces.append(text[start : word.start() + cut.start()])
            start = word.start() + cut.start()
    pieces.append(text[start:])
    return [p for p in pieces if p]


class BreakLongNamesInTables(SphinxPostTransform):
    """Insert ``<wbr>`` into long dotted or underscored names of links in table cells (HTML)."""

    default_priority = 900  # after references are resolved
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        for table in self.document.findall(nodes.table):
            for ref in list(table.findall(nodes.reference)):
                for text in list(ref.findall(nodes.Text)):
                    if isinstance(text.parent, (nodes.literal, nodes.math, nodes.raw)):
                        continue
                    pieces = split_name(str(text))
                    if len(pieces) < 2:
                        continue
                    replacement: list[nodes.Node] = [nodes.Text(pieces[0])]
                    for piece in pieces[1:]:
                        replacement += [nodes.raw("", "<wbr>", format="html"), nodes.Text(piece)]
                    text.parent.replace(text, replacement)
