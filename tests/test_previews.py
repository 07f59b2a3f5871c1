"""A job's small pictures for pages: the result's thumbnail and the original's preview, the
owner's only, made once and kept beside the job's files, and purged with them."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image

from core.previews import original_key, thumb_key
from core.retention import purge_files
from tests.support.images import decode, encode, subject_image


def test_the_thumbnail_is_small_kept_and_keeps_transparency(panel):
    user = panel.user()
    cutout = Image.new("RGBA", (2000, 1000), (0, 0, 0, 0))
    cutout.paste((230, 20, 20, 255), (500, 250, 1500, 750))
    job = panel.finish(panel.job(user).id, data=encode(cutout))
    response = panel.client.get(f"/api/v1/jobs/{job.id}/thumbnail", headers=panel.auth(user))
    assert response.status_code == 200 and response.mimetype == "image/webp"
    thumb = decode(response.data)
    assert thumb.size == (256, 128) and thumb.getpixel((1, 1))[3] == 0 and len(response.data) < 50_000
    assert panel.storage.exists(thumb_key(job.id))
    assert "max-age" in response.headers["Cache-Control"]


def test_the_original_is_upright_and_at_most_1280_a_side(panel):
    user = panel.user(credits=3)
    photo = subject_image((1600, 1200))
    exif = photo.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    job = panel.job(user, data=encode(photo, "JPEG", exif=exif.tobytes()))
    response = panel.client.get(f"/api/v1/jobs/{job.id}/original", headers=panel.auth(user))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(response.data)).size == (960, 1280)


def test_someone_elses_unfinished_or_purged_pictures_are_refused(panel):
    owner, stranger = panel.user(), panel.user()
    queued = panel.job(owner)
    assert panel.client.get(f"/api/v1/jobs/{queued.id}/thumbnail", headers=panel.auth(owner)).status_code == 409
    done = panel.finish(panel.job(owner).id)
    for kind in ("thumbnail", "original"):
        assert panel.client.get(f"/api/v1/jobs/{done.id}/{kind}", headers=panel.auth(stranger)).status_code == 404
        assert panel.client.get(f"/api/v1/jobs/{done.id}/{kind}", headers=panel.auth(owner)).status_code == 200
    assert purge_files(panel.storage, timedelta(seconds=-1)) >= 1
    assert not panel.storage.exists(thumb_key(done.id)) and not panel.storage.exists(original_key(done.id))
    for kind in ("thumbnail", "original"):
        assert panel.client.get(f"/api/v1/jobs/{done.id}/{kind}", headers=panel.auth(owner)).status_code == 410
