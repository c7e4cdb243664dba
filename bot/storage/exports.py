"""The standard-format export's reads: a few set-based queries, limited to what the reader may see
(the import's write is ``PatentQueries.import_patents``)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.models import AssessmentStatus, EnterpriseRating, Institution, Patent, SelfAssessment, Transaction
from bot.storage.base import StorageBase
from bot.storage.ownership import speaks_for_patent

# an assessment is the inventor's own while a draft or back with them for changes; exports show only
# what the inventor has handed to their office
_SHOWN_STATUS_RANK = {AssessmentStatus.REVIEWED.value: 2, AssessmentStatus.SUBMITTED.value: 1}


@dataclass(frozen=True)
class ExportScope:
    """What one export may contain. ``institution_ids`` None = every patent (unassigned ones too);
    ``rater_institution_ids`` None = every rating row names its rater, otherwise only ratings of
    these institutions' patents do (a tech-transfer office hears who rated its patents anyway)."""

    institution_ids: frozenset[int] | None
    rater_institution_ids: frozenset[int] | None = None

    @classmethod
    def everything(cls) -> "ExportScope":
        return cls(None, None)


class ExportQueries(StorageBase):
    async def export_data(self, scope: ExportScope) -> dict[str, list[dict[str, Any]]]:
        """Patents (with institution names and counties), their submitted or reviewed assessment,
        ratings and transactions, limited to ``scope``."""
        ids_filter = None if scope.institution_ids is None else sorted(scope.institution_ids)
        async with self.session() as s:
            q = (select(Patent, Institution.name, Institution.county)
                 .outerjoin(Institution, Institution.id == Patent.institution_id))
            if ids_filter is not None:
                q = q.where(Patent.institution_id.in_(ids_filter))
            patents = []
            institution_of: dict[str, int | None] = {}
            async for p, inst, county in await s.stream(q.order_by(Patent.id).execution_options(yield_per=2000)):
                institution_of[p.id] = p.institution_id
                patents.append({"id": p.id, "pub_no": p.pub_no, "title": p.title, "title_derived": p.title_derived,
                                "abstract": p.abstract, "claims": p.claims, "institution": inst, "county": county,
                                "applicant": p.applicant, "inventors": p.inventors, "ipc": p.ipc,
                                "patent_type": p.patent_type, "filing_date": p.filing_date,
                                "grant_date": p.grant_date, "industry_field": p.industry_field,
                                "legal_status": p.legal_status, "source": p.source, "source_idx": p.source_idx})

            def scoped(q):
                if ids_filter is None:
                    return q
                model = q.column_descriptions[0]["entity"]
                return q.join(Patent, Patent.id == model.patent_id).where(Patent.institution_id.in_(ids_filter))

            assessments: dict[str, SelfAssessment] = {}
            shown = list(_SHOWN_STATUS_RANK)
            for a in await s.scalars(scoped(select(SelfAssessment).where(SelfAssessment.status.in_(shown),
                                                                        speaks_for_patent()))
                                     .order_by(SelfAssessment.updated_at)):
                prev = assessments.get(a.patent_id)
                if prev is None or _SHOWN_STATUS_RANK[a.status] >= _SHOWN_STATUS_RANK[prev.status]:
                    assessments[a.patent_id] = a
            ratings = list(await s.scalars(scoped(select(EnterpriseRating)).order_by(EnterpriseRating.id)))
            txns = list(await s.scalars(scoped(select(Transaction)).order_by(Transaction.id)))
        by_patent_r: dict[str, list[EnterpriseRating]] = defaultdict(list)
        for r in ratings:
            by_patent_r[r.patent_id].append(r)
        by_patent_t: dict[str, list[Transaction]] = defaultdict(list)
        for t in txns:
            by_patent_t[t.patent_id].append(t)
        for p in patents:
            a = assessments.get(p["id"])
            p["assessment"] = a and {c: getattr(a, c) for c in (
                "status", "industry_field", "maturity", "scenarios", "scenario_text", "prospect", "intents",
                "implemented", "implemented_how", "licence_kind", "payment_kind", "open_licence", "price_range")}
            p["ratings"] = by_patent_r.get(p["id"], [])
            p["transactions"] = by_patent_t.get(p["id"], [])

        def rater(r: EnterpriseRating) -> int | None:
            if scope.rater_institution_ids is None or institution_of.get(r.patent_id) in scope.rater_institution_ids:
                return r.rater_id
            return None

        needs_scope = None if scope.institution_ids is None else set(scope.institution_ids)
        return {"patents": patents, "needs": await self.needs_for_export(needs_scope),
                "ratings": [{"patent_id": r.patent_id, "rater_id": rater(r), "is_expert": r.is_expert,
                             "prospect": r.prospect, "improvement_needs": r.improvement_needs,
                             "improvement_text": r.improvement_text, "cooperation_intents": r.cooperation_intents,
                             "price_expectation": r.price_expectation, "comment": r.comment,
                             "updated_at": r.updated_at} for r in ratings],
                "transactions": [{"patent_id": t.patent_id, "kind": t.kind, "date": t.date, "filed": t.filed,
                                  "counterparty": t.counterparty, "industrialised": t.industrialised,
                                  "product_filing_status": t.product_filing_status} for t in txns]}
