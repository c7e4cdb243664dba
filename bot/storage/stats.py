"""Progress statistics (监测评价): per institution and per county, now or as of a past moment."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.models import (AssessmentStatus, Department, EnterpriseRating, Event, Institution, Patent, SelfAssessment,
                        Transaction)
from bot.storage.base import StorageBase
from bot.storage.ownership import speaks_for_patent

TRANSFERABLE = ("transfer", "license", "equity")


@dataclass(frozen=True)
class InstitutionStats:
    institution: str
    patents: int
    assessed: int  # a submitted or reviewed self-assessment (盘点)
    transferable: int  # submitted as transferable (转让/许可/作价入股)
    rated: int  # at least one enterprise/expert rating (评价)
    transactions: int

    @property
    def inventory_rate(self) -> float:
        return self.assessed / self.patents if self.patents else 0.0

    @property
    def rating_rate(self) -> float:
        return self.rated / self.transferable if self.transferable else 0.0


class StatsQueries(StorageBase):
    async def institution_stats(self, as_of: dt.datetime, institution_ids: set[int] | None = None
                                ) -> list[InstitutionStats]:
        """Counts per institution as they stood at ``as_of`` (so week-over-week needs no snapshots)."""
        async with self.session() as s:
            insts = {i: n for i, n in await s.execute(select(Institution.id, Institution.name))
                     if institution_ids is None or i in institution_ids}
            patents = dict(list(await s.execute(
                select(Patent.institution_id, func.count()).where(Patent.institution_id.is_not(None),
                                                                  Patent.created_at <= as_of)
                .group_by(Patent.institution_id))))
            assessed: dict[int, set[str]] = {}
            transferable: dict[int, set[str]] = {}
            rows = await s.execute(select(Patent.institution_id, SelfAssessment.patent_id, SelfAssessment.intents)
                                   .join(Patent, Patent.id == SelfAssessment.patent_id)
                                   .where(SelfAssessment.status.in_([AssessmentStatus.SUBMITTED.value,
                                                                     AssessmentStatus.REVIEWED.value]),
                                          SelfAssessment.submitted_at <= as_of, speaks_for_patent()))
            for inst, pid, intents in rows:
                assessed.setdefault(inst, set()).add(pid)
                if set(intents or []) & set(TRANSFERABLE):
                    transferable.setdefault(inst, set()).add(pid)
            rated = dict(list(await s.execute(
                select(Patent.institution_id, func.count(func.distinct(EnterpriseRating.patent_id)))
                .select_from(EnterpriseRating).join(Patent, Patent.id == EnterpriseRating.patent_id)
                .where(EnterpriseRating.created_at <= as_of).group_by(Patent.institution_id))))
            deals = dict(list(await s.execute(
                select(Patent.institution_id, func.count()).select_from(Transaction)
                .join(Patent, Patent.id == Transaction.patent_id)
                .where(Transaction.created_at <= as_of).group_by(Patent.institution_id))))
            unassigned = 0
            if institution_ids is None:  # patents not yet linked to an institution still count in totals
                unassigned = int(await s.scalar(select(func.count()).select_from(Patent).where(
                    Patent.institution_id.is_(None), Patent.created_at <= as_of)) or 0)
        rows = [InstitutionStats(name, patents.get(i, 0), len(assessed.get(i, ())), len(transferable.get(i, ())),
                                 rated.get(i, 0), deals.get(i, 0)) for i, name in insts.items()]
        rows.sort(key=lambda x: (-x.patents, x.institution))
        if unassigned:
            # "" = not linked to an institution (rendered with a label); assessments always link one
            rows.append(InstitutionStats("", unassigned, len(assessed.get(None, ())), len(transferable.get(None, ())),
                                         rated.get(None, 0), deals.get(None, 0)))
        return rows

    async def department_county_names(self) -> set[str]:
        """Every county some department is in (city-level departments left out)."""
        async with self.session() as s:
            return set(await s.scalars(select(Department.county).where(Department.county != "")))

    async def events_held_per_county(self, year: int, now: dt.datetime) -> dict[str, int]:
        """Events held (published, started by ``now``) this year per county; city-level ones left out."""
        start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
        async with self.session() as s:
            return dict(list(await s.execute(
                select(Event.county, func.count()).where(Event.starts_at >= start, Event.starts_at <= now,
                                                         Event.status.in_(["published", "held"]),
                                                         Event.county != "")
                .group_by(Event.county))))

    async def institutions_in_county(self, county: str) -> set[int]:
        async with self.session() as s:
            return set(await s.scalars(select(Institution.id).where(Institution.county == county)))

    async def department_counties(self, department_ids: set[int]) -> set[str]:
        """The counties of these departments ("" = city level)."""
        async with self.session() as s:
            return set(await s.scalars(select(Department.county).where(Department.id.in_(sorted(department_ids)))))

    async def weekly_report_recipients(self) -> list[int]:
        """Officers, minus those who switched the weekly report off (an inactive subscription row) and
        those who blocked the bot."""
        from bot.models import Role, RoleGrant, Subscription, User

        async with self.session() as s:
            officers = set(await s.scalars(select(RoleGrant.user_id).join(User, User.id == RoleGrant.user_id).where(
                RoleGrant.role == Role.OFFICER.value, RoleGrant.revoked_at.is_(None), User.blocked_bot.is_(False))))
            off = set(await s.scalars(select(Subscription.user_id).where(
                Subscription.topic_kind == "weekly_report", Subscription.active.is_(False))))
        return sorted(officers - off)
