# Every target works on a fresh clone with nothing installed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test demo bench bench-full guide clean package package-test

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/cnnstudio

demo: install
	$(BIN)/cnnstudio demo

test: install
	$(BIN)/ruff check cnnstudio tests benchmarks
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# Every benchmark runs (quick sizes, under 10 minutes on 2 cores); fails when any missed a target.
bench: install
	status=0; for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || status=1; done; exit $$status

# The longer variants the README quotes (BENCH_FULL=1: more images, repeats, seeds).
bench-full: install
	BENCH_FULL=1 $(MAKE) bench

# The user guide's screenshots (resources/guide/images/), made from the real app on the demo project.
guide: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python resources/guide/make_screenshots.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/gui/test_guide.py  # the guide names what the app has

# The standalone app: dist/CNNStudio/ (one folder), started by dist/CNNStudio/cnnstudio.
package: install
	$(BIN)/pyinstaller packaging/cnnstudio.spec --noconfirm --distpath dist --workpath build/pyinstaller

# The built app passes its self-test and shows its main window (Xvfb).
package-test: package
	packaging/package_test.sh dist/CNNStudio/cnnstudio

clean:
	rm -rf $(VENV) build dist *.egg-info
