"""Signed-file links: one path, one login session, 60 seconds, one use."""

from __future__ import annotations

import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from sqlmodel import Session, SQLModel, select
from starlette.testclient import TestClient

from his_portal import api, routes
from his_portal.db import make_engine
from his_portal.demo.data import load_demo_data
from his_portal.errors import AccessDenied
from his_portal.models import FileTicket, User, UserSession
from his_portal.services import auth, file_tickets
from his_portal.services.pki.keyvault import mac_key
from his_portal.settings import get_settings
from tests.conftest import NOW, PASSWORD
from tests.services.identity.identity_helpers import KEK

KEY = mac_key(KEK, "file-ticket")
PATH = "/files/signed/20261125_刘作榛_P120111201801313_口腔检查.pdf"
SOON = NOW + timedelta(seconds=5)


def login(session, login_id="sh-feihuan@8112", now=NOW) -> str:
    token, _ = auth.authenticate(
        session=session,
        login_id=login_id,
        password=PASSWORD,
        session_hours=12,
        ip="10.0.0.8",
        now=now,
    )
    return token


def issue(session, token, path=PATH, now=NOW, ttl=file_tickets.TTL) -> str:
    return file_tickets.issue(
        session=session, token=token, path=path, key=KEY, now=now, ttl=ttl
    )


def redeem(session, ticket: str, path=PATH, now=SOON) -> bool:
    return file_tickets.redeem(
        session=session, path=path, query=dict(parse_qsl(ticket)), key=KEY, now=now
    )


def nonce_of(ticket: str) -> str:
    return dict(parse_qsl(ticket))[file_tickets.QUERY_KEY]


def test_a_ticket_opens_its_path_once(demo):
    ticket = issue(demo, login(demo))
    assert redeem(demo, ticket)
    assert not redeem(demo, ticket)  # replayed: refused
    assert not redeem(demo, ticket, now=SOON + timedelta(seconds=1))


def test_another_path_is_refused_and_does_not_spend_the_ticket(demo):
    ticket = issue(demo, login(demo))
    assert not redeem(demo, ticket, path=PATH.replace("刘作榛", "郭少青"))
    assert not redeem(demo, ticket, path=PATH + "/")
    assert redeem(demo, ticket)


def test_a_ticket_lives_60_seconds(demo):
    token = login(demo)
    assert redeem(demo, issue(demo, token), now=NOW + timedelta(seconds=59))
    late = issue(demo, token)
    assert not redeem(demo, late, now=NOW + timedelta(seconds=60))
    assert not redeem(demo, late, now=NOW + timedelta(seconds=61))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "sig=",
        "sig=forged",
        "exp=9999999999&sig=" + "0" * 64,  # the old HMAC'd link format
        "sig=" + "A" * 500,
    ],
)
def test_a_missing_or_forged_ticket_is_refused(demo, query):
    issue(demo, login(demo))
    assert not redeem(demo, query)


def test_a_nonce_needs_the_server_key(demo):
    ticket = issue(demo, login(demo))
    other_key = mac_key(bytes(32), "file-ticket")
    query = {file_tickets.QUERY_KEY: nonce_of(ticket)}
    assert not file_tickets.redeem(
        session=demo, path=PATH, query=query, key=other_key, now=SOON
    )
    tampered = nonce_of(ticket)[:-1] + ("A" if nonce_of(ticket)[-1] != "A" else "B")
    assert not redeem(demo, f"sig={tampered}")
    assert redeem(demo, ticket)


def test_the_database_keeps_only_the_keyed_hash(demo):
    ticket = issue(demo, login(demo))
    nonce = nonce_of(ticket)
    row = demo.exec(select(FileTicket)).one()
    assert row.ticket_hash == hmac.new(KEY, nonce.encode(), hashlib.sha256).hexdigest()
    assert nonce not in str(row.model_dump())
    assert row.path == PATH and row.expires_at == NOW + timedelta(seconds=60)


def test_a_ticket_dies_with_the_session_that_asked_for_it(demo):
    first, second = login(demo), login(demo)  # the same doctor, two browsers
    ticket = issue(demo, first)
    auth.logout(session=demo, token=first)
    assert not redeem(demo, ticket)
    # The doctor's other, live session does not make the dead session's ticket good.
    assert auth.resolve_session(session=demo, token=second, now=SOON)
    assert not redeem(demo, ticket)
    assert redeem(demo, issue(demo, second))


def test_a_revoked_session_or_a_deactivated_user_spends_nothing(demo):
    token = login(demo)
    ticket = issue(demo, token)
    user_session = demo.exec(select(UserSession)).one()
    user_session.revoked_at = NOW + timedelta(seconds=1)
    demo.add(user_session)
    demo.commit()
    assert not redeem(demo, ticket)

    token = login(demo, login_id="sh-wangli@8112")
    ticket = issue(demo, token)
    user = demo.exec(select(User).where(User.login_id == "sh-wangli@8112")).one()
    user.is_active = False
    demo.add(user)
    demo.commit()
    assert not redeem(demo, ticket)


