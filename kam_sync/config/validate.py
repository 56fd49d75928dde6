"""Validate a located YAML document against a pydantic model, reporting every error at its place.

Models may add checks that need more than one field (or other files) by implementing
``semantic_issues(context) -> list[tuple[Loc, str]]``; each ``(loc, message)`` is turned into a
``file:line:col`` issue by the loader.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from kam_sync.config.issues import ConfigIssue
from kam_sync.config.located import Loc, LocatedDocument
from kam_sync.config.suggest import did_you_mean

M = TypeVar("M", bound=BaseModel)


def validate_document(
    doc: LocatedDocument, model: type[M], context: dict[str, Any] | None = None
) -> tuple[M | None, list[ConfigIssue]]:
    """Validate ``doc.data`` as ``model``; all errors are returned, none raised."""
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        return None, [doc.issue((), f"the file must be a mapping of keys to values, got a {kind}")]
    try:
        value = model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        return None, [_issue_from_error(doc, model, err) for err in exc.errors()]
    return value, []


def located_issues(doc: LocatedDocument, found: list[tuple[Loc, str]]) -> list[ConfigIssue]:
    """Turn ``(loc, message)`` pairs from semantic checks into positioned issues."""
    return [doc.issue(loc, message, prefer_key=True) for loc, message in found]


def _issue_from_error(doc: LocatedDocument, model: type[BaseModel], err: Any) -> ConfigIssue:
    raw_loc: Loc = tuple(err["loc"])
    loc = doc.data_loc(raw_loc)
    kind: str = err["type"]
    name = _last_name(loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed) if allowed else ""
        listing = f"; allowed: {', '.join(sorted(allowed))}" if 0 < len(allowed) <= 12 else ""
        return doc.issue(loc, f"unknown key '{loc[-1]}'{hint}{listing}", prefer_key=True)
    if kind == "missing":
        missing = raw_loc[-1]
        parent = loc[:-1] if loc and loc[-1] == missing else loc
        where = f" in '{_last_name(parent)}'" if parent else ""
        return doc.issue(parent, f"missing required key '{missing}'{where}", prefer_key=True)
    message = _humanize(err["msg"])
    if kind.startswith("value_error") or kind == "assertion_error":
        text = message
    else:
        got = err.get("input")
        shown = _short_repr(got)
        text = f"{message}, got {shown}"
    if name:
        text = f"{name}: {text}"
    return doc.issue(loc, text)


def _humanize(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    msg = msg.replace("Input should be", "must be").replace("input should be", "must be")
    msg = msg.replace("Field required", "required")
    return msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg


def _short_repr(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _last_name(loc: Loc) -> str:
    for part in reversed(loc):
        if isinstance(part, str):
            return part
    return ""


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names (and aliases) of the model reached by ``loc``, or [] when it is not a model."""
    target: Any = model
    for part in loc:
        target = _step(target, part)
        if target is None:
            return []
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        names = []
        for fname, finfo in target.model_fields.items():
            names.append(finfo.alias or fname)
        return names
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(part, str):
            for fname, finfo in annotation.model_fields.items():
                if part in (fname, finfo.alias):
                    return finfo.annotation
        return None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(models) == 1:
                annotation = models[0]
                continue
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation
