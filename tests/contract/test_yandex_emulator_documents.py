"""Contract tests of the Yandex emulator's Files and Vector Stores API, driven by the real openai client.

Also covers auth, the models list, the vector-store quota and ``/__emu/expire`` for stores and files.
"""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
import zlib

import aiohttp
import openai
import pytest
from openai.types.static_file_chunking_strategy_object_param import StaticFileChunkingStrategyObjectParam
from openai.types.vector_store import VectorStore

from tests.fakes.yandex.server import YandexEmulator

FACTS = (
    "Aurora is the code name of our satellite project.\n"
    "The launch code for project Aurora is 7431.\n"
    "Bananas are yellow and grow in bunches.\n"
)


async def upload(client: openai.AsyncOpenAI, name: str, data: bytes, mime: str = "text/plain") -> str:
    return (await client.files.create(file=(name, data, mime), purpose="assistants")).id


async def wait_completed(client: openai.AsyncOpenAI, store_id: str, timeout: float = 3.0) -> VectorStore:
    deadline = time.monotonic() + timeout
    while True:
        store = await client.vector_stores.retrieve(store_id)
        if store.status != "in_progress" or time.monotonic() > deadline:
            return store
        await asyncio.sleep(0.02)


def zip_bytes(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in paragraphs)
    return zip_bytes(
        {
            "[Content_Types].xml": "<Types/>",
            "word/document.xml": f"<w:document><w:body>{body}</w:body></w:document>",
        }
    )


def pdf_bytes(plain: str, compressed: str) -> bytes:
    packed = zlib.compress(f"BT /F1 12 Tf ({compressed}) Tj ET".encode())
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        b"2 0 obj\n<< /Length 44 >>\nstream\nBT /F1 12 Tf ("
        + plain.encode()
        + b") Tj ET\nendstream\nendobj\n"
        b"3 0 obj\n<< /Length "
        + str(len(packed)).encode()
        + b" /Filter /FlateDecode >>\nstream\n"
        + packed
        + b"\nendstream\nendobj\n%%EOF\n"
    )


