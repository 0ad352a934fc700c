"""The layer designer (the Model section): palette, layer cards, settings, summary, code view.

`ModelDesigner` lives in view.py; `create_section(session)` in section.py plugs it into the window.
Nothing here imports torch at import time: the designer paints before torch is loaded, and torch is
imported by the background timing and the weights check only.
"""
