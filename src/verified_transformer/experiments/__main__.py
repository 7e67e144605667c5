"""``python -m verified_transformer.experiments``: see :func:`artifacts.main`."""

import sys

from verified_transformer.experiments.artifacts import main

sys.exit(main(sys.argv[1:]))
