"""docs/configuration.md is the settings classes, rendered: current, complete, described."""

from __future__ import annotations

import re

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidewire_deploy import config_doc

pytestmark = pytest.mark.unit

# Where a variable can be read: the services' and the CLI's code, the scripts, the chart and
# the image. A name ending in `_` is a prefix, not a variable.
_READERS = ("*/src/**/*.py", "deploy/scripts/*", "helm/**/*.yaml", "deploy/container/*")
_NAME = re.compile(r"\bTIDEWIRE_[A-Z0-9_]*[A-Z0-9]\b")


def test_the_committed_configuration_reference_is_current() -> None:
    committed = config_doc.DOC.read_text() if config_doc.DOC.exists() else ""
    assert committed == config_doc.render(), (
        f"docs/configuration.md is not current: run `{config_doc.REGENERATE}` and commit it"
    )


def test_every_settings_class_of_the_services_is_found() -> None:
    names = {cls.__name__ for cls in config_doc.settings_classes()}
    assert {"StackSettings", "IngestSettings", "EdgeSettings", "GatewaySettings"} <= names


def test_every_variable_the_code_reads_is_documented() -> None:
    doc = config_doc.render()
    documented = set(re.findall(r"`(TIDEWIRE_[A-Z0-9_]+)`", doc))
    read: dict[str, str] = {}
    for pattern in _READERS:
        for path in config_doc.REPO.glob(pattern):
            if path.is_file():
                for name in _NAME.findall(path.read_text(errors="replace")):
                    read.setdefault(name, str(path.relative_to(config_doc.REPO)))
    missing = {name: where for name, where in read.items() if name not in documented}
    assert not missing, (
        f"read but not in docs/configuration.md: {missing}; give it a settings field with a "
        f"description, or an entry in config_doc.OTHER_VARIABLES, then run "
        f"`{config_doc.REGENERATE}`"
    )


def test_a_field_without_a_description_is_refused_with_the_way_out() -> None:
    class Undescribed(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="TIDEWIRE_X_")
        told: int = Field(1, description="a described field")
        silent: int = 2

    with pytest.raises(config_doc.UndescribedField, match=r"Undescribed\.silent .*description"):
        config_doc.section(Undescribed)


def test_a_row_shows_the_variable_type_bounds_default_and_meaning() -> None:
    class Sample(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="TIDEWIRE_SAMPLE_")
        cache_bytes: int = Field(
            2 * 1024 * 1024, ge=1024, description="bytes kept | see `a|b` and <home>"
        )
        family: str | None = Field(None, validation_alias="TIDEWIRE_FAMILY", description="f")

    text = config_doc.section(Sample)
    assert (
        "| `TIDEWIRE_SAMPLE_CACHE_BYTES` | int, ≥ 1024 | `2097152` (2 MiB) "
        "| bytes kept \\| see `a\\|b` and &lt;home> |" in text
    )
    assert "| `TIDEWIRE_FAMILY` | str or unset | unset | f |" in text
