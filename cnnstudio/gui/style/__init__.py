"""Look and feel: icons tinted to the palette, class colours, light or dark."""

from cnnstudio.gui.style.icons import icon, resources_dir
from cnnstudio.gui.style.theme import class_color, is_dark, muted_color, warning_color

__all__ = ["class_color", "icon", "is_dark", "muted_color", "resources_dir", "warning_color"]
