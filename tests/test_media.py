"""Images for posts through the API (images/media.py): decoded and re-encoded as
profile pictures are, fitted within 2048 px, stored by content hash within a quota per
account, served for ever, and deleted a day after their upload once no post uses them."""

import hashlib
import io
import os
from datetime import datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from errors.domain import DomainError
from images import media
from models import MediaImage, utcnow
from tests.helpers import (
    jpeg_with_exif,
    png,
    png_bomb,
    progressive_jpeg,
    run_sql,
    scalar,
    statuses_in_parallel,
)
from tests.test_pictures import upload as upload_picture
from web.middleware import CACHE_FOREVER

MEDIA = "/api/media"
MIB = 2**20


def upload(client, headers, data: bytes, filename: str = "a.png", content_type: str = "image/png"):
    return client.post(MEDIA, files={"file": (filename, data, content_type)}, headers=headers)


def uploaded(client, headers, data: bytes, filename: str = "a.png") -> dict:
    response = upload(client, headers, data, filename)
    assert response.status_code == 201, response.text
    return response.json()


def name_of(body: dict) -> str:
    return body["url"].rsplit("/", 1)[1]


def stored(client) -> int:
    return scalar(client, select(func.count()).select_from(MediaImage))


def served_image(client, body: dict) -> Image.Image:
    response = client.get(body["url"])
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def collect(client, now: datetime) -> int:
    """One collection, as each worker's MediaCollector runs it, at `now`."""
    collector = media.MediaCollector(client.app_state["sessionmaker"])

    async def run() -> int:
        return await collector.collect(now=now)

    return client.portal.call(run)


def gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), color) for color in ("yellow", "black")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def webp(width: int, height: int, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (128, 0, 128, 200)).save(out, "WEBP", **options)
    return out.getvalue()


