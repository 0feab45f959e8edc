"""The page in real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the
predict function running under functions-framework. Screenshots of every test are saved in
test-artifacts/screenshots/ (CI uploads them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from scripts.servers import function_server
from tests.conftest import GOLDEN, ROOT, SHIPPED_VERSION

SCREENSHOTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
TIMEOUT_MS = 20_000
IN_VIEW = """(selector) => {
    const box = document.querySelector(selector).getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
}"""


@pytest.fixture
def site(predict_env, tmp_path):
    with function_server("predict", predict_env, tmp_path) as url:
        yield url


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    shoot(page, request.node.name)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def newest(site: str) -> dict:
    return requests.get(f"{site}/predictions?limit=1", timeout=10).json()["predictions"][0]


def test_uploading_a_golden_image_shows_the_digit_chart_and_what_the_model_saw(page, site):
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN / "7_paper.jpg"))  # choosing a file sends it
    page.wait_for_function("() => document.getElementById('digit').textContent === '7'")
    assert page.locator("#bars li").count() == 10
    assert "sure" in page.inner_text("#confidence")
    page.wait_for_function("() => document.getElementById('seen').naturalWidth === 28")
    best = page.locator("#bars li.best")
    assert best.inner_text().startswith("7")
    track, fill = best.locator(".track").bounding_box(), best.locator(".fill").bounding_box()
    assert fill["width"] > 0.9 * track["width"]  # the bar is drawn as long as the probability says
    assert newest(site)["filename"] == "7_paper.jpg"


def test_a_file_is_sent_once_however_often_recognise_is_pressed(page, site):
    posts, pending = watch_posts(page)
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN / "7_paper.jpg"))  # choosing sends it
    page.click("#upload button[type=submit]")  # while the chosen file is on its way
    page.wait_for_function("() => document.getElementById('digit').textContent === '7'")
    page.click("#upload button[type=submit]")  # once it is answered
    page.set_input_files("#file", str(GOLDEN / "3_canvas.png"))  # another file: sent, once
    page.wait_for_function("() => document.getElementById('digit').textContent === '3'")
    settle(page, pending)
    assert posts == [f"{site}/"] * 2, "a file was sent more than once"
    stored = requests.get(f"{site}/predictions", timeout=10).json()["predictions"]
    assert [r["filename"] for r in stored] == ["3_canvas.png", "7_paper.jpg"]
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#upload-note:not([hidden])")
    settle(page, pending)
    assert "already" in page.inner_text("#upload-note") and len(posts) == 2


def watch_posts(page) -> tuple[list[str], set]:
    """The URLs of every POST the page makes, and those still unanswered."""
    posts: list[str] = []
    pending: set = set()

    def sent(request) -> None:
        if request.method == "POST":
            posts.append(request.url)
            pending.add(request)

    page.on("request", sent)
    for finished in ("requestfinished", "requestfailed"):
        page.on(finished, lambda request: pending.discard(request))
    return posts, pending


def settle(page, pending: set) -> None:
    """Wait until every request the page made has been answered (or has failed)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while pending and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert not pending, f"requests never answered: {pending}"


def test_dropping_a_file_on_the_form_sends_it(page, site):
    import base64

    page.goto(site)
    data = base64.b64encode((GOLDEN / "8_chalk.png").read_bytes()).decode()
    page.evaluate(
        """(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped-8.png", { type: "image/png" }));
        const zone = document.getElementById("upload");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""",
        data,
    )
    page.wait_for_function("() => document.getElementById('digit').textContent === '8'")
    assert newest(site)["filename"] == "dropped-8.png"
    assert "over" not in (page.get_attribute("#upload", "class") or "")


def draw_a_one(page) -> None:
    box = page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x + step * 0.4, box["y"] + box["height"] * (0.15 + step * 0.035))
    page.mouse.up()


def test_drawing_a_one_with_the_mouse_is_recognised(page, site):
    page.goto(site)
    draw_a_one(page)
    posts, pending = watch_posts(page)
    page.click("#send-drawing")
    page.wait_for_function("() => document.getElementById('digit').textContent !== ''")
    assert page.inner_text("#digit") == "1"
    assert newest(site)["filename"] == "drawing.png"
    page.click("#send-drawing")  # the same drawing again: it has its answer already
    page.wait_for_selector("#upload-note:not([hidden])")
    settle(page, pending)
    assert len(posts) == 1 and len(requests.get(f"{site}/predictions", timeout=10).json()["predictions"]) == 1


