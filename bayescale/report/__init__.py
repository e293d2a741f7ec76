"""The due-diligence report: one self-contained HTML file a reviewer can read, trust and rerun.

:func:`build_context` gathers every number of the report from the library (``Fit.summary``,
``Fit.forecast``, the diagnostics, ``compute_optimal``, ``budget_for``, ``prob_below``, the
checks of :mod:`bayescale.checks`, the comparison tables) into a dict; :func:`render_html`
fills the Jinja2 template ``templates/report.html.j2`` with it; :func:`write_report` does
both and writes the file (and optionally a PDF of the same HTML, with WeasyPrint)
atomically.

Every number is carried as a :class:`Num`, which renders as
``<span class="num" data-key="..." data-value="..." data-format="...">text</span>``: the exact
value the library returned sits next to its rounded text, so a reader (or a test) can check
each one.

- :mod:`~bayescale.report.inputs`: targets, budgets, a comparison to include;
- :mod:`~bayescale.report.sections`: one builder per section (with links from loss to
  downstream metrics, ``downstream=``, a "Downstream forecast" section chains each with the
  fit at the targets);
- :mod:`~bayescale.report.reproducibility`: what made the fit and the report;
- :mod:`~bayescale.report.context`: :func:`build_context` and the embedded plots;
- :mod:`~bayescale.report.render`: HTML, PDF and the files.
"""

from __future__ import annotations

from bayescale._format import format_number
from bayescale.checks import prior_sensitivity
from bayescale.report.context import SECTIONS, build_context
from bayescale.report.inputs import default_targets, load_comparison
from bayescale.report.numbers import Num
from bayescale.report.render import html_to_pdf, render_html, write_report

__all__ = [
    "SECTIONS",
    "Num",
    "build_context",
    "default_targets",
    "format_number",
    "html_to_pdf",
    "load_comparison",
    "prior_sensitivity",
    "render_html",
    "write_report",
]
