"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

The 18-character form appends a 3-character checksum of the letter case of the first 15,
so that case-insensitive systems can still tell ids apart. The sandbox always answers with
18-character ids and accepts either form, as Salesforce does.
"""

from __future__ import annotations

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
}


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that turns a 15-character id into its 18-character form."""
    suffix = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX[bits])
    return "".join(suffix)


def make_id(sobject: str, number: int) -> str:
    """The 18-character id of the `number`-th record of `sobject` (deterministic)."""
    digits = []
    value = number
    for _ in range(9):
        value, rest = divmod(value, 62)
        digits.append(_BASE62[rest])
    id15 = KEY_PREFIXES[sobject] + _INSTANCE + "".join(reversed(digits))
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
