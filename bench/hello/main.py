"""The baseline: a functions-framework ASGI hello world, served exactly like a
Köprü function.

    functions-framework --asgi --source bench/hello/main.py --target handle
"""

import functions_framework.aio


@functions_framework.aio.http
async def handle(request):
    return "ok"
