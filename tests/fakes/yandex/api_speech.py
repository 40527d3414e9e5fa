"""SpeechKit speech recognition, as Yandex documents it, on the emulator's port.

* ``POST /speech/v1/stt:recognize`` — synchronous recognition (API v1, ``speechkit/stt/api/request-api.md``):
  query ``lang``, ``topic``, ``profanityFilter``, ``rawResults``, ``format`` (``oggopus`` default,
  ``lpcm``), ``sampleRateHertz`` (with ``lpcm``), ``folderId``; the body is the audio. Answers
  ``{"result": "<text>"}``. More than 1 MB of audio, or a recording that says it is longer than 30 s,
  is refused with 400.
* ``POST /stt/v3/recognizeFileAsync`` — asynchronous recognition (API v3 REST,
  ``speechkit/stt-v3/api-ref/AsyncRecognizer/recognizeFile.md``): a JSON body with exactly one of
  ``content`` (the audio, base64, at most 60 MB) or ``uri`` and ``recognitionModel`` with its
  ``audioFormat``; answers an Operation that is done ``stt_async_delay`` seconds later.
* ``GET /operations/{operationId}`` — the Operation (``speechkit/stt-v3/api-ref/Operation/get.md``).
* ``GET /stt/v3/getRecognition?operationId=…`` (``operation_id`` too, as the documented curl example
  writes it) — once the operation is done, its results: one JSON object ``{"result": StreamingResponse}``
  per line (``speechkit/stt-v3/api-ref/AsyncRecognizer/getRecognition.md``).

Every request passes the same boundary as ``/v1`` (faults, then ``Authorization: Api-Key …`` or
``Bearer …``). Errors use SpeechKit's status codes (``_includes/speechkit/response-format.md``):
API v1 answers ``{"error_code", "error_message"}``, API v3 and operations ``{"code", "message",
"details"}`` (the gRPC status code). ``GET /__emu/stt`` lists the recognition requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request, injected_failure
from .speech import (
    ASYNC_MAX_BYTES,
    ASYNC_MAX_SECONDS,
    ASYNC_MODELS,
    CONTAINER_TYPES,
    FOLDER_ID_MAX_CHARS,
    LANGUAGES,
    SYNC_FORMATS,
    SYNC_MAX_BYTES,
    SYNC_MAX_SECONDS,
    SYNC_SAMPLE_RATES,
    SYNC_TOPICS,
    hear,
)
from .wire import json_response, read_json, state_of

routes = web.RouteTableDef()

SYNC_PATH = "/speech/v1/stt:recognize"
ASYNC_PREFIX = "/stt/v3/"
OPERATIONS_PREFIX = "/operations/"
SPEECH_PREFIXES = ("/speech/v1/", ASYNC_PREFIX, OPERATIONS_PREFIX)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
NOT_DONE = "FAILED_PRECONDITION"
_GRPC_BY_NAME = {NOT_DONE: 9}
_REQUEST_FIELDS = frozenset(
    {
        "content",
        "uri",
        "recognitionModel",
        "recognitionClassifier",
        "speechAnalysis",
        "speakerLabeling",
        "summarization",
    }
)
_MODEL_FIELDS = frozenset(
    {"model", "audioFormat", "textNormalization", "languageRestriction", "audioProcessingType"}
)


def is_speech_path(path: str) -> bool:
    return path.startswith(SPEECH_PREFIXES)


def speech_error_response(error: ApiError, path: str) -> web.Response:
    """An error in SpeechKit's shape for the API the path belongs to."""
    if path.startswith("/speech/v1/"):
        body: dict[str, Any] = {
            "error_code": _STATUS_NAMES.get(
                error.status, "INTERNAL" if error.status >= 500 else "INVALID_ARGUMENT"
            ),
            "error_message": error.message,
        }
    else:
        code = _GRPC_BY_NAME.get(error.code or "") or _GRPC_CODES.get(error.status)
        body = {
            "code": code or (13 if error.status >= 500 else 3),
            "message": error.message,
            "details": [],
        }
    response = json_response(body, status=error.status)
    response.headers.update({k: v for k, v in error.headers.items() if not k.startswith("retry-after-ms")})
    return response


# --- synchronous recognition (API v1) -------------------------------------------------------------------


