"""`vj bench fuzz`: every parser at vj's edge fed hostile input; each must answer with a clear
message (or ignore and count it), never a traceback, and go on.

Targets (`--target`, several comma-separated; all by default), each `--count` cases from `--seed`:

- `yaml`: the shipped presets and mappings, mutated (lines deleted, doubled, re-indented or cut;
  values swapped for other types, huge or non-finite numbers, unicode, stray YAML syntax; bytes
  that are not UTF-8) and checked as `vj check` and a live reload read them
  (`vj.config.library.check_file`). Passes: the file parses, or a ConfigError whose every problem
  names this file and a line.
- `osc`: datagrams: random bytes, valid messages and bundles with bytes flipped, cut or appended,
  bundles that lie about their sizes or nest deeply, through `vj.control.osc_codec.parse_packet`
  (what the OSC server runs on every datagram). Passes: messages, or OscFormatError.
- `osc-server`: the same datagrams over UDP to a real `OscServer`, paced to the kernel's buffer.
  Passes: its thread lives, and a valid message sent after them arrives (`lost`: datagrams the
  kernel dropped, counted, not failures).
- `http`: requests to a real OSCQuery server (vj.control.oscquery on vj.web): random bytes,
  unknown methods, broken versions, paths with NUL, bad escapes or 18 KB, huge or many headers,
  broken websocket upgrades, bodies that lie about their length, requests cut anywhere. Passes: a
  normal query is answered afterwards and nothing was logged with a traceback.
- `midi`: random byte strings, running status, SysEx with and without its end, real-time bytes
  in the middle, through `vj.control.midi_decode.MidiDecoder` (what every MIDI port's reader
  runs). Passes: events or nothing, counted.
- `audio`: blocks of random length (0 to 4096 samples) of NaN, infinities, DC, clipping far past
  full scale, denormals, noise and silence at 22.05, 44.1, 48 and 96 kHz through the live
  `Analyzer`. Passes: every feature finite, every block.
- `camera`: a short video file truncated, with bytes flipped or zeroed, replaced by random bytes
  or emptied, played by `vj.camera.CameraInput` for a moment. Passes: nothing raised, the reader
  stops when asked, and when it has nothing to show its status names the file.

A failure is recorded with the case that made it (`failures`, the first FAILURES_KEPT).
`tests/test_fuzz.py` runs every target at a modest count in CI; the long run is
`vj bench fuzz --count 1000000 --target osc` (and so on).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vj.bench import emit
from vj.paths import MAPPING_DIR, PRESET_DIR

FAILURES_KEPT = 20
TARGETS = ("yaml", "osc", "osc-server", "http", "midi", "audio", "camera")
DEFAULT_COUNTS = {"yaml": 2000, "osc": 1_000_000, "osc-server": 100_000, "http": 3000, "midi": 200_000, "audio": 2000,
                  "camera": 30}


class Failures:
    """The cases that failed: how many, and the first FAILURES_KEPT with what happened."""

    def __init__(self) -> None:
        self.count = 0
        self.kept: list[str] = []

    def add(self, case: str, what: str) -> None:
        self.count += 1
        if len(self.kept) < FAILURES_KEPT:
            self.kept.append(f"{case}: {what}")

    def crashed(self, case: str) -> None:
        self.add(case, traceback.format_exc(limit=4).strip())


# -- YAML ------------------------------------------------------------------------------------------

VALUES = ("", "~", "[]", "{}", "[[[[", "{a: [1, {b: }", "1e999", "-1e999", ".nan", "-.inf", "99999999999999999999",
          "-7", "0", "true", "yes", "'", '"unterminated', "&anchor x", "*nowhere", "!!python/object:os.system ls",
          "é̃ 漢字 🎛", "x" * 5000, "0x1F", "1:2:3", "- - -", "? complex", "|", ">", "@", "`", "%YAML 9.9")


STRAY = ("\t", ":", "{", "[", "- ", "#", "'", "&", "*", "!", "%")
KEYS = ("bindings", "lfos", "prompts", "params", "outputs", "zz")


def _mutate_yaml(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            lines = [rng.choice(VALUES)]
        i = rng.randrange(len(lines))
        kind = rng.randrange(7)
        if kind == 0:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[i])
        elif kind == 2 and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(VALUES)}"
        elif kind == 3:
            lines[i] = " " * rng.randint(0, 9) + lines[i].lstrip()
        elif kind == 4:
            at = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + rng.choice(STRAY) + lines[i][at:]
        elif kind == 5:
            lines = lines[:i]
        else:
            lines.insert(i, f"{rng.choice(KEYS)}: {rng.choice(VALUES)}")
    data = "\n".join(lines).encode()
    if rng.random() < 0.05:  # not UTF-8
        at = rng.randint(0, len(data))
        data = data[:at] + bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 4))) + data[at:]
    return data


def fuzz_yaml(count: int, seed: int) -> dict[str, Any]:
    import logging

    from vj.config.library import check_file
    from vj.config.source import ConfigError

    logging.disable(logging.WARNING)  # (the outputs section logs its problems as it reads them)
    try:
        return _fuzz_yaml(count, seed, check_file, ConfigError)
    finally:
        logging.disable(logging.NOTSET)


def _fuzz_yaml(count: int, seed: int, check_file: Callable[[Path], object], error: type[Exception]) -> dict[str, Any]:
    rng = random.Random(seed)
    sources = sorted(PRESET_DIR.glob("*.yaml")) + sorted(MAPPING_DIR.glob("*.yaml"))
    failures, rejected = Failures(), 0
    with tempfile.TemporaryDirectory(prefix="vj-fuzz-") as tmp:
        for folder in ("presets", "mappings"):
            (Path(tmp) / folder).mkdir()
        for n in range(count):
            source = rng.choice(sources)
            path = Path(tmp) / source.parent.name / source.name
            path.write_bytes(_mutate_yaml(source.read_text(), rng))
            case = f"#{n} {source.parent.name}/{source.name}"
            try:
                check_file(path)
            except error as exc:
                rejected += 1
                for problem in exc.problems:  # type: ignore[attr-defined]
                    if problem.file != str(path) or problem.line < 1:
                        failures.add(case, f"a problem without its file and line: {problem}")
            except Exception:  # noqa: BLE001 - what the fuzzer is for
                failures.crashed(case)
    return {"cases": count, "rejected": rejected, "failed": failures.count, "failures": failures.kept}


# -- OSC -------------------------------------------------------------------------------------------


def _osc_datagram(rng: random.Random) -> bytes:
    from vj.control.osc_codec import encode_message

    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 600))
    address = rng.choice(["/vj/param/zoom", "/vj/norm/hue", "/vj/prompt/1/text", "/vj/tap", "/", "//", "/x" * 40])
    args: list[object] = [rng.choice([0.5, -1e300, math.nan, math.inf, 7, -(2**31), "text", b"\x00\xff", True, None])
                          for _ in range(rng.randint(0, 4))]
    try:
        data = encode_message(address, *args)
    except Exception:  # noqa: BLE001 - an argument the encoder refuses: random bytes instead
        data = rng.randbytes(32)
    if kind == 1:  # bytes flipped
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if kind == 2:  # cut or lengthened
        return data[:rng.randint(0, len(data))] + rng.randbytes(rng.choice([0, 0, 3, 17]))
    # a bundle: sizes that may lie, elements that may be bundles again
    element = data
    for _ in range(rng.randint(1, 40) if kind == 3 else 1):
        size = len(element) if rng.random() < 0.7 else rng.randrange(2**32)
        element = b"#bundle\x00" + rng.randbytes(8) + size.to_bytes(4, "big") + element
    return element


def fuzz_osc(count: int, seed: int) -> dict[str, Any]:
    from vj.control.osc_codec import OscFormatError, parse_packet

    rng = random.Random(seed)
    failures, rejected, messages = Failures(), 0, 0
    for n in range(count):
        data = _osc_datagram(rng)
        try:
            messages += len(parse_packet(data))
        except OscFormatError:
            rejected += 1
        except Exception:  # noqa: BLE001 - what the fuzzer is for
            failures.crashed(f"#{n} {data[:64]!r}")
    return {"cases": count, "rejected": rejected, "messages": messages, "failed": failures.count,
            "failures": failures.kept}


def fuzz_osc_server(count: int, seed: int) -> dict[str, Any]:
    """The same datagrams sent over UDP to a real `OscServer` (its thread parsing, the queue filled
    as for the show), paced to the kernel's buffer; then a valid message must still arrive."""
    import socket

    from vj.control.osc_codec import encode_message
    from vj.control.osc_server import OscServer
    from vj.vocabulary import EventQueue

    rng = random.Random(seed)
    events = EventQueue()
    server = OscServer(events, "127.0.0.1", 0).start()
    failures, delivered = Failures(), 0
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(count):
                sock.sendto(_osc_datagram(rng), ("127.0.0.1", server.port))
                if n % 200 == 199:  # drain as the render thread would, and let the server keep up
                    delivered += sum(1 for _ in events.drain())
                    time.sleep(0.002)
            deadline = time.monotonic() + 10.0
            while server.status().datagrams < count and time.monotonic() < deadline:
                delivered += sum(1 for _ in events.drain())
                time.sleep(0.01)
            delivered += sum(1 for _ in events.drain())
            status = server.status()
            sock.sendto(encode_message("/vj/param/zoom", 0.25), ("127.0.0.1", server.port))
            deadline = time.monotonic() + 5.0
            alive = False
            while not alive and time.monotonic() < deadline:
                alive = any(getattr(e, "raw", None) == 0.25 for e in events.drain())
                time.sleep(0.01)
            if not alive:
                failures.add("after the flood", "a valid /vj/param/zoom 0.25 never came through")
            if not server._thread.is_alive():  # noqa: SLF001 - the server's one thread
                failures.add("after the flood", "the OSC server's thread died")
    finally:
        server.stop()
    return {"cases": count, "received": status.datagrams, "lost": count - status.datagrams,
            "invalid": status.invalid, "events": delivered, "failed": failures.count, "failures": failures.kept}


