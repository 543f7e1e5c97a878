"""Zeroconf (mDNS/DNS-SD) advertisement, so TouchDesigner, Chataigne or Vezér find vj by itself.

As the OSCQuery proposal asks: the HTTP/JSON server as `_oscjson._tcp` and the OSC server as
`_osc._udp`, both on vj's OSC port. Registration probes the network for a second or two, so it
runs on its own thread and never delays the first frame. Discovery is a convenience: without the
zeroconf package or without multicast the show goes on, and clients connect by address.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

SERVICES = ("_oscjson._tcp.local.", "_osc._udp.local.")


def advertised_addresses(host: str) -> list[str]:
    """The addresses to announce: the one vj listens on, or every IPv4 address it has when it
    listens on all of them (0.0.0.0). Loopback is announced as such: a client on this machine
    (TouchDesigner next to vj) still finds it, one elsewhere could not reach it anyway."""
    if host not in ("", "0.0.0.0"):
        return [socket.gethostbyname(host)]
    import ifaddr  # zeroconf's own dependency

    found = [str(ip.ip) for adapter in ifaddr.get_adapters() for ip in adapter.ips if ip.is_IPv4]
    return found or ["127.0.0.1"]


class Advertisement:
    def __init__(self, name: str, host: str, port: int) -> None:
        self.name, self.host, self.port = name, host, port
        self.registered: list[str] = []  # the service names, as registered (renamed on a clash)
        self.error: str | None = None
        self._zc: Any = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._register, name="vj-zeroconf", daemon=True)

    def start(self) -> Advertisement:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """True once registration has finished, either way (tests)."""
        return self._done.wait(timeout)

    def _register(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf

            addresses = advertised_addresses(self.host)
            self._zc = Zeroconf()
            for kind in SERVICES:
                info = ServiceInfo(kind, f"{self.name}.{kind}", port=self.port, parsed_addresses=addresses,
                                   server=f"{socket.gethostname().split('.')[0] or 'vj'}.local.")
                self._zc.register_service(info, allow_name_change=True)
                self.registered.append(info.name)
            log.info("zeroconf: advertised %s on %s port %d", ", ".join(self.registered), ", ".join(addresses),
                     self.port)
        except ImportError:
            self.error = "the zeroconf package is not installed"
            log.info("zeroconf: %s; OSCQuery clients connect by address", self.error)
        except Exception as exc:  # noqa: BLE001 (no multicast, no network: discovery is optional)
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("zeroconf: cannot advertise vj (%s); OSCQuery clients connect by address", self.error)
        finally:
            self._done.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Say goodbye (clients drop vj from their lists at once) and close."""
        self._done.wait(timeout)
        zc, self._zc = self._zc, None
        if zc is not None:
            try:
                zc.unregister_all_services()
                zc.close()
            except Exception as exc:  # noqa: BLE001 (shutting down: nothing left to protect)
                log.debug("zeroconf: %s", exc)
