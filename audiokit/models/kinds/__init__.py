"""One module per model kind (or family of kinds): its settings class, registered with
:func:`audiokit.models.register_model`. Found with pkgutil; nothing heavy is imported here."""
