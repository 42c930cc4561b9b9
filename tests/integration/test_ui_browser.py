"""The /ui page in a real headless browser (Chromium from Debian's packages, driven by Selenium): a person types
a token and a user, sees the history with item text and the recommendations with their reasons, switches the
re-ranking and sees the list asked for again, and opens the simulation plots. Skipped, with the reason, where no
browser can start."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402
import uvicorn  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402

from lmrec.serve import ServeConfig, create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NO_BROWSER = "no chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=NO_BROWSER)]
TOKEN = "ui-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = {"name": "sasrec-fused", "dim": 16, "layers": 1, "heads": 1, "max_len": 10,
             "encoder": {"kind": "tfidf", "tfidf_dim": 16},
             "train": {"epochs": 3, "threads": 1, "batch_size": 32, "precision": "float32"}}
    run = fit_toy_run(two_groups(), tmp_path_factory.mktemp("ui") / "fused", model)
    plots = run / "simulations" / "toy"
    plots.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (40, 20), (30, 90, 200)).save(plots / "coverage.png")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(run, ServeConfig(token=TOKEN))
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(base + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    except Exception as exc:  # a browser that cannot start here is a skip with its reason, not a failure
        pytest.skip(f"chromium did not start: {str(exc).splitlines()[0][:200]}")
    yield driver
    driver.quit()


def test_a_person_gets_explained_recommendations_and_switches_reranking(server: str, browser) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(server + "/ui")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "user").send_keys("user0")
    browser.find_element(By.ID, "go").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recs li")) == 10)
    history = browser.find_elements(By.CSS_SELECTOR, "#history-list li")
    assert history and "fruit" in history[0].text  # item text beside the ID
    reasons = browser.find_elements(By.CSS_SELECTOR, "#recs .reason")
    assert len(reasons) == 10 and all(r.text.startswith("Because you chose") for r in reasons)
    first = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recs li")]
    browser.execute_script("document.getElementById('status').textContent = ''")
    Select(browser.find_element(By.ID, "rerank")).select_by_value("mmr:0.7")
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("10 items"))
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recs li")] != first
    browser.find_element(By.ID, "load-sims").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sims img"))
    assert browser.find_element(By.CSS_SELECTOR, "#sims img").get_attribute("alt") == "toy: coverage.png"


def test_without_the_right_token_the_page_shows_the_refusal(server: str, browser) -> None:
    browser.get(server + "/ui")
    browser.execute_script("sessionStorage.clear()")
    browser.get(server + "/ui")
    browser.find_element(By.ID, "token").clear()
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.ID, "user").send_keys("user0")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "status").text.startswith("401"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#recs li")
