"""Offline checks of the Terraform in infrastructure/.

No provider can be downloaded here, so `terraform validate` is out of reach. Instead:
`terraform fmt`, checkov's static policies, and a parse of every .tf file with python-hcl2
that checks what validate would (references, module arguments) plus what matters to this
app: every container gets the settings `app.core.config.Settings` needs on AWS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app.core.celery_app import (
    DOWNLOAD_QUEUES,
    TRANSCRIPTION_QUEUE,
    WORKER_QUEUES,
    create_celery,
)
from app.core.config import Settings
from tests.support.services import require_tool

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infrastructure"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
SKIPS_FILE = INFRA / "checkov-skips.yaml"

# Names the task definitions may set that are not Settings fields: boto3 reads these itself.
BOTO3_NAMES = frozenset({"AWS_DEFAULT_REGION"})
# URLs that carry a password: they must reach the tasks as secrets, never as plain values.
CREDENTIAL_URLS = frozenset({"DATABASE_URL", "REDIS_URL"})
REQUIRED_SECRETS = frozenset({"DATABASE_URL", "REDIS_URL", "API_KEY_SECRET"})
# What a variable, local or module output reference looks like inside an expression.
VAR_REF = re.compile(r"\bvar\.(\w+)")
LOCAL_REF = re.compile(r"\blocal\.(\w+)")
MODULE_REF = re.compile(r"\bmodule\.(\w+)(?:\[[^\]]*\])?\.(\w+)")
MODULE_META_ARGUMENTS = frozenset(
    {"source", "version", "count", "for_each", "providers", "depends_on"}
)
S3_OBJECT_ACTIONS = frozenset(
    {
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListMultipartUploadParts",
        "s3:PutObject",
    }
)

HCL_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


# Terraform formatting


def test_terraform_files_are_formatted() -> None:
    # Terraform is an operator's tool that `make test` cannot install from PyPI, so a machine
    # without it skips this one check (even under CI); the HCL checks below still run.
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed; `terraform fmt` is checked where it is")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )
    assert result.returncode == 0, f"run terraform fmt -recursive infrastructure:\n{result.stdout}"


# Checkov


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    file: str
    title: str


@dataclass(frozen=True)
class Skip:
    check_id: str
    resources: frozenset[str]
    reason: str

    def covers(self, finding: Finding) -> bool:
        if finding.check_id != self.check_id:
            return False
        return not self.resources or finding.resource in self.resources


@pytest.fixture(scope="module")
def checkov_findings() -> list[Finding]:
    checkov = require_tool(
        str(CHECKOV) if CHECKOV.exists() else None,
        ".venv-checkov is missing: run make test (it creates .venv-checkov)",
    )
    # No platform key and no downloads: checkov then runs its bundled policies offline.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BC_", "PRISMA_", "CKV_"))
    }
    env |= {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING"}
    arguments = ["-d", str(INFRA), "--framework", "terraform", "--quiet", "--compact"]
    result = subprocess.run(
        [checkov, *arguments, "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=REPO,
    )
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stderr[-4000:]}"
    reports = json.loads(result.stdout)
    findings: list[Finding] = []
    for report in reports if isinstance(reports, list) else [reports]:
        summary = report.get("summary", {})
        assert summary.get("parsing_errors", 0) == 0, f"checkov could not parse: {summary}"
        assert summary.get("resource_count", 0) > 0, "checkov found no Terraform resources"
        for check in report.get("results", {}).get("failed_checks", []):
            finding = Finding(
                check["check_id"], check["resource"], check["file_path"], check["check_name"]
            )
            findings.append(finding)
    return findings


@pytest.fixture(scope="module")
def checkov_skips() -> list[Skip]:
    entries = yaml.safe_load(SKIPS_FILE.read_text())
    assert isinstance(entries, list), f"{SKIPS_FILE.name} must be a list of skips"
    skips = []
    for entry in entries:
        assert isinstance(entry, dict), f"not a mapping: {entry!r}"
        skips.append(
            Skip(
                check_id=str(entry.get("id", "")),
                resources=frozenset(entry.get("resources") or ()),
                reason=str(entry.get("reason") or "").strip(),
            )
        )
    return skips


def test_every_checkov_skip_has_an_id_and_a_reason(checkov_skips: list[Skip]) -> None:
    for skip in checkov_skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip.check_id), f"bad check id {skip.check_id!r}"
        assert len(skip.reason) >= 20, f"{skip.check_id} needs a reason, not {skip.reason!r}"


def test_checkov_finds_nothing_beyond_the_accepted_skips(
    checkov_findings: list[Finding], checkov_skips: list[Skip]
) -> None:
    unexpected = [f for f in checkov_findings if not any(s.covers(f) for s in checkov_skips)]
    report = "\n".join(f"{f.check_id} {f.resource} ({f.file}): {f.title}" for f in unexpected)
    assert not unexpected, f"fix these, or skip them with a reason in {SKIPS_FILE.name}:\n{report}"


def test_no_checkov_skip_is_stale(
    checkov_findings: list[Finding], checkov_skips: list[Skip]
) -> None:
    stale = [s for s in checkov_skips if not any(s.covers(f) for f in checkov_findings)]
    names = ", ".join(f"{s.check_id} {sorted(s.resources)}" for s in stale)
    assert not stale, f"these skips match no finding any more; remove them: {names}"


# The parsed configuration


@dataclass(frozen=True)
class Module:
    """One Terraform module: the top-level blocks of all its .tf files, merged."""

    path: Path
    blocks: dict[str, list[dict[str, Any]]]

    def named(self, kind: str) -> dict[str, Any]:
        """Blocks with one label (variable, output, module) and the locals, by name."""
        found: dict[str, Any] = {}
        for block in self.blocks.get(kind, []):
            found.update(block)
        return found

    def of_type(self, kind: str, type_name: str) -> dict[str, dict[str, Any]]:
        """Resources or data sources of one type, by name."""
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks.get(kind, []):
            found.update(block.get(type_name, {}))
        return found

    def resource(self, type_name: str, name: str) -> dict[str, Any]:
        resources = self.of_type("resource", type_name)
        assert name in resources, f"{self.path.name}: no {type_name}.{name}"
        return resources[name]


@cache
def load_module(path: Path) -> Module:
    blocks: dict[str, list[dict[str, Any]]] = {}
    for tf_file in sorted(path.glob("*.tf")):
        with tf_file.open() as stream:
            parsed = hcl2.load(stream, serialization_options=HCL_OPTIONS)
        for kind, entries in parsed.items():
            blocks.setdefault(kind, []).extend(entries)
    return Module(path, blocks)


def all_modules() -> list[Module]:
    dirs = [INFRA, *sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir())]
    return [load_module(d) for d in dirs]


def module_id(module: Module) -> str:
    return str(module.path.relative_to(REPO))


def expressions(value: object) -> Iterator[str]:
    """Every string in a parsed value that holds an expression."""
    if isinstance(value, str):
        if "${" in value:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def references(module: Module, pattern: re.Pattern[str]) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for expression in expressions(module.blocks):
        found.update(match.groups() for match in pattern.finditer(expression))
    return found


def called_module(caller: Module, name: str) -> Module:
    source = caller.named("module")[name]["source"]
    assert source.startswith("./"), f"{name}: only local modules are used here, not {source}"
    return load_module((caller.path / source).resolve())


MODULES = all_modules()


@pytest.mark.parametrize("module", MODULES, ids=module_id)
def test_variables_and_outputs_are_documented(module: Module) -> None:
    for name, variable in module.named("variable").items():
        assert variable.get("description"), f"variable {name} needs a description"
        assert variable.get("type"), f"variable {name} needs a type"
    for name, output in module.named("output").items():
        assert output.get("description"), f"output {name} needs a description"


@pytest.mark.parametrize("module", MODULES, ids=module_id)
def test_every_reference_resolves(module: Module) -> None:
    variables, local_names = module.named("variable"), module.named("locals")
    calls = module.named("module")
    for (name,) in references(module, VAR_REF):
        assert name in variables, f"var.{name} is not declared"
    for (name,) in references(module, LOCAL_REF):
        assert name in local_names, f"local.{name} is not defined"
    for call, output in references(module, MODULE_REF):
        assert call in calls, f"module.{call} is not called here"
        outputs = called_module(module, call).named("output")
        assert output in outputs, f"module.{call} has no output {output}"


@pytest.mark.parametrize("module", MODULES, ids=module_id)
def test_nothing_is_declared_and_unused(module: Module) -> None:
    used_vars = {name for (name,) in references(module, VAR_REF)}
    used_locals = {name for (name,) in references(module, LOCAL_REF)}
    assert not set(module.named("variable")) - used_vars, "unused variables"
    assert not set(module.named("locals")) - used_locals, "unused locals"


@pytest.mark.parametrize("module", MODULES, ids=module_id)
def test_module_calls_match_the_modules_variables(module: Module) -> None:
    for name, call in module.named("module").items():
        variables = called_module(module, name).named("variable")
        arguments = set(call) - MODULE_META_ARGUMENTS
        assert not arguments - set(variables), f"module.{name}: unknown arguments"
        required = {v for v, body in variables.items() if "default" not in body}
        assert not required - arguments, f"module.{name}: required variables not passed"


# What the tasks get: checked against the app's own Settings

ECS = INFRA / "modules" / "ecs"
TASK_FAMILIES = ("api", "worker", "beat", "migrate")


class _OnlyGivenSettings(Settings):
    """Settings built from keyword arguments alone, never from the environment or .env."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def env_names(name: str, field: FieldInfo) -> set[str]:
    alias = field.validation_alias
    if alias is None:
        return {name.upper()}
    choices = getattr(alias, "choices", [alias])
    return {str(choice).upper() for choice in choices}


