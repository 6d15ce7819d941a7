"""Request bodies of the workflows function (shape only: kopru.workflows.service.check
checks what they mean)."""

from __future__ import annotations

from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Const(_Base):
    const: Any = Field(description="a constant value for the field")


class Trigger(_Base):
    type: str = Field(min_length=1, max_length=100, description="a catalog event type (GET /workflows/actions "
                                                               "lists the trigger types)")
    filter: Optional[list[dict[str, Any]]] = Field(
        default=None, max_length=20,
        description="CloudEvents Subscriptions API filters (exact, prefix, suffix, all, any, not) over type, "
                    "source, subject, id and data.<field>; string comparisons")
    condition: Optional[str] = Field(
        default=None, min_length=1, max_length=500,
        description="a JMESPath expression over {type, source, id, subject, time, data} that must give true, "
                    "e.g. to_number(data.amount) >= `1000` (amounts are decimal strings)")


class Step(_Base):
    action: str = Field(min_length=1, max_length=64, description="an action of the registry, e.g. sms.send")
    input: dict[str, Union[str, Const]] = Field(
        default_factory=dict, max_length=20,
        description="each input field: a JMESPath expression over the event (\"data.payment_id\") or "
                    "{\"const\": value}")


class WorkflowIn(_Base):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, json_schema_extra={"examples": [
        {"name": "Büyük ödemeye SMS", "trigger": {"type": "kopru.payment.succeeded.v1",
                                                 "filter": [{"exact": {"data.currency": "TRY"}}],
                                                 "condition": "to_number(data.amount) >= `1000`"},
         "steps": [{"action": "sms.send", "input": {"to_payment_buyer": "data.payment_id",
                                                    "message": {"const": "Ödemeniz alındı, teşekkürler."},
                                                    "kind": {"const": "transactional"}}}]}]})

    name: str = Field(min_length=1, max_length=200)
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=10)
    enabled: bool = True


class WorkflowPatch(_Base):
    name: Optional[str] = Field(default=None, min_length=1, max_length=200)
    enabled: Optional[bool] = Field(default=None, description="false disables the workflow (no new runs; runs "
                                                              "under way finish), true enables it again")


class DryRunIn(_Base):
    data: Optional[dict[str, Any]] = Field(
        default=None, description="the event's data, as its schema (events/schemas/<type>.json) defines it; a "
                                  "sample made from the schema when absent")
    subject: Optional[str] = Field(default=None, max_length=200)


# -- answers (what the workflows routes answer; kopru.answers) ------------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Literal  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import NextCursor, Out, Words, absent  # noqa: E402


class ConstOut(Out):
    const: Any


class StepOut(Out):
    action: str
    input: dict[str, Union[str, ConstOut]]


class TriggerOut(Out):
    type: str = Field(description="a catalog event type")
    filter: Optional[list[dict[str, Any]]]
    condition: Optional[str]


class WorkflowOut(Out):
    """A workflow (what saving, reading or changing one answers)."""

    id: _UUID
    name: str
    trigger: TriggerOut
    steps: list[StepOut]
    enabled: bool
    created_at: _datetime
    updated_at: _datetime


class WorkflowsPage(Out):
    """GET /workflows (kopru.pages)."""

    workflows: list[WorkflowOut]
    next_cursor: NextCursor


class RunOut(Out):
    id: _UUID
    workflow_id: _UUID
    event_type: str
    event_id: str
    status: Literal["running", "succeeded", "failed"]
    step: int = Field(ge=0, description="the step reached (0-based; steps when finished)")
    steps: int = Field(ge=1, description="how many steps the run has")
    code: Optional[str]
    error: Optional[Words]
    attempts: int
    results: list[dict[str, Any]] = Field(description="what each finished step made (e.g. sms_id)")
    created_at: _datetime
    updated_at: _datetime
    finished_at: Optional[_datetime]


class RunsPage(Out):
    """GET /workflows/{id}/runs: newest first (kopru.pages)."""

    runs: list[RunOut]
    next_cursor: NextCursor


class SampleEvent(Out):
    """The event as conditions and mappings see it."""

    type: str
    source: str
    id: str
    subject: Optional[str]
    time: Optional[str]
    data: Any


class StepError(Words):
    fields: list[str] = absent("the input fields that failed (mapping errors)")


class DryRunStep(Out):
    index: int = Field(ge=0)
    action: str
    input: dict[str, Any] = absent("the step's input resolved over the event")
    would_send: dict[str, Any] = absent("what the action would send (its preview): "
                                                                 "provider, recipient, content")
    error: StepError = absent("why the step would fail")


class DryRunOut(Out):
    """POST /workflows/{id}/dry-run: what the workflow would do; nothing is sent."""

    workflow_id: _UUID
    event: SampleEvent
    filter_matches: bool
    condition_holds: bool
    would_run: bool
    steps: list[DryRunStep]
    sent: Literal[False]


class Text(Out):
    tr: str
    en: str


class ActionOut(Out):
    name: str
    title: Text
    scope: str
    consent: list[Text] = Field(description="the consent rules the action keeps")
    input: dict[str, Any] = Field(description="the action's input, as a JSON Schema")


class ActionsOut(Out):
    """GET /workflows/actions: the actions registry and the trigger types."""

    actions: list[ActionOut]
    trigger_types: list[str]
