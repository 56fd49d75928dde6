"""The fault spec: parsing, scoping, and deterministic decisions by seed."""

from __future__ import annotations

import pytest

from kam_sync.sandbox.faults import FaultDecision, FaultInjector, FaultSpec, FaultSpecError


def test_spec_string_sets_defaults_for_every_endpoint_kind() -> None:
    spec = FaultSpec.parse(
        "latency=20ms,jitter=5ms,429=0.05,503=0.02,retry_after=1,drop=0.01,"
        "session_expiry=500,lock=0.02,partial=0.05,quota=1000"
    )
    settings = spec.for_kind("query")
    assert settings.latency_s == pytest.approx(0.020)
    assert settings.jitter_s == pytest.approx(0.005)
    assert (settings.rate_429, settings.rate_503, settings.drop) == (0.05, 0.02, 0.01)
    assert settings.retry_after_s == 1.0
    assert (settings.lock, settings.partial) == (0.02, 0.05)
    assert spec.session_expiry_every == 500
    assert spec.daily_quota_remaining == 1000


def test_scoped_settings_override_the_defaults_only_for_their_kind() -> None:
    spec = FaultSpec.parse("latency=5ms;query:429=0.1;write:lock=0.05,partial=0.1")
    assert spec.for_kind("query").rate_429 == 0.1
    assert spec.for_kind("query").latency_s == pytest.approx(0.005)
    assert spec.for_kind("write").lock == 0.05
    assert spec.for_kind("write").rate_429 == 0.0
    assert spec.for_kind("describe").latency_s == pytest.approx(0.005)
    assert spec.for_kind("describe").lock == 0.0


def test_dict_form_equals_the_string_form() -> None:
    from_dict = FaultSpec.from_dict(
        {"latency": "5ms", "429": 0.1, "by_kind": {"write": {"lock": 0.05}}}
    )
    from_text = FaultSpec.parse("latency=5ms,429=0.1;write:lock=0.05")
    assert from_dict == from_text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus=1", "unknown fault setting 'bogus'"),
        ("429=1.5", "between 0 and 1"),
        ("latency=fast", "duration like 20ms"),
        ("lock", "needs key=value"),
        ("query:session_expiry=5", "global"),
        ("session_expiry=0", "must be > 0"),
    ],
)
def test_a_bad_spec_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultSpec.parse(text)


def test_an_empty_spec_never_injects_anything() -> None:
    injector = FaultInjector(FaultSpec.parse(""), seed=3)
    decisions = {injector.decide_request("query") for _ in range(500)}
    assert decisions == {FaultDecision()}
    assert injector.record_fault("write", "001") is None


def test_the_same_seed_injects_the_same_faults_in_the_same_order() -> None:
    spec = FaultSpec.parse("429=0.2,503=0.1,drop=0.05,jitter=10ms")
    first = FaultInjector(spec, seed=7)
    second = FaultInjector(spec, seed=7)
    other = FaultInjector(spec, seed=8)
    run_a = [first.decide_request("query") for _ in range(300)]
    run_b = [second.decide_request("query") for _ in range(300)]
    run_c = [other.decide_request("query") for _ in range(300)]
    assert run_a == run_b
    assert run_a != run_c


def test_fault_rates_are_close_to_the_spec_over_many_requests() -> None:
    injector = FaultInjector(FaultSpec.parse("429=0.2,503=0.1,drop=0.05"), seed=1)
    decisions = [injector.decide_request("read") for _ in range(5000)]
    share_429 = sum(d.status == 429 for d in decisions) / len(decisions)
    share_503 = sum(d.status == 503 for d in decisions) / len(decisions)
    share_drop = sum(d.drop for d in decisions) / len(decisions)
    assert share_429 == pytest.approx(0.2, abs=0.03)
    assert share_503 == pytest.approx(0.1, abs=0.03)
    assert share_drop == pytest.approx(0.05, abs=0.02)


def test_retry_after_is_sent_only_when_the_spec_sets_it() -> None:
    with_header = FaultInjector(FaultSpec.parse("429=1,retry_after=2"), seed=1)
    without = FaultInjector(FaultSpec.parse("429=1"), seed=1)
    assert with_header.decide_request("query").retry_after_s == 2.0
    assert without.decide_request("query").retry_after_s is None


def test_sessions_expire_every_n_requests_across_kinds() -> None:
    injector = FaultInjector(FaultSpec.parse("session_expiry=3"), seed=1)
    kinds = ["query", "write", "read", "query", "describe", "write", "query"]
    expired = [injector.decide_request(kind).expire_sessions for kind in kinds]
    assert expired == [False, False, True, False, False, True, False]


def test_a_record_that_failed_with_a_lock_can_succeed_on_a_later_attempt() -> None:
    injector = FaultInjector(FaultSpec.parse("write:lock=0.5"), seed=2)
    attempts = [injector.record_fault("write", "001Dn0000000001IAA") for _ in range(40)]
    assert "lock" in attempts
    assert None in attempts
    assert injector.record_fault("query", "001Dn0000000001IAA") is None


def test_setting_a_new_spec_restarts_the_deterministic_sequence() -> None:
    spec = FaultSpec.parse("429=0.3")
    injector = FaultInjector(spec, seed=5)
    first = [injector.decide_request("query") for _ in range(50)]
    injector.set_spec(spec)
    assert [injector.decide_request("query") for _ in range(50)] == first