def test_the_drawing_buttons_work_only_on_a_drawing_and_the_pad_says_what_it_holds(page, site):
    page.goto(site)
    posts, pending = watch_posts(page)
    assert page.is_disabled("#send-drawing") and page.is_disabled("#clear")
    assert page.get_attribute("#pad", "aria-label") == "Drawing pad: empty"
    assert "keyboard" in page.locator("#pad").evaluate(
        "el => el.ariaDescribedByElements.map(e => e.textContent).join()"
    )
    draw_a_one(page)
    assert page.is_enabled("#send-drawing") and page.is_enabled("#clear")
    assert "not sent" in page.get_attribute("#pad", "aria-label")
    page.click("#clear")
    assert page.is_disabled("#send-drawing") and page.get_attribute("#pad", "aria-label") == "Drawing pad: empty"
    assert page.evaluate("document.activeElement.id") == "pad"  # the focus stays on the pad, not lost to the body
    settle(page, pending)
    assert posts == [] and requests.get(f"{site}/predictions", timeout=10).json()["predictions"] == []


def test_a_file_that_is_not_an_image_shows_the_servers_reason(page, site, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.goto(site)
    page.set_input_files("#file", str(text))
    page.wait_for_selector("#error:not([hidden])")
    assert "notes.txt" in page.inner_text("#error") and "image" in page.inner_text("#error")


def test_an_error_after_an_answer_takes_the_old_answer_away(page, site, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN / "7_paper.jpg"))
    page.wait_for_function("() => document.getElementById('digit').textContent === '7'")
    page.set_input_files("#file", str(text))
    page.wait_for_selector("#error:not([hidden])")
    assert page.is_hidden("#result") and page.inner_text("#digit") == ""  # no answer left standing for it
    page.set_input_files("#file", str(GOLDEN / "3_canvas.png"))  # and the next answer puts it back
    page.wait_for_function("() => document.getElementById('digit').textContent === '3'")
    assert page.is_visible("#result") and page.is_hidden("#error")


def test_a_correction_is_saved_and_shown_in_history(page, site):
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN / "3_canvas.png"))
    page.wait_for_function("() => document.getElementById('digit').textContent === '3'")
    item = page.locator("#history-list li").first
    assert item.locator("select").is_hidden()  # behind "Wrong?": the answers outweigh the corrections
    item.locator("summary").click()
    # each control names the record it corrects: a screen reader tells one row's from another's
    item.get_by_role("combobox", name="3_canvas.png").select_option("8")
    item.get_by_role("button", name="Save correction of the answer 3 for 3_canvas.png").click()
    page.wait_for_selector("#history-list li .badge.fixed")
    assert page.locator("#history-list li").first.locator(".badge.fixed").inner_text() == "corrected to 8"
    stored = newest(site)
    assert (stored["digit"], stored["label"]) == (3, 8)
    item = page.locator("#history-list li").first  # and a picture that was no digit at all says so
    item.locator("summary").click()
    item.get_by_role("combobox", name="3_canvas.png").select_option(label="not a digit")
    item.get_by_role("button", name="Save correction of the answer 3 for 3_canvas.png").click()
    page.wait_for_function(
        "() => document.querySelector('#history-list li .badge.fixed').textContent === 'corrected to not a digit'"
    )
    assert newest(site)["label"] == "not_a_digit"


def test_a_picture_that_is_not_a_digit_is_shown_as_not_a_digit(page, site):
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN.parent / "golden_not_digits" / "star_paper.jpg"))
    page.wait_for_function("() => document.getElementById('digit').textContent === 'not a digit'")
    assert "sure this is not a digit" in page.inner_text("#confidence")
    assert page.is_hidden("#error")  # an answer, not a failure
    page.wait_for_selector("#history-list li .hdigit.refused")
    assert page.locator("#history-list li").first.locator(".hdigit").inner_text() == "not a digit"
    shoot(page, "not-a-digit")
    stored = newest(site)
    assert (stored["is_digit"], stored["filename"]) == (False, "star_paper.jpg")


def test_the_low_confidence_filter_shows_what_the_server_filtered(page, site):
    page.goto(site)
    for sent, name in enumerate(("5_canvas.png", "5_paper.jpg"), start=1):
        page.set_input_files("#file", str(GOLDEN / name))
        page.wait_for_function(f"() => document.querySelectorAll('#history-list li').length === {sent}")
    page.check("#low-only")
    page.wait_for_selector("#history-list[data-low=true]", state="attached")
    low = requests.get(f"{site}/predictions?low_confidence=true", timeout=10).json()["predictions"]
    shown = page.locator("#history-list li")
    assert shown.count() == len(low)
    assert all("low" in (shown.nth(i).get_attribute("class") or "") for i in range(shown.count()))
    page.uncheck("#low-only")
    page.wait_for_selector("#history-list[data-low=false]", state="attached")
    assert page.locator("#history-list li").count() == 2


