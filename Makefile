# Two commands matter: `make run` (the service on embedded defaults) and `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed

.PHONY: install data train eval run test test-fast test-ring golden layer bench clean cassandra stack ring

$(STAMP): requirements.txt requirements-tools.txt
	python3 -m venv .venv
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	python3 -m venv .venv-tools
	.venv-tools/bin/pip install -r requirements-tools.txt
	touch $(STAMP)

install: $(STAMP) data            ## .venv with everything pinned, then MNIST fetched and verified

data: $(STAMP)
	$(PY) -m service data

train: install                    ## train the default model, publish and promote it
	$(PY) -m service train

eval: install                     ## accuracy per dev-set category of the promoted model
	$(PY) -m service eval

run: install                      ## both functions on embedded defaults (publishes the shipped model if none)
	scripts/run.sh

cassandra: $(STAMP)               ## one Cassandra 5.0 node on 127.0.0.1:9042, data in var/cassandra (Ctrl-C stops it)
	$(PY) -m scripts.cassandra_node --schema digits

stack: install                    ## the compose stack without Docker: SeaweedFS S3, Cassandra, both functions
	$(PY) -m scripts.stack

ring: $(STAMP)                    ## 3-node Cassandra ring on 127.0.0.1-3 under upload traffic, nodes killed
	$(PY) -m benchmarks.cassandra_ring

test-fast: install                ## the in-process tier for every edit (< 1 min): the HTTP contract, units, logs, spool
	$(PY) -m pytest -q -m "not (ring or e2e or cassandra or training or deploy)"

test: install                     ## the full run .ci/run makes: every tier but the Cassandra ring
	$(PY) -m pytest -q

test-ring: install                ## the 3-node Cassandra ring test (~2 min; .ci/run runs it after make test)
	$(PY) -m pytest -q -m ring

golden: install                   ## redraw the golden images and retrain the model shipped for tests
	$(PY) -m tests.fixtures.make_golden
	rm -rf tests/fixtures/modelstore
	MODEL_STORE=tests/fixtures/modelstore $(PY) -m service train

bench: install                    ## benchmarks, the seed's way beside ours -> BENCHMARKS.md (needs wrk)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(PY) benchmarks/bench.py --training

layer: $(STAMP)                   ## build/layer.zip: the shared Lambda layer (python3.12, manylinux x86_64)
	$(PY) layers/build.py

clean:
	rm -rf var build .pytest_cache
