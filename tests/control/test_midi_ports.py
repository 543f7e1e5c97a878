"""MIDI ports over a real JACK server: a peer process plays the controller."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.midi_peer import MidiPeer
from tests.support.waiting import Ticker, wait_for
from vj.config.midi import MidiDevice
from vj.control.midi_ports import MidiPorts, list_ports
from vj.vocabulary import ClockEvent, ControlEvent, DeviceStatus, EventQueue

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("jack_server")]


def _collect(events: EventQueue, until, timeout: float = 5.0) -> list[object]:
    """The events drained from `events` until `until(all so far)` holds."""
    got: list[object] = []

    def more() -> bool:
        got.extend(events.drain())
        return until(got)

    wait_for(more, timeout, what=lambda: f"events; got {got[-10:]}")
    return got


def _controls(got: list[object]) -> list[ControlEvent]:
    return [e for e in got if isinstance(e, ControlEvent)]


def test_messages_from_another_process_arrive_as_events() -> None:
    events = EventQueue()
    with MidiPeer("ports-basic") as peer:
        ports = MidiPorts(events, [MidiDevice("ctl", input="ports-basic")], poll=0.1).start()
        try:
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            peer.send(0xB2, 48, 100)  # CC 48 = 100 on channel 3
            peer.send(0x90, 36, 64)  # note 36 on
            peer.send(0xE0, 0x00, 0x40)  # pitch bend centre
            peer.send(0xF0, 0x7E, 0x01, 0xF7)  # sysex: counted, ignored
            peer.send(0xF8)  # clock tick
            got = _collect(events, lambda got: any(isinstance(e, ClockEvent) for e in got))
            wait_for(lambda: ports.status().messages >= 5, 2, what="the status's count (refreshed at each port scan)")
        finally:
            ports.stop()
    sources = {(e.source, e.raw) for e in _controls(got)}
    assert (("midi", "ctl", 3, "cc", 48), 100) in sources
    assert (("midi", "ctl", 1, "note", 36), 64) in sources
    assert (("midi", "ctl", 1, "pitchbend", 0), 8192) in sources
    assert [e.kind for e in got if isinstance(e, ClockEvent)] == ["tick"]
    status = ports.status()
    assert (status.messages, status.ignored, status.invalid) == (5, 1, 0)


def test_a_controller_that_is_unplugged_and_replugged_reconnects_within_two_seconds() -> None:
    events = EventQueue()
    with MidiPeer("ports-hotplug") as peer:
        ports = MidiPorts(events, [MidiDevice("ctl", input="ports-hotplug")]).start()  # the real 0.5 s scan
        try:
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            peer.unplug()
            gone = _collect(events, lambda got: any(isinstance(e, DeviceStatus) and not e.connected for e in got))
            assert "ports-hotplug" in next(e.message for e in gone if isinstance(e, DeviceStatus))
            assert ports.status().missing
            plugged = time.monotonic()
            peer.plug()
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            assert time.monotonic() - plugged < 2.0
            peer.send(0xB0, 7, 99)
            got = _collect(events, lambda got: bool(_controls(got)))
        finally:
            ports.stop()
    assert _controls(got)[0].source == ("midi", "ctl", 1, "cc", 7) and _controls(got)[0].raw == 99


def test_feedback_goes_out_to_the_matching_output_and_own_ports_are_never_inputs() -> None:
    events = EventQueue()
    with MidiPeer("ports-leds") as peer:
        # input "" takes every port: vj's own output port must still not loop back into it
        ports = MidiPorts(events, [MidiDevice("ctl", input="", output="ports-leds")], poll=0.1).start()
        try:
            got = _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.role == "midi out" for e in got))
            status = next(e for e in got if isinstance(e, DeviceStatus) and e.role == "midi out")
            assert (status.device, status.connected) == ("ctl", True)
            ports.send("ctl", bytes([0x90, 0x20, 0x7F]))
            ports.send("nobody", bytes([0x90, 0x21, 0x7F]))  # a device with no output: dropped
            assert peer.wait_received(1) == [bytes([0x90, 0x20, 0x7F])]
            time.sleep(0.3)  # time for the LED message to loop back in, if it did: it must not
            assert all(not name.startswith("vj-midi") for name in ports.status().inputs)
            assert not _controls(list(events.drain()))  # our own LED message did not come back in
        finally:
            ports.stop()
    assert peer.received == [bytes([0x90, 0x20, 0x7F])]


def test_a_reloaded_mapping_keeps_its_ports_open_and_loses_no_message() -> None:
    """A mapping file saved while a controller streams: the port stays open (closing and reopening
    it at every reload lost what came meanwhile) and feeds the devices the new mapping names."""
    events = EventQueue()
    first, renamed = [MidiDevice("ctl", input="ports-reload")], [MidiDevice("knobs", input="ports-reload")]
    with MidiPeer("ports-reload") as peer:
        ports = MidiPorts(events, first, poll=0.1).start()
        try:
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            streaming = threading.Thread(target=peer.paced, args=(2000, 2000.0, 0xB0, 48, 64))  # CC 48: no 14-bit pair
            streaming.start()
            for i in range(20):  # a reload every 50 ms, the devices the same or renamed in turn
                ports.set_devices(first if i % 4 < 2 else renamed)
                time.sleep(0.05)
            streaming.join()
            ports.set_devices(renamed)
            got = _collect(events, lambda got: len(_controls(got)) >= 2000)
            peer.send(0xB0, 49, 1)
            got += _collect(events, lambda got: any(e.source[4] == 49 for e in _controls(got)))
        finally:
            ports.stop()
    controls = _controls(got)
    assert len(controls) == 2001
    assert {e.source[1] for e in controls[:2000]} == {"ctl", "knobs"}
    assert controls[-1].source == ("midi", "knobs", 1, "cc", 49)


def test_list_ports_shows_the_peer() -> None:
    with MidiPeer("ports-list"):
        inputs, outputs = list_ports()
    assert any("ports-list" in name for name in inputs)
    assert any("ports-list" in name for name in outputs)


def test_random_bytes_and_sysex_from_a_jack_peer_crash_nothing() -> None:
    """The MIDI fuzzer's cases (vj.bench.fuzz) through a real JACK port: random bytes, SysEx with
    and without its end, stray data and real-time bytes; the reader counts them and goes on."""
    import random

    from vj.bench.fuzz import _midi_bytes

    events = EventQueue()
    rng = random.Random(4)
    with MidiPeer("ports-fuzz") as peer:
        ports = MidiPorts(events, [MidiDevice("ctl", input="ports-fuzz")], poll=0.1).start()
        try:
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            for _ in range(300):
                data = _midi_bytes(rng)
                if data and (len(data) <= 3 or data[0] == 0xF0):  # (what rtmidi agrees to send)
                    peer.send(*data)
            # RtMidi's JACK input appends every event after an unterminated SysEx to it until one
            # ends with F7 (the MIDI rule that any status byte ends a SysEx is not applied): a
            # lone EOX closes it, as a device's next SysEx would
            peer.send(0xF7)
            peer.send(0xB0, 80, 99)  # then a real control change (not one of a 14-bit pair: CC 0-63)
            got = _collect(events, lambda got: any(isinstance(e, ControlEvent) and e.raw == 99 for e in got))
            assert ports._thread.is_alive()  # noqa: SLF001 - the reader survived
            # most of it refused and counted (the status is refreshed at each port scan)
            wait_for(lambda: ports.status().invalid + ports.status().ignored > 50, 2, what=lambda: ports.status())
        finally:
            ports.stop()
    assert (("midi", "ctl", 1, "cc", 80), 99) in {(e.source, e.raw) for e in _controls(got)}


def test_midi_comes_back_after_the_jack_server_restarts(monkeypatch) -> None:
    """Found by `vj bench soak`: ports opened on a JACK server that stopped stay dead under the same
    names on the server started after it, and vj's MIDI never came back."""
    import os

    from tests.support.jack import start_jackd, stop_jackd

    name = f"vjrestart{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    server = start_jackd(name)
    events = EventQueue()
    ports = MidiPorts(events, [MidiDevice("ctl", input="ports-restart")], poll=0.1).start()
    try:
        with MidiPeer("ports-restart") as peer:
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            peer.send(0xB0, 80, 1)
            _collect(events, lambda got: any(isinstance(e, ControlEvent) and e.raw == 1 for e in got))
        stop_jackd(server)
        server = start_jackd(name)
        with MidiPeer("ports-restart") as peer:  # the controller, under the same name, on the new server
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got), timeout=10)
            peer.send(0xB0, 80, 2)
            got = _collect(events, lambda got: any(isinstance(e, ControlEvent) and e.raw == 2 for e in got))
        assert (("midi", "ctl", 1, "cc", 80), 2) in {(e.source, e.raw) for e in _controls(got)}
    finally:
        ports.stop()
        stop_jackd(server)