async def test_requests_need_an_api_key(yandex_emulator: YandexEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{yandex_emulator.base_url}/files") as response:
            assert response.status == 401
            error = (await response.json())["error"]
        async with session.get(
            f"{yandex_emulator.base_url}/files", headers={"Authorization": "Api-Key some-key"}
        ) as response:
            assert response.status == 200
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"


async def test_configured_keys_are_enforced(
    yandex_emulator: YandexEmulator, openai_client: openai.AsyncOpenAI, yandex_folder_id: str
) -> None:
    yandex_emulator.config.api_keys = frozenset({"test-api-key"})
    await openai_client.files.list()
    stranger = openai.AsyncOpenAI(
        base_url=yandex_emulator.base_url, api_key="wrong", project=yandex_folder_id, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        await stranger.files.list()
    await stranger.close()


async def test_models_are_listed_as_folder_uris(
    openai_client: openai.AsyncOpenAI, yandex_folder_id: str
) -> None:
    ids = [model.id async for model in openai_client.models.list()]
    assert f"gpt://{yandex_folder_id}/yandexgpt/latest" in ids
    assert all(model_id.startswith(f"gpt://{yandex_folder_id}/") for model_id in ids)


async def test_file_lifecycle(openai_client: openai.AsyncOpenAI) -> None:
    created = await openai_client.files.create(
        file=("notes.txt", b"hello file", "text/plain"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.bytes == 10
    assert created.filename == "notes.txt"
    assert created.expires_at == pytest.approx(created.created_at + 3600)
    assert isinstance(created.created_at, float)
    assert created.model_extra == {"valid": True}
    assert len(created.id) == 36 and created.id.count("-") == 4

    assert (await openai_client.files.retrieve(created.id)).id == created.id
    assert [item.id async for item in openai_client.files.list()] == [created.id]
    assert (await openai_client.files.content(created.id)).content == b"hello file"

    deleted = await openai_client.files.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        await openai_client.files.retrieve(created.id)


async def test_upload_rejects_bad_expiry(openai_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await openai_client.files.create(
            file=("a.txt", b"x", "text/plain"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 5},
        )


async def test_upload_rejects_oversized_files(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator
) -> None:
    yandex_emulator.config.max_file_bytes = 100
    with pytest.raises(openai.APIStatusError) as caught:
        await openai_client.files.create(file=("big.txt", b"x" * 101, "text/plain"), purpose="assistants")
    assert caught.value.status_code == 413
    assert caught.value.code == "file_too_large"


async def test_vector_store_indexes_asynchronously(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator
) -> None:
    file_id = await upload(openai_client, "facts.txt", FACTS.encode())
    store = await openai_client.vector_stores.create(
        name="chat-1",
        file_ids=[file_id],
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100},
        },
    )
    assert store.status == "in_progress"
    assert store.file_counts.in_progress == 1
    assert yandex_emulator.vector_stores()[0]["files"] == [
        {
            "id": file_id,
            "filename": "facts.txt",
            "status": "in_progress",
            "mime_type": "text/plain",
            "chunking_strategy": {
                "type": "static",
                "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100},
            },
        }
    ]

    done = await wait_completed(openai_client, store.id)
    assert done.status == "completed"
    assert done.file_counts.completed == 1 and done.file_counts.total == 1
    assert done.expires_after is not None and done.expires_after.days == 7
    attached = await openai_client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert attached.status == "completed" and attached.usage_bytes > 0
    assert attached.chunking_strategy is not None
    assert yandex_emulator.vector_stores()[0]["status"] == "completed"


async def test_polling_helpers_finish_quickly(openai_client: openai.AsyncOpenAI) -> None:
    store = await openai_client.vector_stores.create(name="docs")
    first = await upload(openai_client, "one.txt", b"first document about apples")
    second = await upload(openai_client, "two.txt", b"second document about pears")
    third = await upload(openai_client, "three.md", b"# Third\nthird document about plums")

    started = time.monotonic()
    attached = await openai_client.vector_stores.files.create_and_poll(
        file_id=first, vector_store_id=store.id, attributes={"chat": "42"}
    )
    batch = await openai_client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, files=[{"file_id": second}, {"file_id": third}]
    )
    elapsed = time.monotonic() - started

    assert attached.status == "completed"
    assert attached.attributes == {"chat": "42"}
    assert batch.status == "completed"
    assert batch.file_counts.completed == 2 and batch.file_counts.total == 2
    assert elapsed < 1.0, "the openai-poll-after-ms hint should keep polling brisk"
    listed = [item.id async for item in openai_client.vector_stores.files.list(store.id)]
    assert sorted(listed) == sorted([first, second, third])
    batch_files = [
        item.id
        async for item in openai_client.vector_stores.file_batches.list_files(
            batch.id, vector_store_id=store.id
        )
    ]
    assert sorted(batch_files) == sorted([second, third])


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


@pytest.mark.parametrize(
    ("name", "data", "mime", "code"),
    [
        ("marked.txt", b"this text says emu:unreadable somewhere", "text/plain", "invalid_file"),
        ("blob.bin", bytes(range(128, 256)) * 4, "text/plain", "unsupported_file"),
        ("empty.txt", b"", "text/plain", "invalid_file"),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 40, DOCX, "invalid_file"),
        ("slides.pptx", zip_bytes({"ppt/presentation.xml": "<p:presentation/>"}), PPTX, "unsupported_file"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png", "unsupported_file"),
        # Readable text, but of a MIME type outside Yandex's list (searchindex-filetypes.md).
        ("notes.xml", b"<notes>plain words</notes>", "application/xml", "unsupported_file"),
        ("notes.md", b"# Notes\n\nplain words", "text/x-markdown", "unsupported_file"),
        ("paper.tex", b"\\section{Plain words}", "application/x-tex", "unsupported_file"),
        ("letter.rtf", b"{\\rtf1 plain words}", "text/rtf", "unsupported_file"),
        ("blob.txt", b"plain words", "application/octet-stream", "unsupported_file"),
    ],
)
async def test_unreadable_files_fail_with_last_error(
    openai_client: openai.AsyncOpenAI, name: str, data: bytes, mime: str, code: str
) -> None:
    file_id = await upload(openai_client, name, data, mime)
    store = await openai_client.vector_stores.create(name="bad")
    attached = await openai_client.vector_stores.files.create_and_poll(
        file_id=file_id, vector_store_id=store.id
    )
    assert attached.status == "failed"
    assert attached.last_error is not None
    assert attached.last_error.code == code
    assert attached.last_error.message
    done = await openai_client.vector_stores.retrieve(store.id)
    assert done.status == "completed"
    assert done.file_counts.failed == 1


async def test_docx_and_pdf_text_is_searchable(openai_client: openai.AsyncOpenAI) -> None:
    docx = await upload(
        openai_client,
        "policy.docx",
        docx_bytes(["Warranty terms", "The warranty lasts 24 months from delivery."]),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    pdf = await upload(
        openai_client,
        "invoice.pdf",
        pdf_bytes("Invoices are due within 45 days.", "Late payments incur a penalty fee."),
        "application/pdf",
    )
    store = await openai_client.vector_stores.create(name="office", file_ids=[docx, pdf])
    assert (await wait_completed(openai_client, store.id)).file_counts.completed == 2

    warranty = await openai_client.vector_stores.search(store.id, query="how long is the warranty")
    assert warranty.data[0].filename == "policy.docx"
    assert "24 months" in warranty.data[0].content[0].text
    penalty = await openai_client.vector_stores.search(store.id, query="penalty for late payments")
    assert penalty.data[0].filename == "invoice.pdf"
    assert "penalty fee" in penalty.data[0].content[0].text


async def test_search_ranks_the_matching_chunk_first(openai_client: openai.AsyncOpenAI) -> None:
    filler = " ".join(f"Paragraph {n} talks about gardening and tomatoes." for n in range(40))
    long_text = f"{filler}\nThe secret ingredient of grandma's soup is smoked paprika.\n{filler}"
    soup = await upload(openai_client, "recipes.txt", long_text.encode())
    other = await upload(openai_client, "other.txt", b"Soup can be served cold in summer.")
    store = await openai_client.vector_stores.create(
        name="kitchen",
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
        },
    )
    small: StaticFileChunkingStrategyObjectParam = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
    }
    await openai_client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        files=[
            {"file_id": soup, "attributes": {"kind": "recipe"}, "chunking_strategy": small},
            {"file_id": other, "attributes": {"kind": "tip"}, "chunking_strategy": small},
        ],
    )

    page = await openai_client.vector_stores.search(
        store.id, query="secret ingredient soup", max_num_results=5
    )
    assert page.data[0].file_id == soup
    assert "smoked paprika" in page.data[0].content[0].text
    assert len(page.data[0].content[0].text.split()) <= 100
    scores = [hit.score for hit in page.data]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score < 1 for score in scores)
    assert {hit.file_id for hit in page.data} == {soup, other}

    filtered = await openai_client.vector_stores.search(
        store.id, query="soup", filters={"type": "eq", "key": "kind", "value": "tip"}
    )
    assert [hit.file_id for hit in filtered.data] == [other]
    nothing = await openai_client.vector_stores.search(store.id, query="quantum chromodynamics")
    assert nothing.data == []


