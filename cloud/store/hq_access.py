"""HQ users, passwords (argon2), sessions, API tokens and sign-in lockout, in the cloud database.

Secrets are never stored: passwords as argon2id hashes, session cookies and API tokens as
SHA-256 digests (they are 256-bit random values, so a fast digest is enough to make a stolen
table useless, and every request can check one without argon2's deliberate cost).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cloud.store.db import CloudDB, utcnow
from cloud.store.errors import CloudStoreError

ROLES: Final = ("admin", "marketing", "store_manager", "analyst", "technician", "sales_guide")
#: Roles kept to a list of stores (they see the members and sales of those stores only).
STORE_ROLES: Final = ("store_manager", "sales_guide")
#: Why a store role without stores is refused (one message each, for the page's catalogues).
NEEDS_STORES: Final = MappingProxyType({
    "store_manager": "a store manager needs at least one store",
    "sales_guide": "a sales guide needs at least one store",
})  # fmt: skip
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD: Final = 10
SESSION_HOURS: Final = 12
#: Failed sign-ins allowed per name within the window before the name is locked.
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = dt.timedelta(minutes=15)
LOCKOUT: Final = dt.timedelta(minutes=15)
TOKEN_PREFIX: Final = "hqt_"


class AccessError(CloudStoreError):
    """A user, password, token or sign-in request that cannot be accepted; says why."""


class LockedOut(AccessError):
    """Too many failed sign-ins for this name; ``until`` is when it may try again."""

    def __init__(self, message: str, until: dt.datetime) -> None:
        super().__init__(message)
        self.until = until


def digest(secret: str) -> str:
    """The stored form of a session cookie or API token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile defaults


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as the API needs it."""

    user_id: int
    username: str
    display_name: str
    role: str
    stores: tuple[str, ...]
    language: str
    active: bool


def _row(u: Any) -> UserRow:
    return UserRow(
        int(u.id),
        u.username,
        u.display_name,
        u.role,
        tuple(u.stores or ()),
        u.language,
        bool(u.active),
    )


def check_user_fields(username: str, role: str, stores: list[str]) -> None:
    """Refuse a bad name, unknown role, or a store manager without stores."""
    if not USERNAME.match(username):
        raise AccessError("username: 2-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise AccessError("role: one of %(roles)s, not %(role)r", roles=", ".join(ROLES), role=role)
    if role in STORE_ROLES and not stores:
        raise AccessError(NEEDS_STORES[role])


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise AccessError("password: at least %(least)s characters", least=MIN_PASSWORD)
    if len(password) > 200:
        raise AccessError("password: at most 200 characters")


def add_user(
    cdb: CloudDB,
    username: str,
    password: str,
    role: str,
    *,
    stores: list[str] | None = None,
    display_name: str = "",
    language: str = "zh_CN",
) -> UserRow:
    """Create a user; raises AccessError for bad fields or a taken name."""
    stores = sorted(set(stores or []))
    check_user_fields(username, role, stores)
    check_password(password)
    if language not in ("zh_CN", "en"):
        raise AccessError("language: zh_CN or en")
    h = cdb.hq
    if h.HqUser.get_or_none(h.HqUser.username == username) is not None:
        raise AccessError("user %(user)r already exists", user=username)
    user = h.HqUser.create(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher().hash(password),
        role=role,
        stores=stores if role in STORE_ROLES else [],
        language=language,
        active=True,
        created_at=utcnow(),
    )
    return _row(user)


def set_password(cdb: CloudDB, user_id: int, password: str) -> None:
    """Replace a user's password and end their sessions."""
    check_password(password)
    h = cdb.hq
    h.HqUser.update(password_hash=_hasher().hash(password)).where(h.HqUser.id == user_id).execute()
    h.HqSession.delete().where(h.HqSession.user_id == user_id).execute()


def list_users(cdb: CloudDB) -> list[UserRow]:
    """Every user, by name."""
    h = cdb.hq
    return [_row(u) for u in h.HqUser.select().order_by(h.HqUser.username)]


def get_user(cdb: CloudDB, user_id: int) -> UserRow | None:
    """One user by id."""
    u = cdb.hq.HqUser.get_or_none(cdb.hq.HqUser.id == user_id)
    return None if u is None else _row(u)


def set_active(cdb: CloudDB, user_id: int, active: bool) -> None:
    """Enable or disable a user; disabling ends their sessions and tokens' use."""
    h = cdb.hq
    h.HqUser.update(active=active).where(h.HqUser.id == user_id).execute()
    if not active:
        h.HqSession.delete().where(h.HqSession.user_id == user_id).execute()


