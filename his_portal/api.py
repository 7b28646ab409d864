"""HTTP routes that are not pages: the CA certificate and its CRL (public by nature:
PDF validators fetch them from the URL written in every certificate)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from his_portal import db, deps, routes
from his_portal.services import certificates, pki


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


api = Starlette(routes=[Route(routes.CRL, crl), Route(routes.CA_CERT, ca_certificate)])
