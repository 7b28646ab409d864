"""The B-LTA update written directly (lta_update): what it holds is what pyHanko's
writer holds for the same material, it keeps the file's identity, and a file it is
not made for, or a failing TSA, gives a clear error and no file. (That the result
validates — pyHanko with difference analysis, its CLI, pdfsig, OpenSSL — is in
test_ltv.py, test_pyhanko_cli.py and test_doc_timestamp_openssl.py, whose records
are signed through this writer.)"""

from __future__ import annotations

import io
import re

import pytest
from asn1crypto import pem
from pyhanko.pdf_utils.reader import PdfFileReader

from his_portal.adapters.tsa_client import TsaProviderError
from his_portal.services.signing.lta_update import append_dss_and_timestamp
from his_portal.services.signing.ltv import (
    ValidationMaterial,
    add_long_term_validation,
    signature_contents,
)
from his_portal.services.signing.pades import SigningError, TimestampError
from tests.services.signing.test_ltv import (  # noqa: F401 (fixture)
    archived,
    signed_revision,
)
from tests.services.signing.test_record_signing import T, ready  # noqa: F401
from tests.services.signing.test_verification import pinned_kit


@pytest.fixture
def bt(archived):  # noqa: F811
    """(session, what the signing gives the DSS writer, the B-T file: the signed
    record before its B-LTA update)."""
    session, pdf = archived
    kit = pinned_kit(session)
    chain = dict.fromkeys([kit.cert_pem, *kit.chain_pems, *kit.tsa_chain_pems])
    held = ValidationMaterial(
        certificates=[pem.unarmor(item)[2] for item in chain],
        crls=[kit.crl_der],
        ocsp_responses=[kit.signer_ocsp(session, T), *kit.ocsp_ders],
    )
    return session, held, signed_revision(pdf)


def ours(session, held: ValidationMaterial, pdf: bytes, tsa=None) -> bytes:
    return append_dss_and_timestamp(
        pdf,
        signature_contents=signature_contents(pdf),
        certificates=list(held.certificates),
        ocsps=list(held.ocsp_responses),
        crls=list(held.crls),
        tsa=tsa or pinned_kit(session).tsa,
    )


def dss_of(pdf: bytes) -> dict[str, object]:
    """The DSS's contents, each list as a set of DER blobs."""
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = reader.root["/DSS"]
    (key,) = dss["/VRI"].keys()
    vri = dss["/VRI"][key]

    def blobs(array):
        return {item.get_object().data for item in array}

    lists = {"certs": dss["/Certs"], "ocsps": dss["/OCSPs"], "crls": dss["/CRLs"]}
    lists |= {"vri " + name: vri[name] for name in ("/Cert", "/OCSP", "/CRL")}
    return {"vri key": key} | {name: blobs(array) for name, array in lists.items()}


def test_it_holds_what_pyhankos_writer_holds_for_the_same_material(bt):
    session, held, pdf = bt
    theirs = add_long_term_validation(pdf, material=held, tsa=pinned_kit(session).tsa)
    assert dss_of(ours(session, held, pdf)) == dss_of(theirs)


def test_the_signed_revision_and_the_file_identifier_are_kept(bt):
    session, held, pdf = bt
    done = ours(session, held, pdf)
    assert done.startswith(pdf)
    reader = PdfFileReader(io.BytesIO(done))
    assert reader.document_id == PdfFileReader(io.BytesIO(pdf)).document_id
    (stamp,) = reader.embedded_timestamp_signatures
    assert stamp.sig_object["/Type"] == "/DocTimeStamp"
    first = reader.root["/Pages"]["/Kids"][0]
    assert stamp.sig_field["/P"] == first  # on the first page, as pyHanko puts it
    assert stamp.field_name in [a.get_object()["/T"] for a in first["/Annots"]]


def test_a_file_with_a_dss_already_is_refused(bt):
    session, held, pdf = bt
    with pytest.raises(SigningError, match="文件已有长期验证数据"):
        ours(session, held, ours(session, held, pdf))


@pytest.mark.parametrize(
    "damage",
    [
        lambda pdf: pdf[:-30],  # no startxref at the end
        lambda pdf: pdf[:-60] + re.sub(rb"startxref\s+\d+", b"startxref\n7", pdf[-60:]),
        lambda pdf: b"%PDF-1.4\n%%EOF\n",
    ],
)
def test_a_file_it_is_not_made_for_is_a_signing_error(bt, damage):
    session, held, pdf = bt
    with pytest.raises(SigningError):
        ours(session, held, damage(pdf))


def test_a_failing_tsa_is_a_timestamp_error(bt):
    session, held, pdf = bt

    class Down:
        def timestamp(self, request_der: bytes) -> bytes:
            raise TsaProviderError("时间戳服务不可用")

    with pytest.raises(TimestampError, match="时间戳服务不可用"):
        ours(session, held, pdf, tsa=Down())
