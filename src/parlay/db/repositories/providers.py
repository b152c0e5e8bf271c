"""SQL for admin-added providers and admin edits of the model catalog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id
from parlay.db.models.gateway import ModelOverrideRecord, ProviderRecord


async def list_providers(session: AsyncSession) -> Sequence[ProviderRecord]:
    return (await session.scalars(select(ProviderRecord).order_by(ProviderRecord.created_at,
                                                                  ProviderRecord.id))).all()


async def get_provider(session: AsyncSession, provider_id: str) -> ProviderRecord | None:
    return await session.get(ProviderRecord, provider_id)


async def get_provider_by_name(session: AsyncSession, name: str) -> ProviderRecord | None:
    return await session.scalar(select(ProviderRecord).where(ProviderRecord.name == name))


async def add_provider(session: AsyncSession, **fields: Any) -> ProviderRecord:
    record = ProviderRecord(id=new_id("prov"), **fields)
    session.add(record)
    await session.flush()
    return record


async def delete_provider(session: AsyncSession, provider_id: str) -> None:
    await session.execute(delete(ProviderRecord).where(ProviderRecord.id == provider_id))


async def list_overrides(session: AsyncSession) -> Sequence[ModelOverrideRecord]:
    return (await session.scalars(select(ModelOverrideRecord))).all()


async def get_override(session: AsyncSession, model_id: str) -> ModelOverrideRecord | None:
    return await session.get(ModelOverrideRecord, model_id)


async def add_override(session: AsyncSession, model_id: str) -> ModelOverrideRecord:
    record = ModelOverrideRecord(model_id=model_id)
    session.add(record)
    await session.flush()
    return record
