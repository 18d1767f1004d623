"""The container images' Dockerfiles, read the way the tests check them: their final stage."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STREAM_APP = ROOT / "deploy" / "container" / "Dockerfile"
PROXY = ROOT / "deploy" / "container" / "proxy.Dockerfile"


def read_dockerfile(path: Path) -> FinalStage:
    text = path.read_text(encoding="utf-8")
    stage = FinalStage(platform_documented="--platform linux/amd64" in text)
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    for line in logical.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "ARG" and not stage.base:
            name, _, default = rest.strip().partition("=")
            stage.args[name] = default
        elif instruction == "FROM":
            stage.base = rest.split()[0]
            stage.env, stage.expose, stage.user, stage.entrypoint = {}, [], "", []
        elif instruction == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                stage.env[key] = value
        elif instruction == "EXPOSE":
            stage.expose += rest.split()
        elif instruction == "USER":
            stage.user = rest.strip()
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
    return stage


@dataclass
class FinalStage:
    """What a Dockerfile's last stage declares (its ARGs before the first FROM count too)."""

    args: dict[str, str] = field(default_factory=dict)
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    expose: list[str] = field(default_factory=list)
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    platform_documented: bool = False