def test_the_stats_page_draws_its_charts(page, site):
    for name in ("1_canvas.png", "1_chalk.png", "4_paper.jpg"):
        with open(GOLDEN / name, "rb") as f:
            requests.post(site, files={"file": (name, f, "image/png")}, timeout=30).raise_for_status()
    pid = newest(site)["id"]
    requests.post(f"{site}/predictions/{pid}/label", json={"label": 9}, timeout=10).raise_for_status()
    page.goto(f"{site}/stats")
    page.wait_for_selector("#per-day svg rect")
    assert page.locator("#kpis .kpi").first.inner_text() == "3"
    assert page.locator("#per-day svg rect.bar").count() == 1  # today's three answers
    assert page.locator("#by-digit svg rect.bar").count() == 2  # a bar for the 1s, one for the 4
    assert "2 (67%)" in page.inner_text("#by-digit")  # each bar labelled directly
    assert page.locator("#quality svg circle").count() >= 1
    assert SHIPPED_VERSION in page.inner_text("#models")
    assert page.locator("#digit-table tbody tr").first.inner_text().split("\t")[1:] == "0 2 0 0 1 0 0 0 0 0".split()
    page.select_option("#days", "30")
    page.wait_for_function("() => document.querySelectorAll('#day-table tbody tr').length === 30")


def test_the_form_works_without_javascript(browser, site, tmp_path):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(site)
    assert page.locator("#draw").is_hidden()  # the canvas needs JavaScript; the form does not
    page.set_input_files("#file", str(GOLDEN / "6_chalk.png"))
    with page.expect_navigation() as answered:
        page.click("button[type=submit]")
    assert answered.value.status == 200
    assert page.inner_text(".digit") == "6"
    assert_styled_like_the_page(page)
    shoot(page, "test_the_form_works_without_javascript")
    page.click("text=Try another picture")
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.set_input_files("#file", str(text))
    with page.expect_navigation() as answered:
        page.click("button[type=submit]")
    assert answered.value.status == 415 and answered.value.header_value("content-type").startswith("text/html")
    assert "image" in page.inner_text(".error")  # the server's reason, as a page
    assert_styled_like_the_page(page)
    shoot(page, "test_the_form_works_without_javascript-error")
    page.click("text=Try another picture")
    assert page.locator("#file").is_visible()
    context.close()


def assert_styled_like_the_page(page) -> None:
    """The page's own stylesheet is linked and applied (the cards and the header are drawn as on the form)."""
    assert page.locator("link[rel=stylesheet][href$='assets/app.css']").count() == 1
    card = page.locator(".card").first
    assert card.evaluate("el => getComputedStyle(el).borderRadius") != "0px"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 246, 249)"


def test_phone_sized_screen_with_touch(browser, site):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(site)
    page.set_input_files("#file", str(GOLDEN / "2_paper.jpg"))
    page.wait_for_function("() => document.getElementById('digit').textContent === '2'")
    assert page.evaluate(IN_VIEW, "#digit"), "the answer is off-screen, below the form"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    pad = page.locator("#pad").bounding_box()
    assert pad["width"] <= 390 and pad["x"] >= 0
    # a finger draws a "1": real touch events through the DevTools protocol (Playwright has only tap())
    page.locator("#pad").scroll_into_view_if_needed()
    pad = page.locator("#pad").bounding_box()
    cdp = context.new_cdp_session(page)
    x = pad["x"] + pad["width"] * 0.5
    points = [(x + i * 0.3, pad["y"] + pad["height"] * (0.15 + i * 0.035)) for i in range(21)]
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]}
    )
    for px, py in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.click("#send-drawing")
    page.wait_for_function("() => document.querySelectorAll('#history-list li').length === 2")
    assert page.inner_text("#digit") == "1"
    assert newest(site)["filename"] == "drawing.png"
    shoot(page, "test_phone_sized_screen_with_touch")
    context.close()


def test_loading_the_pages_asks_for_nothing_missing(page, site):
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    for path in ("", "/stats"):
        page.goto(site + path)
        page.wait_for_load_state("networkidle")
        # headless Chromium fetches no icon: what the page links to, and where a browser looks for an icon
        # by default, are asked for here
        linked = page.evaluate("[...document.querySelectorAll('link[href], script[src]')].map((e) => e.href || e.src)")
        for url in [*linked, f"{site}/favicon.ico"]:
            if requests.get(url, timeout=10).status_code >= 400:
                failed.append(url)
    assert failed == []
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert requests.get(icon, timeout=10).headers["Content-Type"] == "image/svg+xml"
    default = requests.get(f"{site}/favicon.ico", timeout=10)  # where a browser looks without a link
    assert default.status_code == 200 and default.headers["Content-Type"] == "image/svg+xml"
    assert default.content.startswith(b"<svg") and "max-age" in default.headers["Cache-Control"]


