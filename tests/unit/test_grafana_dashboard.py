"""The compose monitoring: Grafana's provisioned dashboard queries only metrics the services export, through the
provisioned Prometheus data source, and Prometheus scrapes every service on the metrics port its settings give."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.admin_api.settings import AdminApiSettings
from shared.metrics import EXPORTED, Metrics
from shared.settings import METRICS_SERVICES, MetricsSettings

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "fieldsync.json"
_NAME = re.compile(r"\b((?:fieldsync|process)_[a-z0-9_]+)\b")
_HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")
# PromQL functions and aggregations the panels use, so that a misspelt one fails here rather than in Grafana.
PROMQL = {"sum", "max", "rate", "increase", "histogram_quantile"}


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def exported_names() -> set[str]:
    """Every sample name a service's registry exposes (counters with _total, histograms with their parts), whether
    or not a series was counted yet."""
    names = set()
    for family in Metrics(process=True).registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{part}" for part in _HISTOGRAM_PARTS)
        else:
            names.add(family.name)
    return names


def queried(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and ids
    source = yaml_file(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    for panel in dashboard["panels"]:
        assert panel["type"] == "timeseries" and panel["title"], panel
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, panel["title"]
        assert panel["datasource"] == {"type": source["type"], "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_every_metric_the_dashboard_queries_is_exported(dashboard: dict[str, Any]) -> None:
    exported = exported_names()
    for expr in queried(dashboard):
        names = _NAME.findall(expr)
        assert names, expr
        for name in names:
            assert name in exported, f"{name} (in {expr}) is exported by no service"
        functions = set(re.findall(r"\b([a-z_]+)\s*\(", re.sub(r"by \([a-z_, ]+\)", "", expr)))
        assert functions <= PROMQL, expr


def test_the_dashboard_has_the_built_in_pages_panels(dashboard: dict[str, Any]) -> None:
    """The same panels as /dashboard: throughput, lag in records and seconds, latency percentiles by direction,
    errors and dead letters, mailbox health."""
    joined = " ".join(queried(dashboard))
    for name in ("fieldsync_events_consumed_total", "fieldsync_consumer_lag_messages", "fieldsync_consumer_lag_seconds",
                 "fieldsync_sync_latency_seconds_bucket", "fieldsync_dead_letters_total", "fieldsync_mailbox_failing"):
        assert name in joined, name
    assert all(f"histogram_quantile({q}" in joined for q in ("0.5", "0.95", "0.99"))
    used = {name for expr in queried(dashboard) for name in _NAME.findall(expr)}
    bases = {name.removesuffix(part) for name in used for part in _HISTOGRAM_PARTS if name.endswith(part)} | used
    assert set(EXPORTED) - bases == set(), "every exported metric has a panel"


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    config = yaml_file(ROOT / "infra" / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    defaults = MetricsSettings()
    for service in METRICS_SERVICES:
        host = service.replace("_", "-")
        assert jobs[service] == [f"{host}:{defaults.metrics_port(service)}"], service
    compose = yaml_file(ROOT / "docker-compose.yml")["services"]
    assert {service.replace("_", "-") for service in METRICS_SERVICES} <= set(compose)
    assert compose["grafana"]["depends_on"] == ["prometheus"]
    mounts = compose["grafana"]["volumes"]
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    provider = yaml_file(GRAFANA / "provisioning" / "dashboards" / "fieldsync.yml")["providers"][0]
    assert f"./infra/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_the_admin_api_in_compose_scrapes_the_same_targets() -> None:
    admin = yaml_file(ROOT / "docker-compose.yml")["services"]["admin-api"]["environment"]
    targets = AdminApiSettings(dashboard_metrics_urls=admin["FIELDSYNC_DASHBOARD_METRICS_URLS"]).metrics_targets()
    defaults = MetricsSettings()
    assert targets == {
        service: f"http://{service.replace('_', '-')}:{defaults.metrics_port(service)}/metrics"
        for service in METRICS_SERVICES if service != "admin_api"
    }
