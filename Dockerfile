# The same package the README installs, on an exact Python base, as a non-root user.
# Bump the base deliberately, together with requirements.lock (see scripts/lock-requirements.py).
FROM python:3.11.11-slim-bookworm

# What `--version` and powerstrip_exporter_build_info report, e.g.
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#                --build-arg BRANCH="$(git rev-parse --abbrev-ref HEAD)" -t powerstrip-exporter .
# BUILD_DATE defaults to the time of the build.
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md MANIFEST.in build_hooks.py ./
COPY exporter ./exporter
COPY powerstrip_sim ./powerstrip_sim
RUN python -m exporter.buildinfo --revision "$REVISION" --branch "$BRANCH" \
        ${BUILD_DATE:+--build-date "$BUILD_DATE"} \
    && pip install --no-cache-dir --constraint requirements.lock . && rm -rf /src \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin exporter \
    && install -d -o 10001 -g 10001 /var/lib/powerstrip-exporter

USER 10001
WORKDIR /
EXPOSE 9795
# Mount the config (and any *_file secrets) here.
VOLUME ["/etc/powerstrip-exporter"]
# State kept across restarts when started with --storage.path=/var/lib/powerstrip-exporter.
VOLUME ["/var/lib/powerstrip-exporter"]
# The probe reads the running exporter's flags (PID 1, or its child under `docker run --init`), so it
# follows whatever --web.listen-address and --web.config.file (TLS) the container is started with.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["powerstrip-exporter", "healthcheck", "--args-from-pid=1"]
ENTRYPOINT ["powerstrip-exporter"]
CMD ["--config.file=/etc/powerstrip-exporter/config.yml", "--web.listen-address=:9795"]
