"""A deliberately broken manifest fails validation, and the message says which
object, which field and what is wrong."""

from __future__ import annotations

import copy

import pytest

from kopru_tools.deploy import render
from tests.deploy.schemas import problems


@pytest.fixture(scope="module")
def good(fixture_registry, fixture_catalog) -> dict[str, dict]:
    import yaml

    r = render("knative", fixture_registry, fixture_catalog)
    docs = [d for text in r.files.values() for d in yaml.safe_load_all(text) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def broken(good, key, edit) -> list[str]:
    doc = copy.deepcopy(good[key])
    assert problems(doc) == []
    edit(doc)
    return problems(doc)


def one_matching(found: list[str], *needles: str) -> str:
    hits = [m for m in found if all(n in m for n in needles)]
    assert hits, f"no problem mentions {needles}; got {found}"
    return hits[0]


def test_kafka_source_ordering_sometimes(good):
    found = broken(good, "KafkaSource/sms-send-events", lambda d: d["spec"].__setitem__("ordering", "sometimes"))
    msg = one_matching(found, "spec.ordering")
    assert msg == ("KafkaSource kopru/sms-send-events (sources.knative.dev/v1): "
                   "spec.ordering: 'sometimes' is not one of ordered, unordered")


def test_container_concurrency_ten(good):
    def edit(d):
        d["spec"]["template"]["spec"]["containerConcurrency"] = "ten"

    msg = one_matching(broken(good, "Service/token", edit), "containerConcurrency", "not of type")
    assert msg.startswith("Service kopru/token (serving.knative.dev/v1): spec.template.spec.containerConcurrency: "
                          "'ten' is not of type 'integer'")
    assert "infra/crds/knative-serving-service.yaml" in msg


def test_misspelt_field_is_not_silently_dropped(good):
    def edit(d):
        spec = d["spec"]["template"]["spec"]
        spec["containerConcurency"] = spec.pop("containerConcurrency")

    msg = one_matching(broken(good, "Service/token", edit), "spec.template.spec", "containerConcurency")
    assert "Additional properties are not allowed" in msg


@pytest.mark.parametrize("value,needle", [
    ("1", 'must be the string "0"'),
    (0, 'must be the string "0"'),
])
def test_min_scale_must_be_string_zero(good, value, needle):
    def edit(d):
        d["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] = value

    one_matching(broken(good, "Service/token", edit), "autoscaling.knative.dev/min-scale", needle)


@pytest.mark.parametrize("key,value,needle", [
    ("autoscaling.knative.dev/max-scale", "0", "must be at least 1"),
    ("autoscaling.knative.dev/max-scale", 10, "must be strings"),
    ("autoscaling.knative.dev/target", "0", "greater than 0"),
    ("autoscaling.knative.dev/target", "500", "exceeds containerConcurrency"),
    ("autoscaling.knative.dev/target", "lots", "not a whole number"),
])
def test_autoscaling_annotations(good, key, value, needle):
    def edit(d):
        d["spec"]["template"]["metadata"]["annotations"][key] = value

    one_matching(broken(good, "Service/token", edit), key, needle)


def test_missing_min_scale(good):
    def edit(d):
        del d["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]

    one_matching(broken(good, "Service/token", edit), "min-scale is missing")


def test_kafka_topic_without_partitions(good):
    msg = one_matching(broken(good, "KafkaTopic/kopru.sms", lambda d: d["spec"].__setitem__("partitions", 0)),
                       "spec.partitions")
    assert "less than the minimum of 1" in msg and "strimzi-kafkatopic.yaml" in msg


def test_kafka_sink_content_mode(good):
    one_matching(broken(good, "KafkaSink/sms-send-deadletter",
                        lambda d: d["spec"].__setitem__("contentMode", "binaryish")),
                 "spec.contentMode", "is not one of ['binary', 'structured']")


def test_delivery_backoff(good):
    def edit(d):
        d["spec"]["delivery"]["backoffPolicy"] = "fibonacci"
        d["spec"]["delivery"]["backoffDelay"] = "200ms"

    found = broken(good, "KafkaSource/sms-send-events", edit)
    one_matching(found, "spec.delivery.backoffPolicy", "not one of linear, exponential")
    one_matching(found, "spec.delivery.backoffDelay", "ISO 8601")


def test_ping_source_time_zone(good):
    one_matching(broken(good, "PingSource/retention-purge-schedule",
                        lambda d: d["spec"].__setitem__("timezone", "Europe/Constantinople_")),
                 "spec.timezone", "IANA")


def test_deployment_replicas_two(good):
    msg = one_matching(broken(good, "Deployment/outbox-relay", lambda d: d["spec"].__setitem__("replicas", "two")),
                       "spec.replicas")
    assert "kubernetes-validate" in msg and "'two' is not of type" in msg


def test_job_with_unknown_field(good):
    msg = one_matching(broken(good, "Job/db-migrate", lambda d: d["spec"].__setitem__("retries", 3)), "retries")
    assert msg.startswith("Job kopru/db-migrate (batch/v1):")


def test_bad_metadata(good):
    def edit(d):
        d["metadata"]["name"] = "Token_Service"
        d["metadata"]["labels"]["app.kubernetes.io/version"] = 1

    found = broken(good, "Service/token", edit)
    one_matching(found, "metadata.name", "DNS-1123")
    one_matching(found, "metadata.labels", "app.kubernetes.io/version")


def test_unknown_api_version(good):
    doc = copy.deepcopy(good["KafkaSource/sms-send-events"])
    doc["apiVersion"] = "sources.knative.dev/v2"
    one_matching(problems(doc), "no CRD in infra/crds/ serves sources.knative.dev/v2 KafkaSource")