def settings_by_env_name() -> dict[str, str]:
    """Field name of every environment variable Settings reads."""
    return {
        env: name for name, field in Settings.model_fields.items() for env in env_names(name, field)
    }


def required_on_aws() -> set[str]:
    """Settings an AWS deployment must pass, derived from Settings itself."""
    fields = Settings.model_fields
    # ENVIRONMENT selects aws mode; AWS_REGION's default is only right in us-east-1.
    required = {"ENVIRONMENT", "AWS_REGION"}
    # Defaults that point at the developer's machine (SQLite, a Redis on loopback).
    for name, field in fields.items():
        default = field.default
        if isinstance(default, str) and ("127.0.0.1" in default or "sqlite" in default):
            required.add(name.upper())
    # What the aws-mode validators refuse to start without, asked one error at a time.
    given: dict[str, object] = {"environment": "aws"}
    for _ in fields:
        try:
            _OnlyGivenSettings(**given)  # type: ignore[arg-type]
            return required
        except ValidationError as error:
            missing = re.findall(r"\b([A-Z][A-Z0-9_]+) (?:must be set|is not set)\b", str(error))
            assert missing, f"update required_on_aws() for this validation error:\n{error}"
            for env in missing:
                required.add(env)
                given[env.lower()] = "x" * 48
    raise AssertionError("Settings kept failing validation")


