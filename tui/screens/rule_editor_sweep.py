"""The rule editor's sweeps: `p` makes a value of the selected rule a parameter (with its
values or range), `w` runs the rules over every combination of the parameters' values as a
sweep job. The grid (each parameter's values) lives in the editor; a saved filter keeps its
template (`$lo` in a rule), and the grid of its last sweep is offered again when it is opened.

The live preview of a template runs its first variant (every parameter at its first value)
and says so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.text import Text

from core.backtest.request import BacktestRequest
from core.backtest.sweep import bind_rules
from core.backtest.sweeps import SweepRequest
from core.errors import FilterBetsError
from core.results import ResultStore
from tui.widgets.param_prompt import ParamChoice, ParamPrompt, ParamSlot
from tui.widgets.rule_text import value_text
from tui.widgets.styles import GOOD, PROBLEM
from tui.widgets.sweep_params import (
    expand,
    first_values,
    template_params,
    values_text,
    variant_count,
)
from tui.widgets.sweep_prompt import SweepOptions, SweepPrompt, launch_sweep

if TYPE_CHECKING:
    from tui.screens.rule_editor import RuleEditorScreen, RuleLeaf

NULL_OPS = ("is_null", "not_null")
LIST_OPS = ("in", "not_in")


# The rule's value, slot by slot --------------------------------------------------------


def leaf_slots(leaf: RuleLeaf) -> list[ParamSlot]:
    """Where a parameter can stand in the rule's value: either end of a range, an item of a
    list, or the value itself."""
    from tui.screens.rule_editor import parse_value

    _has, value = parse_value(leaf)
    if leaf.op == "between":
        parts = list(value) if isinstance(value, list) else []
        parts += [""] * (2 - len(parts))
        return [
            ParamSlot("low end", _text(parts[0]), "low"),
            ParamSlot("high end", _text(parts[1]), "high"),
        ]
    if leaf.op in LIST_OPS:
        items = list(value) if isinstance(value, list) else []
        return [
            ParamSlot(f"item {i + 1}: {_text(v)}", _text(v), "item") for i, v in enumerate(items)
        ]
    return [ParamSlot("value", leaf.value.strip())]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else value_text(value)


def with_slot(leaf: RuleLeaf, slots: list[ParamSlot], index: int, text: str) -> str:
    """The rule's value text with slot `index` holding `text` (`$lo`)."""
    parts = [text if i == index else slot.text for i, slot in enumerate(slots)]
    if leaf.op == "between":
        return f"{parts[0]}..{parts[1]}"
    if leaf.op in LIST_OPS:
        return ", ".join(parts)
    return parts[0]


def params_in(leaf: RuleLeaf) -> list[str]:
    """The parameters a rule's value holds (`$lo..$hi`: lo, hi)."""
    from tui.screens.rule_editor import leaf_rules

    return template_params({"all": [leaf_rules(leaf)]})


# What the editor shows -----------------------------------------------------------------


def check_cell(leaf: RuleLeaf, grid: dict[str, Any]) -> Text | None:
    """The Check column of a valid rule with parameters: each one's number of values, or
    that it has none yet; None for a rule without parameters."""
    names = params_in(leaf)
    if not names:
        return None
    missing = [f"${name}" for name in names if name not in grid]
    if missing:
        return Text(
            f"{', '.join(missing)} need{'s' if len(missing) == 1 else ''} values (p)", PROBLEM
        )
    sizes = ", ".join(f"${name} ({len(expand(grid[name])):,})" for name in names)
    return Text.assemble(("✓ ", GOOD), f"sweeps {sizes}")


def param_hint(leaf: RuleLeaf, grid: dict[str, Any]) -> Text | None:
    """The hint under the panel for a rule with parameters: their values."""
    names = params_in(leaf)
    if not names:
        return None
    hint = Text()
    for n, name in enumerate(names):
        if n:
            hint.append(" · ")
        hint.append(f"${name} ", style="bold")
        hint.append(values_text(grid[name]) if name in grid else "no values yet")
    hint.append(" · w sweeps all", style="dim")
    return hint


def preview_rules(editor: RuleEditorScreen) -> tuple[Any, str | None]:
    """The rules the live preview runs, and the note that says which variant they are.

    A template previews its first variant; with a parameter still without values it cannot
    (the rules are returned as None, the note says why)."""
    names = template_params(editor.rules)
    if not names:
        return editor.rules, None
    missing = [name for name in names if name not in editor.grid]
    if missing:
        listed = ", ".join(f"${name}" for name in missing)
        return None, f"Template: give {listed} values (p on its rule) to preview and sweep"
    count = variant_count(editor.grid, names)
    bound = bind_rules(editor.rules, first_values(editor.grid, names))
    return bound, f"Variant 1/{count:,}:"


