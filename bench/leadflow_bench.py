"""What keeping the per-lead flow summary (analytics.LeadFlow) costs, on the linked data of
bench/analytics_chain_data.py (1,000,000 leads), PostgreSQL.

    .venv/bin/python bench/analytics_chain_data.py      # once: fills l2c_analytics_chain
    .venv/bin/python bench/leadflow_bench.py

Timed: a full rebuild (`rebuild_all`, the nightly job and `l2c rebuild-lead-flow`); `ensure_current()` when nothing
changed (what every report pays first); recomputing 10,000 stale leads with opportunities (`drain`, after e.g. a
bulk reassignment); and 2,000 opportunity saves with and without the stale-marking signal, in a transaction rolled
back (what a write pays). A reference in the same run: `SELECT count(*) FROM leads_lead`.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_analytics_chain"


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return round(time.perf_counter() - start, 3)


def main() -> int:
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_CHAIN_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.db.models.signals import post_save

    from l2c.analytics import leadflow
    from l2c.analytics.models import LeadFlow, LeadFlowDirty
    from l2c.pipeline.models import Opportunity

    result = {"bench": "leadflow", "db": connection.vendor, "load_before": os.getloadavg()}
    with connection.cursor() as cur:
        start = time.perf_counter()
        cur.execute("SELECT count(*) FROM leads_lead")
        result["leads"] = cur.fetchone()[0]
        result["reference_count_leads_s"] = round(time.perf_counter() - start, 3)
    result["rebuild_all_s"] = timed(leadflow.rebuild_all)
    result["rows"] = LeadFlow.objects.count()
    leadflow.ensure_current()
    result["ensure_current_nothing_changed_ms"] = round(min(timed(leadflow.ensure_current) for _ in range(5)) * 1000, 1)
    stale = list(Opportunity.objects.filter(lead__isnull=False).order_by("pk").values_list("lead_id", flat=True)[:10_000])
    leadflow.mark_leads(stale)
    result["drain_10k_with_opportunities_s"] = timed(leadflow.drain)
    assert not LeadFlowDirty.objects.exists()
    opportunities = list(Opportunity.objects.filter(lead__isnull=False).order_by("pk")[:2000])

    def saves():
        with transaction.atomic():
            for opportunity in opportunities:
                opportunity.save(update_fields=["next_step"])
            transaction.set_rollback(True)

    saves()
    result["save_2000_opportunities_marking_s"] = min(timed(saves) for _ in range(3))
    post_save.disconnect(leadflow._on_save, sender=Opportunity, dispatch_uid="leadflow-save-pipeline.opportunity")
    result["save_2000_opportunities_without_marking_s"] = min(timed(saves) for _ in range(3))
    result["load_after"] = os.getloadavg()
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(json.dumps(result, indent=2))
    with open(ROOT / "bench" / "results.jsonl", "a") as fh:
        fh.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
