"""The clinic CA in the database: the authority's upkeep (TSA policy, OCSP signer),
the profile of issued certificates, and the cached CRL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp as cocsp
from cryptography.x509.oid import AuthorityInformationAccessOID as AiaOID
from cryptography.x509.oid import NameOID
from sqlmodel import delete, select

from his_portal.models import IssuerKey
from his_portal.services.pki import certificates, crl_cache, ocsp
from his_portal.services.pki.profile import person_name_attributes
from his_portal.services.pki.timestamp_authority import TimestampAuthority
from tests.services.pki.conftest import BASE, CRL_URL, KEK, PROFILE, ensure, issue


def rows(session) -> dict[str, IssuerKey]:
    return {row.purpose: row for row in session.exec(select(IssuerKey)).all()}


def cert_of(row: IssuerKey) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row.cert_pem.encode())


def policies(cert: x509.Certificate) -> list[x509.PolicyInformation]:
    return list(cert.extensions.get_extension_for_class(x509.CertificatePolicies).value)


def test_ensure_authority_is_idempotent(pki_db):
    before = {p: (r.id, r.key_id) for p, r in rows(pki_db).items()}
    assert set(before) == {"ca", "tsa", "ocsp"}
    assert not ensure(pki_db, datetime.now(UTC))
    assert {p: (r.id, r.key_id) for p, r in rows(pki_db).items()} == before


def test_an_install_without_an_ocsp_signer_gets_one_on_next_start(pki_db):
    pki_db.exec(delete(IssuerKey).where(IssuerKey.purpose == certificates.OCSP))
    pki_db.commit()
    kept = {p: r.key_id for p, r in rows(pki_db).items()}
    assert not ensure(pki_db, datetime.now(UTC))
    pki_db.commit()
    now = rows(pki_db)
    assert {p: now[p].key_id for p in kept} == kept
    assert cert_of(now["ocsp"]).extensions.get_extension_for_class(x509.OCSPNoCheck)


@pytest.mark.parametrize(
    ("purpose", "renew_before"),
    [
        # Responses never come from an expired signer.
        ("ocsp", certificates.OCSP_RENEW_BEFORE),
        # Archive renewal stamps with the clinic TSA: replaced while it still has
        # more than renewal's margin left.
        ("tsa", PROFILE.tsa_renew_before),
    ],
)
def test_the_ocsp_signer_and_the_tsa_are_renewed_before_they_are_due(
    pki_db, purpose, renew_before
):
    old = rows(pki_db)[purpose]
    expires = cert_of(old).not_valid_after_utc
    ensure(pki_db, expires - renew_before - timedelta(days=1))
    assert rows(pki_db)[purpose].key_id == old.key_id
    ensure(pki_db, expires - renew_before + timedelta(days=1))
    pki_db.commit()
    now = rows(pki_db)
    assert now[purpose].key_id != old.key_id
    assert now[f"{purpose}-{old.key_id}"[:16]].cert_pem == old.cert_pem
    assert cert_of(now[purpose]).not_valid_after_utc > expires


def test_a_new_tsa_policy_reissues_the_tsa_and_keeps_the_old_one(pki_db):
    old = rows(pki_db)["tsa"]
    assert [p.policy_identifier.dotted_string for p in policies(cert_of(old))] == [
        PROFILE.tsa_policy_oid
    ]
    own = replace(PROFILE, tsa_policy_oid="1.3.6.1.4.1.61234.3")
    ensure(pki_db, datetime.now(UTC), profile=own)
    pki_db.commit()
    now = rows(pki_db)
    tsa = cert_of(now["tsa"])
    assert [p.policy_identifier.dotted_string for p in policies(tsa)] == [
        "1.3.6.1.4.1.61234.3"
    ]
    retired = now[f"tsa-{old.key_id}"[:16]]
    assert retired.cert_pem == old.cert_pem
    # The TSA built as signing builds it names the new policy in its tokens.
    authority = certificates.load_authority(
        session=pki_db, kek=KEK, purpose=certificates.TSA
    )
    assert TimestampAuthority(
        cert_pem=authority.cert_pem, key=authority.key
    )._policy == ("1.3.6.1.4.1.61234.3")
    # Tokens the old TSA signed still check out: the responder knows it.
    ca = x509.load_pem_x509_certificate(certificates.ca_certificate_pem(session=pki_db))
    request = (
        cocsp.OCSPRequestBuilder()
        .add_certificate(cert_of(retired), ca, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = cocsp.load_der_ocsp_response(
        ocsp.respond(session=pki_db, kek=KEK, request_der=request)
    )
    assert response.certificate_status is cocsp.OCSPCertStatus.GOOD


def test_doctor_certificate_profile(pki_db):
    cert = x509.load_pem_x509_certificate(
        issue(pki_db, "sh-feihuan@8112", "郑程").cert_pem.encode()
    )
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value == x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    (policy,) = policies(cert)
    assert policy.policy_identifier.dotted_string == PROFILE.policy_oid
    assert policy.policy_qualifiers == [BASE + "/pki/cps"]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert [(a.access_method, a.access_location.value) for a in aia.value] == [
        (AiaOID.OCSP, BASE + "/pki/ocsp"),
        (AiaOID.CA_ISSUERS, BASE + "/pki/ca.cer"),
    ]
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert cdp.value[0].full_name[0].value == CRL_URL
    names = {a.oid: a.value for a in cert.subject}
    assert names[NameOID.COMMON_NAME] == "郑程"
    assert (names[NameOID.SURNAME], names[NameOID.GIVEN_NAME]) == ("郑", "程")


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("郑程", ("郑", "程")),
        ("王小明", ("王", "小明")),
        ("欧阳娜娜", ("欧阳", "娜娜")),
        ("司马光", ("司马", "光")),
        ("阿依古丽·买买提", None),
        ("John Smith", None),
        ("张", None),
    ],
)
def test_names_get_surname_and_given_name_only_when_the_split_is_certain(name, split):
    attrs = person_name_attributes(name)
    if split is None:
        assert attrs == []
    else:
        assert [(a.oid, a.value) for a in attrs] == [
            (NameOID.SURNAME, split[0]),
            (NameOID.GIVEN_NAME, split[1]),
        ]


def test_the_crl_is_cached_and_resigned_daily_or_on_revocation(pki_db, monkeypatch):
    signed = []
    real = certificates.pki.build_crl
    monkeypatch.setattr(
        certificates.pki, "build_crl", lambda **kw: signed.append(kw) or real(**kw)
    )
    now = datetime.now(UTC)
    first = certificates.crl_der(session=pki_db, kek=KEK, now=now)
    assert (
        certificates.crl_der(session=pki_db, kek=KEK, now=now + timedelta(hours=23))
        == first
    )
    assert len(signed) == 1
    crl = x509.load_der_x509_crl(first)
    assert crl.next_update_utc - crl.last_update_utc == crl_cache.NEXT_UPDATE

    doctor = issue(pki_db, "sh-feihuan@8112", "郑程")
    certificates.revoke_certificate(
        session=pki_db, cert=doctor, reason="key_compromise", now=now
    )
    pki_db.commit()
    listed = certificates.crl_der(session=pki_db, kek=KEK, now=now + timedelta(hours=1))
    assert len(signed) == 2
    entry = x509.load_der_x509_crl(listed).get_revoked_certificate_by_serial_number(
        int(doctor.serial_hex, 16)
    )
    assert entry is not None

    # A revocation in another process (no invalidation here): the revoked set read
    # on every call differs from the cached CRL's, so it is signed anew.
    monkeypatch.setattr(crl_cache, "invalidate", lambda: None)
    second = issue(pki_db, "sh-wangli@8112", "王莉")
    certificates.revoke_certificate(
        session=pki_db, cert=second, reason="superseded", now=now
    )
    pki_db.commit()
    certificates.crl_der(session=pki_db, kek=KEK, now=now + timedelta(hours=2))
    assert len(signed) == 3

    certificates.crl_der(
        session=pki_db, kek=KEK, now=now + timedelta(hours=2, minutes=1)
    )
    assert len(signed) == 3
    certificates.crl_der(session=pki_db, kek=KEK, now=now + timedelta(days=1, hours=3))
    assert len(signed) == 4
    # Asked for a time before the cached one was made: signed for that time.
    earlier = certificates.crl_der(
        session=pki_db, kek=KEK, now=now - timedelta(hours=1)
    )
    assert len(signed) == 5
    assert x509.load_der_x509_crl(earlier).last_update_utc == (
        now - timedelta(hours=1)
    ).replace(microsecond=0)
