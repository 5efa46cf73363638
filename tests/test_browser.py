"""The web page: static serving without path traversal, the widget and the storefront in headless Chromium."""

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
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
]


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

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
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


# -- the storefront (issue 15): product panel beside / above the chat, on the real tiny engine ------
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
VISIBLE = "el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; }"


def need_browser() -> None:
    """Fail clearly when Chromium or the widget script is missing (make setup installs both)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make setup does it)")
    if not (REPO / "bot" / "web" / "static" / "webchat.js").is_file():
        pytest.fail("bot/web/static/webchat.js is missing: run sh bot/web/install_widget.sh (make setup does it)")


def say(page: Any, text: str, until: str) -> None:
    """Type ``text`` into the chat and wait until the page's ``until`` (a JS predicate) holds."""
    page.fill(".rw-new-message", text)
    page.keyboard.press("Enter")
    page.wait_for_function(until, timeout=90_000)


def count(selector: str, n: int) -> str:
    return f"() => document.querySelectorAll({selector!r}).length === {n}"


def each(page: Any, selector: str, expr: str) -> list[Any]:
    """``expr`` (JS, of ``e``) for every element matching ``selector``."""
    return list(page.eval_on_selector_all(selector, f"els => els.map(e => {expr})"))


def chips(page: Any) -> list[str]:
    return each(page, "#chips .chip", "e.firstChild.textContent")


@pytest.mark.stack
@pytest.mark.parametrize("size", list(SIZES))
def test_storefront_in_headless_chromium(real_chat_stack: Any, size: str) -> None:
    """Search, pick (chat button, then the grid by keyboard), two changes, remove one, like, why: the
    panel shows each step, in sync with the chat; a screenshot of the end is saved.
    """
    need_browser()
    from playwright.sync_api import sync_playwright

    width, height = SIZES[size]
    shot = REPO / "build" / "test" / f"storefront-{size}.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(real_chat_stack.web + "/", wait_until="load")
            page.wait_for_selector("text=I'm tailor", timeout=90_000)
            assert page.is_visible("#grid-empty") and page.is_visible("#pick-empty")

            say(page, "show me dresses", count("#grid .product", 4))
            grid = page.locator("#grid .product")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)",
                timeout=60_000,
            )
            page.wait_for_function(count(".rw-carousel-card", 4), timeout=60_000)  # the chat shows them a bit later
            titles = each(page, "#grid .product h4", "e.textContent")
            alts = each(page, "#grid .product img", "e.alt")
            cards = each(page, ".rw-carousel-card-title", "e.textContent")
            assert alts == titles and [c.split(". ", 1)[1] for c in cards[-4:]] == titles  # full names, as in the chat

            page.locator(".rw-carousel-buttons-container .rw-reply").nth(2).focus()  # the chat's Select on #2,
            page.keyboard.press("Enter")  # from the keyboard
            page.wait_for_function("() => !document.getElementById('pick-card').hidden", timeout=90_000)
            assert page.inner_text("#pick-title") == titles[1]
            assert "picked" in (grid.nth(1).get_attribute("class") or "")
            assert page.get_attribute("#pick-image", "alt") == f"Your pick: {titles[1]}"
            assert page.locator("#pick-attributes li").count() >= 2

            grid.nth(0).get_by_role("button", name="Select").focus()  # the grid's Select, from the keyboard
            page.keyboard.press("Enter")
            page.wait_for_selector(f"text=You picked #1: {titles[0]}", timeout=90_000)
            assert page.inner_text("#pick-title") == titles[0]

            say(page, "like this but in red", count("#chips .chip", 1))
            say(page, "with long sleeves", count("#chips .chip", 2))
            assert chips(page) == ["red", "long sleeve"]
            page.locator("#chips .chip").nth(0).focus()  # remove "red" from the keyboard
            page.keyboard.press("Enter")
            page.wait_for_function(
                "() => document.querySelectorAll('#chips .chip').length === 1"
                " && !document.querySelector('#chips .chip').disabled",
                timeout=90_000,
            )
            assert chips(page) == ["long sleeve"] and page.inner_text("#pick-title") == titles[0]
            page.wait_for_selector("text=like this but long sleeve", timeout=30_000)  # said in the chat

            first = grid.nth(0)
            first.get_by_role("button", name="I like this").click()
            page.wait_for_selector("#grid .product:nth-child(1) .liked", timeout=90_000)
            assert page.locator("#grid .product:nth-child(1) button[aria-pressed=true]").count() == 1

            say(page, "why the first one?", "() => !document.getElementById('why').hidden")
            page.wait_for_selector("#why-graph path.edge", timeout=30_000)
            relations = each(page, "#why-graph path.edge", "e.dataset.relation")
            colours = each(page, "#why-graph path.edge", "e.getAttribute('stroke')")
            assert len(relations) >= 3 and page.locator("#why-graph g.node").count() >= 4
            assert "has_attribute" in relations
            by_relation = {r.removeprefix("rev_"): c for r, c in zip(relations, colours, strict=True)}
            assert len(set(colours)) == len(by_relation)  # one colour per relation
            assert page.locator("#why-legend li").count() == len(set(colours))

            for selector in ("#pick-card", "#pick-image", "#chips", "#grid", "#why-graph", "#webchat"):
                assert page.eval_on_selector(selector, VISIBLE), f"{selector} is not visible at {size}"
            panel = page.eval_on_selector("#panel", "e => e.getBoundingClientRect().toJSON()")
            chat = page.eval_on_selector(".chat", "e => e.getBoundingClientRect().toJSON()")
            if size == "phone":  # the panel folds above the chat
                assert panel["bottom"] <= chat["top"] + 1 and panel["width"] <= width
            else:  # side by side, both on screen
                assert panel["right"] <= chat["left"] + 1 and chat["right"] <= width and panel["bottom"] <= height
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sticks out sideways
            page.evaluate("window.scrollTo(0, 0)")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=size == "phone")
            if size == "phone":  # the panel folds away from the keyboard and back
                page.focus("#fold")
                page.keyboard.press("Enter")
                assert page.get_attribute("#fold", "aria-expanded") == "false" and not page.is_visible("#grid")
                page.keyboard.press("Enter")
                assert page.is_visible("#grid")
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
