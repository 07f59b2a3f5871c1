"""The worker: consumes jobs from the queue and cuts out backgrounds with rembg."""
