"""The web page and the API docs in a real headless browser (Debian's chromium and chromium-driver, through Selenium).

The page enrolls a person from a photo, identifies a second photo of them, and must render their name; a group
photo gets one label per face, none over another; a refused key takes every result off the page. Each check
saves a screenshot under the test's tmp_path (look at them when the page changes). Set
FACEREC_SCREENSHOT=path.png to keep the screenshot of the identified group (the README's is one).
/docs renders the operations from files this service serves: nothing from the internet.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[serve]'")

from tests.conftest import lfw  # noqa: E402
from tests.serve_helpers import running_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver on PATH: apt-get install -y chromium chromium-driver")

#: A row of four faces shoulder to shoulder: two enrolled by the test, two strangers; each WIDE pixels wide.
ROW = (("Alec_Baldwin", 3), ("Adam_Sandler", 3), ("Amelia_Vega", 1), ("Abel_Pacheco", 3))
WIDE = 200


@pytest.fixture()
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1000,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture()
def group_photo(tmp_path):
    """Four LFW faces cropped tight and pasted side by side, WIDE pixels apart: their labels cannot all sit above
    their boxes without overlapping."""
    height = WIDE * 5 // 4
    canvas = Image.new("RGB", (WIDE * len(ROW), height), (128, 128, 128))
    for n, (name, number) in enumerate(ROW):
        face = Image.open(lfw(name, number)).convert("RGB").crop((65, 50, 185, 200))
        canvas.paste(face.resize((WIDE, height), Image.Resampling.LANCZOS), (WIDE * n, 0))
    path = tmp_path / "row.jpg"
    canvas.save(path, quality=95)
    return path


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_page_enrolls_identifies_labels_apart_and_clears_on_a_refused_key(recognizer, tmp_path, browser,
                                                                          group_photo, one_torch_thread):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    def shot(name: str) -> None:
        browser.save_screenshot(str(tmp_path / f"{name}.png"))

    def texts(selector: str) -> list[str]:
        return [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector)]

    def canvas(size: str = "width") -> int:
        return browser.execute_script(f"return document.getElementById('canvas').{size}")

    with running_server(recognizer, tmp_path, rate_per_key=0) as server:
        with server.client("enroll") as client:  # someone else already enrolled, so the answer is a choice
            client.post("/v1/people", data={"name": "Adam Sandler"},
                        files=[("images", ("adam.jpg", lfw("Adam_Sandler", 1).read_bytes(), "image/jpeg"))])
        wait = WebDriverWait(browser, 60)
        browser.get(server.url + "/")
        wait.until(seen.text_to_be_present_in_element((By.ID, "people"), "enter an API key"))
        assert texts("#people li") == ["enter an API key"]  # no key: no list, and the page says why
        shot("no-key")

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
        wait.until(lambda b: b.execute_script("return document.getElementById('canvas').dataset.labels"))
        width = canvas()
        assert width == 250  # the photo is drawn, with its box

        # A row of faces: one label each, none over another, all on the picture; a non-match is "not recognized"
        # in the picture and in the list alike.
        browser.find_element(By.ID, "identify-file").send_keys(str(group_photo))
        browser.find_element(By.ID, "identify-button").click()
        wait.until(lambda b: len(texts("#faces li")) == len(ROW))
        wait.until(lambda b: canvas() == WIDE * len(ROW))
        labels = json.loads(browser.execute_script("return document.getElementById('canvas').dataset.labels"))
        shot("group")
        if os.environ.get("FACEREC_SCREENSHOT"):
            browser.save_screenshot(os.environ["FACEREC_SCREENSHOT"])
        assert sorted(label["text"].rsplit(" ", 1)[0] for label in labels if label["text"] != "not recognized") \
            == ["Adam Sandler", "Alec Baldwin"]
        assert [label["text"] for label in labels].count("not recognized") == 2
        listed = texts("#faces li")
        assert sum(item.startswith("not recognized (") for item in listed) == 2, listed
        page_text = browser.find_element(By.TAG_NAME, "body").text
        assert "unknown" not in page_text.lower()
        height = canvas("height")
        assert all(0 <= lb["x"] and lb["x"] + lb["width"] <= WIDE * len(ROW) and 0 <= lb["y"]
                   and lb["y"] + lb["height"] <= height for lb in labels), labels
        assert not any(overlap(a, b) for a, b in itertools.combinations(labels, 2)), labels
        # the row is tight enough that labels each put at its box's top-left corner would overlap
        with server.client("read") as client:
            boxes = [f["face"]["box"] for f in client.post(
                "/v1/identify", data={"all_faces": "true"},
                files={"image": ("row.jpg", group_photo.read_bytes(), "image/jpeg")}).json()["faces"]]
        naive = [{"x": box[0], "y": max(0, box[1] - lb["height"]), "width": lb["width"], "height": lb["height"]}
                 for box, lb in zip(boxes, labels)]
        assert any(overlap(a, b) for a, b in itertools.combinations(naive, 2))

        # A refused key takes the earlier answers off the page; no key at all says to enter one.
        key = browser.find_element(By.ID, "key")
        key.clear()
        key.send_keys(server.keys["enroll"][:-4] + "AAAA" + Keys.TAB)
        wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "401"))
        shot("refused-key")
        assert texts("#faces li") == [] and canvas() == 1
        assert texts("#people li") == ["the API key was refused: enter an API key"]
        assert "Alec Baldwin" not in browser.find_element(By.TAG_NAME, "body").text
        key.clear()
        key.send_keys(Keys.TAB)
        wait.until(lambda b: texts("#people li") == ["enter an API key"])
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]]
        assert errors == []


def test_api_docs_render_the_operations_from_files_this_service_serves(recognizer, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server(recognizer, tmp_path) as server:
        browser.get(server.url + "/docs")
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
        browser.save_screenshot(str(tmp_path / "docs.png"))
        paths = {e.get_attribute("data-path") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/v1/identify", "/v1/verify", "/v1/people", "/v1/people/{name}", "/v1/health"} <= paths
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map((r) => r.name)")
        assert loaded and all(url.startswith(server.url + "/") for url in loaded), loaded