def task_settings() -> tuple[dict[str, str], dict[str, str]]:
    """The plain environment and the secrets every ECS container gets, by name."""
    local_values = load_module(ECS).named("locals")
    secrets = {**local_values["required_secrets"], **local_values["optional_secrets"]}
    return local_values["environment"], secrets


def test_every_task_definition_gets_the_shared_settings() -> None:
    ecs = load_module(ECS)
    definitions = ecs.of_type("resource", "aws_ecs_task_definition")
    assert set(definitions) == set(TASK_FAMILIES)
    base = ecs.named("locals")["container_base"]
    assert "local.environment" in base["environment"]
    assert "local.secrets" in base["secrets"]
    assert re.search(r"merge\(local\.required_secrets\b", ecs.named("locals")["secrets"])
    for family, definition in definitions.items():
        containers = definition["container_definitions"]
        assert re.match(
            r"\$\{jsonencode\((concat\()?\[merge\(local\.container_base,", containers
        ), family


def test_tasks_pass_every_setting_the_app_needs_on_aws() -> None:
    environment, secrets = task_settings()
    assert environment["ENVIRONMENT"] == "aws"
    missing = required_on_aws() - set(environment) - set(secrets)
    assert not missing, f"the tasks lack {sorted(missing)}"
    assert set(secrets) >= REQUIRED_SECRETS, "DATABASE_URL, REDIS_URL, API_KEY_SECRET"


