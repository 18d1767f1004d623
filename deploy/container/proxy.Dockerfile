# The authenticating proxy (and the web client it serves), for deploy/helm/stream-proxy.
#   docker build --platform linux/amd64 -f deploy/container/proxy.Dockerfile -t <registry>/stream-proxy:0.1.0 .
# Pin the base image by digest with --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:<digest>.
# The proxy runs outside NVCF (it is what browsers reach), so NVCF's reserved ports do not apply.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY observability ./observability
COPY stream_app ./stream_app
COPY proxy ./proxy
COPY deploy ./deploy
COPY web_client ./web_client
# Exactly the locked versions, checked against their hashes (`make lock`), then the kit itself.
RUN python -m venv /opt/stream-kit \
 && /opt/stream-kit/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/stream-kit/bin/pip install --no-cache-dir --require-hashes -r requirements.lock \
 && /opt/stream-kit/bin/pip install --no-cache-dir --no-deps .

FROM ${BASE_IMAGE}
COPY --from=build /opt/stream-kit /opt/stream-kit
ENV PATH=/opt/stream-kit/bin:$PATH PYTHONUNBUFFERED=1 PROXY_HOST=0.0.0.0 PROXY_PORT=8080
# Numeric, so the chart's runAsNonRoot can be verified without an /etc/passwd lookup.
RUN groupadd --system --gid 10001 proxy \
 && useradd --system --uid 10001 --gid 10001 --no-create-home proxy
USER 10001:10001
EXPOSE 8080/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["stream-proxy"]
