"""Pieces the answer models of every area share (what a route's `returns=` names): a
closed object, an outcome code in words, money and an instant as the runtime writes them.

Answer models describe what the code answers, for the OpenAPI document (and so the
fuzzer's response checks): every key the code writes, null only where the code can give
null, closed (`additionalProperties: false`) so a new key must be declared. They validate
nothing at run time."""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    """A closed JSON object the code answers."""

    model_config = ConfigDict(extra="forbid")


class Words(Out):
    """An outcome code with its Turkish and English text (kopru.connectors.words.describe)."""

    code: str
    tr: str
    en: str


# an amount as a decimal string with two places ("1250.00"), never a JSON number
Money = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["1250.00"])]
# the next page's cursor (kopru.pages); null on the last page
NextCursor = Annotated[Optional[str], Field(description="the next page's cursor (?cursor=); null on the last page")]


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A key the code writes only sometimes (said in `description`): not required, and
    never null when present."""
    return Field(default=None, description=description, json_schema_extra=_no_default)
