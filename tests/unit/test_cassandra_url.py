"""PREDICTION_LOG=cassandra://…: what the service, the CLI and Spark connect to."""

from __future__ import annotations

import pytest

from service.cassandra_url import parse
from service.predlog.cassandra import CassandraPredictionLog
from service.settings import ConfigError, Settings


@pytest.mark.parametrize(
    ("url", "points", "keyspace"),
    [
        ("cassandra://db1", [("db1", 9042)], "digits"),
        ("cassandra://db1,db2:9142/eu", [("db1", 9142), ("db2", 9142)], "eu"),  # the URL's port for every host
        ("cassandra://u:p@db1:9142,db2:9043/digits?ssl=1", [("db1", 9142), ("db2", 9043)], "digits"),
        ("cassandra://db1:9142,db2/k", [("db1", 9142), ("db2", 9042)], "k"),
        ("cassandra://[::1]:9043,[fe80::1]/k_2", [("::1", 9043), ("fe80::1", 9042)], "k_2"),
        ("cassandra://db1,,db2/", [("db1", 9042), ("db2", 9042)], "digits"),
    ],
)
def test_each_host_keeps_its_own_port_and_the_others_take_the_urls(url, points, keyspace):
    parsed = parse(url)
    assert (list(parsed.contact_points), parsed.keyspace) == (points, keyspace)
    assert parsed.port == points[-1][1] and parsed.hosts == [host for host, _ in points]


def test_where_names_every_host_with_its_port_and_brackets_an_ipv6_address():
    assert parse("cassandra://db1:9142,[::1]/k").where == "db1:9142,[::1]:9042"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("cassandra:///digits", "names no host"),
        ("cassandra://u:p@/digits", "names no host"),
        ("cassandra://:9042/digits", "':9042' names no host"),
        ("cassandra://db1:x/k", "port 'x' of 'db1' is not a number from 1 to 65535"),
        ("cassandra://db1:0/k", "port '0'"),
        ("cassandra://db1:65536/k", "port '65536'"),
        ("cassandra://db1:-1/k", "port '-1'"),
        ("cassandra://db1:9042:1/k", "port '9042:1'"),
        ("cassandra://[::1]x/k", "is not [IPv6 address] or [IPv6 address]:port"),
        ("cassandra://[::1/k", "IPv6"),
        ("cassandra://db1/a-b", "keyspace 'a-b' must be letters, digits and _"),
        ("sqlite:///var/log.db", "is not a cassandra:// URL"),
    ],
)
def test_a_url_that_cannot_be_connected_to_is_refused_with_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("?", r"\?")):
        parse(url)


def test_settings_refuse_it_at_start_naming_the_setting():
    with pytest.raises(ConfigError, match=r"PREDICTION_LOG='cassandra://db1:x/k': port 'x'"):
        Settings.from_env({"PREDICTION_LOG": "cassandra://db1:x/k", "CASSANDRA_LOCAL_DC": "dc1"})


def test_the_log_connects_to_every_host_on_its_own_port_and_describes_them():
    log = CassandraPredictionLog("cassandra://db1:9142,db2:9043/eu", None, None, "LOCAL_QUORUM")  # not connected
    try:
        assert log.describe() == "cassandra://db1:9142,db2:9043/eu" and log.keyspace == "eu"
        assert log.cql.url.contact_points == (("db1", 9142), ("db2", 9043))
    finally:
        log.close()


@pytest.mark.parametrize(
    ("username", "password", "login"),
    [
        (None, None, None),
        ("", "s3cret", None),
        ("reader", None, ("reader", "")),
        ("reader", "s3cret", ("reader", "s3cret")),
    ],
)
def test_a_login_is_offered_only_with_a_username_and_a_missing_password_is_empty(username, password, login):
    log = CassandraPredictionLog("cassandra://db1/eu", username, password, "LOCAL_QUORUM")  # not connected
    try:
        assert log.cql.login == login
    finally:
        log.close()


def test_the_connection_settings_reach_the_driver_session_as_given(tmp_path):
    ca = tmp_path / "ca.pem"
    log = CassandraPredictionLog("cassandra://db1/eu", None, None, "ONE", "eu-west", str(ca), 4)  # not connected
    try:
        cql = log.cql
        assert (cql.consistency, cql.local_dc, cql.tls_ca, cql.tls, cql.protocol_version) == (
            "ONE",
            "eu-west",
            str(ca),
            True,
            4,
        )
    finally:
        log.close()
