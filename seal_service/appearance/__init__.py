"""The visible part of a seal: the round seal image, the CJK font, and the fast pyHanko stamp style.

* :mod:`.seal_image` draws a round official seal PNG and validates uploaded ones.
* :mod:`.fonts` locates the CJK font (WenQuanYi Zen Hei, Noto CJK, or ``$SEAL_CJK_FONT``), extracts one face
  from a .ttc and subsets it.
* :mod:`.stamp` builds everything per seal once (:class:`~.stamp.SealAppearance`) and gives pyHanko a cheap
  per-document stamp style (seal image, verification QR code, Chinese text with an embedded font subset).
"""

from seal_service.appearance.seal_image import draw_seal_image, load_seal_image
from seal_service.appearance.stamp import SealAppearance, SealStampStyle, StampText, stamp_box

__all__ = ["SealAppearance", "SealStampStyle", "StampText", "draw_seal_image", "load_seal_image", "stamp_box"]
