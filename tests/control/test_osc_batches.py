"""The OSC server's cheap path: the quick parser, batches of events, latest-wins coalescing.

The quick parser must read exactly what the strict one reads (or leave the datagram to it);
coalescing may drop a value only where a later one to the same address overwrites it anyway:
every action, trigger, toggle and step still fires once per message, in order, and the
parameters end up where they would have without it.
"""

from __future__ import annotations

import math
import random
import socket

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from tests.support.osc import settle
from tests.support.show import make_show
from vj.config.mapping import Binding, MappingConfig, merge_mappings, parse_mapping
from vj.control.engine import MappingEngine
from vj.control.osc_codec import OscFormatError, encode_message, parse_packet, parse_simple
from vj.control.osc_server import OscServer, message_event
from vj.control.osc_space import address_space, latest_wins
from vj.params import ParamState
from vj.vocabulary import ConfigChanged, ControlEvent, EventQueue, control_event


def _msg(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def _same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN (an OSC float may be NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _corpus(rng: random.Random) -> list[bytes]:
    valid = [
        encode_message("/vj/param/zoom", 0.5), encode_message("/vj/param/seed", 7), encode_message("/vj/tap"),
        encode_message("/a", -(2**31)), encode_message("/abc", 2**31 - 1), encode_message("/abcd", 1.5),
        encode_message("/x/y/z", float("inf")), encode_message("/nan", float("nan")), encode_message("/neg", -0.0),
        encode_message("/vj/prompt/1/text", "deep ocean"), encode_message("/two", 1, 2.0),
        encode_message("/b", True), encode_message("/blob", b"\x01\x02"),
        encode_message("/vj/param/{zoom,rotate}", 1.0),
        encode_message("/\u00e9t\u00e9", 0.25),  # a UTF-8 address
        b"/old\x00\x00\x00\x00",  # no type tag string at all (old senders)
        b"/old", b"/o\x00", b"/oo\x00",  # ...and ones cut right after the address's NUL
        b"/x\x00\x00,\x00\x00\x00",  # an empty type tag string
        _msg("/vj/param/hue", 90.0), _msg("/vj/freeze", 1), _msg("/vj/seed/step"), _msg("/p", None),
        _msg("/many", 1, 2.5, "hi", b"\x01\x02\x03", True, False, None, 2**40),
    ]
    bundle = OscBundleBuilder(0)
    bundle.add_content(OscMessageBuilder("/vj/param/zoom").build())
    valid.append(bundle.build().dgram)
    corpus = list(valid)
    for data in valid:
        corpus += [data[:i] for i in range(len(data))]  # every truncation
        corpus += [data + tail for tail in (b"\x00", b"\x00" * 4, b"\x00\x00\x00\x01", b"junk")]
        for _ in range(60):  # byte flips: type tags, padding, the address
            flipped = bytearray(data)
            at = rng.randrange(len(flipped))
            flipped[at] = rng.choice([0, 0x2C, 0x2F, ord("i"), ord("f"), ord("s"), 0x80, 0xFF, rng.randrange(256)])
            corpus.append(bytes(flipped))
    corpus += [
        b"/x\x00\x00,i\x00X\x00\x00\x00\x01",  # a padding byte that is not NUL (the strict parser does not check it)
        b"/x\x00\x00,f\x00\x00\x00\x00\x00",  # an argument cut short
        b"/x\x00\x00,ii\x00\x00\x00\x00\x01",  # two tags, one argument
        b"/\xff\xfe\x00,i\x00\x00\x00\x00\x00\x01",  # an address that is not UTF-8
        b"x\x00\x00\x00,i\x00\x00\x00\x00\x00\x01",  # an address without /
        b"\x00\x00\x00\x00", b"/", b"#bundle\x00",
    ]
    for _ in range(3000):
        corpus.append(rng.randbytes(rng.randrange(1, 40)))
        corpus.append(b"/" + rng.randbytes(rng.randrange(0, 24)))
        tags = rng.choice([b",i", b",f", b",", b",s"])
        corpus.append(b"/vj/param/zoom\x00\x00" + tags + rng.randbytes(rng.randrange(0, 10)))
    return corpus


def test_the_quick_parser_and_the_strict_one_agree_on_a_corpus():
    corpus = _corpus(random.Random(11))
    quick = 0
    for data in corpus:
        simple = parse_simple(data)
        try:
            strict = parse_packet(data)
        except OscFormatError:
            assert simple is None, data
            continue
        if simple is None:
            continue
        quick += 1
        assert len(strict) == 1 and strict[0].time == 0.0 and not data.startswith(b"#"), data
        address, first = simple
        assert address == strict[0].address, data
        args = strict[0].args
        assert (args == ()) if first is None else (len(args) == 1 and _same(args[0], first)), data
    assert quick > 300  # the corpus does exercise the quick path
    for common in (encode_message("/vj/param/zoom", 0.5), encode_message("/vj/param/seed", 7),
                   encode_message("/vj/tap"), b"/old\x00\x00\x00\x00", b"/x\x00\x00,\x00\x00\x00"):
        assert parse_simple(common) is not None, common


def _events(server: OscServer, datagrams: list[bytes], arrived: float = 1.0) -> list[ControlEvent]:
    server._handle_batch(datagrams, arrived)
    return [e for e in server.events.drain() if isinstance(e, ControlEvent)]


def _same_event(a: ControlEvent, b: ControlEvent) -> bool:
    same_fields = (a.source, a.pressed, a.time, a.one_shot, a.pattern) == (b.source, b.pressed, b.time, b.one_shot,
                                                                          b.pattern)
    return same_fields and _same(a.raw, b.raw) and _same(a.value, b.value)


@pytest.mark.e2e
def test_the_server_makes_the_same_events_as_the_strict_parser_and_counts_the_rest():
    corpus = _corpus(random.Random(12))
    server = OscServer(EventQueue(), "127.0.0.1", 0)
    try:
        expected: list[ControlEvent] = []
        invalid = 0
        for data in corpus:
            try:
                expected += [message_event(m, 2.0) for m in parse_packet(data)]
            except OscFormatError:
                invalid += 1
        got = _events(server, corpus[: len(corpus) // 2], 2.0) + _events(server, corpus[len(corpus) // 2 :], 2.0)
        assert len(got) == len(expected)
        assert all(_same_event(a, b) for a, b in zip(got, expected))
        status = server.status()
        assert (status.datagrams, status.invalid, status.messages, status.coalesced) == \
            (len(corpus), invalid, len(expected), 0)
    finally:
        server.stop()


def test_control_event_is_the_dataclass_made_cheaply():
    quick = control_event(("osc", "/x"), 0.5, None, 3, 1.25, True, False)
    slow = ControlEvent(("osc", "/x"), 0.5, None, 3, 1.25, one_shot=True, pattern=False)
    assert quick == slow and hash(quick) == hash(slow) and repr(quick) == repr(slow)


def test_latest_wins_is_the_addresses_only_value_bindings_listen_to():
    custom = MappingConfig("td.yaml", bindings=(
        Binding((("osc", "/td/zoom"),), "td.yaml", 1, param="zoom"),  # normalised value: latest wins
        Binding((("osc", "/td/step"),), "td.yaml", 2, param="zoom", mode="step", step=0.1),
        Binding((("osc", "/td/toggle"),), "td.yaml", 3, param="freeze", mode="toggle"),
        Binding((("osc", "/td/flash"),), "td.yaml", 4, param="blackout", mode="momentary"),
        Binding((("osc", "/td/kick"),), "td.yaml", 5, param="zoom", mode="trigger", value=1.0),
        Binding((("osc", "/td/both"),), "td.yaml", 6, param="hue"),
        Binding((("osc", "/td/both"),), "td.yaml", 7, action="tap"),  # also an action: every message
        Binding((("key", "A"),), "td.yaml", 8, param="zoom"),
    ))
    wins = latest_wins(merge_mappings([address_space(), custom]))
    assert {"/vj/param/zoom", "/vj/param/seed", "/vj/bpm", "/vj/prompt/1/weight", "/td/zoom"} <= wins
    assert not wins & {"/vj/tap", "/vj/seed/step", "/vj/preset", "/vj/prompt/select", "/vj/prompt/1/text",
                       "/td/step", "/td/toggle", "/td/flash", "/td/kick", "/td/both"}
    assert all(isinstance(a, str) and a.startswith("/") for a in wins)  # no key, no MIDI sources


class Sink:
    def __init__(self) -> None:
        self.fired: list[tuple[str, object]] = []

    def action(self, name: str, value: object) -> None:
        self.fired.append((name, value))


_MAPPING = merge_mappings([address_space(), MappingConfig("td.yaml", bindings=(
    Binding((("osc", "/td/zoom"),), "td.yaml", 1, param="zoom", lo=0.0, hi=2.0),
    Binding((("osc", "/td/step"),), "td.yaml", 2, param="zoom", mode="step", step=0.25, lo=-10, hi=10),
    Binding((("osc", "/td/toggle"),), "td.yaml", 3, param="freeze", mode="toggle"),
    Binding((("osc", "/td/kick"),), "td.yaml", 4, param="rotate", mode="trigger", value=45.0),
))])
_VALUES = ["/vj/param/zoom", "/vj/param/rotate", "/td/zoom", "/vj/bpm", "/vj/prompt/2/weight",
           "/vj/param/crossfade.curve", "/vj/param/seed"]
_OTHERS = ["/vj/tap", "/vj/seed/step", "/td/step", "/td/toggle", "/td/kick", "/vj/param/{zoom,rotate}",
           "/vj/prompt/*/weight"]


def _random_batch(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        if rng.random() < 0.7:
            address = rng.choice(_VALUES)
            value = rng.choice([rng.uniform(0, 1), rng.uniform(60, 180), rng.randrange(-2, 5), "0.5", "loud",
                                "linear", float("nan"), float("inf"), None])
            out.append(encode_message(address) if value is None else encode_message(address, value))
        else:
            address = rng.choice(_OTHERS)
            out.append(encode_message(address, rng.uniform(0, 2)) if "{" in address or "*" in address
                       else encode_message(address))
    return out


@pytest.mark.e2e
def test_coalescing_keeps_the_latest_values_and_fires_every_trigger_in_order():
    wins = latest_wins(_MAPPING)
    plain = OscServer(EventQueue(), "127.0.0.1", 0)
    coalescing = OscServer(EventQueue(), "127.0.0.1", 0, latest_wins=wins)
    try:
        # A hand-made batch: the zoom values before the last are dropped, the rest kept in order.
        batch = [encode_message(a, *v) for a, v in (
            ("/vj/param/zoom", (0.1,)), ("/vj/tap", ()), ("/vj/param/zoom", (0.2,)), ("/vj/seed/step", ()),
            ("/vj/param/rotate", (5.0,)), ("/vj/param/zoom", (0.3,)), ("/vj/seed/step", ()),
            ("/vj/param/{zoom,rotate}", (9.0,)), ("/vj/param/zoom", (0.4,)))]
        got = [(e.source[1], e.raw) for e in _events(coalescing, batch)]
        assert got == [("/vj/tap", None), ("/vj/seed/step", None), ("/vj/param/rotate", 5.0), ("/vj/seed/step", None),
                       ("/vj/param/{zoom,rotate}", 9.0), ("/vj/param/zoom", pytest.approx(0.4))]
        assert coalescing.status().coalesced == 3 and coalescing.status().messages == 9

        # Text may be refused: it replaces nothing (the number before it stays), a number replaces it.
        batch = [encode_message("/vj/bpm", *v) for v in ((130.0,), ("loud",), (), (128,))]
        assert [e.raw for e in _events(coalescing, batch)] == [128]
        assert [e.raw for e in _events(coalescing, batch[:3])] == [130.0, "loud", None]
        assert coalescing.status().coalesced == 6
        assert coalescing.status().messages == 9 + 4 + 3

        # Random batches: the same actions, in the same order, and the same parameters in the end.
        rng = random.Random(3)
        for _ in range(100):
            batches = [_random_batch(rng, rng.randrange(1, 80)) for _ in range(rng.randrange(1, 5))]
            results = []
            for server in (plain, coalescing):
                engine, state, sink = MappingEngine(_MAPPING), ParamState(), Sink()
                for b in batches:
                    for event in _events(server, b):
                        engine.handle(event, state, sink)
                results.append((sink.fired, dict(state.base)))
            assert results[0] == results[1]
        assert coalescing.status().coalesced > 1000 and plain.status().coalesced == 0
        assert coalescing.status().messages == plain.status().messages + 9 + 4 + 3
    finally:
        plain.stop()
        coalescing.stop()


def test_the_event_queue_keeps_batches_in_order_and_drains_them_bounded():
    events = EventQueue()
    a, b, c, d = (control_event(("osc", f"/{n}"), 1.0, None, None, 0.0, True, False) for n in "abcd")
    changed = ConfigChanged("m.yaml", None, "bad")
    events.put(a)
    events.put_batch([b, c])
    events.put_batch([])
    events.put(changed)
    events.put_batch((d,))
    assert list(events.drain(limit=2)) == [a, b]
    assert list(events.drain(limit=1)) == [c]  # the rest of a batch waits for the next drain
    assert list(events.drain()) == [changed, d]
    assert list(events.drain()) == [] and not events.wait_pending(0.01)
    events.put_batch([a, b])
    assert events.wait_pending(0.01) and list(events.drain()) == [a, b]


@pytest.mark.e2e
def test_a_show_keeps_its_server_latest_wins_and_a_burst_keeps_every_step(ctx, tmp_path):
    events = EventQueue()
    server = OscServer(events, "127.0.0.1", 0).start()
    show = make_show(ctx, mapping=[address_space()], events=events, osc=server)
    try:
        assert server.latest_wins == latest_wins(show.controls.mapping) and "/vj/param/zoom" in server.latest_wins
        walk = show.state.base["seed.walk"]
        steps = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(2000):  # a fader sweep with presses among its values, as fast as it goes
                sock.sendto(encode_message("/vj/param/zoom", i / 1000.0), ("127.0.0.1", server.port))
                if i % 7 == 0:
                    sock.sendto(encode_message("/vj/seed/step"), ("127.0.0.1", server.port))
                    steps += 1
            sock.sendto(encode_message("/vj/param/zoom", 1.25), ("127.0.0.1", server.port))
        settle(show, lambda: server.status().messages >= 2001 + steps and show.state.base["zoom"] == 1.25, timeout=10.0)
        show.update(1 / 60)
        assert show.state.base["seed.walk"] == walk + steps  # every press, none coalesced
        assert show.state.base["zoom"] == 1.25  # the latest value
        status = server.status()
        assert status.invalid == 0 and status.messages == 2001 + steps

        # A mapping that makes zoom's address a step: from then on every message counts.
        path = tmp_path / "steps.yaml"
        path.write_text("bindings:\n  - {osc: /vj/param/zoom, param: zoom, mode: step, step: -0.125}\n")
        show.controls.mappings.append(parse_mapping(path))
        show.events.put(ConfigChanged(str(path), show.controls.mappings[-1]))
        show.update(1 / 60)
        assert "/vj/param/zoom" not in server.latest_wins and "/vj/param/rotate" in server.latest_wins
        client = SimpleUDPClient("127.0.0.1", server.port)
        for _ in range(8):
            client.send_message("/vj/param/zoom", 1)
        settle(show, lambda: show.state.base["zoom"] == 0.25, timeout=10.0)
    finally:
        server.stop()
        show.close()


@pytest.mark.e2e
def test_bundles_are_never_coalesced():
    server = OscServer(EventQueue(), "127.0.0.1", 0, latest_wins={"/vj/param/zoom"})
    try:
        bundle = OscBundleBuilder(0)
        for value in (0.1, 0.2):
            message = OscMessageBuilder("/vj/param/zoom")
            message.add_arg(value)
            bundle.add_content(message.build())
        got = _events(server, [bundle.build().dgram, encode_message("/vj/param/zoom", 0.3)])
        assert [round(float(e.raw), 3) for e in got] == [0.1, 0.2, 0.3]  # type: ignore[arg-type]
        assert server.status().coalesced == 0
    finally:
        server.stop()
