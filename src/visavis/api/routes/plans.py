"""``/v1/tenant/interview-plans``: the plans the built-in interviewer follows for a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from visavis.agents.plans import load_stored_plan, parse_plan
from visavis.api.deps import PrincipalDep, SessionDep
from visavis.db.models import InterviewPlanRow
from visavis.db.repositories.interview_plans import InterviewPlanRepository

router = APIRouter(prefix="/v1/tenant/interview-plans", tags=["interview plans"])

PlanName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="a slug")]


class PlanPublic(BaseModel):
    name: str
    title: str
    role: str
    questions: int
    plan: dict[str, Any]
    updated_at: datetime

    @classmethod
    def of(cls, row: InterviewPlanRow) -> PlanPublic:
        plan = load_stored_plan(row.plan)
        return cls(
            name=row.name,
            title=plan.title,
            role=plan.role,
            questions=len(plan.questions),
            plan=row.plan,
            updated_at=row.updated_at,
        )


class PlanList(BaseModel):
    items: list[PlanPublic]


@router.put("/{plan_name}", response_model=PlanPublic)
async def put_plan(
    plan_name: PlanName,
    body: dict[str, Any],
    principal: PrincipalDep,
    session: SessionDep,
    response: Response,
) -> PlanPublic:
    """Store a plan (validated: greeting, questions with follow-ups and keywords, closing).

    Conversations use it with ``{"agent": "interviewer", "plan": "<name>"}``.
    """
    plan = parse_plan(body)
    row, created = await InterviewPlanRepository(session, principal.tenant_id).put(
        plan_name, plan.model_dump(mode="json")
    )
    await session.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return PlanPublic.of(row)


@router.get("", response_model=PlanList)
async def list_plans(principal: PrincipalDep, session: SessionDep) -> PlanList:
    rows = await InterviewPlanRepository(session, principal.tenant_id).list()
    return PlanList(items=[PlanPublic.of(r) for r in rows])


@router.get("/{plan_name}", response_model=PlanPublic)
async def get_plan(plan_name: PlanName, principal: PrincipalDep, session: SessionDep) -> PlanPublic:
    repo = InterviewPlanRepository(session, principal.tenant_id)
    return PlanPublic.of(await repo.get(plan_name))


@router.delete("/{plan_name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_plan(plan_name: PlanName, principal: PrincipalDep, session: SessionDep) -> None:
    await InterviewPlanRepository(session, principal.tenant_id).delete(plan_name)
    await session.commit()
