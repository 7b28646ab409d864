"""HTTP routes that are not pages: the CA certificate and its CRL (public by nature:
PDF validators fetch them from the URL written in every certificate), and signed
record PDFs behind single-use tickets issued by the app (``services.file_tickets``).

``api`` is the app's ``api_transformer``: Reflex mounts its whole backend inside it,
so its middleware puts the security headers on every response (see
``his_portal.security_headers``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from his_portal import db, deps, routes
from his_portal.security_headers import SecurityHeaders, security_headers
from his_portal.services import file_tickets
from his_portal.services.pki import authority as pki
from his_portal.services.pki import certificates
from his_portal.settings import get_settings
from his_portal.upload_guard import UploadGuard


def crl(_request: Request) -> Response:
    try:
        with db.session() as session:
            der = certificates.crl_der(session=session, kek=deps.kek())
    except pki.PkiError as exc:
        return PlainTextResponse(exc.message, status_code=503)
    return Response(
        der, media_type="application/pkix-crl", headers={"Cache-Control": "no-cache"}
    )


def ca_certificate(_request: Request) -> Response:
    try:
        with db.session() as session:
            pem = certificates.ca_certificate_pem(session=session)
    except pki.PkiError as exc:
        return PlainTextResponse(exc.message, status_code=503)
    return Response(pem, media_type="application/x-x509-ca-cert")


def signed_pdf(request: Request) -> Response:
    """A signed record PDF, shown inline; only with a live ticket from the app, which
    this request spends."""
    with db.session() as session:
        ok = file_tickets.redeem(
            session=session,
            path=request.url.path,
            query=request.query_params,
            key=deps.file_ticket_key(),
        )
    if not ok:
        return PlainTextResponse(
            "链接无效或已过期，请回到系统中重新打开", status_code=403
        )
    base = (get_settings().data_dir / "signed").resolve()
    target = (base / request.path_params["file"]).resolve()
    if base not in target.parents or not target.is_file():
        return PlainTextResponse("文件不存在", status_code=404)
    return Response(
        target.read_bytes(),
        media_type="application/pdf",
        headers={"Content-Disposition": "inline", "Cache-Control": "private, no-store"},
    )


api = Starlette(
    routes=[
        Route(routes.CRL, crl),
        Route(routes.CA_CERT, ca_certificate),
        Route(routes.SIGNED_FILES + "/{file:path}", signed_pdf),
    ],
    middleware=[
        Middleware(
            SecurityHeaders, headers=security_headers(get_settings().public_url)
        ),
        Middleware(UploadGuard),
    ],
)
