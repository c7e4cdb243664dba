"""Everything the standard-format export needs, in a few set-based queries."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from bot.models import AssessmentStatus, EnterpriseRating, Institution, Patent, SelfAssessment, Transaction
from bot.storage.base import StorageBase


class ExportQueries(StorageBase):
    async def export_data(self, institution_ids: set[int] | None) -> dict[str, list[dict[str, Any]]]:
        """Patents (with institution names), their newest assessment, ratings and transactions; limited
        to ``institution_ids`` when given (a tech-transfer office exports its own)."""
        async with self.session() as s:
            q = select(Patent, Institution.name).outerjoin(Institution, Institution.id == Patent.institution_id)
            if institution_ids is not None:
                q = q.where(Patent.institution_id.in_(sorted(institution_ids)))
            patents = []
            async for p, inst in await s.stream(q.order_by(Patent.id).execution_options(yield_per=2000)):
                patents.append({"id": p.id, "pub_no": p.pub_no, "title": p.title, "title_derived": p.title_derived,
                                "abstract": p.abstract, "claims": p.claims, "institution": inst,
                                "applicant": p.applicant, "inventors": p.inventors, "ipc": p.ipc,
                                "grant_date": p.grant_date, "industry_field": p.industry_field,
                                "legal_status": p.legal_status, "source": p.source, "source_idx": p.source_idx})
            ids = {p["id"] for p in patents}
            assessments: dict[str, SelfAssessment] = {}
            for a in await s.scalars(select(SelfAssessment).order_by(SelfAssessment.updated_at)):
                if a.patent_id in ids:
                    prev = assessments.get(a.patent_id)
                    # prefer reviewed, then submitted, then the newest draft
                    rank = {AssessmentStatus.REVIEWED.value: 3, AssessmentStatus.SUBMITTED.value: 2}.get(a.status, 1)
                    prank = {AssessmentStatus.REVIEWED.value: 3, AssessmentStatus.SUBMITTED.value: 2}.get(
                        prev.status, 1) if prev else 0
                    if rank >= prank:
                        assessments[a.patent_id] = a
            ratings = [r for r in await s.scalars(select(EnterpriseRating).order_by(EnterpriseRating.id))
                       if r.patent_id in ids]
            txns = [t for t in await s.scalars(select(Transaction).order_by(Transaction.id)) if t.patent_id in ids]
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
        return {"patents": patents, "needs": await self.needs_for_export(institution_ids),
                "ratings": [{"patent_id": r.patent_id, "rater_id": r.rater_id, "is_expert": r.is_expert,
                             "prospect": r.prospect, "improvement_needs": r.improvement_needs,
                             "improvement_text": r.improvement_text, "cooperation_intents": r.cooperation_intents,
                             "price_expectation": r.price_expectation, "comment": r.comment,
                             "updated_at": r.updated_at} for r in ratings],
                "transactions": [{"patent_id": t.patent_id, "kind": t.kind, "date": t.date, "filed": t.filed,
                                  "counterparty": t.counterparty, "industrialised": t.industrialised,
                                  "product_filing_status": t.product_filing_status} for t in txns]}
