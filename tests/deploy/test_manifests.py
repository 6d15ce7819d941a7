"""Every rendered manifest validates against its schema: custom resources against
the CRD copies in infra/crds/, core objects against kubernetes-validate's, plus our
checks of what only the platforms' webhooks would see. Both the committed files and
a fixture rendering with a Kafka consumer and a scheduled function (kinds the
repository's functions do not use yet) are checked."""

from __future__ import annotations

import pytest

from kopru_tools.deploy import default_settings, render
from tests.deploy.schemas import REPO, all_problems, crd_schemas


def _docs(rendered) -> list[dict]:
    import yaml

    return [d for text in rendered.files.values() for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="module")
def fixture_docs(fixture_registry, fixture_catalog) -> list[dict]:
    return _docs(render("knative", fixture_registry, fixture_catalog))


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_the_crd_copies_serve_every_kind_we_render():
    served = set(crd_schemas())
    for key in [("serving.knative.dev/v1", "Service"), ("sources.knative.dev/v1", "KafkaSource"),
                ("sources.knative.dev/v1", "PingSource"), ("eventing.knative.dev/v1alpha1", "KafkaSink"),
                ("kafka.strimzi.io/v1", "KafkaTopic"), ("openfaas.com/v1", "Function"),
                ("eventing.knative.dev/v1", "Trigger"), ("eventing.knative.dev/v1", "Broker")]:
        assert key in served, key


def test_committed_manifests_validate(knative_docs):
    assert all_problems(knative_docs) == []
    kinds = {d["kind"] for d in knative_docs}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Job", "CronJob", "Service", "KafkaTopic"} <= kinds


def test_consumers_and_schedules_validate(fixture_docs):
    kinds = {d["kind"] for d in fixture_docs}
    assert {"KafkaSource", "KafkaSink", "PingSource"} <= kinds
    assert all_problems(fixture_docs) == []


