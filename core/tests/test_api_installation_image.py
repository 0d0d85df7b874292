"""Installation photos: owners upload real images of a sensible size, nobody else."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient


def _image(format_: str = "PNG", size=(40, 30)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 90)).save(buffer, format=format_)
    return SimpleUploadedFile(f"photo.{format_.lower()}", buffer.getvalue(), content_type=f"image/{format_.lower()}")


def _upload(user, installation, image, **extra):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client.post(f"/api/v1/installations/{installation.pk}/image/", {"image": image}, format="multipart", **extra)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize("format_", ["PNG", "JPEG", "WEBP"])
def test_owner_uploads_a_photo_and_the_installation_shows_its_url(owner, installation, format_):
    response = _upload(owner, installation, _image(format_))
    assert response.status_code == 200, response.content
    url = response.json()["data"]["attributes"]["image"]
    assert url.startswith("http://testserver/media/installations/")
    assert "photo" not in url  # the client's file name is not kept
    installation.refresh_from_db()
    assert installation.image.storage.exists(installation.image.name)


def test_replacing_a_photo_removes_the_old_file(owner, installation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _upload(owner, installation, _image())
    installation.refresh_from_db()
    first = installation.image.name
    with django_capture_on_commit_callbacks(execute=True):
        _upload(owner, installation, _image("JPEG"))
    installation.refresh_from_db()
    assert installation.image.name != first
    assert not installation.image.storage.exists(first)


def test_a_file_that_is_not_an_image_is_refused(owner, installation):
    fake = SimpleUploadedFile("photo.png", b"%PDF-1.4 not an image", content_type="image/png")
    response = _upload(owner, installation, fake)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"].endswith("/image")
    installation.refresh_from_db()
    assert not installation.image


def test_an_image_format_we_do_not_serve_is_refused(owner, installation):
    response = _upload(owner, installation, _image("GIF"))
    assert response.status_code == 400
    installation.refresh_from_db()
    assert not installation.image


def test_an_image_over_the_size_limit_is_refused(owner, installation, settings):
    settings.INSTALLATION_IMAGE_MAX_BYTES = 200
    response = _upload(owner, installation, _image(size=(400, 400)))
    assert response.status_code == 400
    assert "larger than" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(("who", "status"), [("inspector", 403), ("outsider", 404), (None, 401)])
def test_only_owners_upload_photos(request, installation, who, status):
    user = request.getfixturevalue(who) if who else None
    response = _upload(user, installation, _image())
    assert response.status_code == status
    installation.refresh_from_db()
    assert not installation.image


def test_a_json_body_is_not_an_upload(owner, installation):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post(
        f"/api/v1/installations/{installation.pk}/image/", b'{"image": "x"}', content_type="application/json"
    )
    assert response.status_code == 415
