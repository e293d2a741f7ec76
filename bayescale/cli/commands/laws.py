"""``bayescale laws``: the catalog of law forms, or one law in detail."""

from __future__ import annotations

from typing import Annotated

import typer

from bayescale.errors import BayescaleError

from .._render import console, print_law

__all__ = ["laws_command"]


def laws_command(
    law: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME_OR_FILE]",
            help="A catalog law or a .toml law file to show in detail; omit to list the catalog.",
        ),
    ] = None,
) -> None:
    """List the catalog of laws, or show one law: formula, priors and their reasoning.

    \f
    Parameters
    ----------
    law : str, optional
        Catalog name or ``.toml`` path; None lists the catalog.
    """
    from bayescale.laws import catalog, get_law

    if law is not None:
        print_law(get_law(law))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Scaling laws in the catalog", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("title")
    table.add_column("inputs")
    table.add_column("formula")
    for name in catalog():
        try:
            entry = get_law(name)
        except BayescaleError as exc:
            # One broken catalog file should not hide the others.
            table.add_row(name, Text(f"invalid: {exc}", style="red"), "", "")
            continue
        table.add_row(name, Text(entry.title), ", ".join(entry.inputs), Text(entry.formula.text))
    out = console()
    out.print(table)
    out.print("Details: bayescale laws NAME", markup=False)
