"""The user's page: balance, upload with live status, history with downloads."""

from __future__ import annotations

from flask import Blueprint, render_template

from admin_panel.api import page_arg
from admin_panel.auth import login_required, page_identity
from admin_panel.extensions import services
from core import jobs
from core.images import ACCEPTED_TYPES, NOT_READABLE
from core.options import MODES

bp = Blueprint("web", __name__)


@bp.get("/")
@login_required
def home():
    """Upload a photo, watch it being processed, download results."""
    user = page_identity().user
    return render_template("web/home.html", user=user, jobs=jobs.list_jobs(user.id, page_arg(), 20),
                           modes=[m for m in MODES if m != "mask"], max_bytes=services().settings.max_upload_bytes,
                           accepted_types=ACCEPTED_TYPES, not_readable=NOT_READABLE)
