"""The control surface in a real browser: headless Chromium driven by Selenium opens the page of a
real show, drags a slider with the pointer, and the parameter changes in the show; screenshots at
phone and laptop sizes land in the test's tmp dir (VJ_SURFACE_SHOTS: also copied there). On the
procedural dream: a control per parameter in its range, a typed prompt that changes the show's
prompt book and its colours, a second browser whose slider follows the first's, a preset button,
and the preview image renewed."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.surface import Stage, open_stage
from vj.gen.procedural import ProceduralGenerator
from vj.gen.worker import GeneratorWorker
from vj.params import REGISTRY
from vj.render.textures import read_rgb

pytestmark = pytest.mark.e2e

PHONE, TABLET, LAPTOP = (390, 844), (1024, 768), (1366, 768)


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
    keep_shots(shots)


def test_two_fingers_move_two_sliders_at_once_in_chromium(stage: Stage):
    """A tablet's multi-touch: two touch pointers down together, each dragging its own slider."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    goals = {"zoom": 0.75, "rotate": 0.25}  # where each finger ends, as a share of its slider's width

    def touch() -> None:
        driver.set_window_size(*TABLET)
        driver.get(f"http://127.0.0.1:{stage.surface.port}/")
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
        rects = driver.execute_script("""
            const boxes = () => arguments[0].map((n) => document.querySelector(`.slider[data-param='${n}']`)
              .getBoundingClientRect());
            const [a, b] = boxes();  // both in view: their middle to the viewport's
            window.scrollBy(0, (a.top + b.bottom) / 2 - innerHeight / 2);
            return boxes().map((r) => [r.left, r.top, r.width, r.height]);""", list(goals))
        builder = ActionBuilder(driver)
        for n, ((left, top, width, height), goal) in enumerate(zip(rects, goals.values(), strict=True)):
            finger = builder.add_pointer_input(interaction.POINTER_TOUCH, f"finger{n}")
            y = int(top + height / 2)
            finger.create_pointer_move(duration=0, x=int(left + width / 2), y=y)
            finger.create_pointer_down(button=0)  # both down in the same tick: both held at once
            for step in range(1, 6):
                finger.create_pointer_move(duration=40, x=int(left + width * (0.5 + (goal - 0.5) * step / 5)), y=y)
            finger.create_pointer_up(button=0)
        builder.perform()

    try:
        while_showing(stage, touch)
        for _ in range(3):
            stage.frame()
    finally:
        driver.quit()
    assert stage.show.state.base["zoom"] == pytest.approx(1.0, abs=0.05)  # -2..2 at 3/4
    assert stage.show.state.base["rotate"] == pytest.approx(-90.0, abs=3.0)  # -180..180 at 1/4


def keep_shots(shots: list[Path]) -> None:
    """Each screenshot is a real picture; copied to VJ_SURFACE_SHOTS where that is set, to look at."""
    keep = os.environ.get("VJ_SURFACE_SHOTS")
    for shot in shots:
        assert shot.stat().st_size > 10_000
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)


@pytest.fixture
def dream(ctx) -> Iterator[Stage]:
    """The stage on the procedural dream, whose colours follow the prompt's words (vj.gen.look)."""
    yield from open_stage(ctx, worker=lambda preset: GeneratorWorker(ProceduralGenerator).start())


# What the page shows for each parameter, read from its DOM: a slider's range, a number field's, a
# switch, a choice's buttons. A prompt weight's slider sits in its prompt's row, without a name.
INVENTORY = """
const out = {};
for (const s of document.querySelectorAll('.slider[data-param]'))
  out[s.dataset.param] = ['slider', +s.getAttribute('aria-valuemin'), +s.getAttribute('aria-valuemax')];
for (const c of document.querySelectorAll('.control')) {
  const name = c.querySelector('.name');
  if (!name || out[name.textContent]) continue;
  const seg = c.querySelector('.seg'), num = c.querySelector('input[type=number]');
  out[name.textContent] = seg ? ['choice', [...seg.querySelectorAll('button')].map((b) => b.textContent)]
    : num ? ['number', +num.min, +num.max] : c.querySelector('.btn') ? ['switch'] : ['?'];
}
return out;
"""


