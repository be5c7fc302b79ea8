"""The page of fer.serve in headless Chromium, driven by Selenium, against the real command
(``python -m fer.serve RUN`` in a subprocess, served by waitress on a free port: the
``server`` fixture of tests/test_serve.py).

A photo chosen on the page gets its faces boxed and labelled and a card of bars each,
the saliency switch lays a map over each face, a file that is no image is reported on
the page, and the webcam mode, fed by Chromium's fake camera with a clip made here (the
test photo drifting across the frame), draws boxes that follow the face and shows the
frame rate.  Skipped without Selenium, Chromium or chromedriver (Debian's ``chromium``
and ``chromium-driver``; .ci/run installs them).
"""
import base64
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from face_photos import load, match
from fer import LABELS
from test_serve import group_photo_jpeg, server  # noqa: F401 (a fixture)

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900",
                  # the webcam: allow it without asking, and feed it from a file
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
WAIT = 60   # seconds for anything the page does (a first request compiles nothing, the server warmed up)


def write_y4m(path, portrait, frames=20, width=640, height=480):
    """A YUV4MPEG2 clip (what Chromium's fake camera reads) of a square RGB ``portrait``
    drifting to the right by 4 pixels a frame over a grey background; 4:2:0, full-range BT.601."""
    side = min(width, height) - 40
    face = np.asarray(Image.fromarray(portrait).resize((side, side)), np.float32)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            rgb = np.full((height, width, 3), 128, np.float32)
            x = 20 + 4 * i
            rgb[20:20 + side, x:x + side] = face
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 0.299 * r + 0.587 * g + 0.114 * b
            u = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
            v = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
            planes = [y] + [c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)) for c in (u, v)]
            f.write(b"FRAME\n" + b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes() for p in planes))
    return path


@pytest.fixture(scope="module")
def group_photo(tmp_path_factory):
    """A JPEG file of six faces, and their true boxes."""
    data, boxes = group_photo_jpeg()
    path = tmp_path_factory.mktemp("photos") / "group.jpg"
    path.write_bytes(data)
    return path, boxes


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    folder = tmp_path_factory.mktemp("chromium")
    clip = write_y4m(folder / "face.y4m", load("astronaut.jpg"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={clip}", f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # the console: CSP violations show there
    # the driver named explicitly: Selenium must not go looking for one on the internet
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    browser.get(server)
    WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    return browser


def choose_file(page, path):
    page.find_element(By.ID, "file").send_keys(str(path))


def boxes(page, layer):
    return page.find_elements(By.CSS_SELECTOR, f"#{layer} .face-box")


def test_a_photo_gets_its_faces_boxed_labelled_and_barred(page, group_photo):
    path, truth = group_photo
    choose_file(page, path)
    found = WebDriverWait(page, WAIT).until(lambda p: boxes(p, "photo-boxes"))
    cards = page.find_elements(By.CSS_SELECTOR, "#photo-faces .face-card")
    assert len(found) == len(cards) == len(truth)
    for box, card in zip(found, cards):
        label = box.get_attribute("data-label")
        assert label in LABELS and card.get_attribute("data-label") == label
        assert label in box.find_element(By.CLASS_NAME, "face-label").text
        assert box.size["width"] > 10 and box.size["height"] > 10
        assert len(card.find_elements(By.CLASS_NAME, "bar-row")) == len(LABELS)
    assert page.find_element(By.ID, "message").text.startswith(f"{len(truth)} faces in 640x480 pixels")
    # each box is drawn where a face is: its place in the photo, from its style in percentages
    drawn = page.execute_script("return [...document.querySelectorAll('#photo-boxes .face-box')].map(b =>"
                                " ['left', 'top', 'width', 'height'].map(k => parseFloat(b.style[k])))")
    in_pixels = [(x * 6.4, y * 4.8, w * 6.4, h * 4.8) for x, y, w, h in drawn]
    assert match(in_pixels, truth) == (len(truth), 0)


def test_a_photo_dropped_on_the_page_is_read_like_a_chosen_one(page, group_photo):
    path, truth = group_photo
    page.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], 'dropped.jpg', {type: 'image/jpeg'}));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true}));
    """, base64.b64encode(path.read_bytes()).decode())
    assert len(WebDriverWait(page, WAIT).until(lambda p: boxes(p, "photo-boxes"))) == len(truth)


def test_the_saliency_switch_lays_a_map_over_each_face(page, group_photo):
    choose_file(page, group_photo[0])
    n = len(WebDriverWait(page, WAIT).until(lambda p: boxes(p, "photo-boxes")))
    Select(page.find_element(By.ID, "saliency-method")).select_by_value("vanilla")
    page.find_element(By.ID, "saliency").click()
    heats = WebDriverWait(page, WAIT).until(lambda p: p.find_elements(By.CSS_SELECTOR, "#photo-boxes img.heat"))
    assert len(heats) == n
    assert all(h.get_attribute("src").startswith("data:image/png;base64,") for h in heats)
    assert page.execute_script("return [...document.querySelectorAll('#photo-boxes img.heat')]"
                               ".every(img => img.complete && img.naturalWidth === 48)")


def test_a_file_that_is_no_image_is_reported_and_the_page_goes_on(page, group_photo, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    choose_file(page, notes)
    message = page.find_element(By.ID, "message")
    WebDriverWait(page, WAIT).until(lambda p: "error" in message.get_attribute("class"))
    assert "notes.txt: not an image" in message.text
    choose_file(page, group_photo[0])
    WebDriverWait(page, WAIT).until(lambda p: boxes(p, "photo-boxes"))
    assert "error" not in message.get_attribute("class")


def test_the_webcam_mode_follows_the_face_and_shows_the_frame_rate(page):
    page.find_element(By.ID, "mode-webcam").click()
    page.find_element(By.ID, "camera-start").click()
    fps = page.find_element(By.ID, "fps")
    WebDriverWait(page, WAIT).until(lambda p: re.fullmatch(r"\d+\.\d", fps.text))
    assert float(fps.text) > 0
    # each answer replaces the boxes, so they are read in one script, never held as elements
    newest_box = ("const b = document.querySelector('#webcam-boxes .face-box');"
                  "return b && [b.dataset.label, b.style.left];")
    label, _ = WebDriverWait(page, WAIT).until(lambda p: p.execute_script(newest_box))
    assert label in LABELS
    # the face drifts in the clip: its box moves from frame to frame
    lefts = set()

    def box_has_moved_twice(p):
        box = p.execute_script(newest_box)
        if box:
            lefts.add(box[1])
        return len(lefts) >= 3

    WebDriverWait(page, WAIT).until(box_has_moved_twice)
    page.find_element(By.ID, "camera-stop").click()
    assert not boxes(page, "webcam-boxes")


def test_the_page_keeps_to_its_content_security_policy(page, group_photo):
    """Last in the module: the console of every test above (photos, saliency overlays, the
    webcam) reports no violation of the policy, and the policy is in force: a script
    written into the page is refused."""
    choose_file(page, group_photo[0])
    WebDriverWait(page, WAIT).until(lambda p: boxes(p, "photo-boxes"))
    violations = [entry["message"] for entry in page.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert violations == []
    page.execute_script("const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                        "document.head.appendChild(s);")
    assert page.execute_script("return window.injected") is None
    assert any("Content Security Policy" in entry["message"] for entry in page.get_log("browser"))
