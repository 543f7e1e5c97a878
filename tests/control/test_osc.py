"""OSC in: real clients (liblo's oscsend, python-osc, raw sockets) -> vj's server -> the show."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from dataclasses import replace

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from tests.support.engine import Actions
from tests.support.osc import settle
from tests.support.show import make_show, preset
from vj.config.mapping import parse_mapping
from vj.control.engine import MAX_UNKNOWN_REPORTS, MappingEngine
from vj.control.osc_codec import OscFormatError, OscMessage, parse_packet
from vj.control.osc_server import OscError, OscServer, message_event
from vj.control.osc_space import address_space, latest_wins
from vj.params import REGISTRY, ParamState
from vj.show import request_from
from vj.vocabulary import ControlEvent, EventQueue


def _msg(address: str, *args):
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build()


@pytest.fixture
def osc_show(ctx):
    presets = [preset("first"), preset("Neon Tunnel")]
    show = make_show(ctx, presets=presets, mapping=[address_space()])
    server = OscServer(show.events, "127.0.0.1", 0).start()
    yield show, server
    server.stop()
    show.close()


def test_first_arguments_become_raw_and_normalised_values():
    cases = {
        (): (None, 1.0), (0.25,): (0.25, 0.25), (7,): (7, 1.0), (-3.0,): (-3.0, 0.0),
        (True,): (1.0, 1.0), (False,): (0.0, 0.0), ("0.5",): ("0.5", 0.5), ("smooth",): ("smooth", 0.0),
        ("on",): ("on", 1.0),
        (b"\x00\x01",): (None, 0.0),
    }
    for args, (raw, value) in cases.items():
        event = message_event(parse_packet(_msg("/vj/x", *args).dgram)[0], 1.0)
        assert (event.raw, event.value, event.one_shot) == (raw, value, True), args
    assert message_event(OscMessage("/vj/prompt/*/weight", (0.1,)), 1.0).pattern
    assert not message_event(OscMessage("/vj/param/zoom", (0.1,)), 1.0).pattern


@pytest.mark.e2e
def test_every_parameter_has_an_address_and_liblo_oscsend_sets_one(osc_show):
    show, server = osc_show
    addresses = {b.source[1] for b in address_space().bindings}
    assert {f"/vj/param/{spec.name}" for spec in REGISTRY} <= addresses
    for args in (["/vj/param/zoom", "f", "0.75"], ["/vj/param/crossfade.curve", "s", "linear"],
                 ["/vj/prompt/2/weight", "f", "0.6"], ["/vj/freeze", "i", "1"], ["/vj/norm/rotate", "f", "0.75"],
                 ["/vj/bpm", "f", "128"]):
        subprocess.run(["oscsend", "localhost", str(server.port), *args], check=True, timeout=10)
    settle(show, lambda: show.state.base["bpm"] == 128.0)
    assert show.state.base["zoom"] == 0.75  # in the parameter's own units
    assert show.state.base["crossfade.curve"] == "linear"
    assert show.state.base["prompt.2.weight"] == pytest.approx(0.6)  # OSC floats are 32-bit
    assert show.state.base["freeze"] is True
    assert show.state.base["rotate"] == 90.0  # normalised: three quarters of -180..180


def test_normalised_aliases_span_each_parameters_range_resolume_style():
    """`/vj/norm/<name>`: 0..1 across the parameter's range; a choice by position, a switch at 0.5."""
    space = address_space()
    assert {f"/vj/norm/{spec.name}" for spec in REGISTRY} <= {b.source[1] for b in space.bindings}
    assert "/vj/norm/zoom" in latest_wins(space)  # a fader: only its newest value matters
    engine, state = MappingEngine(space), ParamState()
    sent = {"zoom": 0.75, "crossfade.curve": 0.3, "freeze": 0.7, "steps": 1.0, "hue": 0.0}
    for name, value in sent.items():
        engine.handle(ControlEvent(("osc", f"/vj/norm/{name}"), value, raw=value, one_shot=True), state, Actions())
    assert state.base["zoom"] == 1.0  # -2..2
    assert state.base["crossfade.curve"] == "smooth"  # 0.3 of the five choices: the second
    assert state.base["freeze"] is True
    assert state.base["steps"] == REGISTRY["steps"].hi
    assert state.base["hue"] == REGISTRY["hue"].lo
    engine.handle(ControlEvent(("osc", "/vj/norm/freeze"), 0.2, raw=0.2, one_shot=True), state, Actions())
    assert state.base["freeze"] is False


