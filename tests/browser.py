"""Headless Chromium through chromedriver (Debian's chromium + chromium-driver) for the report tests.

Flags from the environment notes: headless, no sandbox (tests may run as root), no GPU, no
background networking, component updates, first-run or sync, and a fresh profile folder. The
performance log records every network request the page makes; the browser log its console.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
         "--disable-extensions", "--window-size=1300,1000")


def _which(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        found = name if Path(name).is_file() else shutil.which(name)
        if found:
            return found
    return None


def unavailable() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    if _which(CHROMIUM) is None:
        return "no Chromium (Debian package chromium, see system-packages.txt)"
    if _which(CHROMEDRIVER) is None:
        return "no chromedriver (Debian package chromium-driver, see system-packages.txt)"
    return None


@dataclass
class PageVisit:
    url: str
    console: list[dict[str, Any]]
    requests: list[str]


class Browser:
    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="rai-audit-browser-")
        options = webdriver.ChromeOptions()
        options.binary_location = _which(CHROMIUM) or ""
        for flag in FLAGS + (f"--user-data-dir={self.profile}",):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(_which(CHROMEDRIVER)), options=options)
        self.driver.set_page_load_timeout(30)

    def visit(self, path: Path) -> PageVisit:
        """Open a local file; what the console printed and every request the page made."""
        self.driver.get("about:blank")
        self.driver.get_log("performance")           # drop the start-up page's requests
        self.driver.get_log("browser")
        url = Path(path).resolve().as_uri()
        self.driver.get(url)
        self.driver.execute_script("window.dispatchEvent(new Event('beforeprint'));")
        console = self.driver.get_log("browser")
        requests = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] != "Network.requestWillBeSent":
                continue
            params = message["params"]
            # the page's own requests, and anything that is not Chromium's internal chrome:// pages
            if params.get("documentURL") == url or not params["request"]["url"].startswith("chrome://"):
                requests.append(params["request"]["url"])
        return PageVisit(url, console, requests)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, out: Path, width: int = 1300) -> Path:
        """The whole page (the window grown to its height) as a PNG."""
        height = int(self.js("return Math.ceil(document.documentElement.scrollHeight)"))
        self.driver.set_window_size(width, min(max(height, 800), 16000))
        out.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(out))
        self.driver.set_window_size(width, 1000)
        return out

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser per test module (import this fixture into the module that uses it)."""
    opened = Browser()
    yield opened
    opened.close()


def render_pages(run: Any, folder: Path) -> dict[str, Path]:
    """report.html and compliance.html of `run` rendered into `folder`."""
    from reports.compliance.renderers import ComplianceRenderer
    from reports.html import HtmlRenderer

    return {"report": HtmlRenderer().render(run, folder), "compliance": ComplianceRenderer().render(run, folder)}
