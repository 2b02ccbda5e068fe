"""Key remapping from a TOML file: binding ids to keys, applied with `App.set_keymap`.

The file (FILTERBETS_KEYMAP, else `keys.toml` in the config directory) maps the id of a
binding (every binding in the dashboard has one; `?` lists the keys) to one key or several:

    "filters.run" = "R"
    "app.quit" = ["ctrl+q", "q"]

    [editor]            # the same as "editor.add_rule" = "+"
    add_rule = "+"

Problems (a file that is not TOML, an id no binding has, a value that is not a key) are one
line each for a notification; the entries that are fine still apply.
"""

from __future__ import annotations

import difflib
import re
import stat
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import _normalize_key_list
from textual.screen import ModalScreen, Screen

from core.config import ENV_KEYMAP, keymap_path

MAX_KEYMAP_BYTES = 64 * 1024
"""A keymap of every binding is a few KB: a bigger file is not read (nor parsed, at start-up,
on the event loop)."""
MAX_PROBLEMS_SHOWN = 10
"""Problems listed one by one; the rest are counted in one line ("and 1,990 more")."""

KEY_NAME = re.compile(r"^(?:[^\s,]|[a-z0-9_]+(?:\+[a-z0-9_]+)*|(?:[a-z]+\+)+[^\s,])$")
"""One key as Textual names it: a character ("R", "+"), a name ("f5", "escape", "space")
or a modified one ("ctrl+q", "shift+f3", "alt+x")."""


@dataclass
class KeymapFile:
    """What a keymap file holds: the usable entries, and a line per problem."""

    path: Path
    keymap: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """The first MAX_PROBLEMS_SHOWN problems, a line each."""
    more_problems: int = 0
    """How many more there were (counted, not described: a hint costs a fuzzy search)."""

    def problem(self, line: str | Callable[[], str]) -> None:
        """Note a problem; a `line` that is a function is called only for one shown."""
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(line if isinstance(line, str) else line())
        else:
            self.more_problems += 1

    def problem_lines(self) -> list[str]:
        """What the user is told: each problem shown, then how many more there are."""
        if not self.more_problems:
            return list(self.problems)
        more = f"{self.path.name}: and {self.more_problems:,} more problems like these"
        return [*self.problems, more]


@dataclass(frozen=True)
class Scope:
    """Bindings that are active together: a widget's or screen's own (a screen's with the
    app's), so one key there can run only one of them."""

    name: str
    bindings: tuple[Binding, ...]


def _own_bindings(cls: type) -> list[Binding]:
    return [b for b in Binding.make_bindings(cls.__dict__.get("BINDINGS", ())) if b.id]


def binding_scopes() -> list[Scope]:
    """The bindings with an id in the loaded app, screens and widgets, by where they apply."""
    classes = [cls for cls in _subclasses(DOMNode) if _own_bindings(cls)]
    app_bindings = [b for cls in classes if issubclass(cls, App) for b in _own_bindings(cls)]
    scopes = []
    for cls in classes:
        own = _own_bindings(cls)
        if issubclass(cls, Screen) and not issubclass(cls, ModalScreen):
            own = own + app_bindings
        scope = "every screen" if issubclass(cls, App) else getattr(cls, "HELP_SCOPE", None)
        scopes.append(Scope(scope if isinstance(scope, str) else cls.__name__, tuple(own)))
    return scopes


def binding_ids(scopes: list[Scope] | None = None) -> set[str]:
    """Every binding id in the loaded widgets and screens (the app's own included)."""
    return {b.id for scope in scopes or binding_scopes() for b in scope.bindings if b.id}


def clashes(keymap: dict[str, str], scopes: list[Scope], name: str) -> list[str]:
    """A line for each remapped key that another action already has where it applies."""
    problems: list[str] = []
    seen: set[tuple[str | None, str, str | None]] = set()
    for scope in scopes:
        by_key: dict[str, list[Binding]] = {}
        for binding in scope.bindings:
            keys = keymap.get(binding.id or "", binding.key)
            for key in _normalize_key_list(keys).split(","):
                by_key.setdefault(key, []).append(binding)
        for key, bindings in by_key.items():
            remapped = [b for b in bindings if b.id in keymap]
            others = [b for b in bindings if b.action != remapped[0].action] if remapped else []
            if others and (remapped[0].id, key, others[0].id) not in seen:
                seen.add((remapped[0].id, key, others[0].id))
                problems.append(
                    f"{name}: {remapped[0].id} = {key!r} is also {others[0].id}"
                    f" ({others[0].description}) on {scope.name}; pick another key"
                )
    return sorted(problems)


