#!/usr/bin/env python3
"""专利盘活 bot — entry point.

    python run_bot.py                 run the bot: polling with TELEGRAM_BOT_TOKEN, webhook with WEBHOOK_URL
                                      too, otherwise the local playground on http://127.0.0.1:8080
    python run_bot.py import PATH     import patents (kppatent-zh JSONL[.gz], standard CSV or XLSX)
    python run_bot.py search QUERY    search from the terminal (--json, --limit N, '-' reads stdin)
    python run_bot.py migrate         create/upgrade the database schema
    python run_bot.py invite ROLE SCOPE  print an invite deep link (--uses N, --days D)
    python run_bot.py revoke user ID [ROLE] | revoke invite CODE   take roles away / void an invite link
    python run_bot.py export          standard-format export: CSV (UTF-8 BOM) + XLSX (--out DIR)
    python run_bot.py stats           progress statistics in the terminal

All settings come from the environment; see README.md and .env.example.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from bot.config import ConfigError, Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_bot.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the bot (polling / webhook / playground, chosen by the environment)")
    sub.add_parser("playground", help="run the local playground even if a token is set")
    imp = sub.add_parser("import", help="import patents from JSONL[.gz], CSV or XLSX (all or nothing per file, "
                                        "idempotent)")
    imp.add_argument("paths", nargs="+", metavar="PATH")
    imp.add_argument("--source", help="source name for rows without one (default: the file name)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    se = sub.add_parser("search", help="search patents; one JSON line per query with --json")
    se.add_argument("query", nargs="+", help="query terms, or '-' to read one query per line from stdin")
    se.add_argument("--json", action="store_true", help="machine-readable output")
    se.add_argument("--limit", type=int, default=10, help="hits per query (default 10)")
    sub.add_parser("migrate", help="create or upgrade the database schema (Alembic)")
    ex = sub.add_parser("export", help="write the standard-format export (CSV with BOM + XLSX)")
    ex.add_argument("--out", default=".", help="directory for the two files (default: current)")
    ex.add_argument("--institution", action="append", help="only this institution's patents (repeatable)")
    ex.add_argument("--county", action="append", help="only this county's institutions (repeatable)")
    ex.add_argument("--lang", default="zh", choices=["zh", "en"], help="language of the XLSX (default zh)")
    sta = sub.add_parser("stats", help="progress statistics per institution and county (like /stats)")
    sta.add_argument("--county", action="append", help="only this county (repeatable); default: everything")
    sta.add_argument("--lang", default="zh", choices=["zh", "en"])
    inv = sub.add_parser("invite", help="create an invite deep link that grants a role (like /invite)")
    inv.add_argument("role", help="inventor | tto | enterprise | expert | officer | agency | admin")
    inv.add_argument("scope", nargs="*", help="institution / enterprise / industry / department[@county]")
    inv.add_argument("--uses", type=int, default=1, help="how many people may use it (default 1)")
    inv.add_argument("--days", type=int, default=14, help="days until it expires (default 14)")
    rev = sub.add_parser("revoke", help="revoke a user's roles or an invite link (like /revoke; audit-logged)")
    rev_sub = rev.add_subparsers(dest="what", metavar="WHAT", required=True)
    rev_user = rev_sub.add_parser("user", help="revoke a user's roles: all of them, or only ROLE")
    rev_user.add_argument("user_id", type=int, help="the Telegram user id")
    rev_user.add_argument("role", nargs="?", help="only this role (inventor | tto | enterprise | …)")
    rev_inv = rev_sub.add_parser("invite", help="make an invite link grant nothing from now on")
    rev_inv.add_argument("code", help="the invite code, i_<code> or the whole link")
    return p


async def _cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.services.roles import Revoked, invite_code_of, revoke_grant, revoke_invite
    from bot.storage import open_storage

    storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
    try:
        if args.what == "invite":
            found = await storage.invite_view(invite_code_of(args.code))
            if found is None:
                print("no such invite code", file=sys.stderr)
                return 2
            if await revoke_invite(storage, found[0], None) is Revoked.REVOKED:
                print(f"invite revoked: {found[1].role} {found[1].scope_name or ''}".rstrip())
            else:
                print("the invite was revoked already")
            return 0
        if not 0 < args.user_id < 2 ** 63:
            print("a Telegram user id is a positive 64-bit integer", file=sys.stderr)
            return 2
        grants = [g for g in await storage.active_grants(args.user_id) if args.role in (None, g.role)]
        if not grants:
            print(f"user {args.user_id} holds no {args.role or 'role'} to revoke", file=sys.stderr)
            return 1
        for g in grants:
            outcome, _ = await revoke_grant(storage, g.id, None, dt.datetime.now(dt.timezone.utc))
            if outcome is Revoked.REVOKED:
                print(f"revoked: user {g.user_id} {g.role} {g.scope_name or ''}".rstrip())
        return 0
    finally:
        await storage.close()


async def _cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Each file is imported all or nothing: 0 = every file written, 1 = a file was refused or had bad
    rows (that file wrote nothing), 2 = a file is missing, 3 = the database failed (nothing written)."""
    from bot.search.catalog import PatentCatalog
    from bot.io.importer import import_file
    from bot.storage import open_storage

    storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
    catalog = PatentCatalog(storage, cache_dir=settings.data_dir / "cache")
    if catalog.has_cache():
        await catalog.load()  # so the import below updates the cached index incrementally
    worst = 0
    try:
        for path in args.paths:
            try:
                report = await import_file(storage, path, source=args.source)
            except FileNotFoundError:
                print(f"{path}: no such file", file=sys.stderr)
                worst = max(worst, 2)
                continue
            except Exception as e:  # a database failure: the transaction rolled back, say so plainly
                logging.getLogger("import").debug("import of %s failed", path, exc_info=True)
                print(f"{path}: nothing imported — the database refused the write "
                      f"({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''})", file=sys.stderr)
                worst = max(worst, 3)
                continue
            if report.written:
                await catalog.refresh(report.changed_ids)
            if args.json:
                print(json.dumps(report.as_dict(), ensure_ascii=False))
            elif report.refused:
                print(f"{path}: refused, nothing imported — {report.refused}", file=sys.stderr)
            elif report.errors:
                print(f"{path}: nothing imported — {len(report.errors)} of {report.rows} rows are bad "
                      f"(an import is all or nothing: fix these rows and run it again)", file=sys.stderr)
                for line, err in report.errors[:200]:
                    print(f"  line {line}: {err}", file=sys.stderr)
                if len(report.errors) > 200:
                    print(f"  … and {len(report.errors) - 200} more (use --json for all)", file=sys.stderr)
            else:
                print(f"{path}: {report.rows} rows ({report.encoding or 'xlsx'}) — {report.added} added, "
                      f"{report.updated} updated, {report.unchanged} unchanged")
            if not report.written:
                worst = max(worst, 1)
    finally:
        await storage.close()
    return worst