def test_task_settings_are_settings_the_app_reads() -> None:
    environment, secrets = task_settings()
    known = set(settings_by_env_name()) | BOTO3_NAMES
    unknown = (set(environment) | set(secrets)) - known
    assert not unknown, f"not Settings fields (typos?): {sorted(unknown)}"


def test_literal_task_settings_are_valid_values() -> None:
    environment, _ = task_settings()
    fields = settings_by_env_name()
    literal = {
        fields[name]: value
        for name, value in environment.items()
        if name in fields and "${" not in value
    }
    _OnlyGivenSettings(**literal, api_key_secret="x" * 48, s3_bucket_name="bucket")  # type: ignore[arg-type]


def test_credentials_reach_the_tasks_only_as_secrets() -> None:
    environment, secrets = task_settings()
    secret_fields = {
        env
        for name, field in Settings.model_fields.items()
        if field.annotation is SecretStr
        for env in env_names(name, field)
    }
    leaked = (secret_fields | CREDENTIAL_URLS | {"BOOTSTRAP_ADMIN_API_KEY"}) & set(environment)
    assert not leaked, f"plain environment values that must be secrets: {sorted(leaked)}"
    for name, arn in secrets.items():
        assert re.fullmatch(r"\$\{var\.\w+_arn\}", arn), f"{name} must come from a secret ARN"


def test_beat_runs_exactly_once() -> None:
    ecs = load_module(ECS)
    beat = ecs.resource("aws_ecs_service", "beat")
    assert beat["desired_count"] == 1
    assert beat["deployment_maximum_percent"] == 100
    assert beat["deployment_minimum_healthy_percent"] == 0
    targets = ecs.of_type("resource", "aws_appautoscaling_target").values()
    assert not any("aws_ecs_service.beat" in target["resource_id"] for target in targets)


def test_workers_stop_gracefully() -> None:
    base = load_module(ECS).named("locals")["container_base"]
    assert base["stopTimeout"] == 120
    worker = load_module(ECS).resource("aws_ecs_task_definition", "worker")
    assert ",".join(WORKER_QUEUES) in worker["container_definitions"]


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    static: list[dict[str, Any]] = policy.get("statement", [])
    dynamic = [d["statement"]["content"][0] for d in policy.get("dynamic", []) if "statement" in d]
    return static + dynamic


@pytest.mark.parametrize("role", ["api_task", "worker_task"])
def test_task_roles_reach_objects_only_under_the_prefix(role: str) -> None:
    ecs = load_module(ECS)
    objects_arn = ecs.named("locals")["objects_arn"]
    assert objects_arn == "${var.bucket_arn}/${var.s3_prefix}/*"
    policy = ecs.of_type("data", "aws_iam_policy_document")[role]
    for statement in statements(policy):
        actions = set(statement["actions"])
        assert not any(action.endswith("*") for action in actions), actions
        cookies = statement.get("sid") in ("UploadedCookies", "FindUploadedCookies")
        if actions & S3_OBJECT_ACTIONS:
            arn = "${local.cookies_arn}" if cookies else "${local.objects_arn}"
            assert statement["resources"] == [arn], statement
        if "s3:ListBucket" in actions:
            (condition,) = statement["condition"]
            assert condition["variable"] == "s3:prefix"
            prefix = "${local.cookies_key}" if cookies else "${var.s3_prefix}/*"
            assert condition["values"] == [prefix]


