# The authenticating proxy (and the web client it serves), for deploy/helm/stream-proxy.
#   docker build -f deploy/container/proxy.Dockerfile -t <registry>/stream-proxy:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY stream_app ./stream_app
COPY proxy ./proxy
COPY deploy ./deploy
COPY web_client ./web_client
# Exactly the locked versions, checked against their hashes (`make lock`), then the kit itself.
RUN python -m venv /opt/stream-kit \
 && /opt/stream-kit/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/stream-kit/bin/pip install --no-cache-dir --require-hashes -r requirements.lock \
 && /opt/stream-kit/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim-bookworm
COPY --from=build /opt/stream-kit /opt/stream-kit
ENV PATH=/opt/stream-kit/bin:$PATH PYTHONUNBUFFERED=1 PROXY_HOST=0.0.0.0 PROXY_PORT=8080
RUN useradd --system --uid 10001 --no-create-home proxy
USER proxy
EXPOSE 8080/tcp
ENTRYPOINT ["stream-proxy"]
