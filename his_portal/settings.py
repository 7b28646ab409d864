"""One typed settings object, read from the environment.

Every knob a deployment turns lives here, so that nothing else reads ``os.environ``.
Variables are prefixed ``HIS_``; see README.md for the list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from his_portal.errors import HisError
from his_portal.services.pki.oids import (
    DOCTOR_POLICY_OID,
    TSA_POLICY_OID,
    is_valid_oid,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


SMS_FIELDS = (
    "access_key_id",
    "access_key_secret",
    "sign_name",
    "template_code",
    "endpoint",
)
FACE_FIELDS = ("secret_id", "secret_key", "rule_id", "endpoint", "region")


#: The clinic TSA's certificate (5 years) is re-issued this margin plus 60 days
#: before it expires (:attr:`IssuingProfile.tsa_renew_before`); a longer margin
#: would re-issue it every day.
ARCHIVE_RENEW_DAYS_MAX = 1460


class SettingsError(HisError):
    """A setting in the environment has a value we cannot use."""


def _flag(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _positive_int(raw: str, name: str, most: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, not {value}")
    if most is not None and value > most:
        raise SettingsError(f"{name} must be at most {most}, not {value}")
    return value


def _choice(raw: str, name: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return value


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"HIS_TIMEZONE is not a known time zone: {name!r}"
        ) from None
    return name


def _oid(raw: str, name: str) -> str:
    value = raw.strip()
    if not is_valid_oid(value):
        raise SettingsError(
            f"{name} must be a dotted OID such as 1.3.6.1.4.1.<PEN>.1, not {raw!r}"
        )
    return value


def _web_url(raw: str, name: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http(s) URL, not {raw!r}")
    return raw


#: Digests an ageing-algorithm list may name (asn1crypto's spellings).
AGEING_DIGESTS = (
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3_256",
    "sha3_384",
    "sha3_512",
)


def _ageing(raw: str, name: str) -> tuple[str, ...]:
    """Digest names and ``rsa<BITS`` entries, comma-separated (``SHA-1`` is read
    as ``sha1``)."""
    entries = []
    for item in raw.split(","):
        entry = item.strip().lower().replace("sha-", "sha").replace("sha3-", "sha3_")
        bits = entry.removeprefix("rsa<")
        if entry in AGEING_DIGESTS or (bits != entry and bits.isdigit()):
            entries.append(entry)
        elif entry:
            raise SettingsError(
                f"{name} entries must be digests ({', '.join(AGEING_DIGESTS)}) "
                f"or rsa<BITS, not {item.strip()!r}"
            )
    return tuple(entries)


def _policies(env: dict[str, str]) -> tuple[str, str]:
    doctor = _oid(
        env.get("HIS_CERT_POLICY_OID") or DOCTOR_POLICY_OID, "HIS_CERT_POLICY_OID"
    )
    tsa = _oid(env.get("HIS_TSA_POLICY_OID") or TSA_POLICY_OID, "HIS_TSA_POLICY_OID")
    if doctor == tsa:
        raise SettingsError(
            "HIS_CERT_POLICY_OID and HIS_TSA_POLICY_OID must differ: "
            "signing certificates and timestamps follow different policies"
        )
    return doctor, tsa


@dataclass(frozen=True)
class Settings:
    """Deployment settings.

    Attributes:
        data_dir: Private files (keys, seals, signed PDFs). Never under Reflex's public
            upload directory.
        db_url: SQLAlchemy URL; SQLite file under ``data_dir`` by default.
        redis_url: Redis URL for Reflex's state manager when several workers run;
            empty for a single process.
        kek_file: Key-encryption key file (created with mode 0600 on first start),
            kept outside the database.
        clinic_name: The clinic (分院) the portal belongs to, shown in the header.
        demo_mode: Loads demo data and enables demo-only pages.
        session_hours: How long a login session lasts.
        timezone: The clinic's time zone: days (今日, 病历时间) are counted in it.
        public_url: Where browsers and PDF validators reach the portal; the CRL
            distribution point in certificates is built from it.
        cert_valid_days: Validity of a doctor's signing certificate.
        identity_provider: ``demo`` (offline) or ``http`` (三要素 check service).
        identity_url: The HTTP identity service's endpoint.
        identity_key: Its API key.
        identity_secret: Its request-signing secret.
        seal_engine: Background removal for seal photos: ``builtin`` (ink on
            paper, no model) or ``rembg``.
        rembg_model: The rembg model: a file name in ``models_dir`` (``.onnx``).
        models_dir: Where model files are kept (never downloaded at run time).
        amend_days: 过期时间: how long after signing the signer may 撤销签名 to amend.
        sms_provider: ``demo`` (outbox page /dev/sms) or ``aliyun``.
        sms_config: The Aliyun provider's fields (``HIS_SMS_<FIELD>`` variables).
        tsa_url: An external RFC 3161 timestamp authority; empty: the clinic's own.
        face_provider: 方式2 face check: ``demo`` (simulated on the phone page),
            ``tencent`` (Tencent Cloud FaceID 慧眼 H5) or ``none`` (方式2 not offered).
        face_config: The Tencent provider's fields (``HIS_FACE_<FIELD>`` variables).
        idle_minutes: A login session ends after this long without activity.
        sign_deadline_hours: A record still unsigned this long after the visit is
            超期未签 (dashboards, notifications).
        sign_workers: Signing worker processes (the job queue's consumers).
        cert_policy_oid: The certificate policy of doctors' signing certificates.
        tsa_policy_oid: The TSA's policy (its certificate and RFC 3161 tokens).
        cps_url: The certification practice statement named in certificates.
        archive_renew_days: Archive renewal re-timestamps a signed PDF when its
            newest document timestamp's TSA certificate expires within this many
            days.
        archive_ageing_algorithms: Archive renewal also re-timestamps it when
            that timestamp uses one of these digests, or an RSA key shorter than
            an ``rsa<BITS`` entry (adding ``sha256`` here retires SHA-256).
    """

    data_dir: Path
    db_url: str
    redis_url: str
    kek_file: Path
    clinic_name: str = "上海维乐海趣路门诊"
    demo_mode: bool = True
    session_hours: int = 12
    timezone: str = "Asia/Shanghai"
    public_url: str = "http://localhost:3000"
    cert_valid_days: int = 365
    identity_provider: str = "demo"
    identity_url: str = ""
    identity_key: str = ""
    identity_secret: str = ""
    seal_engine: str = "builtin"
    rembg_model: str = ""
    models_dir: Path = PROJECT_ROOT / "data" / "models"
    amend_days: int = 7
    sms_provider: str = "demo"
    sms_config: tuple[tuple[str, str], ...] = ()
    tsa_url: str = ""
    face_provider: str = "demo"
    face_config: tuple[tuple[str, str], ...] = ()
    idle_minutes: int = 30
    sign_deadline_hours: int = 24
    sign_workers: int = 2
    cert_policy_oid: str = DOCTOR_POLICY_OID
    tsa_policy_oid: str = TSA_POLICY_OID
    cps_url: str = "http://localhost:3000/pki/cps"
    archive_renew_days: int = 365
    archive_ageing_algorithms: tuple[str, ...] = ("sha1", "rsa<2048")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (the process environment by default)."""
        env = dict(os.environ if environ is None else environ)
        settings = cls._read(env)
        check_providers(settings, env)
        return settings

    @classmethod
    def _read(cls, env: dict[str, str]) -> Settings:
        data_dir = Path(env.get("HIS_DATA_DIR") or PROJECT_ROOT / "data").resolve()
        db_url = env.get("HIS_DB_URL") or f"sqlite:///{data_dir / 'his_portal.db'}"
        kek_file = Path(env.get("HIS_KEK_FILE") or data_dir / "secrets" / "kek.bin")
        public_url = (env.get("HIS_PUBLIC_URL") or cls.public_url).rstrip("/")
        cert_policy_oid, tsa_policy_oid = _policies(env)
        return cls(
            data_dir=data_dir,
            db_url=db_url,
            redis_url=env.get("HIS_REDIS_URL", ""),
            kek_file=kek_file.resolve(),
            clinic_name=env.get("HIS_CLINIC_NAME") or cls.clinic_name,
            demo_mode=_flag(env.get("HIS_DEMO_MODE", "true"), "HIS_DEMO_MODE"),
            session_hours=_positive_int(
                env.get("HIS_SESSION_HOURS", "12"), "HIS_SESSION_HOURS"
            ),
            timezone=_zone(env.get("HIS_TIMEZONE") or cls.timezone),
            public_url=public_url,
            cert_valid_days=_positive_int(
                env.get("HIS_CERT_VALID_DAYS", "365"), "HIS_CERT_VALID_DAYS"
            ),
            identity_provider=_choice(
                env.get("HIS_IDENTITY_PROVIDER", "demo"),
                "HIS_IDENTITY_PROVIDER",
                ("demo", "http"),
            ),
            identity_url=env.get("HIS_IDENTITY_URL", ""),
            identity_key=env.get("HIS_IDENTITY_KEY", ""),
            identity_secret=env.get("HIS_IDENTITY_SECRET", ""),
            seal_engine=_choice(
                env.get("HIS_SEAL_ENGINE", "builtin"),
                "HIS_SEAL_ENGINE",
                ("builtin", "rembg"),
            ),
            rembg_model=env.get("HIS_REMBG_MODEL", ""),
            sms_provider=_choice(
                env.get("HIS_SMS_PROVIDER", "demo"),
                "HIS_SMS_PROVIDER",
                ("demo", "aliyun"),
            ),
            sms_config=tuple(
                (field, env[f"HIS_SMS_{field.upper()}"])
                for field in SMS_FIELDS
                if env.get(f"HIS_SMS_{field.upper()}")
            ),
            tsa_url=env.get("HIS_TSA_URL", ""),
            face_provider=_choice(
                env.get("HIS_FACE_PROVIDER", "demo"),
                "HIS_FACE_PROVIDER",
                ("demo", "tencent", "none"),
            ),
            face_config=tuple(
                (field, env[f"HIS_FACE_{field.upper()}"])
                for field in FACE_FIELDS
                if env.get(f"HIS_FACE_{field.upper()}")
            ),
            idle_minutes=_positive_int(
                env.get("HIS_IDLE_MINUTES", "30"), "HIS_IDLE_MINUTES"
            ),
            amend_days=_positive_int(env.get("HIS_AMEND_DAYS", "7"), "HIS_AMEND_DAYS"),
            sign_workers=_positive_int(
                env.get("HIS_SIGN_WORKERS") or str(os.cpu_count() or 1),
                "HIS_SIGN_WORKERS",
            ),
            sign_deadline_hours=_positive_int(
                env.get("HIS_SIGN_DEADLINE_HOURS", "24"), "HIS_SIGN_DEADLINE_HOURS"
            ),
            models_dir=Path(env.get("HIS_MODELS_DIR") or data_dir / "models").resolve(),
            cert_policy_oid=cert_policy_oid,
            tsa_policy_oid=tsa_policy_oid,
            cps_url=_web_url(
                env.get("HIS_CPS_URL") or public_url + "/pki/cps", "HIS_CPS_URL"
            ),
            archive_renew_days=_positive_int(
                env.get("HIS_ARCHIVE_RENEW_DAYS", "365"),
                "HIS_ARCHIVE_RENEW_DAYS",
                most=ARCHIVE_RENEW_DAYS_MAX,
            ),
            archive_ageing_algorithms=_ageing(
                env.get("HIS_ARCHIVE_AGEING_ALGORITHMS", "sha1,rsa<2048"),
                "HIS_ARCHIVE_AGEING_ALGORITHMS",
            ),
        )


_REQUIRED = {
    ("HIS_SMS_PROVIDER", "aliyun"): tuple(
        f"HIS_SMS_{name.upper()}" for name in SMS_FIELDS if name != "endpoint"
    ),
    ("HIS_IDENTITY_PROVIDER", "http"): (
        "HIS_IDENTITY_URL",
        "HIS_IDENTITY_KEY",
        "HIS_IDENTITY_SECRET",
    ),
    ("HIS_FACE_PROVIDER", "tencent"): (
        "HIS_FACE_SECRET_ID",
        "HIS_FACE_SECRET_KEY",
        "HIS_FACE_RULE_ID",
    ),
}


def check_providers(settings: Settings, env: dict[str, str]) -> None:
    """Outside demo mode no demo provider may run, and real ones need their config.

    Raises:
        SettingsError: One line naming the setting to fix.
    """
    chosen = {
        "HIS_IDENTITY_PROVIDER": settings.identity_provider,
        "HIS_SMS_PROVIDER": settings.sms_provider,
        "HIS_FACE_PROVIDER": settings.face_provider,
    }
    if not settings.demo_mode:
        demo = [name for name, kind in chosen.items() if kind == "demo"]
        if demo:
            raise SettingsError(
                "HIS_DEMO_MODE=false but "
                + ", ".join(f"{name}=demo" for name in demo)
                + ": configure a real provider (see README, 生产部署)"
            )
    for name, kind in chosen.items():
        missing = [v for v in _REQUIRED.get((name, kind), ()) if not env.get(v)]
        if missing:
            raise SettingsError(f"{name}={kind} needs {', '.join(missing)}")


def allowed_origins(public_url: str) -> list[str]:
    """The browser origins the app accepts: the public URL's, and on this machine
    both spellings of loopback (``localhost`` and ``127.0.0.1``)."""
    parts = urlsplit(public_url)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    port = f":{parts.port}" if parts.port else ""
    if parts.hostname in ("localhost", "127.0.0.1"):
        for host in ("localhost", "127.0.0.1"):
            origin = f"{parts.scheme}://{host}{port}"
            if origin not in origins:
                origins.append(origin)
    return origins


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings.from_env()


def clinic_zone() -> ZoneInfo:
    """The clinic's time zone."""
    return ZoneInfo(get_settings().timezone)
