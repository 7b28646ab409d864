"""Fixtures for service tests that need the clinic CA."""

from __future__ import annotations

import pytest
from sqlmodel import Session, SQLModel, create_engine

from his_portal.services.pki import certificates
from tests.conftest import NOW
from tests.services.identity.identity_helpers import CRL_URL, KEK
from tests.services.willingness.willingness_helpers import prepare, prepared_clinic


@pytest.fixture
def clinic(demo):
    """The demo clinic with its CA and timestamp authority."""
    assert certificates.ensure_authority(
        session=demo,
        kek=KEK,
        clinic_name="上海维乐海趣路门诊",
        crl_url=CRL_URL,
        now=NOW,
    )
    demo.commit()
    return demo


@pytest.fixture
def db(clinic):
    """The clinic with 郑程 verified and 电子签名 on (willingness tests)."""
    prepare(clinic)
    return clinic


@pytest.fixture
def file_engine(tmp_path):
    """The prepared clinic in a database file: each thread's session has its own
    connection, as the workers' and web workers' sessions do (race tests)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'race.db'}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        prepared_clinic(session, records=10)
    yield engine
    engine.dispose()