@pytest.mark.parametrize(("role", "actions"), [
    ("api_task", {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}),
    ("worker_task", {"s3:GetObject"}),
])  # fmt: skip
def test_the_api_keeps_uploaded_cookies_and_workers_only_read_them(
    role: str, actions: set[str]
) -> None:
    from app.youtube.cookies import s3_cookies_key

    ecs = load_module(ECS)
    found = ecs.named("locals")
    assert found["cookies_key"] == s3_cookies_key("${var.s3_prefix}"), "the app's key"
    assert found["cookies_arn"] == "${var.bucket_arn}/${local.cookies_key}"
    policy = ecs.of_type("data", "aws_iam_policy_document")[role]
    granted = {
        statement["sid"]: set(statement["actions"])
        for statement in statements(policy)
        if statement.get("sid") in ("UploadedCookies", "FindUploadedCookies")
    }
    assert granted == {"UploadedCookies": actions, "FindUploadedCookies": {"s3:ListBucket"}}


def test_workers_run_the_po_token_provider_as_a_sidecar_that_can_be_turned_off() -> None:
    ecs = load_module(ECS)
    found = ecs.named("locals")
    sidecars = found["pot_provider_containers"]
    assert sidecars.startswith("${var.pot_provider_enabled ? [{") and sidecars.endswith("}] : []}")
    assert 'name = "pot-provider", image = var.pot_provider_image, essential = false' in sidecars
    assert found["worker_environment"] == (
        "${concat(local.container_base.environment, var.pot_provider_enabled ? "
        '[{name = "YTDLP_POT_PROVIDER_URL", value = "http://127.0.0.1:${local.pot_provider_port}"}]'
        " : [], local.tracing_environment)}"
    )
    assert found["pot_provider_port"] == 4416
    worker = ecs.resource("aws_ecs_task_definition", "worker")["container_definitions"]
    assert "local.pot_provider_containers" in worker and "local.worker_environment" in worker
    for family in ("api", "beat", "migrate"):
        other = ecs.resource("aws_ecs_task_definition", family)["container_definitions"]
        assert "pot_provider" not in other, family
    variables = ecs.named("variable")
    image = variables["pot_provider_image"]["default"]
    assert re.fullmatch(r"brainicism/bgutil-ytdlp-pot-provider:\d+\.\d+\.\d+", image)


def test_speech_recognition_runs_as_a_transcription_worker_beside_each_worker() -> None:
    ecs = load_module(ECS)
    found = ecs.named("locals")
    containers = found["transcription_containers"]
    assert containers.startswith("${var.asr_enabled ? [merge(local.container_base, {")
    assert 'name = "transcription"' in containers and "essential = false" in containers
    assert '"-Q", "transcription", "-c", tostring(var.asr_concurrency)' in containers
    assert "mountPoints = local.work_mount" in containers
    assert found["work_mount"] == (
        '${var.asr_enabled ? [{sourceVolume = "work", containerPath = '
        "local.environment.WORK_DIR}] : []}"
    )
    worker = ecs.resource("aws_ecs_task_definition", "worker")
    definitions = worker["container_definitions"]
    assert "local.transcription_containers" in definitions
    assert "mountPoints = local.work_mount" in definitions, "the download worker shares WORK_DIR"
    assert worker["dynamic"][0]["volume"]["for_each"] == "${var.asr_enabled ? [1] : []}"
    environment = found["environment"]
    assert environment["ASR_ENABLED"] == "${tostring(var.asr_enabled)}", "the API checks it too"
    assert environment["ASR_MODEL"] == "${var.asr_model}"
    variables = ecs.named("variable")
    assert variables["asr_enabled"]["default"] is False
    root = load_module(INFRA).named("variable")
    assert "var.asr_model" in root["asr_model"]["validation"][0]["condition"]
    queues = load_module(INFRA / "modules" / "sqs").named("locals")["queue_names"]
    assert "transcription" in queues, "the transcription queue exists on SQS"


