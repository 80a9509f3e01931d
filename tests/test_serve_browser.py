"""The web page in a real headless browser (Debian's chromium and chromium-driver, through Selenium).

The page enrolls a person from a photo, identifies a second photo of them, and must render their
name. Set FACEREC_SCREENSHOT=path.png to keep a screenshot of the page (the README's is one).
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[serve]'")

from tests.conftest import lfw  # noqa: E402
from tests.serve_helpers import running_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver on PATH: apt-get install -y chromium chromium-driver")


@pytest.fixture()
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1000,940"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_page_enrolls_then_identifies_and_shows_the_name(recognizer, tmp_path, browser, one_torch_thread):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server(recognizer, tmp_path, rate_per_key=0) as server:
        with server.client("enroll") as client:  # someone else already enrolled, so the answer is a choice
            client.post("/v1/people", data={"name": "Adam Sandler"},
                        files=[("images", ("adam.jpg", lfw("Adam_Sandler", 1).read_bytes(), "image/jpeg"))])
        wait = WebDriverWait(browser, 60)
        browser.get(server.url + "/")
        browser.find_element(By.ID, "key").send_keys(server.keys["enroll"])
        browser.find_element(By.ID, "enroll-name").send_keys("Alec Baldwin")
        browser.find_element(By.ID, "enroll-files").send_keys(f"{lfw('Alec_Baldwin', 1)}\n{lfw('Alec_Baldwin', 2)}")
        browser.find_element(By.ID, "enroll-button").click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "enroll-result"), "enrolled Alec Baldwin: 2 new"))
        wait.until(seen.text_to_be_present_in_element((By.ID, "people"), "Alec Baldwin (2 faces)"))

        browser.find_element(By.ID, "identify-file").send_keys(str(lfw("Alec_Baldwin", 3)))
        browser.find_element(By.ID, "identify-button").click()
        wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#faces li")))
        [face] = browser.find_elements(By.CSS_SELECTOR, "#faces li")
        assert face.text.startswith("Alec Baldwin (score") and "known" in face.get_attribute("class")
        width = browser.execute_script("return document.getElementById('canvas').width")
        assert width == 250  # the photo is drawn, with its box
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        if os.environ.get("FACEREC_SCREENSHOT"):
            browser.save_screenshot(os.environ["FACEREC_SCREENSHOT"])
