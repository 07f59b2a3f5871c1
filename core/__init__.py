"""Cutout's domain: models, credits, jobs, storage, queue, settings. No front end lives here."""
