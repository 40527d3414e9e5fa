"""The emulator checks credentials as a real folder does: API keys (`--api-key`), the folder (`--folder`),
IAM tokens exchanged for a service account's JWT (`--sa-key-file`, `--iam-token-ttl`) or handed out by
the metadata service (`--metadata`); and it records each request's non-secret headers."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization

from tests.fakes.yandex import EmulatorConfig, YandexEmulator, running_yandex_emulator
from tests.fakes.yandex.fixtures import TEST_API_KEY, TEST_FOLDER_ID, strict_config
from tests.fakes.yandex.iam import IAM_AUDIENCE, load_service_account_key, write_authorized_key
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = f"gpt://{TEST_FOLDER_ID}/yandexgpt/latest"


def client_for(
    emulator: YandexEmulator, key: str = TEST_API_KEY, folder: str = TEST_FOLDER_ID
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key=key, project=folder, max_retries=0)


def signed(key_file: Path, **overrides: Any) -> str:
    document = json.loads(key_file.read_text())
    private_pem = document["private_key"][document["private_key"].index("-----BEGIN") :]
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    now = int(time.time())
    claims = {"iss": document["service_account_id"], "aud": IAM_AUDIENCE, "iat": now, "exp": now + 600}
    headers = {"kid": overrides.pop("kid", document["id"])}
    claims.update(overrides)
    algorithm = claims.pop("alg", "PS256")
    return jwt.encode(claims, private, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]


async def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_only_configured_keys_pass_with_either_scheme() -> None:
    async with running_yandex_emulator(strict_config()) as emulator, aiohttp.ClientSession() as http:
        for scheme in ("Bearer", "Api-Key"):
            async with http.get(
                f"{emulator.base_url}/models", headers={"Authorization": f"{scheme} {TEST_API_KEY}"}
            ) as response:
                assert response.status == 200, scheme
            async with http.get(
                f"{emulator.base_url}/models", headers={"Authorization": f"{scheme} another-key"}
            ) as response:
                assert response.status == 401
                assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_another_folder_is_refused_in_the_model_uri_and_in_the_project_header() -> None:
    async with running_yandex_emulator(strict_config()) as emulator:
        stranger = client_for(emulator, folder="b1gotherfolder")
        with pytest.raises(openai.BadRequestError) as refused:
            await stranger.models.list()
        assert "Specified folder ID does not match with service account" in refused.value.message
        mine = client_for(emulator)
        with pytest.raises(openai.BadRequestError) as refused:
            await mine.responses.create(model="gpt://b1gotherfolder/yandexgpt/latest", input="hi")
        assert "Specified folder ID does not match with service account" in refused.value.message
        ids = [model.id async for model in mine.models.list()]
        assert ids and all(model_id.startswith(f"gpt://{TEST_FOLDER_ID}/") for model_id in ids)
        assert (await mine.responses.create(model=MODEL, input="emu:echo fine")).output_text == "fine"
        await stranger.close()
        await mine.close()
        records = emulator.responses()
    refused_record, answered = records[-2], records[-1]
    assert refused_record["status"] == "failed"
    assert refused_record["error"]["http_status"] == 400
    assert "does not match" in refused_record["error"]["message"]
    assert answered["error"] is None and answered["status"] == "completed"


async def test_response_records_carry_non_secret_headers_and_requests_are_logged() -> None:
    async with running_yandex_emulator(strict_config()) as emulator:
        client = openai.AsyncOpenAI(
            base_url=emulator.base_url,
            api_key=TEST_API_KEY,
            project=TEST_FOLDER_ID,
            max_retries=0,
            default_headers={"x-data-logging-enabled": "false"},
        )
        await client.responses.create(model=MODEL, input="hello")
        with pytest.raises(openai.AuthenticationError):
            await client.with_options(api_key="wrong").responses.create(model=MODEL, input="hi")
        await client.close()
        records = emulator.responses()
        requests = emulator.requests()
    answered, refused = records
    assert answered["headers"]["x-data-logging-enabled"] == "false"
    assert answered["headers"]["openai-project"] == TEST_FOLDER_ID
    assert all(name == name.lower() for name in answered["headers"])
    assert "authorization" not in answered["headers"]
    assert refused["status"] == "failed" and refused["error"]["http_status"] == 401
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/v1/responses", 200),
        ("POST", "/v1/responses", 401),
    ]
    assert all("authorization" not in r["headers"] for r in requests)


async def test_iam_exchanges_a_signed_jwt_for_a_token_that_expires(tmp_path: Path) -> None:
    key_file = write_authorized_key(tmp_path / "key.json")
    config = strict_config()
    config.service_account_keys = (load_service_account_key(key_file),)
    config.iam_token_ttl = 1.0
    async with running_yandex_emulator(config) as emulator:
        assert emulator.iam_url is not None
        status, body = await post_json(emulator.iam_url, {"jwt": signed(key_file)})
        assert status == 200
        assert body["iamToken"].startswith("t1.")
        assert body["expiresAt"].endswith("Z") and len(body["expiresAt"].split(".")[1]) == 10  # nanoseconds
        token_client = client_for(emulator, key=body["iamToken"])
        assert [model.id async for model in token_client.models.list()]
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{emulator.base_url}/models", headers={"Authorization": f"Api-Key {body['iamToken']}"}
            ) as response,
        ):
            assert response.status == 401, "an IAM token goes with Bearer"
        await asyncio.sleep(1.1)
        with pytest.raises(openai.AuthenticationError) as expired:
            await token_client.models.list()
        assert "expired" in expired.value.message
        await token_client.close()
        assert [token["via"] for token in emulator.iam_tokens()] == ["jwt"]


@pytest.mark.parametrize(
    ("overrides", "status", "says"),
    [
        ({"kid": "ajeunknownkey0000000"}, 401, "unknown key id"),
        ({"aud": "https://example.com/tokens"}, 401, "aud"),
        ({"iss": "ajesomeoneelse000000"}, 401, "iss"),
        ({"iat": int(time.time()) - 700, "exp": int(time.time()) - 60}, 401, "expired"),
        ({"exp": int(time.time()) + 7200}, 400, "3600"),
        ({"alg": "RS256"}, 400, "PS256"),
    ],
)
async def test_iam_refuses_jwts_yandex_would_refuse(
    tmp_path: Path, overrides: dict[str, Any], status: int, says: str
) -> None:
    key_file = write_authorized_key(tmp_path / "key.json")
    config = EmulatorConfig(service_account_keys=(load_service_account_key(key_file),))
    async with running_yandex_emulator(config) as emulator:
        assert emulator.iam_url is not None
        got, body = await post_json(emulator.iam_url, {"jwt": signed(key_file, **overrides)})
    assert got == status
    assert says in body["message"]
    assert set(body) == {"code", "message", "details"}


async def test_a_key_iam_does_not_know_is_refused(tmp_path: Path) -> None:
    known = write_authorized_key(tmp_path / "known.json")
    unknown = write_authorized_key(tmp_path / "unknown.json")  # same key id, another RSA key
    config = EmulatorConfig(service_account_keys=(load_service_account_key(known),))
    async with running_yandex_emulator(config) as emulator:
        assert emulator.iam_url is not None
        status, body = await post_json(emulator.iam_url, {"jwt": signed(unknown)})
    assert status == 401
    assert "signature" in body["message"].lower()


async def test_metadata_service_hands_out_tokens() -> None:
    config = strict_config()
    config.serve_metadata = True
    async with running_yandex_emulator(config) as emulator:
        assert emulator.metadata_url is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(emulator.metadata_url) as response:
                assert response.status == 403, "Metadata-Flavor: Google is required"
            async with http.get(emulator.metadata_url, headers={"Metadata-Flavor": "Google"}) as response:
                assert response.status == 200
                body = await response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] > 3600
        client = client_for(emulator, key=body["access_token"])
        assert [model.id async for model in client.models.list()]
        await client.close()


async def test_standalone_with_credentials(tmp_path: Path) -> None:
    key_file = write_authorized_key(tmp_path / "key.json")
    port, iam_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.yandex", "--port", str(port), "--api-key", "k1", "--api-key", "k2",
        "--folder", "b1gcli", "--sa-key-file", str(key_file), "--iam-token-ttl", "30", "--iam-port", str(iam_port),
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert f":{port}/v1" in (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert (
            f":{iam_port}/iam/v1/tokens" in (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        )
        status, body = await post_json(
            f"http://127.0.0.1:{iam_port}/iam/v1/tokens", {"jwt": signed(key_file)}
        )
        assert status == 200
        for key, expected in (("k2", 200), (body["iamToken"], 200), ("k3", 401)):
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"}
                ) as response,
            ):
                assert response.status == expected
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{port}/v1/models",
                headers={"Authorization": "Api-Key k1", "OpenAI-Project": "b1gother"},
            ) as response,
        ):
            assert response.status == 400
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
