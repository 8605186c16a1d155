# runway's image: `docker build -t runway .`, then
# `docker run -p 8080:8080 -e RUNWAY_PUBLIC_URL=http://localhost:8080 runway` (SQLite in the
# container; without RUNWAY_PUBLIC_URL the public URL is http://0.0.0.0:8080 and the browser
# dashboard's Origin check refuses a page opened at localhost) or, in a cluster, what
# `runway install` renders (Postgres beside it).
#
# Two stages: the first builds runway and its dependencies into a virtual environment (with a
# compiler, for any dependency without a wheel); the second copies only that environment onto a
# clean slim image, so no build tool ships. Python is pinned to one patch release; pin the
# digest too (`python:3.12.8-slim-bookworm@sha256:...`) where builds must be reproducible.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/runway
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runway ./runway
RUN /opt/runway/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/runway/bin/pip install --no-cache-dir . \
    && find /opt/runway -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
# A fixed non-root user: Kubernetes' runAsNonRoot needs a number, and the manifests of
# `runway install` name this one (10001).
RUN groupadd --system --gid 10001 runway \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/runway --create-home runway \
    && mkdir -p /var/lib/runway && chown 10001:10001 /var/lib/runway
COPY --from=build /opt/runway /opt/runway
ENV PATH=/opt/runway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNWAY_HOST=0.0.0.0 \
    RUNWAY_PORT=8080 \
    RUNWAY_DATA_DIR=/var/lib/runway
USER 10001:10001
WORKDIR /home/runway
EXPOSE 8080
# Liveness only (the process answers): /healthz reports the cluster without requiring it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('RUNWAY_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["runway", "serve"]
