# Two commands matter: `make run` (the service on embedded defaults) and `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed

.PHONY: install data train eval run test test-all golden clean

$(STAMP): requirements.txt
	python3 -m venv .venv
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements.txt
	touch $(STAMP)

install: $(STAMP) data            ## .venv with everything pinned, then MNIST fetched and verified

data: $(STAMP)
	$(PY) -m ml data

train: install                    ## train the default model, publish and promote it
	$(PY) -m ml train

eval: install                     ## accuracy per dev-set category of the promoted model
	$(PY) -m ml eval

run: install                      ## train a model if the store has none, then predict the golden images
	@test -n "$$($(PY) -c 'from ml.config import Settings; from ml.storage import open_object_store; from ml.registry import ModelRegistry; print(ModelRegistry(open_object_store(Settings.from_env().model_store)).latest_version() or "")')" || $(PY) -m ml train
	$(PY) -m ml predict tests/fixtures/golden/*.png

test: install                     ## the default test run (fast)
	$(PY) -m pytest -q

golden: $(STAMP)                  ## regenerate the golden images and the shipped test model
	$(PY) -m tests.fixtures.make_golden

clean:
	rm -rf var build .pytest_cache
