# Two commands matter: `make run` (the service on embedded defaults) and `make test`.
# Installs come from hash-locked files (pyproject.toml's roles, resolved by `make lock`):
# `make run` takes requirements/run.txt only; `make stack` adds requirements/stack.txt; the tests add
# requirements.txt (everything) and the SAM tools.
# in-process line coverage of ml/ and service/ that `make test` must keep (docs/development.md says what it measured)
COVERAGE_FLOOR := 79
PY        := .venv/bin/python
PIP       := .venv/bin/pip
RUN_STAMP := .venv/.installed-run
STACK_STAMP := .venv/.installed-stack
DEV_STAMP := .venv/.installed-dev
SPARK_STAMP := .venv/.installed-spark
LOCK      := .venv/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --no-header -q

# Recipes are not echoed (what runs says what it does); `make V=1 ...` shows every command.
ifndef V
.SILENT:
endif

.PHONY: install install-dev bytecode data train eval run test test-fast test-ring test-deploy test-lambda test-spark mutate mutate-ci spark-stats lint lock golden layer bench profile reset clean cassandra stack ring lambda kserve-client

# The editable install is setuptools' compat mode: a plain path in a .pth file, where the default import-hook
# finder cost every python start most of its site time. Its deprecation box asks nothing of a user: filtered.
$(RUN_STAMP): requirements/run.txt
	echo "installing what running needs into .venv (hash-locked; the first time downloads TensorFlow and the rest from PyPI)..."
	python3 -m venv .venv
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/run.txt
	PYTHONWARNINGS="ignore:Compat editable installs" \
	  $(PIP) install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

$(STACK_STAMP): $(RUN_STAMP) requirements/stack.txt
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/stack.txt
	touch $@

$(DEV_STAMP): $(RUN_STAMP) $(STACK_STAMP) requirements.txt requirements-tools.txt
	echo "installing the test, lint and benchmark tools into .venv and the SAM tools into .venv-tools..."
	$(PIP) install --quiet --require-hashes --no-deps -r requirements.txt
	python3 -m venv .venv-tools
	.venv-tools/bin/pip install --quiet --require-hashes --no-deps -r requirements-tools.txt
	touch $@

# pyspark (large: a JVM's jars) into the same .venv, only for `make spark-stats` and `make test-spark`; the connector's
# jars come from Maven (infra/spark/pom.xml) on the first Spark run
$(SPARK_STAMP): $(RUN_STAMP) requirements/spark.txt
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/spark.txt
	touch $@

install: $(RUN_STAMP) data        ## .venv with what running and training need (hash-locked), then MNIST fetched and verified

install-dev: $(DEV_STAMP) data    ## install, plus the test, lint and benchmark tools and .venv-tools (aws-sam-cli, cfn-lint)

bytecode: $(RUN_STAMP)            ## byte-compile the project: with PYTHONDONTWRITEBYTECODE (or a read-only tree) every start compiled it
	$(PY) -m compileall -q -j 0 ml service functions scripts

data: $(RUN_STAMP)
	$(PY) -m service data

train: install                    ## train the default model, publish and promote it
	$(PY) -m service train

eval: install                     ## accuracy per dev-set category, refusal per family left out, of the promoted model
	$(PY) -m service eval --negatives-holdout 100

run: install bytecode             ## both functions on embedded defaults (publishes the shipped model if none)
	scripts/run.sh

cassandra: install $(STACK_STAMP) ## one Cassandra 5.0 node on 127.0.0.1:9042, data in var/cassandra (Ctrl-C stops it)
	$(PY) -m scripts.cassandra_node --schema digits

# TRAIN=1 trains the first model instead of publishing the shipped one
stack: install bytecode $(STACK_STAMP) ## the compose stack without Docker: SeaweedFS S3, Cassandra, both functions
	$(PY) -m scripts.stack $(if $(TRAIN),--train)

lambda: install $(STACK_STAMP)    ## both functions under AWS's Lambda runtime (RIE, awslambdaric, Python 3.12) behind local function URLs
	$(PY) -m scripts.lambda_local

ring: install-dev                 ## 3-node Cassandra ring on 127.0.0.1-3 under upload traffic, nodes killed
	$(PY) -m benchmarks.cassandra_ring

KSERVE := var/bench/kserve/bin/python  # KServe's REST client, in its own venv (the rule is below)

test-fast: install-dev            ## the in-process tier for every edit (< 1 min): the HTTP contract, units, logs, spool
	$(PY) -m pytest -q -m "not (ring or e2e or cassandra or training or deploy)"

test: install-dev $(KSERVE)       ## the full run .ci/run makes: every tier but the ring, Spark, Lambda and deploy ones, with coverage
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=10 \
	  --cov=ml --cov=service --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

test-ring: install-dev            ## the 3-node Cassandra ring test (~2 min; .ci/run runs it after make test)
	$(PY) -m pytest -q -m ring

