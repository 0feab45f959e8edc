"""What a client can make a worker keep: nothing that grows with the requests it makes up (real servers, the
worker's own resident memory read from /proc)."""

from __future__ import annotations

import http.client
import os
import random
import string

import requests

from scripts.servers import function_server
from tests.e2e.test_observability import sample
from tests.fixtures.processes import rss_kib, server_processes

NAME_CHARS = 2_000  # long names: what each one cost the worker is then far above the allocator's noise


def _random_asset_paths(url: str, count: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    for _ in range(count):
        connection.request("GET", "/assets/" + os.urandom(NAME_CHARS // 2).hex())
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 404
    connection.close()


def test_random_asset_names_leave_the_workers_memory_where_it_was(tmp_path, predict_env):
    """20,000 requests for assets that do not exist, each a new name: the worker's RSS stays within 10 % of what
    it was after a warm-up of the same requests (it grew with every name before: they were cached)."""
    with function_server("predict", {**predict_env, "WORKERS": "1"}, tmp_path) as url:
        _, [worker] = server_processes(url)
        _random_asset_paths(url, 2_000)
        warm = rss_kib(worker)
        _random_asset_paths(url, 20_000)
        after = rss_kib(worker)
        assert after <= warm * 1.10, f"worker RSS {warm / 1024:.1f} -> {after / 1024:.1f} MB"
        assert requests.get(url + "/assets/app.css", timeout=10).status_code == 200
        for name in (".hidden.css", "..%2Fpages.py", "pages.py"):
            assert requests.get(f"{url}/assets/{name}", timeout=10).status_code == 404


def test_made_up_methods_are_one_label_however_many_there_are(tmp_path, predict_env):
    """functions-framework passes any well-formed method on: 500 made-up ones are counted under one method label,
    not 500 series kept by the worker and listed in every scrape."""
    with function_server("predict", {**predict_env, "WORKERS": "1"}, tmp_path, runtime="functions-framework") as url:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        for _ in range(500):
            connection.request("".join(random.choices(string.ascii_uppercase, k=12)), "/healthz")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 405
        text = requests.get(url + "/metrics", timeout=30).text
    series = [line for line in text.splitlines() if line.startswith("digits_requests_total{")]
    assert sample(text, "digits_requests_total", function="predict", route="other", method="other", status="405") == 500
    assert len(series) <= 3, series  # the readiness probe's GET /healthz, the 405s, (this scrape's own)
