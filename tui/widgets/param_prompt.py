"""Turn one value of a rule into a sweep parameter: its name and its values (a list or a
range), checked as they are typed. Enter accepts, escape cancels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from tui.widgets.styles import PROBLEM
from tui.widgets.sweep_params import (
    PARAM_NAME,
    describe_values,
    param_of,
    parse_values,
    suggest_name,
    values_example,
    values_text,
)

ENDS = " (ends included)"


@dataclass(frozen=True)
class ParamSlot:
    """A place in a rule's value a parameter can stand: "low end", "value", "item 2"."""

    label: str
    text: str
    """What the slot holds now, as typed (`1.5`, or `$lo` when it is a parameter)."""
    kind: str = "value"
    """"low", "high", "item" or "value": how a new parameter there is named."""


@dataclass(frozen=True)
class ParamChoice:
    slot: int
    name: str
    spec: Any
    """The grid's JSON for its values: a list, or {"from", "to", "step"}."""


class ParamPrompt(ModalScreen[ParamChoice | None]):
    HELP_SCOPE: ClassVar[str] = "Sweep parameter"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="param.cancel"),
    ]

    DEFAULT_CSS = """
    ParamPrompt {
        align: center middle;
    }
    ParamPrompt > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-align: center;
        background: $surface;
        padding: 0 1;
    }
    ParamPrompt Horizontal {
        height: 1;
        margin-bottom: 1;
    }
    ParamPrompt .label {
        width: 8;
        color: $text-muted;
    }
    ParamPrompt Input, ParamPrompt Select {
        width: 1fr;
    }
    ParamPrompt #param-feedback {
        height: auto;
    }
    ParamPrompt .hint {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(
        self,
        field_name: str,
        slots: list[ParamSlot],
        grid: dict[str, Any],
        *,
        slot: int = 0,
    ) -> None:
        super().__init__()
        self.field_name = field_name
        self.slots = slots
        self.grid = grid
        self.start_slot = slot
        self.example = values_example(field_name)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Sweep a value of {self.field_name}"
            if len(self.slots) > 1:
                with Horizontal():
                    yield Static("Which", classes="label")
                    yield Select(
                        [(slot.label, i) for i, slot in enumerate(self.slots)],
                        value=self.start_slot,
                        allow_blank=False,
                        compact=True,
                        id="param-slot",
                    )
            with Horizontal():
                yield Static("Name", classes="label")
                yield Input(id="param-name", compact=True, placeholder="lo")
            with Horizontal():
                yield Static("Values", classes="label")
                yield Input(id="param-values", compact=True, placeholder=self.example)
            yield Static("", id="param-feedback")
            yield Static(
                f"Values: {self.example}{ENDS if 'range' in self.example else ''}."
                " The rule then reads $name;"
                " edit the value box to fix it again. enter accepts · esc cancels",
                classes="hint",
            )

    def on_mount(self) -> None:
        self._fill(self.start_slot)
        self.query_one("#param-values", Input).focus()

    def _slot(self) -> int:
        if len(self.slots) == 1:
            return 0
        value = self.query_one("#param-slot", Select).value
        return value if isinstance(value, int) else 0

    def _fill(self, index: int) -> None:
        """The slot's parameter and its values, or a new name and the value it holds now."""
        slot = self.slots[index]
        name = param_of(slot.text)
        taken = {param_of(s.text) for i, s in enumerate(self.slots) if i != index} | set(self.grid)
        if name is None:
            name = suggest_name(self.field_name, slot.kind, {t for t in taken if t})
        self.query_one("#param-name", Input).value = name
        values = self.grid.get(name)
        text = (
            values_text(values)
            if values is not None
            else ("" if param_of(slot.text) else slot.text)
        )
        values_input = self.query_one("#param-values", Input)
        values_input.value = text
        values_input.cursor_position = len(text)
        self._check()

    @on(Select.Changed, "#param-slot")
    def _slot_changed(self) -> None:
        self._fill(self._slot())

    @on(Input.Changed, "#param-name")
    def _name_changed(self, event: Input.Changed) -> None:
        known = self.grid.get(event.value.strip())
        if known is not None:
            self.query_one("#param-values", Input).value = values_text(known)
        self._check()

    @on(Input.Changed, "#param-values")
    def _values_changed(self) -> None:
        self._check()

    def _check(self) -> ParamChoice | None:
        """The choice as typed, with what it means (or what is wrong) under the boxes."""
        feedback = self.query_one("#param-feedback", Static)
        name = self.query_one("#param-name", Input).value.strip()
        if not PARAM_NAME.match(name):
            feedback.update(
                Text("⚠ a name is letters, digits and _, not starting with a digit", style=PROBLEM)
            )
            return None
        try:
            spec = parse_values(self.query_one("#param-values", Input).value, self.field_name)
        except ValueError as error:
            feedback.update(Text(f"⚠ {error}", style=PROBLEM))
            return None
        feedback.update(Text(f"${name}: {describe_values(spec)}"))
        return ParamChoice(self._slot(), name, spec)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        choice = self._check()
        if choice is not None:
            self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
