# The platform's own image: web (uvicorn), Celery worker and beat, and the session host all run from it
# (docker-compose.yml). Sandboxes are separate containers of the Task Standard images (docs/sandbox.md).
# BASE must have Python >= 3.12 (Django 6.1) with python and pip first on PATH. Where no registry is
# reachable, scripts/platform-images.sh builds one from Debian's packages (baselines/python:3.13-trixie)
# and this image on it. The browser assets are built on the host first (`make frontend`: frontend/dist).
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data STATIC_ROOT=/app/static \
    DJANGO_SETTINGS_MODULE=config.settings
# The docker CLI the session host runs the agent's shell with (docker exec -it); the engine is the host's,
# reached through the mounted socket (only the worker and the session host get it). Debian trixie has it
# alone as docker-cli (docker.io there is the engine and only recommends the CLI); bookworm in docker.io.
RUN apt-get update \
    && cli=$(apt-cache show docker-cli >/dev/null 2>&1 && echo docker-cli || echo docker.io) \
    && apt-get install -y --no-install-recommends "$cli" util-linux \
    && docker --version && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The dependencies first, from pyproject.toml alone: a change to the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY config/ config/
COPY sandbox/ sandbox/
COPY tasks/ tasks/
COPY terminal/ terminal/
COPY baselining/ baselining/
COPY api/ api/
COPY horizons/ horizons/
COPY templates/ templates/
COPY examples/ examples/
COPY manage.py ./
COPY frontend/dist/ frontend/dist/
RUN pip install --no-cache-dir --no-deps . && python manage.py collectstatic --noinput -v0 \
    && python -c "import matplotlib.font_manager"  # its font cache, built once here rather than at each start
VOLUME ["/data"]
EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws-per-message-deflate", "false"]
