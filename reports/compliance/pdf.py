"""Print the compliance HTML to PDF with headless Chromium (Debian's `chromium`).

A fresh profile folder, no network services, no sandbox (tests and CI often run as root), a
time limit. Chromium missing is a warning and no PDF; Chromium failing is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from audit.errors import AuditUserError

BROWSER_ENV = "RAI_AUDIT_CHROMIUM"
PDF_ENV = "RAI_AUDIT_PDF"          # "0" turns PDF output off (the fast test suite does)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--no-first-run",
                  "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
                  "--no-pdf-header-footer")


class PdfError(AuditUserError):
    """Chromium is installed but could not print the report."""


def find_browser() -> str | None:
    """$RAI_AUDIT_CHROMIUM, else the first Chromium on the PATH."""
    explicit = os.environ.get(BROWSER_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def pdf_enabled() -> bool:
    return os.environ.get(PDF_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def print_to_pdf(html_path: Path, pdf_path: Path, browser: str) -> Path:
    """Print `html_path` into `pdf_path` (written via a temporary file, then moved into place)."""
    pdf_path = Path(pdf_path)
    with tempfile.TemporaryDirectory(prefix="rai-audit-chromium-") as profile:
        tmp = Path(profile) / "out.pdf"
        command = [browser, *HEADLESS_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
                   Path(html_path).resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PdfError(f"{browser} did not print {html_path} within {TIMEOUT_S} s") from None
        except OSError as exc:
            raise PdfError(f"cannot run {browser}: {exc}") from None
        if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = " ".join((done.stderr or "").split()[-40:])
            raise PdfError(f"{browser} could not print {html_path} (exit {done.returncode}): {tail}")
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), pdf_path)
    return pdf_path
