"""Fault injection for the sandbox CRM: what to break, how often, deterministically by seed.

A `FaultSpec` is written as a string (the `--faults` flag) or a dict. Settings apply to
every endpoint kind unless scoped with a `kind:` prefix; `;` separates scopes:

    latency=20ms,jitter=5ms,429=0.05,503=0.02,retry_after=1,drop=0.01
    session_expiry=500,lock=0.02,partial=0.05,quota=1000
    latency=5ms;query:429=0.1;write:lock=0.05,partial=0.1

Keys:
- `latency`, `jitter`: added delay per request (`20ms`, `1.5s`, or seconds as a number);
  the jitter is uniform in [0, jitter].
- `429`, `503`: share of requests answered with that status instead of being served.
- `retry_after`: seconds sent in `Retry-After` with injected 429/503; unset sends none.
- `drop`: share of requests whose connection is closed without any response.
- `lost`: share of requests that are served (a write is applied) and whose answer is then lost:
  the connection closes without a response, which is what a client sees when its time-out
  ends while the CRM applies the write. Salesforce warns of exactly this: "it is possible that
  the call may complete on the server but the timeout is still triggered"
  (https://developer.salesforce.com/docs/atlas.en-us.264.0.ajax.meta/ajax/sforce_api_ajax_timeout.htm).
  Scope it to writes: `write:lost=1` (all writes, so the client's own retries get no answer
  either and it reports the records as failed while the CRM holds the new values).
- `session_expiry`: every N requests (all kinds together) the CRM's sessions expire.
- `lock`, `partial`: share of records in a write that fail with a record lock error or a
  transient per-record failure; the CRM side's write handlers ask `record_fault`.
- `quota`: the remaining daily API allocation at start (global; a scope prefix is ignored).

Decisions are pure functions of (seed, endpoint kind, the request's or record's ordinal
within that kind), so a run with the same seed and the same request order injects the same
faults.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

RecordFault = Literal["lock", "partial"]

_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?\s*$")
_RATE_KEYS = {"429": "rate_429", "503": "rate_503", "drop": "drop", "lock": "lock"}
_RATE_KEYS["partial"] = "partial"
_RATE_KEYS["lost"] = "lost"


class FaultSpecError(ValueError):
    """A fault spec string or dict that cannot be understood; the message says why."""


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """The faults that apply to one endpoint kind."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    rate_429: float = 0.0
    rate_503: float = 0.0
    retry_after_s: float | None = None
    drop: float = 0.0
    lock: float = 0.0
    partial: float = 0.0
    lost: float = 0.0

    def is_quiet(self) -> bool:
        """True when these settings never inject anything."""
        return self == FaultSettings()


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the server does to one request before (or instead of) serving it."""

    delay_s: float = 0.0
    status: int | None = None  # 429 or 503 instead of serving
    retry_after_s: float | None = None
    drop: bool = False
    expire_sessions: bool = False
    lose_reply: bool = False  # serve the request, then close the connection without the answer


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Parsed fault settings: defaults for all kinds, overrides per endpoint kind."""

    default: FaultSettings = field(default_factory=FaultSettings)
    by_kind: Mapping[str, FaultSettings] = field(default_factory=dict)
    session_expiry_every: int | None = None
    daily_quota_remaining: int | None = None

    def for_kind(self, kind: str) -> FaultSettings:
        """The settings that apply to requests of `kind`."""
        return self.by_kind.get(kind, self.default)

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse the `--faults` string form (see the module docstring)."""
        if text is None or not text.strip():
            return cls()
        default: dict[str, str] = {}
        scoped: dict[str, dict[str, str]] = {}
        for raw_scope in text.split(";"):
            scope = raw_scope.strip()
            if not scope:
                continue
            kind: str | None = None
            head, _, rest = scope.partition(":")
            if rest and "=" not in head:
                kind, scope = head.strip(), rest
            target = default if kind is None else scoped.setdefault(kind, {})
            for item in scope.split(","):
                if not item.strip():
                    continue
                key, eq, value = item.partition("=")
                if not eq:
                    raise FaultSpecError(f"fault setting {item.strip()!r} needs key=value")
                target[key.strip()] = value.strip()
        return cls.from_dict({**default, **{f"{k}:": v for k, v in scoped.items()}})

    @classmethod
    def from_dict(cls, settings: Mapping[str, object]) -> FaultSpec:
        """Build from a dict; scoped settings go under keys ending in `:` or under `by_kind`.

        `{"latency": "5ms", "429": 0.1, "by_kind": {"write": {"lock": 0.05}}}`
        """
        flat: dict[str, object] = {}
        scoped: dict[str, Mapping[str, object]] = {}
        for key, value in settings.items():
            if key == "by_kind":
                if not isinstance(value, Mapping):
                    raise FaultSpecError("by_kind must map endpoint kinds to settings")
                scoped.update({str(k): v for k, v in value.items()})
            elif key.endswith(":"):
                if not isinstance(value, Mapping):
                    raise FaultSpecError(f"scope {key!r} must hold a mapping of settings")
                scoped[key[:-1]] = value
            else:
                flat[key] = value
        expiry = flat.pop("session_expiry", None)
        quota = flat.pop("quota", None)
        default = _settings(flat, FaultSettings())
        by_kind = {kind: _settings(dict(values), default) for kind, values in scoped.items()}
        return cls(
            default=default,
            by_kind=by_kind,
            session_expiry_every=_positive_int("session_expiry", expiry),
            daily_quota_remaining=_positive_int("quota", quota, allow_zero=True),
        )

    @classmethod
    def coerce(cls, value: FaultSpec | str | Mapping[str, object] | None) -> FaultSpec:
        """Accept the forms the Python API takes: a spec, its string, a dict, or None."""
        if value is None:
            return cls()
        if isinstance(value, FaultSpec):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.from_dict(value)


def _settings(values: Mapping[str, object], base: FaultSettings) -> FaultSettings:
    known = {f.name for f in fields(FaultSettings)}
    changes: dict[str, object] = {}
    for key, value in values.items():
        if key in ("latency", "jitter"):
            changes[f"{key}_s"] = _duration(key, value)
        elif key == "retry_after":
            changes["retry_after_s"] = (
                None if value in (None, "", "none") else _duration(key, value)
            )
        elif key in _RATE_KEYS:
            changes[_RATE_KEYS[key]] = _rate(key, value)
        elif key in ("session_expiry", "quota"):
            raise FaultSpecError(f"{key} is global and cannot be scoped to an endpoint kind")
        else:
            allowed = sorted({"latency", "jitter", "retry_after", *_RATE_KEYS})
            allowed += ["session_expiry", "quota"]
            raise FaultSpecError(f"unknown fault setting {key!r}; allowed: {', '.join(allowed)}")
    assert set(changes) <= known
    return replace(base, **changes)  # type: ignore[arg-type]


def _duration(key: str, value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise FaultSpecError(f"{key} must be a duration like 20ms or 1.5s, got {value!r}")
        seconds = float(match["num"]) / (1000.0 if match["unit"] == "ms" else 1.0)
    if seconds < 0:
        raise FaultSpecError(f"{key} must be >= 0, got {value!r}")
    return seconds


def _rate(key: str, value: object) -> float:
    try:
        rate = float(str(value))
    except ValueError:
        raise FaultSpecError(f"{key} must be a share between 0 and 1, got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"{key} must be a share between 0 and 1, got {value!r}")
    return rate


def _positive_int(key: str, value: object, *, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise FaultSpecError(f"{key} must be a whole number, got {value!r}") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise FaultSpecError(f"{key} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


def _unit_draw(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts (stable across runs)."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class FaultInjector:
    """Makes the per-request and per-record decisions for one running sandbox.

    Thread-safe; the spec can be swapped while the server runs (`set_spec`).
    """

    def __init__(self, spec: FaultSpec | None = None, *, seed: int = 1) -> None:
        self._spec = spec or FaultSpec()
        self._seed = seed
        self._lock = threading.Lock()
        self._request_ordinals: dict[str, int] = {}
        self._record_ordinals: dict[tuple[str, str], int] = {}
        self._requests_seen = 0

    @property
    def spec(self) -> FaultSpec:
        """The spec in force."""
        return self._spec

    def set_spec(self, spec: FaultSpec) -> None:
        """Replace the spec and restart the ordinals, so decisions repeat from here."""
        with self._lock:
            self._spec = spec
            self._request_ordinals.clear()
            self._record_ordinals.clear()
            self._requests_seen = 0

    def decide_request(self, kind: str) -> FaultDecision:
        """Decide what happens to the next request of `kind`."""
        with self._lock:
            spec = self._spec
            ordinal = self._request_ordinals.get(kind, 0)
            self._request_ordinals[kind] = ordinal + 1
            self._requests_seen += 1
            every = spec.session_expiry_every
            expire = every is not None and self._requests_seen % every == 0
        settings = spec.for_kind(kind)
        if settings.is_quiet():
            return FaultDecision(expire_sessions=expire)
        delay = settings.latency_s
        if settings.jitter_s:
            delay += settings.jitter_s * _unit_draw(self._seed, kind, ordinal, "jitter")
        draw = _unit_draw(self._seed, kind, ordinal, "outcome")
        if draw < settings.drop:
            return FaultDecision(delay_s=delay, drop=True, expire_sessions=expire)
        draw -= settings.drop
        for status, rate in ((429, settings.rate_429), (503, settings.rate_503)):
            if draw < rate:
                return FaultDecision(
                    delay_s=delay,
                    status=status,
                    retry_after_s=settings.retry_after_s,
                    expire_sessions=expire,
                )
            draw -= rate
        if draw < settings.lost:
            return FaultDecision(delay_s=delay, lose_reply=True, expire_sessions=expire)
        return FaultDecision(delay_s=delay, expire_sessions=expire)

    def record_fault(self, kind: str, record_key: str) -> RecordFault | None:
        """Whether one record in a write of `kind` fails, and how.

        The n-th attempt on the same record gets a fresh draw, so a retried record can
        succeed.
        """
        settings = self._spec.for_kind(kind)
        if not (settings.lock or settings.partial):
            return None
        with self._lock:
            ordinal = self._record_ordinals.get((kind, record_key), 0)
            self._record_ordinals[(kind, record_key)] = ordinal + 1
        draw = _unit_draw(self._seed, kind, record_key, ordinal, "record")
        if draw < settings.lock:
            return "lock"
        if draw < settings.lock + settings.partial:
            return "partial"
        return None
