"""Pairing a phone with the show: the token that a surface reached beyond loopback requires, the
URL to open (printed, and in the HUD), and that URL as a QR code's modules for the HUD to draw.

Loopback (the default) needs no token: only this machine reaches it. `--surface-host 0.0.0.0`
is an explicit choice to let the venue's network in, and then only those holding the token (who
read it off the screen or the terminal) may play.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket

import numpy as np

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def loopback(host: str) -> bool:
    """Whether an address (or `localhost`) is this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(12)


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def reachable_address(host: str) -> str:
    """The address a phone should use for a surface listening on `host`: `host` itself, or for
    every interface (0.0.0.0, ::) this machine's first non-loopback IPv4 address by its name (no
    packet sent), else its host name."""
    if host not in ("", "0.0.0.0", "::"):
        return host
    name = socket.gethostname()
    try:
        found = socket.getaddrinfo(name, None, socket.AF_INET)
    except OSError:
        return name
    for *_, address in found:
        if not ipaddress.ip_address(address[0]).is_loopback:
            return str(address[0])
    return name


def surface_url(host: str, port: int, token: str | None) -> str:
    address = reachable_address(host)
    address = f"[{address}]" if ":" in address else address
    return f"http://{address}:{port}/" + (f"?token={token}" if token else "")


def qr_modules(text: str) -> np.ndarray:
    """The QR code of `text` as a bool array (True: dark), with the standard quiet zone of 4."""
    import segno

    code = segno.make(text, error="m", micro=False)
    return np.array([[bool(bit) for bit in row] for row in code.matrix_iter(border=4)], dtype=bool)
