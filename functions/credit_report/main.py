"""credit-report: credit reports (Findeks) on a counterparty, only on that person's explicit
consent for the credit_report purpose: asked of the tenant's KKB-member partner (a paid call,
once, through kopru.work), or the Findeks PDF the counterparty shared, kept under the
subject key; a withdrawn consent clears what rests on it.

    functions-framework --asgi --source functions/credit_report/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import PAGED, Call, EventCall, Function, created

fn = Function("credit-report", max_body_bytes=6 * 1024 * 1024)  # a 4 MiB PDF, base64, and its fields


def _id(call: Call) -> UUID:
    return call.path_id("credit.not_found")


@fn.route("POST", "/credit-reports",
          summary="Request a counterparty's credit report (TCKN or VKN) from the tenant's KKB-member partner, only "
                  "on the person's active explicit consent for credit_report (else 422 credit.no_consent, nothing "
                  "asked); 202, asked on kopru.credit.requested.v1 (credit:request). Optional Idempotency-Key",
          body="kopru.credit.models:CreditRequestIn", responses=(202, 401, 403, 404, 409, 413, 415, 422, 429),
          links={"read": ("GET /credit-reports/{id}", {"id": "$response.body#/id"})},
          returns="kopru.credit.models:CreditRequested", scope="credit:request", tenant="token")
async def request(call: Call):
    from kopru.credit.models import CreditRequestIn
    from kopru.credit.service import request_report

    body = await call.json(CreditRequestIn)
    out = await request_report(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 202, f"/credit-reports/{out['id']}")


@fn.route("POST", "/credit-reports/uploads",
          summary="Keep the Findeks PDF report a counterparty shared (base64, at most 4 MiB; %PDF- and its structure "
                  "checked, encrypted refused), on the same consent rule, under the subject key (credit:request). "
                  "Optional Idempotency-Key",
          body="kopru.credit.models:CreditUploadIn", responses=(201, 401, 403, 404, 409, 413, 415, 422, 429),
          links={"read": ("GET /credit-reports/{id}", {"id": "$response.body#/id"})},
          returns="kopru.credit.models:CreditUploaded", scope="credit:request", tenant="token")
async def upload(call: Call):
    from kopru.credit.models import CreditUploadIn
    from kopru.credit.service import upload_report

    body = await call.json(CreditUploadIn)
    out = await upload_report(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 201, f"/credit-reports/{out['id']}")


@fn.route("GET", "/credit-reports", returns="kopru.credit.models:CreditReportsPage",
          summary="The tenant's credit reports, newest first, a page at a time, as summaries (status, subject and "
                  "consent, dates, outcome) without the report itself, which stays behind GET /credit-reports/{id}; "
                  "optional ?status= (credit:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="credit:read", tenant="token",
          query=(*PAGED, ("status", False, {"type": "string", "enum": ["requested", "obtained", "failed", "unknown"]},
                          "only the reports in this status")),
          links={"read": ("GET /credit-reports/{id}", {"id": "$response.body#/credit_reports/0/id"})})
async def listing(call: Call):
    from kopru import pages
    from kopru.credit.service import listing

    return await listing(call.tenant, pages.limit(call.query), call.query.get("cursor"), call.query.get("status"))


@fn.route("GET", "/credit-reports/{id}", returns="kopru.credit.models:CreditReportOut",
          summary="A credit report: status, the consent it rests on, and the report while it is kept (credit:read)",
          responses=(200, 401, 403, 404, 429), scope="credit:read", tenant="token")
async def read(call: Call):
    from kopru.credit.service import get_report

    return await get_report(call.tenant, _id(call))


@fn.route("GET", "/credit-reports/{id}/document",
          summary="The uploaded Findeks PDF while it is kept (410 credit.content_gone after) (credit:read)",
          responses=(200, 401, 403, 404, 410, 429), scope="credit:read", tenant="token", content="application/pdf")
async def document(call: Call):
    from starlette.responses import Response

    from kopru.credit.service import get_document

    pdf = await get_document(call.tenant, _id(call))
    return Response(pdf, 200, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="findeks-report.pdf"'})


@fn.on_event("kopru.credit.requested.v1")
async def requested(ev: EventCall):
    from kopru.credit.service import deliver

    await deliver(ev)


@fn.on_event("kopru.consent.withdrawn.v1")
async def withdrawn(ev: EventCall):
    from kopru.credit.service import consent_withdrawn

    await consent_withdrawn(ev)


async def handle(request):
    return await fn(request)
