"""Renderers of the compliance report: compliance.html, compliance.md and compliance.pdf."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from audit.results import AuditRun
from reports.base import TextFileRenderer
from reports.compliance.document import NOT_EVIDENCED, NOT_STATED, build_document
from reports.compliance.markdown import compliance_markdown
from reports.compliance.pdf import find_browser, pdf_enabled, print_to_pdf

log = logging.getLogger("reports.compliance")

HTML_FILENAME = "compliance.html"
MD_FILENAME = "compliance.md"
PDF_FILENAME = "compliance.pdf"
TEMPLATE = "compliance.html.j2"


def render_compliance_html(run: AuditRun) -> str:
    from reports.html import build_environment

    template = build_environment().get_template(TEMPLATE)
    return template.render(doc=build_document(run), not_evidenced=NOT_EVIDENCED, not_stated=NOT_STATED)


class ComplianceRenderer(TextFileRenderer):
    """compliance.html: the model card and transparency report (self-contained, printable)."""

    name = "compliance"
    filename = HTML_FILENAME

    def text(self, run: AuditRun) -> str:
        return render_compliance_html(run)


class ComplianceMarkdownRenderer(TextFileRenderer):
    name = "compliance_md"
    filename = MD_FILENAME

    def text(self, run: AuditRun) -> str:
        return compliance_markdown(build_document(run))


class CompliancePdfRenderer:
    """compliance.pdf printed by headless Chromium; skipped with a warning when there is none."""

    name = "compliance_pdf"
    filename = PDF_FILENAME
    optional = True

    def render(self, run: AuditRun, out_dir: Path) -> Path | None:
        if not pdf_enabled():
            return None
        browser = find_browser()
        if browser is None:
            log.warning("no Chromium found (install Debian's chromium, or set RAI_AUDIT_CHROMIUM): "
                        "compliance.pdf was not written")
            return None
        with tempfile.TemporaryDirectory(prefix="rai-audit-compliance-") as folder:
            html = Path(folder) / HTML_FILENAME
            html.write_text(render_compliance_html(run), encoding="utf-8")
            return print_to_pdf(html, Path(out_dir) / PDF_FILENAME, browser)
