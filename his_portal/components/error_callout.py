"""The red callout that shows a handler's Chinese error message, when there is one."""

from __future__ import annotations

import reflex as rx


def error_callout(message: rx.Var[str], **props) -> rx.Component:
    """Nothing while ``message`` is empty; else the message, announced (role alert).

    Args:
        message: The state var holding the message ("" for none).
        props: Passed to ``rx.callout`` (e.g. ``width``).
    """
    return rx.cond(
        message != "",
        rx.callout(
            message,
            icon="triangle-alert",
            color_scheme="red",
            role="alert",
            **props,
        ),
    )
