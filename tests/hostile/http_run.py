"""The HTTP side of the hostile campaign: one request and its checks
(:class:`HttpRun`), and tampered copies of a file ticket's URL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.hostile.harness import Campaign
from tests.hostile.leaks import Caller
from tests.hostile.ownership import file_owner
from tests.hostile.snapshots import short

# httpx refuses URLs over 64 KiB; servers allow far less.
HUGE_NAME = "a" * 60_000


@dataclass
class HttpRun:
    campaign: Campaign
    client: httpx.Client
    anonymous: Caller
    tried: int = 0
    refused: int = 0
    leaked: int = 0
    findings: list[str] = field(default_factory=list)
    owners: dict[int, Caller] = field(default_factory=dict)

    def request(
        self,
        label: str,
        method: str,
        url: str,
        *,
        owner_ok: int | None = None,
        expect_refused: bool = False,
        caller: Caller | None = None,
        **kwargs,
    ) -> httpx.Response | None:
        """One request and its checks. ``owner_ok``: whose private file this request
        may legitimately get (a ticket's first use by its own holder)."""
        self.tried += 1
        found = []
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.leaked += 1
            self.findings.append(
                f"- {label}: {method} {short(url, 120)}: no answer ({exc!r})"
            )
            return None
        status = response.status_code
        body = response.content
        if status >= 500 and status != 503:
            found.append(f"server error {status}: {short(body[:200])}")
        if 200 <= status < 300:
            digest = hashlib.sha256(body).hexdigest()
            for rel, (_, _, file_digest) in self.campaign.files.items():
                if digest == file_digest:
                    owner = file_owner(rel, self.campaign.snap)
                    if owner is None or owner != owner_ok:
                        whose = "nobody's" if owner is None else f"of user {owner}"
                        found.append(f"answered 200 with private file {rel} ({whose})")
            html = "text/html" in response.headers.get("content-type", "")
            if expect_refused and not found and not html:
                found.append(f"answered {status} (must be refused)")
            text = body.decode("utf-8", "replace")
            message = {"delta": {"body": text}}
            if caller is None and owner_ok is not None:
                caller = self.owners.get(owner_ok)
            for leak in self.campaign.scan(message, caller or self.anonymous):
                found.append(leak)
        else:
            self.refused += 1
        if found:
            self.leaked += 1
            self.findings.extend(
                f"- {label}: {method} {short(url, 120)}: {what}" for what in found
            )
        return response


def ticket_ttl() -> float:
    """How long the app's file tickets live (read from the app)."""
    try:
        from his_portal.services import file_tickets
    except ImportError:  # older design: HMAC tickets with an ``exp`` parameter
        from his_portal import deps

        return float(deps.TICKET_SECONDS)
    return file_tickets.TTL.total_seconds()


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + urlencode(params) if params else "")


def ticket_variants(url: str) -> list[tuple[str, str]]:
    """(label, url) of tampered copies of a ticket URL, format-agnostic."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    out = [("no ticket", parts.path)]
    for index, (key, value) in enumerate(params):
        others = params[:index] + params[index + 1 :]
        flipped = value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
        out.append((f"{key} tampered", _with_query(url, [*others, (key, flipped)])))
        out.append((f"{key} empty", _with_query(url, [*others, (key, "")])))
        out.append((f"{key} dropped", _with_query(url, others)))
        out.append((f"{key} 60 KB", _with_query(url, [*others, (key, HUGE_NAME)])))
        if key == "exp" and value.lstrip("-").isdigit():
            past = str(int(value) - 3600)
            out.append(("exp in the past", _with_query(url, [*others, (key, past)])))
            out.append(("exp -1", _with_query(url, [*others, (key, "-1")])))
            out.append(("exp 2**70", _with_query(url, [*others, (key, str(2**70))])))
    return out