def test_an_idle_or_expired_session_spends_nothing(demo):
    ticket = issue(demo, login(demo), ttl=timedelta(hours=1))
    # Unused for 31 minutes: the session went idle (settings: 30 minutes).
    assert not redeem(demo, ticket, now=NOW + timedelta(minutes=31))

    token = login(demo)
    ticket = issue(demo, token)
    newest = demo.exec(select(UserSession).order_by(UserSession.id.desc())).first()
    newest.expires_at = NOW + timedelta(seconds=3)
    demo.add(newest)
    demo.commit()
    assert not redeem(demo, ticket, now=SOON)


def test_only_a_live_session_gets_a_ticket(demo):
    with pytest.raises(AccessDenied):
        issue(demo, "forged")
    token = login(demo)
    auth.logout(session=demo, token=token)
    with pytest.raises(AccessDenied, match="登录已失效"):
        issue(demo, token)
    assert demo.exec(select(FileTicket)).all() == []


def test_asking_again_clears_the_sessions_dead_tickets(demo):
    token = login(demo)
    issue(demo, token)
    issue(demo, token, now=NOW + timedelta(seconds=30))
    issue(demo, token, now=NOW + timedelta(seconds=61))
    expiries = [row.expires_at for row in demo.exec(select(FileTicket))]
    assert sorted(expiries) == [
        NOW + timedelta(seconds=90),
        NOW + timedelta(seconds=121),
    ]


def test_sweep_deletes_expired_tickets_of_ended_sessions_too(demo):
    first, second = login(demo), login(demo, "sh-wangli@8112")
    issue(demo, first)
    issue(demo, second, now=NOW + timedelta(minutes=5))
    auth.logout(session=demo, token=first)
    assert file_tickets.sweep(session=demo, now=NOW + timedelta(minutes=2)) == 1
    (left,) = demo.exec(select(FileTicket)).all()
    assert left.expires_at == NOW + timedelta(minutes=6)


def test_the_pdf_route_serves_a_ticket_once(demo, monkeypatch):
    """The HTTP route end to end (real clock): 200 once, then 403 with the text."""
    signed = get_settings().data_dir / "signed"
    signed.mkdir(parents=True, exist_ok=True)
    (signed / "门诊_route.pdf").write_bytes(b"%PDF-1.7 test")
    monkeypatch.setattr(api.db, "session", lambda: Session(demo.get_bind()))
    monkeypatch.setattr(api.deps, "file_ticket_key", lambda: KEY)
    token, _ = auth.authenticate(
        session=demo, login_id="sh-feihuan@8112", password=PASSWORD, session_hours=1
    )
    path = f"{routes.SIGNED_FILES}/门诊_route.pdf"
    client = TestClient(api.api)

    ticket = file_tickets.issue(session=demo, token=token, path=path, key=KEY)
    first = client.get(f"{path}?{ticket}")
    assert first.status_code == 200 and first.content == b"%PDF-1.7 test"
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["cache-control"] == "private, no-store"
    replay = client.get(f"{path}?{ticket}")
    assert replay.status_code == 403
    assert replay.text == "链接无效或已过期，请回到系统中重新打开"
    assert client.get(path).status_code == 403

    # A ticket for a path outside the signed files still opens nothing.
    outside = f"{routes.SIGNED_FILES}/../secrets/kek.bin"
    ticket = file_tickets.issue(session=demo, token=token, path=outside, key=KEY)
    escaped = f"{routes.SIGNED_FILES}/%2E%2E/secrets/kek.bin?{ticket}"
    assert client.get(escaped).status_code == 404
    ticket = file_tickets.issue(session=demo, token=token, path=path + "x", key=KEY)
    assert client.get(f"{path}x?{ticket}").status_code == 404


@pytest.fixture(params=["postgresql", "sqlite-file"])
def engine_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'tickets.db'}"


@pytest.mark.postgres
def test_two_concurrent_redeems_of_one_ticket_one_wins(engine_url, monkeypatch):
    """Both requests read the unused ticket before either writes (a barrier between
    the read and the conditional UPDATE forces it): exactly one gets the file."""
    engine = make_engine(engine_url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_demo_data(session=session, now=NOW, records=0)
        ticket = issue(session, login(session))
    both_read = threading.Barrier(2, timeout=10)
    checked = auth.session_is_live

    def live_after_both_read(*args, **kwargs):
        live = checked(*args, **kwargs)
        both_read.wait()
        return live

    monkeypatch.setattr(auth, "session_is_live", live_after_both_read)

    def attempt(_n: int) -> bool:
        with Session(engine) as session:
            return redeem(session, ticket)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(attempt, range(2)))
    assert sorted(results) == [False, True]
    with Session(engine) as session:
        assert session.exec(select(FileTicket)).one().used_at == SOON
    engine.dispose()
