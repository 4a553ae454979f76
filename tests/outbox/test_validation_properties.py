"""Bad input, generated: every kind is refused with a message naming the problem, and nothing is
written; good input, generated, is accepted as given.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.domain.errors import InvalidInput
from outbox.store.memory.store import MemoryStore
from outbox.store.port import ENVIRONMENTS, GATEWAYS, OUTBOX, Store
from outbox.writer import Writer
from tests.support.clock import FakeClock

modest = settings(max_examples=40, deadline=None, database=None)

# -- good values ---------------------------------------------------------------------------------

names = st.from_regex(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", fullmatch=True)
labels = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join).filter(lambda h: not _is_ip(h))
components = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+){0,2}", fullmatch=True)
images = st.builds(
    lambda registry, path, tag, digest: registry + "/".join(path) + tag + digest,
    st.sampled_from(["", "registry.example.com/", "localhost:5000/", "ghcr.io/"]),
    st.lists(components, min_size=1, max_size=3),
    st.one_of(st.just(""), st.from_regex(r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"@sha256:[0-9a-f]{64}", fullmatch=True)),
)
environment_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
specs = st.fixed_dictionaries(
    {"image": images},
    optional={
        "replicas": st.integers(1, 100),
        "port": st.integers(1, 65535),
        "host": st.one_of(st.none(), hosts),
        "environments": st.lists(environment_names, max_size=5, unique=True),
    },
)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# -- bad values, each with what the message must say ---------------------------------------------

bad_names = st.one_of(
    st.just(("", "name must not be empty")),
    names.map(lambda n: (n[0].upper() + n[1:], "is not a DNS-1035 label")),
    st.builds(
        lambda d, n: (d + n, "is not a DNS-1035 label"), st.sampled_from("0123456789"), names
    ),
    st.builds(
        lambda n, i: (n[:i] + "_" + n[i:], "is not a DNS-1035 label"),
        names,
        st.integers(0, 40),
    ),
    names.filter(lambda n: len(n) < 40).map(lambda n: (n + "-", "is not a DNS-1035 label")),
    st.from_regex(r"[a-z][a-z0-9]{40,80}", fullmatch=True).map(
        lambda n: (n, "is longer than 40 characters")
    ),
)

not_a_dns_name = "is not a DNS name"
bad_hosts = st.one_of(
    st.just(("", "host must not be empty")),
    st.ip_addresses(v=4).map(lambda ip: (str(ip), "is an IP address, not a DNS name")),
    st.builds(lambda h: ("x" * 64 + "." + h, not_a_dns_name), hosts),
    st.builds(
        lambda h, c: (c + h, not_a_dns_name), hosts, st.sampled_from(["-", "_", " ", "*", "."])
    ),
    st.builds(lambda h, c: (h + c + "x", not_a_dns_name), hosts, st.sampled_from("_ *!/:@")),
    st.builds(lambda h: (h + "..example.com", not_a_dns_name), hosts),
    st.just(((("a" * 63) + ".") * 4 + "com", "is longer than 253 characters")),
)

not_an_image = "is not a valid image reference"
bad_images = st.one_of(
    st.just(("", "image must not be empty")),
    st.sampled_from(
        ["nginx:", ":1.27", "/nginx", "nginx//x", "nginx@sha256:xyz", "http://x/y"]
    ).map(lambda i: (i, not_an_image)),
    # Repository names are lowercase; tags are not (so uppercase only the part before the tag).
    st.builds(lambda c: ("Team/" + c, not_an_image), components),
    st.builds(
        lambda c, b: (c + b + "x", not_an_image), components, st.sampled_from(" !$%&*(),;<>?[]{}|~")
    ),
    st.builds(lambda c, n: (f"{c}:{'a' * n}", not_an_image), components, st.integers(129, 200)),
)

bad_numbers = st.one_of(
    st.integers(max_value=0).map(
        lambda n: ({"replicas": n}, "replicas: Input should be greater than or equal to 1")
    ),
    st.integers(min_value=101).map(
        lambda n: ({"replicas": n}, "replicas: Input should be less than or equal to 100")
    ),
    st.integers(max_value=0).map(
        lambda n: ({"port": n}, "port: Input should be greater than or equal to 1")
    ),
    st.integers(min_value=65536).map(
        lambda n: ({"port": n}, "port: Input should be less than or equal to 65535")
    ),
    st.sampled_from(["replicas", "port"]).flatmap(
        lambda field: st.one_of(
            st.booleans(), st.floats(1.1, 99.9).filter(lambda f: not f.is_integer())
        ).map(lambda value: ({field: value}, f"{field}: must be a whole number"))
    ),
)

repeated_environments = st.lists(environment_names, min_size=1, max_size=4, unique=True).flatmap(
    lambda envs: st.permutations([*envs, envs[0]]).map(
        lambda listed: ({"environments": listed}, f"environments: environments repeat: {envs[0]}")
    )
)
bad_environment_names = st.sampled_from(["Dev", "-dev", "dev-", "d_v", "d v", "x" * 64, ""]).map(
    lambda e: ({"environments": ["prod", e]}, f"environment {e!r} is not a DNS label")
)
too_many_environments = st.just(
    ({"environments": [f"e{n}" for n in range(33)]}, "at most 32 environments")
)
bad_spec_fields = st.one_of(
    bad_numbers,
    repeated_environments,
    bad_environment_names,
    too_many_environments,
    bad_hosts.map(lambda case: ({"host": case[0]}, "host: ", case[1])),
    bad_images.map(lambda case: ({"image": case[0]}, "image: ", case[1])),
)


# -- helpers -------------------------------------------------------------------------------------


def a_writer() -> tuple[Writer, MemoryStore]:
    store = MemoryStore()
    return Writer(store, clock=FakeClock()), store


def stored(store: Store) -> dict[str, list[dict[str, Any]]]:
    return {name: store.collection(name).find({}) for name in (GATEWAYS, ENVIRONMENTS, OUTBOX)}


def refused(call: Any, *fragments: str) -> str:
    """The message of the InvalidInput that `call` raises; it must contain every fragment."""
    try:
        call()
    except InvalidInput as error:
        assert all(fragment in str(error) for fragment in fragments), (fragments, str(error))
        return str(error)
    raise AssertionError(f"accepted, though it should say {fragments!r}")


# -- properties ----------------------------------------------------------------------------------


@modest
@given(case=bad_names, spec=specs)
def test_a_bad_name_is_refused_naming_it_and_nothing_is_written(
    case: tuple[str, str], spec: dict[str, Any]
) -> None:
    name, fragment = case
    writer, store = a_writer()

    message = refused(lambda: writer.create(name, spec), fragment)

    if name:
        assert repr(name) in message
    assert stored(store) == {GATEWAYS: [], ENVIRONMENTS: [], OUTBOX: []}


@modest
@given(case=bad_spec_fields, spec=specs, name=names)
def test_a_bad_spec_field_is_refused_on_create_naming_it_and_nothing_is_written(
    case: tuple[Any, ...], spec: dict[str, Any], name: str
) -> None:
    fields, *fragments = case
    writer, store = a_writer()

    refused(lambda: writer.create(name, {**spec, **fields}), *fragments)

    assert stored(store) == {GATEWAYS: [], ENVIRONMENTS: [], OUTBOX: []}


@modest
@given(case=bad_spec_fields, spec=specs)
def test_a_bad_spec_field_is_refused_on_update_and_nothing_is_written(
    case: tuple[Any, ...], spec: dict[str, Any]
) -> None:
    fields, *fragments = case
    writer, store = a_writer()
    writer.create("edge", spec)
    before = stored(store)

    refused(lambda: writer.update("edge", **fields), *fragments)

    assert stored(store) == before


@modest
@given(name=names, spec=specs)
def test_a_valid_name_and_spec_are_accepted_as_given(name: str, spec: dict[str, Any]) -> None:
    writer, _ = a_writer()

    gateway = writer.create(name, spec)

    assert gateway.name == gateway.live_name == name
    assert gateway.spec.image == spec["image"]
    assert gateway.spec.replicas == spec.get("replicas", 1)
    assert gateway.spec.port == spec.get("port", 8080)
    assert gateway.spec.host == gateway.live_host == spec.get("host")
    assert gateway.spec.environments == tuple(spec.get("environments", ()))
    assert [e.name for e in writer.environments(name)] == sorted(spec.get("environments", []))
    assert len(writer.events(name)) == 1


@modest
@given(host=hosts, trailing_dot=st.booleans())
def test_hosts_are_stored_lowercase_without_the_trailing_dot(host: str, trailing_dot: bool) -> None:
    writer, _ = a_writer()

    gateway = writer.create("edge", {"image": "nginx:1", "host": host.upper() + "." * trailing_dot})

    assert gateway.host == gateway.live_host == gateway.spec.host == host
