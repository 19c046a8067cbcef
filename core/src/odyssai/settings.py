"""Settings: from ``ODYSSAI_*`` environment variables and an optional config file.

The config file is ``$ODYSSAI_HOME/config.yaml`` (optional) or the file ``ODYSSAI_CONFIG`` names
(which must exist); the environment wins over it. The API key is a ``SecretStr`` and is never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError


def _default_home() -> Path:
    return Path(os.environ.get("ODYSSAI_HOME") or "~/.odysseus").expanduser()


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the optional YAML config file."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = os.environ.get("ODYSSAI_CONFIG")
        self.path = Path(path).expanduser() if path else _default_home() / "config.yaml"
        self.data: dict[str, Any] = {}
        if path and not self.path.exists():  # asked for by name: missing is a mistake, not "no file"
            raise ConfigError(f"ODYSSAI_CONFIG names {self.path}, which does not exist",
                              hint="create it, or unset ODYSSAI_CONFIG to use $ODYSSAI_HOME/config.yaml")
        if self.path.exists():
            try:
                data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{self.path}: YAML syntax error: {e}".splitlines()[0]) from None
            except UnicodeDecodeError as e:
                raise ConfigError(f"{self.path}: not a UTF-8 text file (byte {e.start}: {e.reason})") from None
            except OSError as e:
                raise ConfigError(f"{self.path}: cannot be read: {e.strerror or e}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{self.path}: the config file must be a mapping")
            self.data = data

    def get_field_value(self, field, field_name):  # pragma: no cover - not used
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything configurable about the orchestrator."""

    model_config = SettingsConfigDict(env_prefix="ODYSSAI_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="state directory")
    topology: Path | None = Field(None, description="topology file; default $ODYSSAI_HOME/topology.yaml")
    host: str = Field("127.0.0.1", description="address the server binds")
    port: int = Field(8000, ge=1, le=65535, description="port the server binds")
    api_key: SecretStr | None = Field(None, description="required as 'Authorization: Bearer' when set")
    log_level: str = Field("info", description="debug, info, warning, error")
    load_timeout: float = Field(900.0, gt=0, description="seconds a load may take")
    connect_timeout: float = Field(15.0, gt=0, description="seconds to reach a node over SSH")
    max_queue: int = Field(64, ge=1, description="requests waiting per cluster before 429")
    max_batch: int = Field(16, ge=1, description="sequences generated together per cluster")
    auto_remediate: bool = Field(False, description="perform remedies (e.g. reboot) without asking")

    @field_validator("log_level")
    @classmethod
    def _v_level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"debug", "info", "warning", "error"}:
            raise ValueError("log_level must be debug, info, warning or error")
        return v

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def topology_path(self) -> Path:
        return (self.topology or self.home / "topology.yaml").expanduser()

    def public(self) -> dict[str, Any]:
        """Settings as shown to a user: the API key masked."""
        d = self.model_dump(mode="json")
        d["api_key"] = "**********" if self.api_key else None
        d["topology"] = str(self.topology_path)
        return d


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file; a bad value is a one-line ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        name = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"setting {name!r} (ODYSSAI_{name.upper()}): {err['msg']}") from None
