"""OSC 1.0 packets -> (time, address, arguments), strictly and quietly.

python-osc's parser logs every bad bundle element on the root logger (a garbage flood would
flood the log) and lets some errors through as other exceptions; vj parses itself: anything
that is not well-formed raises OscFormatError, which the server counts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMMEDIATELY = 0.0  # a bundle time of 1 (the "immediately" time tag) or a plain message
NTP_EPOCH = 2208988800  # seconds from 1900 (OSC time tags) to 1970 (Unix time)
MAX_DEPTH = 8  # nested bundles


class OscFormatError(ValueError):
    pass


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[object, ...]
    time: float = IMMEDIATELY  # Unix time to apply it at (0: now)


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.find(b"\x00", at)
    if end < 0:
        raise OscFormatError("unterminated string")
    try:
        text = data[at:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscFormatError("a string that is not UTF-8") from exc
    return text, (end + 4) & ~3


def _take(data: bytes, at: int, size: int) -> int:
    if at + size > len(data):
        raise OscFormatError("truncated argument")
    return at + size


def parse_message(data: bytes, time: float = IMMEDIATELY) -> OscMessage:
    if not data.startswith(b"/"):
        raise OscFormatError("an address must start with /")
    address, at = _string(data, 0)
    if at >= len(data):
        return OscMessage(address, (), time)  # no type tag string: no arguments (old senders)
    tags, at = _string(data, at)
    if not tags.startswith(","):
        raise OscFormatError("the type tag string must start with ,")
    args: list[object] = []
    for tag in tags[1:]:
        if tag in "if":
            end = _take(data, at, 4)
            args.append(struct.unpack(">i" if tag == "i" else ">f", data[at:end])[0])
        elif tag in "hd":
            end = _take(data, at, 8)
            args.append(struct.unpack(">q" if tag == "h" else ">d", data[at:end])[0])
        elif tag in "sS":
            text, end = _string(data, at)
            args.append(text)
        elif tag == "b":
            size_end = _take(data, at, 4)
            (size,) = struct.unpack(">i", data[at:size_end])
            if size < 0:
                raise OscFormatError("a blob of negative size")
            end = _take(data, size_end, (size + 3) & ~3)
            args.append(bytes(data[size_end : size_end + size]))
        elif tag in "TF":
            args.append(tag == "T")
            end = at
        elif tag in "NI":
            args.append(None)
            end = at
        elif tag in "crm":
            end = _take(data, at, 4)
            args.append(bytes(data[at:end]))
        elif tag == "t":
            end = _take(data, at, 8)
            args.append(bytes(data[at:end]))
        else:
            raise OscFormatError(f"unknown type tag {tag!r}")
        at = end
    if at != len(data):
        raise OscFormatError("bytes after the last argument")
    return OscMessage(address, tuple(args), time)


def parse_packet(data: bytes, depth: int = 0) -> list[OscMessage]:
    """Every message in a datagram, with its bundle's time (nested bundles flattened)."""
    if data.startswith(b"#bundle\x00"):
        if depth > MAX_DEPTH or len(data) < 16:
            raise OscFormatError("a bundle too short or nested too deep")
        seconds, fraction = struct.unpack(">II", data[8:16])
        time = IMMEDIATELY if (seconds, fraction) == (0, 1) else seconds - NTP_EPOCH + fraction / 2**32
        out: list[OscMessage] = []
        at = 16
        while at < len(data):
            size_end = _take(data, at, 4)
            (size,) = struct.unpack(">i", data[at:size_end])
            if size <= 0 or size % 4:
                raise OscFormatError("a bundle element of a bad size")
            end = _take(data, size_end, size)
            for message in parse_packet(data[size_end:end], depth + 1):
                # an inner bundle is never due before its outer one
                out.append(message if message.time >= time else OscMessage(message.address, message.args, time))
            at = end
        return out
    return [parse_message(data)]


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (4 - len(data) % 4)


def encode_message(address: str, *args: object) -> bytes:
    """One OSC message: ints as i, floats as f, strings as s, booleans as T/F, bytes as b."""
    tags, payload = [","], []
    for a in args:
        if isinstance(a, bool):
            tags.append("T" if a else "F")
        elif isinstance(a, int):
            tags.append("i")
            payload.append(struct.pack(">i", a))
        elif isinstance(a, float):
            tags.append("f")
            payload.append(struct.pack(">f", a))
        elif isinstance(a, str):
            tags.append("s")
            payload.append(_pad(a.encode("utf-8")))
        elif isinstance(a, bytes):
            tags.append("b")
            payload.append(struct.pack(">i", len(a)) + a + b"\x00" * (-len(a) % 4))
        else:
            raise TypeError(f"OSC cannot carry {type(a).__name__}")
    return _pad(address.encode("utf-8")) + _pad("".join(tags).encode()) + b"".join(payload)