@pytest.mark.e2e
def test_actions_fire_on_every_message_and_presets_go_by_number_or_name(osc_show):
    show, server = osc_show
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send_message("/vj/preset", 1)
    settle(show, lambda: show.state.base["preset"] == 1)
    client.send_message("/vj/preset", "first")
    settle(show, lambda: show.state.base["preset"] == 0)
    client.send_message("/vj/preset", "neon tunnel")
    settle(show, lambda: show.state.base["preset"] == 1)
    walk = show.state.base["seed.walk"]
    client.send_message("/vj/seed/step", [])
    client.send_message("/vj/seed/step", [])  # no release in between: each message is a press
    settle(show, lambda: show.state.base["seed.walk"] == walk + 2)


@pytest.mark.e2e
def test_wildcards_reach_every_matching_address(osc_show):
    show, server = osc_show
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send_message("/vj/prompt/[2-4]/weight", 0.3)
    client.send_message("/vj/param/{zoom,rotate}", 1.5)
    settle(show, lambda: show.state.base["rotate"] == 1.5)
    assert [show.state.base[f"prompt.{i}.weight"] for i in range(1, 6)] == pytest.approx([1.0, 0.3, 0.3, 0.3, 0.0])
    assert show.state.base["zoom"] == 1.5


@pytest.mark.e2e
def test_a_bundle_with_a_future_time_tag_waits_for_its_time(osc_show):
    show, server = osc_show
    at = time.time() + 0.5
    bundle = OscBundleBuilder(at)
    bundle.add_content(_msg("/vj/param/hue", 90.0))
    bundle.add_content(_msg("/vj/param/saturation", 0.5))
    now = OscBundleBuilder(0)  # 0: "immediately" per python-osc's IMMEDIATELY timetag
    now.add_content(_msg("/vj/param/brightness", 0.25))
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send(bundle.build())
    client.send(now.build())
    settle(show, lambda: show.state.base["brightness"] == 0.25)
    assert show.state.base["hue"] == 0.0 and time.time() < at  # not yet
    settle(show, lambda: show.state.base["hue"] == 90.0)
    assert time.time() >= at - 0.01
    assert show.state.base["saturation"] == 0.5


@pytest.mark.e2e
def test_bad_values_are_clamped_or_ignored_counted_and_reported_once(osc_show):
    show, server = osc_show
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send_message("/vj/param/zoom", 99.0)  # clamped to the range, reported
    client.send_message("/vj/param/strength", "lots")  # not a number: ignored, reported
    client.send_message("/vj/param/strength", "more")
    client.send_message("/vj/param/hue", [])  # no value
    client.send_message("/vj/nothing/here", 1.0)  # unknown address: counted
    settle(show, lambda: show.engine.unmapped >= 1 and show.engine.rejected >= 3)
    snap = show.update(1 / 60)
    errors = show.hud_errors(snap)
    assert show.state.base["zoom"] == 2.0 and show.state.base["strength"] == 0.5
    assert sum("strength" in line for line in errors) == 1 and any("zoom" in line for line in errors)


@pytest.mark.e2e
def test_oscsend_rewrites_a_prompt_of_the_playing_preset(osc_show):
    show, server = osc_show

    def send(*args: str) -> None:
        subprocess.run(["oscsend", "localhost", str(server.port), *args], check=True, timeout=10)

    send("/vj/prompt/1/text", "s", "neon jellyfish\nin a deep sea")  # a text field's line break: one line
    settle(show, lambda: show.preset.prompts[0].text == "neon jellyfish in a deep sea")
    assert request_from(show.update(1 / 60), show.preset, 0.0).prompts[0].text == "neon jellyfish in a deep sea"
    send("/vj/prompt/3/text", "s", "chrome roses")  # the preset had one prompt: it gains two, silent
    settle(show, lambda: len(show.preset.prompts) == 3)
    assert [p.text for p in show.preset.prompts] == ["neon jellyfish in a deep sea", "chrome roses", "chrome roses"]
    assert show.state.base["prompt.3.weight"] == 0.0 and show.state.base["prompt.1.weight"] == 1.0
    send("/vj/prompt/3/text", "i", "1999")  # a number is text too
    send("/vj/prompt/2/text", "s", "")  # an emptied field keeps the prompt
    settle(show, lambda: show.preset.prompts[2].text == "1999")
    assert show.preset.prompts[1].text == "chrome roses"
    assert any("prompt 2: empty text ignored" in line for line in show.hud_errors(show.update(1 / 60)))
    send("/vj/preset", "i", "1")
    send("/vj/preset", "i", "0")  # the rewrite lasts while vj runs (the file is untouched)
    settle(show, lambda: show.state.base["preset"] == 0 and show.preset.name == "first")
    assert show.preset.prompts[2].text == "1999"