def _subclasses(cls: type) -> Iterator[type]:
    seen: set[type] = set()
    stack: list[type] = [cls]
    while stack:
        current = stack.pop()
        sub: type
        for sub in current.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                yield sub


def _flatten(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _keys_of(value: Any) -> list[str] | None:
    """The keys an entry names (a string, maybe comma-separated, or a list of strings)."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [part for item in value for part in item.split(",")]
    else:
        return None
    keys = [part.strip() for part in parts]
    if not keys or any(not KEY_NAME.match(key) for key in keys):
        return None
    return keys


def parse_keymap(text: str, path: Path, known: set[str]) -> KeymapFile:
    """The keymap in `text` (the contents of `path`), checked against the `known` ids."""
    loaded = KeymapFile(path)
    name = path.name
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        loaded.problems.append(f"{name}: not valid TOML ({error}); no keys remapped")
        return loaded
    ids = sorted(known)
    for binding_id, value in _flatten(document):
        if binding_id not in known:

            def unknown(binding_id: str = binding_id) -> str:
                close = difflib.get_close_matches(binding_id, ids, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else "; ? lists the keys"
                return f"{name}: no binding has the id {binding_id!r}{hint}"

            loaded.problem(unknown)
            continue
        keys = _keys_of(value)
        if keys is None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
            loaded.problem(
                f'{name}: {binding_id} = {shown} is not a key; write e.g. "R", "f5" or'
                ' "ctrl+q" (a list for several)'
            )
            continue
        loaded.keymap[binding_id] = ",".join(keys)
    return loaded


def load_keymap(path: Path, *, named: bool, scopes: list[Scope] | None = None) -> KeymapFile:
    """Read the keymap file. A missing default file is no keymap; a missing named one (the
    user set FILTERBETS_KEYMAP) is a problem."""
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):
            return KeymapFile(path, problems=[f"{path}: not a file; no keys remapped"])
        if found.st_size > MAX_KEYMAP_BYTES:
            return KeymapFile(
                path,
                problems=[
                    f"{path}: {found.st_size:,} bytes, more than a keymap needs (at most"
                    f" {MAX_KEYMAP_BYTES // 1024} KB); no keys remapped"
                ],
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        loaded = KeymapFile(path)
        if named:
            loaded.problems.append(f"{ENV_KEYMAP}: {path}: no such file; no keys remapped")
        return loaded
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return KeymapFile(path, problems=[f"{path}: cannot read it ({reason}); no keys remapped"])
    scopes = binding_scopes() if scopes is None else scopes
    loaded = parse_keymap(text, path, binding_ids(scopes))
    for clash in clashes(loaded.keymap, scopes, path.name):
        loaded.problem(clash)
    return loaded


def apply_user_keymap(app: App[Any]) -> KeymapFile:
    """Load the user's keymap file into `app` and tell them about any problem in it."""
    path, named = keymap_path()
    loaded = load_keymap(path, named=named)
    if loaded.keymap:
        app.set_keymap(loaded.keymap)
    for problem in loaded.problem_lines():
        app.notify(problem, title="Keymap", severity="warning", timeout=12)
    return loaded


def key_for(node: DOMNode, binding_id: str, default: str) -> str:
    """The key (as the footer shows it) that runs `binding_id` now: the keymap's first key
    for it, else `default`; for hints written in prose."""
    app = node.app
    keymap: dict[str, str] = getattr(app, "_keymap", {})  # what set_keymap stored
    keys = keymap.get(binding_id)
    if not keys:
        return default
    return app.get_key_display(Binding(keys.split(",")[0].strip(), ""))


def keys_of(node: DOMNode, binding: Binding) -> set[str]:
    """The keys (as Textual names them in key events) that run `binding` now: the keymap's
    for its id, else its own."""
    keymap: dict[str, str] = getattr(node.app, "_keymap", {})
    keys = keymap.get(binding.id or "", binding.key)
    return {key.strip() for key in _normalize_key_list(keys).split(",")}
