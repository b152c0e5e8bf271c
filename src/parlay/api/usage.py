"""GET /v1/usage/me: the caller's token usage by day and model."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parlay.api.deps import Context, CurrentUser, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.services.usage import usage_of_user

router = APIRouter(tags=["usage"], responses=ERROR_RESPONSES)


class UsageTotals(BaseModel):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class UsageDay(UsageTotals):
    date: date
    model: str


class UsageModel(UsageTotals):
    model: str


class UsageReport(BaseModel):
    object: Literal["usage"] = "usage"
    start_date: date
    end_date: date
    totals: UsageTotals
    by_model: list[UsageModel]
    days: list[UsageDay]


def totals_of(rows: list, **extra: object) -> dict:
    prompt = sum(r.prompt_tokens for r in rows)
    completion = sum(r.completion_tokens for r in rows)
    return {"requests": sum(r.requests for r in rows), "prompt_tokens": prompt,
            "completion_tokens": completion, "total_tokens": prompt + completion, **extra}


@router.get("/v1/usage/me", response_model=Data[UsageReport])
async def my_usage(
    ctx: Context, user: CurrentUser, session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366, description="how many days back (UTC)")] = 30,
) -> Data[UsageReport]:
    start, end, rows = await usage_of_user(session, ctx.usage, user.user_id, days)
    models = sorted({r.model for r in rows})
    return Data(data=UsageReport(
        start_date=start, end_date=end, totals=UsageTotals(**totals_of(rows)),
        by_model=[UsageModel(**totals_of([r for r in rows if r.model == m], model=m))
                  for m in models],
        days=[UsageDay(**totals_of([r], date=r.day, model=r.model)) for r in rows],
    ))
