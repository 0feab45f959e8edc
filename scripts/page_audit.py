"""Audit the pages with tools no one here wrote: Lighthouse (scores, layout shift) and axe-core (WCAG rules).

Both come from npm at the versions pinned in scripts/page-audit/package-lock.json, installed with their
install scripts disabled into a folder under var/ named after the lockfile's hash (a changed pin is a fresh
install, an unchanged one costs nothing). Lighthouse drives Debian's Chromium, not a browser it downloads.
The manifest's overrides pin two packages a dependency asks for as "latest", which would otherwise move
under the lockfile (and make ``npm ci`` refuse it).

    python -m scripts.page_audit URL [URL ...]   # Lighthouse, desktop and mobile; reports in test-artifacts/
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "scripts" / "page-audit"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REPORTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PRESETS = ("desktop", "mobile")


class ToolMissing(RuntimeError):
    """npm or Chromium is not installed: the audit cannot run here."""


def tools_dir() -> Path:
    """node_modules with Lighthouse and axe-core at their pinned versions, installed on first use."""
    lock = (MANIFEST / "package-lock.json").read_bytes()
    home = ROOT / "var" / "page-audit" / hashlib.sha256(lock).hexdigest()[:12]
    modules = home / "node_modules"
    done = home / ".installed"  # written after a whole install: an interrupted one is done again
    if done.exists():
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise ToolMissing("npm is not installed: apt-get install npm (.ci/run does)")
    home.mkdir(parents=True, exist_ok=True)
    with open(home.with_suffix(".lock"), "w") as lock_file:  # test workers in parallel install it once
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not done.exists():
            _install(npm, home)
            done.touch()
    return modules


def _install(npm: str, home: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(MANIFEST / name, home / name)
    # npm ci installs exactly the lockfile; no package's install script runs (none is needed: the browser
    # is Debian's)
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci in {home} failed: {done.stderr.strip()[-2000:]}")


def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        raise ToolMissing(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    return CHROMIUM


@dataclass(frozen=True)
class Audit:
    """One Lighthouse run: the score of each category (0-100), the layout shift, the audits that lost points."""

    url: str
    preset: str
    scores: dict[str, int]
    layout_shift: float
    failing: dict[str, list[str]]
    report: Path


def lighthouse(url: str, preset: str, name: str) -> Audit:
    """Run Lighthouse on ``url`` with its ``preset`` (desktop, or mobile: its default) -> REPORTS/name.*"""
    modules = tools_dir()
    REPORTS.mkdir(parents=True, exist_ok=True)
    out = REPORTS / name
    command = [
        shutil.which("node") or "node",
        str(modules / "lighthouse" / "cli" / "index.js"),
        url,
        "--output=json",
        "--output=html",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        "--quiet",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    env = {**os.environ, "CHROME_PATH": chromium()}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    report = out.with_name(f"{name}.report.json")
    if done.returncode != 0 or not report.exists():
        raise RuntimeError(f"lighthouse on {url} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return summary(url, preset, json.loads(report.read_text()), report)


def summary(url: str, preset: str, lhr: dict, report: Path) -> Audit:
    scores, failing = {}, {}
    for key in CATEGORIES:
        category = lhr["categories"][key]
        scores[key] = round((category["score"] or 0) * 100)
        failing[key] = [
            f"{ref['id']} ({lhr['audits'][ref['id']]['score']})"
            for ref in category["auditRefs"]
            if ref["weight"] > 0 and (lhr["audits"][ref["id"]].get("score") or 0) < 1
        ]
    shift = lhr["audits"]["cumulative-layout-shift"].get("numericValue", 0.0)
    return Audit(url, preset, scores, shift, failing, report)


def axe_source() -> str:
    """axe-core's browser script, for a test to inject into a page."""
    return (tools_dir() / "axe-core" / "axe.min.js").read_text()


def main(urls: list[str]) -> int:
    for url in urls:
        for preset in PRESETS:
            slug = url.split("://", 1)[-1].replace("/", "_").replace(":", "_").strip("_")
            audit = lighthouse(url, preset, f"{slug}-{preset}")
            print(f"{url} {preset}: {audit.scores} CLS {audit.layout_shift:.3f}")
            for key, audits in audit.failing.items():
                if audits:
                    print(f"  {key} loses points on: {', '.join(audits)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
