"""The routes: FastAPI over Serving, with an API key and OpenAI-shaped errors (never a stack trace); each
completions route is its endpoint's module (chat.py, completions.py).

    app = create_app(Serving(Runtime(Choice(model="ponder-arith"), plain=True), Limits()), api_key="secret")
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from ponder.errors import InvalidArgumentError, PonderError
from ponder.server import chat as chat_endpoint
from ponder.server import completions as completions_endpoint
from ponder.server.protocol import ChatCompletionRequest, CompletionRequest, invalid_text, now
from ponder.server.serving import Serving


def error(status: int, message: str, kind: str, code: str | None = None, param: str | None = None,
          headers: dict | None = None) -> JSONResponse:
    """OpenAI's error body; text that is not valid Unicode (a request's, quoted back) is escaped, not a crash."""
    message, param = (None if text is None else text.encode("utf-8", "backslashreplace").decode()
                      for text in (message, param))
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status_code=status, headers=headers)


def create_app(serving: Serving, api_key: str | None = None) -> FastAPI:
    app = FastAPI(title="ponder", version="1", description="OpenAI-compatible API with test-time scaling: "
                  "name the model [STRATEGY[@BUDGET]/]MODEL, or pass a `ponder` object.")

    @app.middleware("http")
    async def authenticate_and_count(request: Request, call_next):
        response = None
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > serving.limits.max_request_bytes:
            response = error(413, f"the request body is {int(length)} bytes, over this server's limit of "
                             f"{serving.limits.max_request_bytes} (--max-request-bytes)", "invalid_request_error",
                             "request_too_large")
        elif api_key is not None and request.url.path.startswith("/v1/"):
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {api_key}".encode()):
                response = error(401, "a valid API key is needed: Authorization: Bearer KEY",
                                 "invalid_request_error", "invalid_api_key")
        try:
            response = response or await call_next(request)
        except Exception as exc:  # a failure no handler turned into a response: counted, and OpenAI-shaped
            response = error(500, f"internal error: {type(exc).__name__}", "server_error", "internal_error")
        route = request.scope.get("route")
        serving.metrics.requests.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return error(422, f"{param or 'body'}: {first.get('msg', 'invalid request')}", "invalid_request_error",
                     "invalid_value", param)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(PonderError)
    async def ponder_error(request: Request, exc: PonderError):  # each error class carries its status and type
        return error(exc.status, str(exc), exc.kind, exc.code, exc.param,
                     headers={"Retry-After": "1"} if exc.status == 429 else None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        return error(500, f"internal error: {type(exc).__name__}", "server_error", "internal_error")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        return Response(serving.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": serving.model, "object": "model", "created": now(),
                                            "owned_by": "ponder"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatCompletionRequest):  # the function names are the OpenAPI schema's operation ids
        return _response(body, await chat_endpoint.create(serving, checked(body)))

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        return _response(body, await completions_endpoint.create(serving, checked(body)))

    def checked(body):
        """A body whose text is all valid Unicode (else a 400 naming where), so nothing downstream meets any."""
        where = invalid_text(body.model_dump(exclude_unset=True))
        if where is not None:
            raise InvalidArgumentError(f"{where}: text that is not valid Unicode (a lone surrogate such as \\ud800)",
                                       param=where)
        return body

    def _response(body, reply):
        return StreamingResponse(reply, media_type="text/event-stream") if body.stream else reply

    return app