def test_a_jack_server_that_does_not_answer_yet_never_stops_the_show(monkeypatch) -> None:
    """Found by `vj bench soak`: a JACK server still starting (its socket there, not answering)
    kept python-rtmidi's client open waiting with the GIL held, and every thread of the show stood
    still for seconds. A stand-in for such a server: a socket that accepts and never answers."""
    import os
    import socket

    from tests.support.jack import start_jackd, stop_jackd
    from vj.control.midi_ports import jack_answers

    name = f"vjmute{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    path = f"/dev/shm/jack_{name}_{os.getuid()}_0"
    server = start_jackd(name)
    assert jack_answers()
    events = EventQueue()
    ports = MidiPorts(events, [MidiDevice("ctl", input="ports-mute")], poll=0.1).start()
    ticker = Ticker()
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with MidiPeer("ports-mute"):
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
        stop_jackd(server)
        server = None
        if os.path.exists(path):
            os.unlink(path)
        mute.bind(path)
        mute.listen(8)
        ticker.start()
        began = time.monotonic()
        assert not jack_answers(0.3) and time.monotonic() - began < 1.0
        time.sleep(2.0)  # the manager's scans meet the server that does not answer
        ticker.stop()
        assert ticker.longest_gap() < 0.5, f"the process stood still for {ticker.longest_gap():.2f} s"
        assert ports._thread.is_alive()
        mute.close()
        os.unlink(path)
        server = start_jackd(name)
        with MidiPeer("ports-mute") as peer:  # a real server at last: MIDI comes back
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got), timeout=10)
            peer.send(0xB0, 81, 3)
            _collect(events, lambda got: any(isinstance(e, ControlEvent) and e.raw == 3 for e in got))
    finally:
        ticker.stop()
        mute.close()
        ports.stop()
        if server is not None:
            stop_jackd(server)


