"""The web page: static serving without path traversal, and the widget in headless Chromium."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.serve import IMAGE_SUFFIXES, make_server, safe_path, serve_in_thread

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("TAILOR_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = REPO / "build" / "test" / "webchat.png"


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "catalog"
    (root / "women" / "dress").mkdir(parents=True)
    (root / "women" / "dress" / "a b.jpg").write_bytes(b"\xff\xd8\xff fake jpeg")
    (root / "notes.txt").write_text("not an image")
    (tmp_path / "secret.jpg").write_bytes(b"outside the catalog")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    server = make_server(root, port=0, rasa_url="http://rasa.test:5005")
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_port}", root
    server.shutdown()


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, b"", ""


def test_images_are_served_and_traversal_is_refused(site: tuple[str, Path]) -> None:
    base, _ = site
    status, body, ctype = fetch(f"{base}/images/women/dress/a%20b.jpg")
    assert (status, ctype) == (200, "image/jpeg") and body.startswith(b"\xff\xd8")
    for evil in (
        "../secret.jpg",
        "%2e%2e/secret.jpg",
        "women/%2e%2e/%2e%2e/secret.jpg",
        "..%2fsecret.jpg",
        "%2fetc%2fpasswd",
        "link.jpg",
        "notes.txt",
        "women/dress/",
        ".hidden.jpg",
        "women\\..\\x.jpg",
        "a%00.jpg",
    ):
        assert fetch(f"{base}/images/{evil}")[0] == 404, evil
    assert fetch(f"{base}/static/../serve.py")[0] == 404
    assert fetch(f"{base}/etc/passwd")[0] == 404


def test_safe_path_allows_only_files_inside_root(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"png")
    assert safe_path(tmp_path, "x.png", IMAGE_SUFFIXES) == (tmp_path / "x.png").resolve()
    assert safe_path(tmp_path, "x.png/..", IMAGE_SUFFIXES) is None
    assert safe_path(tmp_path, str(tmp_path / "x.png"), IMAGE_SUFFIXES) is None


def test_page_carries_the_rasa_socket_url(site: tuple[str, Path]) -> None:
    status, body, ctype = fetch(site[0] + "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'"socketUrl": "http://rasa.test:5005"' in body and b"/static/webchat.js" in body


@pytest.mark.stack
def test_widget_in_headless_chromium(chat_stack: Any) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make setup does it)")
    if not (REPO / "bot" / "web" / "static" / "webchat.js").is_file():
        pytest.fail("bot/web/static/webchat.js is missing: run sh bot/web/install_widget.sh (make setup does it)")
    from playwright.sync_api import sync_playwright

    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1000})
            page.goto(chat_stack.web + "/", wait_until="load")
            page.wait_for_selector("text=I'm tailor", timeout=90_000)  # the greeting (initPayload /greet)
            page.fill(".rw-new-message", "show me black dresses")
            page.keyboard.press("Enter")
            page.wait_for_selector(".rw-carousel-card", timeout=90_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.rw-carousel-card-image')]"
                ".filter(i => i.complete && i.naturalWidth > 0).length === 4",
                timeout=60_000,
            )
            srcs = page.eval_on_selector_all(".rw-carousel-card-image", "els => els.map(e => e.src)")
            assert len(srcs) == 4 and all(s.startswith(chat_stack.web + "/images/") for s in srcs)
            buttons = page.locator(".rw-carousel-buttons-container .rw-reply")
            assert buttons.count() == 8 and buttons.nth(0).inner_text() == "Select"
            assert buttons.nth(1).inner_text() == "I like this"
            buttons.nth(2).click()  # "Select" on the second card
            page.wait_for_selector("text=You picked #2", timeout=90_000)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
