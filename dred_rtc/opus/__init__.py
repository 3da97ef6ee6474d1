"""ctypes binding over the DRED-enabled libopus that native/build_opus.sh builds."""

from .decoder import Decoder
from .dred import Dred, DredParser
from .encoder import MAX_DRED_MS, Encoder
from .errors import OpusError, OpusLibraryNotFound
from .library import Capabilities, capabilities, library_path
from .packet import has_lbrr, samples_in_packet

__all__ = [
    "Capabilities", "Decoder", "Dred", "DredParser", "Encoder", "MAX_DRED_MS", "OpusError",
    "OpusLibraryNotFound", "capabilities", "has_lbrr", "library_path", "samples_in_packet",
]
