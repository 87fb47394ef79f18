# BookIt GraphQL API image.
#
#   docker build -t bookit .
#   docker run -e DATABASE_URL=postgresql://... -e SECRET_KEY=... -p 8000:8000 bookit
#
# In a container DATABASE_URL must always be given: the embedded PostgreSQL
# (the `embedded` extra, data dir .bookit/) is for local development only and
# is not installed here.

# ---------------------------------------------------------------- builder ---
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /app
COPY . /app

# Editable install: migrations/ and alembic.ini live at the repository top
# level and are located relative to the package, so the source tree stays at
# /app and the venv just points at it. No extras: not `embedded` (a PostgreSQL
# of its own, some 100 MB), nor `test`. All dependencies (psycopg[binary],
# bcrypt, orjson, uvloop, httptools) ship manylinux wheels: no compiler needed.
# Byte-compile now because /app is read-only for the runtime user.
RUN pip install --no-cache-dir -e . \
    && python -m compileall -q /app

# ---------------------------------------------------------------- runtime ---
FROM python:3.11-slim AS runtime

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOOKIT_ENV=production

RUN groupadd --system --gid 10001 bookit \
    && useradd --system --uid 10001 --gid bookit \
       --home-dir /home/bookit --create-home --shell /usr/sbin/nologin bookit

# Same absolute paths as in the builder: the venv's console scripts and the
# editable-install finder refer to /opt/venv and /app.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
# Numeric uid:gid (= bookit:bookit) so runtimes enforcing runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 8000

# No curl in the slim image: probe with the standard library. urlopen raises
# (non-zero exit) on connection errors and on HTTP status >= 400.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["bookit", "serve", "--host", "0.0.0.0", "--port", "8000"]
