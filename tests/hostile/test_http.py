"""Every HTTP route that is not a page, attacked: the app's own routes (``/pki/*``,
signed PDFs behind tickets) enumerated from ``his_portal.api``, Reflex's endpoints
(``/ping``, ``/_health``, ``/_all_routes``, ``/_upload`` …) from
``reflex_base.constants.Endpoint``.

A request is **refused** when it is not answered 2xx. It **leaks** when a 2xx body
is a private file the requester may not have (every request here is anonymous, but
for the first use of a ticket the victim's own tab asked for), or carries a canary;
any 5xx except the CA's deliberate 503 is a finding too, as is a request the server
does not answer, and any change to the database (outside the ignored tables and the
ticket table, which redeeming a ticket updates) or to a private file.

Tickets are taken from the app (查看 in the victim's and the attacker's tabs) and
then replayed, tampered with (each query parameter changed, emptied, dropped; an
``exp`` moved into the past where the format has one), moved to another path and to
another user's file; paths are tried with ``..``, ``%2f``, encoded NUL, absolute
paths and 100 KB names; bodies with wrong content types and 12 MB.
"""

from __future__ import annotations

import io
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.handler_list import app_handlers
from tests.hostile.harness import Campaign
from tests.hostile.http_run import HUGE_NAME, HttpRun, ticket_ttl, ticket_variants
from tests.hostile.leaks import Caller
from tests.hostile.snapshots import db_diff, db_snapshot, file_changes, file_snapshot
from tests.hostile.world import signature_png, states, ticket_url

# Longest wait for the world's ticket to expire (the app's TTL, read from it).
MAX_TICKET_WAIT = 90