test-deploy: install-dev          ## the deploy tier: the Lambda layer built and run alone, SAM, cfn-lint, hadolint, actionlint (.ci/run runs it)
	$(PY) -m pytest -q -m deploy

test-lambda: install-dev          ## both functions under AWS's Lambda runtime, through local function URLs (.ci/run runs it)
	$(PY) -m pytest -q -m aws_lambda

test-spark: install-dev $(SPARK_STAMP) ## the Spark analytics test on a real Cassandra node (~1 min; .ci/run runs it after test-ring)
	$(PY) -m pytest -q -m spark

# scripts/mutation.toml names the modules (their tests, their targets); MODULES='spool params' runs those only
MODULES ?=

mutate: install-dev               ## mutation testing (mutmut) of the modules that guard data or the contract -> test-artifacts/mutation.md, docs/testing.md
	$(PY) -m scripts.mutate --docs $(MODULES)

mutate-ci: install-dev            ## the same for the spool's modules and params only, failing below their targets (.ci/run runs it after make test)
	$(PY) -m scripts.mutate --ci

DAYS   ?= 30
MASTER ?= local[2]

spark-stats: $(SPARK_STAMP)       ## `stats --engine spark` on PREDICTION_LOG=cassandra://...: DAYS=30, MASTER=local[2] or spark://host:7077
	$(PY) -m service stats --engine spark --days $(DAYS) --master '$(MASTER)'

golden: install-dev               ## redraw the golden images and retrain the model shipped for tests
	$(PY) -m tests.fixtures.make_golden
	rm -rf tests/fixtures/modelstore
	MODEL_STORE=tests/fixtures/modelstore $(PY) -m service train

BENTOML := var/bench/bentoml/bin/bentoml

bench: install-dev bytecode $(BENTOML) ## benchmarks, the seed's way and the peer servers beside ours -> BENCHMARKS.md (needs wrk)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(PY) benchmarks/bench.py --training

profile: install-dev bytecode     ## flame graphs of the predict function under wrk load, per picture (py-spy) -> docs/profile/
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(PY) -m benchmarks.profile $(if $(TAG),--tag $(TAG))

$(KSERVE): benchmarks/peers/requirements-kserve.txt  # KServe's REST client (tests/e2e/test_open_inference.py), its own venv
	rm -rf var/bench/kserve
	.venv/bin/uv venv -q -p .venv/bin/python var/bench/kserve
	VIRTUAL_ENV=var/bench/kserve .venv/bin/uv pip install -q -r benchmarks/peers/requirements-kserve.txt

kserve-client: $(KSERVE)          ## KServe's REST client in var/bench/kserve, for the e2e test of the Open Inference Protocol

$(BENTOML): benchmarks/peers/requirements-bentoml.txt  # the BentoML peer, in its own venv
	rm -rf var/bench/bentoml
	.venv/bin/uv venv -q -p .venv/bin/python var/bench/bentoml
	VIRTUAL_ENV=var/bench/bentoml .venv/bin/uv pip install -q -r benchmarks/peers/requirements-bentoml.txt

layer: install-dev                ## build/layer.zip: the shared Lambda layer (python3.12, manylinux x86_64)
	$(PY) layers/build.py

lint: install-dev                 ## ruff (lint, format check) on everything, mypy on ml/ and service/, comments say why
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	$(PY) scripts/check_comments.py

lock: install-dev                 ## re-resolve the lock files from pyproject.toml (kept versions; delete a line to update it)
	# every role but spark, which has its own lock (pyspark stays out of install-dev)
	$(LOCK) --extra serve --extra cassandra --extra train --extra export --extra stack --extra dev --constraint requirements.txt -o requirements.txt
	$(LOCK) --extra serve --extra cassandra --extra train --extra export --constraint requirements.txt -o requirements/run.txt
	$(LOCK) --extra stack --constraint requirements.txt -o requirements/stack.txt
	$(LOCK) --extra serve --extra cassandra --constraint requirements.txt -o requirements/serve.txt
	$(LOCK) --extra cassandra --constraint requirements.txt -o requirements/layer.txt
	$(LOCK) --extra spark --constraint requirements.txt -o requirements/spark.txt
	.venv/bin/uv pip compile requirements/lambda.in --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-header -q --constraint requirements.txt -o requirements/lambda.txt
	.venv/bin/uv pip compile requirements/sam.in --universal --python-version 3.11 --generate-hashes --no-header -q \
	  --constraint requirements-tools.txt -o requirements-tools.txt

reset:                            ## forget the prediction log, its spool and the train token; keep the models (var/models)
	rm -rf var/predictions.db var/predictions.db-* var/spool var/train-token var/train.lock

clean:                            ## remove var/ (models included: the next `make run` publishes the shipped one), build/
	rm -rf var build .pytest_cache
