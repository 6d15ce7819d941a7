"""workflows-resume: on its schedule (catalog `schedules`, every minute) the workflow runs
left unfinished (a process killed between two steps, a step waiting on a provider, a
redelivery that never came) are taken up at the step they reached
(kopru.workflows.engine.resume_due). A separate function from `workflows` because OpenFaaS
feeds a function either by Kafka or by a schedule.

    functions-framework --asgi --source functions/workflows_resume/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("workflows-resume")


@fn.on_event("kopru.workflow.resume_poll.v1")
async def tick(ev: EventCall):
    from kopru.workflows.engine import resume_due

    return json_response(await resume_due(), 200)


async def handle(request):
    return await fn(request)