# --- Upload --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "size"),
    [
        (png(120, 80), "a.png", (120, 80)),
        (jpeg_with_exif(64, 64), "a.jpg", (64, 64)),
        (gif(), "a.gif", (64, 48)),
        (webp(50, 70), "a.webp", (50, 70)),
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_an_image_is_stored_as_webp_named_by_its_hash(client, alice, data, filename, size):
    body = uploaded(client, alice.headers, data, filename)
    assert body["url"].startswith("/media/images/")
    assert (body["width"], body["height"]) == size
    response = client.get(body["url"])
    assert response.status_code == 200
    assert name_of(body) == f"{hashlib.sha256(response.content).hexdigest()}.webp"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP"
    assert image.size == size


def test_a_gif_gives_its_first_frame(client, alice):
    image = served_image(client, uploaded(client, alice.headers, gif(), "a.gif"))
    assert image.convert("RGB").getpixel((32, 24))[2] < 60  # yellow, not black


def test_a_photo_comes_upright_without_its_metadata(client, alice):
    body = uploaded(client, alice.headers, jpeg_with_exif(800, 400), "a.jpg")
    assert (body["width"], body["height"]) == (400, 800)  # turned: the sides swap
    response = client.get(body["url"])
    for secret in (b"CanonCameraMaker", b"SecretModel", b"Exif", b"XMP"):
        assert secret not in response.content
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (400, 800)
    assert not image.getexif()
    assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    rgb = image.convert("RGB")
    top, bottom = rgb.getpixel((200, 100)), rgb.getpixel((200, 700))
    assert top[0] > 200  # red on top, as the camera meant
    assert top[2] < 60
    assert bottom[2] > 200
    assert bottom[0] < 60


@pytest.mark.parametrize(
    ("size", "expected"),
    [((4000, 1000), (2048, 512)), ((1000, 3000), (683, 2048)), ((300, 200), (300, 200))],
    ids=["wide", "tall", "small-kept"],
)
def test_the_long_side_is_at_most_2048_and_nothing_is_enlarged(client, alice, size, expected):
    body = uploaded(client, alice.headers, png(*size))
    assert (body["width"], body["height"]) == expected
    assert served_image(client, body).size == expected


def test_transparency_is_kept(client, alice):
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(out, "PNG")
    body = uploaded(client, alice.headers, out.getvalue())
    assert (body["width"], body["height"]) == (40, 30)
    assert served_image(client, body).convert("RGBA").getpixel((20, 15))[3] == 0


def test_the_size_is_read_from_each_form_of_webp():
    assert media.webp_size(webp(300, 200, quality=80)) == (300, 200)  # lossy with alpha
    assert media.webp_size(webp(301, 199, lossless=True)) == (301, 199)
    lossy = io.BytesIO()
    Image.new("RGB", (2048, 17), "red").save(lossy, "WEBP")
    assert media.webp_size(lossy.getvalue()) == (2048, 17)
    with pytest.raises(ValueError, match="not a WebP"):
        media.webp_size(png(2, 2))


def test_the_same_bytes_twice_are_one_row(client, alice, bob):
    first = uploaded(client, alice.headers, png(30, 30, "orange"))
    assert uploaded(client, alice.headers, png(30, 30, "orange")) == first
    assert uploaded(client, bob.headers, png(30, 30, "orange")) == first
    assert stored(client) == 1
    assert scalar(client, select(MediaImage.user_id)) == alice.id  # who uploaded it first


# --- Refusals ------------------------------------------------------------------------


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text, not an image", "notes.txt", "text/plain"),
        (SVG, "a.svg", "image/svg+xml"),
        (SVG, "a.png", "image/png"),
        (b"GIF89a<script>alert(1)</script>", "a.gif", "image/gif"),
        (png(10, 10)[:40], "cut.png", "image/png"),
        (b"", "empty.jpg", "image/jpeg"),
    ],
    ids=["text", "svg", "svg-as-png", "gif-header-then-script", "truncated", "empty"],
)
def test_what_is_not_an_image_is_refused_and_nothing_is_stored(
    client, alice, data, filename, content_type
):
    response = upload(client, alice.headers, data, filename, content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "not_a_picture"
    assert "JPEG, PNG, WebP or GIF" in response.json()["detail"]
    assert stored(client) == 0


def test_bombs_are_refused_from_their_header_before_decoding(client, alice):
    response = upload(client, alice.headers, png_bomb(), "bomb.png")
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_pixels"
    assert "40000 x 40000" in response.json()["detail"]
    # 20,000 empty scans: a minute of CPU in 200 KB, refused from the markers.
    scans = upload(client, alice.headers, progressive_jpeg(2_000, 2_000, 20_000), "s.jpg")
    assert scans.status_code == 422
    assert scans.json()["code"] == "image_too_complex"
    assert "20001 scans" in scans.json()["detail"]
    assert stored(client) == 0


def noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        out, "PNG", compress_level=1
    )
    return out.getvalue()


def test_10_mib_at_most_where_pictures_stop_at_5(client, alice):
    six_mib = noise_png(1500, 1450)
    assert 5 * MIB < len(six_mib) < 10 * MIB
    assert upload_picture(client, alice.headers, six_mib, "p.png", "image/png").status_code == 413
    body = uploaded(client, alice.headers, six_mib)
    assert (body["width"], body["height"]) == (1500, 1450)
    # Over 10 MiB: refused as the body streams in, or as the file is read.
    too_big = upload(client, alice.headers, b"\x89PNG" + b"0" * (11 * MIB))
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "request_too_large"
    just_over = upload(client, alice.headers, b"\x89PNG" + b"0" * (10 * MIB - 3))
    assert just_over.status_code == 413
    assert just_over.json()["code"] == "too_large"
    assert "larger than 10 MiB" in just_over.json()["detail"]
    assert stored(client) == 1
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200


def test_no_token_is_401(client):
    response = upload(client, {}, png(10, 10))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.settings(media_uploads_per_hour=3)
def test_uploads_per_account_and_hour_count_refused_files_too(client, alice, bob):
    for _ in range(3):
        assert (
            upload(client, alice.headers, b"not an image", "a.txt", "text/plain").status_code == 415
        )
    refused = upload(client, alice.headers, png(20, 20))
    assert refused.status_code == 429
    assert refused.json()["code"] == "upload_limit"
    assert refused.json()["detail"].startswith("At most 3 image uploads an hour")
    assert int(refused.headers["Retry-After"]) > 0
    assert stored(client) == 0
    # The profile picture's budget is another, and so is every other account's.
    assert (
        upload_picture(client, alice.headers, png(20, 20), "p.png", "image/png").status_code == 200
    )
    assert upload(client, bob.headers, png(20, 20)).status_code == 201