async def _cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    from bot.bootstrap import open_services

    services = await open_services(settings)
    try:
        await services.catalog.load()
        if args.query == ["-"]:
            queries = (line.rstrip("\n") for line in sys.stdin)
        else:
            queries = iter([" ".join(args.query)])
        limit = max(1, min(args.limit, 100))
        for q in queries:
            page = await services.catalog.search(q, limit=limit)
            if args.json:
                rows = {p.id: p for p in page.patents}
                results = [{"id": h.id, "pub_no": rows[h.id].pub_no, "title": rows[h.id].title,
                            "abstract": rows[h.id].abstract, "score": round(h.score, 6)}
                           for h in page.result.hits if h.id in rows]
                print(json.dumps({"query": q, "results": results}, ensure_ascii=False), flush=True)
            else:
                print(f"# {q!r}: {page.result.total} hits")
                for h, p in zip(page.result.hits, page.patents):
                    print(f"{h.score:8.3f}  {p.pub_no or p.id:16}  {p.title}")
    finally:
        await services.storage.close()
    return 0


async def _cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.services.invites import InviteArgsError, create_invite, invite_link, parse_invite_args
    from bot.storage import open_storage

    try:
        role, scope, uses, days = parse_invite_args([args.role, *args.scope, f"uses={args.uses}",
                                                     f"days={args.days}"])
    except InviteArgsError as e:
        import re

        from bot.i18n import Translator

        text = Translator().render("en", e.template, **e.ctx)
        print(re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"),
              file=sys.stderr)
        return 2
    storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
    try:
        code = await create_invite(storage, dt.datetime.now(dt.timezone.utc), None, role, scope, uses, days)
    finally:
        await storage.close()
    username = settings.bot_username
    if not username and settings.bot_token:
        from telegram import Bot

        async with Bot(settings.bot_token, base_url=settings.bot_api_base_url or "https://api.telegram.org/bot") as b:
            username = b.username
    print(invite_link(username or "patent_pilot_bot", code))
    return 0