# -- OSCQuery's HTTP --------------------------------------------------------------------------------

PATHS = ("/", "/vj/param/zoom", "/vj/param/zoom?VALUE", "/?HOST_INFO", "/vj/%00", "/%zz", "/vj/../../etc/passwd",
         "/" + "a/" * 2000, "/vj/param/zoom?" + "x" * 9000, "*", "http://elsewhere/", "/vj/prompt/1/text?VALUE&RANGE")


def _http_request(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 3000))
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "BREW", "G\x00T", "get", ""])
    headers = [f"Host: {rng.choice(['vj', '', 'x' * 9000])}"]
    if kind == 1:  # many or huge headers
        headers += [f"X-{i}: {'y' * rng.randint(0, 200)}" for i in range(rng.randint(0, 120))]
    if kind == 2:  # a websocket upgrade, maybe broken
        key = rng.choice(["", "abc", "dGhlIHNhbXBsZSBub25jZQ=="])
        headers += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                    f"Sec-WebSocket-Version: {rng.choice(['13', '8', 'x'])}"]
    if kind == 3:  # a body that lies about its length
        headers.append(f"Content-Length: {rng.choice(['10', '-1', '99999999999', 'abc'])}")
    head = f"{method} {rng.choice(PATHS)} {rng.choice(['HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', ''])}\r\n"
    data = (head + "\r\n".join(headers) + "\r\n\r\n").encode("utf-8", "replace")
    if kind == 4:  # cut anywhere
        data = data[:rng.randint(0, len(data))]
    return data + (rng.randbytes(rng.randint(0, 64)) if kind == 5 else b"")


