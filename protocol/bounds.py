"""Every bound the wire states: string lengths, integer ranges, list sizes; both sides enforce them.

The terminal's caches, HQ pushes and the cloud's ingest check the same numbers, and the cloud's
columns are sized from them, so a value one side accepts can never be refused by another
side's database (a 70-character SKU used to pass SQLite and stop a terminal's sync on
PostgreSQL for good).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

#: Store and terminal ids (also MQTT topic levels; see protocol.topics.ID_PATTERN).
ID_CHARS: Final = 32
MEMBER_ID_CHARS: Final = 64
SKU_CHARS: Final = 64
#: GS1-128 carries up to 48 data characters; EAN/UPC with an add-on up to 18.
BARCODE_CHARS: Final = 64
NAME_CHARS: Final = 128
CATEGORY_CHARS: Final = 64
RECEIPT_CHARS: Final = 64
STAFF_ID_CHARS: Final = 32
#: Shift, movement, feedback, audit and complaint ids: UUIDs or short readable ids.
RECORD_ID_CHARS: Final = 64
PHONE_CHARS: Final = 20
CODE_CHARS: Final = 64  # approval codes, tender references, coupon codes, member codes
LABEL_CHARS: Final = 128  # discount labels, reasons, kinds
TEXT_CHARS: Final = 2000  # free text: comments, complaints, notes, audit detail
SOFTWARE_VERSION_CHARS: Final = 64
EPOCH_CHARS: Final = 32

#: One amount of money in fen: ¥100,000,000. Sums of a chain's amounts stay far inside BIGINT.
MAX_FEN: Final = 10_000_000_000
#: One points delta; a larger one is refused outright, smaller forgeries are for plausibility.
MAX_POINTS: Final = 100_000_000
MAX_QUANTITY: Final = 100_000
MAX_WEIGHT_G: Final = 10_000_000
#: Per-terminal sequence numbers stay below 2**53, exact in every JSON reader.
MAX_SEQ: Final = 2**53 - 1
#: Seqs one ``seqs_lost`` event may name (a longer range goes in several events), so a
#: forged one cannot make the cloud write placeholders without end.
MAX_SEQS_LOST: Final = 100_000
MAX_BASIS_POINTS: Final = 10_000

MAX_LINES: Final = 500
MAX_DISCOUNTS_PER_LINE: Final = 20
MAX_TENDERS: Final = 20
MAX_POINTS_ROWS: Final = 50
MAX_COUPONS: Final = 20
MAX_CARDS: Final = 10
MAX_MAP_ENTRIES: Final = 32  # tender kind -> amount maps of shift reports

Fen = Annotated[int, msgspec.Meta(ge=0, le=MAX_FEN)]
SignedFen = Annotated[int, msgspec.Meta(ge=-MAX_FEN, le=MAX_FEN)]
Points = Annotated[int, msgspec.Meta(ge=0, le=MAX_POINTS)]
PointsDelta = Annotated[int, msgspec.Meta(ge=-MAX_POINTS, le=MAX_POINTS)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
WeightG = Annotated[int, msgspec.Meta(ge=1, le=MAX_WEIGHT_G)]
BasisPoints = Annotated[int, msgspec.Meta(ge=0, le=MAX_BASIS_POINTS)]
LineNo = Annotated[int, msgspec.Meta(ge=1, le=MAX_LINES)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


MemberId = Annotated[str, msgspec.Meta(min_length=1, max_length=MEMBER_ID_CHARS)]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=SKU_CHARS)]
Barcode = Annotated[str, msgspec.Meta(max_length=BARCODE_CHARS)]
Name = Annotated[str, msgspec.Meta(max_length=NAME_CHARS)]
Category = Annotated[str, msgspec.Meta(max_length=CATEGORY_CHARS)]
ReceiptNo = Annotated[str, msgspec.Meta(max_length=RECEIPT_CHARS)]
StaffId = Annotated[str, msgspec.Meta(max_length=STAFF_ID_CHARS)]
RecordId = Annotated[str, msgspec.Meta(min_length=1, max_length=RECORD_ID_CHARS)]
OptRecordId = Annotated[str, msgspec.Meta(max_length=RECORD_ID_CHARS)]
Phone = Annotated[str, msgspec.Meta(max_length=PHONE_CHARS)]
Code = Annotated[str, msgspec.Meta(max_length=CODE_CHARS)]
Label = Annotated[str, msgspec.Meta(max_length=LABEL_CHARS)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_CHARS)]
Epoch = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{0,32}$")]