async def _cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from bot.bootstrap import open_services
    from bot.io.export import build_export, export_names
    from bot.storage.exports import ExportScope

    services = await open_services(settings)
    try:
        scope = ExportScope.everything()
        if args.institution or args.county:
            ids = {i for name in args.institution or ()
                   if (i := await services.storage.institution_by_name(name)) is not None}
            for county in args.county or ():
                ids |= await services.storage.institutions_in_county(county)
            scope = ExportScope(frozenset(ids), None)
        files = build_export(await services.storage.export_data(scope), args.lang)
    finally:
        await services.storage.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_name, xlsx_name = export_names(dt.datetime.now(dt.timezone.utc))
    (out / csv_name).write_bytes(files.csv)
    (out / xlsx_name).write_bytes(files.xlsx)
    print(f"Exported {files.patents} patents, {files.ratings} ratings and {files.transactions} transactions to:\n"
          f"  {(out / csv_name).resolve()}\n  {(out / xlsx_name).resolve()}")
    return 0


async def _cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.i18n import Translator
    from bot.services.stats import StatsScope, build_report, text_table
    from bot.storage import open_storage

    storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
    try:
        scope = StatsScope(False, frozenset(args.county)) if args.county else StatsScope(True)
        report = await build_report(storage, scope, dt.datetime.now(dt.timezone.utc))
    finally:
        await storage.close()
    labels = Translator().label_module(args.lang)
    print(text_table(report, labels))
    print()
    for key in ("patents", "assessed", "transferable", "rated", "transactions"):
        print(f"{key:>13}: {report.total(key):>6}  ({report.delta(key):+d} in 7 days)")
    print()
    for c in report.counties:
        print(f"{c.county:<10} events {c.held}/{c.target} {'ok' if c.held >= c.target else 'BEHIND'}")
    return 0


async def _cmd_migrate(settings: Settings) -> int:
    from bot.storage import open_storage

    storage = await open_storage(settings.effective_database_url, pool_size=settings.db_pool_size)
    await storage.close()
    print(f"schema up to date: {settings.effective_database_url.split('@')[-1]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    # the database, index cache and exports hold personal data: whatever this program creates is
    # readable by its own user only
    os.umask(0o077)
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level if args.command in (None, "run", "playground") else "WARNING",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # the console already says "loading … / building …"; Alembic's per-plugin and per-revision lines
    # (a screenful on a first start) are for its own debugging
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.telegram.loop import run_loop

    cmd = args.command or "run"
    if cmd == "import":
        return run_loop(_cmd_import(settings, args))
    if cmd == "search":
        return run_loop(_cmd_search(settings, args))
    if cmd == "migrate":
        return run_loop(_cmd_migrate(settings))
    if cmd == "export":
        return run_loop(_cmd_export(settings, args))
    if cmd == "stats":
        return run_loop(_cmd_stats(settings, args))
    if cmd == "invite":
        return run_loop(_cmd_invite(settings, args))
    if cmd == "revoke":
        return run_loop(_cmd_revoke(settings, args))
    from bot.bootstrap import choose_mode, serve

    return run_loop(serve(settings, choose_mode(settings, playground=cmd == "playground")))


if __name__ == "__main__":
    sys.exit(main())
