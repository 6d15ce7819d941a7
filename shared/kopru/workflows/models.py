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