def test_every_control_has_a_name_and_the_keyboard_reaches_them(page, site):
    page.goto(site)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, button, canvas')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
        .map(el => el.outerHTML)""")
    assert unnamed == []
    reached = tab_through(page, 12)
    assert {"file", "low-only", "refresh"} <= set(reached), reached
    assert not {"clear", "send-drawing"} & set(reached), "buttons with nothing to act on are tab stops"
    draw_a_one(page)
    page.focus("#file")
    assert {"send-drawing", "clear"} <= set(tab_through(page, 4))


def tab_through(page, presses: int) -> list[str]:
    """What each Tab reaches; each shows the focus ring (a thick outline, in the ring's own colour)."""
    reached = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        if page.evaluate("document.activeElement === document.body"):
            continue  # the first press can land on the document itself
        ring = page.evaluate(
            "(s => [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor])(getComputedStyle(document.activeElement))"
        )
        assert ring[0] != "none" and ring[1] >= 2 and ring[2] == "rgb(29, 35, 48)", (reached[-1], ring)
    return reached


def test_the_answer_and_its_probabilities_are_above_the_fold_on_a_desktop(browser, site):
    """A 1280x900 screen: the answer beside the form, nothing scrolled, nothing below the fold. The page and
    the stats at this width and at a phone's are the README's pictures."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(site)
    for name in ("4_chalk.png", "9_paper.jpg", "3_canvas.png", "7_paper.jpg"):
        page.set_input_files("#file", str(GOLDEN / name))
        page.wait_for_function(f"() => document.querySelector('#history-list li a')?.textContent === '{name}'")
    page.locator("#history-list li summary").first.click()
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#digit", "#bars li:last-child", "#confidence"):
        assert page.evaluate(IN_VIEW, selector), f"{selector} is below the fold"
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "desktop-page")
    page.goto(f"{site}/stats")
    page.wait_for_selector("#by-digit svg rect")
    scrolled = page.evaluate(
        "[...document.querySelectorAll('.scroll')].filter(r => r.scrollWidth > r.clientWidth).length"
    )
    assert scrolled == 0, "a table is wider than its card on a desktop"
    shoot(page, "desktop-stats")
    context.close()


def test_the_stats_are_readable_on_a_phone(browser, site):
    for name in ("1_canvas.png", "4_paper.jpg", "7_paper.jpg"):
        with open(GOLDEN / name, "rb") as f:
            requests.post(site, files={"file": (name, f, "image/png")}, timeout=30).raise_for_status()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site}/stats")
    page.wait_for_selector("#by-digit svg rect")
    shoot(page, "phone-stats")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    # chart text as tall on screen as the page's small print, not shrunk with the chart
    heights = page.evaluate("[...document.querySelectorAll('.plot text')].map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 11, heights
    tops = page.evaluate(
        "[...document.querySelectorAll('#kpis > div')].map(d => Math.round(d.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 2 and tops.count(tops[0]) == 3, "the six key figures are not two rows of three"
    for region in page.locator(".scroll").all():  # each table: fits, or scrolls as a named region the keyboard reaches
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
        assert page.locator(f"#{region.get_attribute('aria-labelledby')}").inner_text()
    context.close()


def test_a_private_history_asks_for_the_reader_token(page, predict_env, tmp_path):
    env = {**predict_env, "PREDICTIONS_READ": "token", "PREDICTIONS_TOKEN": "reader-secret"}
    with function_server("predict", env, tmp_path) as url:
        page.goto(url)
        page.set_input_files("#file", str(GOLDEN / "9_canvas.png"))
        page.wait_for_function("() => document.getElementById('digit').textContent === '9'")  # predicting stays open
        page.wait_for_selector("#token-form:not([hidden])")
        assert "not available" in page.inner_text("#history-status")
        # an img cannot send the token itself: the page fetches the image and says why it is missing
        page.wait_for_function("() => document.getElementById('seen').alt.includes('reader token')")
        page.fill("#token", "reader-secret")
        page.click("#token-form button")
        page.wait_for_selector("#history-list li")
        assert page.locator("#history-list li .hdigit").first.inner_text() == "9"
        page.wait_for_function("() => document.querySelector('#history-list img').naturalWidth === 28")
        page.set_input_files("#file", str(GOLDEN / "4_chalk.png"))
        page.wait_for_function("() => document.getElementById('digit').textContent === '4'")
        page.wait_for_function("() => document.getElementById('seen').naturalWidth === 28")  # fetched with the token
        page.goto(f"{url}/stats")  # the token is kept for the session: the stats page uses it too
        page.wait_for_selector("#per-day svg rect")
        assert page.locator("#token-form").is_hidden()
