"""Site load sharing (CONTRACT §9.2) as properties that hold for any site and any claims."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pile_controller.core.sharing import Claim, share

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@st.composite
def claims(draw: st.DrawFn) -> list[Claim]:
    n = draw(st.integers(0, 6))
    limits = draw(st.lists(st.floats(0, 80, allow_nan=False), min_size=n, max_size=n))
    starts = draw(st.lists(st.integers(0, 3600), min_size=n, max_size=n))
    return [
        Claim(i + 1, a, T0 + timedelta(seconds=s))
        for i, (a, s) in enumerate(zip(limits, starts, strict=True))
    ]


sites = st.none() | st.floats(6, 250, allow_nan=False)


@given(sites, claims())
def test_the_offers_never_add_up_to_more_than_the_site(site: float | None, cs: list[Claim]) -> None:
    if site is not None:
        assert sum(share(site, cs).values()) <= site + 1e-9


@given(sites, claims())
def test_no_connector_is_offered_between_0_and_6_amps(site: float | None, cs: list[Claim]) -> None:
    assert all(a == 0 or a >= 6 for a in share(site, cs).values())


@given(sites, claims())
def test_no_offer_exceeds_the_connectors_own_limit(site: float | None, cs: list[Claim]) -> None:
    offers = share(site, cs)
    assert all(offers[c.connector] <= c.limit for c in cs)


@given(sites, claims())
def test_with_enough_for_all_each_gets_its_own_limit(site: float | None, cs: list[Claim]) -> None:
    if site is None or sum(c.limit for c in cs if c.limit >= 6) <= site:
        offers = share(site, cs)
        assert all(
            offers[c.connector] >= (int(c.limit * 10) / 10 if c.limit >= 6 else 0) for c in cs
        )


@given(st.floats(6, 250, allow_nan=False), claims())
def test_the_longest_running_are_served_first(site: float, cs: list[Claim]) -> None:
    offers = share(site, cs)
    served = [c for c in cs if offers[c.connector] > 0]
    waiting = [c for c in cs if offers[c.connector] == 0 and c.limit >= 6]
    assert all(w.since >= s.since for w in waiting for s in served)


@given(st.floats(12, 250, allow_nan=False), claims())
def test_the_site_is_used_when_claims_ask_for_more(site: float, cs: list[Claim]) -> None:
    # Sharing never strands current a served connector could take (beyond 0.1 A rounding each).
    offers = share(site, cs)
    able = [c for c in cs if c.limit >= 6]
    if sum(c.limit for c in able) > site and any(offers[c.connector] for c in able):
        hungry = [c for c in able if offers[c.connector] and offers[c.connector] < c.limit - 0.1]
        if hungry:
            assert sum(offers.values()) >= site - 0.1 * len(able) - 1e-9


def test_two_connectors_share_32_amps_then_one_gets_all() -> None:
    a, b = Claim(1, 32, T0), Claim(2, 32, T0 + timedelta(minutes=5))
    assert share(32, [a, b]) == {1: 16.0, 2: 16.0}
    assert share(32, [a]) == {1: 32.0}


def test_a_connector_limited_below_its_share_leaves_the_rest_to_the_others() -> None:
    claims_ = [Claim(1, 10, T0), Claim(2, 32, T0), Claim(3, 32, T0)]
    assert share(48, claims_) == {1: 10.0, 2: 19.0, 3: 19.0}


def test_when_6_amps_each_is_not_possible_the_newest_waits() -> None:
    claims_ = [
        Claim(1, 32, T0),
        Claim(2, 32, T0 + timedelta(minutes=1)),
        Claim(3, 32, T0 + timedelta(minutes=2)),
    ]
    assert share(13, claims_) == {1: 6.5, 2: 6.5, 3: 0.0}


def test_a_claim_under_6_amps_is_paused_and_takes_nothing() -> None:
    assert share(20, [Claim(1, 4, T0), Claim(2, 32, T0)]) == {1: 0.0, 2: 20.0}