def test_a_jack_server_that_hangs_while_it_shuts_down_never_stops_the_show(monkeypatch) -> None:
    """Found by `vj bench soak`: when jackd took seconds to shut down, closing the ports of the
    server going away (python-rtmidi, the GIL held) waited for it, and every thread of the show
    stood still. A stand-in: the server stopped (SIGSTOP) with its socket removed, as a server
    shutting down has it; the ports are closed only once a new server answers."""
    import os
    import signal

    from tests.support.jack import start_jackd, stop_jackd

    name = f"vjhang{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    server = start_jackd(name)
    events = EventQueue()
    ports = MidiPorts(events, [MidiDevice("ctl", input="ports-hang")], poll=0.1).start()
    ticker = Ticker()
    stopped = False
    try:
        with MidiPeer("ports-hang"):
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got))
            ticker.start()
            # should the show freeze after all (the GIL held), a process of its own wakes the server
            # after 8 s, so that the test fails on the gap instead of hanging
            import subprocess

            subprocess.Popen(["sh", "-c", f"sleep 8; kill -CONT {server.pid} 2>/dev/null"])
            os.kill(server.pid, signal.SIGSTOP)
            stopped = True
            os.unlink(f"/dev/shm/jack_{name}_{os.getuid()}_0")
            time.sleep(2.0)  # the manager's scans find the server gone
            ticker.stop()
            assert ticker.longest_gap() < 0.5, f"the process stood still for {ticker.longest_gap():.2f} s"
            os.kill(server.pid, signal.SIGCONT)
            stopped = False
        stop_jackd(server)
        server = start_jackd(name)
        with MidiPeer("ports-hang") as peer:  # on the new server: MIDI comes back
            _collect(events, lambda got: any(isinstance(e, DeviceStatus) and e.connected for e in got), timeout=10)
            peer.send(0xB0, 82, 4)
            _collect(events, lambda got: any(isinstance(e, ControlEvent) and e.raw == 4 for e in got))
    finally:
        ticker.stop()
        if stopped:
            os.kill(server.pid, signal.SIGCONT)
        ports.stop()
        stop_jackd(server)
