"""The questions asked of the store about many gateways (`GatewayQueries`) and its leases,
against every store adapter: what the sweep, `outbox status`, the HTTP API's pages and the
shell's completions rely on getting back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outbox.domain.model import LastError, Phase, Retry, State
from outbox.store.gateway_queries import GatewayQueries
from outbox.store.leases import Leases
from outbox.store.port import LEASES, Store
from outbox.store.repository import Gateways
from tests.support.gateways import make_gateway

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def add(store: Store, gateway_id: str, **changes: Any) -> None:
    """Store a gateway named after its id (names must differ: the live name is unique)."""
    gateway = make_gateway(gateway_id.replace("_", "-"), gateway_id=gateway_id)
    Gateways(store).insert(gateway.evolve(**changes))


def started(**changes: Any) -> dict[str, Any]:
    """The changes that make a gateway Started and at rest."""
    return {"phase": Phase.STARTED, "applied_spec_version": 1, **changes}


def retry(at: datetime) -> Retry:
    return Retry(attempts=1, next_at=at)


def failure() -> LastError:
    return LastError(reason="ImagePullBackOff", message="no such image", at=NOW)


# -- the sweep --------------------------------------------------------------------------------


@pytest.fixture
def sweep_store(any_store: Store) -> Store:
    """Given: a and b not at rest (b waits out a back-off), c at rest with a retry due, d at
    rest with a retry still to come, e Started at rest, f Started with a spec not yet applied,
    g Stopped at rest; a, c and e in partition 0, the others in partition 1."""
    add(any_store, "gw_a", partition=0)
    add(any_store, "gw_b", partition=1, retry=retry(NOW + SECOND))
    add(any_store, "gw_c", **started(partition=0, retry=retry(NOW - SECOND)))
    add(any_store, "gw_d", **started(partition=1, retry=retry(NOW + SECOND)))
    add(any_store, "gw_e", **started(partition=0))
    add(any_store, "gw_f", phase=Phase.STARTED, partition=1)
    add(any_store, "gw_g", state=State.STOPPED, phase=Phase.STOPPED, partition=1)
    return any_store


def test_unsettled_gateways_are_exactly_those_not_at_rest_with_their_back_off(
    sweep_store: Store,
) -> None:
    unsettled = GatewayQueries(sweep_store).unsettled()

    assert sorted(unsettled) == [("gw_a", None), ("gw_b", NOW + SECOND), ("gw_f", None)]


def test_retries_due_are_exactly_those_whose_back_off_ended_by_now(sweep_store: Store) -> None:
    queries = GatewayQueries(sweep_store)

    assert queries.retries_due(NOW) == ["gw_c"]
    assert sorted(queries.retries_due(NOW + SECOND)) == ["gw_b", "gw_c", "gw_d"]
    assert queries.retries_due(NOW - 2 * SECOND) == []


def test_retries_waiting_counts_the_back_offs_still_to_end(sweep_store: Store) -> None:
    queries = GatewayQueries(sweep_store)

    assert queries.retries_waiting(NOW) == 2
    assert queries.retries_waiting(NOW + SECOND) == 0


def test_started_at_rest_leaves_out_a_started_gateway_with_work_left(sweep_store: Store) -> None:
    assert sorted(GatewayQueries(sweep_store).started_at_rest()) == ["gw_c", "gw_d", "gw_e"]


def test_the_sweep_questions_see_only_the_partitions_asked_about(sweep_store: Store) -> None:
    queries = GatewayQueries(sweep_store)

    assert [gateway.id for gateway in queries.unsettled(partitions={0})] == ["gw_a"]
    assert sorted(gateway.id for gateway in queries.unsettled(partitions={1})) == ["gw_b", "gw_f"]
    assert queries.retries_due(NOW, partitions={1}) == []
    assert sorted(queries.started_at_rest(partitions={0})) == ["gw_c", "gw_e"]


def test_owning_no_partition_sweeps_nothing(sweep_store: Store) -> None:
    queries = GatewayQueries(sweep_store)

    assert queries.unsettled(partitions=set()) == []
    assert queries.retries_due(NOW + SECOND, partitions=set()) == []
    assert queries.started_at_rest(partitions=set()) == []


# -- outbox status ----------------------------------------------------------------------------


def test_the_count_per_phase_names_every_phase(sweep_store: Store) -> None:
    counts = GatewayQueries(sweep_store).count_per_phase()

    assert counts == {str(phase): 0 for phase in Phase} | {
        "Starting": 2,
        "Started": 4,
        "Stopped": 1,
    }


def test_the_gateways_to_look_at_come_once_each_group_by_phase_change(any_store: Store) -> None:
    # Given: two Starting (the later changed first), one Starting and retrying, one Started and
    # retrying, one Stopped with an error and one Started at rest without anything wrong.
    add(any_store, "gw_late", phase_changed_at=NOW + 2 * SECOND)
    add(any_store, "gw_early", phase_changed_at=NOW)
    add(any_store, "gw_both", phase_changed_at=NOW + SECOND, retry=retry(NOW))
    add(any_store, "gw_retry", **started(phase_changed_at=NOW - SECOND, retry=retry(NOW)))
    add(any_store, "gw_failed", state=State.STOPPED, phase=Phase.STOPPED, last_error=failure())
    add(any_store, "gw_fine", **started())

    found = GatewayQueries(any_store).in_phases_or_retrying_or_failed([Phase.STARTING])

    assert [gateway.id for gateway in found] == [
        "gw_early",
        "gw_both",
        "gw_late",
        "gw_retry",
        "gw_failed",
    ]
    assert found[3].retry == retry(NOW)
    assert found[4].last_error == failure()


def test_every_lease_is_listed_held_or_not(any_store: Store) -> None:
    any_store.collection(LEASES).insert_many(
        [
            {"_id": "relay", "owner": "relay-1", "token": 3, "expires_at": NOW},
            {"_id": "partition:0", "owner": None, "token": 1, "expires_at": NOW},
        ]
    )

    leases = sorted(Leases(any_store).all(), key=lambda lease: lease["_id"])

    assert [(lease["_id"], lease["owner"]) for lease in leases] == [
        ("partition:0", None),
        ("relay", "relay-1"),
    ]


# -- pages of the HTTP API --------------------------------------------------------------------


@pytest.fixture
def listed(any_store: Store) -> Store:
    """Given: five gateways, two pairs created in the same second, and one deleted."""
    add(any_store, "gw_3", created_at=NOW)
    add(any_store, "gw_1", created_at=NOW)
    add(any_store, "gw_2", created_at=NOW + SECOND, state=State.STOPPED, phase=Phase.STOPPED)
    add(any_store, "gw_5", created_at=NOW + 2 * SECOND)
    add(any_store, "gw_4", created_at=NOW + 2 * SECOND)
    deleted = {"state": State.DELETED, "phase": Phase.DELETED, "live_name": None}
    add(any_store, "gw_0", created_at=NOW + SECOND, **deleted)
    return any_store


def every_page(queries: GatewayQueries, limit: int, **filters: Any) -> list[list[str]]:
    """Follow the pages from the first, each after the last gateway of the one before."""
    pages, after = [], None
    while True:
        page = queries.page(limit=limit, after=after, **filters)
        pages.append([gateway.id for gateway in page.gateways])
        if not page.more:
            return pages
        after = (page.gateways[-1].created_at, page.gateways[-1].id)


def test_pages_give_each_gateway_once_by_creation_then_id(listed: Store) -> None:
    pages = every_page(GatewayQueries(listed), 2)

    assert pages == [["gw_1", "gw_3"], ["gw_0", "gw_2"], ["gw_4", "gw_5"]]


def test_the_last_page_says_nothing_comes_after_it(listed: Store) -> None:
    assert every_page(GatewayQueries(listed), 6) == [
        ["gw_1", "gw_3", "gw_0", "gw_2", "gw_4", "gw_5"]
    ]
    assert every_page(GatewayQueries(listed), 7) == [
        ["gw_1", "gw_3", "gw_0", "gw_2", "gw_4", "gw_5"]
    ]


def test_a_gateway_created_between_pages_comes_on_a_later_page(listed: Store) -> None:
    queries = GatewayQueries(listed)
    first = queries.page(limit=3)

    add(listed, "gw_new", created_at=NOW + 3 * SECOND)
    rest = queries.page(limit=10, after=(first.gateways[-1].created_at, first.gateways[-1].id))

    assert [gateway.id for gateway in first.gateways + rest.gateways] == [
        "gw_1",
        "gw_3",
        "gw_0",
        "gw_2",
        "gw_4",
        "gw_5",
        "gw_new",
    ]


def test_pages_may_leave_out_deleted_gateways_or_keep_one_state_or_phase(listed: Store) -> None:
    queries = GatewayQueries(listed)

    assert every_page(queries, 2, include_deleted=False) == [
        ["gw_1", "gw_3"],
        ["gw_2", "gw_4"],
        ["gw_5"],
    ]
    assert every_page(queries, 2, state=State.STOPPED) == [["gw_2"]]
    assert every_page(queries, 2, phase=Phase.DELETED, include_deleted=False) == [["gw_0"]]


# -- completions ------------------------------------------------------------------------------


def test_live_names_leave_out_deleted_gateways_and_stop_at_the_limit(listed: Store) -> None:
    queries = GatewayQueries(listed)

    assert sorted(queries.live_names(limit=10)) == ["gw-1", "gw-2", "gw-3", "gw-4", "gw-5"]
    assert len(queries.live_names(limit=2)) == 2
