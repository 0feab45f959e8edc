"""The Cassandra log against a node that speaks TLS only, as Amazon Keyspaces does: a certificate authority
made for the test, the node's certificate checked against its address, protocol v4 as Keyspaces speaks it,
and clear errors for a client without TLS and for a data centre the cluster does not have."""

from __future__ import annotations

import os

import pytest

from scripts.cassandra_node import SUPERUSER, CassandraNode, NodeError, classpath, free_port, java_17, make_tls
from service.errors import LogUnavailable
from service.predlog.cassandra import CassandraPredictionLog
from tests.fixtures.records import record

pytestmark = pytest.mark.cassandra


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    try:
        java_17()
        cp = classpath(quiet=True)
    except NodeError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"a real Cassandra node is required under CI=true: {exc}")
        pytest.skip(f"no Cassandra node can run here: {exc}")
    directory = tmp_path_factory.mktemp("cassandra-tls")
    node_pem, ca = make_tls(directory / "tls")
    node = CassandraNode(
        directory / "node", native_port=free_port(), storage_port=free_port(), password_auth=True, tls=node_pem
    )
    node.start(cp)
    try:
        node.wait_ready()
        yield node, str(ca)
    finally:
        node.stop()


def open_log(node, **options) -> CassandraPredictionLog:
    return CassandraPredictionLog(f"{node.url}/tls_digits", *SUPERUSER, "LOCAL_QUORUM", **options)


def test_writes_and_reads_over_tls_with_protocol_v4(tls_node):
    node, ca = tls_node
    log = open_log(node, tls_ca=ca, protocol_version=4)
    try:
        log.apply_schema({"datacenter1": 1})
        log.ensure_schema()
        written = record()
        log.write(written)
        assert log.get(written.id).normalised == written.normalised
        assert log.cql.session().cluster.protocol_version == 4
    finally:
        log.close()


def test_a_client_without_tls_is_told_to_set_the_ca(tls_node):
    node, _ = tls_node
    log = open_log(node)
    try:
        with pytest.raises(LogUnavailable, match="CASSANDRA_TLS_CA"):
            log.write(record())
    finally:
        log.close()


def test_a_certificate_from_another_authority_is_refused(tls_node, tmp_path):
    node, _ = tls_node
    _, stranger = make_tls(tmp_path / "other")
    log = open_log(node, tls_ca=str(stranger))
    try:
        with pytest.raises(LogUnavailable, match="cannot reach"):
            log.write(record())
    finally:
        log.close()


def test_a_data_centre_the_cluster_lacks_is_named_in_the_error(tls_node):
    node, ca = tls_node
    log = open_log(node, tls_ca=ca, local_dc="eu-west-1")
    try:
        with pytest.raises(LogUnavailable, match="CASSANDRA_LOCAL_DC='eu-west-1'.*datacenter1"):
            log.write(record())
    finally:
        log.close()
