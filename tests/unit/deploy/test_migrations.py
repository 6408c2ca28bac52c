import pytest

from tidewire_deploy.migrate import Migration, migrations, topic_specs
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_statements_split_and_comments_dropped() -> None:
    m = Migration(1, "0001_x.cql", "-- note; with a semicolon\nCREATE TABLE a (x int);\n\nDROP X;")
    assert m.statements() == ["CREATE TABLE a (x int)", "DROP X"]


def test_checksum_changes_with_text() -> None:
    assert Migration(1, "a", "x").checksum != Migration(1, "a", "y").checksum


def test_topics_get_the_configured_number_of_copies() -> None:
    assert {t.replication_factor for t in topic_specs(StackSettings())} == {1}
    specs = topic_specs(StackSettings(kafka_replication_factor=3))
    assert len(specs) == 4
    assert {t.replication_factor for t in specs} == {3}
