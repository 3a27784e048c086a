# Two commands matter: `make book` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: book test lint unit notebooks browser execute bench student clean help

help:
	@echo "make book     build the book into _build/html (strict)"
	@echo "make test     lint, unit tests, nbval on every notebook, strict book build, browser tests"
	@echo "make execute  re-execute the notebooks in place (after an edit)"
	@echo "make bench    run the benchmarks, write benchmarks/results/"
	@echo "make student  student notebooks (no solutions) in _build/student, Colab notebooks in _build/colab"
	@echo "make lint     ruff"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

lint: $(STAMP)
	$(BIN)/ruff check stelib tests benchmarks notebooks
	$(BIN)/ruff format --check stelib tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q --ignore=tests/test_browser.py --ignore=tests/test_launch_urls.py

notebooks: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -q --nbval \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS) book/benchmarks.ipynb book/status.ipynb

test: lint unit notebooks book browser

# Checks on the built book (run after `make book`): launch URLs, then a real browser.
browser: $(STAMP)
	$(BIN)/python -m pytest tests/test_launch_urls.py tests/test_browser.py -q

execute: $(STAMP)
	$(BIN)/python -m stelib._execute $(NOTEBOOKS) book/benchmarks.ipynb book/status.ipynb

bench: $(STAMP)
	$(BIN)/python benchmarks/speed.py && $(BIN)/python benchmarks/estimators.py --out benchmarks/results/estimators.json

student: $(STAMP)
	$(BIN)/stelib-course student _build/student
	$(BIN)/stelib-course colab _build/colab

clean:
	rm -rf _build
