"""Two date inputs, from and to, for the filters of 医生工作 and 签名监控."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx


def _date(
    control_id: str, label: str | None, value: rx.Var[str], on_change: Callable
) -> list[rx.Component]:
    field = rx.input(id=control_id, type="date", value=value, on_change=on_change)
    if label is None:
        return [field]
    return [rx.el.label(label, html_for=control_id, class_name="sr-only"), field]


def date_inputs(
    id_prefix: str,
    dates: tuple[rx.Var[str], rx.Var[str]],
    on_change: tuple[Callable, Callable],
    separator: rx.Component,
    *,
    labelled_from: bool = True,
) -> list[rx.Component]:
    """The from input, ``separator``, the to input, each named for screen readers.

    Args:
        id_prefix: The inputs are ``<id_prefix>-from`` and ``<id_prefix>-to``.
        dates: The state vars the inputs show, from and to.
        on_change: The handlers that set them.
        separator: What stands between the two.
        labelled_from: False when a visible label names the from input already.
    """
    return [
        *_date(
            f"{id_prefix}-from",
            "开始日期" if labelled_from else None,
            dates[0],
            on_change[0],
        ),
        separator,
        *_date(f"{id_prefix}-to", "结束日期", dates[1], on_change[1]),
    ]
