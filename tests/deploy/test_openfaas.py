"""stack.yml through the real faas-cli (built from its Go module by scripts/faas-cli):
`faas-cli generate` must accept it and emit one openfaas.com/v1 Function per entry,
and those Functions validate against the Function CRD in infra/crds/."""

from __future__ import annotations

import yaml

from kopru_tools.deploy import render
from tests.deploy.conftest import run_faas_cli
from tests.deploy.schemas import REPO, problems


def generate(faas_cli, stack_path, **env) -> list[dict]:
    r = run_faas_cli(faas_cli, "generate", "--yaml", str(stack_path), "--api", "openfaas.com/v1",
                     "--namespace", "openfaas-fn", cwd=stack_path.parent, **env)
    assert r.returncode == 0, f"faas-cli generate refused {stack_path.name}:\n{r.stdout}\n{r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def test_faas_cli_generates_a_function_per_entry(faas_cli):
    stack = yaml.safe_load((REPO / "stack.yml").read_text(encoding="utf-8"))
    docs = generate(faas_cli, REPO / "stack.yml")
    assert [(d["apiVersion"], d["kind"]) for d in docs] == [("openfaas.com/v1", "Function")] * len(stack["functions"])
    assert {d["metadata"]["name"] for d in docs} == set(stack["functions"])
    for d in docs:
        assert problems(d) == []
        spec, entry = d["spec"], stack["functions"][d["metadata"]["name"]]
        assert spec["name"] == d["metadata"]["name"] and d["metadata"]["namespace"] == "openfaas-fn"
        # ${VAR:-default} filled in with the defaults
        assert spec["image"] == "registry.example.com/kopru:0.1.0"
        assert spec["environment"]["FUNCTION_SOURCE"] == entry["environment"]["FUNCTION_SOURCE"]
        assert spec["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kopru-kafka-bootstrap.kafka.svc:9092"
        assert spec["labels"]["com.openfaas.scale.zero"] == "true"
        assert spec["secrets"] == ["kopru-secrets"]


def test_faas_cli_substitutes_the_environment(faas_cli):
    docs = generate(faas_cli, REPO / "stack.yml", KOPRU_IMAGE="registry.internal/kopru:2.0.0",
                    KOPRU_ISSUER="https://auth.example.com.tr")
    assert {d["spec"]["image"] for d in docs} == {"registry.internal/kopru:2.0.0"}
    assert {d["spec"]["environment"]["KOPRU_ISSUER"] for d in docs} == {"https://auth.example.com.tr"}


def test_faas_cli_accepts_consumers_and_schedules(faas_cli, fixture_registry, fixture_catalog, tmp_path):
    (tmp_path / "stack.yml").write_text(render("openfaas", fixture_registry, fixture_catalog).files["stack.yml"],
                                        encoding="utf-8")
    docs = {d["metadata"]["name"]: d for d in generate(faas_cli, tmp_path / "stack.yml")}
    assert set(docs) == set(fixture_registry)
    # no connector is pointed at a function: they cannot send a sender token
    assert not any("topic" in d["spec"].get("annotations", {}) for d in docs.values())
    assert docs["sms-send"]["spec"]["annotations"]["kopru.dev/event-topics"] == "kopru.sms,kopru.tenant"
    assert docs["retention-purge"]["spec"]["annotations"]["kopru.dev/schedule-utc"] == "0 0 * * *"
    for d in docs.values():
        assert problems(d) == []


def test_faas_cli_refuses_a_broken_stack(faas_cli, tmp_path):
    text = (REPO / "stack.yml").read_text(encoding="utf-8")
    (tmp_path / "stack.yml").write_text(text.replace("name: openfaas", "name: faas"), encoding="utf-8")
    r = run_faas_cli(faas_cli, "generate", "--yaml", str(tmp_path / "stack.yml"), cwd=tmp_path)
    assert r.returncode != 0 and "provider.name" in (r.stdout + r.stderr)


def test_a_broken_function_fails_the_crd(faas_cli):
    (doc, *_) = generate(faas_cli, REPO / "stack.yml")
    doc["spec"]["labels"]["com.openfaas.scale.max"] = 10
    del doc["spec"]["image"]
    found = problems(doc)
    assert any("spec: 'image' is a required property" in m for m in found), found
    assert any("spec.labels.com.openfaas.scale.max: 10 is not of type 'string'" in m for m in found), found


def test_build_context_copies_what_the_dockerfile_needs():
    """faas-cli builds lang `dockerfile` in a context made of the handler folder and
    configuration.copy: every COPY source of the Dockerfile must be in it, at the
    same path as in a build from the repository root."""
    from tests.deploy.test_dockerfile import DOCKERFILE, copy_sources, parse

    stack = yaml.safe_load((REPO / "stack.yml").read_text(encoding="utf-8"))
    copied = [c.removeprefix("./") for c in stack["configuration"]["copy"]]
    for c in copied:
        assert (REPO / c).exists(), c
    for src in copy_sources(parse(DOCKERFILE.read_text(encoding="utf-8"))):
        assert any(src == c or src.startswith(c + "/") for c in copied), f"COPY {src} is not in configuration.copy"
    for f in stack["functions"].values():
        assert (REPO / f["handler"] / "Dockerfile").is_file()
