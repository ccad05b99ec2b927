"""Server locations: which strings select PostgreSQL, and that a password never survives
redaction in any printed form."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.urls import ServerURL, display, is_server_url, redact, redact_text


@pytest.mark.parametrize(
    "location, expected",
    [
        ("postgresql://alice@db.internal/experiments", True),
        ("postgres://alice@db/x", True),
        ("POSTGRESQL://db/x", True),
        ("./tracker.db", False),
        ("/tmp/postgresql://x", False),
        ("postgresql:/db", False),
        (Path("postgresql://x"), False),  # a Path is always a file
        ("", False),
    ],
)
def test_which_locations_are_server_urls(location: object, expected: bool) -> None:
    assert is_server_url(location) is expected


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://alice:s3cret@db/x", "postgresql://alice:***@db/x"),
        ("postgresql://alice@db/x", "postgresql://alice@db/x"),
        ("postgresql://db/x?password=s3cret&sslmode=require", "postgresql://db/x?password=***&sslmode=require"),
        ("postgres://a:p@ss/w@rd@h1:5432,h2:5433/x", "postgres://a:***@h1:5432,h2:5433/x"),
        ("postgresql://:s3cret@db/x", "postgresql://:***@db/x"),
        ("postgresql://u:s3cret@/x?host=%2Ftmp%2Fsock", "postgresql://u:***@/x?host=%2Ftmp%2Fsock"),
        ("postgresql://db/x?sslpassword=s3cret", "postgresql://db/x?sslpassword=***"),
    ],
)
def test_redact_masks_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert display(url) == shown


def test_display_leaves_paths_alone() -> None:
    assert display(Path("/data/run:s3cret@x.db")) == "/data/run:s3cret@x.db"


def test_redact_text_masks_urls_and_conninfo_inside_messages() -> None:
    text = (
        "cannot open 'postgresql://bob:hunter22@db/x': refused;"
        " conninfo host=db password='hun ter' user=bob; again postgres://u:hunter33@h/x."
    )
    out = redact_text(text)
    for secret in ("hunter22", "hun ter", "hunter33"):
        assert secret not in out
    assert "postgresql://bob:***@db/x" in out and "password=***" in out


def test_server_url_str_and_repr_hide_the_password() -> None:
    url = ServerURL("postgresql://alice:s3cret@db.internal:5433/experiments?sslmode=require")
    for shown in (str(url), repr(url), f"{url}", f"{url!r}", str([url]), url.short):
        assert "s3cret" not in shown
    assert url.conninfo.endswith("sslmode=require")
    assert url.short == "experiments@db.internal:5433"
    assert ServerURL("postgresql://u@/x?host=%2Ftmp%2Fs").short == "x@/tmp/s"
    with pytest.raises(ValueError, match=r"password=\*\*\*") as err:
        ServerURL("host=db password=s3cret")
    assert "s3cret" not in str(err.value)


_passwords = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=6, max_size=30
)


@given(password=_passwords, escaped=st.booleans(), in_query=st.booleans())
def test_no_password_survives_redaction(password: str, escaped: bool, in_query: bool) -> None:
    secret = quote(password, safe="") if escaped or in_query else password
    if in_query:
        url = f"postgresql://alice@db.internal/experiments?sslmode=require&password={secret}"
    else:
        url = f"postgresql://alice:{secret}@db.internal/experiments?sslmode=require"
    assert secret not in redact(url)
    assert secret not in str(ServerURL(url)) and secret not in repr(ServerURL(url))
    assert secret not in redact_text(f"error at {url}")
    # a driver's message may quote the password alone (libpq: 'unexpected spaces found in "..."')
    hidden = ServerURL(url).hide(f'found in "{secret}" and "{password}", at {url}')
    assert secret not in hidden and password not in hidden


def test_an_upper_case_scheme_selects_the_server_backend(pg_url: str) -> None:
    """libpq reads only a lower-case scheme: the URL goes to it in lower case."""
    from tracker.store import open_backend

    upper = "POSTGRESQL" + pg_url[len("postgresql"):]
    assert ServerURL(upper).conninfo == pg_url
    reader = open_backend(ServerURL(upper), mode="write")
    reader.close()
    reader = open_backend(upper, mode="read")  # not taken for a file name
    assert reader.runs.__self__ is reader
    reader.close()


def test_without_password_leaves_a_url_to_copy() -> None:
    from tracker.urls import without_password

    assert without_password("postgresql://al:pw@h/db?sslmode=require&password=x") == \
        "postgresql://al@h/db?sslmode=require"
    assert without_password("postgres://al@h:5/db") == "postgres://al@h:5/db"
