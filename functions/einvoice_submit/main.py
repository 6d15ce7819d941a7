"""einvoice-submit: UBL-TR e-Fatura / e-Arşiv invoices, numbered, signed, validated with
GİB's rules, submitted through Nilvera and followed to the answer.

    functions-framework --asgi --source functions/einvoice_submit/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import Call, EventCall, Function, created

fn = Function("einvoice-submit", max_body_bytes=512 * 1024)


def _id(call: Call) -> UUID:
    return call.path_id("einvoice.not_found")


@fn.route("POST", "/einvoices", returns="kopru.einvoice.models:EinvoiceAccepted",
          summary="Issue an invoice (202): numbered, signed, validated; submitted on kopru.einvoice.requested.v1 "
                  "(einvoice:write). Optional Idempotency-Key header",
          body="kopru.einvoice.models:Invoice", responses=(202, 400, 401, 403, 409, 413, 415, 422, 429),
          links={"read": ("GET /einvoices/{id}", {"id": "$response.body#/id"}),
                 "document": ("GET /einvoices/{id}/xml", {"id": "$response.body#/id"})},
          scope="einvoice:write", tenant="token")
async def issue(call: Call):
    from kopru.einvoice.models import Invoice
    from kopru.einvoice.service import request_invoice

    body = await call.json(Invoice)
    out = await request_invoice(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 202, f"/einvoices/{out['id']}", replayed_in_body=True)


@fn.route("GET", "/einvoices/view/{token}",
          summary="The invoice as HTML (its own embedded XSLT), through the signed, expiring link "
                  "kopru.einvoice.view.view_link makes (e.g. the SMS after a payment); no bearer token",
          public=True, responses=(200, 403, 404, 410, 422), content="text/html")
async def view(call: Call):
    from kopru.einvoice.view import serve_view

    return await serve_view(call.path_params["token"])


@fn.route("GET", "/einvoices/{id}", returns="kopru.einvoice.models:EinvoiceOut", summary="An invoice's status and its history (einvoice:read)",
          responses=(200, 401, 403, 404, 429), scope="einvoice:read", tenant="token")
async def read(call: Call):
    from kopru.einvoice.service import get_invoice

    return await get_invoice(call.tenant, _id(call))


@fn.route("GET", "/einvoices/{id}/xml", summary="The signed UBL-TR document (application/xml; einvoice:read)",
          responses=(200, 401, 403, 404, 429), scope="einvoice:read", tenant="token", content="application/xml")
async def xml(call: Call):
    from starlette.responses import Response

    from kopru.einvoice.service import get_xml

    doc = await get_xml(call.tenant, _id(call))
    return Response(doc, media_type="application/xml")


@fn.on_event("kopru.einvoice.requested.v1")
async def requested(ev: EventCall):
    from kopru.einvoice.service import submit

    await submit(ev)


async def handle(request):
    return await fn(request)
