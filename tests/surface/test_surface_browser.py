"""The control surface in a real browser: headless Chromium driven by Selenium opens the page of a
real show, drags a slider with the pointer, and the parameter changes in the show; screenshots at
phone and laptop sizes land in the test's tmp dir (VJ_SURFACE_SHOTS: also copied there)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.surface import Stage

pytestmark = pytest.mark.e2e

PHONE, LAPTOP = (390, 844), (1366, 768)


def chromium():
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("the browser test needs selenium (the test extra: pip install -e '.[test]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail("the browser test needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--hide-scrollbars"):
        options.add_argument(arg)
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def while_showing(stage: Stage, work: Callable[[], object], timeout: float = 90.0) -> object:
    """Run the browser's `work` on a thread while this thread plays the show's frames."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    import time

    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        stage.frame()
        time.sleep(0.01)
    assert not thread.is_alive(), "the browser did not finish in time"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def test_a_slider_dragged_in_chromium_moves_the_show(stage: Stage, tmp_path: Path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    url = f"http://127.0.0.1:{stage.surface.port}/"
    shots: list[Path] = []

    def browse() -> None:
        driver.set_window_size(*LAPTOP)
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        zoom = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, '.slider[data-param="zoom"]')))
        wait.until(lambda d: d.find_element(By.ID, "status").text == "live")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", zoom)
        width = zoom.size["width"]
        # from the middle (0) a quarter of the width to the right: +1 ln/s on a -2..2 slider
        ActionChains(driver).move_to_element(zoom).click_and_hold().move_by_offset(width // 8, 0) \
            .move_by_offset(width // 8, 0).release().perform()
        wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("src"))  # a preview frame came
        driver.execute_script("window.scrollTo(0, 0)")
        shots.append(tmp_path / "surface-laptop.png")
        driver.save_screenshot(str(shots[-1]))
        driver.set_window_size(LAPTOP[0], driver.execute_script("return document.body.scrollHeight") + 100)
        shots.append(tmp_path / "surface-laptop-whole.png")
        driver.save_screenshot(str(shots[-1]))
        driver.set_window_size(*PHONE)
        driver.execute_script("window.scrollTo(0, 0)")
        WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.innerWidth") <= PHONE[0])
        shots.append(tmp_path / "surface-phone.png")
        driver.save_screenshot(str(shots[-1]))

    try:
        while_showing(stage, browse)
        stage.frame()
        assert stage.show.state.base["zoom"] == pytest.approx(1.0, abs=0.1)
        assert stage.surface.clients == 1
    finally:
        driver.quit()
    keep = os.environ.get("VJ_SURFACE_SHOTS")
    for shot in shots:
        assert shot.stat().st_size > 10_000
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)
