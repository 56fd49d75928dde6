"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

The 18-character form appends a 3-character checksum of the letter case of the first 15,
so that case-insensitive systems can still tell ids apart. The sandbox always answers with
18-character ids and accepts either form, as Salesforce does.
"""

from __future__ import annotations

import functools
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
_ID_CHARS = frozenset(string.ascii_letters + string.digits)
# Two "pod" characters and a reserved one, as in real ids (001Dn00000AbCdEFGH).
_INSTANCE = "Dn0"

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "AccountTeamMember": "01M",
    "FieldPermissions": "01k",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "CustomField": "00N",
    "BulkJob": "750",
    "QueryLocator": "01g",
    "CurrencyType": "02c",
    "DatedConversionRate": "04w",
}


# Upper-case letters -> "1", everything else -> "0": the case pattern the checksum encodes.
_CASE_FLAGS = str.maketrans(
    {c: "1" for c in string.ascii_uppercase}
    | {c: "0" for c in string.ascii_lowercase + string.digits}
)
_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that turns a 15-character id into its 18-character form.

    Each 5-character chunk gives one character: bit i is set when character i of the chunk
    is an upper-case letter.
    """
    flags = id15.translate(_CASE_FLAGS)
    return (
        _SUFFIX[int(flags[4::-1], 2)]
        + _SUFFIX[int(flags[9:4:-1], 2)]
        + _SUFFIX[int(flags[14:9:-1], 2)]
    )


@functools.lru_cache(maxsize=1 << 16)
def make_id(sobject: str, number: int) -> str:
    """The 18-character id of the `number`-th record of `sobject` (deterministic).

    Seeding a large org calls this millions of times (every reference repeats an id), so it
    is cached and works two base-62 digits at a time.
    """
    value, low = divmod(number, 3844)
    value, second = divmod(value, 3844)
    value, third = divmod(value, 3844)
    value, fourth = divmod(value, 3844)
    if value >= 62:
        raise ValueError(f"record number {number} does not fit in an id")
    digits = _BASE62[value] + _PAIRS[fourth] + _PAIRS[third] + _PAIRS[second] + _PAIRS[low]
    id15 = KEY_PREFIXES[sobject] + _INSTANCE + digits
    return id15 + checksum_suffix(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when it is malformed."""
    if len(value) not in (15, 18) or not _ID_CHARS.issuperset(value):
        return None
    id15 = value[:15]
    suffix = checksum_suffix(id15)
    if len(value) == 18 and value[15:].upper() != suffix:
        return None
    return id15 + suffix


def prefix_of(record_id: str) -> str:
    """The key prefix (first three characters) that names the object type of an id."""
    return record_id[:3]