def test_one_service_per_function_scaling_to_zero(knative_files):
    from kopru.runtime.registry import functions

    services = {d["metadata"]["name"]: d for docs in knative_files.values() for d in docs if d["kind"] == "Service"}
    assert set(services) == set(functions())
    for name, svc in services.items():
        tmpl = svc["spec"]["template"]
        ann = tmpl["metadata"]["annotations"]
        assert ann["autoscaling.knative.dev/min-scale"] == "0"
        assert int(ann["autoscaling.knative.dev/max-scale"]) >= 1
        assert int(ann["autoscaling.knative.dev/target"]) > 0
        assert all(isinstance(v, str) for v in ann.values())
        c = tmpl["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["FUNCTION_TARGET"] == "handle"
        assert (REPO / env["FUNCTION_SOURCE"]).is_file(), env["FUNCTION_SOURCE"]
        assert env["FUNCTION_SOURCE"] == f"functions/{functions()[name].folder}/main.py"
        assert c["readinessProbe"]["httpGet"]["path"] == c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"configMapRef": {"name": "kopru-config"}} in c["envFrom"]
        assert {"secretRef": {"name": "kopru-secrets"}} in c["envFrom"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert isinstance(tmpl["spec"]["containerConcurrency"], int) and tmpl["spec"]["timeoutSeconds"] > 0


def test_references_resolve(fixture_docs, fixture_catalog):
    """Sources point at Services that exist, dead letters at KafkaSinks writing to
    the function's dead-letter topic, topics exist as KafkaTopics, envFrom names the
    rendered ConfigMap and Secrets; one image everywhere."""
    services, sinks = by_kind(fixture_docs, "Service"), by_kind(fixture_docs, "KafkaSink")
    topics = {d["spec"]["topicName"] for d in fixture_docs if d["kind"] == "KafkaTopic"}
    configmaps, secrets = by_kind(fixture_docs, "ConfigMap"), by_kind(fixture_docs, "Secret")
    sources = by_kind(fixture_docs, "KafkaSource")
    triggers, brokers = by_kind(fixture_docs, "Trigger"), by_kind(fixture_docs, "Broker")
    topics_of = {"sms-send": ["kopru.sms", "kopru.tenant"], "data-export": ["kopru.kvkk"], "data-erasure": ["kopru.kvkk"],
                 "einvoice-submit": ["kopru.einvoice"], "payment-chain": ["kopru.einvoice", "kopru.payment"],
                 "webhooks": ["kopru.call", "kopru.consent", "kopru.einvoice", "kopru.kvkk", "kopru.payment", "kopru.sms",
                              "kopru.webhook", "kopru.whatsapp", "kopru.work"],
                 "workflows": ["kopru.call", "kopru.consent", "kopru.einvoice", "kopru.payment", "kopru.vehicle",
                               "kopru.whatsapp"],
                 "credit-report": ["kopru.consent", "kopru.credit"], "whatsapp": ["kopru.whatsapp"]}
    brokered = {"webhooks", "workflows"}  # what tenants subscribe to: a Trigger each on the Broker
    assert set(sources) == {f"{fn}-events" for fn in topics_of if fn not in brokered} | {"kopru-tenant-events-feed"}
    assert set(triggers) == brokered and set(brokers) == {"kopru-tenant-events"}

    def check_delivery(d, name):
        assert (d["retry"], d["backoffPolicy"], d["backoffDelay"], d["timeout"]) == (5, "exponential", "PT0.2S", "PT30S")
        dls = sinks[d["deadLetterSink"]["ref"]["name"]]
        assert dls["spec"]["topic"] == fixture_catalog.dead_letter_topic(name) == f"kopru.deadletter.{name}"
        assert dls["spec"]["topic"] in topics

    for src in sources.values():
        spec = src["spec"]
        assert spec["ordering"] == "ordered"
        assert set(spec["topics"]) <= topics
        if src["metadata"]["name"] == "kopru-tenant-events-feed":
            # the Broker is fed every topic a brokered function reads, in order, with dead letters of its own
            assert spec["sink"]["ref"] == {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                           "name": "kopru-tenant-events"}
            assert spec["topics"] == sorted({t for fn in brokered for t in topics_of[fn]})
            check_delivery(spec["delivery"], "kopru-tenant-events")
            continue
        fn = spec["sink"]["ref"]["name"]
        assert fn in services and spec["sink"]["ref"]["kind"] == "Service"
        assert spec["consumerGroup"] == f"kopru-{fn}"
        assert spec["topics"] == topics_of[fn]
        check_delivery(spec["delivery"], fn)
    for fn, trig in triggers.items():
        spec = trig["spec"]
        assert spec["broker"] == "kopru-tenant-events" and spec["subscriber"]["ref"]["name"] == fn in services
        assert spec["subscriber"]["audience"] == f"serving.knative.dev/service/kopru/{fn}"
        assert trig["metadata"]["annotations"]["kafka.eventing.knative.dev/delivery.order"] == "ordered"
        # exactly the types the function declares, in the Subscriptions API dialect of kopru.events.filters
        [only] = spec["filters"]
        wanted = sorted(t for t, et in fixture_catalog.events.items() if fn in et.consumers)
        assert only == {"any": [{"exact": {"type": t}} for t in wanted]}
        check_delivery(spec["delivery"], fn)
    broker = brokers["kopru-tenant-events"]
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    cfg = configmaps[broker["spec"]["config"]["name"]]
    assert cfg["data"]["bootstrap.servers"] == default_settings().kafka_bootstrap
    pings = by_kind(fixture_docs, "PingSource")
    assert set(pings) == {"retention-purge-schedule", "sms-report-schedule", "einvoice-status-schedule",
                          "payment-schedule", "webhooks-retry-schedule", "workflows-resume-schedule",
                          "credit-recover-schedule", "calls-schedule", "vehicles-schedule",
                          "whatsapp-sweep-schedule"}
    assert pings["sms-report-schedule"]["spec"]["schedule"] == "*/5 * * * *"
    ping = pings["retention-purge-schedule"]["spec"]
    assert (ping["schedule"], ping["timezone"]) == ("0 3 * * *", "Europe/Istanbul")
    assert ping["sink"]["ref"]["name"] == "retention-purge"
    # an events-only function is not exposed outside the cluster
    assert services["retention-purge"]["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    assert "networking.knative.dev/visibility" not in services["token"]["metadata"]["labels"]
    images = set()
    for d in fixture_docs:
        spec = d.get("spec", {})
        pod = (spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template") or {}).get("spec")
        for c in (pod or {}).get("containers", []):
            images.add(c["image"])
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in configmaps
                else:
                    assert ref["secretRef"]["name"] in secrets
    assert images == {default_settings().image}


def test_topics_cover_the_catalog_and_dead_letters(fixture_docs, fixture_catalog):
    topics = {d["spec"]["topicName"]: d for d in fixture_docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == set(fixture_catalog.topics) | {f"kopru.deadletter.{fn}" for fn in
                                                         ("sms-send", "data-export", "data-erasure", "einvoice-submit",
                                                          "payment-chain", "webhooks", "workflows",
                                                          "credit-report", "whatsapp", "kopru-tenant-events")}
    for name, t in fixture_catalog.topics.items():
        assert topics[name]["spec"]["partitions"] == t.partitions
        assert topics[name]["spec"]["config"]["retention.ms"] == t.retention_ms
        assert topics[name]["metadata"]["labels"]["strimzi.io/cluster"] == "kopru"


def test_secret_template_has_no_real_values(knative_files):
    docs = knative_files["infra/knative/secrets/secrets.template.yaml"]
    assert {d["kind"] for d in docs} == {"Secret"}
    for d in docs:
        assert "data" not in d
        for key, value in d["stringData"].items():
            assert "<" in value and ">" in value, f"{d['metadata']['name']}.{key} looks like a real value"
    # secrets are not in the directories an operator applies wholesale
    for rel, docs in knative_files.items():
        if not rel.startswith("infra/knative/secrets/"):
            assert all(d["kind"] != "Secret" for d in docs), rel


def test_workloads_run_as_non_root(fixture_docs):
    for d in fixture_docs:
        spec = d.get("spec", {})
        pod = (spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template") or {}).get("spec")
        for c in (pod or {}).get("containers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0 and sc["allowPrivilegeEscalation"] is False


def test_operator_jobs_run_the_cli(knative_files):
    job = knative_files["infra/knative/jobs/migrate.yaml"][0]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["kopru", "db", "migrate"]
    cron = knative_files["infra/knative/jobs/keys-rotate.yaml"][0]
    assert cron["spec"]["timeZone"] == "Europe/Istanbul"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["kopru", "keys", "rotate"]
    relay = knative_files["infra/knative/relay/outbox-relay.yaml"][0]
    assert relay["kind"] == "Deployment"
    assert relay["spec"]["template"]["spec"]["containers"][0]["args"] == ["kopru", "relay"]
    assert {"secretRef": {"name": "kopru-relay"}} in relay["spec"]["template"]["spec"]["containers"][0]["envFrom"]


def test_event_only_functions_are_cluster_local_behind_a_network_policy(knative_docs, fixture_docs):
    """Event ingress's second wall: an event-only function is not exposed outside the
    cluster, and only the eventing/serving data planes and Köprü's namespace may open
    a connection to its pods."""
    from kopru.runtime.registry import functions

    for docs, names in ((knative_docs, [n for n, f in functions().items() if not f.routes]), (fixture_docs, None)):
        services, policies = by_kind(docs, "Service"), by_kind(docs, "NetworkPolicy")
        event_only = names if names is not None else [
            n for n, s in services.items() if s["metadata"]["labels"].get("networking.knative.dev/visibility")]
        assert event_only
        assert set(policies) == {f"{n}-ingress" for n in event_only}
        for name in event_only:
            assert services[name]["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
            spec = policies[f"{name}-ingress"]["spec"]
            assert spec["podSelector"] == {"matchLabels": {"serving.knative.dev/service": name}}
            assert spec["policyTypes"] == ["Ingress"]
            allowed = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in spec["ingress"][0]["from"]}
            assert allowed == {"knative-eventing", "knative-serving", "kourier-system", "kopru"}
        for name, svc in services.items():
            if name not in event_only:
                assert "networking.knative.dev/visibility" not in svc["metadata"]["labels"]


def test_sources_ask_for_the_audience_the_function_verifies(fixture_docs, monkeypatch):
    """With Knative's `authentication-oidc`, a source asks for a token with its sink's
    audience; the function checks exactly that audience (kopru.events.ingress)."""
    from kopru.config import reset_settings
    from kopru.events.ingress import expected_audience

    monkeypatch.setenv("KOPRU_NAMESPACE", "kopru")
    reset_settings()
    senders = [d for d in fixture_docs if d["kind"] in ("KafkaSource", "PingSource", "Trigger")]
    assert {d["kind"] for d in senders} == {"KafkaSource", "PingSource", "Trigger"}
    for d in senders:
        sink = d["spec"]["subscriber" if d["kind"] == "Trigger" else "sink"]
        if sink["ref"]["kind"] == "Broker":
            assert "audience" not in sink  # a Broker announces its own (it is an Addressable)
            continue
        assert sink["audience"] == expected_audience(sink["ref"]["name"])
    config = next(d for d in fixture_docs if d["kind"] == "ConfigMap")
    assert config["data"]["KOPRU_NAMESPACE"] == "kopru"
    reset_settings()


def test_the_relay_deployment_probes_its_readiness(knative_files):
    c = knative_files["infra/knative/relay/outbox-relay.yaml"][0]["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["ports"] == [{"name": "health", "containerPort": 8081, "protocol": "TCP"}]
    env = {e["name"]: e["value"] for e in c["env"]}
    # the kubelet probes the pod's address, so the endpoint listens there, on the declared port
    assert env == {"KOPRU_HEALTH_HOST": "0.0.0.0", "KOPRU_HEALTH_PORT": "8081"}


def test_a_triggers_filter_is_the_dialect_tenants_filter_with_and_takes_only_its_types(fixture_docs, fixture_catalog):
    """The Trigger's filter is the CloudEvents Subscriptions API filter kopru.events.filters
    checks and evaluates for tenants (webhook and workflow filters): it passes every type the
    function consumes and no other, so the Broker never wakes the function for an event it
    would drop."""
    from kopru.events.filters import attributes, matches, validate

    for fn, trig in by_kind(fixture_docs, "Trigger").items():
        filters = validate(trig["spec"]["filters"])
        for t in fixture_catalog.events:
            wanted = fn in fixture_catalog.events[t].consumers
            assert matches(filters, attributes(t, "/kopru/x", None, "1", {})) is wanted, (fn, t)
