"""The API against a real server process on loopback (SQLite, and PostgreSQL when given)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json

import httpx
from conftest import Server
from registry_helpers import facility, inventory, register, signed

from accord.registry.receipts import check_receipt


def _state(client: httpx.Client) -> tuple[int, int]:
    total = client.get("/v1/declarations", params={"limit": 1}).json()["total"]
    size = client.get("/healthz").json()["log_size"]
    return total, size


def _error(resp: httpx.Response, status: int, field_part: str) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert field_part in err["field"], err
    assert err["problem"]
    return err


def test_declare_receipt_and_offline_verification(server: Server) -> None:
    with server.client() as c:
        key = register(c, server.token, "lab-receipt")
        resp = c.post("/v1/declarations", json=signed(key, "facility", facility("rc-1")))
        assert resp.status_code == 201, resp.text
        receipt = resp.json()
        check = check_receipt(
            receipt["leaf"],
            receipt["leaf_index"],
            receipt["inclusion_proof"],
            receipt["checkpoint"],
            c.get("/v1/log/key").text.strip(),
        )
        assert check.valid, check
        entry = json.loads(base64.b64decode(receipt["leaf"]))
        assert entry["declaration"]["party"] == "lab-receipt"
        record = c.get(f"/v1/declarations/{receipt['leaf_index']}").json()
        assert record["signed"]["signature"] == entry["signature"]
        verdict = c.post(
            "/v1/log/verify",
            json={k: receipt[k] for k in ("leaf", "leaf_index", "inclusion_proof", "checkpoint")},
        ).json()
        assert verdict["valid"] is True
        tampered = dict(receipt)
        tampered["leaf"] = base64.b64encode(base64.b64decode(receipt["leaf"]) + b" ").decode()
        bad = c.post(
            "/v1/log/verify",
            json={k: tampered[k] for k in ("leaf", "leaf_index", "inclusion_proof", "checkpoint")},
        ).json()
        assert bad["valid"] is False


def test_refusals_name_field_and_store_nothing(server: Server) -> None:
    with server.client() as c:
        key = register(c, server.token, "lab-refuse")
        other = register(c, server.token, "lab-other")
        ok = c.post("/v1/declarations", json=signed(key, "facility", facility("rf-1")))
        assert ok.status_code == 201
        before = _state(c)
        good = signed(key, "chip_inventory", inventory("rf-1", "2026-01-01", H100=10))

        unsigned = {"declaration": good["declaration"]}
        _error(c.post("/v1/declarations", json=unsigned), 422, "signature")

        wrong = copy.deepcopy(good)
        wrong["signature"] = signed(other, "facility", facility("x"))["signature"]
        _error(c.post("/v1/declarations", json=wrong), 401, "signature")

        altered = copy.deepcopy(good)
        altered["declaration"]["body"]["chips"][0]["count"] = 11
        _error(c.post("/v1/declarations", json=altered), 401, "signature")

        impostor = signed(other, "chip_inventory", inventory("rf-1", "2026-01-01", H100=10))
        impostor["declaration"]["party"] = "lab-refuse"
        _error(c.post("/v1/declarations", json=impostor), 401, "signature")

        stale = signed(
            key, "facility", facility("rf-2"), when=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        )
        _error(c.post("/v1/declarations", json=stale), 422, "issued_at")

        big = signed(key, "facility", {**facility("rf-3"), "name": "x" * 200})
        payload = json.dumps(big) + " " * 40_000
        _error(
            c.post(
                "/v1/declarations", content=payload, headers={"content-type": "application/json"}
            ),
            413,
            "body",
        )

        invalid = signed(
            key,
            "chip_inventory",
            {
                "facility_id": "rf-1",
                "as_of": "2026-01-01",
                "chips": [{"chip": "H100", "count": -5}],
            },
        )
        _error(c.post("/v1/declarations", json=invalid), 422, "body.chips.0.count")

        unknown_chip = signed(key, "chip_inventory", inventory("rf-1", "2026-01-01", NOPE9000=1))
        _error(c.post("/v1/declarations", json=unknown_chip), 422, "body.chips.0.chip")

        same_place = signed(
            key,
            "transfer",
            {
                "transfer_id": "t",
                "role": "shipment",
                "date": "2026-01-02",
                "from_facility": "rf-1",
                "from_country": "US",
                "to_facility": "rf-1",
                "to_country": "US",
                "chips": [{"chip": "H100", "count": 1}],
            },
        )
        _error(c.post("/v1/declarations", json=same_place), 422, "body")

        wrong_country = signed(
            key,
            "transfer",
            {
                "transfer_id": "t2",
                "role": "shipment",
                "date": "2026-01-02",
                "from_facility": "rf-1",
                "from_country": "CN",
                "to_facility": "zz-1",
                "to_country": "MY",
                "chips": [{"chip": "H100", "count": 1}],
            },
        )
        _error(c.post("/v1/declarations", json=wrong_country), 422, "from_country")

        not_mine = signed(other, "chip_inventory", inventory("rf-1", "2026-01-01", H100=10))
        _error(c.post("/v1/declarations", json=not_mine), 422, "facility_id")

        dup_keys = '{"declaration": {"party": "lab-refuse", "party": "x"}, "signature": "AA=="}'
        _error(
            c.post(
                "/v1/declarations", content=dup_keys, headers={"content-type": "application/json"}
            ),
            422,
            "party",
        )

        _error(
            c.post(
                "/v1/declarations",
                content=b"\xff\xfe",
                headers={"content-type": "application/json"},
            ),
            422,
            "body",
        )

        assert _state(c) == before
        accepted = c.post("/v1/declarations", json=good)
        assert accepted.status_code == 201
        # A resend of the same signed declaration (a lost answer) gets its receipt again...
        again = c.post("/v1/declarations", json=good)
        assert again.status_code == 201, again.text
        assert again.json()["leaf_index"] == accepted.json()["leaf_index"]
        # ...while another declaration under a used nonce is a replay.
        replay = signed(
            key,
            "chip_inventory",
            inventory("rf-1", "2026-01-02", H100=11),
            nonce=good["declaration"]["nonce"],
        )
        _error(c.post("/v1/declarations", json=replay), 409, "nonce")
        total, _ = _state(c)
        assert total == before[0] + 1
    logs = server.logs()
    assert good["declaration"]["nonce"] not in logs
    assert good["signature"] not in logs
    assert server.token not in logs


def test_roles_and_tokens(server: Server) -> None:
    with server.client() as c:
        body = {"party_id": "lab-x", "name": "x", "role": "lab", "country": "US", "vkey": "x" * 20}
        _error(c.post("/v1/parties", json=body), 401, "authorization")
        resp = c.post("/v1/parties", json=body, headers={"authorization": "Bearer acc_wrong"})
        err = _error(resp, 403, "authorization")
        assert "acc_wrong" not in json.dumps(err)
        _error(c.post("/v1/accountancy/run"), 401, "authorization")
        _error(c.post("/v1/log/publish"), 401, "authorization")
        # the public reads everything in the record
        assert c.get("/v1/findings").status_code == 200
        assert c.get("/v1/parties").status_code == 200


def test_accountancy_findings_are_log_entries(server: Server) -> None:
    with server.client() as c:
        us = register(c, server.token, "cloud-acct", "US", "cloud")
        my = register(c, server.token, "cloud-my", "MY", "cloud")
        for key, body in (
            (us, facility("ac-us", "US")),
            (my, facility("ac-my", "MY")),
            (us, inventory("ac-us", "2026-01-01", B200=100)),
            (my, inventory("ac-my", "2026-01-01", B200=0)),
        ):
            assert (
                c.post(
                    "/v1/declarations",
                    json=signed(key, (body.get("name") and "facility") or "chip_inventory", body),
                ).status_code
                == 201
            )
        ship = {
            "transfer_id": "AC-1",
            "date": "2026-02-01",
            "from_facility": "ac-us",
            "from_country": "US",
            "to_facility": "ac-my",
            "to_country": "MY",
            "chips": [{"chip": "B200", "count": 60}],
            "license_ref": "L-1",
        }
        assert (
            c.post(
                "/v1/declarations", json=signed(us, "transfer", {**ship, "role": "shipment"})
            ).status_code
            == 201
        )
        assert (
            c.post(
                "/v1/declarations",
                json=signed(
                    my,
                    "transfer",
                    {**ship, "role": "receipt", "chips": [{"chip": "B200", "count": 50}]},
                ),
            ).status_code
            == 201
        )
        assert (
            c.post(
                "/v1/declarations",
                json=signed(my, "chip_inventory", inventory("ac-my", "2026-03-01", B200=40)),
            ).status_code
            == 201
        )
        new = c.post(
            "/v1/accountancy/run", headers={"authorization": f"Bearer {server.token}"}
        ).json()
        # The server's own publisher (every second here) may have run accountancy first:
        # the findings are then already on the record rather than new in this answer.
        recorded = c.get("/v1/findings", params={"limit": 500}).json()["items"]
        found = {f["key"]: f for f in [*recorded, *new]}
        assert any(k.startswith("srd:AC-1:") for k in found) and "cuf:ac-my:2026-03-01" in found
        cuf = found["cuf:ac-my:2026-03-01"]
        assert cuf["statistic"]["unaccounted_total"] == 10 and cuf["verdict"] == "inconsistent"
        entry = c.get(f"/v1/log/entries/{cuf['leaf_index']}").json()
        assert entry["entry"]["type"] == "accord.finding/v1"
        assert (
            c.post(
                "/v1/accountancy/run", headers={"authorization": f"Bearer {server.token}"}
            ).json()
            == []
        )
        countries = {b["country"]: b for b in c.get("/v1/balances/countries").json()}
        assert countries["US"]["shipped_out"] >= 60 and countries["MY"]["received_in"] >= 50


def test_checkpoint_is_cosigned(server: Server) -> None:
    with server.client() as c:
        published = c.post(
            "/v1/log/publish", headers={"authorization": f"Bearer {server.token}"}
        ).json()
        note = c.get("/v1/log/checkpoint").text
        assert note == published["checkpoint"]
        assert note.count("\u2014 ") == 3  # the log and two witnesses
        html = c.get("/log").text
        assert html.count('class="ok"') == 3