def set_used(client, account, size: int) -> None:
    """Make the account's stored images take `size` bytes."""
    run_sql(client, update(MediaImage).where(MediaImage.user_id == account.id).values(size=size))


@pytest.mark.settings(media_quota_mib=1)
def test_over_the_quota_is_413_and_nothing_is_stored(client, alice, bob):
    first = uploaded(client, alice.headers, png(40, 40, "red"))
    set_used(client, alice, MIB - 50)  # 50 bytes left: no WebP is that small
    refused = upload(client, alice.headers, png(40, 40, "blue"))
    assert refused.status_code == 413
    assert refused.json()["code"] == "media_quota_exceeded"
    detail = refused.json()["detail"]
    assert "Your images take 1.0 MiB of your 1.0 MiB quota; this one needs" in detail
    assert "deleted 24 hours after their upload" in detail
    assert stored(client) == 1
    # Bytes stored already take no room: the existing row answers.
    bobs = uploaded(client, bob.headers, png(40, 40, "green"))
    assert uploaded(client, alice.headers, png(40, 40, "green")) == bobs
    assert uploaded(client, alice.headers, png(40, 40, "red")) == first
    assert stored(client) == 2
    # Full to the byte: refused before decoding, and the upload is not counted.
    set_used(client, alice, MIB)
    full = upload(client, alice.headers, png(40, 40, "blue"))
    assert full.status_code == 413
    assert full.json()["detail"].startswith("Your images take 1.0 MiB of your 1.0 MiB quota.")
    assert upload(client, bob.headers, png(40, 40, "blue")).status_code == 201


@pytest.mark.settings(media_quota_mib=1)
def test_uploads_sent_together_cannot_overshoot_the_quota(client, alice):
    uploaded(client, alice.headers, png(40, 40, "red"))
    set_used(client, alice, MIB - 130)  # room for one more of these (84 bytes), not two
    colors = iter(["blue", "green", "yellow", "purple"])
    statuses = statuses_in_parallel(
        lambda: upload(client, alice.headers, png(40, 40, next(colors))), 4
    )
    assert statuses == [201, 413, 413, 413]
    assert stored(client) == 2


# --- Serving -------------------------------------------------------------------------


