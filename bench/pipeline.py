"""Throughput, latency and CPU per post of the whole pipeline on the real local stack (prints figures only).

    python bench/pipeline.py [--posts 100000] [--rate 0] [--workers 1] [--processes 1]
                             [--label TEXT] [--baseline /path/to/other/checkout]

A real ``ascolto connect generator`` process publishes generated posts while real ``ascolto
worker`` processes enrich and index them. One run reports:

* posts/s end to end (first post produced → last post searchable) and the latency created →
  searchable (p50/p99) of every 100th post, found by polling search (nothing forces a refresh);
* CPU microseconds per post of each process over the same window, read with psutil (user +
  system, whole process trees): the worker(s), Kafka, Elasticsearch, the producer (its start-up
  measured by a warm-up run and left out), their sum and the whole machine's busy time. On a
  shared machine posts/s moves with the neighbours' load; CPU per post of the worker barely does
  (Kafka and Elasticsearch are shared: their figures include what neighbours make them do);
* two limits measured in the same run on the same texts: VADER alone (and the whole enrichment
  chain) on one core, and a direct ``parallel_bulk`` of the same enriched documents into a scratch
  index (docs/s and Elasticsearch CPU per document);
* with ``--baseline PATH``: the same measurement with another checkout's own venv
  (``PATH/.venv/bin/python``, made with ``make install`` there), its own topics, group and index,
  run one after the other, side by side with the ratio.

Each run is appended to ``bench/results/pipeline.jsonl`` and compared with the previous run with the
same parameters. Needs the local stack (``ascolto stack up``); every topic and index the bench
creates is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from cpu import CpuMeter, cpu_at_exit, cpu_if_exited
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import parallel_bulk
from kafka.admin import KafkaAdminClient
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto import launcher
from ascolto.stack import LocalStack
from ascolto.testing import bootstrap_posts_index, free_port, remove_deployment
from connectors.generator import GeneratorSource
from core.kafka import kafka_client_config
from core.settings import Settings
from elastic.client import es_client
from schemas import RawPost, now_rfc3339
from schemas.timestamps import to_epoch
from streams.enrichers.chain import chain_from_settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.jsonl"
SAMPLE_EVERY = 100  # every 100th post is followed until searchable
WARMUP_POSTS = 300  # before the window: group joins, index creation, first connections
LIMIT_POSTS = 20_000  # texts for the two limits (enough for a stable rate, short enough to keep the run short)
POLL_SECONDS = 0.2
STALL_SECONDS = 180.0  # no new document for this long: the pipeline is stuck, stop with its logs
STABLE_TIMEOUT = 90.0
UNLIMITED_RATE = 1e9  # `connect generator --rate` has no "unlimited" value; at this rate its pacer never sleeps
# Checkouts from before the core/ package (issue 7) kept these in ascolto.topics and ascolto.settings.
ENSURE_TOPICS = (
    "try:\n    from core.kafka import ensure_topics; from core.settings import Settings\n"
    "except ImportError:\n    from ascolto.topics import ensure_topics; from ascolto.settings import Settings\n"
    "ensure_topics(Settings())"
)


# --- the code measured ----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """A checkout of ascolto run with its own interpreter: this one, or a baseline with its own venv."""

    name: str
    root: Path
    python: str

    @property
    def is_this(self) -> bool:
        return self.root == REPO

    def env(self, overrides: Mapping[str, object]) -> dict[str, str]:
        if self.is_this:
            return launcher.child_env(overrides)
        # Another checkout must import its own code, not ours: no PYTHONPATH of this process.
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return {**base, **launcher.settings_env(overrides)}

    def commit(self) -> str:
        head = git(self.root, "rev-parse", "--short", "HEAD")
        changed = git(self.root, "status", "--porcelain", "--untracked-files=no").splitlines()
        return f"{head} + {len(changed)} uncommitted files" if changed else head


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


class CheckoutProcess(launcher.ChildProcess):
    """``ascolto ARGS`` run by a checkout's own interpreter, from its root, output in ``log_file``."""

    def __init__(self, checkout: Checkout, args: Sequence[str], *, env: Mapping[str, str], log_file: Path) -> None:
        super().__init__(args, env=env, log_file=log_file)
        self.checkout = checkout

    def start(self) -> CheckoutProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.popen = subprocess.Popen(
                [self.checkout.python, "-m", "ascolto", *self.args],
                cwd=self.checkout.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.popen is not None
        return self.popen


# --- one measurement ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    posts: int
    rate: float
    workers: int
    processes: int
    seed: int
    sample_ids: list[str]  # every SAMPLE_EVERY-th post's id, the first post's first


@dataclass(frozen=True)
class StackPids:
    kafka: int
    elasticsearch: int


def start_workers(checkout: Checkout, plan: Plan, overrides: dict[str, Any], tmp: Path) -> list[CheckoutProcess]:
    """``plan.workers`` workers in one consumer group (each with ``--processes`` when asked), all answering.

    A checkout without ``--processes`` (the baseline) gets workers × processes single workers instead.
    """
    spread = plan.processes > 1 and not checkout.is_this
    count = plan.workers * plan.processes if spread else plan.workers
    extra = ["--processes", str(plan.processes)] if plan.processes > 1 and not spread else []
    started: list[tuple[CheckoutProcess, str]] = []
    for i in range(count):
        env = checkout.env({**overrides, "web_port": free_port(), "data_dir": tmp / f"data-{i}"})
        proc = CheckoutProcess(checkout, ["worker", *extra], env=env, log_file=tmp / f"worker-{i}.log").start()
        started.append((proc, launcher.readiness_url(launcher.settings_of(env))))
    for proc, url in started:
        try:
            launcher.wait_answering(
                url, alive=proc.running, log_file=proc.log_file, what="worker", timeout=launcher.READY_TIMEOUT
            )
        except Exception:
            for p, _ in started:
                p.stop()
            raise
    return [p for p, _ in started]


def connector(
    checkout: Checkout, env: Mapping[str, str], count: int, seed: int, rate: float, log: Path
) -> CheckoutProcess:
    args = ["connect", "generator", "--count", str(count), "--seed", str(seed), "--rate", str(rate or UNLIMITED_RATE)]
    return CheckoutProcess(checkout, args, env=env, log_file=log).start()


def fail(message: str, log: Path | None = None) -> None:
    tail = f"\n--- last lines of {log} ---\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""
    sys.exit(message + tail)


def count_docs(es: Elasticsearch, alias: str) -> int:
    """Searchable documents behind ``alias`` (0 before the worker created it); no forced refresh."""
    try:
        return int(es.options(ignore_status=404).count(index=alias).body.get("count", 0))
    except ApiError:
        return 0  # a shard starting answers 503 for a moment


def wait_stable(settings: Settings, members: int) -> None:
    """Until both consumer groups (enrich, index) are Stable with every worker process as a member."""
    groups = [settings.app_id, f"{settings.app_id}-index"]
    admin = KafkaAdminClient(**kafka_client_config(settings))
    deadline = time.monotonic() + STABLE_TIMEOUT
    try:
        while True:
            described = admin.describe_groups(groups)
            states = {g: (d["group_state"], len(d["members"])) for g, d in described.items()}
            if all(state == "Stable" and n == members for state, n in states.values()):
                return
            if time.monotonic() > deadline:
                print(
                    f"warning: consumer groups not stable with {members} members after {STABLE_TIMEOUT:.0f}s: {states}"
                )
                return
            time.sleep(POLL_SECONDS)
    finally:
        admin.close()


def peak_rss_mib(pid: int) -> float:
    """Largest peak RSS (VmHWM) in the process tree of ``pid``."""
    peak = 0.0
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def index_work_ms(es: Elasticsearch, index: str) -> dict[str, float]:
    """Milliseconds Elasticsearch reports spending on ``index``: indexing, refresh, flush, merges.

    Its own per-index accounting (thread time, merges' possibly throttled), so neighbours' work on
    other indices stays out of it.
    """
    total = es.indices.stats(index=index, metric="indexing,refresh,flush,merge")["_all"]["total"]
    return {
        "indexing": total["indexing"]["index_time_in_millis"],
        "refresh": total["refresh"]["total_time_in_millis"],
        "flush": total["flush"]["total_time_in_millis"],
        "merge": total["merges"]["total_time_in_millis"],
    }


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Searchable:
    """Polls search for the sampled posts: when each became searchable, and its created_at."""

    def __init__(self, es: Elasticsearch, alias: str, ids: list[str]) -> None:
        self.es, self.alias = es, alias
        self.pending = list(ids)
        self.created: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    def poll(self) -> None:
        if not self.pending:
            return
        try:
            resp = self.es.search(
                index=self.alias,
                query={"ids": {"values": self.pending[:1000]}},
                size=min(1000, len(self.pending)),
                source_includes=["created_at"],
                ignore_unavailable=True,
            )
        except ApiError:
            return  # 404 before the index exists, 503 while a shard starts: sample again next tick
        now = time.time()
        for hit in resp["hits"]["hits"]:
            self.seen[hit["_id"]] = now
            self.created[hit["_id"]] = to_epoch(hit["_source"]["created_at"])
        found = {hit["_id"] for hit in resp["hits"]["hits"]}
        self.pending = [i for i in self.pending if i not in found]

    def latencies(self) -> list[float]:
        return sorted(self.seen[i] - self.created[i] for i in self.seen)


def measure(checkout: Checkout, plan: Plan, pids: StackPids, tmp: Path) -> dict[str, Any]:
    """One checkout, one fresh deployment: warm up, then the measured window, then teardown."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    overrides: dict[str, Any] = {
        "topic_prefix": f"{name}.",
        "es_index": f"{name}-posts",
        "app_id": name,
        "metrics_port": 0,
        "log_level": "warning",
    }
    env = checkout.env(overrides)
    settings = launcher.settings_of(launcher.child_env(overrides))
    tmp = tmp / checkout.name
    tmp.mkdir(parents=True)
    workers: list[CheckoutProcess] = []
    es = es_client(settings)
    try:
        made = subprocess.run(
            [checkout.python, "-c", ENSURE_TOPICS], cwd=checkout.root, env=env, capture_output=True, text=True
        )
        if made.returncode:
            sys.exit(f"Creating the {checkout.name} topics failed:\n{made.stderr[-2000:]}")
        workers = start_workers(checkout, plan, overrides, tmp)
        processes = plan.workers * plan.processes

        def check_workers() -> None:
            for w in workers:
                if not w.running():
                    fail(f"A {checkout.name} worker exited during the bench.", w.log_file)

        # Warm-up: group joins, index creation and first connections stay out of the window. Its
        # connector run also measures a connector's fixed cost (start-up, imports, final flush).
        warm = connector(checkout, env, WARMUP_POSTS, plan.seed + 1, 0, tmp / "connector-warmup.log")
        warm_cpu = cpu_at_exit(warm.process)
        if warm.process.returncode:
            fail(f"The {checkout.name} warm-up connector failed.", warm.log_file)
        deadline = time.monotonic() + STALL_SECONDS
        while count_docs(es, settings.es_index) < WARMUP_POSTS:
            check_workers()
            if time.monotonic() > deadline:
                fail(f"The {checkout.name} warm-up posts never became searchable.", workers[0].log_file)
            time.sleep(POLL_SECONDS)
        wait_stable(settings, processes)

        # What Kafka and Elasticsearch burn with no posts of ours flowing: the neighbours' noise.
        idle = CpuMeter(
            {"worker": [w.pid for w in workers], "kafka": [pids.kafka], "elasticsearch": [pids.elasticsearch]}
        )
        idle.start()
        time.sleep(2.0)  # a measuring interval, not a wait for readiness
        idle_cpu, idle_wall = idle.stop()

        meter = CpuMeter(
            {"worker": [w.pid for w in workers], "kafka": [pids.kafka], "elasticsearch": [pids.elasticsearch]}
        )
        sampler = Searchable(es, settings.es_index, plan.sample_ids)
        expected = WARMUP_POSTS + plan.posts
        load_start = os.getloadavg()
        bench_cpu0 = time.process_time()
        meter.start()
        main = connector(checkout, env, plan.posts, plan.seed, plan.rate, tmp / "connector.log")
        producer_cpu: float | None = None
        published_at = done_at = 0.0
        last_count, last_change = 0, time.monotonic()
        while True:
            tick = time.monotonic()
            if producer_cpu is None and (producer_cpu := cpu_if_exited(main.process)) is not None:
                published_at = time.time()
                if main.process.returncode:
                    fail(f"The {checkout.name} connector failed.", main.log_file)
            if not done_at:
                count = count_docs(es, settings.es_index)
                if count >= expected:
                    done_at = time.time()
                elif count > last_count:
                    last_count, last_change = count, tick
                elif tick - last_change > STALL_SECONDS:
                    done = f"{count - WARMUP_POSTS:,} of {plan.posts:,}"
                    fail(
                        f"No new {checkout.name} post searchable for {STALL_SECONDS:.0f}s ({done}).",
                        workers[0].log_file,
                    )
            sampler.poll()
            if done_at and producer_cpu is not None and not sampler.pending:
                break
            if done_at and time.time() - done_at > STALL_SECONDS:
                missing = f"{len(sampler.pending)} sampled {checkout.name} posts were never found"
                fail(f"{missing}: does that checkout's generator make other ids for the same seed?")
            check_workers()
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - tick)))
        cpu, wall = meter.stop()
        bench_cpu = time.process_time() - bench_cpu0
        load_end = os.getloadavg()
        rss = max(peak_rss_mib(w.pid) for w in workers)
        es_work = index_work_ms(es, settings.es_index)
    finally:
        for w in workers:
            w.stop()
        es.close()
        remove_deployment(settings, name)

    lat = sampler.latencies()
    first = sampler.created[plan.sample_ids[0]]
    per_post = 1e6 / plan.posts
    # Connector CPU = start-up + per post × posts: two runs of different sizes give the per-post part.
    producer_us = (producer_cpu - warm_cpu) / (plan.posts - WARMUP_POSTS) * 1e6
    figures = {
        "worker": cpu["worker"] * per_post,
        "kafka": cpu["kafka"] * per_post,
        "elasticsearch": cpu["elasticsearch"] * per_post,
        "producer": producer_us,
    }
    return {
        "commit": checkout.commit(),
        "worker_processes": processes,
        "posts_per_s": plan.posts / (done_at - first),
        "latency_p50_s": percentile(lat, 50),
        "latency_p99_s": percentile(lat, 99),
        "latency_max_s": lat[-1],
        "latency_samples": len(lat),
        **{f"cpu_{k}_us": v for k, v in figures.items()},
        "cpu_sum_us": sum(figures.values()),
        "es_index_work_us": sum(es_work.values()) / (plan.posts + WARMUP_POSTS) * 1e3,
        "es_index_work_ms": es_work,
        "cpu_machine_us": cpu["machine"] * per_post,
        "cpu_bench_us": bench_cpu * per_post,
        "producer_startup_cpu_s": warm_cpu,
        "publish_s": published_at - first,
        "drain_s": done_at - published_at,
        "window_s": wall,
        "worker_peak_rss_mib": rss,
        "idle_worker_core_share": idle_cpu["worker"] / idle_wall,
        "idle_kafka_core_share": idle_cpu["kafka"] / idle_wall,
        "idle_es_core_share": idle_cpu["elasticsearch"] / idle_wall,
        "load_start": load_start,
        "load_end": load_end,
    }


# --- the two limits ---------------------------------------------------------------------------


def one_core(work: Sequence[Any], fn: Any) -> tuple[list[Any], float, float]:
    """Results of ``fn`` over ``work`` on this thread; (results, CPU µs per item, items per second)."""
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    out = [fn(item) for item in work]
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return out, cpu / len(work) * 1e6, len(work) / wall


def limits(posts: list[RawPost], es_pid: int) -> dict[str, Any]:
    """VADER alone and the enrichment chain on one core, and parallel_bulk straight into Elasticsearch."""
    analyzer = SentimentIntensityAnalyzer()
    _, vader_us, vader_rate = one_core([p["text"] for p in posts], analyzer.polarity_scores)
    chain = chain_from_settings(Settings())
    docs, chain_us, chain_rate = one_core(posts, chain.enrich)

    name = f"bench-{uuid.uuid4().hex[:8]}-bulk"
    settings = Settings(es_index=name)
    es = es_client(settings)
    try:
        target = bootstrap_posts_index(settings)
        indexed_at = now_rfc3339()
        actions = [{"_index": target, "_id": d["id"], "_source": {**d, "indexed_at": indexed_at}} for d in docs]
        # As the worker sends a batch: index_batch_size split over index_parallel concurrent requests.
        chunk = max(1, settings.index_batch_size // settings.index_parallel)
        meter = CpuMeter({"elasticsearch": [es_pid]})
        client0 = time.process_time()
        meter.start()
        for ok, item in parallel_bulk(es, actions, thread_count=settings.index_parallel, chunk_size=chunk):
            if not ok:
                sys.exit(f"The direct parallel_bulk was refused: {item}")
        cpu, wall = meter.stop()
        client = time.process_time() - client0
        es.indices.refresh(index=target)  # as the pipeline's index gets refreshed, so that _stats compare
        es_work = index_work_ms(es, target)
    finally:
        es.close()
        remove_deployment(settings, name)
    return {
        "limit_posts": len(posts),
        "vader_posts_per_s": vader_rate,
        "vader_us": vader_us,
        "chain_posts_per_s": chain_rate,
        "chain_us": chain_us,
        "bulk_docs_per_s": len(docs) / wall,
        "bulk_es_us": cpu["elasticsearch"] / len(docs) * 1e6,
        "bulk_es_index_work_us": sum(es_work.values()) / len(docs) * 1e3,
        "bulk_es_index_work_ms": es_work,
        "bulk_client_us": client / len(docs) * 1e6,
    }


# --- history and tables -----------------------------------------------------------------------

ROWS = [
    ("posts_per_s", "end to end, first produce → last searchable (posts/s)", "{:,.0f}"),
    ("latency_p50_s", "latency created → searchable, p50 (s)", "{:.2f}"),
    ("latency_p99_s", "latency created → searchable, p99 (s)", "{:.2f}"),
    ("cpu_worker_us", "worker CPU per post (µs), all worker processes", "{:,.0f}"),
    ("cpu_kafka_us", "Kafka CPU per post (µs)", "{:,.0f}"),
    ("cpu_elasticsearch_us", "Elasticsearch CPU per post (µs)", "{:,.0f}"),
    ("es_index_work_us", "Elasticsearch work on this index per post (µs; _stats index+refresh+merge)", "{:,.0f}"),
    ("cpu_producer_us", "producer (connector) CPU per post (µs)", "{:,.0f}"),
    ("cpu_sum_us", "sum: the pipeline's CPU per post (µs)", "{:,.0f}"),
    ("cpu_machine_us", "whole machine busy per post (µs), neighbours included", "{:,.0f}"),
    ("publish_s", "publishing took (s)", "{:.1f}"),
    ("drain_s", "last post searchable after publishing ended (s)", "{:.1f}"),
    ("worker_peak_rss_mib", "worker peak RSS (MiB)", "{:,.0f}"),
]
LIMIT_ROWS = [
    ("vader_posts_per_s", "VADER alone, one core (posts/s)", "{:,.0f}"),
    ("vader_us", "VADER alone, CPU per post (µs)", "{:,.0f}"),
    ("chain_posts_per_s", "enrichment chain alone, one core (posts/s)", "{:,.0f}"),
    ("chain_us", "enrichment chain alone, CPU per post (µs)", "{:,.0f}"),
    ("bulk_docs_per_s", "parallel_bulk of the enriched docs, direct (docs/s)", "{:,.0f}"),
    ("bulk_es_us", "parallel_bulk: Elasticsearch CPU per doc (µs)", "{:,.0f}"),
    ("bulk_es_index_work_us", "parallel_bulk: Elasticsearch work on the index per doc (µs; _stats)", "{:,.0f}"),
    ("bulk_client_us", "parallel_bulk: client (Python) CPU per doc (µs)", "{:,.0f}"),
]


def previous_run(params: dict[str, Any]) -> dict[str, Any] | None:
    if not RESULTS.exists():
        return None
    found = None
    for line in RESULTS.read_text().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if record.get("params") == params:
            found = record
    return found


def change(now: float, before: float | None) -> str:
    if before is None or before == 0:
        return "–"
    return f"{(now - before) / before:+.0%}"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, first column left-aligned, the others right-aligned (pastes into the README)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def report(record: dict[str, Any], prev: dict[str, Any] | None) -> str:
    """The run as printed: what was measured where, the pipeline table, the limits table, notes."""
    m, params = record["machine"], record["params"]
    cur, base, lim = record["current"], record["baseline"], record["limits"]
    rate = f"at {params['rate']:,.0f}/s" if params["rate"] else "as fast as possible"
    code = f"current {cur['commit']}" + (f", baseline {base['commit']} ({params['baseline']})" if base else "")
    lines = [
        f"ascolto pipeline bench, {record['when']}: {params['posts']:,} posts produced {rate}, "
        f"{cur['worker_processes']} worker process(es)" + (f"; label: {record['label']}" if record["label"] else ""),
        f"machine: {m['cores']} cores, load average {m['load_start']} at start, {m['load_end']} at end; "
        f"Python {m['python']}, Kafka {m['kafka']}, Elasticsearch {m['elasticsearch']}",
        f"code: {code}",
        "",
    ]
    header = ["figure", "current"]
    if base:
        header += ["baseline", "current ÷ baseline"]
    if prev:
        header.append("current vs previous run")
    rows = []
    for key, label, fmt in ROWS:
        row = [label, fmt.format(cur[key])]
        if base:
            row += [fmt.format(base[key]), f"{cur[key] / base[key]:.2f}×" if base[key] else "–"]
        if prev:
            row.append(change(cur[key], prev["current"].get(key)))
        rows.append(row)
    lines += [markdown(header, rows), ""]
    header = [f"limits, same run, {lim['limit_posts']:,} of the same posts", "value"]
    header += ["vs previous run"] if prev else []
    rows = [
        [label, fmt.format(lim[key]), *([change(lim[key], prev["limits"].get(key))] if prev else [])]
        for key, label, fmt in LIMIT_ROWS
    ]
    lines += [markdown(header, rows), ""]
    for name, run in (("current", cur), ("baseline", base)):
        if run:
            lines.append(
                f"{name}: {run['latency_samples']} posts sampled for latency (search polled every {POLL_SECONDS}s); "
                f"share of a core used at rest just before the window: worker(s) {run['idle_worker_core_share']:.0%}, "
                f"Kafka {run['idle_kafka_core_share']:.0%}, "
                f"Elasticsearch {run['idle_es_core_share']:.0%}; connector start-up "
                f"{run['producer_startup_cpu_s']:.2f}s CPU, left out; "
                f"the bench's own polling {run['cpu_bench_us']:.0f} µs/post"
            )
    if prev:
        lines.append(
            f"previous run with these parameters: {prev['when']}" + (f" ({prev['label']})" if prev.get("label") else "")
        )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def checkout_at(path: str) -> Checkout:
    root = Path(path).resolve()
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{root} has no venv: run `make install` there first (about 2 minutes).")
    return Checkout("baseline", root, str(python))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts to push through (default 100000)")
    parser.add_argument("--rate", type=float, default=0, help="posts per second produced; 0: as fast as possible")
    parser.add_argument("--workers", type=int, default=1, help="worker processes started in one consumer group")
    parser.add_argument("--processes", type=int, default=1, help="pass `--processes N` to each worker")
    parser.add_argument("--label", default="", help="free text stored with the run in the history")
    parser.add_argument("--baseline", metavar="PATH", help="another checkout (with its .venv) to measure side by side")
    args = parser.parse_args()
    if args.posts < 10 * WARMUP_POSTS or args.workers < 1 or args.processes < 1 or args.rate < 0:
        parser.error(f"--posts must be at least {10 * WARMUP_POSTS}; --workers and --processes at least 1; --rate ≥ 0")
    baseline = checkout_at(args.baseline) if args.baseline else None
    current = Checkout("current", REPO, sys.executable)

    stack = LocalStack(Settings())
    kafka_pid, es_pid = stack.kafka.process.pid(), stack.elasticsearch.process.pid()
    if kafka_pid is None or es_pid is None:
        sys.exit("The bench needs the local stack running: start it with `ascolto stack up`.")
    pids = StackPids(kafka_pid, es_pid)

    # The connector generates the posts in its own process; the same seed here gives the same ids
    # (for the latency sample) and the same texts (for the limits).
    seed = random.SystemRandom().randrange(1 << 29)
    sample_ids: list[str] = []
    limit_posts: list[RawPost] = []
    for n, post in enumerate(GeneratorSource(count=args.posts, seed=seed)):
        assert isinstance(post, dict)
        if n % SAMPLE_EVERY == 0:
            sample_ids.append(post["id"])
        if n < LIMIT_POSTS:
            limit_posts.append(post)
    plan = Plan(args.posts, args.rate, args.workers, args.processes, seed, sample_ids)

    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ascolto-bench-"))
    print(f"bench logs in {tmp}", file=sys.stderr)
    # The baseline first: each measurement runs alone on the machine, one after the other.
    base = measure(baseline, plan, pids, tmp) if baseline else None
    cur = measure(current, plan, pids, tmp)
    lim = limits(limit_posts, pids.elasticsearch)

    params = {
        "posts": args.posts,
        "rate": args.rate,
        "workers": args.workers,
        "processes": args.processes,
        "baseline": str(baseline.root) if baseline else None,
    }
    record = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "label": args.label,
        "params": params,
        "machine": {
            "cores": os.cpu_count(),
            "load_start": " ".join(f"{x:.2f}" for x in load_start),
            "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "python": platform.python_version(),
            "kafka": stack.kafka.version,
            "elasticsearch": stack.elasticsearch.version,
        },
        "current": cur,
        "baseline": base,
        "limits": lim,
    }
    prev = previous_run(params)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("ab") as fh:
        fh.write(orjson.dumps(record) + b"\n")
    print(report(record, prev))


if __name__ == "__main__":
    main()
