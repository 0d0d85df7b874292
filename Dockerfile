# syntax=docker/dockerfile:1
# Managair: one image for the web, ingest and task services (see docker-compose.yml).
#   docker build -t managair .
# The build stage installs the pinned packages into a virtualenv; the final
# stage copies only that virtualenv, so no pip cache or build files ship.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt


FROM python:3.11-slim-bookworm
# gettext provides msgfmt for `manage.py compilemessages`; nothing else is needed
# at run time (psycopg and Pillow come as binary wheels).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 managair \
    && useradd --system --uid 10001 --gid managair --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin managair

COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=managair.settings \
    MEDIA_ROOT=/app/media

WORKDIR /app
COPY . /app
# Static files and translations are built into the image, so that every service
# (ingest and tasks too) starts without them; the settings only need some key to
# load, and this one exists for the build alone. The code stays owned by root:
# the service may write only uploads, collected static files and compiled
# translations (when COLLECT_STATIC_FILES=1 rebuilds them at start).
RUN chmod 755 /app/entrypoint.sh \
    && DEBUG=0 SECRET_KEY=build-only-not-used-at-run-time \
        python manage.py compilemessages -v 0 \
    && DEBUG=0 SECRET_KEY=build-only-not-used-at-run-time \
        python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q /app \
    && mkdir -p /app/media \
    && chown -R managair:managair /app/media /app/staticfiles \
    && find /app -type d -name locale -exec chown -R managair:managair {} +

USER managair:managair
EXPOSE 8000
# Python rather than curl, which the slim image lacks. The Host header is the
# first allowed host: Django answers any other with 400. /healthz is exempt
# from the HTTPS redirect.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request as r; h = (os.environ.get('DJANGO_ALLOWED_HOSTS', '').replace(',', ' ').split() or ['localhost'])[0].lstrip('.').replace('*', 'localhost'); r.urlopen(r.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': h}), timeout=4)"

ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["gunicorn", "-c", "managair/gunicorn.conf.py", "managair.wsgi"]
