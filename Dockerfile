# One image for web (gunicorn), worker and beat (celery); compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed id, so that Kubernetes can check runAsNonRoot (deploy/helm runs it as 10001).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app

# The locked versions first (hashes checked), so that a change to the code reuses this layer;
# then the project itself, with nothing more resolved. The lock includes the Label Studio extra.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY reviewapp ./reviewapp
COPY workflows ./workflows
RUN pip install --no-deps .

COPY manage.py ./
COPY templates ./templates
COPY static ./static

# settings.py finds templates/ and static/ next to the code it runs from: run the code in /app
# (first on the path), not the copy pip put in site-packages. Everything the processes write
# goes to /data, a volume shared by web, worker and beat (export files, the beat schedule).
ENV PYTHONPATH=/app \
    REVIEWAPP_VAR_DIR=/data \
    MEDIA_ROOT=/data/media \
    STATIC_ROOT=/app/staticfiles

# Static files are part of the image (hashed names for whitenoise's manifest storage). The
# settings need production values to load; this key exists only for this build step.
RUN DEBUG=false ALLOWED_HOSTS=localhost CELERY_BROKER_URL=redis://localhost:6379/0 \
        SECRET_KEY=collectstatic-only-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /data/media \
    && chown -R app:app /data

USER app
VOLUME ["/data"]
EXPOSE 8000

CMD ["gunicorn", "reviewapp.wsgi", "--config", "python:reviewapp.gunicorn_config", \
     "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
