"""Offer images: `POST /sale/images` and the rules an offer's `images` obey.

Allegro shows only images it hosts: an image is uploaded first (a URL Allegro fetches, or the
bytes), the answer is its `location` on allegroimg.com and, while no offer uses it, its
`expiresAt` (a day later: unused uploads are removed). An offer's `images` must be such
locations (or its catalogue product's own images), at most `gallery_size_limit` of them, and
so must the description's IMAGE items; anything else is refused as Allegro refuses it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from allegro_emulator.errors import AllegroError
from allegro_emulator.state import Emulator, Json, Seller, iso

HOST = "https://a.allegroimg.com/original/"


def upload(emu: Emulator, user: Seller, source: bytes, extension: str, url: str | None) -> Json:
    """A new hosted copy of the image (each upload is a file of its own, as on Allegro); a
    source URL the admin API marked refused gets Allegro's 422 for an image it cannot fetch."""
    if url is not None and url in emu.world.refused_image_urls:
        status = emu.world.refused_image_urls[url]
        raise AllegroError(
            422,
            "DownloadError.Forbidden",
            f"Downloading image from URL '{url}' failed. Server returned the following HTTP"
            f" status code: {status}",
            metadata={"imageUrl": url},
        )
    user.image_uploads += 1
    emu.world.image_uploads += 1
    digest = hashlib.sha1(source + f"|{user.id}|{emu.world.image_uploads}".encode()).hexdigest()
    location = f"{HOST}{digest[:6]}/{digest[6:]}.{extension}"
    expires = emu.now() + emu.config.image_expiry_hours * 3600
    emu.world.images[location] = {
        "seller": user.id,
        "source": url,
        "uploadedAt": emu.now(),
        "expiresAt": expires,  # None once an offer uses it
    }
    return {"location": location, "expiresAt": iso(expires)}


def check_offer_images(emu: Emulator, images: Any, product: Json | None) -> list[str]:
    """The offer's `images` as Allegro takes them (`mark_used` once the offer is kept); 422
    otherwise: not a list of strings (`VALIDATION_ERROR`), more than the gallery holds
    (`GallerySizeException`), or an address Allegro does not host or no longer keeps
    (`OfferImagesNotFoundException`, its answer to a supplier's URL or an expired upload)."""
    if images is None:
        return []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise AllegroError(422, "VALIDATION_ERROR", "images must be a list of URLs", path="images")
    limit = emu.config.gallery_size_limit
    if len(images) > limit:
        raise AllegroError(
            422,
            "GallerySizeException",
            "Unprocessable Entity",
            path="images",
            user_message=f"The limit of {limit} images has been exceeded.",
            metadata={"gallerySizeLimit": str(limit)},
        )
    for url in images:
        _check_hosted(emu, url, product, "images")
    return list(images)


def check_description_images(emu: Emulator, description: Any, product: Json | None) -> list[str]:
    """The URLs of the description's IMAGE items (`mark_used` once the offer is kept); each must
    be an image Allegro hosts, as the gallery's are. The spec's `DescriptionSectionItemImage`
    shows an allegroimg.com `url` and no rule of its own (it names no "in the gallery" rule
    either, so only hosting is enforced), and its 422 tables give no code for a description
    image: the gallery's `OfferImagesNotFoundException` is reused, its `path` naming the item."""
    found: list[str] = []
    sections = description.get("sections") if isinstance(description, dict) else None
    for s, section in enumerate(sections if isinstance(sections, list) else []):
        items = section.get("items") if isinstance(section, dict) else None
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or item.get("type") != "IMAGE":
                continue
            path = f"description.sections[{s}].items[{i}].url"
            url = item.get("url")
            if not isinstance(url, str):
                raise AllegroError(422, "VALIDATION_ERROR", "an IMAGE item needs a url", path=path)
            _check_hosted(emu, url, product, path)
            found.append(url)
    return found


def _check_hosted(emu: Emulator, url: str, product: Json | None, path: str) -> None:
    """422 `OfferImagesNotFoundException` for an address Allegro does not host or no longer
    keeps (its answer to a supplier's URL or an expired upload); the catalogue product's own
    images are Allegro's."""
    own = {str(i.get("url")) for i in (product or {}).get("images") or [] if isinstance(i, dict)}
    if url in own:
        return
    found = emu.world.images.get(url)
    if found is None or (found["expiresAt"] is not None and found["expiresAt"] <= emu.now()):
        raise AllegroError(
            422,
            "OfferImagesNotFoundException",
            "Invalid image address.",
            path=path,
            user_message="The image address is invalid.",
        )


def mark_used(emu: Emulator, images: list[str]) -> None:
    """Images an offer now shows no longer expire."""
    hosted = emu.world.images
    for url in images:
        if url in hosted:
            hosted[url]["expiresAt"] = None
