"""The colour pairs chosen in assets/styles.css meet WCAG AA (4.5:1 for normal
text), from the custom properties the stylesheet sets."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STYLES = ROOT / "assets" / "styles.css"


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    channels = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_value(name: str) -> str:
    """A ``--name: #rrggbb`` custom property set in styles.css."""
    found = re.search(
        rf"--{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}})\b", STYLES.read_text()
    )
    assert found, f"--{name} is not set to a #rrggbb colour in {STYLES}"
    return found.group(1).lower()


WHITE = "#ffffff"
SIDEBAR = "#1f2d4d"
TABLE_HEADER = "#f9f9fb"  # Radix surface tables' header row (ghost sort button)
# (what, foreground, background): colours, or the names of custom properties set
# in styles.css. All are normal-size text (12-15 px, not bold): 4.5:1 each.
# Backgrounds of the soft variants (--*-a3/-a4, translucent) are given as they
# look on white: Radix's opaque steps 3 and 4.
PAIRS = (
    ("menu: active item", WHITE, "menu-active-bg"),
    ("menu: items", "#dfe7f5", SIDEBAR),
    ("solid green button", WHITE, "green-9"),
    ("solid green button, hovered", WHITE, "green-10"),
    ("green badge / soft button text", "green-a11", "#e6f6eb"),
    ("soft green button, hovered", "green-a11", "#d6f1df"),
    ("green ghost button in a table header", "green-a11", TABLE_HEADER),
    ("green link / text on white", "green-11", WHITE),
    ("amber callout text", "amber-a11", "#fff7c2"),
    ("solid red button", WHITE, "red-9"),
    ("solid red button, hovered", WHITE, "red-10"),
    ("soft red button text", "red-a11", "#feebec"),
    ("soft red button, hovered", "red-a11", "#ffdbdc"),
    ("toast: success", "success-text", "#ecfdf3"),
    ("toast: info", "info-text", "#f0f8ff"),
    ("toast: warning", "warning-text", "#fffcf0"),
    ("toast: error", "error-text", "#fff0f0"),
    ("form hints", "form-hint-fg", WHITE),
)
MINIMUM = 4.5


def test_chosen_colours_meet_wcag_aa():
    report, failing = [], []
    for what, fg, bg in PAIRS:
        fg_hex = fg if fg.startswith("#") else css_value(fg)
        bg_hex = bg if bg.startswith("#") else css_value(bg)
        ratio = contrast(fg_hex, bg_hex)
        line = f"{what}: {fg_hex} on {bg_hex} = {ratio:.2f}:1"
        report.append(line)
        if ratio < MINIMUM:
            failing.append(line)
    print("\n".join(report))
    assert not failing, failing
