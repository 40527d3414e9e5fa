"""Credentials that last, end to end: a service account's authorized key whose IAM tokens expire every
few seconds, the metadata service, and request logging turned off at Yandex on every request."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import Stack, final_texts
from tests.fakes.yandex.fixtures import strict_config
from tests.fakes.yandex.iam import load_service_account_key, write_authorized_key
from tests.fakes.yandex.server import YandexEmulator, running_yandex_emulator

pytestmark = pytest.mark.slow

TOKEN_TTL_S = 2.0
UNAVAILABLE = "The assistant is temporarily unavailable. Please try again a bit later."
NOTES = b"# Harbour\n\nThe harbour master of Port Elwyn is called Ines Korhonen.\n"


@pytest.fixture
async def yandex_emulator(service_account_key_file: Path) -> AsyncIterator[YandexEmulator]:
    """The strict emulator that also runs IAM: it knows the session's authorized key, its tokens live
    two seconds, and it serves the metadata endpoint."""
    config = strict_config()
    config.service_account_keys = (load_service_account_key(service_account_key_file),)
    config.iam_token_ttl = TOKEN_TTL_S
    config.serve_metadata = True
    async with running_yandex_emulator(config) as emulator:
        yield emulator


async def private_chat(stack: Stack) -> tuple[dict[str, Any], int]:
    user = await stack.telegram.create_user("Oskar")
    return user, (await stack.telegram.create_private_chat(user))["id"]


async def ask(stack: Stack, chat_id: int, user: dict[str, Any], question: str) -> str:
    before = len(final_texts(stack.telegram, chat_id))
    await stack.telegram.send_user_message(chat_id, user, question)
    await stack.telegram.wait_for(lambda: len(final_texts(stack.telegram, chat_id)) > before, timeout=20)
    return final_texts(stack.telegram, chat_id)[-1]


async def test_answers_across_several_token_lifetimes_never_meet_a_401(
    stack: Stack, service_account_key_file: Path
) -> None:
    assert stack.yandex.iam_url is not None
    async with stack.bot(
        yc_api_key=None, yc_sa_key_file=str(service_account_key_file), yc_iam_url=stack.yandex.iam_url
    ):
        user, chat_id = await private_chat(stack)
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = []
        for number in range(5):
            answers.append(await ask(stack, chat_id, user, f"question {number} emu:echo"))
            await asyncio.sleep(max(0.0, started + (number + 1) * 1.3 - loop.time()))
        elapsed = loop.time() - started
    assert elapsed > 3 * TOKEN_TTL_S, "the questions spanned several token lifetimes"
    assert answers == [f"question {number}" for number in range(5)]
    api_statuses = [request["status"] for request in stack.yandex.requests()]
    assert 401 not in api_statuses, "no request ever carried an expired token"
    assert all(record["status"] == "completed" for record in stack.yandex.responses())
    tokens = stack.yandex.iam_tokens()
    assert len(tokens) >= 3 and {token["via"] for token in tokens} == {"jwt"}
    # Renewed in the background well before expiry: each new token came before the previous one lapsed.
    for previous, renewed in itertools.pairwise(tokens):
        assert renewed["issued_at"] < previous["expires_at"]


async def test_a_key_revoked_while_running_fails_answers_gracefully(
    stack: Stack, service_account_key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert stack.yandex.iam_url is not None
    async with stack.bot(
        reply_format="classic",
        yc_api_key=None,
        yc_sa_key_file=str(service_account_key_file),
        yc_iam_url=stack.yandex.iam_url,
    ):
        user, chat_id = await private_chat(stack)
        assert await ask(stack, chat_id, user, "before emu:echo") == "before"
        stack.yandex.config.service_account_keys = ()  # the key is deleted in the console
        await asyncio.sleep(TOKEN_TTL_S + 0.5)  # the last token lapses; renewals are refused
        assert await ask(stack, chat_id, user, "after emu:echo") == UNAVAILABLE
    assert "could not renew the Yandex IAM token (Yandex IAM refused the service-account key" in caplog.text
    assert not any("Traceback" in text or "Error" in text for text in final_texts(stack.telegram, chat_id))


async def test_a_static_iam_token_works_with_a_warning(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    assert stack.yandex.metadata_url is not None
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.yandex.metadata_url, headers={"Metadata-Flavor": "Google"}) as response,
    ):
        token = (await response.json())["access_token"]  # any IAM token the emulator issued
    caplog.set_level(logging.WARNING)
    async with stack.bot(yc_api_key=None, yc_iam_token=token):
        user, chat_id = await private_chat(stack)
        assert await ask(stack, chat_id, user, "static emu:echo") == "static"
    assert "YC_IAM_TOKEN is a static IAM token: it expires within 12 hours" in caplog.text


async def test_a_key_iam_does_not_know_stops_the_start_with_one_line(stack: Stack, tmp_path: Path) -> None:
    stranger = write_authorized_key(tmp_path / "other.json", key_id="ajeotherkey000000001")
    assert stack.yandex.iam_url is not None
    run = await stack.run_cli(
        "bot", stack.env(yc_api_key=None, yc_sa_key_file=str(stranger), yc_iam_url=stack.yandex.iam_url)
    )
    assert run.code == 1
    assert "Traceback" not in run.output
    assert run.output.strip().splitlines() == [
        "error: Yandex IAM refused the service-account key ajeotherkey000000001 of service account "
        "ajetestaccount000001 (HTTP 401: jwt: unknown key id 'ajeotherkey000000001')"
    ]
    doctor = await stack.run_cli(
        "bot.doctor",
        stack.env(yc_api_key=None, yc_sa_key_file=str(stranger), yc_iam_url=stack.yandex.iam_url),
    )
    assert doctor.code == 1
    failed = [line for line in doctor.stdout.splitlines() if "  FAIL  " in line]
    assert len(failed) == 1 and failed[0].startswith("Yandex credentials") and "unknown key id" in failed[0]


async def test_on_a_yandex_cloud_vm_tokens_come_from_the_metadata_service(stack: Stack) -> None:
    assert stack.yandex.metadata_url is not None
    async with stack.bot(yc_api_key=None, yc_auth="metadata", yc_metadata_url=stack.yandex.metadata_url):
        user, chat_id = await private_chat(stack)
        assert await ask(stack, chat_id, user, "from the VM emu:echo") == "from the VM"
    assert {token["via"] for token in stack.yandex.iam_tokens()} == {"metadata"}
    assert 401 not in [request["status"] for request in stack.yandex.requests()]


async def test_every_request_asks_yandex_not_to_log_it(stack: Stack) -> None:
    async with stack.bot():
        user, chat_id = await private_chat(stack)
        document = {"file_name": "harbour.md", "mime_type": "text/markdown", "content": NOTES}
        await stack.telegram.send_user_message(chat_id, user, document=document)
        await stack.telegram.wait_for(
            lambda: any("Ready: harbour.md" in text for text in final_texts(stack.telegram, chat_id)),
            timeout=20,
        )
        answer = await ask(stack, chat_id, user, "Who is the harbour master of Port Elwyn?")
        assert "Ines Korhonen" in answer
    requests = stack.yandex.requests()
    paths = {request["path"].split("/")[2] for request in requests}
    assert {"models", "files", "vector_stores", "responses"} <= paths, "every kind of request was made"
    assert all(request["headers"].get("x-data-logging-enabled") == "false" for request in requests), (
        json.dumps([r for r in requests if r["headers"].get("x-data-logging-enabled") != "false"])
    )
    assert all(record["headers"]["x-data-logging-enabled"] == "false" for record in stack.yandex.responses())


async def test_yc_data_logging_true_lets_yandex_log(stack: Stack) -> None:
    async with stack.bot(yc_data_logging=True):
        user, chat_id = await private_chat(stack)
        assert await ask(stack, chat_id, user, "log me emu:echo") == "log me"
    requests = stack.yandex.requests()
    assert requests and all("x-data-logging-enabled" not in request["headers"] for request in requests)
