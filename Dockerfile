# syntax=docker/dockerfile:1
# One image for the API, the worker, beat and migrations; the command picks the role:
#   API        python -m app.serve                (the default)
#   worker     celery -A app.core.celery_app worker -Q maintenance,downloads.high,downloads,downloads.low
#   beat       celery -A app.core.celery_app beat --schedule /tmp/celerybeat-schedule
#   migrations alembic upgrade head

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# requirements.txt pins yt-dlp with its EJS scripts and deno, the JavaScript runtime yt-dlp
# uses for YouTube's challenges (the deno wheel puts the binary in /opt/venv/bin), and
# curl_cffi, whose wheel bundles the browser-like libcurl YTDLP_IMPERSONATE uses.
RUN pip install -r /tmp/requirements.txt
# The docs pages' Swagger UI and ReDoc, from the npm registry, checked against the lock's
# sha512 (app/web/vendor.py needs only the standard library).
COPY app/web/vendor.py app/web/vendor.json /tmp/web-vendor/
RUN python /tmp/web-vendor/vendor.py --lock /tmp/web-vendor/vendor.json --dest /opt/web-vendor

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 yds \
    && mkdir -p /data /tmp/work \
    && chown yds /data /tmp/work
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/yds
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY --from=build /opt/web-vendor ./app/web/static/vendor
USER 10001

# The last line names a file path, not a secret: the generated key secret lives on /data.
# /data is writable by the container's user: a yt-dlp update (YTDLP_UPDATE) installs there,
# since /opt/venv is not; on a volume it outlives the container.
# hadolint ignore=DL3064
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/app.db \
    DOWNLOAD_BASE_PATH=/data/downloads \
    WORK_DIR=/data/work \
    YTDLP_UPDATE_DIR=/data/ytdlp \
    API_KEY_SECRET_FILE=/data/api-key-secret

EXPOSE 8000
# The API's liveness; the worker and beat services override it (compose, ECS).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]

CMD ["python", "-m", "app.serve"]
