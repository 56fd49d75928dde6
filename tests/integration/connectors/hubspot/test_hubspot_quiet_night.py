"""A night with no change re-reads only what lies inside the look-back, not one deal in eight.

The sandbox's seed used to stamp every deal whose (created + n days) passed the seed's moment
with that very moment, so one deal in eight carried the newest stamp, the watermark: each
quiet night's window (watermark less the 10-minute look-back) re-read all of them.
"""

from __future__ import annotations

from datetime import timedelta

from hubspot_sandbox_support import private_app, pull_request, records

from kam_sync.sandbox.runner import running_sandbox


def test_a_quiet_night_after_the_first_sync_rereads_almost_no_deal() -> None:
    with running_sandbox("hubspot", accounts=400, seed=11) as sandbox:
        connector = private_app(sandbox, look_back_minutes=10)
        store = sandbox.app.store
        until = store.as_of + timedelta(hours=1)
        pages = list(connector.pull(pull_request("deals", ("dealname",), until=until)))
        watermark = pages[-1].high_watermark
        assert watermark is not None
        night = records(
            connector.pull(
                pull_request(
                    "deals", ("dealname",), since=watermark, until=until + timedelta(days=1)
                )
            )
        )
    total = len(store.deals.ids)
    assert total > 1500
    # Only the deals stamped within ten minutes of the newest one are read again.
    assert len(night) < total / 100
