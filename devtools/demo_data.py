"""Demo metadata for the playground's database, so every view has something to show.

The shipped corpus has real titles and abstracts but no holder, type, dates, inventors or legal
status. In the playground only (``grant_playground_roles`` calls :func:`apply_demo_data`), this
spreads the patents over Fuzhou's universities and research institutes (real names and counties) and
invents the rest: filing and grant dates, patent types, legal status, inventor names, an IPC class
guessed from the text, demo inventors / offices / enterprises, self-assessments (drafts, submitted,
returned, reviewed), enterprise ratings, transactions, county departments and a few events.
The abstracts are untouched. Everything comes from a fixed seed, so two fresh playgrounds hold the
same demo data; it is applied once (an audit row marks it) and never outside the playground.
Names and texts are in ``demo_data.json``.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.dialogs.enterprise_profile import ENTERPRISE_KINDS
from bot.dialogs.rating import COOPERATION, NEEDS
from bot.models import (AssessmentStatus, AuditLog, Department, Enterprise, EnterpriseRating, Event, Institution,
                        InventorPatent, Lead, LinkStatus, Patent, Role, RoleGrant, SelfAssessment, Transaction, User)
from bot.vocabulary import LICENCE_KINDS, PAYMENT_KINDS, PRICE_RANGES, suggest_industry

DATA_FILE = Path(__file__).with_name("demo_data.json")
SEED = 20240701
MARK_KIND, MARK_ID = "demo_data", "playground"
BEIJING = dt.timezone(dt.timedelta(hours=8))
# demo users get ids far from the playground's simulated users (1000–1005) and from real test ids
INVENTOR_IDS, OFFICE_IDS, ENTERPRISE_IDS = 880_000, 881_000, 882_000
INVENTORS_PER_INSTITUTION = 4
# shares of the corpus
ASSESSED_SHARE = 0.22
STATUS_WEIGHTS = {AssessmentStatus.REVIEWED: 66, AssessmentStatus.SUBMITTED: 16, AssessmentStatus.RETURNED: 6,
                  AssessmentStatus.DRAFT: 12}
PENDING_AT_MOST = 3  # submitted and waiting per institution, so an office's /review fits on one page
RATED_SHARE, TRADED_SHARE = 0.45, 0.12
TYPE_WEIGHTS = {"invention": 74, "utility_model": 23, "design": 3}
SCENARIO_OF = {"digital": "electronics", "new_energy": "energy", "new_materials": "materials",
               "equipment": "manufacturing", "automotive": "transport", "textile": "consumer",
               "metallurgy": "construction", "petrochemical": "materials", "biomedicine": "healthcare",
               "food": "agri_food", "agriculture": "agri_food", "marine": "agri_food", "environment": "environment",
               "other": "manufacturing"}


@dataclass
class DemoSummary:
    patents: int = 0
    institutions: int = 0
    assessments: int = 0
    reviewed: int = 0
    pending: int = 0
    ratings: int = 0
    transactions: int = 0
    leads: int = 0
    events: int = 0


def demo_spec() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


class _Names:
    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.surnames, self.given, self.rng = spec["surnames"], spec["given"], rng

    def person(self) -> str:
        return self.rng.choice(self.surnames) + self.rng.choice(self.given)


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def _ipc(title: str, abstract: str, table: list[list[str]]) -> str | None:
    """The IPC group of the first keyword found in the title, else in the abstract (a guess)."""
    for text in (title, abstract[:400]):
        for word, code in table:
            if word in text:
                return code
    return None


def _bibliography(p: Patent, rng: random.Random, names: _Names, spec: dict[str, Any]) -> dict[str, Any]:
    """Type, filing and grant dates and legal status of one patent (dates fixed, not relative to today)."""
    kind = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()))[0]
    status = spec["legal_status"]
    filed = _date_between(rng, dt.date(2008, 1, 1), dt.date(2022, 12, 31))
    legal, granted = status["valid"], None
    if kind == "invention":
        if filed >= dt.date(2021, 6, 1) and rng.random() < 0.5:
            legal = status["pending"]
        else:
            granted = filed + dt.timedelta(days=rng.randint(420, 1150))
    else:
        granted = filed + dt.timedelta(days=rng.randint(120, 330))
    if granted is not None and granted < dt.date(2016, 1, 1) and rng.random() < 0.08:
        legal = status["lapsed"]
    inventors = "; ".join(dict.fromkeys(names.person() for _ in range(rng.randint(2, 5))))
    return {"patent_type": kind, "filing_date": filed, "grant_date": granted, "legal_status": legal,
            "inventors": inventors, "ipc": _ipc(p.title, p.abstract or "", spec["ipc"])}


def _pick_institution(industry: str, insts: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    weights = [i["weight"] * (5 if industry in i["fields"] else 1) for i in insts]
    return rng.choices(insts, weights=weights)[0]


async def already_applied(storage: Any) -> bool:
    async with storage.session() as s:
        return await s.scalar(select(AuditLog.id).where(AuditLog.entity_kind == MARK_KIND).limit(1)) is not None


async def apply_demo_data(services: Any) -> DemoSummary | None:
    """Fill the playground's database with demo metadata, once. None: already there, or no patents."""
    storage = services.storage
    if await already_applied(storage):
        return None
    now = services.clock()
    spec = demo_spec()
    rng = random.Random(SEED)
    names = _Names(spec, rng)
    summary = DemoSummary()
    async with storage.session() as s:
        patents = list(await s.scalars(select(Patent).order_by(Patent.id)))
        if not patents:
            return None
        insts = await _institutions(s, spec)
        by_name = {i["name"]: i for i in spec["institutions"]}
        pinned = {k: v for k, v in spec["pinned"].items() if not k.startswith("_")}
        holders: dict[str, dict[str, Any]] = {}
        for p in patents:
            industry = suggest_industry(p.title, p.abstract or "")
            inst = by_name[pinned[p.pub_no]] if p.pub_no in pinned else \
                _pick_institution(industry, spec["institutions"], rng)
            holders[p.id] = inst
            for k, v in _bibliography(p, rng, names, spec).items():
                setattr(p, k, v)
            p.applicant = inst["name"]
            p.institution_id = insts[inst["name"]]
        summary.patents, summary.institutions = len(patents), len(insts)
        people = await _people(s, spec, insts, names)
        await _assessments(s, rng, now, patents, holders, insts, people, summary, set(pinned))
        await _departments_and_events(s, spec, now, summary)
        storage.audit(s, None, "demo_data", MARK_KIND, MARK_ID, None, asdict(summary))
    return summary


