"""The rule editor: a filter's rules as rows of a tree, with a live preview.

Rows are rules (field, operator, value) and groups (ALL / ANY / NOT). The row under the
cursor is edited in the panel below the table; every change re-checks the whole tree with
`core.rules.rule_errors` and shows each problem next to the row at fault. About 300 ms after
the last change a preview runs in the background (one exclusive worker: a newer change
cancels a stale run): the number of matching fixtures and a flat one-unit backtest.

The tree model (`RuleLeaf`, `RuleGroupNode` and the functions on them) is plain Python, so
it is tested without a screen.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, DataTable, Footer, Header, Input, Select, Static
from textual.worker import Worker, WorkerState

from core.backtest.engine import BacktestEngine
from core.backtest.request import (
    DEFAULT_KELLY_CAP,
    DEFAULT_KELLY_FRACTION,
    MARKETS,
    STAKING_KINDS,
    BacktestRequest,
)
from core.errors import FilterBetsError
from core.filters import SETTINGS_FIELDS, FilterInfo, FilterStore
from core.rules import (
    FIELDS,
    OPS,
    RULE_ODDS_SOURCES,
    Field,
    rule_errors,
)
from core.services import FilterBetsService
from tui.keymap import key_for
from tui.screens.rule_editor_sweep import (
    check_cell,
    last_grid,
    param_action,
    param_hint,
    preview_rules,
    sweep_action,
)
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.equity_chart import EquityChart, chart_data
from tui.widgets.field_picker import TYPE_WORDS, FieldPicker
from tui.widgets.metrics_panel import fmt_num, fmt_pct, fmt_units, warning_texts
from tui.widgets.rule_text import OP_WORDS, value_text
from tui.widgets.styles import GOOD, PROBLEM, signed_style
from tui.widgets.sweep_params import param_of
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

GroupKind = Literal["all", "any", "not"]
GROUP_KINDS: tuple[GroupKind, ...] = ("all", "any", "not")
NULL_OPS = ("is_null", "not_null")
LIST_OPS = ("in", "not_in")
PREVIEW_GROUP = "editor-preview"
SAVE_GROUP = "editor-save"
CHART_FROM_HEIGHT = 34
"""Terminal rows from which the editor also draws the preview's equity curve."""
PREVIEW_DELAY = 0.3
"""Seconds of quiet after a change before the preview runs."""


# The tree ------------------------------------------------------------------------------


@dataclass(eq=False)
class RuleLeaf:
    field: str = ""
    op: str = ">="
    value: str = ""
    """The value as typed: "1.8", "E0, SP1" (in / not in), "1.5..2.2" (between)."""


@dataclass(eq=False)
class RuleGroupNode:
    kind: GroupKind = "all"
    children: list[RuleNode] = field(default_factory=list)


RuleNode = RuleLeaf | RuleGroupNode


@dataclass(frozen=True)
class FlatRow:
    node: RuleNode
    depth: int
    parent: RuleGroupNode | None


def default_op(field_type: str) -> str:
    return "=" if field_type == "string" else ">="


def value_to_text(op: str, value: Any) -> str:
    if op in NULL_OPS or value is None:
        return ""
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{value_text(value[0])}..{value_text(value[1])}"
    return value_text(value)


def tree_from_rules(rules: Any) -> RuleGroupNode:
    """The editable tree of stored rules (a bare list or a group at the top)."""
    if rules is None:
        return RuleGroupNode("all", [])
    node = _node_from_rules(rules, top=True)
    return node if isinstance(node, RuleGroupNode) else RuleGroupNode("all", [node])


def _node_from_rules(raw: Any, *, top: bool = False) -> RuleNode:
    if isinstance(raw, list) and top:
        return RuleGroupNode("all", [_node_from_rules(item) for item in raw])
    if not isinstance(raw, dict):
        return RuleLeaf("", "=", str(raw))
    if "not" in raw:
        inner = raw["not"]
        if isinstance(inner, dict) and set(inner) == {"all"} and isinstance(inner["all"], list):
            return RuleGroupNode("not", [_node_from_rules(item) for item in inner["all"]])
        return RuleGroupNode("not", [_node_from_rules(inner)])
    for kind in ("all", "any"):
        if kind in raw and isinstance(raw[kind], list):
            return RuleGroupNode(kind, [_node_from_rules(item) for item in raw[kind]])
    op = str(raw.get("op", "="))
    return RuleLeaf(str(raw.get("field", "")), op, value_to_text(op, raw.get("value")))


_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")


def _typed_item(field_type: str | None, text: str) -> Any:
    """One typed value; text that is not of the field's type is kept for validation to name.
    A number may have a decimal comma ("1,85")."""
    text = text.strip()
    if param := param_of(text):
        return {"param": param}  # `$lo`: a sweep parameter (rule_editor_sweep)
    if field_type in ("number", "integer"):
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return text
    return text


_BETWEEN_SPLIT = re.compile(r"\s*\.\.\s*|\s*,\s*")
_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
NUMBER_RANGE = re.compile(
    rf"^\s*({_NUMBER})\s*(?:\.\.|-|\u2013|\u2014|\bto\b)\s*({_NUMBER})\s*$", re.IGNORECASE
)
"""A range of numbers as bettors write it: 1.5..2.0, 1.5-2.0 (or an en or em dash), 1.5 - 2,
1,5..2,0, 1.5 to 2."""
RANGE_FORMS = "low..high, e.g. 1.5..2.2 (1.5-2.2 and 1,5..2,2 work too)"


def parse_value(leaf: RuleLeaf) -> tuple[bool, Any]:
    """(has a value, the JSON value) for a leaf's typed text."""
    if leaf.op in NULL_OPS or not leaf.value.strip():
        return False, None
    found = FIELDS.get(leaf.field)
    field_type = found.type if found else None
    text = leaf.value.strip()
    if leaf.op in LIST_OPS:
        return True, [_typed_item(field_type, part) for part in text.split(",") if part.strip()]
    if leaf.op == "between":
        numeric = field_type in ("number", "integer")
        matched = NUMBER_RANGE.match(text) if numeric else None
        parts = list(matched.groups()) if matched else [p for p in _BETWEEN_SPLIT.split(text) if p]
        return True, [_typed_item(field_type, part) for part in parts]
    return True, _typed_item(field_type, text)


