"""HTTP routes that are not pages: the CA certificate (PEM, and DER for the AIA
pointer), its CRL, its OCSP responder and its CPS (public by nature: PDF validators
fetch them from the URLs written in every certificate), and signed record PDFs
behind single-use tickets issued by the app (``services.file_tickets``).

``api`` is the app's ``api_transformer``: Reflex mounts its whole backend inside it,
so its middleware puts the security headers on every response (see
``his_portal.security_headers``).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.ocsp import OCSPResponseStatus
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from his_portal import db, deps, routes
from his_portal.security_headers import SecurityHeaders, security_headers
from his_portal.services import file_tickets
from his_portal.services.pki import authority as pki
from his_portal.services.pki import certificates, ocsp, profile
from his_portal.services.signing.public_limits import WINDOW_SECONDS, SlidingWindow
from his_portal.settings import get_settings
from his_portal.upload_guard import UploadGuard, client_address

#: OCSP answers one address may get per window. Each costs an RSA signature and a
#: few reads; a validator asks about a certificate or two per document.
OCSP_PER_WINDOW = 600
ocsp_limiter = SlidingWindow(OCSP_PER_WINDOW, WINDOW_SECONDS)


def crl(_request: Request) -> Response:
    try:
        with db.session() as session:
            der = certificates.crl_der(session=session, kek=deps.kek())
    except pki.PkiError as exc:
        return PlainTextResponse(exc.message, status_code=503)
    return Response(
        der, media_type="application/pkix-crl", headers={"Cache-Control": "no-cache"}
    )


def _ca_pem() -> bytes | Response:
    """The CA certificate (PEM), or the 503 to answer while there is none."""
    try:
        with db.session() as session:
            return certificates.ca_certificate_pem(session=session)
    except pki.PkiError as exc:
        return PlainTextResponse(exc.message, status_code=503)


def ca_certificate(_request: Request) -> Response:
    pem = _ca_pem()
    if isinstance(pem, Response):
        return pem
    return Response(pem, media_type="application/x-x509-ca-cert")


def ca_certificate_der(_request: Request) -> Response:
    pem = _ca_pem()
    if isinstance(pem, Response):
        return pem
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return Response(der, media_type="application/pkix-cert")


def certification_practice(_request: Request) -> Response:
    settings = get_settings()
    text = profile.practice_statement(
        clinic_name=settings.clinic_name,
        public_url=settings.public_url,
        profile=deps.issuing_profile(),
    )
    return Response(text.encode(), media_type="text/plain; charset=utf-8")


def _ocsp_answer(request_der: bytes | None) -> bytes:
    if request_der is None:
        return ocsp.error_response(OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        with db.session() as session:
            return ocsp.respond(
                session=session, kek=deps.kek(), request_der=request_der
            )
    except pki.KekError:
        return ocsp.error_response(OCSPResponseStatus.INTERNAL_ERROR)
    except pki.PkiError:  # no CA or OCSP signer yet (before ``cli init``)
        return ocsp.error_response(OCSPResponseStatus.TRY_LATER)


async def _limited_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def ocsp_responder(request: Request) -> Response:
    """RFC 6960 A.1: a POSTed DER request, or a GET with it base64 in the path.
    Every answer is 200 application/ocsp-response, errors included (they are OCSP
    statuses: malformedRequest, unauthorized, tryLater, internalError); an address
    over its share gets tryLater without a lookup or a signature."""
    address = client_address(request.scope, dict(request.headers.raw))
    if not ocsp_limiter.allow(address):
        answer = ocsp.error_response(OCSPResponseStatus.TRY_LATER)
    else:
        if request.method == "POST":
            der = await _limited_body(request, ocsp.MAX_REQUEST_BYTES)
        else:
            der = ocsp.request_from_path(request.path_params["request"])
        answer = await run_in_threadpool(_ocsp_answer, der)
    return Response(
        answer,
        media_type="application/ocsp-response",
        headers={"Cache-Control": "no-cache"},
    )


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
        Route(routes.CA_CERT_DER, ca_certificate_der),
        Route(routes.CPS, certification_practice),
        Route(routes.OCSP, ocsp_responder, methods=["POST"]),
        Route(routes.OCSP + "/{request:path}", ocsp_responder, methods=["GET"]),
        Route(routes.SIGNED_FILES + "/{file:path}", signed_pdf),
    ],
    middleware=[
        Middleware(
            SecurityHeaders, headers=security_headers(get_settings().public_url)
        ),
        Middleware(UploadGuard),
    ],
)
