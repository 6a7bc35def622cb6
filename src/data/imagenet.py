"""ImageNet-10 (13,000 images, 10 classes) and ImageNet-Dog-15 (19,500, 15 dog breeds).

The subsets DAC uses, taken from the ImageNet (ILSVRC-2012) training set: 1,300 images per
class. Expected layout, ImageFolder style, one sub-folder per class named by its WordNet id:

    <root>/imagenet10/n02056570/*.JPEG   …  (the 10 folders of IMAGENET10)
    <root>/imagenet_dog15/n02085936/*.JPEG … (the 15 folders of IMAGENET_DOG15)

i.e. copy (or symlink) those class folders of ``ILSVRC2012_img_train``. Labels follow the
class list order of the config (``dataset.loader.classes``, default: the lists below, the ones
used by DAC's follow-up work, sorted by WordNet id). Images are resized to ``image_size``²
(96 for ImageNet-10, 64 for ImageNet-Dog-15: DAC's Table 1 sizes, unverified) and cached as
``.npz`` beside the folders; the cache is rebuilt when the images change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError
from src.data.base import ClusterData
from src.data.cache import load_npz, save_npz
from src.data.image_folder import fingerprint, read_images, scan_class_folders

IMAGENET10 = {
    "n02056570": "king penguin", "n02085936": "Maltese dog", "n02128757": "snow leopard",
    "n02690373": "airliner", "n02692877": "airship", "n03095699": "container ship",
    "n04254680": "soccer ball", "n04285008": "sports car", "n04467665": "trailer truck",
    "n07747607": "orange",
}  # fmt: skip
IMAGENET_DOG15 = {
    "n02085936": "Maltese dog", "n02086646": "Blenheim spaniel", "n02088238": "basset",
    "n02091467": "Norwegian elkhound", "n02097130": "giant schnauzer",
    "n02099601": "golden retriever", "n02101388": "Brittany spaniel", "n02101556": "clumber",
    "n02102177": "Welsh springer spaniel", "n02105056": "groenendael", "n02105412": "kelpie",
    "n02105855": "Shetland sheepdog", "n02107142": "Doberman", "n02110958": "pug",
    "n02112137": "chow",
}  # fmt: skip
SUBSETS = {"imagenet10": IMAGENET10, "imagenet_dog15": IMAGENET_DOG15}


def load_imagenet_subset(
    root: str | Path,
    name: str,
    classes: list[str] | None = None,
    image_size: int = 96,
    folder: str | None = None,
) -> ClusterData:
    """An ImageNet subset as ``(n, 3, image_size, image_size)`` float32 bytes 0–255."""
    known = SUBSETS.get(name, {})
    classes = [str(c) for c in (classes or known)]
    base = Path(root) / (folder or name)
    missing = [c for c in classes if not (base / c).is_dir()]
    if missing:
        shown = ", ".join(missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        raise DataNotFoundError(
            f"{name} not found: put the ImageNet train folders {shown} (one sub-folder per "
            f"class, images inside) into {base}/; see docs/data.md"
        )
    paths, labels = scan_class_folders(base, classes)
    stamp = fingerprint(paths)
    cache = base / f"{name}_{image_size}px.npz"
    images = None
    if cache.exists():
        arrays = load_npz(cache, ("images", "labels", "fingerprint"))
        if str(arrays["fingerprint"]) == stamp:
            images, labels = arrays["images"], arrays["labels"]
    if images is None:
        images = read_images(paths, image_size)
        save_npz(cache, images=images, labels=labels, fingerprint=np.asarray(stamp))
    names = [f"{c} {known[c]}" if c in known else c for c in classes]
    return ClusterData(name, images, labels, len(classes), names, {"bytes": True})
