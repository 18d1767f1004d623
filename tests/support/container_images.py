"""The container images' Dockerfiles, read the way the tests check them: stage by stage, as built."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STREAM_APP = ROOT / "deploy" / "container" / "Dockerfile"
PROXY = ROOT / "deploy" / "container" / "proxy.Dockerfile"


def read_dockerfile(path: Path, target: str | None = None) -> FinalStage:
    """The stage `docker build --target <target>` builds (the last stage without one), with what it
    inherits from the stages it is built `FROM`."""
    text = path.read_text(encoding="utf-8")
    documented = "--platform linux/amd64" in text
    args: dict[str, str] = {}
    stages: dict[str, FinalStage] = {}
    stage: FinalStage | None = None
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    for line in logical.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "ARG" and stage is None:
            name, _, default = rest.strip().partition("=")
            args[name] = default
        elif instruction == "FROM":
            words = rest.split()
            base = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else ""
            parent = stages.get(base)
            if parent is None:
                stage = FinalStage(args=dict(args), base=base, platform_documented=documented)
            else:
                # A stage built on another starts with all it has (files, environment, user, entry point).
                stage = replace(
                    parent,
                    env=dict(parent.env),
                    expose=list(parent.expose),
                    entrypoint=list(parent.entrypoint),
                    copies=list(parent.copies),
                    runs=list(parent.runs),
                )
            stage.name = name
            if name:
                stages[name] = stage
        elif stage is None:
            continue
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
        elif instruction == "COPY":
            words = [w for w in rest.split() if not w.startswith("--")]
            built_in = next((w.split("=", 1)[1] for w in rest.split() if w.startswith("--from=")), None)
            stage.copies.append(Copy(sources=tuple(words[:-1]), destination=words[-1], from_stage=built_in))
        elif instruction == "RUN":
            stage.runs.append(rest.strip())
    if stage is None:
        raise ValueError(f"{path} has no FROM")
    if target is None:
        return stage
    if target not in stages:
        raise ValueError(f"{path} has no stage {target!r}; it has {sorted(stages)}")
    return stages[target]


@dataclass(frozen=True)
class Copy:
    """One COPY: its sources (in the build context, or in stage `from_stage`) and where they go."""

    sources: tuple[str, ...]
    destination: str
    from_stage: str | None = None


@dataclass
class FinalStage:
    """What a Dockerfile's stage declares, with what it inherits (ARGs before the first FROM count too)."""

    args: dict[str, str] = field(default_factory=dict)
    base: str = ""
    name: str = ""
    env: dict[str, str] = field(default_factory=dict)
    expose: list[str] = field(default_factory=list)
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    """Every RUN command line, continuation lines joined."""
    platform_documented: bool = False
