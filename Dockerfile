# One-seal service image. Multi-stage: build a wheel, then a slim runtime with the CJK font, as a non-root user.
# Consistent with `make run`: same package, same `seal-service init` + `seal-service serve`, settings from SEAL_*.
# (Docker cannot run on the development machines of this project; keep this file plain.)

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY seal_service ./seal_service
COPY verifier ./verifier
# gmalglib (SM2/SM3 in C, the national seal) may need compiling; the runtime image gets the built wheel only.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
# seal_service/policies links to ../policies: the reviewed catalogue becomes package data of the wheel.
COPY policies ./policies
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /srv/seal --uid 10001 seal
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY policies /opt/seal/policies
ENV SEAL_HOME=/srv/seal/instance \
    SEAL_POLICIES_DIR=/opt/seal/policies \
    SEAL_PUBLIC_URL=http://127.0.0.1:8000 \
    PYTHONUNBUFFERED=1
USER seal
WORKDIR /srv/seal
EXPOSE 8000
# Production: set SEAL_ENV=production, SEAL_KEY_PASSPHRASE_FILE (a mounted secret), SEAL_DATABASE_URL and
# SEAL_PUBLIC_URL; mount a volume at /srv/seal/instance. The service refuses development secrets in production.
CMD ["sh", "-c", "seal-service init && seal-service serve --host 0.0.0.0 --port 8000 --workers ${SEAL_WORKERS:-2}"]