@pytest.mark.e2e
def test_unknown_addresses_are_reported_once_each_then_only_counted(osc_show):
    show, server = osc_show
    client = SimpleUDPClient("127.0.0.1", server.port)
    for _ in range(3):
        client.send_message("/vj/param/zooom", 0.5)  # a typo
    for i in range(100):
        client.send_message(f"/other/app/{i}", 0.5)  # somebody else's traffic
    settle(show, lambda: show.engine.unmapped == 103)
    errors = show.hud_errors(show.update(1 / 60))
    assert sum("/vj/param/zooom: no such address" in line for line in errors) == 1
    unknown = [line for line in errors if "no such address" in line]
    assert len(unknown) == MAX_UNKNOWN_REPORTS and "only counted" in unknown[-1]
    show.links = replace(show.links, osc=server)  # the HUD's osc line
    assert "unmapped 103" in "\n".join(show.hud_lines(show.update(1 / 60)))


@pytest.mark.e2e
def test_numbers_as_text_and_choices_by_name_or_index(osc_show):
    show, server = osc_show
    client = SimpleUDPClient("127.0.0.1", server.port)
    client.send_message("/vj/param/zoom", "0.25")  # TouchDesigner's DAT sends text
    client.send_message("/vj/freeze", "on")
    client.send_message("/vj/param/crossfade.curve", 0)  # a choice by index
    client.send_message("/vj/prompt/select", "1")
    client.send_message("/vj/param/crossfade.curve", "wobbly")  # no such choice: ignored, reported
    settle(show, lambda: show.engine.rejected == 1)
    assert show.state.base["zoom"] == 0.25 and show.state.base["freeze"] is True
    assert show.state.base["crossfade.curve"] == REGISTRY["crossfade.curve"].choices[0]
    errors = show.hud_errors(show.update(1 / 60))
    assert any("'wobbly' is not a value for crossfade.curve (expected one of" in line for line in errors)


@pytest.mark.e2e
def test_the_allowlist_refuses_another_sender(ctx):
    show = make_show(ctx, mapping=[address_space()])
    server = OscServer(show.events, "127.0.0.1", 0, allow=["127.0.0.1"]).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.bind(("127.0.0.2", 0))  # another loopback address: another machine, as far as vj knows
            other.sendto(_msg("/vj/param/zoom", 1.0).dgram, ("127.0.0.1", server.port))
        SimpleUDPClient("127.0.0.1", server.port).send_message("/vj/param/rotate", 10.0)
        settle(show, lambda: show.state.base["rotate"] == 10.0)
        time.sleep(0.1)
        show.update(1 / 60)
        assert show.state.base["zoom"] == 0.0
        assert server.status().refused == 1
    finally:
        server.stop()
        show.close()


@pytest.mark.e2e
def test_garbage_datagrams_crash_nothing_are_counted_and_change_no_parameter(osc_show):
    show, server = osc_show
    rng = random.Random(5)
    valid = _msg("/vj/param/zoom", 1.0).dgram
    before = dict(show.state.base)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(100_000):
            kind = i % 4
            if kind == 0:  # noise
                data = rng.randbytes(rng.randrange(1, 120))
            elif kind == 1:  # a real message cut short
                data = valid[: rng.randrange(1, len(valid) - 4)]
            elif kind == 2:  # a bundle header over noise
                data = b"#bundle\x00" + rng.randbytes(rng.randrange(0, 60))
            else:  # an address with a type tag string that never ends or names no type
                data = b"/vj/param/zoom\x00\x00" + b"," + rng.choice([b"q", b"f"]) * rng.randrange(1, 9)
            sock.sendto(data, ("127.0.0.1", server.port))
            sent += 1
            if i % 500 == 0:
                show.update(1 / 60)
                time.sleep(0.001)  # a burst of garbage, paced so the test measures parsing, not the buffer
    settle(show, lambda: server.status().datagrams >= sent * 0.9, timeout=30)
    show.update(1 / 60)
    status = server.status()
    # nearly all malformed; the rest are well-formed but empty: a real message cut right after its
    # address (no arguments: nothing to set), a bundle header with no elements
    assert status.invalid >= status.datagrams * 0.95
    assert dict(show.state.base) == before
    SimpleUDPClient("127.0.0.1", server.port).send_message("/vj/param/zoom", 0.5)  # still serving
    settle(show, lambda: show.state.base["zoom"] == 0.5)