async def test_removing_a_file_from_a_store(openai_client: openai.AsyncOpenAI) -> None:
    keep = await upload(openai_client, "keep.txt", b"Elephants remember everything.")
    drop = await upload(openai_client, "drop.txt", b"Giraffes have long necks.")
    store = await openai_client.vector_stores.create(name="zoo", file_ids=[keep, drop])
    await wait_completed(openai_client, store.id)

    deleted = await openai_client.vector_stores.files.delete(drop, vector_store_id=store.id)
    assert deleted.deleted is True
    assert [item.id async for item in openai_client.vector_stores.files.list(store.id)] == [keep]
    assert (await openai_client.vector_stores.search(store.id, query="giraffes necks")).data == []
    assert (await openai_client.files.retrieve(drop)).id == drop, "the uploaded file itself stays"
    with pytest.raises(openai.NotFoundError):
        await openai_client.vector_stores.files.retrieve(drop, vector_store_id=store.id)


async def test_deleting_a_store(openai_client: openai.AsyncOpenAI) -> None:
    store = await openai_client.vector_stores.create(name="short-lived")
    assert (await openai_client.vector_stores.delete(store.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await openai_client.vector_stores.retrieve(store.id)


async def test_invalid_chunking_strategy_is_rejected(openai_client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_client.vector_stores.create(
            name="x",
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
            },
        )
    assert caught.value.param == "chunking_strategy"


async def test_vector_store_quota(openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator) -> None:
    yandex_emulator.config.vector_store_quota = 2
    first = await openai_client.vector_stores.create(name="one")
    await openai_client.vector_stores.create(name="two")

    with pytest.raises(openai.RateLimitError) as caught:
        await openai_client.vector_stores.create(name="three")
    assert caught.value.code == "quota_exceeded"
    assert caught.value.type == "quota_exceeded"
    assert caught.value.body == {
        "message": "Quota exceeded: the folder may hold at most 2 search indexes",
        "type": "quota_exceeded",
        "code": "quota_exceeded",
        "param": None,
    }
    assert caught.value.response.headers["x-should-retry"] == "false"

    yandex_emulator.expire(first.id)
    await openai_client.vector_stores.create(name="three")


async def test_expired_store_and_file_are_gone(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator
) -> None:
    file_id = await upload(openai_client, "a.txt", b"Some words for the index.")
    store = await openai_client.vector_stores.create(name="old", file_ids=[file_id])

    async with aiohttp.ClientSession() as session:
        expired = await session.post(f"{yandex_emulator.root_url}/__emu/expire", json={"id": store.id})
        assert await expired.json() == {"id": store.id, "expired": "vector_store"}
        unknown = await session.post(f"{yandex_emulator.root_url}/__emu/expire", json={"id": "no-such-id"})
        assert unknown.status == 404

    with pytest.raises(openai.NotFoundError):
        await openai_client.vector_stores.retrieve(store.id)
    assert yandex_emulator.vector_stores()[0]["status"] == "expired"
    assert [item.id async for item in openai_client.vector_stores.list()] == []

    yandex_emulator.expire(file_id)
    with pytest.raises(openai.NotFoundError):
        await openai_client.files.retrieve(file_id)


async def test_file_batches_take_the_documented_files_form_with_each_files_chunking(
    openai_client: openai.AsyncOpenAI, yandex_emulator: YandexEmulator
) -> None:
    """``files[]`` is required (createVectorStoreFileBatch.md); a file without a chunking strategy of
    its own gets the default 800/400, not the store's."""
    chat_chunking: StaticFileChunkingStrategyObjectParam = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 100},
    }
    store = await openai_client.vector_stores.create(name="chat", chunking_strategy=chat_chunking)
    first = await upload(openai_client, "one.md", b"# One\n\nfirst words", "text/markdown")
    second = await upload(openai_client, "two.xml", b"<two>second words</two>", "text/xml")
    third = await upload(openai_client, "three.txt", b"third words")

    with pytest.raises(openai.BadRequestError) as refused:
        await openai_client.vector_stores.file_batches.create(store.id, file_ids=[first])
    assert refused.value.param == "files"
    with pytest.raises(openai.BadRequestError) as malformed:
        await openai_client.vector_stores.file_batches.create(
            store.id,
            files=[{"chunking_strategy": chat_chunking}],  # type: ignore[typeddict-item]  # no file_id
        )
    assert malformed.value.param == "files"

    batch = await openai_client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        files=[{"file_id": first, "chunking_strategy": chat_chunking}, {"file_id": second}],
    )
    assert batch.file_counts.completed == 2
    await openai_client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, files=[{"file_id": third}], chunking_strategy=chat_chunking
    )
    files = {entry["filename"]: entry for entry in yandex_emulator.vector_stores()[0]["files"]}
    assert files["one.md"]["chunking_strategy"] == chat_chunking
    assert files["two.xml"]["chunking_strategy"]["static"] == {
        "max_chunk_size_tokens": 800,
        "chunk_overlap_tokens": 400,
    }
    assert files["three.txt"]["chunking_strategy"] == chat_chunking, "the batch's strategy applies"
    assert {name: entry["mime_type"] for name, entry in files.items()} == {
        "one.md": "text/markdown",
        "two.xml": "text/xml",
        "three.txt": "text/plain",
    }
    assert all(entry["status"] == "completed" for entry in files.values())