async def _institutions(s: Any, spec: dict[str, Any]) -> dict[str, int]:
    """name → id; existing rows (the playground's 福州大学) get their county and kind."""
    out = {}
    for i in spec["institutions"]:
        inst = await s.scalar(select(Institution).where(Institution.name == i["name"]))
        if inst is None:
            inst = Institution(name=i["name"])
            s.add(inst)
        inst.kind, inst.county = i["kind"], i["county"]
        await s.flush()
        out[i["name"]] = inst.id
    return out


async def _user(s: Any, uid: int, name: str) -> None:
    if await s.get(User, uid) is None:
        s.add(User(id=uid, first_name=name, language="zh"))
        await s.flush()  # before the role grants that refer to it (no ORM relationship orders them)


async def _people(s: Any, spec: dict[str, Any], insts: dict[str, int], names: _Names) -> dict[str, Any]:
    """Demo inventors and an office per institution, and demo enterprises with one user each."""
    inventors: dict[int, list[int]] = {}
    offices: dict[int, int] = {}
    for k, (name, inst_id) in enumerate(sorted(insts.items(), key=lambda x: x[1])):
        uids = []
        for j in range(INVENTORS_PER_INSTITUTION):
            uid = INVENTOR_IDS + k * 10 + j
            await _user(s, uid, names.person())
            s.add(RoleGrant(user_id=uid, role=Role.INVENTOR.value, institution_id=inst_id, scope_key=f"inst:{inst_id}"))
            uids.append(uid)
        inventors[inst_id] = uids
        office = OFFICE_IDS + k
        await _user(s, office, names.person())
        s.add(RoleGrant(user_id=office, role=Role.TECH_TRANSFER.value, institution_id=inst_id,
                        scope_key=f"inst:{inst_id}"))
        offices[inst_id] = office
    enterprises = []
    for k, name in enumerate(spec["enterprises"]):
        ent = await s.scalar(select(Enterprise).where(Enterprise.name == name))
        if ent is None:
            ent = Enterprise(name=name, kind=ENTERPRISE_KINDS[k % len(ENTERPRISE_KINDS)])
            s.add(ent)
            await s.flush()
        uid = ENTERPRISE_IDS + k
        await _user(s, uid, names.person())
        s.add(RoleGrant(user_id=uid, role=Role.ENTERPRISE.value, enterprise_id=ent.id, scope_key=f"ent:{ent.id}"))
        enterprises.append((uid, ent.id, name))
    await s.flush()
    return {"inventors": inventors, "offices": offices, "enterprises": enterprises}


