"""Zeroconf: a real mDNS browser (another zeroconf instance, as TouchDesigner or Chataigne run)
finds vj's OSCQuery server and reaches it at the advertised address and port."""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.request

import pytest
from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

from vj.control.advertise import Advertisement, advertised_addresses
from vj.control.osc_space import address_space
from vj.control.oscquery import OscQuery


class Seen(ServiceListener):
    def __init__(self, name: str) -> None:
        self.name = name
        self.added = threading.Event()
        self.removed = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        if name.startswith(self.name):
            self.added.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        if name.startswith(self.name):
            self.removed.set()


@pytest.mark.e2e  # an OSCQuery server and two mDNS peers
def test_a_browser_discovers_oscquery_and_reads_host_info_there():
    name = f"vj-test-{os.getpid()}"
    query = OscQuery(address_space(), "127.0.0.1", 0, http_port=0).start()
    advert = Advertisement(name, "127.0.0.1", query.port).start()
    browser_zc = Zeroconf()
    try:
        seen = {kind: Seen(name) for kind in ("_oscjson._tcp.local.", "_osc._udp.local.")}
        browsers = [ServiceBrowser(browser_zc, kind, listener) for kind, listener in seen.items()]
        assert advert.wait(15) and advert.error is None, advert.error
        assert all(s.added.wait(15) for s in seen.values())
        info = browser_zc.get_service_info("_oscjson._tcp.local.", advert.registered[0], timeout=5000)
        assert info is not None and info.port == query.port
        address = info.parsed_addresses()[0]
        assert address == "127.0.0.1"  # vj listens on loopback only: it says so
        with urllib.request.urlopen(f"http://{address}:{info.port}/?HOST_INFO", timeout=10) as response:
            assert json.loads(response.read())["OSC_TRANSPORT"] == "UDP"
        advert.stop()
        assert seen["_oscjson._tcp.local."].removed.wait(10)  # the goodbye: clients drop vj at once
        for browser in browsers:
            browser.cancel()
    finally:
        advert.stop()
        browser_zc.close()
        query.stop()


def test_listening_everywhere_announces_every_address():
    everywhere = advertised_addresses("0.0.0.0")
    assert "127.0.0.1" in everywhere and all(socket.inet_aton(a) for a in everywhere)
    assert advertised_addresses("127.0.0.1") == ["127.0.0.1"]