async def test_search_matches_russian_and_english_word_forms(openai_client: openai.AsyncOpenAI) -> None:
    """Yandex's semantic search finds a passage whatever the word forms; the emulator's stemmed BM25
    must too, or cited answers in Russian look wrong."""
    bali = await upload(
        openai_client,
        "bali.txt",
        "Остров Бали славится пляжами.\nДля въезда в Индонезию нужны визы.\n"
        "Стоимость визы составляет 300 рублей.\n".encode(),
    )
    office = await upload(openai_client, "office.txt", b"Each document must be signed by the manager.")
    store = await openai_client.vector_stores.create(name="travel", file_ids=[bali, office])
    await wait_completed(openai_client, store.id)

    visa = await openai_client.vector_stores.search(store.id, query="виза")
    assert visa.data and visa.data[0].filename == "bali.txt"
    price = await openai_client.vector_stores.search(store.id, query="Сколько стоит виза?")
    assert price.data[0].filename == "bali.txt"
    documents = await openai_client.vector_stores.search(store.id, query="who signs the documents")
    assert documents.data[0].filename == "office.txt"

    answer = await openai_client.responses.create(
        model="gpt://b1gtestfolder/yandexgpt/latest",
        input="Сколько стоит виза?",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
    )
    assert "Стоимость визы составляет 300 рублей." in answer.output_text
