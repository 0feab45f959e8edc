"""The local function URL of `make lambda` (scripts/function_url.py): requests into payload-format-2.0 events
and results back into HTTP, as Lambda function URLs do."""

from __future__ import annotations

import base64
import json

from scripts.function_url import PAYLOAD_LIMIT, event_for, http_answer


def test_a_request_becomes_the_event_a_function_url_builds():
    headers = [("Host", "x"), ("Accept", "a"), ("Accept", "b"), ("Cookie", "s=1; t=2"), ("Content-Type", "image/png")]
    event = event_for("POST", "/predictions?limit=5&tag=a&tag=b", headers, b"\x89PNG", "10.0.0.1")
    assert event["version"] == "2.0" and event["rawPath"] == "/predictions"
    assert event["rawQueryString"] == "limit=5&tag=a&tag=b"
    assert event["queryStringParameters"] == {"limit": "5", "tag": "a,b"}
    assert event["headers"]["accept"] == "a,b" and "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x89PNG"
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == ("POST", "/predictions", "10.0.0.1")
    text = event_for("POST", "/", [("Content-Type", "application/json")], b'{"a": 1}', "::1")
    assert not text["isBase64Encoded"] and text["body"] == '{"a": 1}' and "queryStringParameters" not in text


def test_a_result_becomes_http_as_a_function_url_returns_it():
    binary = {"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["s=1"], "body": "AAE=", "isBase64Encoded": True}
    assert http_answer(json.dumps(binary).encode()) == (201, [("x-a", "1"), ("Set-Cookie", "s=1")], b"\x00\x01")
    status, headers, body = http_answer(json.dumps({"digit": 3}).encode())  # no statusCode: the value is the body
    assert (status, json.loads(body)) == (200, {"digit": 3}) and ("Content-Type", "application/json") in headers
    assert http_answer(b'"plain"')[2] == b'"plain"'
    failed = http_answer(json.dumps({"errorMessage": "boom", "errorType": "ValueError"}).encode())
    assert failed[0] == 502 and b"boom" not in failed[2]  # the function's error stays in its log
    too_big = http_answer(json.dumps({"statusCode": 200, "body": "x" * PAYLOAD_LIMIT}).encode())
    assert too_big[0] == 502 and b"Response payload size exceeded" in too_big[2]