def leaf_rules(leaf: RuleLeaf) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": leaf.field, "op": leaf.op}
    has_value, value = parse_value(leaf)
    if has_value:
        rule["value"] = value
    return rule


def rules_from_tree(root: RuleGroupNode) -> tuple[Any, dict[str, RuleNode]]:
    """The JSON rules, and which node each validation path names."""
    paths: dict[str, RuleNode] = {}
    return _rules_of(root, "rules", paths), paths


def _rules_of(node: RuleNode, path: str, paths: dict[str, RuleNode]) -> Any:
    paths[path] = node
    if isinstance(node, RuleLeaf):
        return leaf_rules(node)
    if node.kind == "not":
        if len(node.children) == 1:
            return {"not": _rules_of(node.children[0], f"{path}.not", paths)}
        paths[f"{path}.not"] = node
        inner = [
            _rules_of(child, f"{path}.not.all[{i}]", paths) for i, child in enumerate(node.children)
        ]
        return {"not": {"all": inner}}
    return {
        node.kind: [
            _rules_of(child, f"{path}.{node.kind}[{i}]", paths)
            for i, child in enumerate(node.children)
        ]
    }


def _parent_path(path: str) -> str | None:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else None


def _local_problem(node: RuleNode) -> str | None:
    if isinstance(node, RuleGroupNode):
        if node.kind == "not" and not node.children:
            return "an empty NOT matches nothing: add a rule inside (a)"
        return None
    if not node.field:
        return "pick a field (f)"
    if node.op not in NULL_OPS and not node.value.strip():
        hint = {"between": "low..high", "in": "values, comma-separated"}.get(node.op, "a value")
        return f"type {hint}"
    if node.op == "between":
        _has, value = parse_value(node)
        if not isinstance(value, list) or len(value) != 2:
            found = FIELDS.get(node.field)
            numeric = found is not None and found.type in ("number", "integer")
            example = RANGE_FORMS if numeric else f"low..high, e.g. {_EXAMPLES[_type_of(found)][1]}"
            return f"write the range as {example}"
    return None


def _short(message: str) -> str:
    """Validation messages name the field; the row already shows it."""
    return re.sub(r"^field '[^']*' takes ", "takes ", message)


def check_tree(root: RuleGroupNode) -> tuple[Any, dict[int, list[str]]]:
    """The JSON rules and every problem, keyed by id() of the row at fault."""
    rules, paths = rules_from_tree(root)
    problems: dict[int, list[str]] = {}
    local: set[int] = set()
    for node in iter_nodes(root):
        problem = _local_problem(node)
        if problem:
            problems.setdefault(id(node), []).append(problem)
            local.add(id(node))
    for error in rule_errors(rules, params=True):
        path: str | None = error.path
        while path is not None and path not in paths:
            path = _parent_path(path)
        node = paths.get(path or "rules", root)
        if id(node) in local:
            continue  # the friendlier local message already says it
        message = _short(error.message)
        if message not in problems.get(id(node), []):
            problems.setdefault(id(node), []).append(message)
    return rules, problems


def iter_nodes(node: RuleNode) -> Iterator[RuleNode]:
    yield node
    if isinstance(node, RuleGroupNode):
        for child in node.children:
            yield from iter_nodes(child)


def flatten(root: RuleGroupNode) -> list[FlatRow]:
    rows: list[FlatRow] = []

    def walk(node: RuleNode, depth: int, parent: RuleGroupNode | None) -> None:
        rows.append(FlatRow(node, depth, parent))
        if isinstance(node, RuleGroupNode):
            for child in node.children:
                walk(child, depth + 1, node)

    walk(root, 0, None)
    return rows


def find_parent(root: RuleGroupNode, node: RuleNode) -> tuple[RuleGroupNode, int] | None:
    for candidate in iter_nodes(root):
        if isinstance(candidate, RuleGroupNode):
            for index, child in enumerate(candidate.children):
                if child is node:
                    return candidate, index
    return None


def insert_near(root: RuleGroupNode, anchor: RuleNode, new: RuleNode) -> None:
    """Inside `anchor` (at the end) when it is a group, else right after it."""
    if isinstance(anchor, RuleGroupNode):
        anchor.children.append(new)
        return
    found = find_parent(root, anchor)
    if found is None:
        root.children.append(new)
        return
    parent, index = found
    parent.children.insert(index + 1, new)


def remove_node(root: RuleGroupNode, node: RuleNode) -> RuleNode | None:
    """Remove a row (a group goes with its rules); returns the row to select next."""
    found = find_parent(root, node)
    if found is None:
        return None
    parent, index = found
    del parent.children[index]
    if parent.children:
        return parent.children[min(index, len(parent.children) - 1)]
    return parent


def move_node(root: RuleGroupNode, node: RuleNode, step: int) -> bool:
    """Move a row one place down (step 1) or up (-1) through the tree.

    A neighbouring group is entered (as its first rule going down, its last going up); at
    either end of a group the row leaves it, landing just after (or before) the group.
    """
    found = find_parent(root, node)
    if found is None:
        return False
    parent, index = found
    target = index + step
    if 0 <= target < len(parent.children):
        neighbour = parent.children[target]
        del parent.children[index]
        if isinstance(neighbour, RuleGroupNode):
            if step > 0:
                neighbour.children.insert(0, node)
            else:
                neighbour.children.append(node)
        else:
            parent.children.insert(target, node)
        return True
    outer = find_parent(root, parent)
    if outer is None:
        return False
    grandparent, parent_index = outer
    del parent.children[index]
    grandparent.children.insert(parent_index + (1 if step > 0 else 0), node)
    return True


def group_label(group: RuleGroupNode) -> str:
    if group.kind == "all":
        return "ALL of these"
    if group.kind == "any":
        return "ANY of these"
    return "NOT all of these" if len(group.children) > 1 else "NOT"


def leaf_label(leaf: RuleLeaf) -> str:
    if not leaf.field:
        return "(no field yet)"
    words = f"{leaf.field} {OP_WORDS.get(leaf.op, leaf.op)}"
    if leaf.op in NULL_OPS:
        return words
    return f"{words} {leaf.value.strip() or '…'}"


