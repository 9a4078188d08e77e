"""One package per vendor; each exports `VENDOR`."""