@pytest.mark.e2e
def test_a_port_in_use_is_a_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OscError, match=r"cannot listen for OSC on 127.0.0.1:\d+"):
            OscServer(EventQueue(), "127.0.0.1", taken.getsockname()[1])


@pytest.mark.e2e
def test_mapping_files_add_addresses_with_the_same_transforms(ctx, tmp_path):
    path = tmp_path / "td.yaml"
    path.write_text("""\
bindings:
  - {osc: /td/speed, param: zoom, range: [-1, 1]}
  - {osc: /td/hue, param: hue, units: native}
  - {osc: /td/flash, action: blackout}
  - {osc: /vj/param/zoom, param: rotate, units: native}   # a file can take over a built-in address
  - {osc: /td/caption, action: prompt.2.text}
""")
    show = make_show(ctx, mapping=[address_space(), parse_mapping(path)])
    server = OscServer(show.events, "127.0.0.1", 0).start()
    try:
        client = SimpleUDPClient("127.0.0.1", server.port)
        client.send_message("/td/speed", 0.75)
        client.send_message("/td/hue", -45.0)
        client.send_message("/vj/param/zoom", 30.0)
        client.send_message("/td/flash", 1)
        client.send_message("/td/caption", "velvet storm")
        settle(show, lambda: show.state.base["blackout"] == 1.0 and len(show.preset.prompts) == 2)
        assert show.preset.prompts[1].text == "velvet storm"
        assert show.state.base["zoom"] == 0.5 and show.state.base["hue"] == -45.0
        assert show.state.base["rotate"] == 30.0
    finally:
        server.stop()
        show.close()


def test_bad_osc_addresses_in_a_mapping_name_file_and_line(tmp_path):
    from vj.config.source import ConfigError

    path = tmp_path / "m.yaml"
    path.write_text("bindings:\n  - {osc: td/zoom, param: zoom}\n  - {osc: /a b, param: zoom, units: volts}\n"
                    "  - {cc: 7, action: prompt.1.text}\n")
    with pytest.raises(ConfigError) as info:
        parse_mapping(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:2: bindings[0].osc: expected an OSC address such as /td/zoom (no spaces or wildcards), got 'td/zoom'",
        f"{path}:3: bindings[1].osc: expected an OSC address such as /td/zoom (no spaces or wildcards), got '/a b'",
        f"{path}:3: bindings[1].units: expected one of normalised, native, got a string ('volts')",
        f"{path}:4: bindings[2].action: action prompt.1.text takes text: only an osc source can send it",
    ]


def test_the_parser_reads_every_osc_type_and_refuses_malformed_packets():
    builder = OscMessageBuilder("/vj/x")
    for a in (1, 2.5, "hi", b"\x01\x02\x03", True, False, None, 2**40):
        builder.add_arg(a)
    [message] = parse_packet(builder.build().dgram)
    assert message.address == "/vj/x"
    assert message.args == (1, 2.5, "hi", b"\x01\x02\x03", True, False, None, 2**40)
    good = _msg("/vj/param/zoom", 0.5).dgram
    for bad in (b"", b"vj/x\x00\x00\x00\x00", good[:-1], good + b"\x00\x00\x00\x00", b"/x\x00\x00,z\x00\x00",
                b"#bundle\x00" + b"\x00" * 7, b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x05abcde",
                b"/\xff\xfe\x00"):
        with pytest.raises(OscFormatError):
            parse_packet(bad)