XRAY_ACTIONS = {
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def test_xray_tracing_adds_a_collector_beside_the_api_and_workers_only_when_enabled() -> None:
    ecs = load_module(ECS)
    found = ecs.named("locals")
    assert load_module(INFRA).named("variable")["enable_xray_tracing"]["default"] is False
    assert ecs.named("variable")["enable_xray_tracing"]["default"] is False
    image = ecs.named("variable")["xray_collector_image"]["default"]
    assert re.fullmatch(
        r"public\.ecr\.aws/aws-observability/aws-otel-collector:v\d+\.\d+\.\d+", image
    )

    # The collector: a sidecar (not essential) that sends to X-Ray, in the api and worker
    # tasks, and nowhere when tracing is off.
    collectors = found["xray_collector_containers"]
    assert 'for role in ["api", "worker"]' in collectors
    assert "var.enable_xray_tracing ? [{" in collectors and "}] : []" in collectors
    assert 'name = "xray-collector", image = var.xray_collector_image, essential = false' in (
        collectors
    )
    assert '"--config=/etc/ecs/ecs-xray.yaml"' in collectors
    for family in ("api", "worker"):
        definition = ecs.resource("aws_ecs_task_definition", family)["container_definitions"]
        assert f'local.xray_collector_containers["{family}"]' in definition, family
    for family in ("beat", "migrate"):
        definition = ecs.resource("aws_ecs_task_definition", family)["container_definitions"]
        assert "xray" not in definition and "tracing" not in definition, family

    # The app containers turn tracing on and send to the collector on the task's loopback;
    # the names are settings the app reads, with values it accepts.
    tracing = found["tracing_environment"]
    assert tracing.startswith("${var.enable_xray_tracing ? [") and tracing.endswith("] : []}")
    pairs = dict(re.findall(r'\{name = "(\w+)", value = "([^"]+)"\}', tracing))
    assert pairs == {
        "TRACING_ENABLED": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:${local.otlp_http_port}",
    }
    assert found["otlp_http_port"] == 4318, "the collector's OTLP/HTTP receiver"
    fields = settings_by_env_name()
    assert set(pairs) <= set(fields)
    values = {fields[name]: value for name, value in pairs.items()}
    values["otel_exporter_otlp_endpoint"] = "http://127.0.0.1:4318"
    assert _OnlyGivenSettings(**values).tracing_on
    api = ecs.resource("aws_ecs_task_definition", "api")["container_definitions"]
    assert "environment = concat(local.container_base.environment, local.tracing_environment)" in (
        api
    )
    assert "local.tracing_environment" in found["worker_environment"]

    # The task roles may write traces and read sampling rules, only when tracing is on.
    for role in ("api_task", "worker_task"):
        policy = ecs.of_type("data", "aws_iam_policy_document")[role]
        (xray,) = [
            d["statement"]
            for d in policy.get("dynamic", [])
            if "statement" in d and d["statement"]["content"][0].get("sid") == "XRayTraces"
        ]
        assert xray["for_each"] == "${var.enable_xray_tracing ? [1] : []}"
        assert set(xray["content"][0]["actions"]) == XRAY_ACTIONS, role
    beat = ecs.of_type("data", "aws_iam_policy_document")["beat_task"]
    assert not any("xray:" in action for s in statements(beat) for action in s["actions"])


def test_bucket_aborts_incomplete_multipart_uploads() -> None:
    s3 = load_module(INFRA / "modules" / "s3")
    lifecycle = s3.resource("aws_s3_bucket_lifecycle_configuration", "this")
    aborting = [rule for rule in lifecycle["rule"] if "abort_incomplete_multipart_upload" in rule]
    assert aborting, "no rule aborts incomplete multipart uploads"
    (rule,) = aborting
    assert rule["status"] == "Enabled"
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    assert rule["filter"] == [{}], "the rule must cover the whole bucket"


def test_redis_is_encrypted_and_needs_a_token() -> None:
    elasticache = load_module(INFRA / "modules" / "elasticache")
    group = elasticache.resource("aws_elasticache_replication_group", "this")
    assert group["transit_encryption_enabled"] is True
    assert group["at_rest_encryption_enabled"] is True
    assert group["auth_token"] == "${local.auth_token}"
    redis_url = elasticache.named("output")["redis_url"]
    assert redis_url["value"].startswith("rediss://:${local.auth_token}@")
    assert redis_url["sensitive"] is True


def test_database_is_encrypted_and_private() -> None:
    rds = load_module(INFRA / "modules" / "rds")
    database = rds.resource("aws_db_instance", "this")
    assert database["storage_encrypted"] is True
    assert database["publicly_accessible"] is False
    database_url = rds.named("output")["database_url"]
    assert database_url["value"].startswith("postgresql+asyncpg://")
    assert database_url["sensitive"] is True


def test_sqs_queues_match_the_celery_app() -> None:
    sqs = load_module(INFRA / "modules" / "sqs").named("locals")
    others = re.findall(r'"([\w-]+)"', sqs["queue_names"])
    assert sqs["queue_names"].startswith("${toset(concat(local.download_queue_names, [")
    names = {*sqs["download_queue_names"], *others}
    # kombu's SQS transport names a queue with its dots as dashes.
    expected = {*WORKER_QUEUES, TRANSCRIPTION_QUEUE}
    assert names == {name.replace(".", "-") for name in expected}


@pytest.mark.parametrize(
    ("download_timeout", "asr_timeout"), [(30, 3600), (3600, 3600), (42480, 60), (600, 7200)]
)
def test_sqs_visibility_timeout_covers_the_longest_task(
    download_timeout: int, asr_timeout: int
) -> None:
    formula = load_module(INFRA).named("locals")["sqs_visibility_timeout"]
    match = re.fullmatch(
        r"\$\{min\(max\(var\.download_timeout, var\.asr_timeout\) \+ (\d+), (\d+)\)\}", formula
    )
    assert match, f"update this test for the new formula {formula}"
    margin, cap = map(int, match.groups())
    longest = max(download_timeout, asr_timeout)
    queue_timeout = min(longest + margin, cap)
    settings = _OnlyGivenSettings(
        broker_url="sqs://", download_timeout=download_timeout, asr_timeout=asr_timeout
    )
    options = create_celery(settings).conf.broker_transport_options
    assert queue_timeout > min(longest + 120, cap)
    assert queue_timeout >= options["visibility_timeout"]


# What the workers scale on and the queue alarm watches

MONITORING = INFRA / "modules" / "monitoring"
QUEUE_METRIC_FIELDS = {"namespace": "string", "name": "string", "dimensions": "map(string)"}


def test_with_sqs_the_workers_and_the_alarm_count_every_download_queue() -> None:
    sqs = load_module(INFRA / "modules" / "sqs")
    # kombu's SQS transport names a queue with its dots as dashes; high priority first.
    expected = [name.replace(".", "-") for name in DOWNLOAD_QUEUES.values()]
    assert sqs.named("locals")["download_queue_names"] == expected
    output = sqs.named("output")["download_queue_names"]["value"]
    assert output == "${[for name in local.download_queue_names : aws_sqs_queue.this[name].name]}"

    root = load_module(INFRA)
    metrics = root.named("locals")["queue_depth_metrics"]
    sqs_metrics, redis_metrics = metrics.split(" : var.queue_depth_metric == null ? ")
    assert sqs_metrics.startswith(
        "${var.use_sqs_broker ? [for queue in module.sqs[0].download_queue_names : {"
    )
    assert 'namespace = "AWS/SQS"' in sqs_metrics
    assert 'name = "ApproximateNumberOfMessagesVisible"' in sqs_metrics
    assert "dimensions = {QueueName = queue}" in sqs_metrics
    # With Redis: the operator's one yds_queue_depth metric, or none (CPU scaling, no alarm).
    assert redis_metrics == "[] : [var.queue_depth_metric]}"
    calls = root.named("module")
    assert calls["ecs"]["queue_depth_metrics"] == "${local.queue_depth_metrics}"
    assert calls["monitoring"]["queue_depth_metrics"] == "${local.queue_depth_metrics}"


@pytest.mark.parametrize("path", [ECS, MONITORING], ids=lambda path: path.name)
def test_queue_metrics_are_summed_by_metric_math(path: Path) -> None:
    module = load_module(path)
    variable = module.named("variable")["queue_depth_metrics"]
    assert variable["default"] == []
    fields = ", ".join(f"{name} = {kind}" for name, kind in QUEUE_METRIC_FIELDS.items())
    assert re.sub(r"\s+", " ", variable["type"]) == f"${{list(object({{{fields}}}))}}"
    found = module.named("locals")
    assert found["queued_ids"] == '${[for index, _ in var.queue_depth_metrics : "queued_${index}"]}'
    assert found["queued_sum"] == '${join(" + ", local.queued_ids)}'


def test_workers_scale_on_the_sum_of_the_queue_metrics_per_task() -> None:
    ecs = load_module(ECS)
    assert ecs.named("locals")["worker_scales_on_queue"] == (
        "${length(var.queue_depth_metrics) > 0}"
    )
    policy = ecs.resource("aws_appautoscaling_policy", "worker_backlog")
    assert policy["count"] == "${local.worker_scales_on_queue ? 1 : 0}"
    cpu = ecs.resource("aws_appautoscaling_policy", "worker_cpu")
    assert cpu["count"] == "${local.worker_scales_on_queue ? 0 : 1}"
    (config,) = policy["target_tracking_scaling_policy_configuration"]
    (spec,) = config["customized_metric_specification"]
    (queue_metrics,) = [d["metrics"] for d in spec["dynamic"] if "metrics" in d]
    assert queue_metrics["for_each"] == "${var.queue_depth_metrics}"
    (content,) = queue_metrics["content"]
    assert content["id"] == "${local.queued_ids[metrics.key]}"
    assert content["return_data"] is False
    (metric,) = content["metric_stat"][0]["metric"]
    assert metric["namespace"] == "${metrics.value.namespace}"
    assert metric["metric_name"] == "${metrics.value.name}"
    assert metric["dynamic"][0]["dimensions"]["for_each"] == "${metrics.value.dimensions}"
    by_id = {m["id"]: m for m in spec["metrics"]}
    assert by_id["queued"]["expression"] == "${local.queued_sum}"
    assert by_id["backlog_per_task"]["expression"] == "queued / tasks"
    returned = [m["id"] for m in spec["metrics"] if m["return_data"]]
    assert returned == ["backlog_per_task"], "only the backlog per task is tracked"


def test_the_queue_alarm_watches_the_sum_of_the_queue_metrics() -> None:
    monitoring = load_module(MONITORING)
    alarm = monitoring.resource("aws_cloudwatch_metric_alarm", "queue_depth")
    assert alarm["count"] == "${length(var.queue_depth_metrics) > 0 ? 1 : 0}"
    assert not {"namespace", "metric_name", "dimensions", "statistic"} & set(alarm)
    (queries,) = [d["metric_query"] for d in alarm["dynamic"] if "metric_query" in d]
    assert queries["for_each"] == "${var.queue_depth_metrics}"
    (content,) = queries["content"]
    assert content["id"] == "${local.queued_ids[metric_query.key]}"
    assert content["return_data"] is False
    (metric,) = content["metric"]
    assert metric["namespace"] == "${metric_query.value.namespace}"
    assert metric["metric_name"] == "${metric_query.value.name}"
    assert metric["dimensions"] == "${metric_query.value.dimensions}"
    (total,) = alarm["metric_query"]
    assert total["expression"] == "${local.queued_sum}"
    assert total["return_data"] is True
