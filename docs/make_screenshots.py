"""Screenshots of a run's report.html and compliance.html for the docs (headless Chromium).

    python docs/make_screenshots.py runs/compression [--out docs] [--max-height 4200]

The pictures in this folder were made from `examples/compression.yaml` run twice, the second
time with `--baseline baseline`, so every section (comparison, variants, history) is filled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import Browser, unavailable  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with report.html and compliance.html")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--max-height", type=int, default=4200)
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    browser = Browser()
    try:
        for page in ("report", "compliance"):
            browser.visit(args.run / f"{page}.html")
            height = min(int(browser.js("return document.documentElement.scrollHeight")), args.max_height)
            browser.driver.set_window_size(1300, height)
            out = args.out / f"{page}.png"
            browser.driver.save_screenshot(str(out))
            print(out)
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
