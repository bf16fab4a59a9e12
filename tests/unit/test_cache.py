from __future__ import annotations

from fastauthz.cache import RejectedCache, VerifiedCache, VerifiedEntry


def entry(kid: str = "k1", issuer: str = "iss", expires: float = 100.0) -> VerifiedEntry:
    return VerifiedEntry(expires, {}, None, "sub", {}, "", issuer, kid, {}, None)


def test_verified_cache_is_bounded_and_evicts_the_oldest_first() -> None:
    cache = VerifiedCache(2)
    for token in ("a", "b", "c"):
        cache.put(token, entry())
    assert list(cache.entries) == ["b", "c"]


def test_size_zero_disables_the_cache() -> None:
    cache = VerifiedCache(0)
    cache.put("a", entry())
    assert not cache.entries


def test_purge_drops_only_entries_of_removed_keys_of_that_issuer() -> None:
    cache = VerifiedCache(10)
    cache.put("a", entry("k1", "iss"))
    cache.put("b", entry("k2", "iss"))
    cache.put("c", entry("k1", "other"))
    assert cache.purge_keys("iss", {"k1"}) == 1
    assert set(cache.entries) == {"b", "c"}


def test_rejected_cache_remembers_by_hash_until_its_ttl_and_is_bounded() -> None:
    """The authorizer reads entries[hash(token)] = (expires, reason) and honours it while now < expires."""
    cache = RejectedCache(size=2, ttl=10)
    cache.add("a", 0, "expired")
    assert cache.entries == {hash("a"): (10, "expired")}
    cache.add("b", 0, "malformed")
    cache.add("c", 0, "bad_signature")
    assert hash("a") not in cache.entries and cache.entries[hash("c")] == (10, "bad_signature")


def test_a_full_cache_drops_its_oldest_eighth_at_once_and_keeps_insertion_order() -> None:
    cache = VerifiedCache(16)
    for index in range(16):
        cache.put(f"t{index}", entry())
    cache.put("new", entry())
    assert list(cache.entries) == [f"t{index}" for index in range(2, 16)] + ["new"]


def test_steady_state_eviction_stays_bounded_and_fifo_over_many_generations() -> None:
    cache = RejectedCache(size=64, ttl=10)
    for index in range(10_000):
        cache.add(f"token-{index}", 0, "expired")
        assert len(cache.entries) <= 64
    remembered = [f"token-{index}" for index in range(10_000) if hash(f"token-{index}") in cache.entries]
    assert remembered == [f"token-{index}" for index in range(10_000 - len(remembered), 10_000)]
    assert len(remembered) >= 64 - 64 // 8
