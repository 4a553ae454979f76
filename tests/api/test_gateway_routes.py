"""Every gateway route of /v1 through the test client: statuses, bodies and headers."""

from __future__ import annotations

from outbox.domain.model import Phase, State
from outbox.store.port import GATEWAYS
from outbox.writer import Writer
from outbox_api.tokens import Role
from tests.support.api import SPEC, Api


def test_create_answers_201_with_location_and_etag(api: Api) -> None:
    response = api.create("edge", spec={**SPEC, "host": "edge.example.com"})

    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"/v1/gateways/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert (body["name"], body["state"], body["phase"]) == ("edge", "Running", "Created")
    assert body["spec"]["host"] == "edge.example.com"
    assert Writer(api.store).get("edge").id == body["id"]


def test_create_stopped_leaves_the_gateway_stopped(api: Api) -> None:
    response = api.create("edge", stopped=True)

    assert response.json()["state"] == "Stopped"


def test_the_location_of_a_new_gateway_serves_it(api: Api) -> None:
    created = api.create("edge")

    fetched = api.client.get(created.headers["Location"], headers=api.headers(Role.READER))

    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert fetched.headers["ETag"] == '"1"'


def test_get_answers_304_while_the_etag_still_matches(api: Api) -> None:
    api.create("edge")

    same = api.client.get("/v1/gateways/edge", headers=api.headers(If_None_Match='"1"'))
    api.client.post("/v1/gateways/edge/stop", headers=api.headers())
    changed = api.client.get("/v1/gateways/edge", headers=api.headers(If_None_Match='"1"'))

    assert same.status_code == 304
    assert same.headers["ETag"] == '"1"'
    assert same.content == b""
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'


