"""The control surface against a real show: aiohttp websocket clients on loopback play it, and what
they send reaches the show only through its event queue and mapping engine."""

from __future__ import annotations

import asyncio
import io
import json
import socket

import aiohttp
import numpy as np
import pytest
from PIL import Image

from tests.support.readback import paint
from tests.support.surface import Stage
from vj.params import REGISTRY
from vj.surface import clients
from vj.surface.jpeg import preview_size
from vj.vocabulary import in_order

GARBAGE = [
    "not json",
    "[1, 2, 3]",
    json.dumps({"type": "set", "param": "no.such.param", "value": 1}),
    json.dumps({"type": "set", "param": "zoom", "value": "fast"}),
    '{"type": "set", "param": "zoom", "value": NaN}',
    json.dumps({"type": "set", "param": "scheduler", "value": "warp"}),
    json.dumps({"type": "action", "name": "quit"}),
    json.dumps({"type": "prompt", "index": 99, "text": "x"}),
    json.dumps({"type": "prompt", "index": 1, "text": ""}),
    json.dumps({"type": "preset", "index": -1}),
    json.dumps({"type": "preview", "on": "yes"}),
    json.dumps({"type": "warp"}),
    "[" * 1000 + "]" * 1000,
]


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_hello_has_a_control_per_parameter_with_its_range(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws:
            hello = await stage.receive(ws, lambda m: m["type"] == "hello")
        params = {p["name"]: p for p in hello["params"]}
        assert list(params) == list(REGISTRY.names)
        for spec in REGISTRY:
            p = params[spec.name]
            assert (p["kind"], p["lo"], p["hi"], p["default"], p["unit"]) == (
                spec.kind, spec.lo, spec.hi, spec.default, spec.unit)
            assert p["description"] == spec.description and p["choices"] == list(spec.choices) and p["group"]
        assert params["zoom"]["group"] == "motion" and params["hue"]["group"] == "colour"
        assert hello["presets"] == ["one", "two"] and hello["preset"] == "one"
        assert [p["index"] for p in hello["prompts"]] == list(range(1, 9))
        assert hello["prompts"][0] == {"index": 1, "text": "glowing nebula over a neon city", "weight": 1.0}
        names = {a["name"] for a in hello["actions"]}
        assert {"tap", "freeze", "blackout", "seed.step", "tempo.double", "tempo.half", "beat.nudge",
                "beat.resync"} <= names
        assert "quit" not in names
        assert hello["meters"]["type"] == "meters" and hello["meters"]["bpm"] == 120.0

    run(scenario)


def test_a_set_goes_through_the_event_queue_and_every_page_follows(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as phone, \
                s.ws_connect(stage.url()) as laptop:
            for ws in (phone, laptop):
                await stage.receive(ws, lambda m: m["type"] == "hello")
            await phone.send_json({"type": "set", "param": "zoom", "value": 1.25})
            await stage.until(lambda: stage.events.count >= 1)
            assert stage.show.state.base["zoom"] == 0.0  # not yet: only the render thread applies it
            seen = await stage.receive(laptop, lambda m: m["type"] == "values" and "zoom" in m["values"])
            assert seen["values"]["zoom"] == 1.25 and stage.show.state.base["zoom"] == 1.25
            # units and kinds as the registry has them: clamped to range, a choice by name, a switch
            await laptop.send_json({"type": "set", "param": "rotate", "value": 500})
            await laptop.send_json({"type": "set", "param": "crossfade.curve", "value": "cut"})
            await laptop.send_json({"type": "set", "param": "seed.sync", "value": True})
            await stage.until(lambda: stage.show.state.base["seed.sync"] is True)
            assert stage.show.state.base["rotate"] == 180.0 and stage.show.state.base["crossfade.curve"] == "cut"
            seen = await stage.receive(phone, lambda m: m["type"] == "values" and "seed.sync" in m["values"])
            assert seen["values"]["seed.sync"] is True

    run(scenario)


def test_actions_presets_and_prompts(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            await ws.send_json({"type": "action", "name": "freeze"})
            await stage.until(lambda: stage.show.state.base["freeze"] is True)
            await ws.send_json({"type": "action", "name": "beat.nudge", "value": -10})
            await ws.send_json({"type": "action", "name": "tempo.double"})
            await stage.until(lambda: stage.show.state.base["bpm"] == 240.0)
            await ws.send_json({"type": "preset", "index": 1})
            switched = await stage.receive(ws, lambda m: m["type"] == "preset")
            assert switched["preset"] == "two" and switched["index"] == 1 and stage.show.prompts.index == 1
            await ws.send_json({"type": "prompt", "index": 2, "text": "a glass city at dawn"})
            prompts = await stage.receive(ws, lambda m: m["type"] == "prompts")
            assert prompts["prompts"][1]["text"] == "a glass city at dawn"
            assert stage.show.prompts.texts()[1] == "a glass city at dawn"

    run(scenario)


def test_meters_stream_the_tempo_and_beat(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            first = await stage.receive(ws, lambda m: m["type"] == "meters")
            later = await stage.receive(ws, lambda m: m["type"] == "meters" and m["beat_phase"] != first["beat_phase"])
            assert later["bpm"] == 120.0 and later["clock"] == "manual" and 0 <= later["bar_phase"] < 1

    run(scenario)


def test_garbage_is_ignored_and_an_oversized_message_closes_only_its_page(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws, s.ws_connect(stage.url()) as other:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            for text in GARBAGE:
                await ws.send_str(text)
            await ws.send_bytes(b"\x00\xff" * 10)
            await ws.send_json({"type": "set", "param": "hue", "value": 45})
            await stage.until(lambda: stage.show.state.base["hue"] == 45.0)
            assert stage.surface.ignored >= len(GARBAGE) + 1
            assert stage.show.state.base["zoom"] == 0.0 and stage.show.state.base["scheduler"] == "auto"
            await ws.send_str(json.dumps({"type": "prompt", "index": 1, "text": "x" * 5000}))
            closed = await ws.receive(timeout=5)
            while closed.type is aiohttp.WSMsgType.TEXT:  # what was on its way before the close
                closed = await ws.receive(timeout=5)
            assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 1008
            assert stage.surface.oversized == 1
            await other.send_json({"type": "set", "param": "hue", "value": -30})
            await stage.until(lambda: stage.show.state.base["hue"] == -30.0)
            assert stage.show.prompts.texts()[0] == "glowing nebula over a neon city"

    run(scenario)


def test_a_burst_is_coalesced_and_its_last_value_applied(stage: Stage):
    burst = 600

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            before = stage.events.count
            for i in range(1, burst + 1):
                await ws.send_json({"type": "set", "param": "zoom", "value": i / burst})
            await stage.until(lambda: stage.show.state.base["zoom"] == 1.0)
            assert stage.events.count - before < burst / 2  # the rest coalesced, latest wins

    run(scenario)


def test_the_preview_sends_jpegs_of_the_picture_to_those_who_ask(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws, s.ws_connect(stage.url()) as blind:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            await ws.send_json({"type": "preview", "on": True})
            frames: list[bytes] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while len(frames) < 3 and loop.time() < deadline:
                stage.frame()
                try:
                    message = await asyncio.wait_for(ws.receive(), 0.02)
                except TimeoutError:
                    continue
                if message.type is aiohttp.WSMsgType.BINARY:
                    frames.append(message.data)
            assert len(frames) == 3
            for data in frames:
                image = Image.open(io.BytesIO(data))
                assert image.format == "JPEG" and image.size == preview_size(stage.target.size) == (320, 180)
            while True:  # the page that did not ask got text only
                try:
                    message = await asyncio.wait_for(blind.receive(), 0.01)
                except TimeoutError:
                    break
                assert message.type is aiohttp.WSMsgType.TEXT
            await ws.send_json({"type": "preview", "on": False})
            await stage.until(lambda: not stage.surface.wants_preview)

    run(scenario)


def test_a_page_that_stops_reading_is_dropped_and_the_show_goes_on(stage: Stage, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(clients, "SEND_QUEUE", 8)

    async def scenario():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
        sock.connect(("127.0.0.1", stage.surface.port))
        _, writer = await asyncio.open_connection(sock=sock, limit=1024)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await writer.drain()
        writer.transport.pause_reading()  # and never reads again
        await stage.until(lambda: stage.surface.clients == 1)
        async with aiohttp.ClientSession() as s, s.ws_connect(stage.url()) as ws:
            await stage.receive(ws, lambda m: m["type"] == "hello")
            for i in range(400):  # long prompts: every page gets all eight, 7 KB, at each change
                if stage.surface.dropped:
                    break
                await ws.send_json({"type": "prompt", "index": i % 8 + 1, "text": f"{i} " + "a glass city " * 70})
                stage.frame()
                await asyncio.sleep(0.05)
            assert stage.surface.dropped == 1 and stage.surface.clients == 1
            await ws.send_json({"type": "set", "param": "hue", "value": 12})  # the other page plays on
            seen = await stage.receive(ws, lambda m: m["type"] == "values" and "hue" in m["values"])
            assert seen["values"]["hue"] == 12.0
        writer.close()

    run(scenario)


def test_beyond_loopback_every_request_needs_the_token(open_stage_on):
    with open_stage_on("0.0.0.0") as stage:
        token = stage.surface.token
        assert token and f"token={token}" in stage.surface.url

        async def scenario():
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # as a browser
                for path in ("/", "/static/surface.js", "/ws"):
                    async with s.get(stage.url(path)) as reply:
                        assert reply.status == 403, path
                    async with s.get(stage.url(path, "wrong")) as reply:
                        assert reply.status == 403, path
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await s.ws_connect(stage.url())
                assert refused.value.status == 403
                async with s.get(stage.url("/", token)) as reply:
                    assert reply.status == 200 and "vj surface" in await reply.text()
                async with s.get(stage.url("/static/surface.js")) as reply:  # the page's cookie
                    assert reply.status == 200
                async with s.ws_connect(stage.url("/ws", token)) as ws:
                    await stage.receive(ws, lambda m: m["type"] == "hello")
                    await ws.send_json({"type": "set", "param": "zoom", "value": -1})
                    await stage.until(lambda: stage.show.state.base["zoom"] == -1.0)

        run(scenario)


def test_on_loopback_no_other_site_or_host_name_gets_in(stage: Stage):
    async def scenario():
        async with aiohttp.ClientSession() as s:
            async with s.get(stage.url("/")) as reply:
                assert reply.status == 200
            async with s.get(stage.url("/"), headers={"Host": "evil.example:8080"}) as reply:
                assert reply.status == 403  # DNS rebinding: a name that is not this machine
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(stage.url(), headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            origin = f"http://127.0.0.1:{stage.surface.port}"
            async with s.ws_connect(stage.url(), headers={"Origin": origin}) as ws:
                await stage.receive(ws, lambda m: m["type"] == "hello")

    run(scenario)


def test_the_preview_is_the_picture_drawn_scaled_and_without_the_hud_the_layers_drawn_again(stage: Stage):
    """The HUD off: the picture the show drew, scaled by a blit (here one painted over it, with a
    white band on top). The HUD on: the show's layers drawn again without it (the Solid grey)."""
    snap = stage.show.frame(1 / 30, stage.target)
    paint(stage.target, 4)  # 0.4, 0.3, 0.2 under a white band over the top quarter
    preview = stage.feed.preview
    assert not snap["hud"]
    shot = preview.capture(stage.show, snap, stage.target)
    assert shot is not None and shot.pixels.shape == (180, 320, 4)
    rgb = in_order(shot.pixels, shot.order, "rgba")[..., :3].astype(int)
    assert (rgb[:40] >= 254).all()  # the band, on top
    assert np.abs(rgb[-100:] - (102, 76, 51)).max() <= 2  # the painted colour below, scaled
    stage.show.state.set_base("hud", True, jump=True)
    snap = stage.show.frame(1 / 30, stage.target)
    assert snap["hud"]
    shot = preview.capture(stage.show, snap, stage.target)
    assert shot is not None
    rgb = in_order(shot.pixels, shot.order, "rgba")[..., :3].astype(int)
    assert (rgb == rgb[0, 0]).all() and rgb[0, 0, 0] == rgb[0, 0, 1] == rgb[0, 0, 2]  # the generator's grey, no HUD
