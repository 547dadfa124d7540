"""Reading users' files safely: one YAML 1.2 loader, bounded reads, and short echoes in messages.

Every file rbsim reads (scenarios, platform profiles, load CSVs, harness records) goes through
:func:`read_text`: regular files only (a FIFO or ``/dev/zero`` would block or never end), at most a
few MiB, UTF-8. Every YAML text goes through :func:`load_yaml`: YAML 1.2 (ruamel.yaml, safe and pure),
so ``14:00`` is the string "14:00" and not the YAML 1.1 base-60 number 840; nesting depth and alias
expansion are bounded before anything is built (an 880-byte alias bomb would otherwise expand to
billions of nodes). Problems raise :class:`InputError` subclasses, which ``rbsim`` turns into one
message and exit code 2.
"""

from __future__ import annotations

import io
import os
import reprlib
import stat
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import RbsimError

MAX_FILE_BYTES = 8 * 1024**2
"""Largest scenario, profile or CSV read (a day of per-second CSV rows is under 3 MiB)."""
MAX_RECORD_BYTES = 64 * 1024**2
"""Largest harness record read (records hold at most 5,000 pings and one row per 100 ms)."""
MAX_DEPTH = 32
"""Deepest YAML nesting accepted: scenarios and plan blocks need 6 levels."""
MAX_NODES = 100_000
"""Most YAML values accepted after expanding aliases (a 24-hour profile is ~60)."""
ECHO_CHARS = 60
"""Longest echo of a user's value in an error message."""
MAX_MESSAGE_CHARS = 400
"""Longest single problem line in an error message."""

_SHORT = reprlib.Repr()
_SHORT.maxstring = ECHO_CHARS
_SHORT.maxother = ECHO_CHARS
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 4
_SHORT.maxlevel = 2
_SHORT.maxlong = 40


class InputError(RbsimError, ValueError):
    """Bad input from the user: ``rbsim`` prints ``str()`` (naming the file and field) and exits 2."""


class FileReadError(InputError):
    """A file that cannot be read as text; ``str()`` names it and says why."""

    def __init__(self, path: str | os.PathLike, why: str, line: int | None = None):
        self.path, self.why, self.line = str(path), why, line
        super().__init__(f"{path}:{line}: {why}" if line else f"{path}: {why}")


class YamlError(InputError):
    """Text that is not usable YAML; ``problem`` says why and ``line`` (1-based) where, if known."""

    def __init__(self, source: str, problem: str, line: int | None = None):
        self.source, self.problem, self.line = source, cut(problem), line
        super().__init__(f"{source}:{line}: {self.problem}" if line else f"{source}: {self.problem}")


def shown(value: Any) -> str:
    """A short ``repr`` of a user's value for an error message (long values are cut with ``...``)."""
    try:
        return _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a repr must never turn an error message into a crash
        return f"<{type(value).__name__}>"


def cut(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an echoed value can be megabytes)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_text(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; :class:`FileReadError` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise FileReadError(
            shown(str(path)), f"cannot read the file: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a pipe, device or socket)"
            raise FileReadError(path, f"cannot read the file: it is {kind}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FileReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileReadError(path, f"the file is larger than {limit // 1024**2} MiB; is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileReadError(
            path, f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); save the file as UTF-8", line
        ) from None


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def check_shape(text: str, source: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_NODES` values once aliases expand.

    Works on the parser's event stream (no recursion, nothing built), so it is safe on any input.
    """
    sizes: dict[str, int] = {}
    stack: list[list] = [[None, 0]]  # [anchor, values inside] per open collection
    total = 0
    try:
        for event in _yaml().parse(io.StringIO(text)):
            if isinstance(event, CollectionStartEvent):
                if len(stack) > MAX_DEPTH:
                    raise YamlError(source, f"nested more than {MAX_DEPTH} levels deep", _line_of(event))
                stack.append([event.anchor, 0])
                continue
            if isinstance(event, CollectionEndEvent):
                anchor, size = stack.pop()
                size += 1
            elif isinstance(event, AliasEvent):
                anchor, size = None, sizes.get(event.anchor, 1)
            elif isinstance(event, ScalarEvent):
                anchor, size = event.anchor, 1
            else:
                continue
            if anchor is not None:
                sizes[anchor] = size
            stack[-1][1] += size
            total = stack[0][1]
            if total > MAX_NODES or size > MAX_NODES:
                raise YamlError(
                    source, f"more than {MAX_NODES:,} values once aliases (*name) are expanded", _line_of(event)
                )
    except YAMLError as exc:
        raise _yaml_error(exc, source) from None


def _line_of(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def load_yaml(text: str, source: str) -> tuple[Any, Node | None]:
    """The data of a YAML 1.2 text and its node tree (for line numbers); :class:`YamlError` otherwise."""
    check_shape(text, source)
    try:
        tree = _yaml().compose(text)
    except YAMLError as exc:
        raise _yaml_error(exc, source) from None
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise _yaml_error(exc, source) from None
    except (ValueError, KeyError, TypeError, OverflowError) as exc:  # a scalar its tag cannot hold: 2020-13-45
        raise _bad_scalar(tree, source, exc) from None
    return data, tree


def load_yaml_file(path: str | os.PathLike) -> Any:
    """The data of a YAML file, read with :func:`read_text` and :func:`load_yaml`."""
    return load_yaml(read_text(path), str(path))[0]


def _yaml_error(exc: YAMLError, source: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) if isinstance(exc, MarkedYAMLError) else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return YamlError(source, f"malformed YAML: {problem}", mark.line + 1 if mark is not None else None)


def _bad_scalar(tree: Node | None, source: str, exc: Exception) -> YamlError:
    """Find the scalar the loader could not build and name its line and value."""
    for node in _scalars(tree):
        try:
            _yaml().constructor.construct_object(node, deep=True)
        except Exception as inner:  # noqa: BLE001 - any failure is the user's value
            value = f"{node.tag.rsplit(':', 1)[-1]} {shown(node.value)}" if node.tag else shown(node.value)
            why = "not a value of that type" if isinstance(inner, KeyError) else (str(inner) or type(inner).__name__)
            return YamlError(source, f"cannot read {value}: {cut(why.splitlines()[0], 120)}", node.start_mark.line + 1)
    return YamlError(source, f"cannot read a value: {cut(str(exc), 120)}")


def _scalars(tree: Node | None):
    pending = [tree] if tree is not None else []
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            yield node
        elif isinstance(node, SequenceNode):
            pending.extend(reversed(node.value))
        elif isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                pending += [value, key]


def node_line(tree: Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (keys and list indexes), or of its nearest existing parent."""
    node, line = tree, None
    for part in loc:
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
