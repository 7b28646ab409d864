"""Route constants, who may open each page, and where each role lands."""

from urllib.parse import quote

from his_portal.models import Role

LOGIN = "/login"
INDEX = "/"
WORKBENCH = "/workbench"
MANAGE = "/manage"
ADMIN = "/admin"
PROFILE = "/me"
SEARCH = "/search"
CRL = "/pki/crl"
DEV_SMS = "/dev/sms"
SIGNED_FILES = "/files/signed"
CONFIRM = "/confirm/[qr]"
CA_CERT = "/pki/ca.crt"  # PEM, for people
CA_CERT_DER = "/pki/ca.cer"  # DER, the AIA caIssuers pointer (RFC 5280 §4.2.2.1)
OCSP = "/pki/ocsp"  # POST, and GET + "/<base64 request>" (RFC 6960 A.1)
CPS = "/pki/cps"  # the certification practice statement (HIS_CPS_URL default)
VERIFY = "/verify"  # 验证: public, no login
VERIFY_RECORD = "/verify/[vid]"  # the QR code in a signed PDF's footer
SET_PASSWORD = "/set-password"
AUDIT = "/admin/audit"

PAGE_ROLES: dict[str, frozenset[Role]] = {
    WORKBENCH: frozenset({Role.DOCTOR, Role.MANAGER}),
    MANAGE: frozenset({Role.MANAGER}),
    ADMIN: frozenset({Role.ADMIN}),
    AUDIT: frozenset({Role.ADMIN}),
    PROFILE: frozenset(Role),
    SEARCH: frozenset({Role.DOCTOR, Role.MANAGER}),
}

HOME_BY_ROLE: dict[str, str] = {
    Role.DOCTOR: WORKBENCH,
    Role.MANAGER: MANAGE,
    Role.ADMIN: ADMIN,
}


def search_url(text: str) -> str:
    """The header search's result page for ``text``."""
    return f"{SEARCH}?q={quote(text)}"


#: How each role is named in the UI.
ROLE_LABELS = {"doctor": "医生", "manager": "门诊管理者", "admin": "系统管理员"}