def test_http_routes(world, hostile_app):
    from his_portal.api import api

    campaign = Campaign(world)
    base = hostile_app.base_url
    anonymous = Caller("an anonymous HTTP client", "anonymous", None, None)  # type: ignore[arg-type]
    attacker = Caller(
        f"doctor {world.attacker.person.login_id}",
        "doctor",
        world.attacker.user_id,
        world.attacker.client,
    )
    before_db, before_files = db_snapshot(world.db), dict(campaign.files)
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        run = HttpRun(campaign, client, anonymous)
        for actor in (world.victim, world.attacker):
            run.owners[actor.user_id] = Caller(
                actor.person.login_id, "doctor", actor.user_id, actor.client
            )
        app_routes = sorted(getattr(route, "path", "") for route in api.routes)
        assert app_routes, "his_portal.api has no routes"

        # --- signed PDFs behind tickets ---------------------------------------------
        victim, attacker_actor = world.victim, world.attacker
        v1 = ticket_url(victim, world.victim_signed[0])
        v2 = ticket_url(victim, world.victim_signed[1])
        mine = ticket_url(attacker_actor, world.attacker_signed[0])
        run.request(
            "victim's ticket, first use by its holder",
            "GET",
            v1,
            owner_ok=victim.user_id,
        )
        run.request("victim's ticket replayed", "GET", v1, expect_refused=True)
        v1 = ticket_url(victim, world.victim_signed[0])
        v1_path, v1_query = urlsplit(v1).path, urlsplit(v1).query
        v2_path = urlsplit(v2).path
        mine_query = urlsplit(mine).query
        for label, url in ticket_variants(v1):
            run.request(f"victim's ticket, {label}", "GET", url, expect_refused=True)
        run.request(
            "victim's ticket on the victim's other file",
            "GET",
            f"{v2_path}?{v1_query}",
            expect_refused=True,
        )
        run.request(
            "attacker's own ticket on the victim's file",
            "GET",
            f"{v1_path}?{mine_query}",
            expect_refused=True,
        )
        signed_root = v1_path.rsplit("/", 2)[0]  # /files/signed
        victim_file = v1_path[len(signed_root) + 1 :]
        tricks = [
            f"{signed_root}/{world.attacker_signed[0]}/../{victim_file}",
            f"{signed_root}/..%2f..%2fsecrets%2fkek.bin",
            f"{signed_root}/%2e%2e/%2e%2e/secrets/kek.bin",
            f"{signed_root}/..%252f..%252fsecrets%252fkek.bin",
            f"{signed_root}/{victim_file}%00.pdf",
            f"{signed_root}/%00",
            f"{signed_root}//etc/passwd",
            f"{signed_root}/%2Fetc%2Fpasswd",
            f"{signed_root}/{(world.data_dir / 'secrets' / 'kek.bin').as_posix()}",
            f"{signed_root}/{HUGE_NAME}",
            f"{signed_root}/",
        ]
        for url in tricks:
            run.request("path trick", "GET", f"{url}?{mine_query}", expect_refused=True)
            run.request("path trick, no ticket", "GET", url, expect_refused=True)
        run.request(
            "POST 12 MB to a signed file",
            "POST",
            v1,
            content=b"x" * (12 * 1024 * 1024),
            expect_refused=True,
        )
        # The attacker's ticket is spent by now (or still valid: own file, allowed).
        run.request(
            "attacker's ticket on the attacker's file",
            "GET",
            mine,
            owner_ok=attacker_actor.user_id,
        )

        # --- the app's other routes and Reflex's endpoints -------------------------
        from reflex_base.constants import Endpoint

        others = [p for p in app_routes if "{" not in p]
        endpoints = [str(e) for e in Endpoint if e is not Endpoint.EVENT]
        for path in [*others, *endpoints]:
            for method in ("GET", "POST", "PUT", "DELETE"):
                run.request(f"{path} {method}", method, path, content=b"{}")
            run.request(f"{path} junk query", "GET", f"{path}?{'q=' + '%00' * 1000}")
            run.request(
                f"{path} traversal",
                "GET",
                f"{path}/..%2f..%2fsecrets%2fkek.bin",
            )
            run.request(f"{path} 60 KB path", "GET", f"{path}/{HUGE_NAME}")
        # The OCSP responder's GET form takes the request in the path: public
        # answers (OCSP statuses, 200) that must change nothing and leak nothing.
        for label, tail in (
            ("junk", "bm90IGFuIE9DU1AgcmVxdWVzdA=="),
            ("traversal", "..%2f..%2fsecrets%2fkek.bin"),
            ("60 KB", HUGE_NAME),
            ("NUL", "%00"),
        ):
            run.request(f"OCSP GET {label}", "GET", f"/pki/ocsp/{tail}")
        run.request(
            "OCSP POST 12 MB",
            "POST",
            "/pki/ocsp",
            content=b"0" * (12 * 1024 * 1024),
            headers={"content-type": "application/ocsp-request"},
        )
        run.request("/_event junk", "GET", "/_event/?EIO=4&transport=polling")
        run.request("/_event POST junk", "POST", "/_event/", content=b"\x00" * 1000)

        # --- uploads ----------------------------------------------------------------
        upload_handlers = [
            h.name
            for h in app_handlers()[0]
            if any("UploadFile" in str(ann) for _, ann, _ in h.params)
        ]
        assert upload_handlers, "no upload handler found in the app"
        _, _, sign_flow, _ = states()
        png = signature_png()
        own_tab = world.attacker.client.client_token
        stranger = str(uuid.uuid4())
        other_handlers = [
            f"{sign_flow.get_full_name()}.begin",
            *(
                f"{sign_flow.get_full_name()}.{n}"
                for n, h in sign_flow.event_handlers.items()
                if h.is_background
            ),
            "no.such.handler",
        ]

        def upload(label, token, name, files=None, **kwargs):
            headers = {}
            if token is not None:
                headers["reflex-client-token"] = token
            if name is not None:
                headers["reflex-event-handler"] = name
            headers.update(kwargs.pop("headers", {}))
            run.request(
                label,
                "POST",
                "/_upload",
                headers=headers,
                files=files,
                caller=attacker if token == own_tab else anonymous,
                **kwargs,
            )

        upload("upload without headers", None, None, files={"files": ("a.png", png)})
        for name in upload_handlers:
            upload(
                "upload to one's own tab",
                own_tab,
                name,
                files={"files": ("seal.png", png, "image/png")},
            )
            upload(
                "upload into a tab that is nobody's (as someone else)",
                stranger,
                name,
                files={"files": ("seal.png", png, "image/png")},
            )
            upload(
                "upload named ../../secrets/kek.bin",
                own_tab,
                name,
                files={"files": ("../../secrets/kek.bin", png, "image/png")},
            )
            upload(
                "upload 12 MB",
                own_tab,
                name,
                files={
                    "files": ("big.png", io.BytesIO(b"\x89PNG" + b"0" * (12 << 20)))
                },
            )
            upload(
                "upload text/plain",
                own_tab,
                name,
                content=b"hello",
                headers={"content-type": "text/plain"},
            )
            upload(
                "upload JSON",
                own_tab,
                name,
                content=b'{"files": []}',
                headers={"content-type": "application/json"},
            )
            upload(
                "upload multipart without boundary",
                own_tab,
                name,
                content=b"--x\r\n",
                headers={"content-type": "multipart/form-data"},
            )
            upload(
                "upload with a bad args field",
                own_tab,
                name,
                files={"files": ("a.png", png)},
                data={"__reflex_upload_args": "[1,2"},
            )
        for name in other_handlers:
            upload(
                f"upload to a handler that takes no files ({name.rsplit('.', 1)[-1]})",
                own_tab,
                name,
                files={"files": ("a.png", png, "image/png")},
            )
        for trick in (
            "/_upload/..%2f..%2fhis_portal%2fsettings.py",
            "/_upload/%2e%2e/%2e%2e/etc/passwd",
            "/_upload/../../rxconfig.py",
            f"/_upload/..%2f..%2f{world.data_dir.name}%2fhis_portal.db",
        ):
            run.request("uploaded-files path trick", "GET", trick)

        # --- an expired ticket: the world's, issued at build time, never used ------
        ttl = ticket_ttl()
        wait = world.victim_ticket_at + ttl + 2 - time.time()
        if wait <= MAX_TICKET_WAIT:
            time.sleep(max(wait, 0))
            run.request(
                f"victim's ticket {ttl:.0f} s past its life",
                "GET",
                world.victim_ticket_url,
                expect_refused=True,
            )
        else:
            print(f"(expired ticket not tried: its life, {ttl:.0f} s, is too long)")

    # --- nothing changed that may not -------------------------------------------------
    after_db = db_snapshot(world.db)
    for change in db_diff(before_db, after_db):
        if change.table != "fileticket":
            run.findings.append(
                f"- HTTP requests changed the database: {change.describe()}"
            )
            run.leaked += 1
    for rel, how in file_changes(before_files, file_snapshot(world.data_dir)):
        run.findings.append(f"- HTTP requests: private file {rel} {how}")
        run.leaked += 1
    summary = (
        f"hostile http: {run.tried} requests tried, {run.refused} refused, "
        f"{run.leaked} leaked"
    )
    print("\n" + summary)
    if run.findings:
        pytest.fail(summary + "\n" + "\n".join(run.findings), pytrace=False)
