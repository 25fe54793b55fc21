"""CLI subcommands; one module each (see ``napari_medai.cli``)."""