class _Records(logging.Handler):
    """The log records at WARNING and above while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def fuzz_http(count: int, seed: int) -> dict[str, Any]:
    """Requests, broken and hostile, to a real OSCQuery server (vj.control.oscquery on vj.web),
    one connection each, read until it answers or closes. Passes: the server answers a normal query
    afterwards, and logged nothing at WARNING or above with a traceback."""
    import socket

    from vj.control.osc_space import address_space
    from vj.control.oscquery import OscQuery
    from vj.web.server import Limits, WebServer

    rng = random.Random(seed)
    failures, answered = Failures(), 0
    records = _Records()
    logging.getLogger().addHandler(records)
    server = WebServer(Limits(request_timeout=0.3, keepalive_timeout=0.3))
    query = OscQuery(address_space(), "127.0.0.1", 9000, http_port=0, server=server)
    server.start()
    query.start()
    try:
        for _ in range(count):
            data = _http_request(rng)
            try:
                with socket.create_connection(("127.0.0.1", query.port), timeout=2.0) as sock:
                    sock.sendall(data)
                    if rng.random() < 0.5:
                        sock.shutdown(socket.SHUT_WR)
                    answered += bool(sock.recv(1024))
            except OSError:
                pass  # refused, reset or timed out on our side: the server's choice, not a failure
        with socket.create_connection(("127.0.0.1", query.port), timeout=3.0) as sock:
            sock.sendall(b"GET /vj/param/zoom?VALUE HTTP/1.1\r\nHost: vj\r\nConnection: close\r\n\r\n")
            reply = sock.recv(4096)
        if not reply.startswith(b"HTTP/1.1 200"):
            failures.add("after the requests", f"a normal query got {reply[:80]!r}")
    finally:
        query.stop()
        server.stop()
        logging.getLogger().removeHandler(records)
    for record in records.records:
        if record.exc_info:
            failures.add(f"log {record.name}", f"{record.getMessage()} (with a traceback)")
    return {"cases": count, "answered": answered, "failed": failures.count, "failures": failures.kept}


# -- MIDI ------------------------------------------------------------------------------------------


def _midi_bytes(rng: random.Random) -> list[int]:
    kind = rng.randrange(4)
    if kind == 0:
        return [rng.randrange(256) for _ in range(rng.randint(0, 12))]
    if kind == 1:  # SysEx, maybe unterminated, maybe with status bytes inside
        body = [rng.randrange(128) for _ in range(rng.randint(0, 300))]
        if rng.random() < 0.3:
            body.insert(rng.randint(0, len(body)), rng.randrange(0x80, 0x100))
        return [0xF0, *body] + ([0xF7] if rng.random() < 0.5 else [])
    if kind == 2:  # a channel message with a real-time byte or a missing/extra data byte
        message = [rng.randrange(0x80, 0xF0), rng.randrange(128), rng.randrange(128)]
        message.insert(rng.randint(0, 3), rng.choice([0xF8, 0xFA, 0xFC, 0xFE, 0xFF]))
        return message[:rng.randint(1, 4)]
    return [rng.randrange(128) for _ in range(rng.randint(1, 3))]  # running status: data bytes alone


def fuzz_midi(count: int, seed: int) -> dict[str, Any]:
    from vj.control.midi_decode import MidiDecoder

    rng = random.Random(seed)
    decoder = MidiDecoder(("fuzz",))
    failures, events = Failures(), 0
    for n in range(count):
        data = _midi_bytes(rng)
        try:
            events += len(decoder.decode(bytes(data) if rng.random() < 0.5 else data, float(n)))
        except Exception:  # noqa: BLE001 - what the fuzzer is for
            failures.crashed(f"#{n} {data[:16]}")
    counts = decoder.counts
    return {"cases": count, "events": events, "invalid": counts.invalid, "ignored": sum(counts.ignored.values()),
            "failed": failures.count, "failures": failures.kept}


# -- audio -----------------------------------------------------------------------------------------

AUDIO_RATES = (22050, 44100, 48000, 96000)


def _audio_block(rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(0, 4097))
    kind = int(rng.integers(8))
    if kind == 0:
        return np.full(size, np.nan, np.float32)
    if kind == 1:
        return rng.choice(np.array([np.inf, -np.inf, 0.0], np.float32), size)
    if kind == 2:
        return np.full(size, rng.choice([1.0, -1.0, 0.3]), np.float32)  # DC
    if kind == 3:
        return (rng.standard_normal(size) * 40.0).astype(np.float32)  # clipping far past full scale
    if kind == 4:
        return np.full(size, 1e-40, np.float32)  # denormals
    if kind == 5:
        return np.zeros(size, np.float32)
    block = (0.3 * rng.standard_normal(size)).astype(np.float32)
    if kind == 6 and size:
        block[rng.integers(0, size, max(1, size // 50))] = np.nan
    return block


def fuzz_audio(count: int, seed: int) -> dict[str, Any]:
    from vj.audio.analysis import AnalysisConfig, Analyzer

    rng = np.random.default_rng(seed)
    failures = Failures()
    analyzers = {rate: Analyzer(AnalysisConfig(sample_rate=rate, high=(2000.0, min(16000.0, rate / 2))))
                 for rate in AUDIO_RATES}
    for n in range(count):
        rate = AUDIO_RATES[int(rng.integers(len(AUDIO_RATES)))]  # (a device's rate changing: a new analyser)
        block = _audio_block(rng)
        case = f"#{n} {block.size} samples at {rate} Hz"
        try:
            frame = analyzers[rate].process(block)
        except Exception:  # noqa: BLE001 - what the fuzzer is for
            failures.crashed(case)
            continue
        bad = {k: v for k, v in frame.features.items() if not math.isfinite(v)}
        if bad:
            failures.add(case, f"features not finite: {bad}")
    problems = {rate: dict(a.problems) for rate, a in analyzers.items()}
    return {"cases": count, "failed": failures.count, "failures": failures.kept, "problems_counted": problems}


# -- camera ----------------------------------------------------------------------------------------


def _video(path: Path, frames: int = 24) -> bytes:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 10) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def _corrupt(good: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.randrange(5)
    if kind == 0:
        at = rng.randint(0, len(good))
        return f"cut at {at}", good[:at]
    if kind == 1:
        buf = bytearray(good)
        for _ in range(rng.randint(1, 50)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return "bytes flipped", bytes(buf)
    if kind == 2:
        at = rng.randrange(len(good))
        return f"zeroed from {at}", good[:at] + bytes(min(len(good) - at, rng.randint(1, 4096))) + good[at + 4096:]
    if kind == 3:
        return "random bytes", rng.randbytes(rng.randint(1, 20000))
    return "empty", b""


def fuzz_camera(count: int, seed: int, seconds: float = 0.4) -> dict[str, Any]:
    from vj.camera import CameraConfig, CameraInput

    rng = random.Random(seed)
    failures, played = Failures(), 0
    with tempfile.TemporaryDirectory(prefix="vj-fuzz-") as tmp:
        good = _video(Path(tmp) / "good.mp4")
        for n in range(count):
            what, data = _corrupt(good, rng)
            path = Path(tmp) / f"clip{n}.mp4"
            path.write_bytes(data)
            case = f"#{n} {what}"
            try:
                camera = CameraInput(CameraConfig(str(path))).start()
                time.sleep(seconds)
                status = camera.status()
                camera.latest()
                camera.stop(timeout=2.0)
            except Exception:  # noqa: BLE001 - what the fuzzer is for
                failures.crashed(case)
                continue
            played += status.frames > 0
            if camera._thread.is_alive():  # noqa: SLF001 - the one thing stop() promises
                failures.add(case, "the reader thread did not stop")
            elif status.frames == 0 and path.name not in status.message:
                failures.add(case, f"nothing shown and the status does not name the file: {status.message!r}")
    return {"cases": count, "played_some": played, "failed": failures.count, "failures": failures.kept}


FUZZERS: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "yaml": fuzz_yaml, "osc": fuzz_osc, "osc-server": fuzz_osc_server, "http": fuzz_http, "midi": fuzz_midi,
    "audio": fuzz_audio, "camera": fuzz_camera}


def bench_fuzz(targets: Sequence[str] = TARGETS, count: int | None = None, seed: int = 1) -> dict[str, Any]:
    unknown = [t for t in targets if t not in FUZZERS]
    if unknown:
        raise ValueError(f"unknown fuzz target {', '.join(unknown)}: expected some of {', '.join(TARGETS)}")
    result: dict[str, Any] = {"benchmark": "fuzz", "seed": seed}
    for target in targets:
        started = time.perf_counter()
        figures = FUZZERS[target](count if count is not None else DEFAULT_COUNTS[target], seed)
        figures["seconds"] = round(time.perf_counter() - started, 2)
        result[target] = figures
    result["failed"] = sum(result[t]["failed"] for t in targets)
    return result


def _print(r: dict[str, Any]) -> None:
    for target in TARGETS:
        if target in r:
            f = r[target]
            print(f"{target:7s} {f['cases']} cases in {f['seconds']} s: {f['failed']} failed")
            for failure in f["failures"]:
                print("   ", failure.replace("\n", "\n    "))


def run_fuzz_bench(targets: Sequence[str] = TARGETS, count: int | None = None, seed: int = 1,
                   as_json: bool = False) -> int:
    try:
        result = bench_fuzz(targets, count, seed)
    except ValueError as exc:
        print(f"vj bench fuzz: {exc}", file=sys.stderr)
        return 2
    status = emit(result, as_json, _print)
    return 1 if result["failed"] else status
