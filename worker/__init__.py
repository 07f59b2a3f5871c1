"""The worker: consumes jobs from the queue and cuts out backgrounds with rembg."""

import os

# onnxruntime (1.32) writes a device id and a telemetry database under ~/.cache/Microsoft when it
# is imported, to send usage events: a worker keeps nothing on its host's disk and reports to
# nobody. Set before any module of this package imports onnxruntime.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
