"""The claims' symbolic half runs where torch does not: a subprocess with torch blocked shows every
display, runs every symbolic check (and the wrong variants of the custom ones: an equation's
variants go through the same checker as its formula), and answers check_formula on LaTeX."""

from __future__ import annotations

SYMBOLIC_HALF = r"""
import sys


class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"blocked: {name}")


sys.meta_path.insert(0, NoTorch())
from verified_transformer import claims

for c in claims.CLAIMS:
    assert c.displays, c.id
    if c.kind == "empirical":  # a measurement: its check is the torch run itself
        continue
    assert c.holds(c.formula), c.id
    if c.symbolic:  # a custom check may take another path on a variant; an equation does not
        assert not any(c.holds(v) for v in c.variants.values()), c.id
latex = r"\gamma_i \frac{x_i - \mu}{\sqrt{\sigma^2} + \epsilon} + \beta_i"
print(claims.check_formula("layernorm.definition", latex))
print("torch" in sys.modules)
"""


def test_the_symbolic_half_runs_without_torch() -> None:
    """Displays, every symbolic check (not the empirical claim's measurement), the custom checks'
    wrong variants, and check_formula on LaTeX, with torch blocked (a later edition runs them in the
    browser, where SymPy exists and torch does not)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SYMBOLIC_HALF], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer, imported = done.stdout.strip().splitlines()
    assert answer.startswith("This is the LayerNorm with epsilon outside"), answer
    assert imported == "False"
