import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from tidewire_platform.partitioning import murmur2, partition_for

pytestmark = pytest.mark.unit


@given(st.binary(max_size=64))
def test_murmur2_matches_the_kafka_client_hash(data: bytes) -> None:
    # aiokafka reproduces the Java client's hash; matching it means Java/Go producers keyed by
    # company land on the partition we compute.
    # aiokafka returns the unsigned form of the same 32 bits.
    assert murmur2(data) & 0xFFFFFFFF == aiokafka_murmur2(data) & 0xFFFFFFFF


def test_known_vectors_from_the_java_client() -> None:
    # Values the Java client's Utils.murmur2 produces (its own unit test vectors).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=256))
def test_partition_is_stable_and_in_range(company: str, partitions: int) -> None:
    p = partition_for(company, partitions)
    assert 0 <= p < partitions
    assert p == partition_for(company, partitions)


def test_zero_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions"):
        partition_for("c", 0)