@routes.post(SYNC_PATH)
async def recognize(request: web.Request) -> web.Response:
    state = state_of(request)
    query = request.query
    audio = await request.read()
    record: dict[str, Any] = {
        "api": "stt:recognize",
        "lang": query.get("lang", "ru-RU"),
        "topic": query.get("topic", "general"),
        "format": query.get("format", "oggopus"),
        "folder": query.get("folderId"),
        "size": len(audio),
        "operation_id": None,
    }
    try:
        _check_sync_query(query)
        if len(audio) > SYNC_MAX_BYTES:
            raise bad_request(
                f"Audio is too large for synchronous recognition: {len(audio)} bytes, at most 1 MB. "
                "Use asynchronous recognition."
            )
        heard = hear(audio)
        if heard.seconds is not None and heard.seconds > SYNC_MAX_SECONDS:
            raise bad_request(
                f"Audio is too long for synchronous recognition: {heard.seconds:g} s, at most 30 s. "
                "Use asynchronous recognition."
            )
        if heard.fail_status is not None:
            raise injected_failure(heard.fail_status, "emu:fail")
    except ApiError as error:
        state.speech.record(**record, status=error.status, text=None)
        raise
    state.speech.record(**record, status=200, text=heard.text)
    return json_response({"result": heard.text})


def _check_sync_query(query: Any) -> None:
    lang = query.get("lang", "ru-RU")
    if lang.lower() not in LANGUAGES:
        raise bad_request(f"Unsupported language {lang!r}.")
    topic = query.get("topic", "general")
    if topic not in SYNC_TOPICS:
        raise bad_request(f"Unknown topic {topic!r}.")
    audio_format = query.get("format", "oggopus")
    if audio_format not in SYNC_FORMATS:
        raise bad_request(
            f"Unsupported format {audio_format!r}: synchronous recognition takes lpcm or oggopus "
            "(MP3 is not supported in API v1)."
        )
    rate = query.get("sampleRateHertz")
    if rate is not None and (audio_format != "lpcm" or rate not in SYNC_SAMPLE_RATES):
        raise bad_request(f"Invalid sampleRateHertz {rate!r}: 48000, 16000 or 8000, with format=lpcm only.")
    for flag in ("profanityFilter", "rawResults"):
        if query.get(flag, "false") not in ("true", "false"):
            raise bad_request(f"{flag} must be true or false.")
    _check_folder(query.get("folderId"))


def _check_folder(folder: str | None) -> None:
    if folder is not None and not 0 < len(folder) <= FOLDER_ID_MAX_CHARS:
        raise bad_request(f"folderId must be 1-{FOLDER_ID_MAX_CHARS} characters long.")


# --- asynchronous recognition (API v3) ------------------------------------------------------------------