def _lock_check(cdb: CloudDB, username: str, now: dt.datetime) -> None:
    row = cdb.hq.LoginFailure.get_or_none(cdb.hq.LoginFailure.username == username)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        minutes = max(1, int((row.locked_until - now).total_seconds() + 59) // 60)
        raise LockedOut(
            f"too many failed sign-ins for {username!r}; try again in {minutes} min",
            row.locked_until,
        )


def _record_failure(cdb: CloudDB, username: str, now: dt.datetime) -> None:
    f = cdb.hq.LoginFailure
    row = f.get_or_none(f.username == username)
    if row is None or now - row.first_at > FAILURE_WINDOW:
        f.insert(username=username, failures=1, first_at=now, locked_until=None).on_conflict(
            conflict_target=[f.username],
            update={f.failures: 1, f.first_at: now, f.locked_until: None},
        ).execute()
        return
    failures = row.failures + 1
    locked = now + LOCKOUT if failures >= MAX_FAILURES else None
    f.update(failures=failures, locked_until=locked).where(f.username == username).execute()


def check_login(cdb: CloudDB, username: str, password: str) -> UserRow | AccessError:
    """Check a sign-in; the user, or the refusal (LockedOut, or one message for any mismatch).

    The refusal is returned rather than raised so the caller's transaction commits the
    failure count (run it inside a write transaction: the count is then exact under
    concurrent attempts). An unknown name still costs one argon2 verification, so timing
    does not tell which names exist, and unknown names are locked out like known ones.
    """
    now = utcnow()
    key = username[:64]
    try:
        _lock_check(cdb, key, now)
    except LockedOut as locked:
        return locked
    h = cdb.hq
    user = h.HqUser.get_or_none(h.HqUser.username == key)
    hasher = _hasher()
    stored = user.password_hash if user is not None else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password)
        ok = user is not None and bool(user.active)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        _record_failure(cdb, key, now)
        try:
            _lock_check(cdb, key, now)  # this failure may have been the one that locks
        except LockedOut as locked:
            return locked
        return AccessError("wrong username or password, or the account is disabled")
    h.LoginFailure.delete().where(h.LoginFailure.username == key).execute()
    if hasher.check_needs_rehash(user.password_hash):
        h.HqUser.update(password_hash=hasher.hash(password)).where(h.HqUser.id == user.id).execute()
    return _row(user)


def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not a password anyone has")


def open_session(cdb: CloudDB, user_id: int, ip: str) -> tuple[str, str]:
    """Start a session; return (cookie value, CSRF token)."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    h = cdb.hq
    h.HqSession.delete().where(h.HqSession.expires_at < now).execute()
    h.HqSession.create(
        token_hash=digest(cookie),
        user_id=user_id,
        csrf=csrf,
        created_at=now,
        expires_at=now + dt.timedelta(hours=SESSION_HOURS),
        ip=ip[:64],
    )
    return cookie, csrf


def close_session(cdb: CloudDB, cookie: str) -> None:
    """End a session (sign out)."""
    cdb.hq.HqSession.delete().where(cdb.hq.HqSession.token_hash == digest(cookie)).execute()


def session_user(cdb: CloudDB, cookie: str) -> tuple[UserRow, str] | None:
    """The active user and CSRF token behind a session cookie, or None."""
    h = cdb.hq
    s = h.HqSession.get_or_none(h.HqSession.token_hash == digest(cookie))
    if s is None or s.expires_at < utcnow():
        return None
    user = h.HqUser.get_or_none(h.HqUser.id == s.user_id)
    if user is None or not user.active:
        return None
    return _row(user), str(s.csrf)


def create_token(cdb: CloudDB, user_id: int, name: str, created_by: str) -> tuple[int, str]:
    """Create an API token for a user; return (token id, the token, shown this once only)."""
    if not 1 <= len(name) <= 100:
        raise AccessError("token name: 1-100 characters")
    if get_user(cdb, user_id) is None:
        raise AccessError("no user with id %(user)s", user=user_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = cdb.hq.ApiToken.create(
        user_id=user_id,
        name=name,
        token_hash=digest(token),
        prefix=token[:12],
        created_at=utcnow(),
        created_by=created_by,
    )
    return int(row.id), token


def revoke_token(cdb: CloudDB, token_id: int) -> bool:
    """Revoke a token; False if there is no such token or it was already revoked."""
    t = cdb.hq.ApiToken
    return bool(
        t.update(revoked_at=utcnow()).where((t.id == token_id) & (t.revoked_at.is_null())).execute()
    )


def token_user(cdb: CloudDB, token: str) -> UserRow | None:
    """The active user behind a bearer token that is not revoked, or None."""
    h = cdb.hq
    t = h.ApiToken.get_or_none(h.ApiToken.token_hash == digest(token))
    if t is None or t.revoked_at is not None:
        return None
    user = h.HqUser.get_or_none(h.HqUser.id == t.user_id)
    if user is None or not user.active:
        return None
    return _row(user)


def list_tokens(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every token (never the secret), newest first, with its owner."""
    h = cdb.hq
    names = {u.id: u.username for u in h.HqUser.select(h.HqUser.id, h.HqUser.username)}
    return [
        {
            "id": t.id,
            "name": t.name,
            "user_id": t.user_id,
            "username": names.get(t.user_id, ""),
            "prefix": t.prefix,
            "created_at": t.created_at,
            "created_by": t.created_by,
            "revoked_at": t.revoked_at,
        }
        for t in h.ApiToken.select().order_by(h.ApiToken.id.desc())
    ]
