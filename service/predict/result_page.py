"""The answer to the form posted without JavaScript: the same result the page's script draws, written by
the server (the digit, what the model saw, the probability of each digit), in the page's own styles."""

from __future__ import annotations

from html import escape

from service.http import layout


def _bars(probabilities: list[float], best: int | None) -> str:
    items = []
    for d, p in enumerate(probabilities):
        best_class = ' class="best"' if d == best else ""
        items.append(
            f'<li{best_class} aria-label="{d}: {p:.1%}"><span>{d}</span>'
            f'<span class="track"><span class="fill" style="width:{p * 100:.2f}%"></span></span>'
            f'<span class="pct">{p:.1%}</span></li>'
        )
    return "".join(items)


def _section(r: dict) -> str:
    refused = not r.get("is_digit", True)
    answer, sure = ("not a digit", "sure it is not a digit:") if refused else (r["digit"], "confidence")
    return (
        '<section class="card">'
        f"<h2>The model says</h2><p>{escape(r['filename'])}</p>"
        f'<div class="answer{" refused" if refused else ""}"><p class=digit>{answer}</p>'
        f'<figure><img class="seen" src="predictions/{escape(r["id"])}/normalised.png" width="168" '
        'height="168" alt="the 28 by 28 image the model saw"><figcaption>What the model saw (28×28)</figcaption>'
        "</figure></div>"
        f"<p>{sure} {r['confidence']:.1%} · model {escape(r['model_version'])}</p>"
        f'<h3>Probability of each digit</h3><ol class="bars">{_bars(r["probabilities"], r["digit"])}</ol>'
        "</section>"
    )


def result_page(results: list[dict]) -> bytes:
    """One section per answered picture (the form is posted to the root: its URLs are relative to it)."""
    return layout.page("Result", "".join(_section(r) for r in results))
