"""Changes to the inventory that are more than one row's save()."""

import uuid

from django.db import transaction

from core.models import Installation

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}


@transaction.atomic
def installation_set_image(*, installation: Installation, image) -> Installation:
    """Store a new photo under a random name (the client's name may say too
    much) and drop the old file once the new one is saved."""
    previous = installation.image.name if installation.image else None
    extension = image.image.format.lower().replace("jpeg", "jpg")
    installation.image.save(f"{uuid.uuid4()}.{extension}", image, save=False)
    installation.save(update_fields=["image"])
    if previous:
        storage = installation.image.storage
        transaction.on_commit(lambda: storage.delete(previous))
    return installation
