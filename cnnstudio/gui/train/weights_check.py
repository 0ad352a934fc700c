"""Before training: a frozen pre-trained network without its ImageNet weights asks first."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm_random_weights(parent: QWidget, spec) -> bool:
    """True to go on: the design has no frozen backbone missing its weights, or the user says so."""
    from cnnstudio.core.weights import random_frozen_backbones

    missing = random_frozen_backbones(spec)
    if not missing:
        return True
    item = missing[0][1]
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Train with random weights?",
        f"The pre-trained weights of {item.title} are not on this computer, so its frozen layers "
        "would keep random weights and training would not learn well.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setInformativeText(
        f"Get them first in the Model section: click “Get the pre-trained weights "
        f"({item.megabytes} MB)…” on the {item.title} card: it downloads them, or takes them from a "
        "folder, a USB stick or a file from a colleague."
        "\n\nTrain anyway?"
    )
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes
