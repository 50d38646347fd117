"""The token cache: keyed by token id whatever the header's spelling, bounded, and
still checking the secret and revocation on every request."""

from __future__ import annotations

from edgeplane.hub.auth import Authenticator, mint
from edgeplane.store.memory import MemoryStore


async def test_spellings_of_one_token_share_one_entry() -> None:
    store = MemoryStore()
    token, record = mint("s1", "site")
    await store.put_token(record)
    auth = Authenticator(store)
    for spaces in range(1, 50):
        assert await auth.verify("Bearer" + " " * spaces + token + " " * spaces)
    assert len(auth) == 1


async def test_a_cached_id_with_a_wrong_secret_is_refused() -> None:
    store = MemoryStore()
    token, record = mint("s1", "site")
    await store.put_token(record)
    auth = Authenticator(store)
    assert await auth.verify(f"Bearer {token}")
    forged = f"ep_{record.token_id}_not-the-secret"
    assert await auth.verify(f"Bearer {forged}") is None


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    store = MemoryStore()
    auth = Authenticator(store, max_entries=3)
    tokens = []
    for i in range(5):
        token, record = mint(f"s{i}", "site")
        await store.put_token(record)
        tokens.append(token)
        assert await auth.verify(f"Bearer {token}")
    assert len(auth) == 3


async def test_forgetting_a_principal_makes_revocation_immediate() -> None:
    store = MemoryStore()
    token, record = mint("s1", "site")
    await store.put_token(record)
    auth = Authenticator(store)
    assert await auth.verify(f"Bearer {token}")
    await store.delete_token(record.token_id)
    auth.forget("s1", "site")
    assert await auth.verify(f"Bearer {token}") is None
