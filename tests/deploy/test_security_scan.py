"""`make security`: what it scans and what it may skip.

tools/render_gateways.py writes the objects the provisioner renders for a matrix of gateways
(with and without a host, one and three replicas, several ports, tagged images), which checkov
scans beside deploy/; the Makefile skips only the checks the README names, and no others.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "tools" / "render_gateways.py"
ALLOWED_SKIPS = {
    "DEPLOY_SKIPS": {"CKV_K8S_43", "CKV_K8S_15"},
    "GATEWAY_SKIPS": {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_11"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each gateway's name and its objects, as the tool writes them."""
    directory = tmp_path_factory.mktemp("rendered")
    subprocess.run(
        [sys.executable, str(RENDER), str(directory)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {
        path.stem: [document for document in yaml.safe_load_all(path.read_text()) if document]
        for path in sorted(directory.glob("*.yaml"))
    }


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in objects if document["kind"] == kind]


def test_the_matrix_covers_hosts_replicas_ports_and_tagged_images(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    deployments = [of_kind(objects, "Deployment")[0] for objects in rendered.values()]
    containers = [d["spec"]["template"]["spec"]["containers"][0] for d in deployments]
    with_host = {name for name, objects in rendered.items() if of_kind(objects, "Ingress")}

    assert with_host and with_host != set(rendered), "gateways with and without a host"
    assert {d["spec"]["replicas"] for d in deployments} == {1, 3}
    assert len({c["ports"][0]["containerPort"] for c in containers}) == len(rendered)
    for image in (c["image"] for c in containers):
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", image


def test_every_rendered_object_is_a_gateway_object_that_validates_strictly(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, objects in rendered.items():
        for document in objects:
            assert document["metadata"]["namespace"] == "gateways"
            assert document["metadata"]["name"] == f"{name}-gateway"
            kubernetes_validate.validate(
                document, kubernetes_validate.latest_version(), strict=True
            )


def test_the_tool_needs_its_output_directory() -> None:
    result = subprocess.run(
        [sys.executable, str(RENDER)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2
    assert "render_gateways.py OUTPUT_DIR" in result.stderr


@pytest.mark.parametrize(("variable", "allowed"), ALLOWED_SKIPS.items())
def test_make_security_skips_no_check_but_the_allowed_ones(
    variable: str, allowed: set[str]
) -> None:
    makefile = (ROOT / "Makefile").read_text()
    (value,) = re.findall(rf"^{variable} := (.*)$", makefile, flags=re.MULTILINE)
    recipe = makefile.split("\nsecurity:", 1)[1].split("\n\n", 1)[0]

    assert set(value.split(",")) <= allowed
    assert len(re.findall(r"--skip-check", recipe)) == len(ALLOWED_SKIPS)
    assert f"--skip-check $({variable})" in recipe


def test_no_manifest_suppresses_a_check_itself(rendered: dict[str, list[dict[str, Any]]]) -> None:
    texts = [path.read_text() for path in (ROOT / "deploy").glob("*.yaml")]
    texts += [yaml.safe_dump_all(objects) for objects in rendered.values()]

    for text in texts:
        assert "checkov.io/skip" not in text and "checkov:skip" not in text