# p: make a value a parameter ------------------------------------------------------------


def param_action(editor: RuleEditorScreen) -> None:
    leaf = editor.selected_leaf()
    if leaf is None or not leaf.field:
        editor.notify("Select a rule with a field to sweep one of its values.", title="Sweep")
        return
    if leaf.op in NULL_OPS:
        editor.notify(f"'{leaf.op}' has no value to sweep.", title="Sweep", severity="warning")
        return
    slots = leaf_slots(leaf)
    if not slots:
        editor.notify("Type the list's values first.", title="Sweep", severity="warning")
        return
    start = next((i for i, slot in enumerate(slots) if slot.text.startswith("$")), 0)

    def chosen(choice: ParamChoice | None) -> None:
        if choice is None:
            return
        editor.grid[choice.name] = choice.spec
        leaf.value = with_slot(leaf, slots, choice.slot, f"${choice.name}")
        editor.show_row(leaf)
        editor.changed(select=leaf)

    editor.app.push_screen(ParamPrompt(leaf.field, slots, editor.grid, slot=start), chosen)


# w: run the sweep ----------------------------------------------------------------------


def sweep_action(editor: RuleEditorScreen) -> None:
    problems = sum(len(p) for p in editor.problems.values())
    if problems:
        editor.notify(
            f"Fix the {problems} problem{'s' if problems != 1 else ''} marked ⚠ first.",
            title="Sweep",
            severity="warning",
        )
        return
    names = template_params(editor.rules)
    if not names:
        editor.notify(
            "No parameters to sweep: select a rule and press p to sweep one of its values.",
            title="Sweep",
            severity="warning",
        )
        return
    missing = [name for name in names if name not in editor.grid]
    if missing:
        listed = ", ".join(f"${name}" for name in missing)
        editor.notify(
            f"Give {listed} values first (p on its rule).", title="Sweep", severity="warning"
        )
        return
    try:
        settings = editor.read_settings()
    except FilterBetsError as error:
        editor.notify(str(error), title="Sweep", severity="warning")
        return
    grid = {name: editor.grid[name] for name in names}
    saved = editor.saved
    # Sweeps bet flat: the editor's flat stake, else the filter's own.
    stake = (
        settings.stake
        if settings.staking == "flat"
        else (saved.stake if saved else Decimal("1.00"))
    )
    if saved is not None and not editor.dirty:
        target: dict[str, Any] = {"filter_ref": str(saved.id)}
        label = repr(saved.name)
        counted = f"Every variant counts as a trial of {saved.name!r}."
    else:
        target = {"rules": editor.rules}
        label = repr(saved.name) + " (unsaved)" if saved else "the new rules"
        counted = (
            "Unsaved rules: the variants are not counted as trials of a filter (s saves first)."
        )
    request = SweepRequest(
        backtest=BacktestRequest(
            market=settings.market,
            odds_source=settings.odds_source,
            staking="flat",
            stake=stake,
            **target,
        ),
        grid=grid,
    )
    count = variant_count(grid, names)
    sizes = ", ".join(f"{len(expand(grid[name])):,} values of ${name}" for name in names)
    about = [
        f"{label}: {sizes} = {count:,} variants",
        f"{settings.market} @ {settings.odds_source}, flat {stake} per bet, every league and"
        " season the rules allow",
        counted,
    ]

    def confirmed(options: SweepOptions | None) -> None:
        service = editor.filterbets.service
        if options is None or service is None:
            return
        run = SweepRequest(
            backtest=request.backtest,
            grid=request.grid,
            min_bets=options.min_bets,
            pbo_blocks=options.pbo_blocks,
        )
        launch_sweep(editor.app, service, run, label)

    as_job = editor.filterbets.job_runner is not None
    editor.app.push_screen(SweepPrompt(about, count, as_job=as_job), confirmed)


# The grid of the filter's last sweep ---------------------------------------------------


async def last_grid(editor: RuleEditorScreen) -> dict[str, Any]:
    """The values the filter's parameters had in its last sweep (none if never swept)."""
    saved = editor.saved
    if saved is None or not template_params(saved.rules):
        return {}
    store = ResultStore(editor.service.db, editor.service.user_id)
    return await store.last_sweep_grid(saved.id) or {}
