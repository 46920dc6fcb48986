"""The demo's HTML report: one self-contained page (figures inline, videos linked beside it)."""

from talkingface.report.data import ClipVideo, ReportData, Search
from talkingface.report.html import SECTIONS, render_report

__all__ = ["SECTIONS", "ClipVideo", "ReportData", "Search", "render_report"]
