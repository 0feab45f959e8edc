"""A 3-node Cassandra ring under upload traffic through the predict function, losing nodes.

Nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (loopback addresses need no setup on Linux), keyspace
with replication factor 3, the predict function writing at LOCAL_QUORUM. First, a simulated day written
through the log into a keyspace with one replica shows how a day's rows spread over the nodes. Phases:

  1. all 3 up           writes go straight to the ring (any the cold JVMs timed out drain before phase 2)
  2. one node killed    LOCAL_QUORUM (2 of 3) still holds: no error, nothing spooled
  3. two nodes killed   quorum lost: answers go on (200), records wait in the durable spool
  4. one node returns   quorum again: the spool drains into the ring
  5. the last returns   every id the function answered 200 is read back from the ring (QUORUM)

It prints the counts of each phase and the totals: answered, found in the ring, lost, duplicated.
With --latency it also times direct log writes with 3, 2 and 1 nodes up.

    .venv/bin/python -m benchmarks.cassandra_ring [--phase-seconds 10] [--clients 4] [--latency]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import requests

from scripts.cassandra_node import CassandraNode, classpath, cql_cluster, free_port, ids_of_day
from scripts.servers import function_server

ROOT = Path(__file__).resolve().parents[1]
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
KEYSPACE = "digits_ring"
THREE = (ROOT / "tests" / "fixtures" / "golden" / "3_canvas.png").read_bytes()
MODEL_STORE = ROOT / "tests" / "fixtures" / "modelstore"
DRAIN_STALL_SECONDS = 30  # the spool counts as stuck when it has not shrunk for this long
DRAIN_MAX_SECONDS = 600


def port_free_on_all(port: int) -> bool:
    import socket

    for address in ADDRESSES:
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def shared_port() -> int:
    """One port free on all three addresses (every node of a ring listens on the same ports)."""
    while True:
        port = free_port()
        if port_free_on_all(port):
            return port


def even_tokens(count: int) -> list[int]:
    """Murmur3 tokens spaced evenly over the ring, so each node owns a third."""
    return [-(2**63) + i * (2**64 // count) for i in range(count)]


@dataclass
class Traffic:
    """Upload clients that run until stopped; every answer is recorded under the current phase.

    Each client sends at most ``per_second`` uploads a second, as users do (open loop), rather than
    as fast as it is answered: a spooled upload is answered in a few ms, so unpaced clients sent hundreds
    a second while the ring was down (10,337 answers in one run's phase 4) and left the three nodes (on
    the same 2 cores) no CPU to come back with; the spool then held 5,000 records and drained only once
    the third node returned."""

    url: str
    clients: int
    per_second: float = 20.0
    phase: str = "start"
    answered: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            due = time.monotonic() + 1 / self.per_second
            phase = self.phase
            try:
                answer = session.post(self.url, files={"file": ("3.png", THREE)}, timeout=30)
                status = answer.status_code
                pid = answer.json().get("id") if status == 200 else None
            except requests.RequestException:
                status, pid = "error", None
            with self._lock:
                self.statuses[(phase, status)] += 1
                if pid:
                    self.answered.append(pid)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Traffic:
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def health(url: str) -> dict:
    return requests.get(url + "/healthz", timeout=30).json()["prediction_log"]


def session_for(nodes: list[CassandraNode], consistency: str):
    cluster = cql_cluster([n.address for n in nodes], nodes[0].native_port, consistency=consistency)
    return cluster, cluster.connect()


def ids_in_ring(nodes: list[CassandraNode], days: list[date]) -> list[str]:
    cluster, session = session_for(nodes, "QUORUM")
    try:
        return [pid for day in days for pid in ids_of_day(session, KEYSPACE, day)]
    finally:
        cluster.shutdown()


def write_latency(nodes: list[CassandraNode], consistency: str, count: int = 200) -> dict:
    """Median and p99 of direct log writes (the predict function's own insert) at ``consistency``."""
    from benchmarks.cassandra_log import record as bench_record
    from service.predlog.cassandra import CassandraPredictionLog

    hosts = ",".join(n.address for n in nodes)
    log = CassandraPredictionLog(f"cassandra://{hosts}:{nodes[0].native_port}/{KEYSPACE}", None, None, consistency)
    times, failures, error = [], 0, None
    try:
        log.ensure_schema()
        for _ in range(count):
            record = bench_record()
            started = time.perf_counter()
            try:
                log.write(record)
                times.append((time.perf_counter() - started) * 1000)
            except Exception as exc:
                failures += 1
                error = error or f"{type(exc).__name__}: {str(exc)[:160]}"
    finally:
        log.close()
    if not times:
        return {"consistency": consistency, "writes": 0, "refused": failures, "error": error}
    times.sort()
    return {
        "consistency": consistency,
        "writes": len(times),
        "refused": failures,
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
    }


def drain(url: str) -> float:
    """Wait while the function's spool shrinks (not a fixed time); seconds waited.

    The spool drains at what the ring takes besides the ongoing traffic (35-50 writes a second with
    three nodes on these 2 cores).
    """
    started = progressed = time.monotonic()
    left = health(url)["spooled"]
    while (
        left and time.monotonic() - progressed < DRAIN_STALL_SECONDS and time.monotonic() - started < DRAIN_MAX_SECONDS
    ):
        time.sleep(0.5)
        now_left = health(url)["spooled"]
        if now_left < left:
            progressed = time.monotonic()
        left = now_left
    return round(time.monotonic() - started, 1)


def spread(nodes: list[CassandraNode], per_slot: int = 10) -> dict:
    """One simulated UTC day written through the prediction log's own write path into a keyspace with one
    replica, so each row lives on exactly one node; then each node's share of the day's rows as the driver's
    token map places them, under this layout and under the first schema's day partitions."""
    import random
    from dataclasses import replace

    from benchmarks.cassandra_log import record
    from service.predlog import layout, new_prediction_id
    from service.predlog.base import created_at_of
    from service.predlog.cassandra import CassandraPredictionLog, schema_statements
    from service.predlog.legacy import SCHEMA_V1

    keyspace = f"{KEYSPACE}_spread"
    cluster, session = session_for(nodes, "ALL")
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}"
    )
    hosts = ",".join(n.address for n in nodes)
    log = CassandraPredictionLog(f"cassandra://{hosts}:{nodes[0].native_port}/{keyspace}", None, None, "ONE")
    try:
        log.apply_schema()
        for statement in schema_statements(keyspace, SCHEMA_V1):  # only to ask where its partitions would be
            session.execute(statement, timeout=30)
        day = date.today() - timedelta(days=1)
        rng = random.Random(0)
        records = []
        for slot in range(layout.SLOTS_PER_DAY):
            start = layout.slot_start(day, slot)
            for _ in range(per_slot):
                pid = new_prediction_id(start + timedelta(seconds=rng.uniform(0, layout.SLOT_MINUTES * 60)))
                records.append(replace(record(), id=pid, created_at=created_at_of(pid)))
        for n in range(0, len(records), 500):
            log.write_many(records[n : n + 500])
        stored = set(ids_of_day(session, keyspace, day))
        sharded = session.prepare(f"SELECT id FROM {keyspace}.predictions WHERE day=? AND slot=? AND shard=?")
        by_day = session.prepare(f"SELECT id FROM {keyspace}.predictions_by_day WHERE day=?")
        metadata = cluster.metadata
        now, before, partitions = Counter(), Counter(), Counter()
        for r in records:
            key = (day, layout.slot_of(r.created_at), layout.shard_of(r.id))
            partitions[key] += 1
            now[metadata.get_replicas(keyspace, sharded.bind(key).routing_key)[0].address] += 1
            before[metadata.get_replicas(keyspace, by_day.bind((day,)).routing_key)[0].address] += 1
    finally:
        log.close()
        cluster.shutdown()
    share = lambda counts: {a: round(counts[a] / len(records), 4) for a in ADDRESSES}  # noqa: E731
    return {
        "rows": len(records),
        "stored": len(stored & {r.id for r in records}),
        "share": share(now),
        "share_first_schema": share(before),
        "partitions": len(partitions),
        "largest_partition_rows": max(partitions.values()),
    }


