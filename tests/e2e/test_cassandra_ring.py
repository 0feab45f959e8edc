"""A 3-node ring (127.0.0.1-3): one simulated day with one replica spreads over every node; then, with
replication factor 3, upload traffic while it loses one node, then two.

The same code as `make ring` (benchmarks/cassandra_ring.py), with shorter phases. About 100 s here.
"""

from __future__ import annotations

import pytest

from benchmarks.cassandra_ring import run

pytestmark = pytest.mark.ring


def test_the_ring_loses_nodes_and_no_answered_upload_is_lost_or_doubled(cassandra_node, tmp_path):
    report = run(phase_seconds=5, clients=2, latency=False, workdir=tmp_path)
    # one replica: each node takes a fair share of one day's rows, where the day partition gave one node all
    spread = report["spread"]
    assert spread["stored"] == spread["rows"]
    assert all(abs(share - 1 / 3) <= 0.15 / 3 for share in spread["share"].values()), spread
    assert sorted(spread["share_first_schema"].values()) == [0, 0, 1]
    assert spread["largest_partition_rows"] <= 2 * spread["rows"] / spread["partitions"] + 10
    phases = report["phases"]
    # one node down: LOCAL_QUORUM (2 of 3) holds, so every write goes straight to the ring
    assert set(phases["2. node 3 killed"]["answers"]) == {"200"}
    assert phases["2. node 3 killed"]["spool_peak"] == 0
    # two down: quorum is lost; uploads are still answered 200, their records wait in the spool
    assert set(phases["3. nodes 2 and 3 killed"]["answers"]) == {"200"}
    assert phases["3. nodes 2 and 3 killed"]["spool_peak"] > 0
    # a node returns: the spool drains into the ring
    assert report["spool_after_node_2_back"] == 0
    totals = report["totals"]
    assert totals["answered_200"] > 0
    assert (totals["lost"], totals["duplicated"]) == (0, 0)
    assert totals["in_ring"] == totals["distinct_answered"] == totals["answered_200"]