def _answers(p: Patent, rng: random.Random) -> dict[str, Any]:
    industry = suggest_industry(p.title, p.abstract or "")
    intents = rng.choices([["transfer"], ["license"], ["transfer", "license"], ["license", "equity"], ["self"],
                           ["equity"]], weights=[30, 22, 25, 8, 10, 5])[0]
    licensing = "license" in intents
    scenarios = [SCENARIO_OF.get(industry, "manufacturing")]
    if rng.random() < 0.4:
        scenarios.append(rng.choice(["manufacturing", "electronics", "environment", "energy"]))
    return {"industry_field": industry, "maturity": rng.randint(3, 8), "scenarios": list(dict.fromkeys(scenarios)),
            "prospect": rng.choices([2, 3, 4, 5], weights=[10, 35, 40, 15])[0], "intents": intents,
            "implemented": rng.random() < 0.2,
            "licence_kind": rng.choice(LICENCE_KINDS) if licensing else None,
            "payment_kind": rng.choice(PAYMENT_KINDS) if licensing else None,
            "open_licence": (rng.random() < 0.3) if licensing else None,
            "price_range": rng.choice(PRICE_RANGES), "contact_pref": "tto"}


async def _assessments(s: Any, rng: random.Random, now: dt.datetime, patents: list[Patent],
                       holders: dict[str, dict[str, Any]], insts: dict[str, int], people: dict[str, Any],
                       summary: DemoSummary, untouched: set[str]) -> None:
    """Self-assessments by the demo inventors, then ratings, transactions and leads on the reviewed ones."""
    pending: dict[int, int] = {}
    return_notes = demo_spec()["return_notes"]
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    for p in patents:
        if p.pub_no in untouched or rng.random() >= ASSESSED_SHARE:
            continue
        inst_id = insts[holders[p.id]["name"]]
        inventor = rng.choice(people["inventors"][inst_id])
        status = rng.choices(statuses, weights=weights)[0]
        if status is AssessmentStatus.SUBMITTED:
            if pending.get(inst_id, 0) >= PENDING_AT_MOST:
                status = AssessmentStatus.REVIEWED
            else:
                pending[inst_id] = pending.get(inst_id, 0) + 1
        created = now - dt.timedelta(days=rng.randint(5, 150), minutes=rng.randint(0, 600))
        submitted = None if status is AssessmentStatus.DRAFT else min(
            created + dt.timedelta(days=rng.randint(0, 4), minutes=rng.randint(5, 300)), now)
        reviewed = None
        if status in (AssessmentStatus.REVIEWED, AssessmentStatus.RETURNED):
            reviewed = min(submitted + dt.timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 8)), now)
        # the office confirmed the inventor's claim before the assessment (docs/OWNERSHIP.md)
        s.add(InventorPatent(user_id=inventor, patent_id=p.id, created_at=created, status=LinkStatus.CONFIRMED.value,
                             decided_by=people["offices"][inst_id], decided_at=created))
        a = SelfAssessment(patent_id=p.id, inventor_id=inventor, status=status.value, created_at=created,
                           updated_at=reviewed or submitted or created, submitted_at=submitted, reviewed_at=reviewed,
                           reviewer_id=people["offices"][inst_id] if reviewed else None, **_answers(p, rng))
        if status is AssessmentStatus.RETURNED:
            a.reviewer_note = rng.choice(return_notes)
        s.add(a)
        summary.assessments += 1
        summary.pending += status is AssessmentStatus.SUBMITTED
        if status is AssessmentStatus.REVIEWED:
            summary.reviewed += 1
            await _market(s, rng, now, p, a, inventor, people, summary)


