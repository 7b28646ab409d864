"""Crafted arguments: the ids attackers aim at and hostile values for every
parameter, from its annotation."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from tests.hostile.handler_list import HandlerInfo
from tests.hostile.leaks import Caller
from tests.hostile.world import World

HUGE = "长x" * 25_000  # 100 KB as UTF-8
HTML = "<script>alert('hostile')</script><img src=x onerror=alert(1)>"
SQL = "' OR 1=1 --"
TRAVERSAL = "../../secrets/kek.bin"


@dataclass
class Ids:
    """Ids from the running app's database that attackers aim at."""

    victim_user: int
    victim_records_unsigned: list[int]
    victim_records_signed: list[int]
    victim_seals: list[int]
    victim_confirmations: list[int]
    victim_files: list[str]
    own_unsigned: list[int]
    own_signed: list[int]
    victim_login: str
    reviews: list[int]


def ids_from(world: World, caller: Caller) -> Ids:
    db = world.db
    victim = world.victim.user_id
    own = caller.user_id or -1
    seals = [r["id"] for r in db.rows("SELECT id FROM seal WHERE user_id = ?", victim)]
    confs = [
        r["id"]
        for r in db.rows(
            "SELECT id FROM confirmation WHERE user_id = ? ORDER BY id", victim
        )
    ]
    files = [
        r["file_name"]
        for r in db.rows(
            "SELECT d.file_name FROM signeddocument d JOIN medicalrecord m "
            "ON m.id = d.record_id WHERE m.doctor_id = ?",
            victim,
        )
    ]
    reviews = [r["id"] for r in db.rows("SELECT id FROM manualreview")] or [1]
    return Ids(
        victim_user=victim,
        victim_records_unsigned=world.unsigned(victim)[:3],
        victim_records_signed=list(world.victim_signed),
        victim_seals=seals,
        victim_confirmations=confs,
        victim_files=files,
        own_unsigned=world.unsigned(own)[:2] if caller.user_id else [],
        own_signed=list(world.attacker_signed) if own == world.attacker.user_id else [],
        victim_login=world.victim.person.login_id,
        reviews=reviews,
    )


def _unique(values: list[Any]) -> list[Any]:
    seen, out = set(), []
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def int_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            *ids.victim_records_unsigned[:1],
            *ids.victim_records_signed[:1],
            *ids.victim_seals[:1],
            *ids.victim_confirmations[:1],
            ids.victim_user,
            *ids.own_unsigned[:1],
            0,
            -1,
            2**63,
            "1",
            None,
            {"id": 1},
            [1, 2],
            1.5,
        ]
    )


def id_list_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            list(range(1, 10_001)),  # 10k ids
            ids.victim_records_unsigned[:2],
            ids.victim_records_signed[:1],
            ids.own_unsigned[:1] + ids.victim_records_unsigned[:1],
            [0, -1, 2**63],
            ["1", None],
            [],
            None,
            "1,2",
            {"0": 1},
            ids.own_unsigned[:2] or [1],
        ]
    )


def str_values(ids: Ids) -> list[Any]:
    return _unique(
        [
            "",
            HUGE,
            HTML,
            SQL,
            TRAVERSAL,
            "..%2f..%2fsecrets%2fkek.bin",
            "/etc/passwd\x00.png",
            ids.victim_login,
            *(ids.victim_files[:1]),
            "personal",
            "system",
            "qr",
            "signed",
            None,
            123,
            ["personal"],
            {"$ne": ""},
        ]
    )


def dict_values(ids: Ids) -> list[Any]:
    return [
        {},
        {"login_id": "hostile-nobody@8112", "password": SQL},
        {"login_id": {"$ne": 1}, "password": ["x"]},
        {"q": HTML, "progress": "NaN"},
        {"q": SQL, "progress": 1e308},
        {"q": HUGE},
        {"login_id": ids.victim_login, "name": HTML, "id_number": TRAVERSAL},
        None,
        ["a"],
        "form",
    ]


