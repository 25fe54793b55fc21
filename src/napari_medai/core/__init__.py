"""GUI-free core of napari-medai: never imports napari, Qt or magicgui (checked by a test)."""
