"""个人中心 handlers: save with per-field errors, verify, revoke, manual review."""

from __future__ import annotations

import asyncio
import base64
import threading

import pytest
from sqlmodel import Session, select

from his_portal import db, routes
from his_portal.adapters.identity_check import DEMO_WANG_ID
from his_portal.models import DoctorProfile, User
from his_portal.pages.admin import AdminState
from his_portal.pages.profile import ProfileState
from his_portal.services.identity import verification
from tests.conftest import token_for
from tests.state.test_states import make, spy_threads

pytestmark = pytest.mark.usefixtures("app_db")


def fill(state: ProfileState, **values: str) -> None:
    for key, value in values.items():
        state.set_field(key, value)


def wang() -> ProfileState:
    state = make(ProfileState, token=token_for("sh-wangli@8112"), path=routes.PROFILE)
    state.on_load()
    return state


def test_profile_journey_save_verify_revoke(monkeypatch):
    threads = spy_threads(monkeypatch, verification, "verify")
    state = wang()
    assert state.form["name"] == "王莉" and state.status == "unverified"
    assert not state.complete
    fill(state, id_number="310104199002152223", mobile="1380013800", email="x@")
    state.save({})
    assert set(state.errors) == {"id_number", "mobile", "email"}
    assert state.failure == "个人信息有误，请按提示修改"
    fill(
        state, id_number=DEMO_WANG_ID, mobile="13800138001", email="wangli@example.com"
    )
    assert "id_number" not in state.errors  # cleared while typing
    state.save({})
    assert state.errors == {} and state.notice == "已保存"
    assert state.id_masked == "3101**********2222" and state.form["id_number"] == ""
    assert state.complete

    asyncio.run(state.verify())
    assert state.status == "verified" and state.status_label == "通过"
    assert state.notice == "实名认证通过，数字证书已签发"
    # The provider call and the key generation ran off the event loop.
    assert threads and threading.main_thread() not in threads
    assert (
        state.cert["subject"].startswith("UID=user-")
        and "王莉" in state.cert["subject"]
    )
    assert DEMO_WANG_ID not in str(state.cert)
    download = {k._js_expr: v for k, v in state.download_certificate().args}
    assert download["filename"]._var_value == "sh-wangli@8112.crt"
    prefix, payload = download["url"]._var_value.split(",", 1)
    assert prefix == "data:text/plain;base64"
    assert base64.b64decode(payload).startswith(b"-----BEGIN CERTIFICATE-----")

    state.revoke()
    assert state.status == "unverified" and state.cert == {}
    assert state.notice == "已解除实名认证，数字证书已吊销"


def test_manual_review_through_the_admin_page():
    state = wang()
    fill(state, id_number=DEMO_WANG_ID, mobile="13800138001")
    state.save({})
    state.request_review()
    assert state.status == "pending_review"
    admin = make(AdminState, token=token_for("sh-admin@8112"), path=routes.ADMIN)
    admin.on_load()
    [review] = admin.reviews
    assert review["login_id"] == "sh-wangli@8112" and review["id_number"].startswith(
        "3101"
    )
    admin.decide(int(review["id"]), True)
    assert admin.reviews == []
    state.on_load()
    assert state.status == "verified" and state.verified_via == "manual:sh-admin@8112"
    state.revoke()


def test_a_manager_cannot_use_the_doctor_handlers():
    state = make(ProfileState, token=token_for("sh-manager@8112"), path=routes.PROFILE)
    state.on_load()
    state.set_field("name", "陈静")
    state.set_field("id_number", DEMO_WANG_ID)
    state.set_field("mobile", "13800138009")
    assert state.save({}) is not None  # the guard's redirect
    assert asyncio.run(state.verify()) is not None
    with Session(db.get_engine()) as session:
        manager = session.exec(
            select(User).where(User.login_id == "sh-manager@8112")
        ).one()
        profile = session.exec(
            select(DoctorProfile).where(DoctorProfile.user_id == manager.id)
        ).first()
    assert profile is None


def test_a_doctor_cannot_decide_reviews():
    admin = make(AdminState, token=token_for("sh-feihuan@8112"), path=routes.ADMIN)
    assert admin.decide(1, True) is not None
    assert admin.reviews == []
