"""Reading YAML nodes with their line numbers, for files people edit by hand.

``yaml.compose`` keeps a mark (line, column) on every node.  ``MapNode`` wraps a
mapping node with typed getters (text, number, flag, choice, list of texts,
regex patterns) whose errors say file, line and what is wrong, raised as any
``YamlProblem`` subclass the caller picks.
"""

from __future__ import annotations

import re
from typing import TypeVar

import yaml

Choice = TypeVar("Choice", bound=str)


class YamlProblem(Exception):
    """A hand-edited YAML file is wrong: names the file, the line and what is wrong."""

    def __init__(self, file: str, line: int, problem: str) -> None:
        self.file = str(file)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.file}:{line}: {problem}")


def compose_file(text: str, file: str, error: type[YamlProblem]) -> yaml.Node | None:
    """Parse YAML text into its node tree; a syntax error becomes ``error``."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        raise error(file, line, f"not valid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise error(file, 0, f"not valid YAML: {err}") from None


class MapNode:
    """A YAML mapping node with typed getters whose errors carry file and line."""

    def __init__(
        self, node: yaml.Node, file: str, what: str, error: type[YamlProblem] = YamlProblem
    ) -> None:
        self.error = error
        if not isinstance(node, yaml.MappingNode):
            raise self.error(file, node_line(node), f"{what} must be a mapping")
        self.node, self.file, self.what = node, file, what
        self.items: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in self.items:
                raise self.error(file, node_line(key), f"{what}: duplicate key '{name}'")
            self.items[name] = value

    def fail(self, key: str | None, problem: str) -> YamlProblem:
        """An error pointing at ``key``'s value (or the mapping itself)."""
        node = self.items.get(key, self.node) if key else self.node
        return self.error(self.file, node_line(node), f"{self.what}: {problem}")

    def only(self, allowed: tuple[str, ...]) -> None:
        """Reject keys that are not in ``allowed``."""
        for name in self.items:
            if name not in allowed:
                raise self.fail(name, f"unknown key '{name}' (allowed: {', '.join(allowed)})")

    def text(self, key: str, required: bool = True) -> str | None:
        """A non-empty text value (None if absent and not required)."""
        node = self.items.get(key)
        if node is None:
            if required:
                raise self.fail(None, f"missing '{key}'")
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            raise self.fail(key, f"'{key}' must be text")
        if not str(node.value).strip():
            raise self.fail(key, f"'{key}' must not be empty")
        return str(node.value).strip()

    def number(self, key: str, default: float | None, minimum: float = 0.0) -> float | None:
        """A number of at least ``minimum``, or ``default`` if absent."""
        value = self.scalar(key, (int, float), "a number")
        if not isinstance(value, (int, float)):
            return default
        if value < minimum:
            raise self.fail(key, f"'{key}' must be at least {minimum}")
        return float(value)

    def integer(self, key: str, default: int | None, minimum: int = 0) -> int | None:
        """A whole number of at least ``minimum``, or ``default`` if absent."""
        value = self.scalar(key, (int,), "a whole number")
        if not isinstance(value, int):
            return default
        if value < minimum:
            raise self.fail(key, f"'{key}' must be at least {minimum}")
        return int(value)

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        """A true/false value, or ``default`` if absent."""
        value = self.scalar(key, (bool,), "true or false")
        return default if value is None else bool(value)

    def scalar(self, key: str, types: tuple[type, ...], what: str) -> object:
        """A scalar of one of ``types`` (``what`` describes it in errors), or None."""
        node = self.items.get(key)
        if node is None:
            return None
        value = _construct(node)
        if not isinstance(node, yaml.ScalarNode) or not isinstance(value, types):
            raise self.fail(key, f"'{key}' must be {what}")
        if bool not in types and isinstance(value, bool):
            raise self.fail(key, f"'{key}' must be {what}")
        return value

    def choice(self, key: str, options: tuple[Choice, ...],
               required: bool = False) -> Choice | None:
        """A text that must be one of ``options`` (returned as that option, so typed)."""
        value = self.text(key, required)
        if value is None:
            return None
        for option in options:
            if value == option:
                return option
        raise self.fail(key, f"'{key}' is '{value}'; expected one of {', '.join(options)}")

    def one_of(self, key: str, options: tuple[Choice, ...]) -> Choice:
        """A required text that must be one of ``options``."""
        value = self.choice(key, options, required=True)
        if value is None:  # choice(required=True) raises first; this narrows the type
            raise self.fail(None, f"missing '{key}'")
        return value

    def texts(self, key: str) -> tuple[tuple[str, int], ...]:
        """A text or a list of texts, each with its line."""
        node = self.items.get(key)
        if node is None:
            return ()
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in nodes:
            if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
                problem = f"{self.what}: '{key}' needs text items"
                raise self.error(self.file, node_line(item), problem)
            out.append((str(item.value).strip(), node_line(item)))
        return tuple(out)

    def patterns(self, key: str) -> tuple[re.Pattern[str], ...]:
        """A text or list of texts compiled as case-insensitive regular expressions."""
        out = []
        for text, line in self.texts(key):
            try:
                out.append(re.compile(text, re.IGNORECASE))
            except re.error as err:
                raise self.error(
                    self.file, line, f"{self.what}: bad pattern in '{key}': {err}"
                ) from None
        return tuple(out)


def node_line(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_mark.line + 1


def _construct(node: yaml.Node) -> object:
    return yaml.SafeLoader("").construct_object(node, deep=True)