@routes.post(ASYNC_PREFIX + "recognizeFileAsync")
async def recognize_file_async(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    model = body.get("recognitionModel")
    record: dict[str, Any] = {
        "api": "recognizeFileAsync",
        "lang": _restricted_languages(model),
        "format": _container_type(model),
        "folder": request.headers.get("x-folder-id"),
        "size": None,
    }
    try:
        _check_folder(record["folder"])
        audio = _async_audio(body)
        record["size"] = len(audio)
        _check_recognition_model(model)
        heard = hear(audio)
        if heard.fail_status is not None:
            raise injected_failure(heard.fail_status, "emu:fail")
    except ApiError as error:
        state.speech.record(**record, status=error.status, text=None, operation_id=None)
        raise
    error_status = None
    if heard.seconds is not None and heard.seconds > ASYNC_MAX_SECONDS:
        error_status = {"code": 3, "message": "Audio is longer than 4 hours.", "details": []}
    recognition = state.speech.start(heard.text, delay=state.config.stt_async_delay, error=error_status)
    state.speech.record(**record, status=200, text=heard.text, operation_id=recognition.id)
    return json_response(recognition.operation())


def _async_audio(body: dict[str, Any]) -> bytes:
    unknown = sorted(set(body) - _REQUEST_FIELDS)
    if unknown:
        raise bad_request(f"Unknown field(s) in the request: {', '.join(unknown)}.")
    has_content, has_uri = "content" in body, "uri" in body
    if has_content == has_uri:
        raise bad_request("Exactly one of the fields content, uri must be set.")
    if has_uri:
        raise bad_request("The emulator has no Object Storage: send the audio in 'content'.")
    content = body["content"]
    if not isinstance(content, str):
        raise bad_request("content must be a base64 string.")
    try:
        audio = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("content is not valid base64.") from None
    if len(audio) > ASYNC_MAX_BYTES:
        raise bad_request(f"Audio in the request body is too large: {len(audio)} bytes, at most 60 MB.")
    return audio


def _check_recognition_model(model: Any) -> None:
    if not isinstance(model, dict):
        raise bad_request("recognitionModel with its audioFormat is required.")
    unknown = sorted(set(model) - _MODEL_FIELDS)
    if unknown:
        raise bad_request(f"Unknown field(s) in recognitionModel: {', '.join(unknown)}.")
    name = model.get("model", "general")
    if name not in ASYNC_MODELS:
        raise bad_request(f"Unknown recognition model {name!r}.")
    audio_format = model.get("audioFormat")
    if not isinstance(audio_format, dict) or len(audio_format) != 1:
        raise bad_request("recognitionModel.audioFormat needs exactly one of rawAudio, containerAudio.")
    if "containerAudio" in audio_format:
        container = audio_format["containerAudio"]
        kind = container.get("containerAudioType") if isinstance(container, dict) else None
        if kind not in CONTAINER_TYPES:
            raise bad_request(f"containerAudioType must be one of {', '.join(sorted(CONTAINER_TYPES))}.")
    elif "rawAudio" in audio_format:
        raw = audio_format["rawAudio"]
        if not isinstance(raw, dict) or raw.get("audioEncoding") != "LINEAR16_PCM":
            raise bad_request("rawAudio.audioEncoding must be LINEAR16_PCM.")
    else:
        raise bad_request("recognitionModel.audioFormat needs exactly one of rawAudio, containerAudio.")
    restriction = model.get("languageRestriction")
    if restriction is not None:
        codes = restriction.get("languageCode") if isinstance(restriction, dict) else None
        if restriction.get("restrictionType") not in ("WHITELIST", "BLACKLIST") or not isinstance(
            codes, list
        ):
            raise bad_request(
                "languageRestriction needs restrictionType WHITELIST or BLACKLIST and languageCode[]."
            )
        for code in codes:
            if not isinstance(code, str) or code.lower() not in LANGUAGES:
                raise bad_request(f"Unsupported language {code!r}.")


def _restricted_languages(model: Any) -> list[str] | None:
    if isinstance(model, dict) and isinstance(model.get("languageRestriction"), dict):
        codes = model["languageRestriction"].get("languageCode")
        return list(codes) if isinstance(codes, list) else None
    return None


def _container_type(model: Any) -> str | None:
    if isinstance(model, dict) and isinstance(model.get("audioFormat"), dict):
        container = model["audioFormat"].get("containerAudio")
        if isinstance(container, dict):
            return str(container.get("containerAudioType"))
        if "rawAudio" in model["audioFormat"]:
            return "LINEAR16_PCM"
    return None


@routes.get(OPERATIONS_PREFIX + "{operation_id}")
async def get_operation(request: web.Request) -> web.Response:
    recognition = state_of(request).speech.recognitions.get(request.match_info["operation_id"])
    if recognition is None:
        raise ApiError(404, "Operation not found.")
    return json_response(recognition.operation())


@routes.get(ASYNC_PREFIX + "getRecognition")
async def get_recognition(request: web.Request) -> web.StreamResponse:
    operation_id = request.query.get("operationId") or request.query.get("operation_id")
    if not operation_id:
        raise bad_request("operationId is required.")
    recognition = state_of(request).speech.recognitions.get(operation_id)
    if recognition is None:
        raise ApiError(404, f"Recognition {operation_id!r} not found.")
    if not recognition.done:
        raise ApiError(400, f"Operation {operation_id!r} is not done yet.", code=NOT_DONE)
    if recognition.error is not None:
        raise bad_request(str(recognition.error["message"]))
    lines = "".join(json.dumps(result, ensure_ascii=False) + "\n" for result in recognition.results())
    return web.Response(body=lines.encode(), content_type="application/json")


@routes.get("/__emu/stt")
async def stt_records(request: web.Request) -> web.Response:
    return json_response(state_of(request).speech.records())
