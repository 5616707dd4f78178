"""The printable privacy notice: the print template rendered to PDF with fpdf2.

The PDF is the same text as the page (one template, ``notice_print.html``, in the same
catalogues), laid out by fpdf2's HTML subset in DejaVu Sans, the font matplotlib ships, so
every letter of Finnish and Swedish prints and nothing is fetched at run time.
"""

from __future__ import annotations

from pathlib import Path

from dsar.web.notice import Notice
from dsar.web.render import render_text

__all__ = ["notice_pdf"]


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def notice_pdf(notice: Notice, *, language: str, strategy_lang: str = "fi") -> bytes:
    """The notice as PDF bytes, in ``language``."""
    from fpdf import FPDF

    html = render_text(
        "notice_print.html", language=language, notice=notice, strategy_lang=strategy_lang
    )
    pdf = FPDF(format="A4")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", str(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.add_font("DejaVu", "BI", str(fonts / "DejaVuSans-BoldOblique.ttf"))
    pdf.set_title(f"{notice.controller}: {notice.current.id if notice.current else 'notice'}")
    pdf.set_lang(language)
    pdf.set_author(notice.controller)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    pdf.set_font("DejaVu", size=10)
    pdf.write_html(html, font_family="DejaVu")
    return bytes(pdf.output())