def run(phase_seconds: float, clients: int, latency: bool, workdir: Path) -> dict:
    cp = classpath()
    native, storage = shared_port(), shared_port()
    tokens = even_tokens(3)
    nodes = [
        CassandraNode(
            workdir / f"node{i + 1}",
            address,
            native,
            storage,
            seeds=[f"{ADDRESSES[0]}:{storage}"],
            initial_token=tokens[i],
            cluster_name="digits-ring",
        )
        for i, address in enumerate(ADDRESSES)
    ]
    report: dict = {"phases": {}, "latency": []}
    with ExitStack() as stack:
        for node in nodes:
            stack.callback(node.stop)
        started = time.monotonic()
        for node in nodes:  # one after another: each joins the ring the one before formed
            node.start(cp)
            node.wait_ready(240)
            print(f"{node.address} up ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        report["ring_start_s"] = round(time.monotonic() - started, 1)
        report["rss_mib"] = [round(n.rss_mib()) for n in nodes]
        report["spread"] = spread(nodes)
        print(f"one day, one replica: {report['spread']}", file=sys.stderr, flush=True)
        from service.predlog.cassandra import CassandraPredictionLog

        ring_log = CassandraPredictionLog(f"cassandra://{','.join(ADDRESSES)}:{native}/{KEYSPACE}", None, None, "ALL")
        for _ in range(2):  # the deployment's step, before any function starts; again: idempotent on a ring
            ring_log.apply_schema({"datacenter1": 3})
        ring_log.close()
        if latency:
            report["latency"] += [
                {"up": 3, **write_latency(nodes, "LOCAL_QUORUM")},
                {"up": 3, **write_latency(nodes, "ONE")},
            ]

        env = {
            "MODEL_STORE": f"file://{workdir / 'models'}",
            "PREDICTION_LOG": f"cassandra://{','.join(ADDRESSES)}:{native}/{KEYSPACE}",
            "CASSANDRA_LOCAL_DC": "datacenter1",
            "SPOOL_DIR": str(workdir / "spool"),
            "MODEL_REFRESH_SECONDS": "0",
        }
        import shutil

        shutil.copytree(MODEL_STORE, workdir / "models")
        url = stack.enter_context(function_server("predict", env, workdir))
        traffic = stack.enter_context(Traffic(url, clients))

        def phase(name: str, seconds: float) -> None:
            traffic.phase = name
            peak = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                peak = max(peak, health(url)["spooled"])
                time.sleep(0.5)
            counts = {str(s): n for (p, s), n in traffic.statuses.items() if p == name}
            report["phases"][name] = {"answers": counts, "spool_peak": peak}
            print(f"{name:<28} answers {counts}  spool peak {peak}", file=sys.stderr, flush=True)

        phase("1. all 3 up", phase_seconds)
        # the first writes can time out while three cold JVMs share two cores (131 spooled in one run):
        # phase 2 starts from an empty spool, so what it spools is its own
        report["spool_drained_before_kill_s"] = drain(url)
        nodes[2].kill()
        phase("2. node 3 killed", phase_seconds)
        if latency:
            report["latency"] += [
                {"up": 2, **write_latency(nodes[:2], "LOCAL_QUORUM")},
                {"up": 2, **write_latency(nodes[:2], "ONE")},
            ]
        nodes[1].kill()
        phase("3. nodes 2 and 3 killed", phase_seconds)
        if latency:
            report["latency"] += [
                {"up": 1, **write_latency(nodes[:1], "LOCAL_QUORUM", 20)},
                {"up": 1, **write_latency(nodes[:1], "ONE")},
            ]
        traffic.phase = "4. node 2 back"
        nodes[1].start(cp)
        nodes[1].wait_ready(240)
        # the spool holds whatever was answered while node 2 restarted (800 to over 5,000 records)
        report["spool_drained_s"] = drain(url)
        phase("4. node 2 back", 2)
        report["spool_after_node_2_back"] = health(url)["spooled"]
        nodes[2].start(cp)
        nodes[2].wait_ready(240)
        phase("5. all 3 up again", phase_seconds / 2)
        traffic.__exit__(None, None, None)
        requests.post(url, files={"file": ("3.png", THREE)}, timeout=30)  # gives a last spooled record its replay
        deadline = time.monotonic() + 60
        while health(url)["spooled"] and time.monotonic() < deadline:
            time.sleep(0.5)
        today = date.today()
        stored = ids_in_ring(nodes, [today - timedelta(days=1), today])
    answered = set(traffic.answered)
    found = Counter(stored)
    report["totals"] = {
        "answered_200": len(traffic.answered),
        "distinct_answered": len(answered),
        "in_ring": len(set(found) & answered),
        "lost": len(answered - set(found)),
        "duplicated": sum(1 for n in found.values() if n > 1),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--latency", action="store_true", help="also time direct writes with 3, 2 and 1 nodes up")
    parser.add_argument("--workdir", type=Path, help="keep the nodes' data and logs here (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ring-") as tmp:
        report = run(args.phase_seconds, args.clients, args.latency, Path(args.workdir or tmp))
    print(json.dumps(report, indent=1))
    totals = report["totals"]
    print(
        f"answered 200: {totals['answered_200']}, in the ring: {totals['in_ring']}, lost: {totals['lost']}, "
        f"duplicated: {totals['duplicated']}"
    )
    return 0 if totals["lost"] == 0 and totals["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
