"""GET /v1/admin/usage: token usage of every user, by day and model, and the heaviest users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from parlay.api.deps import AdminUser, Context, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.api.usage import UsageDay, UsageModel, UsageReport, UsageTotals, totals_of
from parlay.services.usage import usage_of_everyone

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)


class UserUsageOut(UsageTotals):
    user_id: str
    email: str | None
    role: str


class AdminUsageReport(UsageReport):
    by_user: list[UserUsageOut]


@router.get("/usage", response_model=Data[AdminUsageReport])
async def all_usage(
    ctx: Context, _admin: AdminUser, session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366, description="how many days back (UTC)")] = 30,
    top: Annotated[int, Query(ge=1, le=500, description="how many users in by_user")] = 20,
) -> Data[AdminUsageReport]:
    """Every user's usage summed per day and model; `by_user` lists the heaviest users by
    tokens."""
    start, end, rows, users = await usage_of_everyone(session, ctx.usage, days, top)
    models = sorted({r.model for r in rows})
    return Data(data=AdminUsageReport(
        start_date=start, end_date=end, totals=UsageTotals(**totals_of(rows)),
        by_model=[UsageModel(**totals_of([r for r in rows if r.model == m], model=m))
                  for m in models],
        days=[UsageDay(**totals_of([r], date=r.day, model=r.model)) for r in rows],
        by_user=[UserUsageOut(**totals_of([u], user_id=u.user_id, email=u.email, role=u.role))
                 for u in users],
    ))