def test_list_pages_through_every_gateway_once_with_a_cursor(api: Api) -> None:
    names = [f"gw-{index}" for index in range(7)]
    for name in names:
        api.create(name)
        api.clock.advance(1)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 3, **({"next": cursor} if cursor else {})}
        page = api.client.get("/v1/gateways", params=params, headers=api.headers()).json()
        seen += [item["name"] for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break

    assert seen == names
    assert pages == 3


def test_list_filters_by_state_and_phase_and_hides_deleted_unless_all(api: Api) -> None:
    api.create("running")
    api.create("stopped", stopped=True)
    api.create("gone")
    api.client.delete("/v1/gateways/gone", headers=api.headers())
    api.store.collection(GATEWAYS).update_one(
        {"name": "gone"}, {"$set": {"phase": str(Phase.DELETED)}}
    )

    def names(**params: object) -> list[str]:
        page = api.client.get("/v1/gateways", params=params, headers=api.headers()).json()
        return sorted(item["name"] for item in page["items"])

    assert names() == ["running", "stopped"]
    assert names(all="true") == ["gone", "running", "stopped"]
    assert names(state=str(State.STOPPED)) == ["stopped"]
    assert names(phase=str(Phase.CREATED)) == ["running", "stopped"]


def test_a_cursor_that_is_not_ours_is_invalid_input(api: Api) -> None:
    response = api.client.get("/v1/gateways", params={"next": "!!nope"}, headers=api.headers())

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "next"


def test_patch_changes_the_spec_fields_given_and_null_clears_the_host(api: Api) -> None:
    api.create("edge", spec={**SPEC, "host": "edge.example.com"})

    response = api.client.patch(
        "/v1/gateways/edge", json={"replicas": 3, "host": None}, headers=api.headers()
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    spec = response.json()["spec"]
    assert (spec["replicas"], spec["host"], spec["image"]) == (3, None, "nginx:1.27")
    assert Writer(api.store).get("edge").spec.host is None


def test_patch_without_fields_is_invalid_input(api: Api) -> None:
    api.create("edge")

    response = api.client.patch("/v1/gateways/edge", json={}, headers=api.headers())

    assert response.status_code == 422


def test_start_stop_restart_follow_the_state_machine(api: Api) -> None:
    api.create("edge", stopped=True)

    started = api.client.post("/v1/gateways/edge/start", headers=api.headers())
    restart_refused = api.client.post("/v1/gateways/edge/restart", headers=api.headers())
    stopped = api.client.post("/v1/gateways/edge/stop", headers=api.headers())

    assert (started.status_code, started.json()["state"]) == (200, "Running")
    assert started.headers["ETag"] == '"2"'
    assert restart_refused.status_code == 409
    assert restart_refused.json()["type"] == "urn:outbox:problem:transition-refused"
    assert (stopped.status_code, stopped.json()["state"]) == (200, "Stopped")


def test_restart_of_a_started_gateway_is_accepted(api: Api) -> None:
    created = api.create("edge").json()
    api.store.collection(GATEWAYS).update_one(
        {"_id": created["id"]},
        {"$set": {"phase": str(Phase.STARTED), "applied_spec_version": 1, "at_rest": True}},
    )

    response = api.client.post("/v1/gateways/edge/restart", headers=api.headers())

    assert (response.status_code, response.json()["state"]) == (200, "Restarting")


def test_delete_answers_202_because_deletion_is_asynchronous(api: Api) -> None:
    api.create("edge")

    response = api.client.delete("/v1/gateways/edge", headers=api.headers())

    assert response.status_code == 202
    assert (response.json()["state"], response.json()["phase"]) == ("Deleted", "Created")
    assert response.headers["ETag"] == '"2"'


def test_if_match_on_a_write_is_the_expected_version(api: Api) -> None:
    api.create("edge")

    stale = api.client.post("/v1/gateways/edge/stop", headers=api.headers(If_Match='"7"'))
    current = api.client.post("/v1/gateways/edge/stop", headers=api.headers(If_Match='"1"'))
    any_version = api.client.delete("/v1/gateways/edge", headers=api.headers(If_Match="*"))

    assert stale.status_code == 412
    assert stale.json()["type"] == "urn:outbox:problem:version-mismatch"
    assert current.status_code == 200
    assert any_version.status_code == 202


def test_if_match_applies_to_patch_and_delete(api: Api) -> None:
    api.create("edge")

    patch = api.client.patch(
        "/v1/gateways/edge", json={"replicas": 2}, headers=api.headers(If_Match='"5"')
    )
    delete = api.client.delete("/v1/gateways/edge", headers=api.headers(If_Match='"5"'))
    garbage = api.client.delete("/v1/gateways/edge", headers=api.headers(If_Match="yesterday"))

    assert (patch.status_code, delete.status_code, garbage.status_code) == (412, 412, 412)
    assert Writer(api.store).get("edge").version == 1


def test_environments_lists_each_with_its_state(api: Api) -> None:
    api.create("edge", spec={**SPEC, "environments": ["prod", "dev"]})

    response = api.client.get("/v1/gateways/edge/environments", headers=api.headers())

    assert response.status_code == 200
    assert response.json() == [
        {"name": "dev", "state": "Inactive"},
        {"name": "prod", "state": "Inactive"},
    ]


def test_timeline_shows_the_events_and_the_phases(api: Api) -> None:
    api.create("edge")
    api.clock.advance(5)
    api.client.post("/v1/gateways/edge/stop", headers=api.headers())

    response = api.client.get("/v1/gateways/edge/timeline", headers=api.headers())

    assert response.status_code == 200
    body = response.json()
    assert [event["type"] for event in body["events"]] == [
        "GatewayCreated",
        "GatewayStopRequested",
    ]
    assert [span["phase"] for span in body["phases"]] == ["Created"]
    assert body["phases"][0]["seconds"] == 5.0
    assert body["gateway"]["name"] == "edge"


def test_the_timeline_and_the_gateway_name_the_token_behind_each_change(api: Api) -> None:
    api.create("edge")  # a writer's token
    api.client.post("/v1/gateways/edge/stop", headers=api.headers(Role.ADMIN))

    body = api.client.get("/v1/gateways/edge/timeline", headers=api.headers(Role.READER)).json()

    assert [event["actor"] for event in body["events"]] == ["token:test-writer", "token:test-admin"]
    gateway = api.client.get("/v1/gateways/edge", headers=api.headers(Role.READER)).json()
    assert (gateway["created_by"], gateway["updated_by"]) == (
        "token:test-writer",
        "token:test-admin",
    )


def test_an_unknown_gateway_is_404_on_every_route(api: Api) -> None:
    headers = api.headers()
    responses = [
        api.client.get("/v1/gateways/ghost", headers=headers),
        api.client.patch("/v1/gateways/ghost", json={"replicas": 2}, headers=headers),
        api.client.post("/v1/gateways/ghost/start", headers=headers),
        api.client.post("/v1/gateways/ghost/stop", headers=headers),
        api.client.post("/v1/gateways/ghost/restart", headers=headers),
        api.client.delete("/v1/gateways/ghost", headers=headers),
        api.client.get("/v1/gateways/ghost/timeline", headers=headers),
        api.client.get("/v1/gateways/ghost/environments", headers=headers),
        api.client.get("/v1/gateways/ghost/wait", params={"for": "phase=Started"}, headers=headers),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert {r.json()["type"] for r in responses} == {"urn:outbox:problem:not-found"}
