"""The Cassandra log against a node that speaks TLS only, as Amazon Keyspaces does (the tests' shared node:
tests/conftest.py): each node's certificate checked against its address, protocol v4 as Keyspaces speaks it,
and clear errors for a client without TLS, a certificate from another authority, and a data centre the
cluster does not have."""

from __future__ import annotations

import pytest

from scripts.cassandra_node import make_tls
from service.errors import LogUnavailable
from tests.fixtures.cassandra import apply_schema, keyspace_name, open_log
from tests.fixtures.records import record

pytestmark = pytest.mark.cassandra


@pytest.fixture(scope="module")
def keyspace(cassandra_node):
    name = keyspace_name("tls")
    apply_schema(cassandra_node, name)
    return name


def test_writes_and_reads_over_tls_with_protocol_v4(cassandra_node, keyspace):
    log = open_log(cassandra_node, keyspace, protocol_version=4)
    try:
        log.ensure_schema()
        written = record()
        log.write(written)
        assert log.get(written.id).normalised == written.normalised
        assert log.cql.session().cluster.protocol_version == 4
    finally:
        log.close()


def test_a_client_without_tls_is_told_to_set_the_ca(cassandra_node, keyspace):
    log = open_log(cassandra_node, keyspace, tls_ca=None)
    try:
        with pytest.raises(LogUnavailable, match="CASSANDRA_TLS_CA"):
            log.write(record())
    finally:
        log.close()


def test_a_certificate_from_another_authority_is_refused(cassandra_node, keyspace, tmp_path):
    _, stranger = make_tls(tmp_path / "other")
    log = open_log(cassandra_node, keyspace, tls_ca=str(stranger))
    try:
        with pytest.raises(LogUnavailable, match="cannot reach"):
            log.write(record())
    finally:
        log.close()


def test_a_data_centre_the_cluster_lacks_is_named_in_the_error(cassandra_node, keyspace):
    log = open_log(cassandra_node, keyspace, local_dc="eu-west-1")
    try:
        with pytest.raises(LogUnavailable, match="CASSANDRA_LOCAL_DC='eu-west-1'.*datacenter1"):
            log.write(record())
    finally:
        log.close()
