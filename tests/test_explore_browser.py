"""The explorer's page in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) via selenium.

Loads preset URLs and checks what the page renders against jaxconv itself: the output size and
the formulas against :func:`jaxconv.cli.explain` (the formatter the page must show), the frame
count against the number of output positions, for several configurations (a ceil-mode pool and a
strided ``same`` conv among them); that Tab reaches every control in order with a visible focus;
that the player steps and plays; and that a 375-pixel-wide window needs no horizontal scrolling.
Screenshots go to ``tests/artifacts/`` (git-ignored). Nothing here downloads a browser or a driver:
both are given by path, and the test skips, saying why, where they are missing. ``.ci/run``
installs the two packages, so CI runs it.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode

import pytest

from jaxconv import cli
from jaxconv.explore import presets, query, server

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _skip(reason: str) -> None:
    warnings.warn(f"tests/test_explore_browser.py skipped: {reason}", stacklevel=2)  # shown in pytest's summary
    pytest.skip(reason)


@pytest.fixture(scope="module")
def base():
    srv = server.make_server()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def driver():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        _skip(f"no {' and no '.join(missing)} (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _skip("selenium is not installed (it is in the [test] extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with the driver's path below, selenium-manager downloads nothing
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    try:
        d = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except Exception as e:  # a broken browser install is a skip with its reason, not an error of the explorer
        _skip(f"chromium did not start: {str(e).splitlines()[0]}")
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def viewport(d, width: int, height: int) -> None:
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def load(d, base: str, params: dict) -> None:
    """Open the page with a query and wait until it has rendered jaxconv's answers."""
    d.get(base + "?" + urlencode(params))
    wait_ready(d)


def wait_ready(d, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if d.execute_script("return document.body.dataset.state") == "ready":
            return
        time.sleep(0.05)
    raise AssertionError("the page did not finish rendering: " + d.execute_script("return document.body.innerText")[:500])


def text(d, id_: str) -> str:
    return d.execute_script(f"return document.getElementById('{id_}').textContent")


def _expected(params: dict) -> cli.Explanation:
    cfg = query.parse(params).config
    return cli.explain("pool" if cfg.op.endswith("pool") else cfg.op, cfg.input, cfg.kernel, cfg.stride, cfg.padding,
                       cfg.dilation, ceil_mode=cfg.ceil_mode, output_padding=cfg.output_padding, fn="explore")


CONFIGS = [
    {"op": "max_pool", "input": "5,5", "kernel": "3", "ceil_mode": "1"},                          # seed 002's ceil-mode pool
    {"op": "conv", "input": "7,8", "kernel": "3", "stride": "2", "padding": "same"},             # strided TF 'same' (seed 004)
    {"op": "transpose", "input": "3,3", "kernel": "3", "stride": "2", "padding": "1", "output_padding": "1"},
    {"op": "avg_pool", "input": "6", "kernel": "3", "stride": "2", "padding": "1", "ceil_mode": "1", "count_include_pad": "0"},
    {"op": "conv", "input": "7,7", "kernel": "3", "dilation": "2"},
    presets.PRESETS["seed002-stride2-pad1"].query(),
]


def test_renders_jaxconvs_answers(driver, base):
    """Output size, formulas and frame count for six configurations (oracle: cli.explain, prod of the output size)."""
    viewport(driver, 1280, 900)
    for params in CONFIGS:
        load(driver, base, params)
        e = _expected(params)
        assert text(driver, "error") == "", params
        assert text(driver, "output-size") == " × ".join(map(str, e.output_size)), params
        assert text(driver, "formulas") == "\n".join(e.formulas), params
        assert text(driver, "header") == e.header
        count = math.prod(e.output_size)
        assert driver.execute_script("return document.getElementById('frame-count').dataset.count") == str(count), params
        assert text(driver, "frame-label") == f"frame 1 of {count}"
        assert driver.execute_script("return document.querySelectorAll('#out-svg rect.out').length") == count
        extra = driver.execute_script("return document.querySelectorAll('#out-svg rect.extra').length")
        assert extra == (3 if params.get("ceil_mode") and params["op"] == "max_pool" else 1 if params.get("ceil_mode") else 0), params
    # the last one is in numbers mode: the seed's printed output, cell by cell, and the first frame's sum
    values = driver.execute_script("return [...document.querySelectorAll('#out-svg text')].map(t => t.textContent)")
    assert values == ["1", "4", "8", "7", "16", "8", "14", "9", "4"]
    assert text(driver, "expression") == "output (0, 0) = 1·1 + 2·0 + 0·1 + 1·0 = 1"
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "explore.png"))