class OscDump:
    """liblo's oscdump listening on a free port: what a TouchDesigner or a tablet would receive."""

    def __init__(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        import threading

        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)  # let it bind

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp, _, rest = line.strip().partition(" ")  # oscdump puts the arrival time tag first
            self.lines.append(rest if "." in stamp and not stamp.startswith("/") else line.strip())

    def wait_for(self, text: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"oscdump never printed {text!r}; got {self.lines[-10:]}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


@pytest.mark.e2e
def test_osc_out_sends_changes_beats_and_tempo_to_oscdump(ctx):
    from vj.control.osc_out import OscOut, OscTarget

    dump = OscDump()
    out = OscOut([OscTarget("127.0.0.1", dump.port)], rate=60).start()
    show = make_show(ctx, osc_out=out)
    try:
        for _ in range(3):
            show.update(1 / 30)
        assert dump.wait_for("/vj/param/zoom f").endswith("0.000000")
        assert dump.wait_for("/vj/param/freeze i").endswith(" 0")
        assert dump.wait_for("/vj/param/crossfade.curve i")  # a choice goes as its index
        assert dump.wait_for("/vj/bpm f").endswith("120.000000")
        assert dump.wait_for('/vj/prompt/1/text s "glowing nebula over a neon city"')
        show.action("prompt.1.text", "chrome roses")
        show.update(1 / 30)
        assert dump.wait_for('/vj/prompt/1/text s "chrome roses"')
        features = OscOut([OscTarget("127.0.0.1", dump.port)]).start()  # what the audio analysis feeds
        features.frame(0.0, show.state.base, show.clock.state, (), {"audio/level": 0.5, "audio/bass": float("nan")})
        assert dump.wait_for("/vj/audio/level f 0.5")
        features.stop()
        count = len(dump.lines)
        show.state.set_base("zoom", 0.5, jump=True)
        for _ in range(40):  # 40 frames at 30 fps at 120 bpm: two more beats
            show.update(1 / 30)
        assert dump.wait_for("/vj/param/zoom f 0.5")
        later = dump.lines[count:]
        assert not any("/vj/param/strength" in line for line in later)  # only changes are sent
        assert {line for line in later if line.startswith("/vj/beat")} >= {"/vj/beat i 1", "/vj/beat i 2"}
        assert any(line.startswith("/vj/phase f") for line in later)
    finally:
        show.close()
        out.stop()
        dump.close()


def test_osc_out_targets_parse_or_say_what_is_expected():
    from vj.control.osc_out import OscTarget

    assert OscTarget.parse("192.168.1.20:7000") == OscTarget("192.168.1.20", 7000)
    assert OscTarget.parse(":9001") == OscTarget("127.0.0.1", 9001)
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        OscTarget.parse("localhost")


@pytest.mark.e2e
def test_oscquery_lists_every_parameter_with_its_range_and_value_over_http(ctx):
    import json
    import urllib.error
    import urllib.request

    from vj.control.oscquery import OscQuery

    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0).start()
    show = make_show(ctx, oscquery=query)
    base = f"http://127.0.0.1:{query.port}"

    def get(path: str):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return json.loads(response.read() or b"null")

    try:
        show.state.set_base("zoom", 0.25, jump=True)
        show.update(1 / 30)
        tree = get("/")
        params = tree["CONTENTS"]["vj"]["CONTENTS"]["param"]["CONTENTS"]
        for spec in REGISTRY:
            node = params[spec.name]
            assert node["FULL_PATH"] == f"/vj/param/{spec.name}" and node["DESCRIPTION"] == spec.description
            assert node["ACCESS"] == 3 and node["TYPE"] in "fiTs"
            if spec.kind in ("float", "int"):
                assert node["RANGE"] == [{"MIN": spec.lo, "MAX": spec.hi}]
        assert params["crossfade.curve"]["RANGE"][0]["VALS"] == list(REGISTRY["crossfade.curve"].choices)
        assert get("/vj/param/zoom?VALUE") == {"VALUE": [0.25]}
        assert get("/vj/param/zoom")["UNIT"] == ["ln/s"]
        norm = get("/vj/norm/zoom")  # the 0..1 alias: its own range, the value as it would be sent
        assert (norm["TYPE"], norm["RANGE"], norm["VALUE"]) == ("f", [{"MIN": 0.0, "MAX": 1.0}], [0.5625])
        curve = REGISTRY["crossfade.curve"]
        position = curve.choices.index(show.state.base["crossfade.curve"]) / (len(curve.choices) - 1)
        assert get("/vj/norm/crossfade.curve?VALUE") == {"VALUE": [round(position, 6)]}
        assert get("/vj/tap")["ACCESS"] == 2
        nudge = get("/vj/beat/nudge")  # an action with a value: its type and unit
        assert (nudge["ACCESS"], nudge["TYPE"], nudge["UNIT"]) == (2, "f", ["time.ms"])
        assert get("/vj/prompt/1/text") | {"DESCRIPTION": ""} == {
            "FULL_PATH": "/vj/prompt/1/text", "TYPE": "s", "ACCESS": 3, "DESCRIPTION": "",
            "VALUE": ["glowing nebula over a neon city"]}
        info = get("/?HOST_INFO")
        assert (info["OSC_PORT"], info["OSC_TRANSPORT"]) == (9000, "UDP")
        with pytest.raises(urllib.error.HTTPError) as missing:
            get("/vj/nothing")
        assert missing.value.code == 404
    finally:
        show.close()
        query.stop()
