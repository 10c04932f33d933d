#!/usr/bin/env python3
"""Offline checks of the deployment files (run by deploy/local/test.sh), since this
machine cannot run containers:

1. Dockerfile: hadolint.
2. deploy/compose: compose-go (the library behind `docker compose config`) loads and
   validates docker-compose.yml with .env.example; the services check their config
   files (`check-config`), including the API's inline config; promtool checks the
   Prometheus configuration with the alert rules.
3. deploy/kubernetes: every manifest validated strictly against the Kubernetes API
   schemas (kubernetes-validate); every kustomization resource exists; the services
   check the TOML files of the ConfigMap.

Usage: deploy/check.py BIN_DIR WORK_DIR   (BIN_DIR holds the luister-* binaries)
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.argv[1]).resolve()
WORK = Path(sys.argv[2]).resolve()
VENV_BIN = Path(sys.executable).parent
K8S_VERSION = "1.31.0"


def run(*cmd: str, env: dict | None = None, cwd: Path | None = None) -> None:
    env = {**os.environ, "RUST_BACKTRACE": "0", **(env or {})}
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")


def check_config(service: str, path: Path, env: dict | None = None) -> None:
    run(str(BIN / f"luister-{service}"), "--config", str(path), "check-config", env=env)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}: valid luister-{service} configuration")


def dockerfile() -> None:
    run(str(VENV_BIN / "hadolint"), str(ROOT / "Dockerfile"))
    print("Dockerfile: hadolint clean")


def compose() -> None:
    d = ROOT / "deploy" / "compose"
    out = WORK / "compose"
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run(["go", "run", ".", str(d / "docker-compose.yml"), str(d / ".env.example"), str(out)],
                       cwd=d / "check", capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"docker-compose.yml is not valid:\n{r.stdout}{r.stderr}")
    print(r.stdout.strip())
    # The Kafka passwords come from the environment, as docker-compose.yml passes them.
    kafka_password = {"LUISTER_KAFKA__SASL_PASSWORD": "from-env"}
    check_config("ingest", d / "config" / "ingest.toml", env=kafka_password)
    check_config("processor", d / "config" / "processor.toml", env=kafka_password)
    check_config("api", out / "api-config.toml")
    prom = WORK / "compose-prometheus"
    prom.mkdir(parents=True, exist_ok=True)
    shutil.copy(d / "prometheus.yml", prom / "prometheus.yml")
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", prom / "alerts.yml")
    run("promtool", "check", "config", str(prom / "prometheus.yml"))
    print("  prometheus.yml: valid, with the alert rules")


def kubernetes() -> None:
    d = ROOT / "deploy" / "kubernetes"
    kustomization = yaml.safe_load((d / "kustomization.yaml").read_text())
    manifests = [d / r for r in kustomization["resources"]]
    for m in manifests:
        if not m.exists():
            sys.exit(f"kustomization.yaml names {m.name}, which does not exist")
    files = manifests + [d / "secret.example.yaml"]
    run(str(VENV_BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", K8S_VERSION, *map(str, files))
    print(f"deploy/kubernetes: {len(files)} files valid against the Kubernetes {K8S_VERSION} API (strict)")
    acls = next(doc for doc in yaml.safe_load_all((d / "kafka-acls.yaml").read_text())
                if doc["kind"] == "ConfigMap")
    if acls["data"]["acls.sh"] != (ROOT / "deploy" / "kafka" / "acls.sh").read_text():
        sys.exit("deploy/kubernetes/kafka-acls.yaml's acls.sh differs from deploy/kafka/acls.sh: copy it again")
    print("  kafka-acls.yaml: its script is deploy/kafka/acls.sh")
    out = WORK / "kubernetes"
    out.mkdir(parents=True, exist_ok=True)
    config_map = yaml.safe_load((d / "configmap.yaml").read_text())
    # The secrets come from the Secret, as the Deployments pass them.
    kafka_password = {"LUISTER_KAFKA__SASL_PASSWORD": "from-secret"}
    secret_env = {"api": {"LUISTER_AUTH__ADMIN_TOKEN_SHA256": "ab" * 32},
                  "ingest": kafka_password, "processor": kafka_password}
    for name, text in config_map["data"].items():
        (out / name).write_text(text)
        service = name.removesuffix(".toml")
        check_config(service, out / name, env=secret_env.get(service))


if __name__ == "__main__":
    WORK.mkdir(parents=True, exist_ok=True)
    dockerfile()
    compose()
    kubernetes()
