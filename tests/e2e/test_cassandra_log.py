"""The predict function with its log in a real Apache Cassandra 5.0 node, over HTTP.

The node of the whole run (tests/conftest.py) serves the history, corrections, /stats and export
tests. The outage tests get a node of their own, which they stop (SIGTERM) and kill (SIGKILL) and
start again, so the shared node is never disturbed.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests

from scripts.cassandra_node import CassandraNode, classpath, free_port, ids_of_day
from scripts.servers import function_server
from tests.conftest import GOLDEN, ROOT
from tests.fixtures.cassandra import LOCAL, apply_schema, env_for, keyspace_name, open_log, session_for

THREE = (GOLDEN / "3_canvas.png").read_bytes()
SEVEN = (GOLDEN / "7_paper.jpg").read_bytes()


def cassandra_env(node: CassandraNode, predict_env: dict, tmp_path, keyspace: str, **extra) -> dict:
    """The predict function's settings for ``keyspace``, whose schema is applied first, as a deployment does."""
    apply_schema(node, keyspace)
    return {**predict_env, **env_for(node, keyspace), "SPOOL_DIR": str(tmp_path / "spool"), **extra}


def ids_in_table(node: CassandraNode, keyspace: str) -> list[str]:
    """Every id of today's partition, read straight from the node (not through the function)."""
    cluster = session_for(node)
    try:
        return ids_of_day(cluster.connect(), keyspace, datetime.now(UTC).date())
    finally:
        cluster.shutdown()


def upload(url: str, data: bytes = THREE) -> requests.Response:
    return requests.post(url, files={"file": ("3.png", data)}, timeout=30)


def test_history_corrections_stats_and_export_on_a_real_node(cassandra_node, predict_env, tmp_path):
    keyspace = keyspace_name("e2e")
    env = cassandra_env(cassandra_node, predict_env, tmp_path, keyspace)
    with function_server("predict", env, tmp_path) as url:
        health = requests.get(url + "/healthz", timeout=10).json()
        assert health["prediction_log"] == {
            "url": f"{cassandra_node.url}/{keyspace}",  # the port too: what it connected to
            "reachable": True,
            "spooled": 0,
            "quarantined": 0,
        }
        answered = [upload(url, THREE).json(), upload(url, SEVEN).json()]
        assert [a["digit"] for a in answered] == [3, 7]
        history = requests.get(url + "/predictions?limit=10", timeout=10).json()
        assert [p["id"] for p in history["predictions"]] == [a["id"] for a in answered][::-1]
        corrected = requests.post(f"{url}/predictions/{answered[0]['id']}/label", json={"label": 8}, timeout=10)
        assert corrected.status_code == 200 and corrected.json()["label"] == 8
        assert requests.get(f"{url}/predictions/{answered[0]['id']}", timeout=10).json()["label"] == 8
        stats = requests.get(url + "/stats?days=1", timeout=10).json()
        assert stats["total"]["count"] == 2 and stats["total"]["corrected"] == 1
        assert stats["days"][-1]["per_digit"][3] == 1 and stats["days"][-1]["per_digit"][7] == 1
    assert sorted(ids_in_table(cassandra_node, keyspace)) == sorted(a["id"] for a in answered)

    out = tmp_path / "export.csv"
    done = subprocess.run(
        [sys.executable, "-m", "service", "stats", "--days", "1", "--export", str(out)],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["digit"], r["label"]) for r in rows] == [
        (answered[0]["id"], "3", "8"),
        (answered[1]["id"], "7", ""),
    ]


def test_uploads_sent_together_are_all_in_the_table_when_answered(cassandra_node, predict_env, tmp_path):
    """Uploads that reach a worker together are written as one group (the driver's async inserts in
    flight at once, service.predlog.group); every answered id must be in the table."""
    from concurrent.futures import ThreadPoolExecutor

    keyspace = keyspace_name("e2e")
    with function_server("predict", cassandra_env(cassandra_node, predict_env, tmp_path, keyspace), tmp_path) as url:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: upload(url, SEVEN), range(36)))
        assert [a.status_code for a in answers] == [200] * 36
        assert requests.get(url + "/healthz", timeout=10).json()["prediction_log"]["spooled"] == 0
    assert sorted(ids_in_table(cassandra_node, keyspace)) == sorted(a.json()["id"] for a in answers)


def test_a_wrong_password_is_named_at_start_and_in_healthz_and_nothing_is_lost(cassandra_node, predict_env, tmp_path):
    keyspace = keyspace_name("e2e")
    env = cassandra_env(cassandra_node, predict_env, tmp_path, keyspace, CASSANDRA_PASSWORD="not-the-password")
    started = time.monotonic()
    with function_server("predict", env, tmp_path) as url:
        health = requests.get(url + "/healthz", timeout=10)
        accepted = upload(url)
        log_text = "".join(p.read_text() for p in tmp_path.glob("predict-*.log"))
    assert time.monotonic() - started < 60  # a refused login answers at once; never a hang
    body = health.json()["prediction_log"]
    assert body["reachable"] is False
    assert "CASSANDRA_USERNAME='cassandra'" in body["error"] and "CASSANDRA_PASSWORD" in body["error"]
    assert "CASSANDRA_PASSWORD" in log_text  # said at start-up too
    assert accepted.status_code == 200  # spooled, not lost: it reaches the node once the setting is fixed
    fixed = cassandra_env(cassandra_node, predict_env, tmp_path, keyspace)
    with function_server("predict", fixed, tmp_path) as url:
        sent = drain_spool(url)
    assert sorted(ids_in_table(cassandra_node, keyspace)) == sorted([accepted.json()["id"], *sent])


