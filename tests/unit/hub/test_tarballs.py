"""The hub's upload check: the shared artifact rules fed chunk by chunk off the event
loop, a refusal as an ApiError 422 that names the member, the limit and the flag."""

from __future__ import annotations

import pytest

from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.hub.errors import ApiError
from edgeplane.hub.tarballs import BATCH, UploadCheck
from tests.support.tarballs import FILE, HARD, SYM, bomb, packed


async def fed(data: bytes, limits: ArtifactLimits, chunk: int = 65536) -> int:
    """Feed ``data`` and finish; the bytes fed when it was refused (or all of them)."""
    check, sent = UploadCheck(limits), 0
    for at in range(0, len(data), chunk):
        sent += len(data[at : at + chunk])
        await check.feed(data[at : at + chunk])
    await check.finish()
    return sent


async def test_a_good_tarball_passes() -> None:
    data = packed([("bin/run", FILE, ""), ("run", SYM, "bin/run"), ("copy", HARD, "bin/run")])
    assert await fed(data, ArtifactLimits(), chunk=3) == len(data)


@pytest.mark.parametrize(
    ("data", "limits", "needles"),
    [
        (
            packed([("d/e/s", SYM, "../../x"), ("h", HARD, "d/e/s")]),
            ArtifactLimits(),
            ["member 'h'", "not a regular file"],
        ),
        (
            bomb(16 * 1024 * 1024),
            ArtifactLimits(unpacked_bytes=1024 * 1024, ratio=10**6),
            ["member 'zeros'", "over the limit of 1048576", "--artifact-limit unpacked-bytes=N"],
        ),
        (b"plain text", ArtifactLimits(), ["not a gzip tarball"]),
    ],
    ids=["hardlink-to-symlink", "unpacked-bytes", "not-gzip"],
)
async def test_a_refusal_is_a_422_naming_member_and_flag(
    data: bytes, limits: ArtifactLimits, needles: list[str]
) -> None:
    with pytest.raises(ApiError) as refused:
        await fed(data, limits)
    assert (refused.value.status, refused.value.reason, refused.value.field) == (
        422,
        "Invalid",
        "body",
    )
    for needle in needles:
        assert needle in refused.value.message


async def test_a_bomb_is_refused_before_the_upload_ends() -> None:
    data = bomb(512 * 1024 * 1024)  # about 500 KiB that would inflate to 512 MiB
    check, sent = UploadCheck(ArtifactLimits()), 0
    with pytest.raises(ApiError, match="inflates more than 200 times"):
        for at in range(0, len(data), 16384):
            sent += 16384
            await check.feed(data[at : at + 16384])
    assert sent <= BATCH + 16384 < len(data)  # the first batch gave it away