async def _market(s: Any, rng: random.Random, now: dt.datetime, p: Patent, a: SelfAssessment, inventor: int,
                  people: dict[str, Any], summary: DemoSummary) -> None:
    """Ratings, a transaction and a lead on one reviewed patent, dated after its review."""
    transferable = bool({"transfer", "license", "equity"} & set(a.intents))
    if not transferable:
        return
    after = a.reviewed_at
    if rng.random() < RATED_SHARE:
        for uid, ent_id, _name in rng.sample(people["enterprises"], rng.randint(1, 3)):
            when = min(after + dt.timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 9)), now)
            needs = rng.sample([n for n in NEEDS if n != "none"], rng.randint(0, 2)) or ["none"]
            coop = rng.sample([c for c in COOPERATION if c != "none"], rng.randint(1, 2))
            s.add(EnterpriseRating(patent_id=p.id, rater_id=uid, enterprise_id=ent_id, prospect=rng.randint(2, 5),
                                   improvement_needs=needs, cooperation_intents=coop,
                                   price_expectation=rng.choice(PRICE_RANGES), created_at=when, updated_at=when))
            summary.ratings += 1
    if rng.random() < TRADED_SHARE:
        uid, ent_id, name = rng.choice(people["enterprises"])
        kind = rng.choice([k for k in a.intents if k in ("transfer", "license", "equity")])
        when = min(after + dt.timedelta(days=rng.randint(10, 60)), now)
        industrialised = rng.random() < 0.35
        s.add(Transaction(patent_id=p.id, kind=kind, date=when.astimezone(BEIJING).date(), filed=rng.random() < 0.6,
                          counterparty=name, enterprise_id=ent_id, industrialised=industrialised,
                          product_filing_status="filed" if industrialised else None,
                          recorded_by=a.reviewer_id, created_at=when))
        summary.transactions += 1
    elif rng.random() < 0.06:
        uid, _ent_id, _name = rng.choice(people["enterprises"])
        when = min(after + dt.timedelta(days=rng.randint(1, 20)), now)
        s.add(Lead(patent_id=p.id, requester_id=uid, inventor_id=inventor, status="accepted", created_at=when,
                   decided_at=when + dt.timedelta(hours=5)))
        summary.leads += 1


async def _departments_and_events(s: Any, spec: dict[str, Any], now: dt.datetime, summary: DemoSummary) -> None:
    """A county department in each county (so /stats lists every county against its target) and the
    events of ``demo_data.json`` (past ones only within this year, so they count as held)."""
    counties = json.loads((Path(__file__).resolve().parent.parent / "data" / "counties.json")
                          .read_text(encoding="utf-8"))["counties"]
    city_kind = await s.scalar(select(Department.kind).where(Department.county == "").order_by(Department.id))
    kind = city_kind or "market"
    dept_ids = {}
    for county in counties:
        d = await s.scalar(select(Department).where(Department.kind == kind, Department.county == county))
        if d is None:
            d = Department(name=spec["department"].format(county=county), kind=kind, county=county, level="county")
            s.add(d)
            await s.flush()
        dept_ids[county] = d.id
    local_now = now.astimezone(BEIJING)
    year_start = dt.datetime(local_now.year, 1, 1, tzinfo=BEIJING)
    for e in spec["events"]:
        day = (local_now + dt.timedelta(days=e["days"])).date()
        starts = dt.datetime.combine(day, dt.time(14, 30), tzinfo=BEIJING)
        if e["days"] < 0 and not (year_start <= starts <= now):
            continue  # a past event outside this year would not count towards it
        s.add(Event(title=e["title"].format(year=local_now.year), kind=e["kind"], starts_at=starts,
                    place=e["place"], capacity=60, county=e["county"], organiser_department_id=dept_ids[e["county"]],
                    status="published", reminder_stage=2 if e["days"] < 0 else 0,
                    description=None, created_at=min(starts, now) - dt.timedelta(days=20)))
        summary.events += 1