def expected_controls() -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for spec in REGISTRY:
        if spec.name == "preset":  # the preset buttons play it
            continue
        if spec.kind in ("float", "int"):
            out[spec.name] = ["slider" if spec.hi - spec.lo <= 10000 else "number", spec.lo, spec.hi]
        elif spec.kind == "bool":
            out[spec.name] = ["switch"]
        else:
            out[spec.name] = ["choice", list(spec.choices)]
    return out


def frames_until(stage: Stage, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        stage.frame()
        time.sleep(0.005)


def colours_after(stage: Stage, frames: int) -> np.ndarray:
    """The picture's mean RGB after `frames` more display frames (past prompt.transition's 4 s)."""
    for _ in range(frames):
        stage.frame()
    return read_rgb(stage.target).reshape(-1, 3).mean(axis=0)


def test_every_control_prompts_presets_a_second_browser_and_the_preview_in_chromium(dream: Stage, tmp_path: Path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"http://127.0.0.1:{dream.surface.port}/"
    first, second = chromium(), chromium()
    try:
        def open_page(driver, size: tuple[int, int]) -> None:
            driver.set_window_size(*size)
            driver.get(url)
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")

        def inventory() -> object:
            open_page(first, LAPTOP)
            return first.execute_script(INVENTORY)

        assert while_showing(dream, inventory) == expected_controls()

        def type_prompt(text: str) -> Callable[[], None]:
            def typing() -> None:
                box = first.find_element(By.CSS_SELECTOR, 'input[data-prompt="1"]')
                box.clear()
                box.send_keys(text + Keys.ENTER)
            return typing

        seen = {}
        for text in ("a deep blue ocean", "fire and lava"):
            while_showing(dream, type_prompt(text))
            frames_until(dream, lambda t=text: dream.show.prompts.texts()[0] == t)
            seen[text] = colours_after(dream, 150)
        blue, fire = seen["a deep blue ocean"], seen["fire and lava"]
        assert blue[2] > blue[0] + 10 and fire[0] > fire[2] + 10, seen  # the dream took each prompt's colours

        def second_follows() -> object:
            open_page(second, PHONE)
            pan = first.find_element(By.CSS_SELECTOR, '.slider[data-param="pan.x"]')
            first.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", pan)
            # 5 steps of 1 % of -2..2, a key every 15 ms: the show's echo of one step comes back after the
            # next was pressed, and must not pull the page back (before the page held its own value for
            # a moment, 3 runs in 4 ended short of 0.2 like this; CI once without the pauses)
            keys = ActionChains(first)
            for _ in range(5):
                keys.send_keys(Keys.ARROW_RIGHT).pause(0.015)
            keys.perform()
            followed = '.slider[data-param="pan.x"]'
            WebDriverWait(second, 10).until(lambda d: abs(float(
                d.find_element(By.CSS_SELECTOR, followed).get_attribute("aria-valuenow") or 0) - 0.2) < 1e-6)
            return second.find_element(By.CSS_SELECTOR, 'input[data-prompt="1"]').get_attribute("value")

        assert while_showing(dream, second_follows) == "fire and lava"  # its prompt book, too
        assert dream.show.state.base["pan.x"] == pytest.approx(0.2)

        def preset_and_preview() -> None:
            two = next(b for b in first.find_elements(By.CSS_SELECTOR, "#presets button") if b.text == "two")
            first.execute_script("arguments[0].scrollIntoView({block: 'center'})", two)
            two.click()
            WebDriverWait(second, 10).until(lambda d: d.find_element(By.ID, "preset-name").text == "two")
            sources: set[str] = set()

            def renewed(driver) -> bool:  # each preview frame is a new blob URL
                src = driver.find_element(By.ID, "preview").get_attribute("src")
                if src:
                    sources.add(src)
                return len(sources) >= 3

            WebDriverWait(first, 20, poll_frequency=0.05).until(renewed)
            second.execute_script("window.scrollTo(0, 0)")
            second.save_screenshot(str(tmp_path / "surface-phone-dream.png"))

        while_showing(dream, preset_and_preview)
        assert dream.show.prompts.index == 1 and dream.surface.clients == 2
    finally:
        first.quit()
        second.quit()
    keep_shots([tmp_path / "surface-phone-dream.png"])
