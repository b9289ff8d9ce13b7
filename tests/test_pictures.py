"""Profile pictures through the API: decoded, re-encoded, bounded, and served from the
database under their content hash."""

import io

import pytest
from PIL import Image

from tests.helpers import create_post, jpeg_with_exif, png, png_bomb

PICTURE = "/api/users/me/picture"


def upload(
    client, headers, data: bytes, filename: str = "me.jpg", content_type: str = "image/jpeg"
):
    return client.put(PICTURE, files={"file": (filename, data, content_type)}, headers=headers)


def test_a_photo_comes_back_square_upright_small_and_without_metadata(client, alice):
    response = upload(client, alice.headers, jpeg_with_exif())
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["image_path"].startswith("/media/pictures/")
    assert user["image_path"].endswith(".webp")

    served = client.get(user["image_path"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    for secret in (b"CanonCameraMaker", b"SecretModel", b"Exif", b"XMP"):
        assert secret not in served.content
    picture = Image.open(io.BytesIO(served.content))
    assert picture.format == "WEBP"
    assert picture.size == (400, 400)  # the shorter side, already under 512
    assert not picture.getexif()
    assert not {"exif", "xmp", "icc_profile"} & set(picture.info)
    rgb = picture.convert("RGB")
    top, bottom = rgb.getpixel((200, 20)), rgb.getpixel((200, 380))
    assert top[0] > 200
    assert top[2] < 60
    assert bottom[2] > 200
    assert bottom[0] < 60


@pytest.mark.parametrize(("size", "expected"), [((2000, 1000), 512), ((300, 500), 300)])
def test_big_pictures_are_scaled_down_and_small_ones_kept(client, alice, size, expected):
    response = upload(client, alice.headers, png(*size), "p.png", "image/png")
    assert response.status_code == 200, response.text
    picture = Image.open(io.BytesIO(client.get(response.json()["image_path"]).content))
    assert picture.size == (expected, expected)


def test_a_gif_gives_its_first_frame_and_webp_is_accepted(client, alice):
    frames = [Image.new("RGB", (64, 64), color) for color in ("yellow", "black")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    response = upload(client, alice.headers, gif.getvalue(), "a.gif", "image/gif")
    picture = Image.open(io.BytesIO(client.get(response.json()["image_path"]).content))
    assert picture.convert("RGB").getpixel((32, 32))[2] < 60  # yellow, not black
    webp = io.BytesIO()
    Image.new("RGB", (50, 50), "purple").save(webp, "WEBP")
    assert upload(client, alice.headers, webp.getvalue(), "a.webp", "image/webp").status_code == 200


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text, not a picture", "notes.txt", "text/plain"),
        (SVG, "me.svg", "image/svg+xml"),
        (SVG, "me.png", "image/png"),
        (b"GIF89a<script>alert(1)</script>", "me.gif", "image/gif"),
        (png(10, 10)[:40], "cut.png", "image/png"),
        (b"", "empty.jpg", "image/jpeg"),
    ],
    ids=["text", "svg", "svg-as-png", "gif-header-then-script", "truncated", "empty"],
)
def test_what_is_not_a_picture_is_refused_and_the_account_stays_usable(
    client, alice, data, filename, content_type
):
    response = upload(client, alice.headers, data, filename, content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "not_a_picture"
    assert "JPEG, PNG, WebP or GIF" in response.json()["detail"]
    me = client.get("/api/users/me", headers=alice.headers).json()
    assert me["image_path"] == "/static/img/default.svg"
    assert upload(client, alice.headers, png(20, 20), "ok.png", "image/png").status_code == 200


def test_a_decompression_bomb_is_refused_before_decoding(client, alice):
    response = upload(client, alice.headers, png_bomb(), "bomb.png", "image/png")
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_pixels"
    assert response.json()["detail"].startswith("The picture has too many pixels: 40000 x 40000")


def test_more_than_5_mib_is_413_and_other_routes_keep_1_mib(client, alice):
    big = b"\xff\xd8" + b"0" * (6 * 2**20)
    response = upload(client, alice.headers, big)
    assert response.status_code == 413
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    two_mib = {"title": "t", "content": "x" * (2 * 2**20)}
    assert client.post("/api/posts", json=two_mib, headers=alice.headers).status_code == 413


def test_no_token_is_401(client):
    assert upload(client, {}, png(10, 10)).status_code == 401
    assert client.delete(PICTURE).status_code == 401


def test_replace_and_remove_delete_the_old_picture(client, alice):
    first = upload(client, alice.headers, png(40, 40, "red"), "a.png", "image/png").json()
    second = upload(client, alice.headers, png(40, 40, "blue"), "b.png", "image/png").json()
    assert first["image_path"] != second["image_path"]
    assert client.get(first["image_path"]).status_code == 404
    assert client.get(second["image_path"]).status_code == 200
    removed = client.delete(PICTURE, headers=alice.headers)
    assert removed.status_code == 200
    assert removed.json()["image_path"] == "/static/img/default.svg"
    assert client.get(second["image_path"]).status_code == 404


def test_a_picture_two_accounts_share_stays_while_one_uses_it(client, alice, bob):
    same = png(30, 30, "orange")
    path = upload(client, alice.headers, same, "a.png", "image/png").json()["image_path"]
    assert upload(client, bob.headers, same, "b.png", "image/png").json()["image_path"] == path
    client.delete(PICTURE, headers=alice.headers)
    assert client.get(path).status_code == 200  # Bob still uses it
    assert client.delete(f"/api/users/{bob.id}", headers=bob.headers).status_code == 204
    assert client.get(path).status_code == 404  # gone with the last account using it


def test_the_public_user_and_posts_show_the_picture(client, alice):
    post = create_post(client, alice)
    path = upload(client, alice.headers, png(30, 30), "a.png", "image/png").json()["image_path"]
    assert client.get(f"/api/users/{alice.id}").json()["image_path"] == path
    assert client.get(f"/api/posts/{post['id']}").json()["author"]["image_path"] == path
    assert f'src="{path}"' in client.get(f"/posts/{post['id']}").text
    assert f'src="{path}"' in client.get(f"/users/{alice.id}/posts").text


def test_unknown_pictures_are_404(client):
    assert client.get("/media/pictures/" + "0" * 64 + ".webp").status_code == 404
    assert client.get("/media/pictures/nope").status_code == 404
