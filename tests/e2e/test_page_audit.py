"""The pages as tools no one here wrote see them, after a few uploads and a correction: Lighthouse (desktop and
mobile presets, Debian's Chromium) at 95 or more in every category with no layout shift to speak of, and
axe-core injected into the page at a desktop and a phone width with no violation. Reports land in
test-artifacts/lighthouse/; npm and Chromium missing are a skip here and a failure under CI=true."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import requests

from scripts import page_audit
from scripts.servers import function_server
from tests.conftest import GOLDEN, MODEL_STORE

PAGES = {"page": "", "stats": "/stats"}
TARGET = 95
MAX_LAYOUT_SHIFT = 0.02
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
UPLOADS = ("4_chalk.png", "7_paper.jpg", "3_canvas.png", "1_chalk.png")

pytestmark = pytest.mark.xdist_group("page-audit")  # one seeded server and one npm install for the module


def _tools() -> None:
    try:
        page_audit.tools_dir()
        page_audit.chromium()
    except page_audit.ToolMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(str(missing))  # CI installs both: their absence there is a failure, not a skip
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def seeded_site(tmp_path_factory):
    """The predict function with a short history: four answers, one corrected (the pages as a user has them)."""
    _tools()
    tmp = tmp_path_factory.mktemp("audit")
    models = tmp / "models"
    shutil.copytree(MODEL_STORE, models)
    env = {
        "MODEL_STORE": f"file://{models}",
        "PREDICTION_LOG": f"sqlite://{tmp / 'predictions.db'}",
        "MODEL_REFRESH_SECONDS": "0",
        "SPOOL_DIR": str(tmp / "spool"),
    }
    with function_server("predict", env, tmp) as url:
        for name in UPLOADS:
            with open(GOLDEN / name, "rb") as f:
                requests.post(url, files={"file": (name, f, "image/png")}, timeout=30).raise_for_status()
        first = requests.get(f"{url}/predictions?limit=1", timeout=10).json()["predictions"][0]
        requests.post(f"{url}/predictions/{first['id']}/label", json={"label": 8}, timeout=10).raise_for_status()
        yield url


@pytest.mark.parametrize("preset", page_audit.PRESETS)
@pytest.mark.parametrize("name", list(PAGES))
def test_lighthouse_scores_every_category_at_the_target(seeded_site, name, preset):
    audit = page_audit.lighthouse(seeded_site + PAGES[name], preset, f"{name}-{preset}")
    low = {key: score for key, score in audit.scores.items() if score < TARGET}
    detail = {key: audit.failing[key] for key in low}
    assert not low, f"{name} {preset}: {audit.scores}, below {TARGET}; audits losing points: {detail} ({audit.report})"
    assert audit.layout_shift <= MAX_LAYOUT_SHIFT, f"{name} {preset}: layout shift {audit.layout_shift:.3f}"


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_violation(browser, seeded_site, name, width):
    w, h = WIDTHS[width]
    # the page's own CSP forbids inline scripts, as it should: the test's injected axe is let through
    context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=width == "phone", bypass_csp=True)
    page = context.new_page()
    page.goto(seeded_site + PAGES[name])
    page.wait_for_selector("#history-list li img[src]" if name == "page" else "#per-day svg rect")
    page.add_script_tag(content=page_audit.axe_source())
    results = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    out = page_audit.REPORTS / f"axe-{name}-{width}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results["violations"], indent=1))
    context.close()
    found = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}" for v in results["violations"]]
    assert found == [], f"{name} at {width} width: {found}"
