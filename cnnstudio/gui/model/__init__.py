"""The layer designer (the Model section): palette, layer cards, settings, summary, code view.

`ModelSection` (section.py) is the widget the window mounts, the designer of view.py (`ModelDesigner`);
`python -m cnnstudio.gui.model` previews the designer alone.
Nothing here imports torch at import time: the designer paints before torch is loaded, and torch is
imported by the background timing and the weights check only.
"""
