# Frozen into the Pico W image: the port's own modules (asyncio among them),
# then dora and the board glue.  Paths are relative to this file.
include("$(PORT_DIR)/boards/manifest.py")
include("../../manifest.py")
