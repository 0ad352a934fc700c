#!/usr/bin/env bash
# Put CNN Studio in this user's application menu (Linux desktops that follow freedesktop.org):
# the launcher resources/cnnstudio.desktop, its Exec line pointing at the executable, and the icon.
#   packaging/install_desktop.sh [EXECUTABLE]      (default: dist/CNNStudio/cnnstudio)
# Remove it again by deleting the three files it names.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exe=${1:-$root/dist/CNNStudio/cnnstudio}
[[ -x $exe ]] || { echo "install_desktop: $exe is not an executable; run make package first" >&2; exit 2; }
exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")

data=${XDG_DATA_HOME:-$HOME/.local/share}
launcher=$data/applications/cnnstudio.desktop
png=$data/icons/hicolor/256x256/apps/cnnstudio.png
svg=$data/icons/hicolor/scalable/apps/cnnstudio.svg
mkdir -p "$(dirname "$launcher")" "$(dirname "$png")" "$(dirname "$svg")"
cp "$root/resources/icons/app/cnnstudio.png" "$png"
cp "$root/resources/icons/app/cnnstudio.svg" "$svg"
# Exec and TryExec name the executable by its full path (it is not on PATH); quoted for spaces.
sed -e "s|^Exec=.*|Exec=\"$exe\"|" -e "s|^TryExec=.*|TryExec=$exe|" "$root/resources/cnnstudio.desktop" >"$launcher"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$(dirname "$launcher")" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "install_desktop: added $launcher"
echo "install_desktop: added $png and $svg"
