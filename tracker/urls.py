"""Store locations that are server URLs (``postgresql://``, ``postgres://``) and their printable
form: every place a URL is shown (errors, ``tracker ls``, the app's title, warnings, exceptions)
shows it with the password replaced by ``***``.

The URL itself goes to libpq unchanged, so libpq's usual ways work: ``PGPASSWORD``, ``~/.pgpass``,
``sslmode=`` and other parameters in the query string, several hosts, a unix socket directory as
``host=``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SCHEMES = ("postgresql://", "postgres://")
MASK = "***"

# The user info of a URL inside free text (an error message): from the ':' after the user name
# to the last '@' on the line before the next URL, so a password holding a quote, a space or an
# '@' (unescaped) is masked whole.
_USERINFO_IN_TEXT = re.compile(
    r"(postgres(?:ql)?://[^\s:/@?#]*:)(?:(?!postgres(?:ql)?://)[^\n])*@", re.IGNORECASE
)
# password=... in a URL's query string or in a libpq key=value string (quoted or not).
_PASSWORD_PARAM = re.compile(
    r"(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&#]*)", re.IGNORECASE
)


def is_server_url(location: object) -> bool:
    """Whether a store location names a PostgreSQL server (a path or anything else does not)."""
    return isinstance(location, str) and location[:13].lower().startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL with its password (``user:password@`` and ``password=`` parameters) masked."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL's and conninfo's password masked."""
    text = _USERINFO_IN_TEXT.sub(lambda m: m.group(1) + MASK + "@", text)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, text)


def without_password(url: str) -> str:
    """The URL with no password at all (for a command to copy: libpq then takes the password
    from PGPASSWORD or ~/.pgpass)."""
    text = redact(url).replace(":" + MASK + "@", "@")
    text = re.sub(r"(?<=[?&])(?:ssl)?password=\*\*\*(?:&|$)", "", text, flags=re.IGNORECASE)
    return text.rstrip("?&")


def display(location: str | os.PathLike[str]) -> str:
    """A store location as it may be printed: a URL redacted, a path as given."""
    text = os.fspath(location)
    return redact(text) if is_server_url(text) else text


@dataclass(frozen=True)
class ServerURL:
    """A server location whose ``str`` and ``repr`` never show the password; ``conninfo`` is the
    URL for the driver (never print it)."""

    conninfo: str = field(repr=False)

    def __post_init__(self) -> None:
        if not is_server_url(self.conninfo):
            raise ValueError(f"not a postgresql:// URL: {redact_text(self.conninfo)}")
        scheme, sep, rest = self.conninfo.partition("://")
        if scheme != scheme.lower():  # libpq takes the scheme in lower case only
            object.__setattr__(self, "conninfo", scheme.lower() + sep + rest)

    def __str__(self) -> str:
        return redact(self.conninfo)

    def __repr__(self) -> str:
        return f"ServerURL({redact(self.conninfo)!r})"

    def __fspath__(self) -> str:
        """The URL itself, for ``open_backend`` (which takes a path or a URL); never print it."""
        return self.conninfo

    def hide(self, text: str) -> str:
        """``text`` (a driver's message, which may quote part of the URL) with this URL's
        password masked wherever it appears, as written or percent-decoded, and every URL's."""
        for secret in sorted(self._passwords(), key=len, reverse=True):
            text = text.replace(secret, MASK)
        return redact_text(text)

    def _passwords(self) -> set[str]:
        from urllib.parse import unquote

        rest = self.conninfo.partition("://")[2]
        found = set()
        user = re.match(r"[^:/@?#]*:", rest)  # user:password@ (the password may hold '@' or '?')
        if user and "@" in rest[user.end():]:
            tail = rest[user.end():]
            found |= {tail[: tail.find("@")], tail[: tail.rfind("@")]}
        found.update(m.group(2).strip("'") for m in _PASSWORD_PARAM.finditer(rest))
        return {form for raw in found if raw for form in (raw, unquote(raw)) if form}

    # The few Path-like parts the callers of a store location use (the app's title, whether a
    # store is there yet): a server location always is.
    @property
    def name(self) -> str:
        return self.short

    def exists(self) -> bool:
        return True

    def local_folder(self, suffix: str) -> Path:
        """A folder on this host for what belongs to this server store (spill files):
        $TRACKER_HOME, else ~/.cache/tracker, named after the redacted URL."""
        base = Path(os.environ.get("TRACKER_HOME") or Path.home() / ".cache" / "tracker")
        digest = hashlib.sha256(str(self).encode()).hexdigest()[:12]
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.short)[:60]
        return base / f"{safe}-{digest}{suffix}"

    @property
    def short(self) -> str:
        """database@host for a title bar (no user, no password, no parameters)."""
        rest = self.conninfo.partition("://")[2]
        query_at = rest.find("?")
        before_query = rest if query_at < 0 else rest[:query_at]
        at = before_query.rfind("@")
        hostpart = before_query[at + 1 :] if at >= 0 else before_query
        host, _, db = hostpart.partition("/")
        if not host:
            match = re.search(r"(?:^|[?&])host=([^&#]*)", rest[query_at + 1 :] if query_at >= 0 else "")
            host = match.group(1) if match else "localhost"
        from urllib.parse import unquote

        return f"{unquote(db) or '(default)'}@{unquote(host)}"