BOOL_VALUES = [True, False, "false", 0, None, [], {"x": 1}]
NUMBER_LIST_VALUES = [[50], [1e308], [-(10**9)], ["x"], [], None, [None], "50"]
UPLOAD_VALUES = [
    [],
    ["x"],
    [{"filename": TRAVERSAL, "data": "aGk=", "content_type": "image/png"}],
    None,
]


def values_for(annotation: Any, ids: Ids) -> list[Any]:
    """Crafted values for one parameter, from its annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for member in typing.get_args(annotation):
            if member is type(None):
                out.append(None)
            else:
                out.extend(values_for(member, ids))
        return _unique(out)
    if annotation is bool:
        return list(BOOL_VALUES)
    if annotation is int:
        return int_values(ids)
    if annotation is float:
        return [0.0, -1.0, 1e308, "1.5", None, [1.0]]
    if annotation is str:
        return str_values(ids)
    if annotation is dict or origin is dict:
        return dict_values(ids)
    if annotation is list or origin is list:
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        inner_name = getattr(inner, "__name__", str(inner))
        if "UploadFile" in inner_name:
            return list(UPLOAD_VALUES)
        if inner is int:
            return id_list_values(ids)
        if typing.get_origin(inner) in (
            typing.Union,
            types.UnionType,
        ):
            return list(NUMBER_LIST_VALUES)
        if inner is str:
            return [["personal"], [HTML], [TRAVERSAL], [], None, "x", [HUGE]]
        return list(NUMBER_LIST_VALUES)
    # Any / unannotated: a mix of everything.
    return _unique(
        [
            *int_values(ids)[:4],
            HTML,
            SQL,
            TRAVERSAL,
            HUGE,
            None,
            True,
            [],
            {},
            list(range(1, 10_001)),
        ]
    )


def plausible(annotation: Any, ids: Ids) -> Any:
    """A well-formed value for a parameter that is not the one being attacked."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        annotation = next(
            (a for a in typing.get_args(annotation) if a is not type(None)), Any
        )
        origin = typing.get_origin(annotation)
    if annotation is bool:
        return True
    if annotation is int:
        return (ids.victim_records_unsigned or [1])[0]
    if annotation is str:
        return "system"
    if annotation is dict or origin is dict:
        return {}
    if annotation is list or origin is list:
        return ids.victim_records_unsigned[:1]
    return None


def setvar_names(state: type) -> list[str]:
    """The var names ``setvar`` can reach on ``state`` (its ``set_*`` handlers) and
    some it must not."""
    names = sorted(
        n[len("set_") :] for n in state.event_handlers if n.startswith("set_")
    )
    return [*names, "token", "_original", TRAVERSAL]


def payloads(info: HandlerInfo, ids: Ids) -> list[Any]:
    """Every crafted payload for one handler (order fixed: deterministic)."""
    out: list[Any] = []
    if info.attr == "setvar":
        for var_name in setvar_names(info.state):
            for value in [ids.victim_records_unsigned[:2], HTML, None]:
                out.append({"var_name": var_name, "value": value})
        return out
    base = {name: plausible(ann, ids) for name, ann, _ in info.params}
    for name, annotation, _required in info.params:
        for value in values_for(annotation, ids):
            out.append({**base, name: value})
    out.append({})
    out.append({**base, "hostile_extra": HTML})
    out.append({**base, "self": 1})
    out.append(["not", "a", "dict"])
    return _unique(out)


def follow_up_payload(info: HandlerInfo, ids: Ids) -> dict[str, Any]:
    """Well-formed arguments for a handler called right after a primer (the primer
    put victim ids into the state; the follower uses the state): 0 for ints."""
    return {
        name: 0 if annotation is int else plausible(annotation, ids)
        for name, annotation, _ in info.params
    }
