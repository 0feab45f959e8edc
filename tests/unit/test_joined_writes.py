"""The server's transport wrapper: an answer's head and body leave in one write, nothing held is lost or
reordered. The transport under it records what it is asked to send (the real one is a socket: the e2e tests
answer over it)."""

from __future__ import annotations

import asyncio

from service.http.server import _JoinedWrites


class Recorded:
    """A transport that keeps each write as it comes, and whether it was closed after them."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed_after: int | None = None

    def write(self, data: bytes) -> None:
        assert self.closed_after is None, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed_after = len(self.writes)

    def is_closing(self) -> bool:
        return self.closed_after is not None


def joined() -> tuple[_JoinedWrites, Recorded, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    recorded = Recorded()
    return _JoinedWrites(recorded, loop), recorded, loop  # type: ignore[arg-type]


def end_of_turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_a_head_and_its_body_leave_as_one_write():
    transport, recorded, loop = joined()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert recorded.writes == []
    transport.write(b"{}")
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    end_of_turn(loop)
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_write_alone_leaves_at_the_end_of_the_turn():
    transport, recorded, loop = joined()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    end_of_turn(loop)
    assert recorded.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_writes_keep_their_order_and_every_byte():
    transport, recorded, loop = joined()
    chunks = [b"head", b"one", b"two", b"three", b"four"]
    for chunk in chunks:
        transport.write(chunk)
    end_of_turn(loop)
    assert b"".join(recorded.writes) == b"".join(chunks)
    assert len(recorded.writes) == 3  # head+one, two+three, four at the turn's end


def test_what_is_held_leaves_before_the_connection_is_closed():
    transport, recorded, loop = joined()
    transport.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    transport.close()
    assert recorded.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"] and recorded.closed_after == 1
    end_of_turn(loop)  # the turn's flush finds nothing left to write
    assert recorded.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"]


def test_everything_else_is_the_transport_s_own():
    transport, recorded, loop = joined()
    assert transport.is_closing() is False
    transport.close()
    assert transport.is_closing() is True
    end_of_turn(loop)