_EXAMPLES = {
    "number": ("1.85", "1.5..2.2", "1.5, 2"),
    "integer": ("3", "1..3", "6, 7"),
    "string": ("E0", "A..M", "E0, SP1"),
    "date": ("2020-01-31", "2019-08-01..2020-05-31", "2020-01-01, 2020-01-02"),
}


def _type_of(found: Field | None) -> str:
    return found.type if found is not None and found.type in _EXAMPLES else "string"


def value_hint(found: Field | None, op: str) -> str:
    if op in NULL_OPS:
        return "no value needed"
    kind = TYPE_WORDS[found.type] if found else "value"
    example = _EXAMPLES[_type_of(found)]
    if op == "between":
        if _type_of(found) == "number":
            return f"{kind}s low..high, e.g. 1.5..2.2 or 1.5-2.2"
        return f"{kind}s low..high, e.g. {example[1]}"
    if op in LIST_OPS:
        return f"{kind}s separated by commas, e.g. {example[2]}"
    return f"a {kind}, e.g. {example[0]}"


class ValueValidator(Validator):
    """Marks the value box invalid when the text cannot be the field's type."""

    def __init__(self, editor: RuleEditorScreen) -> None:
        super().__init__()
        self.editor = editor

    def validate(self, value: str) -> ValidationResult:
        leaf = self.editor.selected_leaf()
        if leaf is None:
            return self.success()
        probe = RuleLeaf(leaf.field, leaf.op, value)
        problem = _local_problem(probe)
        if problem:
            return self.failure(problem)
        errors = rule_errors({"all": [leaf_rules(probe)]}, params=True)
        return self.failure(_short(errors[0].message)) if errors else self.success()


# Settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """How a filter is backtested: market, price source and staking.

    Saved with the filter (`FilterInfo.backtest_settings`, in the form `to_saved` gives).
    """

    market: str = "home"
    odds_source: str = "pinnacle"
    staking: str = "flat"
    stake: Decimal = Decimal("1.00")
    """Flat: units per bet; percent: % of the bank; kelly: the Kelly fraction."""
    bank: Decimal = Decimal("100.00")
    kelly_cap: float = DEFAULT_KELLY_CAP

    @classmethod
    def from_request(cls, request: dict[str, Any], filter_stake: Decimal) -> RunSettings:
        """From saved settings or a stored request (both use BacktestRequest's JSON keys)."""
        staking = str(request.get("staking") or "flat")
        stake: Any = request.get("stake")
        if staking == "kelly":
            stake = request.get("kelly_fraction", DEFAULT_KELLY_FRACTION)
        try:
            stake_value = Decimal(str(stake)) if stake is not None else filter_stake
            bank = Decimal(str(request.get("bank") or "100.00"))
        except InvalidOperation:
            stake_value, bank = filter_stake, Decimal("100.00")
        try:
            kelly_cap = float(request.get("kelly_cap") or DEFAULT_KELLY_CAP)
        except (TypeError, ValueError):
            kelly_cap = DEFAULT_KELLY_CAP
        return cls(
            market=str(request.get("market") or "home"),
            odds_source=str(request.get("odds_source") or "pinnacle"),
            staking=staking,
            stake=stake_value,
            bank=bank,
            kelly_cap=kelly_cap,
        )

    @classmethod
    def for_filter(
        cls, info: FilterInfo, last_request: dict[str, Any] | None = None
    ) -> RunSettings:
        """A filter's saved settings; for one saved without any (before they were kept),
        those of its last run, else the defaults."""
        if info.backtest_settings is not None:
            return cls.from_request(info.backtest_settings, info.stake)
        if last_request is not None:
            return cls.from_request(last_request, info.stake)
        return cls(stake=info.stake)

    def request(self, **target: Any) -> BacktestRequest:
        """A request for a saved filter (filter_ref=...) or inline rules (rules=...)."""
        if self.staking == "kelly":
            return BacktestRequest(
                market=self.market,
                odds_source=self.odds_source,
                staking="kelly",
                kelly_fraction=float(self.stake),
                kelly_cap=self.kelly_cap,
                bank=self.bank,
                **target,
            )
        return BacktestRequest(
            market=self.market,
            odds_source=self.odds_source,
            staking=self.staking,
            stake=self.stake,
            bank=self.bank,
            kelly_cap=self.kelly_cap,
            **target,
        )

    def to_saved(self) -> dict[str, Any]:
        """What FilterStore keeps as the filter's backtest settings."""
        stored = self.request(rules=[]).to_dict()
        return {key: stored[key] for key in SETTINGS_FIELDS}

    def describe(self) -> str:
        if self.staking == "flat":
            plan = f"flat {self.stake}"
        elif self.staking == "percent":
            plan = f"{self.stake}% of bank {self.bank}"
        else:
            plan = f"kelly x{self.stake}"
        return f"{self.market} @ {self.odds_source}, {plan}"


STAKE_LABELS = {"flat": "Stake", "percent": "% bank", "kelly": "Kelly x"}
DEFAULT_STAKES = {"flat": Decimal("1.00"), "percent": Decimal("1"), "kelly": Decimal("0.25")}


def parse_stake_text(staking: str, text: str) -> Decimal:
    """The stake box as a number; FilterBetsError with a short reason when it is not one."""
    try:
        stake = Decimal(text.strip())
    except InvalidOperation:
        raise FilterBetsError(
            f"{STAKE_LABELS[staking].lower()}: {text!r} is not a number"
        ) from None
    if not stake.is_finite() or stake <= 0:
        raise FilterBetsError(f"{STAKE_LABELS[staking].lower()}: must be more than 0")
    if staking == "percent" and stake > 100:
        raise FilterBetsError("% bank: at most 100")
    if staking == "kelly" and stake > 1:
        raise FilterBetsError("kelly fraction: at most 1")
    return stake


@dataclass(frozen=True)
class EditorResult:
    """What the editor hands back: the saved filter (if it was saved) and its run settings."""

    saved: FilterInfo | None
    settings: RunSettings


# Messages from workers -----------------------------------------------------------------


class PreviewCounted(Message):
    def __init__(self, generation: int, count: int) -> None:
        super().__init__()
        self.generation = generation
        self.count = count


class PreviewRan(Message):
    def __init__(self, generation: int, metrics: dict[str, Any]) -> None:
        super().__init__()
        self.generation = generation
        self.metrics = metrics


class PreviewStaked(Message):
    """The preview's second run, under the filter's Kelly staking (Kelly decides bet by bet
    whether to bet at all, so it may bet far fewer of the matches than flat 1u does)."""

    def __init__(self, generation: int, metrics: dict[str, Any]) -> None:
        super().__init__()
        self.generation = generation
        self.metrics = metrics


class PreviewFailed(Message):
    def __init__(self, generation: int, error: BaseException) -> None:
        super().__init__()
        self.generation = generation
        self.error = error


class GridLoaded(Message):
    """The values of the filter's parameters in its last sweep."""

    def __init__(self, grid: dict[str, Any]) -> None:
        super().__init__()
        self.grid = grid


class FilterSaved(Message):
    def __init__(self, info: FilterInfo) -> None:
        super().__init__()
        self.info = info


# The screen ----------------------------------------------------------------------------


class RuleEditorScreen(Screen[EditorResult | None]):
    """Edit a filter's name, rules and run settings; s saves, escape goes back."""

    TITLE = "FilterBets · Rule editor"
    HELP_SCOPE: ClassVar[str] = "Rule editor"
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        # The footer fits 80 columns with ? and q: f, t and J/K are named by the hint under
        # the table instead (and listed by ?). f2 shows where a text box takes s.
        Binding("s", "save", "Save", id="editor.save"),
        Binding("a", "add_rule", "Add rule", id="editor.add_rule"),
        Binding("o", "add_group", "Add group", id="editor.add_group"),
        Binding("f", "pick_field", "Field", show=False, id="editor.pick_field"),
        Binding("t", "toggle_group", "ALL/ANY/NOT", show=False, id="editor.toggle_group"),
        Binding("x,delete", "remove", "Remove", id="editor.remove"),
        Binding("J", "move(1)", "Move down", show=False, id="editor.move_down"),
        Binding("K", "move(-1)", "Move up", show=False, id="editor.move_up"),
        Binding("escape", "back", "Back", id="editor.back"),
        Binding("f2", "save", "Save", id="editor.save_f2"),
        Binding("p", "param", "Sweep value", show=False, id="editor.param"),
        Binding("w", "sweep", "Run sweep", show=False, id="editor.sweep"),
    ]

    def __init__(
        self,
        service: FilterBetsService,
        saved: FilterInfo | None = None,
        settings: RunSettings | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.saved = saved
        if settings is None:
            settings = RunSettings.for_filter(saved) if saved else RunSettings()
        self.settings = settings
        self.root = tree_from_rules(saved.rules if saved else None)
        self.rows: list[FlatRow] = []
        self.problems: dict[int, list[str]] = {}
        self.rules: Any = None
        self._baseline: tuple[str, str, str] | None = None
        self._previewed: tuple[object, ...] | None = None
        self._staking_shown = self.settings.staking
        self.generation = 0
        self._started_generation = -1
        self.preview_count: int | None = None
        self.preview_metrics: dict[str, Any] | None = None
        self.preview_kelly: dict[str, Any] | None = None
        """The metrics of the preview's Kelly run, when the filter stakes by Kelly."""
        self._timer: Timer | None = None
        self._panel_node: RuleNode = self.root
        """The row the panel below the table shows and edits."""
        self._panel_filled = False
        """Whether the panel's boxes hold `_panel_node`'s values yet (before the first
        show_row they hold the widgets' defaults, which must never be copied into a row)."""
        self.grid: dict[str, Any] = {}
        """Each sweep parameter's values (a list or a range), by name (rule_editor_sweep)."""
        self._preview_note: str | None = None
        """Which variant of a template the preview shows ("Variant 1 of 80:")."""

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    # Layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        settings = self.settings
        yield Header()
        with Horizontal(id="editor-name-bar", classes="editor-bar"):
            yield Static("Name", classes="label")
            yield Input(
                self.saved.name if self.saved else "",
                placeholder="name this filter",
                id="editor-name",
                compact=True,
            )
            yield Static(STAKE_LABELS[settings.staking], id="editor-stake-label", classes="label")
            yield Input(str(settings.stake), id="editor-stake", compact=True)
        with Horizontal(id="editor-run-bar", classes="editor-bar"):
            yield Static("Market", classes="label")
            yield Select(
                [(m, m) for m in MARKETS],
                value=settings.market,
                allow_blank=False,
                compact=True,
                id="editor-market",
            )
            yield Static("Odds", classes="label")
            yield Select(
                [(s, s) for s in RULE_ODDS_SOURCES],
                value=settings.odds_source,
                allow_blank=False,
                compact=True,
                id="editor-odds",
            )
            yield Static("Staking", classes="label")
            yield Select(
                [(k, k) for k in STAKING_KINDS],
                value=settings.staking,
                allow_blank=False,
                compact=True,
                id="editor-staking",
            )
        yield VimDataTable(id="editor-rules", cursor_type="row")
        chart = EquityChart(id="editor-chart")
        chart.display = False
        yield chart
        with Vertical(id="editor-row"):
            with Horizontal(id="editor-leaf", classes="editor-bar"):
                yield Static("Field", classes="label")
                yield Button("(pick a field)", id="editor-field", compact=True)
                yield Static("Op", classes="label")
                yield Select(
                    [(OP_WORDS[op], op) for op in OPS],
                    value=">=",
                    allow_blank=False,
                    compact=True,
                    id="editor-op",
                )
                yield Static("Value", classes="label")
                yield Input(
                    placeholder="value",
                    id="editor-value",
                    compact=True,
                    validators=[ValueValidator(self)],
                    validate_on=["changed"],
                )
            with Horizontal(id="editor-group", classes="editor-bar"):
                yield Static("Group", classes="label")
                yield Select(
                    [("ALL of these", "all"), ("ANY of these", "any"), ("NOT", "not")],
                    value="all",
                    allow_blank=False,
                    compact=True,
                    id="editor-kind",
                )
            yield Static("", id="editor-hint", classes="hint")
            yield Static("", id="editor-problem")
        yield Static("", id="editor-preview", classes="bar")
        warnings = Static("", id="editor-warnings")
        warnings.display = False
        yield warnings
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = f"Edit {self.saved.name}" if self.saved else "New filter"
        self.refresh_tree(select=self.root.children[0] if self.root.children else self.root)
        if self.saved is None:
            self.query_one("#editor-name", Input).focus()
        else:
            self.query_one("#editor-rules", VimDataTable).focus()
        self._baseline = self._state()
        self.schedule_preview(immediately=True)
        self._load_grid()

    @work(group=PREVIEW_GROUP + "-grid", exit_on_error=False)
    async def _load_grid(self) -> None:
        self.post_message(GridLoaded(await last_grid(self)))

    @on(GridLoaded)
    def _grid_loaded(self, message: GridLoaded) -> None:
        if message.grid:
            self.grid = message.grid | self.grid
            self.refresh_tree()
            self.schedule_preview(immediately=True)

    def on_resize(self) -> None:
        if self.rows:
            self.refresh_tree()
        self._show_chart()

    def _show_chart(self) -> None:
        """The preview's equity curve, on screens tall enough to spare the rows for it."""
        chart = self.query_one("#editor-chart", EquityChart)
        metrics = self.preview_metrics
        show = self.size.height >= CHART_FROM_HEIGHT and metrics is not None
        chart.display = show
        if show and metrics is not None:
            chart.data = chart_data(metrics.get("curve") or [])
            chart.border_title = (
                f"Preview, flat 1u: strike {fmt_pct(metrics.get('strike_rate'), 1, sign=False)}"
                f" · avg odds {fmt_num(metrics.get('avg_odds'), 2)}"
                f" · max drawdown {fmt_units(metrics.get('max_drawdown'), sign=False)}"
            )

    # The table -------------------------------------------------------------------------

    def refresh_tree(self, *, select: RuleNode | None = None) -> None:
        """Re-check the rules, redraw every row, keep (or move) the cursor."""
        self.rules, self.problems = check_tree(self.root)
        self.rows = flatten(self.root)
        wanted = select or self._panel_node
        table = self.query_one("#editor-rules", VimDataTable)
        table.clear(columns=True)
        available = (self.size.width or 80) - 1 - 4  # scrollbar, cell padding
        rule_width = max(24, min(60, available * 11 // 20))
        table.add_column(Text("Rule"), key="rule", width=rule_width)
        table.add_column(Text("Check"), key="check", width=max(10, available - rule_width))

        check_width = max(10, available - rule_width)
        for index, row in enumerate(self.rows):
            table.add_row(*self._cells(row, rule_width, check_width), key=str(index))
        index = next((i for i, r in enumerate(self.rows) if r.node is wanted), 0)
        table.move_cursor(row=index, animate=False)
        self.show_row(self.rows[index].node)
        self._show_totals()

    def _cells(self, row: FlatRow, width: int, check_width: int = 200) -> tuple[Text, Text]:
        indent = "  " * row.depth
        node = row.node
        if isinstance(node, RuleGroupNode):
            label = Text(indent + ("▾ " if node.children else "▸ ") + group_label(node), "bold")
            if row.parent is None:
                label.append("  (the filter)", style="dim")
        else:
            label = Text(indent + "• " + leaf_label(node))
        label.truncate(width, overflow="ellipsis")
        problems = self.problems.get(id(node))
        check = Text("⚠ " + problems[0], style=PROBLEM) if problems else Text("✓", style=GOOD)
        if not problems and isinstance(node, RuleLeaf):
            check = check_cell(node, self.grid) or check
        check.truncate(check_width, overflow="ellipsis")
        return label, check

    def _show_totals(self) -> None:
        count = sum(len(p) for p in self.problems.values())
        leaves = sum(1 for n in iter_nodes(self.root) if isinstance(n, RuleLeaf))
        if count:
            self._set_preview(
                Text(
                    f"{count} problem{'s' if count != 1 else ''} to fix"
                    " (marked ⚠) before a preview or save",
                    style="bold",
                )
            )
        elif leaves == 0 and self.preview_count is None:
            add = self._key("editor.add_rule", "a")
            self._set_preview(Text(f"No rules yet: every fixture matches. Press {add} to add one."))

    @on(DataTable.RowHighlighted, "#editor-rules")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.rows) and self.rows[index].node is not self._panel_node:
            self.show_row(self.rows[index].node)

    @on(DataTable.RowSelected, "#editor-rules")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a rule edits its value (or picks its field first); on a group, its kind."""
        event.stop()
        node = self.cursor_node()
        if node is not self._panel_node:
            self.show_row(node)
        if isinstance(node, RuleGroupNode):
            self.query_one("#editor-kind", Select).focus()
        elif not node.field:
            self.action_pick_field()
        elif node.op in NULL_OPS:
            self.query_one("#editor-op", Select).focus()
        else:
            self.query_one("#editor-value", Input).focus()

    def cursor_node(self) -> RuleNode:
        """The row under the table's cursor (what row actions act on)."""
        tables = self.query("#editor-rules").results(VimDataTable)
        table = next(tables, None)  # none while the app closes (the footer still asks)
        if table is None:
            return self.root
        index = table.cursor_row
        return self.rows[index].node if 0 <= index < len(self.rows) else self.root

    def selected_leaf(self) -> RuleLeaf | None:
        """The rule the panel edits, when the panel shows a rule."""
        node = self._panel_node
        return node if isinstance(node, RuleLeaf) else None

    # The row panel ---------------------------------------------------------------------

    def _commit_panel(self) -> None:
        """Copy the panel's boxes into the row it shows.

        The Changed handlers do this as the user types, but their messages can arrive after
        the next key (say `a`, or a cursor move) has already been handled; the boxes
        themselves always hold what was typed.
        """
        if not self._panel_filled:
            return
        node = self._panel_node
        changed = False
        if isinstance(node, RuleLeaf) and self.query_one("#editor-leaf").display:
            op = self.query_one("#editor-op", Select).value
            if isinstance(op, str) and op != node.op:
                node.op, changed = op, True
            value = self.query_one("#editor-value", Input).value
            if node.op not in NULL_OPS and value != node.value:
                node.value, changed = value, True
        elif isinstance(node, RuleGroupNode) and self.query_one("#editor-group").display:
            kind = self.query_one("#editor-kind", Select).value
            if kind in GROUP_KINDS and kind != node.kind:
                node.kind, changed = cast(GroupKind, kind), True
        if changed:
            self._redraw_selected()
            self.schedule_preview()

    def show_row(self, node: RuleNode) -> None:
        if node is not self._panel_node and self.rows:
            self._commit_panel()
        self._panel_node = node
        leaf_bar = self.query_one("#editor-leaf")
        group_bar = self.query_one("#editor-group")
        is_leaf = isinstance(node, RuleLeaf)
        leaf_bar.display = is_leaf
        group_bar.display = not is_leaf
        # Values set here are the row's own: no Changed messages, so they are never taken
        # for an edit (they would arrive after the cursor may have moved to another row).
        with self.prevent(Select.Changed, Input.Changed):
            if isinstance(node, RuleLeaf):
                self.query_one("#editor-field", Button).label = node.field or "(pick a field)"
                op_select = self.query_one("#editor-op", Select)
                if op_select.value != node.op:
                    op_select.value = node.op
                value_input = self.query_one("#editor-value", Input)
                if value_input.value != node.value:
                    value_input.value = node.value
                value_input.disabled = node.op in NULL_OPS
                value_input.placeholder = "(no value)" if node.op in NULL_OPS else "value"
            else:
                kind_select = self.query_one("#editor-kind", Select)
                if kind_select.value != node.kind:
                    kind_select.value = node.kind
        self._panel_filled = True
        self._show_hint()
        problems = self.problems.get(id(node))
        self.query_one("#editor-problem", Static).update(
            Text("⚠ " + "; ".join(problems), style=PROBLEM) if problems else Text("")
        )

    def _key(self, binding_id: str, default: str) -> str:
        return key_for(self, binding_id, default)

    def _show_hint(self) -> None:
        """The line under the row panel: what to do in the box that has focus, else about
        the row the panel shows."""
        focused = self.focused
        focus_id = focused.id if focused is not None else None
        save = f"{self._key('editor.save_f2', 'f2')} saves"
        node = self._panel_node
        if focus_id == "editor-name":
            hint = Text.assemble(
                ("Name the filter", "bold"),
                f", then enter for its rules ({self._key('editor.add_rule', 'a')} adds one)",
                f" · {save}",
            )
        elif focus_id == "editor-stake":
            hint = Text(
                "Flat: units per bet · percent: % of the bank · kelly: the Kelly fraction (0-1]"
                f" · {save}"
            )
        elif focus_id in ("editor-market", "editor-odds", "editor-staking"):
            run = key_for(self, "filters.run", "r")
            hint = Text(
                f"Saved with the filter: {run} in the Filters list runs it on these · {save}"
            )
        elif isinstance(node, RuleLeaf):
            found = FIELDS.get(node.field)
            hint = Text()
            if found is not None:
                hint.append(found.description, style="italic")
                hint.append(" · ")
            hint.append(value_hint(found, node.op))
            hint = param_hint(node, self.grid) or hint
            if focus_id == "editor-rules":
                hint.append(
                    f" · {self._key('editor.param', 'p')} sweep"
                    f" · {self._key('editor.pick_field', 'f')} field"
                    f" · {self._key('editor.move_down', 'J')}/"
                    f"{self._key('editor.move_up', 'K')} move",
                    style="dim",
                )
        else:
            hint = Text(
                f"{self._key('editor.add_rule', 'a')} adds a rule inside this group"
                f" · {self._key('editor.add_group', 'o')} a group"
                f" · {self._key('editor.toggle_group', 't')} ALL/ANY/NOT"
                f" · {self._key('editor.move_down', 'J')}/{self._key('editor.move_up', 'K')}"
                " move"
            )
        self.query_one("#editor-hint", Static).update(hint)

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _focus_moved(self) -> None:
        if self.rows:
            self._show_hint()

    def _redraw_selected(self) -> None:
        """After an edit of the selected row: re-check everything, redraw the rows' cells."""
        self.rules, self.problems = check_tree(self.root)
        table = self.query_one("#editor-rules", VimDataTable)
        columns = table.ordered_columns
        width = columns[0].width if columns else 40
        check_width = columns[1].width if len(columns) > 1 else 40
        for index, row in enumerate(self.rows):
            label, check = self._cells(row, width, check_width)
            table.update_cell(str(index), "rule", label)
            table.update_cell(str(index), "check", check)
        problems = self.problems.get(id(self._panel_node))
        self.query_one("#editor-problem", Static).update(
            Text("⚠ " + "; ".join(problems), style=PROBLEM) if problems else Text("")
        )
        self._show_totals()

    def changed(self, *, redraw: bool = True, select: RuleNode | None = None) -> None:
        if select is not None or not redraw:
            self.refresh_tree(select=select)
        else:
            self._redraw_selected()
        self.schedule_preview()

    @on(Select.Changed, "#editor-op")
    def _op_changed(self, event: Select.Changed) -> None:
        leaf = self.selected_leaf()
        if leaf is None or event.value == leaf.op or event.value != event.select.value:
            return  # not an edit: the row's own value, or a stale message
        leaf.op = str(event.value)
        if leaf.op in NULL_OPS:
            leaf.value = ""
        self.show_row(leaf)
        self.changed()

    @on(Input.Changed, "#editor-value")
    def _value_changed(self, event: Input.Changed) -> None:
        leaf = self.selected_leaf()
        if leaf is None or event.value == leaf.value or event.value != event.input.value:
            return
        leaf.value = event.value
        self.changed()

    @on(Select.Changed, "#editor-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        node = self._panel_node
        if (
            not isinstance(node, RuleGroupNode)
            or event.value == node.kind
            or event.value != event.select.value
        ):
            return
        node.kind = cast(GroupKind, event.value)
        self.changed()

    @on(Input.Submitted, "#editor-value")
    @on(Input.Submitted, "#editor-name")
    @on(Input.Submitted, "#editor-stake")
    def _back_to_rules(self) -> None:
        self.query_one("#editor-rules", VimDataTable).focus()

    @on(Button.Pressed, "#editor-field")
    def _field_pressed(self) -> None:
        self.action_pick_field()

    # Settings --------------------------------------------------------------------------

    @on(Select.Changed, "#editor-market")
    @on(Select.Changed, "#editor-odds")
    @on(Select.Changed, "#editor-staking")
    @on(Input.Changed, "#editor-stake")
    def _settings_changed(self) -> None:
        staking = str(self.query_one("#editor-staking", Select).value)
        self.query_one("#editor-stake-label", Static).update(STAKE_LABELS.get(staking, "Stake"))
        if staking != self._staking_shown:
            # A stake means something else under each plan: start from that plan's usual.
            self.query_one("#editor-stake", Input).value = str(
                self.settings.stake
                if staking == self.settings.staking
                else DEFAULT_STAKES.get(staking, Decimal("1"))
            )
            self._staking_shown = staking
        if self.is_mounted and self._preview_key() != self._previewed:
            self.schedule_preview()  # flat 1u, and Kelly's fraction: the rest changes nothing

    def _state(self) -> tuple[str, str, str]:
        """What saving would store (name, rules, run settings), to tell unsaved changes."""
        name = " ".join(self.query_one("#editor-name", Input).value.split())
        rules = json.dumps(rules_from_tree(self.root)[0], sort_keys=True, default=str)
        try:
            settings = repr(self.read_settings())
        except FilterBetsError:
            settings = "bad stake " + self.query_one("#editor-stake", Input).value
        return name, rules, settings

    @property
    def dirty(self) -> bool:
        """Unsaved changes: anything differs from the filter as opened or last saved."""
        return self._baseline is not None and self._state() != self._baseline

    def read_settings(self) -> RunSettings:
        """The run settings as the boxes show them; FilterBetsError for a bad stake."""
        staking = str(self.query_one("#editor-staking", Select).value)
        stake = parse_stake_text(staking, self.query_one("#editor-stake", Input).value)
        return RunSettings(
            market=str(self.query_one("#editor-market", Select).value),
            odds_source=str(self.query_one("#editor-odds", Select).value),
            staking=staking,
            stake=stake,
            bank=self.settings.bank,
            kelly_cap=self.settings.kelly_cap,
        )

    # Preview ---------------------------------------------------------------------------

    def schedule_preview(self, *, immediately: bool = False) -> None:
        """Run the preview once the user pauses; a newer change makes any running one stale."""
        self.generation += 1
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        due = partial(self._start_preview, self.generation)
        if immediately:
            self.call_later(due)
        else:
            self._timer = self.set_timer(PREVIEW_DELAY, due)

    def _set_preview(self, text: Text) -> None:
        note = self._preview_note if not any(self.problems.values()) else None
        title = f"{note} " if note else "Preview "
        self.query_one("#editor-preview", Static).update(Text.assemble((title, "bold"), text))

    def _show_warnings(self, *runs: dict[str, Any] | None) -> None:
        """The preview runs' warnings (prices no one gets, a Kelly run that never bets...),
        each once, as a result shows them."""
        warnings = list(dict.fromkeys(w for run in runs if run for w in run.get("warnings") or ()))
        box = self.query_one("#editor-warnings", Static)
        box.update(Text("\n").join(warning_texts({"warnings": warnings})))
        box.display = bool(warnings)

    def _preview_key(self) -> tuple[object, ...]:
        """What the preview depends on besides the rules: the market and prices it bets at,
        and, for the Kelly run, the fraction."""
        staking = self.query_one("#editor-staking", Select).value
        kelly = self.query_one("#editor-stake", Input).value if staking == "kelly" else None
        return (
            self.query_one("#editor-market", Select).value,
            self.query_one("#editor-odds", Select).value,
            kelly,
        )

    def _start_preview(self, generation: int) -> None:
        # A callback that lost a race with a newer change (or with its own twin) runs
        # nothing: one preview per generation.
        if generation != self.generation or generation == self._started_generation:
            return
        self._started_generation = generation
        self._timer = None
        self._preview_note = None
        self._show_warnings()
        if any(self.problems.values()):
            self.workers.cancel_group(self, PREVIEW_GROUP)
            self._show_totals()
            return
        try:
            settings = self.read_settings()
        except FilterBetsError as error:
            self.workers.cancel_group(self, PREVIEW_GROUP)
            self._set_preview(Text(f"⚠ {error}", style=PROBLEM))
            return
        rules, note = preview_rules(self)  # a template previews its first variant
        if rules is None:
            self.workers.cancel_group(self, PREVIEW_GROUP)
            self._set_preview(Text(note or ""))
            return
        self._preview_note = note
        self._previewed = self._preview_key()
        request = BacktestRequest(
            market=settings.market,
            odds_source=settings.odds_source,
            rules=rules,
            staking="flat",
            stake=Decimal("1"),
        )
        kelly = settings.request(rules=rules) if settings.staking == "kelly" else None
        self.preview_count = None
        self.preview_metrics = None
        self.preview_kelly = None
        self._set_preview(Text("counting…", style="dim"))
        self.query_one("#editor-chart").display = False
        self._preview(request, kelly, self.generation)

    @work(exclusive=True, group=PREVIEW_GROUP, exit_on_error=False)
    async def _preview(
        self, request: BacktestRequest, kelly: BacktestRequest | None, generation: int
    ) -> None:
        engine = BacktestEngine(self.service.db, self.service.user_id)
        try:
            count = await engine.count(request)
            self.post_message(PreviewCounted(generation, count))
            run = await engine.run(request, store=False)
            self.post_message(PreviewRan(generation, run.metrics))
            if kelly is not None:
                staked = await engine.run(kelly, store=False)
                self.post_message(PreviewStaked(generation, staked.metrics))
        except FilterBetsError as error:  # a rule or request problem: shown inline
            self.post_message(PreviewFailed(generation, error))

    @on(PreviewCounted)
    def _counted(self, message: PreviewCounted) -> None:
        if message.generation != self.generation:
            return  # a newer change is on its way
        self.preview_count = message.count
        self._set_preview(
            Text.assemble((f"{message.count:,} fixtures match", "bold"), (" · backtesting…", "dim"))
        )

    @on(PreviewRan)
    def _ran(self, message: PreviewRan) -> None:
        if message.generation != self.generation:
            return
        self.preview_metrics = message.metrics
        self._show_preview_runs()
        self._show_chart()

    @on(PreviewStaked)
    def _staked(self, message: PreviewStaked) -> None:
        if message.generation != self.generation:
            return
        self.preview_kelly = message.metrics
        self._show_preview_runs()

    def _show_preview_runs(self) -> None:
        metrics = self.preview_metrics
        if metrics is None:
            return
        profit, yld = metrics.get("profit"), metrics.get("yield")
        style = signed_style(profit or 0)
        parts = Text.assemble(
            (f"{self.preview_count or 0:,} fixtures match", "bold"),
            " · flat 1u: ",
            (f"{int(metrics.get('bets') or 0):,} bets", "bold"),
            ", ",
            (f"{fmt_units(profit)} u", style),
            ", yield ",
            (fmt_pct(yld), style),
        )
        kelly = self.preview_kelly
        if kelly is not None:
            bets = int(kelly.get("bets") or 0)
            parts.append(" · kelly: ")
            parts.append(f"{bets:,} bets", style="bold" if bets else PROBLEM)
            if bets:
                parts.append(", yield ")
                parts.append(fmt_pct(kelly.get("yield")), style=signed_style(kelly.get("yield")))
        elif str(self.query_one("#editor-staking", Select).value) == "kelly":
            parts.append(" · kelly…", style="dim")
        self._set_preview(parts)
        self._show_warnings(metrics, kelly)

    @on(PreviewFailed)
    def _preview_failed(self, message: PreviewFailed) -> None:
        if message.generation == self.generation:
            self._set_preview(Text(f"⚠ {message.error}", style=PROBLEM))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        if event.worker.group == PREVIEW_GROUP:
            line = self.filterbets.report_error(error, doing="previewing")
            self._set_preview(Text(f"⚠ {line}", style=PROBLEM))
        elif event.worker.group == SAVE_GROUP:
            self.filterbets.report_error(error, doing="saving the filter")

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.rows:
            return True
        if action == "move" or action == "remove":
            return None if self.cursor_node() is self.root else True
        if action == "pick_field":
            return True if isinstance(self.cursor_node(), RuleLeaf) else None
        return True

    def action_param(self) -> None:
        self._commit_panel()
        focused = self.focused
        if focused is not None and focused.id == "editor-rules":
            self.show_row(self.cursor_node())
        param_action(self)

    def action_sweep(self) -> None:
        self._commit_panel()
        sweep_action(self)

    def action_add_rule(self) -> None:
        self._commit_panel()
        leaf = RuleLeaf()
        insert_near(self.root, self.cursor_node(), leaf)
        self.changed(select=leaf)
        self.action_pick_field()

    def action_add_group(self) -> None:
        self._commit_panel()
        group = RuleGroupNode("any", [])
        insert_near(self.root, self.cursor_node(), group)
        self.changed(select=group)

    def action_toggle_group(self) -> None:
        self._commit_panel()
        selected = node = self.cursor_node()
        if isinstance(node, RuleLeaf):
            found = find_parent(self.root, node)
            if found is None:
                return
            node = found[0]
        node.kind = GROUP_KINDS[(GROUP_KINDS.index(node.kind) + 1) % len(GROUP_KINDS)]
        self.changed(select=selected)

    def action_remove(self) -> None:
        self._commit_panel()
        node = self.cursor_node()
        if node is self.root:
            return
        after = remove_node(self.root, node)
        self.changed(select=after or self.root)

    def action_move(self, step: int) -> None:
        self._commit_panel()
        node = self.cursor_node()
        if move_node(self.root, node, step):
            self.changed(select=node)

    def action_pick_field(self) -> None:
        focused = self.focused
        if focused is not None and focused.id == "editor-rules":
            node = self.cursor_node()
            if node is not self._panel_node:
                self.show_row(node)
        leaf = self.selected_leaf()
        if leaf is None:
            return

        def picked(name: str | None) -> None:
            if name is None:
                self.query_one("#editor-rules", VimDataTable).focus()
                return
            if name != leaf.field:
                if leaf.field not in FIELDS:  # a new rule: the usual operator for the type
                    leaf.op = default_op(FIELDS[name].type)
                leaf.field = name
                self.changed(select=leaf)
            if leaf.op in NULL_OPS:
                self.query_one("#editor-op", Select).focus()
            else:
                self.query_one("#editor-value", Input).focus()

        self.app.push_screen(FieldPicker(leaf.field), callback=picked)

    # Save and leave --------------------------------------------------------------------

    def action_save(self) -> None:
        self._commit_panel()
        name = self.query_one("#editor-name", Input).value.strip()
        if not name:
            self.notify("Give the filter a name first.", title="Not saved", severity="warning")
            self.query_one("#editor-name", Input).focus()
            return
        count = sum(len(p) for p in self.problems.values())
        if count:
            self.notify(
                f"Fix the {count} problem{'s' if count != 1 else ''} marked ⚠ first.",
                title="Not saved",
                severity="warning",
            )
            return
        try:
            settings = self.read_settings()
        except FilterBetsError as error:
            self.notify(str(error), title="Not saved", severity="warning")
            return
        self._save(name, self.rules, settings)

    @work(exclusive=True, group=SAVE_GROUP, exit_on_error=False)
    async def _save(self, name: str, rules: Any, settings: RunSettings) -> None:
        store = FilterStore(self.service.db, self.service.user_id)
        stake = settings.stake if settings.staking == "flat" else None
        saved_settings = settings.to_saved()
        if self.saved is None:
            info = await store.create(
                name, rules, stake=stake or Decimal("1.00"), backtest_settings=saved_settings
            )
        else:
            info = await store.update(
                self.saved.id,
                name=name,
                rules=rules,
                stake=stake,
                backtest_settings=saved_settings,
            )
        self.post_message(FilterSaved(info))

    @on(FilterSaved)
    def _saved(self, message: FilterSaved) -> None:
        self.saved = message.info
        with contextlib.suppress(FilterBetsError):
            self.settings = self.read_settings()
        self._baseline = self._state()
        self.title = f"Edit {message.info.name}"
        self.notify(f"Saved filter {message.info.name!r}.", title="Filters")

    def action_back(self) -> None:
        self._commit_panel()
        focused = self.focused
        if focused is not None and focused.id != "editor-rules":
            self.query_one("#editor-rules", VimDataTable).focus()
            return
        if not self.dirty:
            self._leave()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self._leave()

        self.app.push_screen(
            ConfirmScreen(
                "Leave the editor and lose the unsaved changes?",
                title="Unsaved changes",
                yes="Discard",
            ),
            callback=answered,
        )

    def _leave(self) -> None:
        self.workers.cancel_group(self, PREVIEW_GROUP)
        self.dismiss(EditorResult(self.saved, self.settings))
