# verified-transformer: every target sets up what it needs.
# .venv is (re)built when it is missing or older than requirements.lock / pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2
# the Sphinx builds store each claim's outcome here, under a digest of the sources, and read it
# back while the sources are unchanged (sphinx/domain.py); the unit tests always check afresh
export VT_LEDGER_CACHE ?= $(CURDIR)/_build/ledger
SANITIZE := --nbval-sanitize-with nbval_sanitize.cfg
DEBIAN_CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test lint unit nbval book translations browser notebooks experiments ledger bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

## test: lint, unit tests + strict nbval of every notebook, strict book build, browser check
test: lint unit book browser

lint: $(STAMP)
	$(PY) -m ruff check .

# Unit tests and strict nbval run in one pytest session, two workers, one file per worker.
# OTHER_CPU runs them on other code paths than `make notebooks` stored the outputs with: torch's
# scalar kernels instead of its vectorized ones, MKL's SSE4.2 path instead of its AVX ones. A stored
# output that depends on the CPU's rounding then fails here, not only on a reader's machine.
OTHER_CPU := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2
unit: $(STAMP)
	$(OTHER_CPU) $(PY) -m pytest -n $(JOBS) --dist loadfile -m "not browser" --nbval $(SANITIZE) notebooks tests

nbval: $(STAMP)
	$(OTHER_CPU) $(PY) -m pytest --nbval $(SANITIZE) notebooks

## book: build both editions with warnings as errors, from the one _config.yml: English into
## _build/html, Chinese (prose from locales/zh_CN/LC_MESSAGES) into _build/html/zh_CN
book: $(STAMP)
	rm -rf _build/html  # no stale pages from an earlier table of contents
	$(PY) scripts/build_edition.py en zh_CN  # in parallel, one process each
	@echo "Open file://$(CURDIR)/_build/html/index.html (中文版: _build/html/zh_CN/index.html)"

## translations: after an English edit, extract the messages again, merge them into the Chinese
## catalogs (sphinx-intl) and list the entries to translate (new, or fuzzy: changed English)
translations: $(STAMP)
	$(PY) scripts/translations.py update

## browser: open every page of _build/html, both editions, in headless Chromium
## (tests/test_browser.py), and read the Chinese pages' prose (tests/test_chinese_edition.py); the
## screenshots go to _build/screenshots/ (whole pages too with VT_FULL_SCREENSHOTS=1). The Chromium is, in this order: $$CHROMIUM, the one
## Playwright installed for this user, Debian's /usr/bin/chromium (scripts/find_chromium.py); only
## when none exists are Debian's chromium and a CJK font installed with apt-get (the font alone
## when the system has none).
browser: $(STAMP)
	@chromium=$$($(PY) scripts/find_chromium.py); found=$$?; \
	if [ $$found = 1 ]; then $(INSTALL_CHROMIUM) && chromium=$(DEBIAN_CHROMIUM); \
	elif [ $$found != 0 ]; then exit $$found; fi; \
	if [ -z "$$(fc-list :lang=zh 2>/dev/null)" ] && command -v apt-get >/dev/null; then \
		$(INSTALL_CJK_FONT); fi; \
	echo "browser test with $$chromium"; \
	VT_CHROMIUM="$$chromium" $(PY) -m pytest -m browser tests/test_browser.py tests/test_chinese_edition.py

INSTALL_CHROMIUM = $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-wqy-microhei
# The Chinese pages need a CJK font in the browser (the figures carry their own, see fonts/).
INSTALL_CJK_FONT = $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends fonts-wqy-microhei

## notebooks: re-execute every notebook in place, top to bottom, in a fresh kernel
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py

## experiments: run every training experiment into its artifact under
## src/verified_transformer/artifacts/ (numbers, conclusions, weights, provenance) and print each
## conclusion that changed; then `make notebooks` shows the new results
experiments: $(STAMP)
	$(PY) -m verified_transformer.experiments

## ledger: check every claim of the ledger and print the table (the book's ledger page is built
## from the ledger by `make book`)
ledger: $(STAMP)
	$(PY) -m verified_transformer.claims

## bench: our TransformerEncoderLayer and TransformerDecoderLayer against torch.nn's (prints ratios)
bench: $(STAMP)
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