def test_library_errors_and_the_player(driver, base):
    """A pool padded past half its kernel shows the library's message; step and play move the frame (oracle: shapes, the count)."""
    from jaxconv import shapes

    load(driver, base, {"op": "max_pool", "input": "5,5", "kernel": "3", "padding": "2"})
    with pytest.raises(ValueError) as e:
        shapes.pool_output_shape((5, 5), 3, None, 2, fn="explore")
    assert text(driver, "error") == str(e.value) and text(driver, "output-size") == "—"
    assert driver.execute_script("return document.getElementById('frame-count').dataset.count") == "0"

    load(driver, base, {"op": "conv", "input": "5,5", "kernel": "3", "stride": "2", "padding": "1"})
    driver.find_element("id", "next").click()
    wait_ready(driver)
    assert text(driver, "frame-label") == "frame 2 of 9" and "frame=1" in driver.current_url  # the view is in the URL
    driver.find_element("id", "prev").click()
    driver.find_element("id", "prev").click()
    assert text(driver, "frame-label") == "frame 9 of 9"  # wraps around
    driver.find_element("id", "play").click()
    end = time.time() + 5
    while text(driver, "frame-label") == "frame 9 of 9" and time.time() < end:
        time.sleep(0.1)
    driver.find_element("id", "play").click()
    assert text(driver, "frame-label") != "frame 9 of 9" and text(driver, "play") == "▶ play"


def test_tab_reaches_every_control_in_order(driver, base):
    """Tab from the top visits every visible control once, in the page's order, with a visible outline (oracle: the form)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    load(driver, base, {"op": "avg_pool", "input": "6,6", "kernel": "3", "stride": "2", "ceil_mode": "1", "numbers": "1"})
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    seen, outlines = [], []
    for _ in range(30):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        el = driver.execute_script("const e = document.activeElement; return [e.id, getComputedStyle(e).outlineStyle]")
        if el[0] in seen or not el[0]:
            break
        seen.append(el[0])
        outlines.append(el[1])
    assert seen == ["preset", "op", "dims", "input", "kernel", "stride", "padding", "ceil_mode", "count_include_pad", "numbers",
                    "x", "first", "prev", "play", "next", "frame", "permalink"]
    assert all(o != "none" for o in outlines), dict(zip(seen, outlines))
    # keyboard use: the op select with the arrow keys shows that op's own controls
    driver.find_element("id", "op").send_keys(Keys.HOME)
    wait_ready(driver)
    assert driver.execute_script("return document.getElementById('op').value") == "conv"
    assert driver.execute_script("return [...document.querySelectorAll('[data-for]')].filter(e => !e.hidden).map(e => e.dataset.for)") \
        == ["dilation", "x", "w"]


def test_narrow_window_has_no_horizontal_scrolling(driver, base):
    """At 375×667 the widest views fit: document width <= 375 px (oracle: the rule)."""
    try:
        viewport(driver, 375, 667)
        for params in [{"op": "conv", "input": "16,16", "kernel": "3", "padding": "((1,0),(2,3))", "numbers": "1"},
                       {"op": "transpose", "input": "20", "kernel": "4", "stride": "2", "padding": "1"},
                       {"op": "max_pool", "input": "5", "kernel": "2", "stride": "2", "padding": "1", "ceil_mode": "1"},
                       CONFIGS[0]]:
            load(driver, base, params)
            width = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
            assert width[0] == 375 and width[1] <= 375, (params, width)
        driver.save_screenshot(str(ARTIFACTS / "explore-375.png"))
    finally:
        viewport(driver, 1280, 900)
