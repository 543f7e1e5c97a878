"""OSCQuery on vj's web server, attacked and used as clients do: real sockets on loopback against
the real aiohttp server, raw bytes for the misbehaving clients, aiohttp's websocket client and curl
for the well-behaved ones, python-osc to read what LISTEN streams."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import aiohttp
import pytest
from pythonosc.osc_message import OscMessage

from vj.control import oscquery
from vj.control.osc_space import address_space
from vj.control.oscquery import OscQuery
from vj.web.server import Limits, WebServer

TIGHT = Limits(connections=8, per_client=4, request_timeout=0.5, keepalive_timeout=0.5)
ZOOM = b"GET /vj/param/zoom HTTP/1.1\r\nHost: vj\r\nConnection: close\r\n\r\n"


@pytest.fixture
def query() -> Iterator[OscQuery]:
    """OSCQuery as `vj run` starts it: its own web server, the default limits."""
    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0).start()
    yield query
    query.stop()


@pytest.fixture
def tight() -> Iterator[OscQuery]:
    """OSCQuery on a shared web server with small limits, so the tests need not wait long."""
    server = WebServer(TIGHT)
    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0, server=server)
    server.start()
    query.start()
    yield query
    query.stop()
    server.stop()


def connect(port: int, source: str = "127.0.0.1", rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(3)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def ask(port: int, request: bytes, source: str = "127.0.0.1") -> bytes:
    with connect(port, source) as sock:
        sock.sendall(request)
        return read_all(sock)


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def body(reply: bytes) -> object:
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


def hang_up(sock: socket.socket) -> None:
    """Close with a reset, as a client that crashed or gave up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `sock` (reading and dropping what it sent), failing after `seconds`."""
    started = time.perf_counter()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {seconds} s")
    return time.perf_counter() - started


def eventually(check: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.perf_counter() + seconds
    while not check():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.01)
    return True


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


def test_fifty_idle_connections_do_not_keep_a_request_waiting(query):
    idle = [connect(query.port) for _ in range(50)]
    try:
        started = time.perf_counter()
        reply = ask(query.port, ZOOM)
        took = time.perf_counter() - started
        assert status(reply) == 200 and body(reply)["FULL_PATH"] == "/vj/param/zoom"
        assert took < 1.0, f"answered after {took:.3f} s"
        print(f"\n50 idle connections open: GET /vj/param/zoom answered in {took * 1000:.1f} ms")
    finally:
        for sock in idle:
            sock.close()


def test_idle_connections_from_another_client_are_capped_and_others_are_served(tight):
    idle = [connect(tight.port, "127.0.0.2") for _ in range(TIGHT.per_client)]
    try:
        assert status(ask(tight.port, ZOOM)) == 200  # 127.0.0.1 is not held up by 127.0.0.2's idle ones
        assert status(ask(tight.port, ZOOM, "127.0.0.2")) == 200  # and 127.0.0.2's oldest idle one makes room
    finally:
        for sock in idle:
            sock.close()


def test_a_slowloris_connection_is_closed_within_the_request_timeout(tight):
    with connect(tight.port) as silent, connect(tight.port) as slow:
        slow.sendall(b"GET /vj/param/zo")  # half a request line, then nothing
        assert closed_within(slow, 3) < TIGHT.request_timeout + 1.0
        assert closed_within(silent, 3) < TIGHT.request_timeout + 1.0
    assert status(ask(tight.port, ZOOM)) == 200


def test_a_slow_second_request_on_a_kept_alive_connection_is_closed_too(tight):
    with connect(tight.port) as sock:
        sock.sendall(b"GET /vj/param/zoom HTTP/1.1\r\nHost: vj\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert status(head) == 200
        sock.sendall(b"GET /vj/par")
        assert closed_within(sock, 3) < TIGHT.keepalive_timeout + 1.0


@pytest.mark.parametrize("request_bytes", [
    b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: vj\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: vj\r\nConnection: close\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: vj\r\nConnection: close\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
], ids=["request-line", "header-line", "header-count"])
def test_an_oversized_request_gets_4xx_and_the_server_goes_on(tight, request_bytes, caplog):
    reply = ask(tight.port, request_bytes)
    assert 400 <= status(reply) < 500, reply[:200]
    assert status(ask(tight.port, ZOOM)) == 200
    assert warnings_logged(caplog) == []


def test_an_oversized_body_gets_413(tight):
    big = b"x" * (TIGHT.max_body + 1)
    reply = ask(tight.port, b"POST / HTTP/1.1\r\nHost: vj\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                % (len(big), big))
    assert status(reply) in (405, 413)  # OSCQuery answers GET only: refused before the body is read
    assert status(ask(tight.port, ZOOM)) == 200


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS ClientHello
    b"\x00\xff\xfe garbage \r\n\r\n\x01\x02",
    b"SSH-2.0-OpenSSH_9.6\r\n",
])
def test_garbage_instead_of_http_leaves_the_server_serving(tight, garbage, caplog):
    caplog.set_level(logging.DEBUG, logger="vj.web.server")
    with connect(tight.port) as sock:
        sock.sendall(garbage)
        reply = read_all(sock)  # a 400, or just closed (at the latest when the request timeout runs out)
        assert reply == b"" or status(reply) == 400
    assert status(ask(tight.port, ZOOM)) == 200
    assert warnings_logged(caplog) == []


def test_clients_hanging_up_early_leave_no_traceback_in_the_log(tight, caplog):
    caplog.set_level(logging.DEBUG, logger="vj.web.server")
    for _ in range(20):  # right after asking
        sock = connect(tight.port)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: vj\r\n\r\n")
        hang_up(sock)
    for _ in range(10):  # in the middle of the reply (the whole tree)
        sock = connect(tight.port, rcvbuf=1024)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: vj\r\n\r\n")
        sock.recv(100)
        hang_up(sock)
    for turn in range(3):  # a LISTEN client, while values stream to it
        sock = raw_websocket(tight.port)
        sock.sendall(text_frame(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/prompt/1/text"})))
        time.sleep(0.05)
        for i in range(5):
            tight.publish({"prompt.1.text": f"{turn} {i} " + "nebula " * 2000})
            if i == 2:
                hang_up(sock)
            time.sleep(0.01)
    time.sleep(0.3)
    assert status(ask(tight.port, ZOOM)) == 200
    assert warnings_logged(caplog) == []
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)


def test_one_client_cannot_take_more_than_its_share_of_connections(tight, caplog):
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            busy = [await session.ws_connect(f"http://127.0.0.1:{tight.port}/") for _ in range(TIGHT.per_client)]
            refused = await asyncio.to_thread(ask, tight.port, ZOOM)  # a fifth, while the four are in use
            assert status(refused) == 503 and b"Retry-After: 1" in refused
            served = await asyncio.to_thread(ask, tight.port, ZOOM, "127.0.0.2")  # another client is served
            assert status(served) == 200
            await busy.pop().close()
            for _ in range(100):  # until the server has seen it go
                if tight.server.open_connections < TIGHT.per_client:
                    break
                await asyncio.sleep(0.02)
            assert status(await asyncio.to_thread(ask, tight.port, ZOOM)) == 200  # a place came free
            for ws in busy:
                await ws.close()

    asyncio.run(scenario())
    assert tight.server.refused == 1
    assert any("refusing connections from 127.0.0.1" in line for line in warnings_logged(caplog))


def test_the_server_as_a_whole_has_a_connection_limit():
    server = WebServer(Limits(connections=3, per_client=2))
    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0, server=server)
    server.start()

    async def scenario() -> None:
        async with aiohttp.ClientSession() as one, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as two:
            held = [await one.ws_connect(f"http://127.0.0.1:{query.port}/") for _ in range(2)]
            held.append(await two.ws_connect(f"http://127.0.0.1:{query.port}/"))
            reply = await asyncio.to_thread(ask, query.port, ZOOM, "127.0.0.3")
            assert status(reply) == 503
            for ws in held:
                await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        query.stop()
        server.stop()


async def listen(port: int, session: aiohttp.ClientSession, *addresses: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/")
    for address in addresses:
        await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": address}))
    return ws


async def next_value(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> OscMessage:
    message = await ws.receive(timeout=timeout)
    assert message.type is aiohttp.WSMsgType.BINARY, message
    return OscMessage(message.data)


async def first_value(query: OscQuery, ws: aiohttp.ClientWebSocketResponse, values: list[dict]) -> OscMessage:
    """Publish `values` in turn until one comes back: a LISTEN has no reply, so this is how a
    client knows the server has taken it."""
    for published in values:
        query.publish(published)
        try:
            first = await next_value(ws, timeout=0.1)
        except TimeoutError:
            continue
        while True:  # one more may be on its way (the one for the value before, come late)
            try:
                await ws.receive(timeout=0.3)
            except TimeoutError:
                return first
    raise AssertionError("LISTEN never streamed a value")


def test_listen_streams_each_change_as_an_osc_message_and_ignore_stops_it(query):
    latencies = []

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await listen(query.port, session, "/vj/param/zoom", "/vj/param/crossfade.curve")
            first = await first_value(query, ws, [{"zoom": 0.1 * i} for i in range(1, 20)])
            assert first.address == "/vj/param/zoom" and isinstance(first.params[0], float)
            for value in (0.5, -1.25, 1.75):
                started = time.perf_counter()
                query.publish({"zoom": value})
                message = await next_value(ws)
                latencies.append(time.perf_counter() - started)
                assert (message.address, message.params) == ("/vj/param/zoom", [value])
            query.publish({"zoom": 1.75, "rotate": 0.3})  # nothing listened to changed: nothing comes
            query.publish({"zoom": 1.75, "crossfade.curve": "linear"})
            message = await next_value(ws)  # a choice goes as its name, as it is sent to vj
            assert message.address == "/vj/param/crossfade.curve" and isinstance(message.params[0], str)
            await ws.send_str(json.dumps({"COMMAND": "IGNORE", "DATA": "/vj/param/zoom"}))
            await asyncio.sleep(0.1)
            query.publish({"zoom": 0.25, "crossfade.curve": "linear"})
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.4)
            await ws.close()

    asyncio.run(scenario())
    print(f"\nLISTEN latency publish -> websocket: {', '.join(f'{t * 1000:.2f} ms' for t in latencies)}")
    assert max(latencies) < 0.5


def test_listen_ignores_what_is_not_a_readable_address(query):
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{query.port}/")
            for junk in ("not json", "[1, 2]", json.dumps({"COMMAND": "LISTEN", "DATA": ["/vj"]}),
                         json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/tap"}),  # an action: no value
                         json.dumps({"COMMAND": "DANCE", "DATA": "/vj/param/zoom"})):
                await ws.send_str(junk)
            await ws.send_bytes(b"/vj/param/zoom\x00\x00,f\x00\x00\x00\x00\x00\x00")  # OSC goes over UDP
            await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/param/zoom"}))
            message = await first_value(query, ws, [{"zoom": 0.1 * i} for i in range(1, 20)])
            assert message.address == "/vj/param/zoom"  # the connection survived all of it
            await ws.close()

    asyncio.run(scenario())


def raw_websocket(port: int) -> socket.socket:
    """A websocket client that will never read: a tiny receive buffer, the handshake by hand."""
    sock = connect(port, rcvbuf=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET / HTTP/1.1\r\nHost: vj\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def text_frame(text: str) -> bytes:
    payload, mask = text.encode(), os.urandom(4)
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_listener_that_never_reads_is_dropped_and_the_others_keep_receiving(query):
    address = "/vj/prompt/1/text"
    stuck = raw_websocket(query.port)
    stuck.sendall(text_frame(json.dumps({"COMMAND": "LISTEN", "DATA": address})))
    publish_times = []

    async def scenario() -> str:
        async with aiohttp.ClientSession() as session:
            ws = await listen(query.port, session, address)
            await first_value(query, ws, [{"prompt.1.text": f"warm-up {i}"} for i in range(20)])
            received: list[str] = []

            async def read() -> None:
                while True:
                    received.append((await next_value(ws)).params[0])

            reader = asyncio.create_task(read())
            text = ""
            deadline = time.perf_counter() + 8
            for i in range(100_000):  # big values, so the stuck client's buffers fill fast
                if query.dropped or time.perf_counter() > deadline:
                    break
                text = f"{i:06d} " + "nebula " * 4000
                started = time.perf_counter()
                query.publish({"prompt.1.text": text})
                publish_times.append(time.perf_counter() - started)
                await asyncio.sleep(0.005)
            assert query.dropped == 1, "the stuck listener was never dropped"
            final = "after the drop"
            query.publish({"prompt.1.text": final})
            for _ in range(100):
                if received and received[-1] == final:
                    break
                await asyncio.sleep(0.02)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await ws.close()
            return received[-1] if received else "nothing"

    try:
        assert asyncio.run(scenario()) == "after the drop"
        assert closed_within(stuck, 3) < 3  # its connection was closed
        assert eventually(lambda: query.listeners == 0)  # the other one said goodbye
        # never waits for a listener (a blocked publish would take seconds); a GIL switch may cost ms
        assert max(publish_times) < 0.05, f"publish took {max(publish_times) * 1000:.2f} ms"
    finally:
        stuck.close()


def test_listeners_are_limited(query, monkeypatch):
    monkeypatch.setattr(oscquery, "MAX_LISTENERS", 2)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            held = [await session.ws_connect(f"http://127.0.0.1:{query.port}/") for _ in range(2)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"http://127.0.0.1:{query.port}/")
            assert refused.value.status == 503
            for ws in held:
                await ws.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(("host", "via", "expected"), [
    ("0.0.0.0", "127.0.0.1", "127.0.0.1"),
    ("0.0.0.0", "127.0.0.2", "127.0.0.2"),  # the address the request came in on
    ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
])
def test_host_info_names_the_address_the_client_reached(host, via, expected):
    query = OscQuery(address_space(), host, 9000, http_port=0).start()
    try:
        with socket.create_connection((via, query.port), timeout=3) as sock:
            sock.sendall(b"GET /?HOST_INFO HTTP/1.1\r\nHost: vj\r\nConnection: close\r\n\r\n")
            info = body(read_all(sock))
        assert (info["OSC_IP"], info["OSC_PORT"], info["EXTENSIONS"]["LISTEN"]) == (expected, 9000, True)
    finally:
        query.stop()


def test_stop_is_prompt_with_clients_connected_and_leaves_no_thread():
    before = web_threads()
    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0).start()
    idle, slow = connect(query.port), connect(query.port)
    slow.sendall(b"GET /vj/param/zo")

    async def scenario() -> tuple[float, aiohttp.WSMessage]:
        async with aiohttp.ClientSession() as session:
            ws = await listen(query.port, session, "/vj/param/zoom")
            stuck = await asyncio.to_thread(raw_websocket, query.port)
            started = time.perf_counter()
            await asyncio.to_thread(query.stop)
            took = time.perf_counter() - started
            goodbye = await ws.receive(timeout=2)
            stuck.close()
            return took, goodbye

    try:
        took, goodbye = asyncio.run(scenario())
        assert took < 1.0, f"stop took {took:.3f} s"
        print(f"\nstop() with a listener, a stuck listener, an idle and a slowloris connection: {took * 1000:.0f} ms")
        assert goodbye.type is aiohttp.WSMsgType.CLOSE and goodbye.data == aiohttp.WSCloseCode.GOING_AWAY
        assert web_threads() == before
        query.publish({"zoom": 1.0})  # the render thread may publish once more: nothing happens
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", query.port), timeout=1)
    finally:
        idle.close()
        slow.close()


def web_threads() -> int:
    return sum(t.name == "vj-web" for t in threading.enumerate())


def test_a_taken_port_is_an_oserror_naming_it(query):
    before = web_threads()
    with pytest.raises(OSError, match=f"cannot serve OSCQuery on 127.0.0.1:{query.port}/tcp"):
        OscQuery(address_space(), "127.0.0.1", query.port)
    assert web_threads() == before  # the failed one started nothing


def test_curl_reads_a_node_and_is_told_off_for_a_huge_header(query):
    if shutil.which("curl") is None:
        pytest.fail("this test needs curl, a real third-party HTTP client (Debian: apt-get install curl)")
    def curl(*args: str) -> tuple[str, str]:
        done = subprocess.run(["curl", "-s", "-m", "3", "-w", "\n%{http_code}", *args], capture_output=True,
                              text=True, timeout=10)
        text, _, code = done.stdout.rpartition("\n")
        return code, text

    code, text = curl(f"http://127.0.0.1:{query.port}/vj/param/zoom?VALUE")
    assert code == "200" and json.loads(text) == {"VALUE": [0.0]}
    code, _ = curl("-H", "X-Big: " + "b" * 20_000, f"http://127.0.0.1:{query.port}/")
    assert code.startswith("4")
    code, text = curl(f"http://127.0.0.1:{query.port}/?HOST_INFO")
    assert code == "200" and json.loads(text)["EXTENSIONS"]["LISTEN"] is True
