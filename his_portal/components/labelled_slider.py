"""A one-thumb slider whose thumb (``role="slider"``) has an accessible name.

Radix Themes' ``rx.slider`` renders the thumbs itself and passes them no props, so
the focusable thumb stays unnamed (axe: aria-input-field-name). This is the same
Radix primitive with the thumb labelled, dressed in Radix Themes' own slider classes
so it looks the same.
"""

from __future__ import annotations

import reflex as rx
from reflex.event import passthrough_event_spec


class _SliderPart(rx.Component):
    library = "@radix-ui/react-slider@1.6.1"


class _Root(_SliderPart):
    tag = "Root"
    alias = "LabelledSliderRoot"

    default_value: rx.Var[list[int]]
    min: rx.Var[int]
    max: rx.Var[int]
    on_value_commit: rx.EventHandler[passthrough_event_spec(list[float])]


class _Track(_SliderPart):
    tag = "Track"
    alias = "LabelledSliderTrack"


class _Range(_SliderPart):
    tag = "Range"
    alias = "LabelledSliderRange"


class _Thumb(_SliderPart):
    tag = "Thumb"
    alias = "LabelledSliderThumb"


def labelled_slider(*, labelled_by: str, default: int, **props) -> rx.Component:
    """A size-2 surface slider; ``labelled_by``: the id of the element naming it."""
    return _Root.create(
        _Track.create(
            _Range.create(class_name="rt-SliderRange"), class_name="rt-SliderTrack"
        ),
        _Thumb.create(class_name="rt-SliderThumb", aria_labelledby=labelled_by),
        default_value=[default],
        class_name="rt-SliderRoot rt-r-size-2 rt-variant-surface",
        **props,
    )