def test_an_image_is_served_for_ever(client, alice):
    body = uploaded(client, alice.headers, png(20, 20))
    response = client.get(body["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == CACHE_FOREVER
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content[:4] == b"RIFF"
    assert client.head(body["url"]).status_code == 200


@pytest.mark.parametrize(
    "name", ["0" * 64 + ".webp", "nope", "A" * 64 + ".webp", "0" * 64 + ".png", "%2e%2e"]
)
def test_unknown_images_are_404(client, name):
    response = client.get(f"/media/images/{name}")
    assert response.status_code == 404


def test_an_unknown_name_is_refused_with_a_code(client):
    async def refusal(name: str) -> DomainError:
        async with client.app_state["sessionmaker"]() as session:
            with pytest.raises(DomainError) as refused:
                await media.find(session, name=name)
        return refused.value

    for name in ("0" * 64 + ".webp", "../../etc/passwd"):
        error = client.portal.call(refusal, name)
        assert (error.status_code, error.code) == (404, "media_not_found")


# --- Garbage collection --------------------------------------------------------------


def post_with(client, author, name: str, **fields: object) -> dict:
    """A post (a draft, published...) whose content shows the image `name`: written
    first, then edited to show it, as the editor's autosave does (see below)."""
    written = client.post(
        "/api/posts", json={"title": "Pictures", "content": "Soon"} | fields, headers=author.headers
    )
    assert written.status_code == 201, written.text
    content = f"Look:\n\n![x](/media/images/{name})\n"
    edited = client.patch(
        f"/api/posts/{written.json()['id']}", json={"content": content}, headers=author.headers
    )
    assert edited.status_code == 200, edited.text
    return edited.json()


def test_a_new_post_may_show_an_image_at_once(client, alice):
    body = uploaded(client, alice.headers, png(40, 20, "red"))
    content = (
        f"![A red box](/media/images/{name_of(body)}) and ![remote](https://example.com/x.png)"
    )
    response = client.post(
        "/api/posts", json={"title": "At once", "content": content}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    assert collect(client, utcnow() + timedelta(days=2)) == 0
    page = client.get(response.json()["url"]).text
    assert (
        f'<img src="{body["url"]}" alt="A red box" width="40" height="20" loading="lazy" '
        'decoding="async">'
    ) in page
    shown = page.split('id="post-content">', 1)[1].split("</div>", 1)[0]
    assert "example.com" not in shown  # a remote image stays its alt text
    assert "remote" in shown


def test_an_unused_image_goes_a_day_after_its_upload(client, alice):
    old = uploaded(client, alice.headers, png(20, 20, "red"))
    run_sql(client, update(MediaImage).values(created_at=utcnow() - timedelta(hours=25)))
    fresh = uploaded(client, alice.headers, png(20, 20, "blue"))
    now = utcnow()
    assert collect(client, now) == 1
    assert client.get(old["url"]).status_code == 404
    assert client.get(fresh["url"]).status_code == 200
    assert collect(client, now + timedelta(hours=23)) == 0
    assert collect(client, now + timedelta(hours=24, seconds=1)) == 1
    assert stored(client) == 0


@pytest.mark.settings(media_unused_hours=0.5)
def test_the_grace_is_a_setting(client, alice):
    uploaded(client, alice.headers, png(20, 20, "red"))
    assert collect(client, utcnow() + timedelta(minutes=20)) == 0
    assert collect(client, utcnow() + timedelta(minutes=31)) == 1


def test_uploading_the_same_bytes_again_starts_the_day_anew(client, alice, bob):
    body = uploaded(client, alice.headers, png(20, 20, "red"))
    day_ago = utcnow() - timedelta(hours=30)
    run_sql(client, update(MediaImage).values(created_at=day_ago))
    assert uploaded(client, bob.headers, png(20, 20, "red")) == body
    assert collect(client, utcnow()) == 0
    assert client.get(body["url"]).status_code == 200


@pytest.mark.parametrize("status", ["draft", "published"])
def test_an_image_a_post_uses_stays_until_the_post_is_gone(client, alice, status):
    body = uploaded(client, alice.headers, png(20, 20, "red"))
    post = post_with(client, alice, name_of(body), status=status)
    assert post["status"] == status
    two_days = utcnow() + timedelta(days=2)
    assert collect(client, two_days) == 0
    assert client.get(body["url"]).status_code == 200
    deleted = client.delete(f"/api/posts/{post['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    # Counted from the upload: over a day ago by then, so it goes at the next collection.
    assert collect(client, two_days) == 1
    assert client.get(body["url"]).status_code == 404


def test_an_image_edited_out_of_a_post_is_collected(client, alice):
    kept = uploaded(client, alice.headers, png(20, 20, "red"))
    dropped = uploaded(client, alice.headers, png(20, 20, "blue"))
    post = post_with(client, alice, name_of(kept))
    both = f"![a](/media/images/{name_of(kept)}) ![b](/media/images/{name_of(dropped)})"
    client.patch(f"/api/posts/{post['id']}", json={"content": both}, headers=alice.headers)
    assert collect(client, utcnow() + timedelta(days=2)) == 0
    edited = client.patch(
        f"/api/posts/{post['id']}",
        json={"content": f"![a](/media/images/{name_of(kept)})"},
        headers=alice.headers,
    )
    assert edited.status_code == 200, edited.text
    assert collect(client, utcnow() + timedelta(days=2)) == 1
    assert client.get(kept["url"]).status_code == 200
    assert client.get(dropped["url"]).status_code == 404


def test_an_image_outlives_its_uploaders_account_while_a_post_uses_it(client, alice, bob):
    body = uploaded(client, alice.headers, png(20, 20, "red"))
    post_with(client, bob, name_of(body))
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert scalar(client, select(MediaImage.user_id)) is None
    assert collect(client, utcnow() + timedelta(days=2)) == 0
    assert client.get(body["url"]).status_code == 200
