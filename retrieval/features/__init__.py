"""Image and text features: one small encoder interface, bundled offline models, a content-keyed cache.

>>> cfg = FeatureConfig()
>>> img = encode_images(paths, cfg, cache_dir)   # [N, 1280] EfficientNet-Lite0 pooled features
>>> txt = encode_texts(texts, cfg, cache_dir)    # [N, 384] normalised all-MiniLM-L6-v2 vectors

Plug another image encoder with ``FeatureConfig(image_encoder="resnet18", weights_path=...)`` or
:func:`register_image_encoder`; another text encoder with ``FeatureConfig(text_encoder="/path/to/model")``.
"""

from retrieval.features.base import (
    IMAGE_ENCODERS,
    Encoder,
    FeatureConfig,
    image_encoder_names,
    register_image_encoder,
)
from retrieval.features.cache import FeatureCache, content_key
from retrieval.features.image import COLOUR_DIM, colour_histograms, encode_images, get_image_encoder
from retrieval.features.text import encode_texts, get_text_encoder

__all__ = [
    "COLOUR_DIM",
    "IMAGE_ENCODERS",
    "Encoder",
    "FeatureCache",
    "FeatureConfig",
    "colour_histograms",
    "content_key",
    "encode_images",
    "encode_texts",
    "get_image_encoder",
    "get_text_encoder",
    "image_encoder_names",
    "register_image_encoder",
]
