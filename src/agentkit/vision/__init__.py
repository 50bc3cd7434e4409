"""Images in conversations: read and shrink them (Pillow, the ``vision`` extra), describe them with a local
vision-language model behind an OpenAI-compatible server or Ollama, and bring the description into the chat."""

from agentkit.vision.base import DEFAULT_VISION_PARAMS, VisionModel
from agentkit.vision.describe import DESCRIBE_IMAGE, FALLBACK_NOTES, ImageDescriber, ImageDescription, load_vision
from agentkit.vision.image import READABLE, ImageInfo, ImageLimits, PreparedImage, display_name, prepare_image

__all__ = [
    "DEFAULT_VISION_PARAMS",
    "DESCRIBE_IMAGE",
    "FALLBACK_NOTES",
    "READABLE",
    "ImageDescriber",
    "ImageDescription",
    "ImageInfo",
    "ImageLimits",
    "PreparedImage",
    "VisionModel",
    "display_name",
    "load_vision",
    "prepare_image",
]
