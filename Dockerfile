# The same package the README installs, on a slim Python base, as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install --no-cache-dir . && rm -rf /src \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin exporter

USER 10001
WORKDIR /
EXPOSE 9795
# Mount the config (and any *_file secrets) here.
VOLUME ["/etc/powerstrip-exporter"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9795/-/healthy', timeout=3)"]
ENTRYPOINT ["powerstrip-exporter"]
CMD ["--config.file=/etc/powerstrip-exporter/config.yml", "--web.listen-address=:9795"]
