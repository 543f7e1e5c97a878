"""Pairing: which hosts are this machine only, the URL with its token, and the QR code the HUD draws."""

from __future__ import annotations

import numpy as np

from vj.render.hud import Hud
from vj.surface.pairing import loopback, qr_modules, surface_url, token_matches


def test_loopback_is_this_machine_only():
    assert all(loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(loopback(h) for h in ("0.0.0.0", "192.168.1.20", "vj.local", "evil.example", ""))


def test_the_url_carries_the_token_and_only_the_right_token_matches():
    assert surface_url("192.168.1.20", 8080, "abc") == "http://192.168.1.20:8080/?token=abc"
    assert surface_url("127.0.0.1", 8080, None) == "http://127.0.0.1:8080/"
    assert token_matches("abc", "abc") and not token_matches("abd", "abc") and not token_matches(None, "abc")


def test_the_hud_draws_the_qr_code_module_for_module_under_its_text(ctx):
    modules = qr_modules("http://192.168.1.20:8080/?token=abc")
    assert modules.shape[0] == modules.shape[1] >= 21 + 8 and modules[4, 4] and not modules[0, 0]
    hud = Hud(ctx)
    hud.set_text(["vj  display 60 fps"])
    plain = hud.rasterise(20)
    hud.set_qr(modules, "control surface: http://192.168.1.20:8080/?token=abc")
    image = hud.rasterise(20)
    assert plain is not None and image is not None and image.shape[0] > plain.shape[0] + modules.shape[0] * 3
    scale = max(3, 20 // 3)
    pad, top = 10, image.shape[0] - modules.shape[0] * scale - 10  # under the text, the box's padding around it
    centres = image[top + scale // 2 :: scale, pad + scale // 2 :: scale][: modules.shape[0], : modules.shape[1], 0]
    assert np.array_equal(centres < 128, modules)
    hud.set_qr(None)
    assert hud.rasterise(20).shape == plain.shape
