"""POST /v0/embeddings, /v1/embeddings and /v0/images/embeddings: any embedding model, billed in credits."""

from fastapi import Request
from fastapi.responses import JSONResponse

from unigate.gateway import embeddings
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms

app = create_app("embeddings")


async def _embed(request: Request, caller: CallerDep, *, images: bool) -> JSONResponse:
    plan = embeddings.prepare(await read_json(request), caller, images=images,
                              extra_parameters=request.headers.get("extra-parameters"))
    result = await embeddings.embed(plan, caller, remaining_ms=remaining_ms(request))
    return JSONResponse(result.body, headers=result.headers)


@app.post("/v0/embeddings")
@app.post("/v1/embeddings")
async def text_embeddings(request: Request, caller: CallerDep) -> JSONResponse:
    return await _embed(request, caller, images=False)


@app.post("/v0/images/embeddings")
async def image_embeddings(request: Request, caller: CallerDep) -> JSONResponse:
    return await _embed(request, caller, images=True)


lambda_handler = lambda_handler_for(app)