def test_no_credentials_for_a_node_that_needs_them_says_so(cassandra_node, tmp_path):
    from service.predlog.cassandra import CassandraAuthError, CassandraPredictionLog

    log = CassandraPredictionLog(f"{cassandra_node.url}/nologin", None, None, "ONE", tls_ca=str(cassandra_node.tls_ca))
    with pytest.raises(CassandraAuthError, match="requires a login: set CASSANDRA_USERNAME and CASSANDRA_PASSWORD"):
        log.ensure_schema()
    assert log.ping() is False and "CASSANDRA_USERNAME" in log.last_error


def drain_spool(url: str, timeout: float = 90) -> list[str]:
    """Keep the function busy (each upload gives the spool a chance to replay) until it is empty.

    Returns the ids of the uploads it made, which must reach the log too."""
    deadline = time.monotonic() + timeout
    sent: list[str] = []
    while time.monotonic() < deadline:
        health = requests.get(url + "/healthz", timeout=10).json()["prediction_log"]
        if health["reachable"] and health["spooled"] == 0:
            return sent
        answer = upload(url)
        assert answer.status_code == 200, answer.text
        sent.append(answer.json()["id"])
        time.sleep(0.5)
    raise AssertionError(f"the spool did not drain within {timeout} s: {health}")


@pytest.fixture(scope="module")
def outage_node(cassandra_node, tmp_path_factory):
    """A node of the outage tests' own (needs the shared one only to know that nodes can run here)."""
    node = CassandraNode(
        tmp_path_factory.mktemp("outage-node"), native_port=free_port(), storage_port=free_port(), password_auth=True
    )
    node.start(classpath(quiet=True))
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_spool_replays_after_the_node_is_stopped_or_killed_and_returns(outage_node, predict_env, tmp_path, how):
    keyspace = f"outage_{how}"
    env = cassandra_env(outage_node, predict_env, tmp_path, keyspace)
    answered: list[str] = []
    with function_server("predict", env, tmp_path) as url:
        for _ in range(3):
            answered.append(upload(url).json()["id"])
        getattr(outage_node, how)()  # SIGTERM (drain) or SIGKILL (crash)
        during = [upload(url) for _ in range(5)]
        assert [r.status_code for r in during] == [200] * 5  # nothing refused, each spooled durably
        answered += [r.json()["id"] for r in during]
        health = requests.get(url + "/healthz", timeout=10).json()["prediction_log"]
        assert health["reachable"] is False and health["spooled"] >= 5
        outage_node.start(classpath(quiet=True))
        outage_node.wait_ready()
        answered += drain_spool(url)
        answered += [upload(url).json()["id"]]  # the log takes writes directly again
    stored = ids_in_table(outage_node, keyspace)
    assert sorted(set(stored)) == sorted(set(answered)) and len(stored) == len(set(stored))
    assert all(uuid.UUID(i).version == 1 for i in stored)


def test_a_forked_worker_opens_its_own_session(cassandra_node):
    """gunicorn forks after the app may have connected: a driver connection must not cross a fork."""

    log = open_log(cassandra_node, keyspace_name("forked"), "ONE")
    log.apply_schema(LOCAL)
    parent_session = log.cql.session()
    child = os.fork()
    if child == 0:  # the child: a session of its own, and it works
        ok = log.cql.session() is not parent_session and log.ping()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.cql.session() is parent_session and log.ping()  # the parent's is untouched
    log.close()


def test_the_client_outwaits_the_servers_timeouts():
    """A coordinator's own timeout must reach the driver's retry policy: the client waits longer than the
    node's read and write timeouts (those of the node the tests run, Cassandra's defaults)."""
    import re

    from scripts.cassandra_node import CONF
    from service.predlog.cql_connect import READ_TIMEOUT_S, WRITE_TIMEOUT_S

    config = (CONF / "cassandra.yaml").read_text()
    server = {k: int(v) / 1000 for k, v in re.findall(r"^(read|write)_request_timeout: (\d+)ms", config, re.M)}
    assert WRITE_TIMEOUT_S > server["write"] and READ_TIMEOUT_S > server["read"]


def test_workers_resolving_the_classpath_at_once_all_get_it(tmp_path, monkeypatch):
    """Test workers start at once on a fresh checkout, and each asks for Cassandra's classpath: every one
    must get it, from one Maven run (they raced on one temporary file, renamed from under the slower ones:
    a clean CI run's Cassandra tests all failed at setup)."""
    from concurrent.futures import ThreadPoolExecutor

    from scripts import cassandra_node

    if shutil.which("mvn") is None:
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)("Maven (mvn) is not installed")
    monkeypatch.setattr(cassandra_node, "CLASSPATH_CACHE", tmp_path / "cassandra-classpath")
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: cassandra_node.classpath(quiet=True), range(4)))
    assert len(set(paths)) == 1 and "cassandra-all" in paths[0]
    cached = cassandra_node.classpath_cache()
    assert sorted(tmp_path.iterdir()) == [cached.with_suffix(".lock"), cached]
    # an empty cache (a disk that filled while it was written) is resolved again, not handed out as no classpath
    cached.write_text("")
    assert cassandra_node.classpath(quiet=True) == paths[0] == cached.read_text()
