"""The one table of the portal: a caption for screen readers, column headers with
``scope="col"``, one row per item with a row header cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx

Cell = rx.Component | rx.Var | str | int


def data_table(
    caption: str,
    columns: Sequence[str | rx.Component],
    rows: rx.Var[list] | Sequence,
    cells: Callable[[Any], Sequence[Cell]],
    *,
    row_header: int = 0,
    **props,
) -> rx.Component:
    """A table of ``rows``.

    Args:
        caption: What the table lists (read by screen readers, not shown).
        columns: Header texts; a component is taken as a ready header cell.
        rows: The items: a state var, or a fixed list laid out at build time.
        cells: An item's cell contents, in column order.
        row_header: The index of the cell that names the row.
        props: Passed to ``rx.table.root`` (e.g. ``size``).
    """

    def head(column: str | rx.Component) -> rx.Component:
        if isinstance(column, rx.Component):
            return column
        return rx.table.column_header_cell(column, scope="col")

    def row(item) -> rx.Component:
        return rx.table.row(
            *(
                (rx.table.row_header_cell if i == row_header else rx.table.cell)(value)
                for i, value in enumerate(cells(item))
            )
        )

    return rx.table.root(
        rx.el.caption(caption, class_name="sr-only"),
        rx.table.header(rx.table.row(*(head(c) for c in columns))),
        rx.table.body(
            *(
                [rx.foreach(rows, row)]
                if isinstance(rows, rx.Var)
                else [row(item) for item in rows]
            )
        ),
        **{"variant": "surface", "width": "100%", **props},
    )
