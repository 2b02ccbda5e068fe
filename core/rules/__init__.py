"""The filter rule language: field catalogue, validation, SQL compilation, and an oracle.

Public API (see each module's docstring for the semantics):

* catalogue: FIELDS, Field, GROUPS, get_field, suggest_field, fields_by_group,
  search_fields
* validation: validate_rules, rule_errors, parse_rules, fields_used,
  uses_closing_prices, CLOSING_PRICE_WARNING, MAX_DEPTH, MAX_LEAVES, OPS
* masks over the analysis frame: core.rules.mask (imports numpy, so not imported here)
* the in-memory oracle for tests lives in core.rules.oracle (not imported here).
"""

from __future__ import annotations

from core.errors import RuleError
from core.rules.catalogue import (
    FIELDS,
    GROUPS,
    RULE_ODDS_SELECTIONS,
    RULE_ODDS_SOURCES,
    Field,
    FieldGroup,
    FieldType,
    did_you_mean,
    fields_by_group,
    get_field,
    search_fields,
    suggest_field,
)
from core.rules.validate import (
    CLOSING_PRICE_WARNING,
    MAX_DEPTH,
    MAX_LEAVES,
    OPS,
    Group,
    Leaf,
    Node,
    Not,
    Op,
    fields_used,
    parse_rules,
    rule_errors,
    uses_closing_prices,
    validate_rules,
)

__all__ = [
    "CLOSING_PRICE_WARNING",
    "FIELDS",
    "GROUPS",
    "MAX_DEPTH",
    "MAX_LEAVES",
    "OPS",
    "RULE_ODDS_SELECTIONS",
    "RULE_ODDS_SOURCES",
    "Field",
    "FieldGroup",
    "FieldType",
    "Group",
    "Leaf",
    "Node",
    "Not",
    "Op",
    "RuleError",
    "did_you_mean",
    "fields_by_group",
    "fields_used",
    "get_field",
    "parse_rules",
    "rule_errors",
    "search_fields",
    "suggest_field",
    "uses_closing_prices",
    "validate_rules",
]
