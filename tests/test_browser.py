"""Browser tests in headless Chromium (Debian's package, driven by Playwright) against a real server."""

from __future__ import annotations

import base64
import io
import os
import random
import shutil
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import skimage.data
from PIL import Image
from werkzeug.serving import make_server

from core import accounts, billing, demo, jobs, tokens
from core.db import db
from core.models import Job, utcnow
from core.options import JobOptions
from core.storage import open_storage
from tests.conftest import missing
from tests.support.images import encode, subject_image
from tests.support.panel import Panel

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "s3cret-pass"
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 20_000


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        missing(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include Content-Security-Policy refusals and failed loads.
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.browser_errors = errors  # a test that provokes an error on purpose takes it out
    yield page
    context.close()
    assert errors == [], f"errors in the browser: {errors}"


class Server:
    """The app on a real HTTP server on a free loopback port, in a thread."""

    def __init__(self, panel: Panel):
        self.panel = panel
        self.httpd = make_server("127.0.0.1", 0, panel.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="panel-server", daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def server(sqlite_settings, tmp_path):
    settings = replace(sqlite_settings, public_url="http://127.0.0.1")
    with Server(Panel.build(settings)) as running:
        yield running


def signed_in(page, server: Server, email: str, credits: int = 3):
    """A new person with `credits`, signed in on the page; the user."""
    user = email_user(email, credits=credits)
    sign_in(page, server, email)
    page.wait_for_url(server.url + "/")
    return user


def sign_in(page, server: Server, email: str) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def email_user(email: str, admin: bool = False, credits: int = 3):
    user = accounts.register_email_user(email, PASSWORD, signup_bonus=credits)
    return accounts.promote_to_admin(user.id) if admin else user


def test_admin_adjusts_credits_and_sees_the_ledger_entry(server, page):
    email_user("boss@example.com", admin=True)
    customer = email_user("customer@example.com", credits=3)
    sign_in(page, server, "boss@example.com")
    page.wait_for_url(server.url + "/admin/")
    page.click("nav >> text=Users")
    page.fill("input[name=q]", "customer")
    page.click("text=Search")
    page.click("a:has-text('customer@example.com')")
    page.wait_for_url(f"{server.url}/admin/users/{customer.id}")
    page.fill("#adjust-form input[name=amount]", "7")
    page.fill("#adjust-form input[name=reason]", "Goodwill after the outage")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_selector("text=Adjusted by +7 credits; the balance is now 10.")
    first_row = page.locator("#ledger tbody tr").first
    assert "adjustment" in first_row.inner_text()
    assert "Goodwill after the outage" in first_row.inner_text()
    assert "+7" in first_row.inner_text()
    assert billing.balance(customer.id).total == 10


@pytest.fixture
def worker_threads(server, tiny_model_path):
    """The real worker (tiny model) consuming the server's in-process queue."""
    yield from _workers(replace(server.panel.settings, rembg_model_path=tiny_model_path, worker_threads=1), server)


@pytest.fixture
def real_model_workers(server, tmp_path):
    """The real worker on the real ISNet model from `make model` (skipped without it, failed under CI)."""
    from tests.test_real_model import find_real_model

    real = find_real_model(tmp_path)
    if real is None:
        missing("this browser test needs the ISNet model: run `make model`")
    yield from _workers(replace(server.panel.settings, model_dir=real.model_dir, rembg_model=real.rembg_model,
                                rembg_model_path=real.rembg_model_path, worker_threads=1), server)


def _workers(settings, server):
    from worker.engine import load_engine
    from worker.service import start_workers

    stop = threading.Event()
    threads = start_workers(settings, server.panel.queue, load_engine(settings), stop,
                            storage=server.panel.storage, sweep=False)
    yield threads
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def upload_until_done(page, server: Server, email: str, photo: Path):
    """Sign in as `email`, upload `photo` (a 120x80 subject) and wait until its row says done
    (the page polls the API; no reload); the row."""
    photo.write_bytes(encode(subject_image((120, 80))))
    sign_in(page, server, email)
    page.wait_for_url(server.url + "/")
    page.set_input_files("#upload-form input[name=image]", str(photo))  # picking them sends them
    row = page.locator("#history tbody tr").first
    row.locator(".badge.done").wait_for()
    return row


def test_user_uploads_a_photo_watches_it_finish_and_downloads_the_cutout(server, page, worker_threads, tmp_path):
    user = email_user("maker@example.com", credits=3)
    row = upload_until_done(page, server, "maker@example.com", tmp_path / "red-box.png")
    assert "red-box.png" in row.inner_text()
    page.wait_for_selector("#balance-total:text-is('2')")
    with page.expect_download() as download_info:
        row.locator("a:has-text('Download')").click()
    download = download_info.value
    assert download.suggested_filename == "red-box-cutout.png"  # named after the upload
    cutout = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
    assert cutout.mode == "RGBA" and cutout.size == (120, 80)
    assert cutout.getpixel((2, 2))[3] == 0 and cutout.getpixel((60, 40))[3] == 255
    assert jobs.list_jobs(user.id).items[0].status == "done"


def test_a_done_photo_is_made_again_white_or_as_a_sticker_from_the_page(server, page, worker_threads, tmp_path):
    email_user("again@example.com", credits=3)
    row = upload_until_done(page, server, "again@example.com", tmp_path / "box.png")
    with page.expect_download() as white_info:
        row.locator("button.rerender:has-text('White')").click()
    white = Image.open(io.BytesIO(Path(white_info.value.path()).read_bytes()))
    assert white_info.value.suggested_filename == "box-cutout.png"
    assert white.mode == "RGB" and white.getpixel((2, 2)) == (255, 255, 255)
    with page.expect_download() as sticker_info:
        row.locator("button.rerender:has-text('Sticker')").click()
    sticker = Image.open(io.BytesIO(Path(sticker_info.value.path()).read_bytes()))
    assert sticker.format == "WEBP" and max(sticker.size) == 512
    page.wait_for_selector("#upload-status:has-text('Done: box-cutout.webp')")


def test_a_product_shot_and_a_picture_behind_the_subject_from_the_page(server, page, worker_threads, tmp_path):
    email_user("shots@example.com", credits=3)
    row = upload_until_done(page, server, "shots@example.com", tmp_path / "box.png")
    with page.expect_download() as shot_info:
        row.locator("button.rerender:has-text('Product shot')").click()
    shot = Image.open(io.BytesIO(Path(shot_info.value.path()).read_bytes())).convert("RGB")
    red = [x for x in range(shot.width) if shot.getpixel((x, shot.height // 2))[1] < 100]
    assert shot.getpixel((1, 1)) == (255, 255, 255) and max(red) - min(red) > 70  # 60 px wide before
    backdrop = tmp_path / "lawn.png"
    Image.new("RGB", (200, 150), (0, 160, 0)).save(backdrop)
    with page.expect_download() as picture_info:
        row.locator("input.background-picker").set_input_files(str(backdrop))
    behind = Image.open(io.BytesIO(Path(picture_info.value.path()).read_bytes())).convert("RGB")
    assert behind.getpixel((2, 2)) == (0, 160, 0) and behind.getpixel((60, 40))[0] > 200


def test_a_new_person_signs_up_on_the_page_and_lands_with_the_bonus(server, page):
    page.goto(server.url + "/login")
    page.click("text=Create one")
    page.fill("#signup-email", "fresh@example.com")
    page.fill("#signup-password", "short")
    page.click("button:has-text('Create account')")
    assert page.locator("#password-error").is_visible()  # next to its field, the email kept
    assert page.input_value("#signup-email") == "fresh@example.com"
    assert page.browser_errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    page.browser_errors.clear()  # the refused form's own 400, on purpose
    page.fill("#signup-password", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_selector("#balance-total")
    assert page.inner_text("#balance-total").strip() == "3"


DROP = """([name, type, base64]) => {
    const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
    const files = new DataTransfer();
    files.items.add(new File([bytes], name, {type}));
    return files;
}"""


def drop(page, name: str, content: bytes, kind: str = "image/png") -> None:
    """Drop a file on the upload card, as a dragged file arrives."""
    files = page.evaluate_handle(DROP, [name, kind, base64.b64encode(content).decode()])
    page.dispatch_event("#upload-form", "drop", {"dataTransfer": files})


def corner_alpha(page, selector: str) -> int:
    """The alpha of the top-left pixel of a shown image, read through a canvas."""
    return page.evaluate("""(selector) => {
        const image = document.querySelector(selector);
        const canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        return context.getImageData(0, 0, 1, 1).data[3];
    }""", selector)


def test_a_dropped_photo_shows_its_cut_out_on_the_page(server, page, worker_threads, tmp_path):
    user = signed_in(page, server, "dropper@example.com")
    drop(page, "box.png", encode(subject_image((120, 80))))
    page.wait_for_selector("#results .result img.cutout")
    page.wait_for_function("() => document.querySelector('#results img.cutout').naturalWidth === 120")
    assert corner_alpha(page, "#results img.cutout") == 0
    page.wait_for_selector("#results .caption:has-text('Done · 120 × 80 px')")
    page.click("#results button.toggle")
    assert page.get_attribute("#results img", "src").startswith("blob:")  # the original, beside it
    with page.expect_download() as download_info:
        page.click("#results a:has-text('Download')")
    job = jobs.list_jobs(user.id).items[0]
    api = page.request.get(f"{server.url}/api/v1/jobs/{job.id}/result")
    assert Path(download_info.value.path()).read_bytes() == api.body()
    thumbnail = page.locator("#history td.thumb img").first
    thumbnail.wait_for()
    page.wait_for_function("() => document.querySelector('#history td.thumb img').naturalWidth > 0")
    assert len(page.request.get(f"{server.url}/api/v1/jobs/{job.id}/thumbnail").body()) < 50_000


def test_sign_up_drop_a_real_photo_see_the_cut_out_and_download_what_the_api_gives(server, page,
                                                                                   real_model_workers):
    page.goto(server.url + "/signup")
    page.fill("#signup-email", "new@example.com")
    page.fill("#signup-password", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_selector("#balance-total:text-is('3')")
    drop(page, "astronaut.jpg", encode(Image.fromarray(skimage.data.astronaut()), "JPEG", quality=92), "image/jpeg")
    page.wait_for_selector("#results .result.done img.cutout", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#results img.cutout').naturalWidth === 512")
    assert page.evaluate("() => document.querySelector('#results img.cutout').naturalHeight") == 512
    assert corner_alpha(page, "#results img.cutout") == 0  # space behind her is gone, shown on the checkerboard
    page.wait_for_selector("#results .caption:has-text('Done · 512 × 512 px')")
    page.wait_for_selector("#balance-total:text-is('2')")
    with page.expect_download() as download_info:
        page.click("#results a:has-text('Download')")
    job_id = page.get_attribute("#results .result", "data-job")
    api = page.request.get(f"{server.url}/api/v1/jobs/{job_id}/result")
    assert api.ok and Path(download_info.value.path()).read_bytes() == api.body()
    assert download_info.value.suggested_filename == "astronaut-cutout.png"


def test_the_card_shows_the_photo_made_again_on_a_picked_colour(server, page, worker_threads):
    signed_in(page, server, "colours@example.com")
    drop(page, "box.png", encode(subject_image((120, 80))))
    page.wait_for_selector("#results .result.done .changes")
    page.fill("#results input[type=color]", "#00ff00")
    page.click("#results button:has-text('On this colour')")
    page.wait_for_function("() => document.querySelector('#results img.cutout').src.startsWith('blob:')")
    page.wait_for_selector("#results .caption:has-text('Done · 120 × 80 px')")
    assert corner_alpha(page, "#results img.cutout") == 255  # now on colour, not transparent
    assert page.evaluate("""() => {
        const image = document.querySelector('#results img.cutout');
        const canvas = document.createElement('canvas');
        canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
        const context = canvas.getContext('2d');
        context.drawImage(image, 0, 0);
        return Array.from(context.getImageData(1, 1, 1, 1).data);
    }""") == [0, 255, 0, 255]
    with page.expect_download() as download_info:
        page.click("#results a:has-text('Download')")
    assert download_info.value.suggested_filename == "box-cutout.png"
    downloaded = Image.open(io.BytesIO(Path(download_info.value.path()).read_bytes())).convert("RGB")
    assert downloaded.getpixel((1, 1)) == (0, 255, 0)
    page.click("#results button:has-text('Sticker')")
    page.wait_for_selector("#results .caption:has-text('Done · 512 × ')")
    page.click("#results button.toggle")
    assert page.get_attribute("#results img", "src").startswith("blob:") and \
        page.get_attribute("#results button.toggle", "aria-pressed") == "true"


def test_a_heic_as_a_smaller_lossless_webp_from_the_page(server, page, worker_threads):
    signed_in(page, server, "webp@example.com")
    page.select_option("#upload-form select[name=format]", "webp")
    buffer = io.BytesIO()
    subject_image((120, 80)).save(buffer, "HEIF", quality=90)
    drop(page, "IMG_0001.HEIC", buffer.getvalue(), "")  # a browser that cannot name HEIC leaves it to the server
    page.wait_for_selector("#results .caption:has-text('Done · 120 × 80 px')")
    assert corner_alpha(page, "#results img.cutout") == 0
    with page.expect_download() as download_info:
        page.click("#results a:has-text('Download')")
    assert download_info.value.suggested_filename == "IMG_0001-cutout.webp"
    assert Image.open(download_info.value.path()).format == "WEBP"


def test_a_queued_photo_shows_its_place_in_line(server, page):
    user = email_user("waiting@example.com", credits=3)
    other = email_user("ahead@example.com", credits=3)
    jobs.submit_job(other.id, encode(subject_image((60, 40))), JobOptions(), settings=server.panel.settings,
                    storage=server.panel.storage, queue=server.panel.queue)
    sign_in(page, server, "waiting@example.com")
    page.wait_for_url(server.url + "/")
    drop(page, "box.png", encode(subject_image((120, 80))))
    page.wait_for_selector("#results .caption:has-text('In line: #2')")  # no worker runs here
    assert jobs.list_jobs(user.id).items[0].status == "queued"


def test_a_pasted_image_and_two_picked_files_each_become_a_job(server, page, worker_threads, tmp_path):
    user = signed_in(page, server, "paster@example.com", credits=5)
    files = page.evaluate_handle(DROP, ["", "image/png", base64.b64encode(encode(subject_image((60, 40)))).decode()])
    page.evaluate("(files) => document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: files}))", files)
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    first.write_bytes(encode(subject_image((80, 60))))
    second.write_bytes(encode(subject_image((90, 60))))
    page.set_input_files("#upload-form input[name=image]", [str(first), str(second)])
    page.wait_for_function("() => document.querySelectorAll('#results img.cutout').length === 3")
    assert len(jobs.list_jobs(user.id).items) == 3


@pytest.mark.parametrize(("name", "content", "kind", "errors"), [
    ("notes.txt", b"just text", "text/plain", []),  # refused in the browser: nothing is sent
    ("holiday.jpg", b"%PDF-1.4 a document, named and typed as a photo", "image/jpeg",
     ["Failed to load resource: the server responded with a status of 415 (UNSUPPORTED MEDIA TYPE)"]),
])
def test_a_file_that_is_not_an_image_is_refused_with_no_charge(server, page, name, content, kind, errors):
    user = signed_in(page, server, "wrong@example.com")
    drop(page, name, content, kind=kind)
    page.wait_for_selector("#results .result.failed")
    assert "not an image we can read" in page.inner_text("#results .caption")
    assert page.browser_errors == errors  # the server's refusal, when it is the server's
    page.browser_errors.clear()
    assert jobs.list_jobs(user.id).items == [] and billing.balance(user.id).total == 3


def test_the_page_fits_a_phone_screen(server, page, request, tmp_path):
    # `SCREENSHOTS=1 pytest -k phone` refreshes the README's pictures, with a real photo on the real model.
    screenshots = bool(os.environ.get("SCREENSHOTS"))
    request.getfixturevalue("real_model_workers" if screenshots else "worker_threads")
    email_user("phone@example.com", credits=3)
    upload_until_done(page, server, "phone@example.com", tmp_path / "box.png")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(server.url + "/")
    photo = Image.fromarray(skimage.data.astronaut()) if screenshots else subject_image((120, 80))
    drop(page, "astronaut.jpg", encode(photo, "JPEG", quality=92), "image/jpeg")
    page.wait_for_selector("#results .result.done .changes", timeout=60_000)
    page.wait_for_selector("#results .caption:has-text('Done ·')")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + '.' + e.className + '#' + e.id + ':' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"), wide
    shots = ROOT / "docs" / "screenshots"
    if screenshots:
        page.screenshot(path=str(shots / "web-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(shots / "web-desktop.png"), full_page=True)


def test_one_time_link_from_the_bot_signs_in_once(server, page):
    user = email_user("telegram@example.com")
    token = tokens.issue_login_link(user.id, server.panel.settings).rsplit("#", 1)[1]
    page.goto(f"{server.url}/login/link#{token}")
    assert "#" not in page.url  # the page took the token out of the address bar
    page.click("text=Continue to Cutout")
    page.wait_for_url(server.url + "/")
    assert page.locator("#balance-total").inner_text() == "3"
    page.context.clear_cookies()
    page.goto(f"{server.url}/login/link#{token}")
    page.click("text=Continue to Cutout")
    page.wait_for_selector("text=This sign-in link has already been used.")
    assert page.browser_errors == ["Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"]
    page.browser_errors.clear()


def seed_dashboard_demo(settings, days: int = 14) -> None:
    """Demo users plus two weeks of jobs, so the dashboard has something to show."""
    users = demo.seed_demo(settings, open_storage(settings))
    rng = random.Random(7)
    now = utcnow()
    with db.atomic():
        for day in range(days):
            for _ in range(rng.randint(3, 18) + (days - day) // 2):
                created = now - timedelta(days=day, hours=rng.uniform(0, 10))
                status = rng.choices(["done", "failed", "queued"], [14, 1, 1 if day == 0 else 0])[0]
                started = created + timedelta(seconds=rng.uniform(0.2, 2))
                finished = started + timedelta(seconds=rng.uniform(0.6, 3.5)) if status != "queued" else None
                Job.create(user=rng.choice(users).id, source=rng.choice(["telegram", "api"]), price=1, status=status,
                           created_at=created, started_at=started if finished else None, finished_at=finished,
                           error="The image could not be read" if status == "failed" else None)


def test_dashboard_screenshot(server, page, tmp_path):
    email_user("admin@example.com", admin=True)
    seed_dashboard_demo(server.panel.settings)
    sign_in(page, server, "admin@example.com")
    page.wait_for_url(server.url + "/admin/")
    assert page.locator(".chart .bar").count() == 14
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1280
    if os.environ.get("CUTOUT_SAVE_SCREENSHOTS"):  # refresh docs/screenshots/ on purpose only
        target = ROOT / "docs" / "screenshots" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)
