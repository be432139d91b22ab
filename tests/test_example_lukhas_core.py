"""The LUKHΛS core example (examples/ → lukhas_obs_examples): its logic, seed 003's acceptance checklist on real
/metrics and exported spans, the ``lukhas-obs demo`` command, and the packaging that makes it importable."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tomllib
from argon2 import PasswordHasher
from lukhas_obs_examples.lukhas_core import (
    ConsciousnessState,
    DreamEngine,
    IllegalTransitionError,
    Indexer,
    LukhasCore,
    LukhasCoreWorkload,
    MemoryOrchestrator,
    ReflectionEngine,
    TokenGenerator,
    TokenValidator,
    fingerprint,
)
from lukhas_obs_examples.lukhas_core import totp as totp_mod
from lukhas_obs_examples.lukhas_core.embedding import HashingEmbeddings, cosine
from lukhas_obs_examples.lukhas_core.factors import HardwareKey, noisy_sample, random_template
from lukhas_obs_examples.lukhas_core.store import InMemoryVectorStore
from lukhas_obs_examples.lukhas_core.tokens import make_alias, verify_crc
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs.catalog import builtin
from lukhas_obs.demo import load_workload
from lukhas_obs.systems import system

ROOT = Path(__file__).resolve().parents[1]
CORE_METRICS = [m.name for m in builtin("lukhas_core").metrics]
SPAN_NAMES = {
    "memory.add_event",
    "memory.query",
    "consciousness.reflect",
    "consciousness.dream.step",
    *(f"identity.authenticate_T{n}" for n in range(1, 6)),
}


@pytest.fixture
def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny cost: same algorithm and format, fast tests."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def telemetry(tmp_path):
    lukhas_obs.shutdown()
    configured = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="file", traces_file=tmp_path / "traces.jsonl", lane="prod"
    )
    yield configured
    lukhas_obs.shutdown()


def families(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return {f.name: f for f in text_string_to_metric_families(response.read().decode())}


def total(fams: dict, family: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in fams[family].samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def has_data(fams: dict, metric_name: str) -> bool:
    """True when the metric family has at least one series (histogram/counter/gauge naming rules applied)."""
    name = metric_name.removesuffix("_total")
    return name in fams and bool(fams[name].samples)


# -- memory ------------------------------------------------------------------------------------------------------


def test_hashing_embedding_is_deterministic_normalised_and_similarity_aware():
    emb = HashingEmbeddings(64)
    a, b = emb.embed("dream consolidation finished"), emb.embed("dream consolidation finished")
    assert a == b and math.isclose(sum(x * x for x in a), 1.0)
    related = cosine(a, emb.embed("the dream consolidation"))
    unrelated = cosine(a, emb.embed("hardware key signature"))
    assert related > 0.5 > unrelated
    assert emb.embed("!!!") == [0.0] * 64
    with pytest.raises(ValueError):
        cosine([1.0], [1.0, 0.0])


def test_orchestrator_dedupes_by_sha256_and_searches_by_cosine():
    store = InMemoryVectorStore(dim=32)
    orch = MemoryOrchestrator(Indexer(store))
    first = orch.add_event("hello world", {"lane": "candidate"})
    assert first == fingerprint("hello world") == __import__("hashlib").sha256(b"hello world").hexdigest()
    assert orch.add_event("  hello world\n", {"lane": "other"}) == first  # same content → dropped duplicate
    assert store.stats() == {"table": "mem_store", "dim": 32, "count": 1}
    orch.add_event("goodbye moon", {"lane": "prod"})
    orch.add_event("hello there world", {"lane": "prod"})
    results = orch.query("hello world", k=2)
    assert results[0][0] == first
    assert len(results) == 2 and results[0][1] >= results[1][1]
    assert all(store.get(i).meta["lane"] == "prod" for i, _ in orch.query("hello", k=5, filters={"lane": "prod"}))
    assert store.delete(where={"lane": "prod"}) == 2 and store.stats()["count"] == 1


def test_memory_search_p95_under_100ms_with_telemetry_on(telemetry):
    """Seed 003 M.1 performance gate: p95 of search < 100 ms over a few hundred docs, instrumented."""
    orch = MemoryOrchestrator(Indexer(InMemoryVectorStore(dim=64)))
    rng = random.Random(3)
    words = ["memory", "dream", "drift", "guardian", "token", "lane", "fold", "signal", "coherence", "search"]
    for n in range(300):
        orch.add_event(" ".join(rng.choices(words, k=8)) + f" #{n}", {"lane": "candidate"})
    latencies = []
    for _ in range(200):
        t0 = time.perf_counter()
        orch.query("dream drift signal", k=5)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    assert latencies[int(0.95 * len(latencies))] < 0.1
    assert total(families(telemetry.metrics_url), "lukhas_memory_search_seconds", "lukhas_memory_search_seconds_count")


# -- consciousness -----------------------------------------------------------------------------------------------


def test_dream_fsm_legal_cycle_consolidates_and_reports_backpressure():
    store = InMemoryVectorStore(dim=16)
    dream = DreamEngine(MemoryOrchestrator(Indexer(store)), capacity=4, batch=2)
    assert [dream.submit(f"item {n}") for n in range(5)] == [True, True, True, True, False]
    assert dream.backpressure == 1.0
    dream.enter("consolidate", {})
    assert dream.phase == "ENTERING"
    assert dream.step() == 2 and dream.phase == "DREAMING" and dream.backpressure == 0.5
    assert dream.step() == 2 and dream.backpressure == 0.0
    dream.exit()
    assert dream.phase == "IDLE" and store.stats()["count"] == 4


@pytest.mark.parametrize(
    ("prepare", "action", "message"),
    [
        ([], "step", "cannot step in phase IDLE"),
        ([], "exit", "cannot exit in phase IDLE"),
        (["enter"], "enter", "cannot enter in phase ENTERING"),
        (["enter"], "exit", "cannot exit in phase ENTERING"),
        (["enter", "step"], "enter", "cannot enter in phase DREAMING"),
    ],
)
def test_dream_fsm_refuses_illegal_transitions(prepare, action, message):
    dream = DreamEngine()
    for name in prepare:
        getattr(dream, name)(*(("r", {}) if name == "enter" else ()))
    phase = dream.phase
    with pytest.raises(IllegalTransitionError, match=message) as info:
        getattr(dream, action)(*(("r", {}) if action == "enter" else ()))
    assert "legal from" in str(info.value)
    assert dream.phase == phase  # nothing changed


def test_reflection_drift_ema_and_anomalies():
    engine = ReflectionEngine(alpha=0.5, spike_threshold=0.8, ema_threshold=0.5, coherence_floor=0.4)
    calm = engine.reflect(ConsciousnessState(context={"drift": 0.2, "coherence": 0.9}))
    assert calm.anomalies == [] and math.isclose(calm.drift_ema, 0.1)
    spike = engine.reflect(ConsciousnessState(context={"drift": 1.0, "coherence": 0.3}))
    assert math.isclose(spike.drift_ema, 0.55)
    assert spike.anomalies == ["drift_spike", "drift_sustained", "low_coherence"]
    assert spike.schema_version == "1.0" and spike.coherence_score == 0.3


# -- identity ------------------------------------------------------------------------------------------------------


def _secrets(kid: str) -> bytes:
    return {"kid-1": b"s" * 32}[kid]


def test_jwt_roundtrip_expiry_and_tampering():
    now = [1_700_000_000.0]
    gen = TokenGenerator(_secrets, ttl_s=60, clock=lambda: now[0])
    val = TokenValidator(_secrets, clock=lambda: now[0])
    issued = gen.create({"sub": "ada", "realm": "realmA", "zone": "zone1"})
    ok = val.verify(issued["jwt"])
    assert ok.ok and ok.claims["sub"] == "ada" and ok.reason == "" and verify_crc(issued["alias"])
    header, payload, sig = issued["jwt"].split(".")
    assert val.verify(f"{header}.{payload}.{sig[:-2]}AA").reason == "bad_signature"
    forged_payload = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    assert val.verify(f"{header}.{forged_payload}.{sig}").reason == "bad_signature"
    none_header = "eyJhbGciOiJub25lIiwia2lkIjoia2lkLTEifQ"  # {"alg":"none","kid":"kid-1"}
    assert val.verify(f"{none_header}.{payload}.").reason == "malformed_token"
    assert val.verify("not-a-jwt").reason == "malformed_token"
    assert TokenValidator(lambda kid: b"other" * 8).verify(issued["jwt"]).reason == "bad_signature"
    now[0] += 60  # exp is exclusive
    assert val.verify(issued["jwt"]).reason == "expired"


def test_alias_crc_detects_tampering():
    alias = make_alias("realmA", "zone1")
    assert alias.startswith("lid#realmA/zone1/v1.") and verify_crc(alias)
    assert not verify_crc(alias.replace("zone1", "zone2")) and not verify_crc("no-crc-here") and not verify_crc("x")


def test_hotp_rfc4226_vectors():
    secret = b"12345678901234567890"
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp_mod.hotp(secret, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(
    ("at", "sha1", "sha256"),
    [
        (59, "94287082", "46119246"),
        (1111111109, "07081804", "68084774"),
        (1111111111, "14050471", "67062674"),
        (1234567890, "89005924", "91819424"),
        (2000000000, "69279037", "90698825"),
        (20000000000, "65353130", "77737706"),
    ],
)
def test_totp_rfc6238_vectors(at, sha1, sha256):
    assert totp_mod.totp(b"12345678901234567890", at=at, digits=8) == sha1
    assert totp_mod.totp(b"12345678901234567890123456789012", at=at, digits=8, digest="sha256") == sha256


def test_totp_verify_window_and_input_checks():
    secret = totp_mod.random_secret()
    code = totp_mod.totp(secret, at=1000)
    assert totp_mod.verify(secret, code, at=1000) == 1000 // 30
    assert totp_mod.verify(secret, code, at=1000 + 30) == 1000 // 30  # one step of skew accepted
    assert totp_mod.verify(secret, code, at=1000 + 90) is None
    assert totp_mod.verify(secret, "12345", at=1000) is None and totp_mod.verify(secret, "abcdef", at=1000) is None
    assert len(totp_mod.to_base32(secret)) == 32


@pytest.fixture
def core(cheap_hasher):
    now = [1_700_000_000.0]
    service = LukhasCore(hasher=cheap_hasher, clock=lambda: now[0], seed=7)
    enrollment = service.enroll("ada", "correct horse battery staple")
    return service, enrollment, now


def test_passwords_are_stored_as_argon2id(core):
    service, _, _ = core
    assert service.users["ada"].password_hash.startswith("$argon2id$")


def test_tiers_success_paths(core):
    service, ada, now = core
    tiers = service.tiers
    assert tiers.authenticate_T1({"token": service.issue_token("ada")}).ok
    assert tiers.authenticate_T2({"user": "ada", "password": ada.password}).ok
    assert tiers.authenticate_T3({"user": "ada", "code": totp_mod.totp(ada.totp_secret, at=now[0])}).ok
    challenge = service.hardware.issue(ada.hardware_key.key_id)
    ctx = {"user": "ada", "challenge": challenge, "response": ada.hardware_key.respond(challenge)}
    assert asyncio.run(tiers.authenticate_T4(ctx)).reason == "hardware_key_authenticated"
    sample = noisy_sample(ada.biometric_template, random.Random(1), 0.1)
    assert tiers.authenticate_T5({"user": "ada", "sample": sample}).ok


def test_tiers_negative_paths_have_catalog_reasons(core):
    service, ada, _ = core
    tiers = service.tiers
    reasons = builtin("lukhas_core").metric("lukhas_auth_failures_total").attribute("reason").values
    results = {
        "expired": tiers.authenticate_T1({"token": service.issue_token("ada", ttl_s=-1)}),
        "no_token": tiers.authenticate_T1({}),
        "wrong_password": tiers.authenticate_T2({"user": "ada", "password": "hunter2"}),
        "unknown_user": tiers.authenticate_T2({"user": "mallory", "password": "x"}),
        "no_password": tiers.authenticate_T2({"user": "ada"}),
        "bad_totp": tiers.authenticate_T3({"user": "ada", "code": "000000"}),
        "forged_key": asyncio.run(
            tiers.authenticate_T4(
                {
                    "user": "ada",
                    "challenge": (c := service.hardware.issue(ada.hardware_key.key_id)),
                    "response": HardwareKey("key-ada").respond(c),  # a different device, same id
                }
            )
        ),
        "stranger": tiers.authenticate_T5({"user": "ada", "sample": random_template(random.Random(99))}),
    }
    assert {k: r.reason for k, r in results.items()} == {
        "expired": "expired",
        "no_token": "missing_credentials",
        "wrong_password": "invalid_credentials",
        "unknown_user": "invalid_credentials",
        "no_password": "missing_credentials",
        "bad_totp": "bad_totp",
        "forged_key": "invalid_webauthn_response",
        "stranger": "biometric_mismatch",
    }
    assert all(not r.ok and r.reason in reasons for r in results.values())


def test_totp_codes_and_hardware_challenges_are_single_use(core):
    service, ada, now = core
    code = totp_mod.totp(ada.totp_secret, at=now[0])
    assert service.tiers.authenticate_T3({"user": "ada", "code": code}).ok
    assert service.tiers.authenticate_T3({"user": "ada", "code": code}).reason == "bad_totp"  # replay
    challenge = service.hardware.issue(ada.hardware_key.key_id)
    ctx = {"user": "ada", "challenge": challenge, "response": ada.hardware_key.respond(challenge)}
    assert asyncio.run(service.tiers.authenticate_T4(ctx)).ok
    assert not asyncio.run(service.tiers.authenticate_T4(ctx)).ok


# -- acceptance: the workload on real /metrics and exported spans ------------------------------------------------------


def test_first_iteration_puts_data_into_every_catalog_metric(telemetry, cheap_hasher):
    LukhasCoreWorkload(seed=1, hasher=cheap_hasher).step(0)
    fams = families(telemetry.metrics_url)
    assert [m for m in CORE_METRICS if not has_data(fams, m)] == []


def test_seed_003_acceptance_checklist_on_metrics(telemetry, cheap_hasher):
    workload = LukhasCoreWorkload(seed=2, hasher=cheap_hasher)
    for iteration in range(12):
        workload.step(iteration)
    counts = workload.counts
    fams = families(telemetry.metrics_url)

    # Memory: upsert/search histograms populate; docs and dedupe counters match what happened.
    assert total(fams, "lukhas_memory_upsert_seconds", "lukhas_memory_upsert_seconds_count") > 12
    assert total(fams, "lukhas_memory_search_seconds", "lukhas_memory_search_seconds_count") == 12
    assert total(fams, "lukhas_memory_docs", "lukhas_memory_docs_total") == workload.summary()["docs"]
    assert total(fams, "lukhas_memory_dedup_dropped", "lukhas_memory_dedup_dropped_total") == counts["duplicates"]

    # Consciousness: one reflection per step; anomalies counted by number; backpressure gauge visible in [0, 1].
    assert total(fams, "lukhas_reflection_latency_seconds", "lukhas_reflection_latency_seconds_count") == 12
    anomalies = total(fams, "lukhas_reflection_anomalies", "lukhas_reflection_anomalies_total")
    assert anomalies == counts["anomalies"] and anomalies >= 2 * 3  # 3 injected ticks (0, 5, 10), ≥2 each
    assert total(fams, "lukhas_dream_step_seconds", "lukhas_dream_step_seconds_count") >= 12
    (gauge,) = fams["lukhas_dream_backpressure"].samples
    assert 0.0 <= gauge.value <= 1.0 and gauge.labels["lane"] == "prod" and gauge.labels["service"] == "lukhas"

    # Identity: latency per tier; one failure per negative path, with its reason.
    for tier in ("T1", "T2", "T3", "T4", "T5"):
        assert total(fams, "lukhas_auth_latency_seconds", "lukhas_auth_latency_seconds_count", tier=tier) >= 12
    failures = {
        (s.labels["tier"], s.labels["reason"]): s.value
        for s in fams["lukhas_auth_failures"].samples
        if s.name == "lukhas_auth_failures_total"
    }
    assert failures == {
        ("T2", "invalid_credentials"): 2,
        ("T1", "expired"): 2,
        ("T3", "bad_totp"): 2,
        ("T1", "bad_signature"): 2,
        ("T4", "invalid_webauthn_response"): 2,
        ("T5", "biometric_mismatch"): 2,
    }
    assert sum(failures.values()) == counts["auth_failed"] == 12


def _exported(path: Path) -> list[tuple[dict, dict]]:
    assert lukhas_obs.force_flush()
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            resource = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
            for scope in rs["scopeSpans"]:
                for s in scope["spans"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in s.get("attributes", [])}
                    out.append((resource, {**s, "attributes": attrs}))
    return out


def test_seed_003_acceptance_checklist_on_exported_spans(telemetry, cheap_hasher):
    workload = LukhasCoreWorkload(seed=3, hasher=cheap_hasher)
    for iteration in range(6):
        workload.step(iteration)
    path = Path(telemetry.settings.traces_file)
    exported = _exported(path)
    names = {s["name"] for _, s in exported}
    assert names >= SPAN_NAMES
    ticks = {s["spanId"]: s for _, s in exported if s["name"] == "lukhas_core.tick"}
    by_id = {s["spanId"]: s for _, s in exported}
    for resource, s in exported:
        assert resource["service.name"] == "lukhas" and resource["lukhas.lane"] == "prod"
        if s["name"] in SPAN_NAMES:
            family = s["name"].split(".")[0]
            assert s["attributes"]["component"] == family
            parent = by_id[s["parentSpanId"]]  # every flow span has a parent in the same trace
            assert parent["traceId"] == s["traceId"]
            assert parent["name"] in ("lukhas_core.tick", "consciousness.dream.step")
    assert len(ticks) == 6 and all(not t.get("parentSpanId") for t in ticks.values())
    queries = [s for _, s in exported if s["name"] == "memory.query"]
    assert all(s["attributes"]["k"] in ("3", "5", "8") for s in queries)  # OTLP/JSON encodes ints as strings
    steps = [s for _, s in exported if s["name"] == "consciousness.dream.step"]
    assert all(s["attributes"]["max_time_ms"] == "20" and s["attributes"]["phase"] for s in steps)
    assert all("mem.meta.size" in s["attributes"] for _, s in exported if s["name"] == "memory.add_event")
    assert any(s["attributes"].get("auth.reason") == "invalid_credentials" for _, s in exported)

    # Credentials never leave the process as telemetry.
    text = path.read_text(encoding="utf-8")
    body = urllib.request.urlopen(telemetry.metrics_url, timeout=5).read().decode()
    user = workload.user
    for secret in (user.password, "hunter2", "$argon2id$", "eyJ", totp_mod.to_base32(user.totp_secret)):
        assert secret not in text and secret not in body


# -- the demo command and packaging -----------------------------------------------------------------------------------


def test_demo_workload_entry_points_at_the_example():
    assert system("lukhas_core").workload == "lukhas_obs_examples.lukhas_core.workload:LukhasCoreWorkload"
    workload = load_workload("lukhas_core")
    assert isinstance(workload, LukhasCoreWorkload)
    assert not hasattr(__import__("lukhas_obs.demo").demo, "SyntheticWorkload")


def test_lukhas_obs_demo_command_runs_50_iterations(tmp_path):
    traces = tmp_path / "x.jsonl"
    done = subprocess.run(
        ["lukhas-obs", "demo", "--iterations", "50", "--port", "0", "--traces-file", str(traces)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"done: 50 iterations .*auth_failed=50 .*telemetry flushed=True", done.stderr), done.stderr
    names = {
        s["name"]
        for line in traces.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for scope in rs["scopeSpans"]
        for s in scope["spans"]
    }
    assert names >= SPAN_NAMES


def test_lukhas_obs_demo_serves_every_catalog_metric_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(
        ["lukhas-obs", "demo", "--duration", "60", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl")],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        url = None
        for line in proc.stderr:
            match = re.search(r"metrics: (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "demo did not print its metrics URL"
        deadline = time.monotonic() + 30
        missing = CORE_METRICS
        while missing and time.monotonic() < deadline:
            fams = families(url)
            missing = [m for m in CORE_METRICS if not has_data(fams, m)]
            time.sleep(0.2)
        assert missing == []
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0 and "telemetry flushed=True" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pyproject_packages_every_subpackage_and_the_demo_extra():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools_cfg = config["tool"]["setuptools"]
    listed = set(setuptools_cfg["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lukhas_obs").rglob("__init__.py")} | {
        ".".join(("lukhas_obs_examples", *p.parent.relative_to(ROOT / "examples").parts))
        for p in (ROOT / "examples").rglob("__init__.py")
    }
    assert sorted(on_disk - listed) == [], "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert setuptools_cfg["package-dir"]["lukhas_obs_examples"] == "examples"
    extras = config["project"]["optional-dependencies"]
    assert any(d.startswith("argon2-cffi") for d in extras["demo"])
    assert any(d.startswith("argon2-cffi") for d in extras["test"])


def test_example_imports_from_the_installed_package_outside_the_repo(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = (
        "import lukhas_obs_examples.lukhas_core as m\n"
        "from lukhas_obs_examples.lukhas_core import LukhasCore, LukhasCoreWorkload\n"
        "print(m.__name__, m.__file__)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    name, path = done.stdout.split()
    assert name == "lukhas_obs_examples.lukhas_core"
    assert Path(path) == ROOT / "examples" / "lukhas_core" / "__init__.py"  # the editable install maps examples/
