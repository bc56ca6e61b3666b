"""How much one request may ask of the server: the documented bounds on a SCIM request's size.

Every bound is checked before the work it bounds, and exceeding one is a ``400 invalidValue``
naming the bound (RFC 7644 §3.12: "the value specified was not compatible with the operation"):
nothing is truncated or stored. The body size itself is bounded separately
(``SCIMTRAIL_MAX_BODY_BYTES``, 413). Together they keep every request's work linear in its size,
and small, so one request cannot hold the event loop or the write lock for long (issue #19).

The numbers are far above what identity providers send: a user has a handful of emails, and
Okta and Entra ID push groups of tens of thousands of members, so ``members`` gets its own,
much larger bound.
"""

from __future__ import annotations

from typing import Final

from .errors import InvalidValue

__all__ = [
    "MAX_FILTER_CONDITIONS",
    "MAX_MEMBERS",
    "MAX_PATCH_OPERATIONS",
    "MAX_PATCH_WORK",
    "MAX_VALUES",
    "PatchBudget",
    "check_values",
]

#: Elements of one multi-valued attribute (``emails``, ``phoneNumbers``, ``addresses``, ``roles``…)
#: in a request body, a PATCH value or the document a PATCH produces. Not ``members``.
MAX_VALUES: Final = 1000
#: Members named by one request (a POST/PUT body, or all of a PATCH's operations together).
MAX_MEMBERS: Final = 100_000
#: Operations in one PATCH request.
MAX_PATCH_OPERATIONS: Final = 1000
#: Conditions in one filter (``filter=`` or a PATCH path's ``[…]``), and in all of one PATCH's
#: ``members[…]`` filters other than ``value eq`` together (each is tried on every member row).
MAX_FILTER_CONDITIONS: Final = 300
#: Elements one PATCH may visit in the attributes it changes, each value filter's element ×
#: condition evaluations counting once each. A PATCH's operations each walk the list they change,
#: so many operations on a long list multiply; this bounds the product (real PATCHes use < 1,000).
MAX_PATCH_WORK: Final = 100_000


def check_values(name: str, count: int) -> None:
    """Refuse a multi-valued attribute with more than :data:`MAX_VALUES` elements."""
    if count > MAX_VALUES:
        raise InvalidValue(f"'{name}' has {count} values; at most {MAX_VALUES} are accepted.")


class PatchBudget:
    """The work one PATCH has done so far, against :data:`MAX_PATCH_WORK`."""

    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0

    def spend(self, units: int) -> None:
        self.spent += units
        if self.spent > MAX_PATCH_WORK:
            raise InvalidValue(
                f"This PATCH would visit more than {MAX_PATCH_WORK} attribute values; "
                "send its operations in several requests."
            )
