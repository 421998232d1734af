"""Staff on the wire: the HQ-managed staff stream and the till's PIN-set event.

Only slow hashes ever travel or are stored: a PIN or a one-time enrolment code is hashed with
argon2id where it is typed (the till) or made (HQ), and the hash is what the stream and the
event carry. A staff member with no PIN yet holds a one-time code from HQ; at the till they
sign in with it once and choose their PIN, which the till hashes, keeps, and reports.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from protocol.envelope import UtcTime

STAFF_STREAM: Final = "staff"
#: An argon2id hash in its standard encoded form, and nothing else (never a plain PIN).
SlowHash = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$",
        max_length=256,
    ),
]
#: Staff numbers are typed on the keypad: digits only.
StaffId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,12}$")]
StaffRole = Literal["manager", "cashier", "guide"]


class StaffItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One staff member as the tills of their stores should know them."""

    staff_id: StaffId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: StaffRole
    active: bool = True
    pin_hash: SlowHash | None = None  # None: no PIN yet (or HQ reset it)
    code_hash: SlowHash | None = None  # a pending one-time code for the first sign-in
    code_expires: UtcTime | None = None


class StaffPinSetBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Till -> cloud: a staff member chose their PIN at this till (its slow hash only)."""

    staff_id: StaffId
    pin_hash: SlowHash
    code_hash: SlowHash  # the one-time code it used, so HQ knows which code was spent
