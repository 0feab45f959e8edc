"""The page's colours, read from its stylesheet and scripts: every colour that carries data at 3:1 or more
against what it is drawn on (WCAG's non-text contrast), text at 4.5:1, the focus ring at 3:1 on every
background the page has, and the charts' line colours the ones the legend draws."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

ASSETS = ROOT / "service" / "assets"
CSS = (ASSETS / "app.css").read_text()
VARS = dict(re.findall(r"--([\w-]+):(#[0-9a-fA-F]{3,6})", CSS.split("}", 1)[0]))
BACKGROUNDS = {"card": "#ffffff", "page": VARS["bg"], "low row": "#fff8ee"}


def luminance(colour: str) -> float:
    hex_ = colour.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_is_computed_as_wcag_does():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("name", ["blue", "vermillion", "green"])
def test_data_colours_stand_out_from_white_and_from_the_bars_track(name):
    assert contrast(VARS[name], "#ffffff") >= 3
    if name != "green":  # the probability bars: blue, and vermillion for the answer
        assert contrast(VARS[name], VARS["track"]) >= 3


@pytest.mark.parametrize("background", list(BACKGROUNDS))
def test_the_focus_ring_and_text_are_visible_on_every_background(background):
    assert contrast(VARS["focus"], BACKGROUNDS[background]) >= 3
    for text in ("ink", "muted", "accent"):
        assert contrast(VARS[text], BACKGROUNDS[background]) >= 4.5, text
    assert re.search(r":focus-visible\{outline:3px solid var\(--focus\)", CSS)


def test_the_charts_lines_use_the_palette_and_the_legend_draws_the_same():
    script = (ASSETS / "stats.js").read_text()
    legend = (ASSETS / "stats.html").read_text()
    lines = re.findall(r'colour: "(#[0-9a-f]{6})"', script)
    assert lines == [VARS["blue"], VARS["vermillion"], VARS["green"]]
    for colour in lines:
        assert f'stroke="{colour}"' in legend
    dashes = re.findall(r'dash: "([^"]*)"', script)
    assert len(set(dashes)) == len(lines)  # told apart by their dashes as well as their colours
